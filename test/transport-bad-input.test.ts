import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GroupCache } from "../src/index.ts";
import { type PeerServer, startPeerServer } from "../src/transport/index.ts";
import { type GrpcJsClient, grpcJsClient, statusOf } from "./support/grpc-js-service.ts";
import { text } from "./support/in-process-peer.ts";

// Hostile or broken requests, sent as raw bytes by an independent gRPC
// client: each gets its documented status, and the server keeps answering.

let cache: GroupCache;
let server: PeerServer;
let client: GrpcJsClient;
let getterCalls = 0;

beforeAll(async () => {
  cache = new GroupCache({ self: "self:1" });
  cache.newGroup({
    name: "g",
    getter: (key) => {
      getterCalls++;
      return key === "huge" ? "x".repeat(5000) : `v:${key}`;
    },
  });
  server = await startPeerServer(cache, { readMaxBytes: 1024, writeMaxBytes: 4096, closeTimeoutMs: 0 });
  client = grpcJsClient(server.id);
});
afterAll(async () => {
  client?.close();
  await server?.close();
  await cache?.close();
});

/** Protobuf bytes of a GetRequest, built by hand: field 1 (group) and field 2 (key), both length-delimited. */
function rawRequest(group: Uint8Array, key: Uint8Array): Uint8Array {
  const field = (tag: number, bytes: Uint8Array) => {
    const len: number[] = [];
    let n = bytes.byteLength;
    while (n > 0x7f) {
      len.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    len.push(n);
    return [tag, ...len, ...bytes];
  };
  return new Uint8Array([...field(0x0a, group), ...field(0x12, key)]);
}

const utf8 = (s: string) => new TextEncoder().encode(s);

async function expectStillServing(): Promise<void> {
  expect(text((await client.get("g", "ok")).value)).toBe("v:ok");
}

test("an unknown group is FAILED_PRECONDITION naming the group", async () => {
  expect(await client.get("nope", "k").then(() => undefined, statusOf)).toEqual({
    code: grpc.status.FAILED_PRECONDITION,
    details: 'no group named "nope" on peer "self:1"',
  });
  await expectStillServing();
});

// Connect rejects a request it cannot decode before our handler runs, with
// INTERNAL, as grpc-go does for an unmarshalling error. Decoding is strict:
// a key that is not valid UTF-8 is refused rather than changed to U+FFFD
// (which would load a different key).
test("a key that is not valid UTF-8 (a lone surrogate, as WTF-8 would send it) is refused: INTERNAL, no load", async () => {
  const loneSurrogate = new Uint8Array([0x61, 0xed, 0xa0, 0x80]); // "a" + U+D800
  const before = getterCalls;
  expect(await client.getRaw(rawRequest(utf8("g"), loneSurrogate)).then(() => undefined, statusOf)).toEqual({
    code: grpc.status.INTERNAL,
    details: "parse binary: The encoded data was not valid for encoding utf-8",
  });
  expect(getterCalls).toBe(before);
  await expectStillServing();
});

test("a request over readMaxBytes is RESOURCE_EXHAUSTED", async () => {
  expect(await client.get("g", "k".repeat(2000)).then(() => undefined, statusOf)).toEqual({
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: "message size 2006 is larger than configured readMaxBytes 1024",
  });
  await expectStillServing();
});

test("a value over writeMaxBytes is RESOURCE_EXHAUSTED", async () => {
  expect(await client.get("g", "huge").then(() => undefined, statusOf)).toEqual({
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: "message size 5012 is larger than configured writeMaxBytes 4096",
  });
  await expectStillServing();
});

test("garbage request bytes are refused: INTERNAL, no load", async () => {
  const before = getterCalls;
  // A truncated varint tag; a length prefix longer than the message.
  for (const garbage of [new Uint8Array([0xff, 0xff, 0xff]), new Uint8Array([0x0a, 0x50, 0x61])]) {
    expect(await client.getRaw(garbage).then(() => undefined, statusOf)).toEqual({
      code: grpc.status.INTERNAL,
      details: "parse binary: premature EOF",
    });
  }
  expect(getterCalls).toBe(before);
  await expectStillServing();
});

test("a compressed request is UNIMPLEMENTED (compression is off by default)", async () => {
  const gzip = grpcJsClient(server.id, { "grpc.default_compression_algorithm": 2 });
  try {
    expect(await gzip.get("g", "k").then(() => undefined, statusOf)).toMatchObject({
      code: grpc.status.UNIMPLEMENTED,
      details: expect.stringContaining('unknown compression "gzip"'),
    });
  } finally {
    gzip.close();
  }
  await expectStillServing();
});

test("an unbracketed IPv6 :authority (as Node's own HTTP/2 client sends) does not crash the server", async () => {
  const v6 = await startPeerServer(cache, { host: "::1", closeTimeoutMs: 0 });
  try {
    const session = http2.connect(`http://[::1]:${v6.port}`);
    const message = rawRequest(utf8("g"), utf8("k"));
    const frame = new Uint8Array(5 + message.byteLength);
    new DataView(frame.buffer).setUint32(1, message.byteLength);
    frame.set(message, 5);
    const stream = session.request({
      ":method": "POST",
      ":path": "/groupcachepb.GroupCache/Get",
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.end(frame);
    expect((await trailers)["grpc-status"]).toBe("0");
    expect(Buffer.concat(chunks).subarray(5).toString()).toContain("v:k");
    session.close();
  } finally {
    await v6.close();
  }
});
