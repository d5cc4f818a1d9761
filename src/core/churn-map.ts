import { hashKey } from "./key-index.ts";

/** A slot whose entry was deleted: probing goes on past it. */
const deleted: unique symbol = Symbol("deleted");
/** The table is rebuilt before more than half its slots are used (live or deleted). */
const minCapacity = 16;

/** A hash of a number key: the bits mixed, so that consecutive ids spread (Fibonacci hashing). */
export function hashNumber(key: number): number {
  return Math.imul(key | 0, 0x9e3779b1);
}

/**
 * A map for keys that come and go all the time: the loads in flight, the
 * keys a peer has asked for and not yet been answered. Open addressing with
 * linear probing over two arrays, rebuilt only when half its slots are
 * used; keys in no particular order.
 *
 * It exists for the young generation. A `Map` rebuilds its table as
 * deletions accumulate, and links each old table to the one that replaced
 * it (for iterators still walking it): a `Map` that lives long (in the old
 * generation) and sees a key come and go on every cache miss keeps every
 * table it built since the last full collection reachable through the
 * young generation's collections. They all survive, and V8 grows the young
 * generation to its maximum (two semispaces of 64 MiB on Node 24) when
 * that much survives. Here a miss allocates nothing; a rebuild allocates
 * two arrays that nothing links to once replaced.
 */
export class ChurnMap<K extends string | number, V> {
  readonly #hash: (key: K) => number;
  #keys: (K | undefined | typeof deleted)[];
  #values: (V | undefined)[];
  #mask: number;
  #size = 0;
  /** Slots not empty: live and deleted. */
  #used = 0;

  /** `hash` defaults to {@link hashKey}, for string keys. */
  constructor(hash: (key: K) => number = hashKey as (key: K) => number) {
    this.#hash = hash;
    this.#keys = new Array(minCapacity).fill(undefined);
    this.#values = new Array(minCapacity).fill(undefined);
    this.#mask = minCapacity - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  get(key: K): V | undefined {
    const slot = this.#find(key);
    return slot < 0 ? undefined : this.#values[slot];
  }

  has(key: K): boolean {
    return this.#find(key) >= 0;
  }

  set(key: K, value: V): void {
    const found = this.#find(key);
    if (found >= 0) {
      this.#values[found] = value;
      return;
    }
    if ((this.#used + 1) * 2 > this.#mask + 1) this.#rebuild();
    const keys = this.#keys;
    const mask = this.#mask;
    let slot = this.#hash(key) & mask;
    for (;;) {
      const k = keys[slot];
      if (k === undefined) {
        this.#used++;
        break;
      }
      if (k === deleted) break;
      slot = (slot + 1) & mask;
    }
    keys[slot] = key;
    this.#values[slot] = value;
    this.#size++;
  }

  delete(key: K): boolean {
    const slot = this.#find(key);
    if (slot < 0) return false;
    const keys = this.#keys;
    const mask = this.#mask;
    keys[slot] = deleted;
    this.#values[slot] = undefined;
    this.#size--;
    // A deleted slot before an empty one ends no probe: empty it, and the
    // deleted ones before it.
    if (keys[(slot + 1) & mask] === undefined) {
      for (let s = slot; keys[s] === deleted; s = (s - 1) & mask) {
        keys[s] = undefined;
        this.#used--;
      }
    }
    return true;
  }

  clear(): void {
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#size = 0;
    this.#used = 0;
  }

  /** The values held, in no particular order; a snapshot, so the map may change meanwhile. */
  values(): V[] {
    const out: V[] = [];
    const keys = this.#keys;
    for (let slot = 0; slot < keys.length; slot++) {
      const k = keys[slot];
      if (k !== undefined && k !== deleted) out.push(this.#values[slot] as V);
    }
    return out;
  }

  #find(key: K): number {
    const keys = this.#keys;
    const mask = this.#mask;
    let slot = this.#hash(key) & mask;
    for (;;) {
      const k = keys[slot];
      if (k === key) return slot;
      if (k === undefined) return -1;
      slot = (slot + 1) & mask;
    }
  }

  /** Reinserts the live entries into a table where they fill at most a quarter of the slots. */
  #rebuild(): void {
    const keys = this.#keys;
    const values = this.#values;
    let capacity = minCapacity;
    while (capacity < this.#size * 4) capacity *= 2;
    this.#keys = new Array(capacity).fill(undefined);
    this.#values = new Array(capacity).fill(undefined);
    this.#mask = capacity - 1;
    this.#size = 0;
    this.#used = 0;
    for (let slot = 0; slot < keys.length; slot++) {
      const k = keys[slot];
      if (k !== undefined && k !== deleted) this.set(k, values[slot] as V);
    }
  }
}
