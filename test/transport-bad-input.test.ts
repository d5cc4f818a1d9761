import * as http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GetStreamRequestSchema } from "../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCache } from "../src/index.ts";
import {
  groupCacheRoutes,
  grpcPeerClient,
  type PeerServable,
  type PeerServer,
  peerRequestHandler,
  startPeerServer,
} from "../src/transport/index.ts";
import { getRequest, rawStatus } from "./support/attacks.ts";
import { type GrpcJsClient, type GrpcJsStream, grpcJsClient, statusOf } from "./support/grpc-js-service.ts";
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
  expect(await client.getRaw(getRequest(utf8("g"), loneSurrogate)).then(() => undefined, statusOf)).toEqual({
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
    const message = getRequest(utf8("g"), utf8("k"));
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

describe("GetStream", () => {
  /** Collects a call's answers by id until `count` have come. */
  async function answers(call: { next: GrpcJsStream<unknown>["next"] }, count: number) {
    const byId: Record<number, { code: number; message: string; value: string }> = {};
    let n = 0;
    while (n < count) {
      const message = await call.next();
      if (message === undefined) break;
      for (const r of message.results) {
        byId[r.id] = { code: r.code, message: r.message, value: text(r.value) };
        n++;
      }
    }
    return byId;
  }
  const request = (gets: { id: number; group: string; key: string }[], cancels: number[] = []) =>
    create(GetStreamRequestSchema, { gets, cancels });

  test("garbage message bytes end the stream with INTERNAL; the server keeps serving", async () => {
    const before = getterCalls;
    const call = client.getStreamRaw();
    call.send(new Uint8Array([0x0a, 0x50, 0x61]));
    expect(await call.status).toEqual({ code: grpc.status.INTERNAL, details: "parse binary: premature EOF" });
    expect(getterCalls).toBe(before);
    await expectStillServing();
  });

  test("a message over readMaxBytes ends the stream with RESOURCE_EXHAUSTED", async () => {
    const call = client.getStream();
    call.send(request([{ id: 1, group: "g", key: "k".repeat(2000) }]));
    expect(await call.status).toEqual({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: "message size 2011 is larger than configured readMaxBytes 1024",
    });
    await expectStillServing();
  });

  test("a key that is not valid UTF-8 and a value over writeMaxBytes fail only their keys", async () => {
    const before = getterCalls;
    const call = client.getStreamRaw();
    // Hand-built: id 1 with key "a" + U+D800 as WTF-8; then id 2 with key "u8".
    const bad = [0x0a, 0x0b, 0x08, 0x01, 0x12, 0x01, 0x67, 0x1a, 0x04, 0x61, 0xed, 0xa0, 0x80];
    const good = [0x0a, 0x09, 0x08, 0x02, 0x12, 0x01, 0x67, 0x1a, 0x02, 0x75, 0x38];
    call.send(new Uint8Array([...bad, ...good]));
    expect(await answers(call, 2)).toEqual({
      1: { code: grpc.status.INVALID_ARGUMENT, message: "key is not valid UTF-8", value: "" },
      2: { code: 0, message: "", value: "v:u8" },
    });
    expect(getterCalls).toBe(before + 1);
    call.cancel();

    const typed = client.getStream();
    typed.send(
      request([
        { id: 3, group: "g", key: "huge" },
        { id: 4, group: "g", key: "k" },
      ]),
    );
    expect(await answers(typed, 2)).toEqual({
      3: {
        code: grpc.status.RESOURCE_EXHAUSTED,
        message: "message size 5017 is larger than configured writeMaxBytes 4096",
        value: "",
      },
      4: { code: 0, message: "", value: "v:k" },
    });
    typed.end();
    expect(await typed.status).toEqual({ code: grpc.status.OK, details: "" });
    await expectStillServing();
  });

  test("the caller's groupcache-read-max-bytes header lowers the limit per key", async () => {
    const call = client.getStream({ metadata: { "groupcache-read-max-bytes": "100" } });
    call.send(
      request([
        { id: 1, group: "g", key: "k" },
        { id: 2, group: "g", key: "huge" },
      ]),
    );
    expect(await answers(call, 2)).toEqual({
      1: { code: 0, message: "", value: "v:k" },
      2: {
        code: grpc.status.RESOURCE_EXHAUSTED,
        message: "message size 5017 is larger than configured writeMaxBytes 100",
        value: "",
      },
    });
    call.end();
    expect((await call.status).code).toBe(grpc.status.OK);
  });

  const getFrame = () => {
    const message = getRequest(utf8("g"), utf8("k"));
    const frame = new Uint8Array(5 + message.byteLength);
    new DataView(frame.buffer).setUint32(1, message.byteLength);
    frame.set(message, 5);
    return frame;
  };

  test("an invalid grpc-timeout gets the status Connect gives a Get for it: INVALID_ARGUMENT, before any key", async () => {
    const before = getterCalls;
    const invalid = {
      code: String(grpc.status.INVALID_ARGUMENT),
      message: "protocol error: invalid grpc timeout value: 5x",
    };
    expect(await rawStatus(server.id, "/groupcachepb.GroupCache/Get", { "grpc-timeout": "5x" }, getFrame())).toEqual(
      invalid,
    );
    expect(await rawStatus(server.id, "/groupcachepb.GroupCache/GetStream", { "grpc-timeout": "5x" })).toEqual(invalid);
    expect(getterCalls).toBe(before);
    await expectStillServing();
  });

  test("a grpc-timeout that runs out ends the stream with DEADLINE_EXCEEDED", async () => {
    expect(await rawStatus(server.id, "/groupcachepb.GroupCache/GetStream", { "grpc-timeout": "30m" })).toEqual({
      code: String(grpc.status.DEADLINE_EXCEEDED),
      message: "the stream's grpc-timeout of 30 ms ran out",
    });
    await expectStillServing();
  });

  test("a compressed stream is refused as a compressed Get is: UNIMPLEMENTED, with Connect's message", async () => {
    const gzip = { "grpc-encoding": "gzip" };
    const get = await rawStatus(server.id, "/groupcachepb.GroupCache/Get", gzip, getFrame());
    expect(get).toEqual({
      code: String(grpc.status.UNIMPLEMENTED),
      message: 'unknown compression "gzip": supported encodings are ',
    });
    expect(await rawStatus(server.id, "/groupcachepb.GroupCache/GetStream", gzip)).toEqual(get);
  });

  test("a compressed stream is UNIMPLEMENTED", async () => {
    const gzip = grpcJsClient(server.id, { "grpc.default_compression_algorithm": 2 });
    try {
      const call = gzip.getStream();
      call.send(request([{ id: 1, group: "g", key: "k" }]));
      expect(await call.status).toMatchObject({
        code: grpc.status.UNIMPLEMENTED,
        details: expect.stringContaining('unknown compression "gzip"'),
      });
    } finally {
      gzip.close();
    }
    await expectStillServing();
  });
});

describe("options", () => {
  /** `options` behind a proxy that counts how often each one is read. */
  function counted<T extends object>(options: T): { options: T; reads: Record<string, number> } {
    const reads: Record<string, number> = {};
    const proxy = new Proxy(options, {
      get(target, name, receiver) {
        if (typeof name === "string") reads[name] = (reads[name] ?? 0) + 1;
        return Reflect.get(target, name, receiver);
      },
    });
    return { options: proxy, reads };
  }

  test("each entry point reads and checks every option once", async () => {
    const handler = counted({ readMaxBytes: 2048, writeMaxBytes: 4096, interceptors: [] });
    peerRequestHandler(cache, handler.options);
    const routeReads = {
      readMaxBytes: 1,
      writeMaxBytes: 1,
      interceptors: 1,
      acceptCompression: 1,
      shutdownSignal: 1,
      maxKeysPerMessage: 1,
      maxStreamKeysInFlight: 1,
      maxConnectionKeysInFlight: 1,
      messageTimeoutMs: 1,
      writes: 1,
    };
    expect(handler.reads).toEqual(routeReads);

    const serverOptions = counted({ host: "127.0.0.1", readMaxBytes: 2048, closeTimeoutMs: 0 });
    const started = await startPeerServer(cache, serverOptions.options);
    await started.close();
    expect(serverOptions.reads).toEqual({
      readMaxBytes: 1,
      host: 1,
      port: 1,
      tls: 1,
      closeTimeoutMs: 1,
      maxConcurrentStreams: 1,
      maxOpenStreams: 1,
      maxSessionMemory: 1,
      maxHeaderListBytes: 1,
      maxHeaderListPairs: 1,
      handshakeTimeoutMs: 1,
      idleTimeoutMs: 1,
    });

    const client = counted({ timeoutMs: 1000, streamIdleMs: 10 });
    grpcPeerClient(client.options);
    expect(client.reads).toEqual({
      tls: 1,
      timeoutMs: 1,
      readMaxBytes: 1,
      writeMaxBytes: 1,
      acceptCompression: 1,
      sendCompression: 1,
      session: 1,
      interceptors: 1,
      stream: 1,
      streamIdleMs: 1,
      pingAfterMs: 1,
      pingTimeoutMs: 1,
      token: 1,
    });
  });

  test("a bad option fails at once, naming the entry point, the option and the value", async () => {
    expect(() => grpcPeerClient({ interceptors: {} as never })).toThrow(
      "grpcPeerClient: interceptors must be an array, got Object",
    );
    expect(() => groupCacheRoutes(cache, { shutdownSignal: "now" as never })).toThrow(
      'groupCacheRoutes: shutdownSignal must be an AbortSignal, got "now"',
    );
    expect(() => peerRequestHandler({} as PeerServable)).toThrow(
      "peerRequestHandler: cache must be an object with a serve method (a GroupCache), got Object",
    );
    await expect(startPeerServer(cache, { port: 70_000 })).rejects.toThrow(
      "startPeerServer: port must be an integer from 0 to 65535, got 70000",
    );
    await expect(startPeerServer(cache, { writeMaxBytes: 0 })).rejects.toMatchObject({
      code: "invalid-argument",
      message: "startPeerServer: writeMaxBytes must be an integer from 1 to 4294967295, got 0",
    });
  });
});
