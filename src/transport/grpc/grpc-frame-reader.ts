import { Buffer } from "node:buffer";
import { GroupCacheError } from "../../core/errors.ts";

/**
 * Receives one message: `buf[start..end)`. `own` is true when `buf` holds
 * this message alone (it was split across chunks and assembled into a
 * buffer of its own), so a part of it may be kept without a copy; false when
 * `buf` is a received chunk, which shares its memory with other data.
 */
export type MessageHandler = (buf: Buffer, start: number, end: number, own: boolean, flags: number) => void;

/** Options of {@link GrpcFrameReader}. */
export interface GrpcFrameReaderOptions {
  /**
   * `"refuse"` (the default): a message flagged compressed, or with any
   * other flag, is refused as soon as its prefix is read. `"pass"`: flags
   * are handed to the handler with the message, after the length check, in
   * the order Connect checks a request (so a unary Get refused here gets
   * the status Connect would give it).
   */
  flags?: "refuse" | "pass";
}

/** The first buffer of a message split across chunks, at most: 64 KiB. */
const initialMessageBytes = 64 << 10;

/**
 * Splits the bytes of an HTTP/2 stream into gRPC messages (each a 5-byte
 * prefix, a compression flag and a big-endian length, then the message).
 * A message that arrives inside one chunk is handed over as a view of it,
 * without copying; one split across chunks is copied into a buffer of its
 * own. That buffer grows with what has arrived (from 4-64 KiB, doubling up to
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
  /**
   * The prefix being read, while it is incomplete. From Node's shared pool
   * (`allocUnsafe`; always written before it is read): a reader per unary
   * Get must not cost an `ArrayBuffer` of its own.
   */
  readonly #prefix = Buffer.allocUnsafe(5);
  #prefixBytes = 0;
  /** The message being assembled (its buffer, as large as needed so far), its declared length, and how much has arrived. */
  #message: Buffer | undefined;
  #length = 0;
  #filled = 0;
  #completed = 0;

  readonly #passFlags: boolean;
  /** The flags of the message being assembled. */
  #flags = 0;

  /** `maxBytes`: the largest message accepted (the reader's `readMaxBytes`). */
  constructor(maxBytes: number, options?: GrpcFrameReaderOptions) {
    this.#maxBytes = maxBytes;
    this.#passFlags = options?.flags === "pass";
  }

  /** Whether part of a message is waiting for more bytes. */
  get partial(): boolean {
    return this.#prefixBytes > 0 || this.#message !== undefined;
  }

  /**
   * Bytes of a partial message held (its prefix so far, or what arrived
   * after it). A prefix read whole with nothing after it yet counts 0, as
   * in Connect's reader, for which a stream ending there sent no message.
   */
  get buffered(): number {
    return this.#message !== undefined ? this.#filled : this.#prefixBytes;
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
        onMessage(into, 0, this.#length, true, this.#flags);
      } else if (this.#prefixBytes > 0 || end - pos < 5) {
        const n = Math.min(5 - this.#prefixBytes, end - pos);
        chunk.copy(this.#prefix, this.#prefixBytes, pos, pos + n);
        this.#prefixBytes += n;
        pos += n;
        if (this.#prefixBytes < 5) return;
        this.#prefixBytes = 0;
        this.#begin(this.#readPrefix(this.#prefix, 0), end - pos, onMessage);
      } else {
        const length = this.#readPrefix(chunk, pos);
        if (end - pos - 5 >= length) {
          this.#completed++;
          onMessage(chunk, pos + 5, pos + 5 + length, false, this.#flags);
          pos += 5 + length;
        } else {
          pos += 5;
          this.#begin(length, end - pos, onMessage);
        }
      }
    }
  }

  /**
   * A prefix announced `length` bytes that are not all here (`arrived` of
   * them are, in the current chunk): starts assembling them, in a buffer
   * no larger than what has arrived needs (4 KiB at least), so a stream
   * that declares a message and stalls holds little.
   */
  #begin(length: number, arrived: number, onMessage: MessageHandler): void {
    if (length === 0) {
      this.#completed++;
      onMessage(this.#prefix, 0, 0, true, this.#flags);
      return;
    }
    this.#message = Buffer.allocUnsafeSlow(Math.min(length, initialMessageBytes, Math.max(arrived, 4096)));
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
    this.#flags = flags;
    if (flags !== 0 && !this.#passFlags) {
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
