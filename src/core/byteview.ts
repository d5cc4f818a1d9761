const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * An immutable view of a cached value's bytes, as Go groupcache's `ByteView`.
 *
 * A hit hands every caller the same `ByteView` without copying: there is no
 * way to write through it, so no caller can corrupt the cache or another
 * caller's value. (JavaScript cannot freeze a `Uint8Array`, and copying 100
 * bytes into a fresh one costs ~450 ns on Node 24, several times the rest of
 * a hit.) Call {@link toBytes} for a private, writable copy.
 */
export class ByteView {
  readonly #bytes: Uint8Array;

  /** Wraps `bytes` without copying: the caller must never write to them again. */
  static unsafeWrap(bytes: Uint8Array): ByteView {
    return new ByteView(bytes);
  }

  /** A view of a copy of `value` (a string is stored as UTF-8). */
  static from(value: Uint8Array | string): ByteView {
    return new ByteView(typeof value === "string" ? encoder.encode(value) : value.slice());
  }

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Number of bytes. */
  get length(): number {
    return this.#bytes.byteLength;
  }

  /** The byte at `index` (negative counts from the end), or `undefined` out of range. */
  at(index: number): number | undefined {
    return this.#bytes.at(index);
  }

  /** A new, writable copy of the bytes. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** Copies the bytes into `target` at `offset`; returns the number copied. */
  copyTo(target: Uint8Array, offset = 0): number {
    const n = Math.min(this.#bytes.byteLength, target.byteLength - offset);
    target.set(n === this.#bytes.byteLength ? this.#bytes : this.#bytes.subarray(0, n), offset);
    return n;
  }

  /** A view of bytes `start` to `end` (exclusive), sharing the same memory. */
  slice(start?: number, end?: number): ByteView {
    return new ByteView(this.#bytes.subarray(start, end));
  }

  /** The bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  toString(): string {
    return decoder.decode(this.#bytes);
  }

  /** Whether `other` holds the same bytes (a string is compared as UTF-8). */
  equals(other: ByteView | Uint8Array | string): boolean {
    const b = other instanceof ByteView ? other.#bytes : typeof other === "string" ? encoder.encode(other) : other;
    const a = this.#bytes;
    if (a.byteLength !== b.byteLength) return false;
    for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** Iterates over the bytes. */
  [Symbol.iterator](): IterableIterator<number> {
    return this.#bytes[Symbol.iterator]();
  }
}
