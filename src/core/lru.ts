import { LRUMapWithDelete } from "mnemonist";
import { positiveInteger } from "./options.ts";
import { utf8Length } from "./utf8.ts";

/** What an {@link LRU} holds and has evicted. */
export interface LRUStats {
  /** Bytes held: the sum of key bytes (UTF-8) plus value bytes of every entry. */
  bytes: number;
  /** Entries held. */
  items: number;
  /** Entries removed to make room (replacements and deletes are not evictions). */
  evictions: number;
}

/** Options of {@link LRU}. */
export interface LRUOptions<V> {
  /**
   * Bytes a value costs (the key's UTF-8 bytes are added to it). Default:
   * `value.byteLength`, for byte arrays.
   */
  sizeOf?: (value: V) => number;
  /**
   * Entries to make room for up front. The table doubles when full, so this
   * only saves the first few regrowths. Default: 1024.
   */
  initialCapacity?: number;
  /**
   * The array that holds the values. The default, `Array`, holds anything.
   * For number values (such as ids into a `SlabStore`), `Float64Array` or
   * `Uint32Array` hold them in 8 or 4 bytes each, invisible to the garbage
   * collector. Default: `Array`.
   */
  valueArray?: ValueArrayConstructor<V>;
  /**
   * Called with every value that leaves the cache: evicted, deleted,
   * replaced or cleared, after its bytes have been subtracted. Lets values
   * that own storage release it. Default: none.
   */
  dispose?: (value: V, key: string) => void;
}

/** What {@link LRUOptions.valueArray} accepts: typed arrays only for number values. */
export type ValueArrayConstructor<V> = V extends number
  ? ArrayConstructor | Float64ArrayConstructor | Uint32ArrayConstructor
  : ArrayConstructor;

/**
 * The parts of mnemonist's `LRUMapWithDelete` that its typings do not
 * expose: the key of the least recently used entry sits at `K[tail]`. Its
 * public API has no "oldest" accessor, and a byte-bounded cache must evict
 * the oldest entry on demand rather than when a fixed count is reached.
 */
interface MnemonistInternals {
  K: string[];
  tail: number;
}

/** mnemonist's typings declare the `(Keys, Values, capacity)` constructor with array-of-V types only. */
type MapConstructor<V> = new (
  keys: ArrayConstructor,
  values: ValueArrayConstructor<V>,
  capacity: number,
) => LRUMapWithDelete<string, V>;

/**
 * A least-recently-used map of string keys to values that counts the
 * bytes it holds, as Go groupcache's `lru.Cache` with the byte count of its
 * `cache` type. It does not bound itself: its owner decides when to
 * `removeOldest`, because the main and hot caches share one budget. Nor does
 * it count lookups: its owner knows which lookups count (see `Caches`).
 *
 * It is built on mnemonist's `LRUMapWithDelete` (typed-array linked list,
 * no per-entry node objects). That structure has a fixed capacity, so this
 * wrapper doubles it when it fills up while bytes are still under budget.
 */
export class LRU<V = Uint8Array> {
  #map: LRUMapWithDelete<string, V>;
  readonly #sizeOf: (value: V) => number;
  readonly #valueArray: ValueArrayConstructor<V>;
  readonly #dispose: ((value: V, key: string) => void) | undefined;
  #bytes = 0;
  #evictions = 0;

  constructor(options: LRUOptions<V> = {}) {
    const capacity = positiveInteger("lru initialCapacity", options.initialCapacity, 1024);
    this.#valueArray = options.valueArray ?? (Array as ValueArrayConstructor<V>);
    this.#map = this.#newMap(capacity);
    this.#sizeOf = options.sizeOf ?? ((value: V) => (value as { byteLength: number }).byteLength);
    this.#dispose = options.dispose;
  }

  /** Bytes held (keys in UTF-8 plus values). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held. */
  get items(): number {
    return this.#map.size;
  }

  /** Looks `key` up and marks the entry most recently used. */
  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** Looks `key` up without changing its recency. */
  peek(key: string): V | undefined {
    return this.#map.peek(key);
  }

  /** Whether `key` is held (recency unchanged). */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /**
   * Inserts or replaces `key`, as the most recently used entry. A replaced
   * value's bytes are subtracted first (Go groupcache forgot to: its #177).
   */
  add(key: string, value: V): void {
    const old = this.#map.peek(key);
    if (old !== undefined) {
      this.#bytes += this.#sizeOf(value) - this.#sizeOf(old);
      this.#map.set(key, value);
      this.#dispose?.(old, key);
      return;
    }
    if (this.#map.size === this.#map.capacity) this.#grow();
    this.#map.set(key, value);
    this.#bytes += utf8Length(key) + this.#sizeOf(value);
  }

  /** Removes `key`; returns whether it was held. Not counted as an eviction. */
  delete(key: string): boolean {
    const old = this.#map.peek(key);
    if (old === undefined) return false;
    this.#bytes -= utf8Length(key) + this.#sizeOf(old);
    this.#map.delete(key);
    this.#dispose?.(old, key);
    return true;
  }

  /** The key of the least recently used entry, if any (recency unchanged). */
  oldest(): string | undefined {
    if (this.#map.size === 0) return undefined;
    const internals = this.#map as unknown as MnemonistInternals;
    return internals.K[internals.tail];
  }

  /** Evicts the least recently used entry; returns whether there was one. */
  removeOldest(): boolean {
    if (this.#map.size === 0) return false;
    const internals = this.#map as unknown as MnemonistInternals;
    const key = internals.K[internals.tail] as string;
    this.delete(key);
    this.#evictions++;
    return true;
  }

  /** Removes every entry (not counted as evictions). */
  clear(): void {
    const dispose = this.#dispose;
    const entries = dispose === undefined ? [] : [...this.#map.entries()];
    this.#map.clear();
    this.#bytes = 0;
    if (dispose !== undefined) for (const [key, value] of entries) dispose(value, key);
  }

  /** Keys from most to least recently used. */
  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  /** A snapshot of the counters. */
  stats(): LRUStats {
    return { bytes: this.#bytes, items: this.#map.size, evictions: this.#evictions };
  }

  /** Moves every entry into a table twice the size, keeping their order. */
  #grow(): void {
    const old = this.#map;
    const next = this.#newMap(old.capacity * 2);
    const entries = [...old.entries()];
    // entries() runs from most to least recent; insert oldest first.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, v] = entries[i] as [string, V];
      next.set(k, v);
    }
    this.#map = next;
  }

  #newMap(capacity: number): LRUMapWithDelete<string, V> {
    return new (LRUMapWithDelete as unknown as MapConstructor<V>)(Array, this.#valueArray, capacity);
  }
}
