import type { SlabStore } from "./slab-store.ts";

/** A slot that holds no id. */
const empty = 0;
/** The table is doubled before it is more than half full. */
const maxLoad = 0.5;

/**
 * A 32-bit hash of `key`'s UTF-16 code units (FNV-1a, then a final mix so
 * the low bits, which pick the slot, depend on every character).
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/**
 * The key → id table of a {@link SlabStore}'s entries: open addressing with
 * linear probing over an `Int32Array`, with each id's hash kept beside it,
 * and the keys themselves compared against the bytes in the store.
 *
 * It exists for memory under churn. A `Map` of string keys makes every
 * cached key a string on the heap, and the `Map` rebuilds its table as
 * deletions accumulate: under steady eviction both are objects that survive
 * the young generation's collections, which makes V8 grow the young
 * generation to its maximum (128 MiB on Node 24) and promote them into the
 * old one. Here an entry is three integers in typed arrays, which the
 * garbage collector never looks into, and the table is reallocated only
 * when it doubles.
 */
export class KeyIndex {
  readonly #store: SlabStore;
  /** `id + 1` per slot, or `empty`. */
  #slots = new Int32Array(1024);
  #mask = 1023;
  #size = 0;
  /** Each id's hash, so probing and rehashing never read the store. */
  #hashOf = new Int32Array(1024);

  constructor(store: SlabStore) {
    this.#store = store;
  }

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  /** The id of `key` (whose hash is `hash`), or -1. */
  find(key: string, hash: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const hashOf = this.#hashOf;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const slot = slots[i] as number;
      if (slot === empty) return -1;
      const id = slot - 1;
      if (hashOf[id] === hash && this.#store.keyEquals(id, key)) return id;
    }
  }

  /** Adds `id`, whose key (hash `hash`) is in the store and not yet in the index. */
  insert(id: number, hash: number): void {
    if (id >= this.#hashOf.length) this.#growIds(this.#store.idCapacity);
    this.#hashOf[id] = hash;
    if (this.#size + 1 > this.#slots.length * maxLoad) this.#rehash(this.#slots.length * 2);
    this.#place(id, hash);
    this.#size++;
  }

  /** Removes `id`, which is in the index (its entry must still be in the store). */
  delete(id: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = (this.#hashOf[id] as number) & mask;
    while (slots[i] !== id + 1) i = (i + 1) & mask;
    // Backward-shift deletion: move later entries of the probe run into the
    // hole when their home slot allows it, so no tombstones accumulate.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const slot = slots[j] as number;
      if (slot === empty) break;
      const home = (this.#hashOf[slot - 1] as number) & mask;
      // Can the entry at j move to i? Only if its home is not in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots[i] = slot;
        i = j;
      }
    }
    slots[i] = empty;
    this.#size--;
  }

  /** Forgets every key. */
  clear(): void {
    this.#slots.fill(empty);
    this.#size = 0;
  }

  #place(id: number, hash: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = hash & mask;
    while (slots[i] !== empty) i = (i + 1) & mask;
    slots[i] = id + 1;
  }

  #rehash(capacity: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(capacity);
    this.#mask = capacity - 1;
    for (const slot of old) if (slot !== empty) this.#place(slot - 1, this.#hashOf[slot - 1] as number);
  }

  #growIds(capacity: number): void {
    const hashOf = new Int32Array(capacity);
    hashOf.set(this.#hashOf);
    this.#hashOf = hashOf;
  }
}
