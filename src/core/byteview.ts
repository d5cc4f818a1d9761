const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * An immutable view of a cached value's bytes, as Go groupcache's `ByteView`.
 *
 * A hit hands callers a `ByteView` without copying: there is no way to
 * write through it, so no caller can corrupt the cache or another caller's
 * value. (JavaScript cannot freeze a `Uint8Array`, and copying even 100
 * bytes into a fresh one costs several times the rest of a hit: see
 * bench/README.md.) Call {@link toBytes} for a private, writable copy.
 *
 * It is three fields over a range of a larger buffer (the cache's slab), not
 * a `Uint8Array` of its own: a typed-array view costs an object on the heap
 * and an allocation that a hit does not need. The bytes it shows never change:
 * the cache never writes over a range it has handed out (see `SlabStore`).
 */
export class ByteView {
  readonly #buffer: Uint8Array;
  readonly #start: number;
  readonly #length: number;

  /** Wraps `bytes` without copying: the caller must never write to them again. */
  static unsafeWrap(bytes: Uint8Array): ByteView {
    return new ByteView(bytes, 0, bytes.byteLength);
  }

  /**
   * Wraps bytes `start` to `start + length` of `buffer` without copying: the
   * caller must never write to that range again. For the cache's storage.
   */
  static unsafeWrapRange(buffer: Uint8Array, start: number, length: number): ByteView {
    return new ByteView(buffer, start, length);
  }

  /** A view of a copy of `value` (a string is stored as UTF-8). */
  static from(value: Uint8Array | string): ByteView {
    const bytes = typeof value === "string" ? encoder.encode(value) : value.slice();
    return new ByteView(bytes, 0, bytes.byteLength);
  }

  private constructor(buffer: Uint8Array, start: number, length: number) {
    this.#buffer = buffer;
    this.#start = start;
    this.#length = length;
  }

  /** Number of bytes. */
  get length(): number {
    return this.#length;
  }

  /** The byte at `index` (negative counts from the end), or `undefined` out of range. */
  at(index: number): number | undefined {
    const i = Math.trunc(index) + (index < 0 ? this.#length : 0);
    return i >= 0 && i < this.#length ? this.#buffer[this.#start + i] : undefined;
  }

  /** A new, writable copy of the bytes. */
  toBytes(): Uint8Array {
    return this.#buffer.slice(this.#start, this.#start + this.#length);
  }

  /** Copies the bytes into `target` at `offset`; returns the number copied. */
  copyTo(target: Uint8Array, offset = 0): number {
    const n = Math.max(0, Math.min(this.#length, target.byteLength - offset));
    target.set(this.#buffer.subarray(this.#start, this.#start + n), offset);
    return n;
  }

  /** A view of bytes `start` to `end` (exclusive, negative counts from the end), sharing the same memory. */
  slice(start?: number, end?: number): ByteView {
    const from = clamp(start ?? 0, this.#length);
    const to = clamp(end ?? this.#length, this.#length);
    return new ByteView(this.#buffer, this.#start + from, Math.max(0, to - from));
  }

  /** The bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  toString(): string {
    return decoder.decode(this.#view());
  }

  /** Whether `other` holds the same bytes (a string is compared as UTF-8). */
  equals(other: ByteView | Uint8Array | string): boolean {
    if (other instanceof ByteView) return this.#equalsRange(other.#buffer, other.#start, other.#length);
    const b = typeof other === "string" ? encoder.encode(other) : other;
    return this.#equalsRange(b, 0, b.byteLength);
  }

  /** Iterates over the bytes. */
  [Symbol.iterator](): IterableIterator<number> {
    return this.#view()[Symbol.iterator]();
  }

  /** A typed-array view of the range (allocates one), for APIs that need one. */
  #view(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#start + this.#length);
  }

  /** Whether this view holds the same bytes as `start..start+length` of `buffer`. */
  #equalsRange(buffer: Uint8Array, start: number, length: number): boolean {
    if (this.#length !== length) return false;
    const mine = this.#buffer;
    const shift = this.#start - start;
    for (let i = start; i < start + length; i++) if (mine[i + shift] !== buffer[i]) return false;
    return true;
  }
}

/** `Array.prototype.slice`'s index rule: negative counts from the end; clamped to `0..length`. */
function clamp(index: number, length: number): number {
  const i = Math.trunc(index) || 0;
  return i < 0 ? Math.max(0, length + i) : Math.min(i, length);
}
