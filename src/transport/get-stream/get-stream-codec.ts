import { Buffer } from "node:buffer";
import { GroupCacheError } from "../../core/errors.ts";
import type { TraceCarrier } from "../../core/telemetry.ts";
import { varintSize, writePrefix, writeVarint } from "../grpc/proto-wire.ts";

/**
 * The GetStream wire format: its path and header, and the protobuf encoding
 * and decoding of its messages
 * (`proto/groupcachepb/groupcache.proto`), written out by hand for the hot
 * path: one pass to size a batch, one allocation for the whole gRPC frame,
 * no message objects on the way in or out, and values handed over as views
 * of the received frame for the caller to copy. The output is the same as
 * protobuf-es's (proto3: zero values omitted), and the decoders accept
 * anything a conforming encoder may send (unknown fields, unpacked repeated
 * scalars, over-long varints); `test/shared/stream-codec.test.ts` checks both
 * against the generated code.
 */

/** The RPC path of GetStream. */
export const getStreamPath = "/groupcachepb.GroupCache/GetStream";

/**
 * Request header in which a caller of GetStream states the largest message
 * it accepts (its `readMaxBytes`), so the owner answers a key too large for
 * it with RESOURCE_EXHAUSTED for that key alone, rather than with a message
 * the caller must reject along with every key in flight.
 */
export const readMaxBytesHeader = "groupcache-read-max-bytes";

/**
 * What the decoders throw for bytes that are not a valid message: the
 * status to end the stream with (INTERNAL), worded as protobuf-es words
 * its own parse errors.
 */
function malformed(what: string): GroupCacheError {
  return new GroupCacheError("internal", `parse binary: ${what}`);
}

/**
 * A key to send: its id, group and key, with the UTF-8 sizes of the
 * strings, and its trace context (`trace_context`, field 5) if traced.
 */
export interface OutgoingKey {
  id: number;
  group: string;
  key: string;
  groupBytes: number;
  keyBytes: number;
  trace: TraceCarrier | undefined;
}

/** The encoded size of a KeyRequest's body. */
export function keyRequestSize(k: OutgoingKey): number {
  return (
    (k.id === 0 ? 0 : 1 + varintSize(k.id)) +
    (k.groupBytes === 0 ? 0 : 1 + varintSize(k.groupBytes) + k.groupBytes) +
    (k.keyBytes === 0 ? 0 : 1 + varintSize(k.keyBytes) + k.keyBytes) +
    (k.trace === undefined ? 0 : traceContextSize(k.trace))
  );
}

/**
 * The size of one map entry's body: `key = 1`, `value = 2`, both strings,
 * both written even when empty (as protobuf-es and other encoders write
 * map entries).
 */
function mapEntrySize(name: string, value: string): number {
  const n = Buffer.byteLength(name, "utf8");
  const v = Buffer.byteLength(value, "utf8");
  return 1 + varintSize(n) + n + 1 + varintSize(v) + v;
}

/** The encoded size of a KeyRequest's `trace_context` entries (tag, length, entry each). */
function traceContextSize(trace: TraceCarrier): number {
  let size = 0;
  for (const name in trace) {
    const entry = mapEntrySize(name, trace[name] as string);
    size += 1 + varintSize(entry) + entry;
  }
  return size;
}

/** Writes a length-delimited string field, even when empty. */
function writeString(buf: Buffer, pos: number, tag: number, text: string): number {
  const bytes = Buffer.byteLength(text, "utf8");
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, bytes);
  return pos + buf.write(text, pos, "utf8");
}

/** Writes a KeyRequest's `trace_context` map entries. */
function writeTraceContext(buf: Buffer, pos: number, trace: TraceCarrier): number {
  for (const name in trace) {
    const value = trace[name] as string;
    buf[pos++] = 0x2a;
    pos = writeVarint(buf, pos, mapEntrySize(name, value));
    pos = writeString(buf, pos, 0x0a, name);
    pos = writeString(buf, pos, 0x12, value);
  }
  return pos;
}

/** The bytes a KeyRequest adds to a GetStreamRequest (tag, length, body). */
export function keyRequestEntrySize(k: OutgoingKey): number {
  const size = keyRequestSize(k);
  return 1 + varintSize(size) + size;
}

/**
 * One gRPC frame holding a GetStreamRequest with `keys[from..to)` and
 * `cancels`; `size` is the sum of their `keyRequestEntrySize`s.
 */
export function encodeRequestFrame(
  keys: readonly OutgoingKey[],
  from: number,
  to: number,
  size: number,
  cancels: readonly number[],
): Buffer {
  let packed = 0;
  for (const id of cancels) packed += varintSize(id);
  const length = size + (packed === 0 ? 0 : 1 + varintSize(packed) + packed);
  const buf = Buffer.allocUnsafe(5 + length);
  writePrefix(buf, length);
  let pos = 5;
  for (let i = from; i < to; i++) {
    const k = keys[i] as OutgoingKey;
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, keyRequestSize(k));
    if (k.id !== 0) {
      buf[pos++] = 0x08;
      pos = writeVarint(buf, pos, k.id);
    }
    if (k.groupBytes !== 0) {
      buf[pos++] = 0x12;
      pos = writeVarint(buf, pos, k.groupBytes);
      pos += buf.write(k.group, pos, "utf8");
    }
    if (k.keyBytes !== 0) {
      buf[pos++] = 0x1a;
      pos = writeVarint(buf, pos, k.keyBytes);
      pos += buf.write(k.key, pos, "utf8");
    }
    if (k.trace !== undefined) pos = writeTraceContext(buf, pos, k.trace);
  }
  if (packed !== 0) {
    buf[pos++] = 0x12;
    pos = writeVarint(buf, pos, packed);
    for (const id of cancels) pos = writeVarint(buf, pos, id);
  }
  return buf;
}

/** One key's answer to send: a value (code 0) or an error status. */
export interface OutgoingResult {
  id: number;
  code: number;
  message: string;
  value: Uint8Array | undefined;
  minuteQps: number;
  /** The value's remaining TTL, ms; 0 or unset: none. */
  ttlMs?: number;
  /** The value's remaining grace, ms; 0 or unset: none. */
  staleMs?: number;
  /** With NOT_FOUND: how long the owner caches it, ms; 0 or unset: not cached. */
  notFoundTtlMs?: number;
}

function keyResponseSize(r: OutgoingResult, messageBytes: number): number {
  const valueBytes = r.value === undefined ? 0 : r.value.byteLength;
  return (
    (r.id === 0 ? 0 : 1 + varintSize(r.id)) +
    (r.code === 0 ? 0 : 1 + varintSize(r.code)) +
    (messageBytes === 0 ? 0 : 1 + varintSize(messageBytes) + messageBytes) +
    (valueBytes === 0 ? 0 : 1 + varintSize(valueBytes) + valueBytes) +
    (r.minuteQps === 0 ? 0 : 9) +
    (r.ttlMs ? 9 : 0) +
    (r.staleMs ? 9 : 0) +
    (r.notFoundTtlMs ? 9 : 0)
  );
}

/** The bytes a KeyResponse adds to a GetStreamResponse (tag, length, body). */
export function keyResponseEntrySize(r: OutgoingResult): number {
  const size = keyResponseSize(r, r.message === "" ? 0 : Buffer.byteLength(r.message, "utf8"));
  return 1 + varintSize(size) + size;
}

/** One gRPC frame holding a GetStreamResponse with `results[from..to)`, whose entry sizes sum to `size`. */
export function encodeResponseFrame(
  results: readonly OutgoingResult[],
  from: number,
  to: number,
  size: number,
  into: Buffer = Buffer.allocUnsafe(5 + size),
): Buffer {
  const buf = into;
  writePrefix(buf, size);
  let pos = 5;
  for (let i = from; i < to; i++) {
    const r = results[i] as OutgoingResult;
    const messageBytes = r.message === "" ? 0 : Buffer.byteLength(r.message, "utf8");
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, keyResponseSize(r, messageBytes));
    if (r.id !== 0) {
      buf[pos++] = 0x08;
      pos = writeVarint(buf, pos, r.id);
    }
    if (r.code !== 0) {
      buf[pos++] = 0x10;
      pos = writeVarint(buf, pos, r.code);
    }
    if (messageBytes !== 0) {
      buf[pos++] = 0x1a;
      pos = writeVarint(buf, pos, messageBytes);
      pos += buf.write(r.message, pos, "utf8");
    }
    const value = r.value;
    if (value !== undefined && value.byteLength !== 0) {
      buf[pos++] = 0x22;
      pos = writeVarint(buf, pos, value.byteLength);
      buf.set(value, pos);
      pos += value.byteLength;
    }
    if (r.minuteQps !== 0) {
      buf[pos++] = 0x29;
      pos = buf.writeDoubleLE(r.minuteQps, pos);
    }
    if (r.ttlMs) {
      buf[pos++] = 0x31;
      pos = buf.writeDoubleLE(r.ttlMs, pos);
    }
    if (r.staleMs) {
      buf[pos++] = 0x39;
      pos = buf.writeDoubleLE(r.staleMs, pos);
    }
    if (r.notFoundTtlMs) {
      buf[pos++] = 0x41;
      pos = buf.writeDoubleLE(r.notFoundTtlMs, pos);
    }
  }
  return buf;
}

/** A cursor over `buf[pos..end)`. */
class Reader {
  readonly buf: Buffer;
  readonly end: number;
  pos: number;

  constructor(buf: Buffer, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** A varint, truncated to its low 32 bits as protobuf does for uint32 (read as unsigned). */
  varint32(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw malformed("premature EOF");
      const byte = buf[this.pos++] as number;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) return result >>> 0;
    }
    throw malformed("invalid varint");
  }

  /** The end of a length-delimited field starting here (after its tag). */
  delimited(): number {
    const length = this.varint32();
    const end = this.pos + length;
    if (end > this.end) throw malformed("premature EOF");
    return end;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint32();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 2) this.pos = this.delimited();
    else if (wireType === 5) this.advance(4);
    else throw malformed(`cannot skip wire type ${wireType}`);
  }

  advance(n: number): void {
    if (this.pos + n > this.end) throw malformed("premature EOF");
    this.pos += n;
  }
}

/** Strict UTF-8: `undefined` for bytes that are not valid UTF-8, rather than U+FFFD in their place. */
function utf8(buf: Buffer, start: number, end: number): string | undefined {
  if (start === end) return "";
  const text = buf.toString("utf8", start, end);
  // Only text with a U+FFFD needs the strict check (it is rare in keys).
  if (!text.includes("\uFFFD")) return text;
  try {
    strictDecoder.decode(buf.subarray(start, end));
    return text;
  } catch {
    return undefined;
  }
}
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Receives what a GetStreamRequest holds, in order. A string that is not
 * valid UTF-8 is `undefined`; `trace` is the key's `trace_context`, when
 * it has one.
 */
export interface RequestVisitor {
  get(id: number, group: string | undefined, key: string | undefined, trace: TraceCarrier | undefined): void;
  cancel(id: number): void;
}

/**
 * How many KeyRequests the GetStreamRequest in `buf[start..end)` holds,
 * counting no further than `max + 1`: a pass over its top-level fields
 * only, so a message can be refused for naming too many keys before any of
 * them is served. Throws as {@link decodeRequest} on malformed bytes.
 */
export function countRequestKeys(buf: Buffer, start: number, end: number, max: number): number {
  const r = new Reader(buf, start, end);
  let count = 0;
  while (r.pos < end && count <= max) {
    const tag = r.varint32();
    if (tag === 0x0a) {
      r.pos = r.delimited();
      count++;
    } else {
      r.skip(tag & 7);
    }
  }
  return count;
}

/** Decodes the GetStreamRequest in `buf[start..end)`. Throws an `internal` `GroupCacheError` on malformed bytes. */
export function decodeRequest(buf: Buffer, start: number, end: number, visitor: RequestVisitor): void {
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const tag = r.varint32();
    if (tag === 0x0a) {
      const itemEnd = r.delimited();
      let id = 0;
      let group: string | undefined = "";
      let key: string | undefined = "";
      let trace: TraceCarrier | undefined;
      while (r.pos < itemEnd) {
        const t = r.varint32();
        if (t === 0x08) id = nestedVarint(r, itemEnd);
        else if (t === 0x12) {
          const e = nestedEnd(r, itemEnd);
          group = utf8(buf, r.pos, e);
          r.pos = e;
        } else if (t === 0x1a) {
          const e = nestedEnd(r, itemEnd);
          key = utf8(buf, r.pos, e);
          r.pos = e;
        } else if (t === 0x2a) {
          trace ??= {};
          readMapEntry(r, nestedEnd(r, itemEnd), trace);
        } else skipNested(r, t, itemEnd);
      }
      if (r.pos !== itemEnd) throw malformed("premature EOF");
      visitor.get(id, group, key, trace);
    } else if (tag === 0x12) {
      const e = r.delimited();
      while (r.pos < e) visitor.cancel(nestedVarint(r, e));
    } else if (tag === 0x10) {
      visitor.cancel(r.varint32());
    } else {
      r.skip(tag & 7);
    }
  }
}

const noFrame = Buffer.alloc(0);

/**
 * One KeyResponse as {@link decodeResponse} read it. The decoder refills
 * the same object for every answer, so answers cost no object each: a
 * receiver reads it before it returns. The value is
 * `frame[valueStart..valueEnd)`, left in the received frame for the
 * receiver to copy out (without a view object in between).
 */
export class KeyAnswer {
  id = 0;
  /** 0 (OK: the value is the answer) or the key's gRPC status. */
  code = 0;
  message = "";
  frame: Buffer = noFrame;
  valueStart = 0;
  valueEnd = 0;
  /** The key's request rate on the owner, per minute; 0 when not reported. */
  minuteQps = 0;
  /** The value's remaining TTL on the owner, ms; 0 when none is known. */
  ttlMs = 0;
  /** The value's remaining grace on the owner, ms; 0 for none. */
  staleMs = 0;
  /** With NOT_FOUND: how long the owner caches it, ms; 0 when it does not. */
  notFoundTtlMs = 0;
}

/** Receives each answer of a GetStreamResponse, in the one reused {@link KeyAnswer} given to the decoder. */
export interface AnswerReceiver<A extends KeyAnswer> {
  answer(answer: A): void;
}

/**
 * Decodes the GetStreamResponse in `buf[start..end)`, filling `answer` and
 * handing it to `receiver` once per KeyResponse. Throws an `internal`
 * `GroupCacheError` on malformed bytes.
 */
export function decodeResponse<A extends KeyAnswer>(
  buf: Buffer,
  start: number,
  end: number,
  answer: A,
  receiver: AnswerReceiver<A>,
): void {
  const r = new Reader(buf, start, end);
  answer.frame = buf;
  while (r.pos < end) {
    const tag = r.varint32();
    if (tag !== 0x0a) {
      r.skip(tag & 7);
      continue;
    }
    const itemEnd = r.delimited();
    let id = 0;
    let code = 0;
    let message = "";
    let valueStart = 0;
    let valueEnd = 0;
    let minuteQps = 0;
    let ttlMs = 0;
    let staleMs = 0;
    let notFoundTtlMs = 0;
    while (r.pos < itemEnd) {
      const t = r.varint32();
      if (t === 0x08) id = nestedVarint(r, itemEnd);
      else if (t === 0x10) code = nestedVarint(r, itemEnd);
      else if (t === 0x1a) {
        const e = nestedEnd(r, itemEnd);
        message = buf.toString("utf8", r.pos, e);
        r.pos = e;
      } else if (t === 0x22) {
        const e = nestedEnd(r, itemEnd);
        valueStart = r.pos;
        valueEnd = e;
        r.pos = e;
      } else if (t === 0x29) minuteQps = nestedDouble(r, itemEnd);
      else if (t === 0x31) ttlMs = nestedDouble(r, itemEnd);
      else if (t === 0x39) staleMs = nestedDouble(r, itemEnd);
      else if (t === 0x41) notFoundTtlMs = nestedDouble(r, itemEnd);
      else skipNested(r, t, itemEnd);
    }
    if (r.pos !== itemEnd) throw malformed("premature EOF");
    answer.id = id;
    answer.code = code;
    answer.message = message;
    answer.valueStart = valueStart;
    answer.valueEnd = valueEnd;
    answer.minuteQps = minuteQps;
    answer.ttlMs = ttlMs;
    answer.staleMs = staleMs;
    answer.notFoundTtlMs = notFoundTtlMs;
    receiver.answer(answer);
  }
  answer.frame = noFrame; // not to keep the received bytes alive until the next message
}

/** Reads a double (fixed64) of a nested message that must not run past `end`. */
function nestedDouble(r: Reader, end: number): number {
  if (r.pos + 8 > end) throw malformed("premature EOF");
  const value = r.buf.readDoubleLE(r.pos);
  r.pos += 8;
  return value;
}

/**
 * Reads a `map<string, string>` entry ending at `end` into `map`; an entry
 * whose strings are not UTF-8 is dropped (trace context is advisory).
 */
function readMapEntry(r: Reader, end: number, map: Record<string, string>): void {
  let name: string | undefined = "";
  let value: string | undefined = "";
  while (r.pos < end) {
    const t = r.varint32();
    if (t === 0x0a || t === 0x12) {
      const e = nestedEnd(r, end);
      const text = utf8(r.buf, r.pos, e);
      if (t === 0x0a) name = text;
      else value = text;
      r.pos = e;
    } else skipNested(r, t, end);
  }
  if (r.pos !== end) throw malformed("premature EOF");
  if (name !== undefined && value !== undefined) map[name] = value;
}

/** Reads a varint of a nested message that must not run past `end`. */
function nestedVarint(r: Reader, end: number): number {
  const value = r.varint32();
  if (r.pos > end) throw malformed("premature EOF");
  return value;
}

function nestedEnd(r: Reader, end: number): number {
  const e = r.delimited();
  if (e > end) throw malformed("premature EOF");
  return e;
}

function skipNested(r: Reader, tag: number, end: number): void {
  r.skip(tag & 7);
  if (r.pos > end) throw malformed("premature EOF");
}
