import { Buffer } from "node:buffer";
import { GroupCacheError } from "../../core/errors.ts";

/**
 * Receives one message: `buf[start..end)`. `own` is true when `buf` holds
 * this message alone (it was split across chunks and assembled into a
 * buffer of its own), so a part of it may be kept without a copy; false when
 * `buf` is a received chunk, which shares its memory with other data.
 */
export type MessageHandler = (buf: Buffer, start: number, end: number, own: boolean) => void;

/** The first buffer of a message split across chunks, at most: 64 KiB. */
const initialMessageBytes = 64 << 10;

/**
 * Splits the bytes of an HTTP/2 stream into gRPC messages (each a 5-byte
 * prefix, a compression flag and a big-endian length, then the message).
 * A message that arrives inside one chunk is handed over as a view of it,
 * without copying; one split across chunks is copied into a buffer of its
 * own. That buffer grows with what has arrived (doubling from 64 KiB up to
 * the declared length), never ahead of it: a prefix is only a claim, and a
 * peer that declares 8 MiB and sends one byte must not make us hold 8 MiB
 * (nor a thousand such streams 8 GiB). A length over `maxBytes` is refused
 * as soon as the prefix is read, before anything after it is buffered.
 * Compressed messages are refused: this transport never negotiates
 * compression on its streams. Connect's envelope decoder does the same
 * splitting, but copies every message into a fresh zeroed array and
 * returns an object and an array per chunk: too much on GetStream's path,
 * where a message may carry a single 100-byte value.
 */
export class GrpcFrameReader {
  readonly #maxBytes: number;
  /** The prefix being read, while it is incomplete. */
  readonly #prefix = Buffer.alloc(5);
  #prefixBytes = 0;
  /** The message being assembled (its buffer, as large as needed so far), its declared length, and how much has arrived. */
  #message: Buffer | undefined;
  #length = 0;
  #filled = 0;
  #completed = 0;

  /** `maxBytes`: the largest message accepted (the reader's `readMaxBytes`). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Whether part of a message is waiting for more bytes. */
  get partial(): boolean {
    return this.#prefixBytes > 0 || this.#message !== undefined;
  }

  /** Messages read so far (to tell one partial message from the next). */
  get completed(): number {
    return this.#completed;
  }

  /**
   * Adds `chunk` and calls `onMessage` for every message now complete, in
   * order. Throws a `GroupCacheError`, the stream's status to end with,
   * for an oversized message (`resource-exhausted`) or a compressed one
   * (`internal`); the reader is unusable afterwards.
   */
  push(chunk: Buffer, onMessage: MessageHandler): void {
    const end = chunk.byteLength;
    let pos = 0;
    while (pos < end) {
      const message = this.#message;
      if (message !== undefined) {
        const n = Math.min(this.#length - this.#filled, end - pos);
        const into = this.#filled + n > message.byteLength ? this.#grow(this.#filled + n) : message;
        chunk.copy(into, this.#filled, pos, pos + n);
        this.#filled += n;
        pos += n;
        if (this.#filled < this.#length) return;
        this.#message = undefined;
        this.#completed++;
        onMessage(into, 0, this.#length, true);
      } else if (this.#prefixBytes > 0 || end - pos < 5) {
        const n = Math.min(5 - this.#prefixBytes, end - pos);
        chunk.copy(this.#prefix, this.#prefixBytes, pos, pos + n);
        this.#prefixBytes += n;
        pos += n;
        if (this.#prefixBytes < 5) return;
        this.#prefixBytes = 0;
        this.#begin(this.#readPrefix(this.#prefix, 0), onMessage);
      } else {
        const length = this.#readPrefix(chunk, pos);
        if (end - pos - 5 >= length) {
          this.#completed++;
          onMessage(chunk, pos + 5, pos + 5 + length, false);
          pos += 5 + length;
        } else {
          pos += 5;
          this.#begin(length, onMessage);
        }
      }
    }
  }

  /** A prefix announced `length` bytes that are not all here: starts assembling them. */
  #begin(length: number, onMessage: MessageHandler): void {
    if (length === 0) {
      this.#completed++;
      onMessage(this.#prefix, 0, 0, true);
      return;
    }
    this.#message = Buffer.allocUnsafeSlow(Math.min(length, initialMessageBytes));
    this.#length = length;
    this.#filled = 0;
  }

  /** A larger buffer for the message being assembled, holding at least `bytes`: double, up to the declared length. */
  #grow(bytes: number): Buffer {
    const old = this.#message as Buffer;
    const grown = Buffer.allocUnsafeSlow(Math.min(this.#length, Math.max(bytes, old.byteLength * 2)));
    old.copy(grown, 0, 0, this.#filled);
    this.#message = grown;
    return grown;
  }

  #readPrefix(buf: Buffer, pos: number): number {
    const flags = buf[pos] as number;
    if (flags !== 0) {
      throw new GroupCacheError(
        "internal",
        flags === 1 ? "received a compressed message, but no compression was negotiated" : `bad message flags ${flags}`,
      );
    }
    const length = buf.readUInt32BE(pos + 1);
    if (length > this.#maxBytes) {
      throw new GroupCacheError(
        "resource-exhausted",
        `message size ${length} is larger than configured readMaxBytes ${this.#maxBytes}`,
      );
    }
    return length;
  }
}
