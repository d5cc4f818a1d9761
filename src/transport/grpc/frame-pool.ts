import { Buffer } from "node:buffer";
import process from "node:process";

/**
 * Whether a write's callback means the runtime is done with the written
 * bytes. In Node's `node:http2`, a stream write completes only after the
 * socket write that carried its bytes (`ClearOutgoing` in node_http2.cc),
 * so a buffer may be reused from its callback on. Bun's and Deno's
 * `node:http2` are other implementations, not checked: they get fresh
 * buffers.
 */
const writesReleaseBuffers = process.versions.bun === undefined && process.versions.deno === undefined;

/**
 * Buffers for outgoing gRPC frames, reused once written. An owner answering
 * large values allocates a fresh ArrayBuffer per message otherwise, and V8
 * counts those as external memory: every 64 MiB of them starts a full
 * collection. With 10 KiB values at 64 concurrent gets, that is 5 or more a
 * second on each owner, with pauses of 10-40 ms; reused buffers bring it
 * to a handful for the whole run.
 *
 * Only frames of at least a quarter of a slot are pooled, so a caller that
 * stops reading can make a pooled frame hold at most 4× its bytes; smaller
 * frames come from Node's shared allocation pool as before.
 */
export class FramePool {
  readonly #slotBytes: number;
  readonly #minBytes: number;
  readonly #maxFree: number;
  readonly #free: Buffer[] = [];

  /** Slots of `slotBytes`; at most `maxFree` kept while unused. */
  constructor(slotBytes: number, maxFree: number) {
    this.#slotBytes = slotBytes;
    this.#minBytes = slotBytes >>> 2;
    this.#maxFree = maxFree;
  }

  /** A buffer of exactly `bytes` to write a frame into, and `release` when its write completes, or `undefined` if it is not pooled. */
  take(bytes: number): Buffer | undefined {
    if (!writesReleaseBuffers || bytes < this.#minBytes || bytes > this.#slotBytes) return undefined;
    const slot = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#slotBytes);
    return slot.subarray(0, bytes);
  }

  /** Gives back a buffer from `take`: its write has completed (or failed), so nothing reads it any more. */
  release(buf: Buffer): void {
    if (this.#free.length < this.#maxFree) this.#free.push(Buffer.from(buf.buffer, buf.byteOffset, this.#slotBytes));
  }
}
