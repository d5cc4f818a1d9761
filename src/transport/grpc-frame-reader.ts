import { Buffer } from "node:buffer";

/** Why a gRPC message stream cannot be read on: the status to end with, and a message. */
export class FrameError extends Error {
  override name = "FrameError";
  /** `resource-exhausted` for a message over the limit, `internal` for a malformed prefix. */
  readonly kind: "resource-exhausted" | "internal";

  constructor(kind: "resource-exhausted" | "internal", message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * Splits the bytes of an HTTP/2 stream into gRPC messages (each a 5-byte
 * prefix, a compression flag and a big-endian length, then the message).
 * A message that arrives inside one chunk is handed over as a view of it,
 * without copying; one split across chunks is joined once, when complete.
 * Compressed messages are refused: this transport never negotiates
 * compression on its streams.
 */
export class GrpcFrameReader {
  readonly #maxBytes: number;
  readonly #limitName: string;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being assembled, or -1 while its prefix is incomplete. */
  #need = -1;

  /** `maxBytes`: the largest message accepted; `limitName` names it in the error (`readMaxBytes`). */
  constructor(maxBytes: number, limitName = "readMaxBytes") {
    this.#maxBytes = maxBytes;
    this.#limitName = limitName;
  }

  /** Whether part of a message is waiting for more bytes. */
  get partial(): boolean {
    return this.#buffered > 0;
  }

  /**
   * Adds `chunk` and calls `onMessage(buf, start, end)` for every message
   * now complete, in order. Throws a {@link FrameError} for a compressed or
   * oversized message; the reader is unusable afterwards.
   */
  push(chunk: Buffer, onMessage: (buf: Buffer, start: number, end: number) => void): void {
    let buf = chunk;
    let pos = 0;
    if (this.#buffered > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.byteLength;
      if (this.#need === -1 && this.#buffered >= 5) this.#need = this.#readPrefix(this.#join(), 0);
      if (this.#need === -1 || this.#buffered < 5 + this.#need) return;
      buf = this.#join();
      this.#chunks = [];
      this.#buffered = 0;
      this.#need = -1;
    }
    const end = buf.byteLength;
    while (end - pos >= 5) {
      const length = this.#readPrefix(buf, pos);
      if (end - pos - 5 < length) break;
      onMessage(buf, pos + 5, pos + 5 + length);
      pos += 5 + length;
    }
    if (pos < end) {
      const rest = buf.subarray(pos);
      this.#chunks = [rest];
      this.#buffered = rest.byteLength;
      this.#need = rest.byteLength >= 5 ? this.#readPrefix(rest, 0) : -1;
    }
  }

  #join(): Buffer {
    const joined = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #readPrefix(buf: Buffer, pos: number): number {
    const flags = buf[pos] as number;
    if (flags !== 0) {
      throw new FrameError(
        "internal",
        flags === 1 ? "received a compressed message, but no compression was negotiated" : `bad message flags ${flags}`,
      );
    }
    const length = buf.readUInt32BE(pos + 1);
    if (length > this.#maxBytes) {
      throw new FrameError(
        "resource-exhausted",
        `message size ${length} is larger than configured ${this.#limitName} ${this.#maxBytes}`,
      );
    }
    return length;
  }
}
