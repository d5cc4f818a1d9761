import { Buffer } from "node:buffer";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import {
  GetStreamRequestSchema,
  GetStreamResponseSchema,
  KeyRequestSchema,
  KeyResponseSchema,
} from "../../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCacheError } from "../../src/index.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeRequestFrame,
  encodeResponseFrame,
  KeyAnswer,
  keyRequestEntrySize,
  keyResponseEntrySize,
  type OutgoingKey,
  type OutgoingResult,
} from "../../src/transport/get-stream/get-stream-codec.ts";
import { GrpcFrameReader } from "../../src/transport/grpc/grpc-frame-reader.ts";

// The hand-written GetStream codec against the generated protobuf-es code:
// the same bytes out, the same messages in, and malformed input refused.

const key = (id: number, group: string, k: string): OutgoingKey => ({
  id,
  group,
  key: k,
  groupBytes: Buffer.byteLength(group),
  keyBytes: Buffer.byteLength(k),
  trace: undefined,
});

function requestFrame(keys: OutgoingKey[], cancels: number[]): Buffer {
  const size = keys.reduce((n, k) => n + keyRequestEntrySize(k), 0);
  return encodeRequestFrame(keys, 0, keys.length, size, cancels);
}

function responseFrame(results: OutgoingResult[]): Buffer {
  const size = results.reduce((n, r) => n + keyResponseEntrySize(r), 0);
  return encodeResponseFrame(results, 0, results.length, size);
}

function decodedRequest(bytes: Uint8Array) {
  const gets: [number, string | undefined, string | undefined][] = [];
  const cancels: number[] = [];
  const buf = Buffer.from(bytes);
  decodeRequest(buf, 0, buf.byteLength, {
    get: (id, group, k) => gets.push([id, group, k]),
    cancel: (id) => cancels.push(id),
  });
  return { gets, cancels };
}

function decodedResponse(bytes: Uint8Array) {
  const results: { id: number; code: number; message: string; value: string; minuteQps: number }[] = [];
  const buf = Buffer.from(bytes);
  decodeResponse(buf, 0, buf.byteLength, new KeyAnswer(), {
    answer: ({ id, code, message, frame, valueStart, valueEnd, minuteQps }) =>
      results.push({ id, code, message, value: frame.toString("latin1", valueStart, valueEnd), minuteQps }),
  });
  return results;
}

/** What `fn` threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("nothing was thrown");
}

/** Malformed bytes: an `internal` GroupCacheError, the status the stream ends with. */
const malformed = (what: string) => ({ name: "GroupCacheError", code: "internal", message: `parse binary: ${what}` });

describe("GetStreamRequest", () => {
  const keys = [key(1, "g", "a"), key(300, "groupe", "clé ✓ 🔑"), key(2 ** 32 - 1, "", ""), key(0, "g", "x")];
  const cancels = [7, 128, 2 ** 32 - 1];

  test("encodes to exactly protobuf-es's bytes, behind a 5-byte gRPC prefix", () => {
    const frame = requestFrame(keys, cancels);
    const expected = toBinary(
      GetStreamRequestSchema,
      create(GetStreamRequestSchema, {
        gets: keys.map(({ id, group, key: k }) => ({ id, group, key: k })),
        cancels,
      }),
    );
    expect(frame[0]).toBe(0);
    expect(frame.readUInt32BE(1)).toBe(expected.byteLength);
    expect(Buffer.from(frame.subarray(5)).equals(Buffer.from(expected))).toBe(true);
    expect(frame.byteLength).toBe(5 + expected.byteLength);
  });

  test("a key's trace_context (field 5) encodes to protobuf-es's bytes and decodes back, keys without it unchanged", () => {
    const trace = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "k=v", "": "" };
    const traced = [{ ...key(9, "g", "a"), trace }, key(10, "g", "b")];
    const frame = requestFrame(traced, []);
    const expected = toBinary(
      GetStreamRequestSchema,
      create(GetStreamRequestSchema, {
        gets: [
          { id: 9, group: "g", key: "a", traceContext: trace },
          { id: 10, group: "g", key: "b" },
        ],
      }),
    );
    expect(Buffer.from(frame.subarray(5)).equals(Buffer.from(expected))).toBe(true);
    const seen: [number, unknown][] = [];
    decodeRequest(Buffer.from(expected), 0, expected.byteLength, {
      get: (id, _group, _key, carrier) => seen.push([id, carrier]),
      cancel: () => {},
    });
    expect(seen).toEqual([
      [9, trace],
      [10, undefined],
    ]);
  });

  test("decodes what protobuf-es encodes, including unpacked cancels and unknown fields", () => {
    const message = create(GetStreamRequestSchema, {
      gets: [
        { id: 5, group: "g", key: "k" },
        { id: 6, group: "g", key: "ü" },
      ],
      cancels: [9, 10],
    });
    expect(decodedRequest(toBinary(GetStreamRequestSchema, message))).toEqual({
      gets: [
        [5, "g", "k"],
        [6, "g", "ü"],
      ],
      cancels: [9, 10],
    });
    // cancels as unpacked varints (field 2, wire type 0), a KeyRequest with an
    // unknown field 9 (varint) and an unknown top-level field 15 (bytes).
    const unpacked = new Uint8Array([
      0x10, 0x03, 0x10, 0x04, 0x0a, 0x08, 0x08, 0x01, 0x48, 0x07, 0x1a, 0x02, 0x6b, 0x31, 0x7a, 0x01, 0xff,
    ]);
    expect(decodedRequest(unpacked)).toEqual({ gets: [[1, "", "k1"]], cancels: [3, 4] });
  });

  test("a key or group that is not valid UTF-8 decodes as undefined; a real U+FFFD stays", () => {
    const bytes = new Uint8Array([0x0a, 0x08, 0x08, 0x01, 0x12, 0x01, 0x67, 0x1a, 0x01, 0xff]);
    expect(decodedRequest(bytes).gets).toEqual([[1, "g", undefined]]);
    const replacement = toBinary(
      GetStreamRequestSchema,
      create(GetStreamRequestSchema, { gets: [{ id: 2, group: "\uFFFD", key: "a\uFFFDb" }] }),
    );
    expect(decodedRequest(replacement).gets).toEqual([[2, "\uFFFD", "a\uFFFDb"]]);
  });

  test("truncated or malformed bytes throw an internal GroupCacheError worded as protobuf-es's", () => {
    const good = toBinary(
      GetStreamRequestSchema,
      create(GetStreamRequestSchema, { gets: [{ id: 1, group: "g", key: "key" }] }),
    );
    for (let end = 1; end < good.byteLength; end++) {
      expect(thrown(() => decodedRequest(good.subarray(0, end)))).toMatchObject(malformed("premature EOF"));
    }
    // a varint of 11 bytes; wire type 4 (end group) at top level
    expect(thrown(() => decodedRequest(new Uint8Array(11).fill(0xff)))).toMatchObject(malformed("invalid varint"));
    expect(thrown(() => decodedRequest(new Uint8Array([0x0c])))).toMatchObject(malformed("cannot skip wire type 4"));
  });
});

describe("GetStreamResponse", () => {
  const value = new Uint8Array(300).map((_, i) => i % 256);
  const results: OutgoingResult[] = [
    { id: 1, code: 0, message: "", value, minuteQps: 12.5, ttlMs: 59_999.5, staleMs: 10_000, notFoundTtlMs: 0 },
    { id: 2, code: 5, message: "no row ✗", value: undefined, minuteQps: 0, notFoundTtlMs: 500 },
    { id: 3, code: 0, message: "", value: new Uint8Array(0), minuteQps: 0 },
  ];

  test("encodes to exactly protobuf-es's bytes", () => {
    const frame = responseFrame(results);
    const expected = toBinary(
      GetStreamResponseSchema,
      create(GetStreamResponseSchema, {
        results: results.map((r) => ({ ...r, value: r.value ?? new Uint8Array(0) })),
      }),
    );
    expect(frame.readUInt32BE(1)).toBe(expected.byteLength);
    expect(Buffer.from(frame.subarray(5)).equals(Buffer.from(expected))).toBe(true);
  });

  test("decodes what protobuf-es encodes; values are left in the frame", () => {
    const bytes = toBinary(
      GetStreamResponseSchema,
      create(GetStreamResponseSchema, {
        results: [
          { id: 4, value: new TextEncoder().encode("hello"), minuteQps: 3 },
          { id: 5, code: 14, message: "peer down" },
        ],
      }),
    );
    expect(decodedResponse(bytes)).toEqual([
      { id: 4, code: 0, message: "", value: "hello", minuteQps: 3 },
      { id: 5, code: 14, message: "peer down", value: "", minuteQps: 0 },
    ]);
    const buf = Buffer.from(bytes);
    const answer = new KeyAnswer();
    const seen: KeyAnswer[] = [];
    decodeResponse(buf, 0, buf.byteLength, answer, {
      answer: (a) => {
        seen.push(a);
        if (a.id === 4) expect([a.frame, a.frame.toString("utf8", a.valueStart, a.valueEnd)]).toEqual([buf, "hello"]);
      },
    });
    // One object, refilled for each answer: decoding allocates none per answer.
    expect(seen).toEqual([answer, answer]);
    expect(seen[0]).toBe(answer);
    expect(seen[1]).toBe(answer);
  });

  test("decodes the remaining TTL, grace and not-found TTL (0 when absent)", () => {
    const bytes = toBinary(
      GetStreamResponseSchema,
      create(GetStreamResponseSchema, {
        results: [
          { id: 6, value: new TextEncoder().encode("v"), ttlMs: 1_234.5, staleMs: 99 },
          { id: 7, code: 5, message: "gone", notFoundTtlMs: 700 },
          { id: 8, value: new TextEncoder().encode("w") },
        ],
      }),
    );
    const buf = Buffer.from(bytes);
    const seen: [number, number, number, number][] = [];
    decodeResponse(buf, 0, buf.byteLength, new KeyAnswer(), {
      answer: (a) => seen.push([a.id, a.ttlMs, a.staleMs, a.notFoundTtlMs]),
    });
    expect(seen).toEqual([
      [6, 1_234.5, 99, 0],
      [7, 0, 0, 700],
      [8, 0, 0, 0],
    ]);
  });

  test("entry sizes match protobuf-es per result", () => {
    for (const r of results) {
      const one = toBinary(KeyResponseSchema, create(KeyResponseSchema, { ...r, value: r.value ?? new Uint8Array(0) }));
      const header = one.byteLength < 128 ? 2 : 3;
      expect(keyResponseEntrySize(r)).toBe(header + one.byteLength);
    }
    const k = key(1000, "group", "k".repeat(200));
    const one = toBinary(
      KeyRequestSchema,
      create(KeyRequestSchema, { id: 1000, group: "group", key: "k".repeat(200) }),
    );
    expect(keyRequestEntrySize(k)).toBe(3 + one.byteLength);
  });

  test("truncated bytes throw an internal GroupCacheError", () => {
    const good = responseFrame(results).subarray(5);
    for (let end = 1; end < good.byteLength; end += 7) {
      expect(thrown(() => decodedResponse(good.subarray(0, end)))).toMatchObject(malformed("premature EOF"));
    }
  });
});

describe("GrpcFrameReader", () => {
  const frames = [requestFrame([key(1, "g", "a")], []), requestFrame([key(2, "g", "b".repeat(100))], [1])];
  const all = Buffer.concat(frames);
  const read = (reader: GrpcFrameReader, chunks: Buffer[]) => {
    const messages: string[] = [];
    for (const chunk of chunks) reader.push(chunk, (buf, s, e) => messages.push(buf.subarray(s, e).toString("hex")));
    return messages;
  };
  const expected = frames.map((f) => f.subarray(5).toString("hex"));

  test("splits messages whatever the chunk boundaries", () => {
    for (let size = 1; size <= all.byteLength; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.byteLength; i += size) chunks.push(all.subarray(i, i + size));
      const reader = new GrpcFrameReader(1000);
      expect(read(reader, chunks)).toEqual(expected);
      expect(reader.partial).toBe(false);
    }
  });

  test("a message inside one chunk is a view of it, not a copy", () => {
    const views: Buffer[] = [];
    new GrpcFrameReader(1000).push(all, (buf) => views.push(buf));
    expect(views.every((v) => v === all)).toBe(true);
  });

  test("a message split across chunks is copied once into a buffer of its own, of its exact size", () => {
    const big = frames[1] as Buffer;
    for (const cut of [1, 4, 5, 6, 50, big.byteLength - 1]) {
      const got: { buf: Buffer; s: number; e: number; own: boolean }[] = [];
      const first = Buffer.from(big.subarray(0, cut));
      const reader = new GrpcFrameReader(1000);
      reader.push(first, (buf, s, e, own) => got.push({ buf, s, e, own }));
      expect(got).toEqual([]);
      reader.push(Buffer.from(big.subarray(cut)), (buf, s, e, own) => got.push({ buf, s, e, own }));
      expect(got).toHaveLength(1);
      const message = got[0] as (typeof got)[number];
      expect(message.own).toBe(true);
      expect([message.s, message.e, message.buf.byteLength]).toEqual([0, big.byteLength - 5, big.byteLength - 5]);
      first.fill(0); // the chunks are not referenced any more
      expect(message.buf.toString("hex")).toBe(expected[1]);
    }
  });

  test("messages inside one chunk are not their own; an empty message is read whole", () => {
    const owns: boolean[] = [];
    const empty = Buffer.from([0, 0, 0, 0, 0]);
    const reader = new GrpcFrameReader(1000);
    const lengths: number[] = [];
    for (const chunk of [all, empty.subarray(0, 2), empty.subarray(2)]) {
      reader.push(chunk, (_buf, s, e, own) => {
        owns.push(own);
        lengths.push(e - s);
      });
    }
    expect(owns).toEqual([false, false, true]);
    expect(lengths).toEqual([(frames[0] as Buffer).byteLength - 5, (frames[1] as Buffer).byteLength - 5, 0]);
    expect(reader.partial).toBe(false);
  });

  test("a message over the limit is resource-exhausted; a compressed one internal", () => {
    const over = new GrpcFrameReader(10);
    expect(thrown(() => read(over, [frames[1] as Buffer]))).toEqual(
      new GroupCacheError("resource-exhausted", "message size 112 is larger than configured readMaxBytes 10"),
    );
    const compressed = Buffer.from(frames[0] as Buffer);
    compressed[0] = 1;
    expect(thrown(() => read(new GrpcFrameReader(1000), [compressed]))).toMatchObject({
      code: "internal",
      message: "received a compressed message, but no compression was negotiated",
    });
  });

  test("a partial message is reported", () => {
    const reader = new GrpcFrameReader(1000);
    expect(read(reader, [all.subarray(0, 7)])).toEqual([]);
    expect(reader.partial).toBe(true);
  });

  test("protobuf-es reads every message of an encoded frame the same way", () => {
    const messages: unknown[] = [];
    new GrpcFrameReader(1000).push(all, (buf, s, e) =>
      messages.push(fromBinary(GetStreamRequestSchema, buf.subarray(s, e))),
    );
    expect(messages).toMatchObject([
      { gets: [{ id: 1, group: "g", key: "a" }], cancels: [] },
      { gets: [{ id: 2, group: "g", key: "b".repeat(100) }], cancels: [1] },
    ]);
  });
});
