const empty = -1;

/**
 * Settled promises of recently returned values, by entry id, so that a hit
 * on a popular key hands back an existing promise instead of allocating
 * one. `await` of a new promise costs more than `await` of an existing one,
 * enough that without this a local hit cannot beat an async `Map` lookup
 * (see bench/README.md). Every caller of a key then receives the same promise of the same
 * immutable value (as a promise-caching loader such as DataLoader does), so
 * it is only used for codecs whose values are `shared`.
 *
 * It is direct-mapped: entry `id` lives in slot `id % slots`, and a newer
 * entry in the same slot replaces it. That keeps a lookup at two array
 * reads and bounds its memory whatever the cache holds: `slots` promises,
 * and at most `maxBytes` of values (counted as their encoded length). It
 * is a memo only: a miss means decoding again, nothing else.
 *
 * A hit is remembered only when its slot saw the same id miss just before
 * ({@link admit}). Without that, hits spread over more keys than slots
 * replace each other's promises on every get: each promise then lives just
 * long enough to reach the old generation, and the garbage collector pays
 * for it on every hit.
 */
export class HitMemo<T> {
  readonly #mask: number;
  readonly #maxBytes: number;
  readonly #ids: Int32Array;
  readonly #sizes: Float64Array;
  readonly #promises: (Promise<T> | undefined)[];
  /** Per slot, the id whose hit last missed the memo there. */
  readonly #candidates: Int32Array;
  #bytes = 0;

  /** `slots` is rounded up to a power of two (at least 1). */
  constructor(slots: number, maxBytes: number) {
    let size = 1;
    while (size < slots) size *= 2;
    this.#mask = size - 1;
    this.#maxBytes = maxBytes;
    this.#ids = new Int32Array(size).fill(empty);
    this.#sizes = new Float64Array(size);
    this.#promises = new Array<Promise<T> | undefined>(size).fill(undefined);
    this.#candidates = new Int32Array(size).fill(empty);
  }

  /** The promise remembered for `id`, if any. */
  get(id: number): Promise<T> | undefined {
    const slot = id & this.#mask;
    return this.#ids[slot] === id ? this.#promises[slot] : undefined;
  }

  /**
   * Remembers `promise` for `id`, whose value counts `bytes`. With `replace`
   * false, an entry already in the slot is kept (a load does not push out
   * a value that hits are using). Does nothing if the value would not fit.
   */
  set(id: number, promise: Promise<T>, bytes: number, replace: boolean): void {
    const slot = id & this.#mask;
    const occupant = this.#ids[slot] as number;
    if (occupant !== empty && occupant !== id && !replace) return;
    const freed = occupant === empty ? 0 : (this.#sizes[slot] as number);
    if (this.#bytes - freed + bytes > this.#maxBytes) return;
    this.#ids[slot] = id;
    this.#sizes[slot] = bytes;
    this.#promises[slot] = promise;
    this.#bytes += bytes - freed;
  }

  /**
   * Whether a hit on `id` that missed the memo should be remembered: yes
   * if the previous miss in its slot was `id` too, so that a key hit
   * repeatedly gets a slot and a key hit once does not.
   */
  admit(id: number): boolean {
    const slot = id & this.#mask;
    if (this.#candidates[slot] === id) return true;
    this.#candidates[slot] = id;
    return false;
  }

  /** Forgets `id`: its entry was freed, or moved to other storage. */
  delete(id: number): void {
    const slot = id & this.#mask;
    if (this.#ids[slot] !== id) return;
    this.#ids[slot] = empty;
    this.#promises[slot] = undefined;
    this.#bytes -= this.#sizes[slot] as number;
    this.#sizes[slot] = 0;
  }

  /** Bytes of the values remembered. */
  get bytes(): number {
    return this.#bytes;
  }
}
