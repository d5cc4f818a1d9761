import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { ByteView } from "./byteview.ts";
import { GroupCacheError } from "./errors.ts";
import { describe } from "./options.ts";
import { utf8Encode } from "./utf8.ts";

/**
 * Turns a group's values into the immutable bytes the cache stores and the
 * peers exchange, and back.
 *
 * `encode` receives what the getter returned and must return bytes the cache
 * may keep (never a buffer the caller still writes to). `decode` runs on
 * every `get` and must return a value whose mutation cannot reach the cache.
 */
export interface Codec<T, In = T> {
  encode(value: In): Uint8Array;
  decode(bytes: Uint8Array): T;
  /**
   * Decodes bytes `start` to `start + length` of `buffer`, exactly as
   * `decode` would decode that range, without the `Uint8Array` view that
   * `decode` needs (an allocation per call). Optional: the cache calls
   * it, when present, on its own storage, which it never writes over; a
   * result that shares `buffer`'s memory keeps that whole buffer (a slab of
   * up to 1 MiB) alive while the result lives.
   */
  decodeRange?(buffer: Uint8Array, start: number, length: number): T;
  /**
   * Whether `decode`'s results are immutable, so one decoded value can be
   * handed to every caller: it is then decoded once per cache entry and kept
   * with it, and a hit costs no decoding. Default: `false` (decode per get).
   */
  readonly shared?: boolean;
}

function encodeBytes(value: Uint8Array | string): Uint8Array {
  if (value instanceof Uint8Array) return value.slice();
  if (typeof value === "string") return utf8Encode(value);
  throw new GroupCacheError("invalid-argument", `getter must return a Uint8Array or a string, got ${describe(value)}`);
}

/**
 * Raw bytes as an immutable {@link ByteView}: the default, as in Go. The
 * getter may return a `Uint8Array` (copied once, so the getter may reuse its
 * buffer) or a string (stored as UTF-8). Every hit returns the same view,
 * without copying or allocating.
 */
export const byteViewCodec: Codec<ByteView, Uint8Array | string> = {
  encode: encodeBytes,
  decode: (bytes) => ByteView.unsafeWrap(bytes),
  decodeRange: (buffer, start, length) => ByteView.unsafeWrapRange(buffer, start, length),
  shared: true,
};

/**
 * Raw bytes as a fresh `Uint8Array` per get, which the caller may write to.
 * The copy costs an allocation per hit, several times the rest of a hit
 * (see bench/README.md): prefer {@link byteViewCodec} unless callers need to write.
 */
export const bytesCodec: Codec<Uint8Array, Uint8Array | string> = {
  encode: encodeBytes,
  decode: (bytes) => bytes.slice(),
  decodeRange: (buffer, start, length) => buffer.slice(start, start + length),
};

const decoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 text. Strings are immutable: each entry is decoded once and shared. */
export const stringCodec: Codec<string> = {
  shared: true,
  encode(value) {
    if (typeof value !== "string") {
      throw new GroupCacheError("invalid-argument", `getter must return a string, got ${describe(value)}`);
    }
    if (!value.isWellFormed()) {
      throw new GroupCacheError(
        "invalid-argument",
        `getter returned a string with a lone surrogate: ${JSON.stringify(value)}`,
      );
    }
    return utf8Encode(value);
  },
  decode(bytes) {
    return decoder.decode(bytes);
  },
};

/**
 * JSON values, stored as UTF-8 JSON text. Every `get` parses anew, so each
 * caller owns its object.
 */
export function jsonCodec<T>(): Codec<T> {
  return {
    encode(value) {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (cause) {
        throw new GroupCacheError("invalid-argument", `getter returned a value JSON cannot encode: ${String(cause)}`, {
          cause,
        });
      }
      if (text === undefined) {
        throw new GroupCacheError("invalid-argument", `getter returned a value JSON cannot encode: ${describe(value)}`);
      }
      return utf8Encode(text);
    },
    decode(bytes) {
      return JSON.parse(decoder.decode(bytes)) as T;
    },
  };
}

/**
 * Protobuf-ES messages of `schema`, stored in the binary wire format. Every
 * `get` decodes a new message, from a copy of the stored bytes: protobuf-es
 * decodes `bytes` fields as views into its input, which would let a caller
 * write into the cache and would keep the cache's storage alive.
 */
export function protobufCodec<Desc extends DescMessage>(schema: Desc): Codec<MessageShape<Desc>> {
  return {
    encode(value) {
      const typeName = (value as { $typeName?: unknown } | null)?.$typeName;
      if (typeName !== schema.typeName) {
        throw new GroupCacheError(
          "invalid-argument",
          `getter must return a ${schema.typeName} message, got ${typeof typeName === "string" ? typeName : describe(value)}`,
        );
      }
      return toBinary(schema, value);
    },
    decode(bytes) {
      return fromBinary(schema, bytes.slice());
    },
  };
}
