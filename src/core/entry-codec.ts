import type { Codec } from "./codec.ts";
import { GroupCacheError } from "./errors.ts";

/**
 * A value on its way from a load to its waiters: the bytes peers are sent,
 * and for codecs whose values are immutable (`shared`), the decoded value
 * every waiter receives. The caches do not hold these: they hold ids into
 * their store.
 */
export interface Entry<T> {
  readonly bytes: Uint8Array;
  readonly value: T | undefined;
  /** When it expires, on the group's clock; unset: never. */
  readonly expiresAt?: number;
}

/**
 * A group's codec applied to the values that cross its caches: a getter's
 * value encoded and checked against `maxValueBytes`, a peer's answer
 * checked, stored bytes decoded. Each failure is a `GroupCacheError` that
 * names the group and the key, so `Group` reads as the flow of a get.
 */
export class EntryCodec<T, In> {
  /** Whether every waiter may receive one decoded value (see `Codec.shared`). */
  readonly shared: boolean;
  readonly #group: string;
  /** The group's codec. */
  readonly codec: Codec<T, In>;
  readonly #maxValueBytes: number;

  constructor(group: string, codec: Codec<T, In>, maxValueBytes: number) {
    this.#group = group;
    this.codec = codec;
    this.#maxValueBytes = maxValueBytes;
    this.shared = codec.shared === true;
  }

  /**
   * A getter's value as an entry: encoded, within `maxValueBytes`, decoded
   * once for shared codecs. `source` names where it came from in errors.
   */
  fromGetter(key: string, value: In, source = "getter returned"): Entry<T> {
    let bytes: Uint8Array;
    try {
      bytes = this.codec.encode(value);
    } catch (error) {
      const context = `group "${this.#group}": key ${JSON.stringify(key)}`;
      throw error instanceof GroupCacheError
        ? new GroupCacheError(error.code, `${context}: ${error.message}`, { cause: error })
        : GroupCacheError.from(error, "invalid-argument", context);
    }
    if (bytes.byteLength > this.#maxValueBytes) {
      throw new GroupCacheError(
        "resource-exhausted",
        `group "${this.#group}": ${source} ${bytes.byteLength} bytes for key ${JSON.stringify(key)}, over maxValueBytes ${this.#maxValueBytes}`,
      );
    }
    return this.fromBytes(key, bytes);
  }

  /** An entry for what a peer sent, or `undefined` if it is not bytes within `maxValueBytes` that the codec can decode. */
  fromPeer(bytes: unknown): Entry<T> | undefined {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength > this.#maxValueBytes) return undefined;
    if (!this.shared) return { bytes, value: undefined };
    try {
      return { bytes, value: this.codec.decode(bytes) };
    } catch {
      return undefined;
    }
  }

  /** An entry for bytes already accepted (a getter's, or a cached value's), decoded once for shared codecs. */
  fromBytes(key: string, bytes: Uint8Array): Entry<T> {
    return { bytes, value: this.shared ? this.decode(key, bytes) : undefined };
  }

  /** What a waiter receives for `entry`: the shared value, or a new decoding. */
  valueOf(key: string, entry: Entry<T>): T {
    return this.shared ? (entry.value as T) : this.decode(key, entry.bytes);
  }

  /** Decodes `bytes`; a failure is `internal` (the codec accepted these bytes once). */
  decode(key: string, bytes: Uint8Array): T {
    try {
      return this.codec.decode(bytes);
    } catch (error) {
      throw this.decodeError(key, error);
    }
  }

  /** A decoding failure as the `internal` error its waiters receive (the codec accepted these bytes once). */
  decodeError(key: string, error: unknown): GroupCacheError {
    return GroupCacheError.from(
      error,
      "internal",
      `group "${this.#group}": cannot decode the value of key ${JSON.stringify(key)}`,
    );
  }
}
