/**
 * When each entry of a group's caches expires, by the entry's id in the
 * value store: one `Float64Array` slot (8 bytes) per id, beside the store
 * rather than in it, so a group without expiry has no table at all and its
 * hits read no clock.
 *
 * A slot holds the entry's expiry time on the group's clock, `Infinity`
 * for an entry that never expires, or, for a cached not-found, its expiry
 * negated. Clock readings are never negative, so one comparison,
 * `now < at(id)`, tells a fresh value from everything else (expired, or
 * not a value at all): the only check a hit makes.
 */
export class ExpiryTable {
  #at = new Float64Array(1024).fill(Number.POSITIVE_INFINITY);

  /** The slot of `id`: see the class comment. */
  at(id: number): number {
    return this.#at[id] as number;
  }

  /** Records that value `id` expires at `expiresAt` (`Infinity`: never). */
  setValue(id: number, expiresAt: number): void {
    this.#ensure(id);
    this.#at[id] = expiresAt;
  }

  /** Records that `id` is a cached not-found, expiring at `expiresAt` (finite, >= 0). */
  setNotFound(id: number, expiresAt: number): void {
    this.#ensure(id);
    this.#at[id] = -expiresAt;
  }

  /** Whether `id` is a cached not-found. */
  notFound(id: number): boolean {
    return (this.#at[id] as number) <= 0;
  }

  /** When `id` expires (a not-found's time, positive), `Infinity` for never. */
  expiresAt(id: number): number {
    return Math.abs(this.#at[id] as number);
  }

  #ensure(id: number): void {
    if (id < this.#at.length) return;
    let size = this.#at.length * 2;
    while (size <= id) size *= 2;
    const grown = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
    grown.set(this.#at);
    this.#at = grown;
  }
}
