import type { Buffer } from "node:buffer";

/**
 * The few protobuf and gRPC wire primitives our hand-written codecs share
 * (GetStream's messages, the unary Get's answer): varints and the 5-byte
 * gRPC message prefix.
 */

/** The size of `n` (0 to 2^32-1) as a varint. */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes `n` (0 to 2^32-1) as a varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/** The 5-byte gRPC message prefix: not compressed, then the length, big-endian. */
export function writePrefix(buf: Buffer, length: number): void {
  buf[0] = 0;
  buf.writeUInt32BE(length, 1);
}
