import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GetResponseSchema } from "../../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCache, GroupCacheError, ManualClock, NotFoundError } from "../../src/index.ts";
import { type PeerServable, type PeerServer, startPeerServer } from "../../src/transport/index.ts";
import { frame, getPath, getRequest } from "../support/attacks.ts";

// The unary Get has two servers: the hand-written handler (the default)
// and Connect's (with interceptors, or compression). Callers must not be
// able to tell them apart: every request below, valid or not, gets the
// same status, message, trailers and value from both. Real HTTP/2 servers,
// a raw HTTP/2 client that fixes nothing up.

let cache: GroupCache;
let fast: PeerServer;
let connect: PeerServer;
let getterCalls = 0;
const clock = new ManualClock(1_000);

beforeAll(async () => {
  cache = new GroupCache({ self: "self:1" });
  cache.newGroup({
    name: "g",
    getter: (key) => {
      getterCalls++;
      if (key === "huge") return "x".repeat(5000);
      if (key === "fails") throw new Error("backend down");
      if (key === "missing") throw new NotFoundError("no such row");
      return `v:${key}`;
    },
  });
  cache.newGroup({
    name: "ttl",
    ttlMs: 60_000,
    staleMs: 5_000,
    notFoundTtlMs: 30_000,
    ttlJitter: 0,
    clock,
    getter: (key) => {
      getterCalls++;
      if (key === "missing") throw new NotFoundError("no such row");
      return `t:${key}`;
    },
  });
  const options = { readMaxBytes: 1024, writeMaxBytes: 4096, closeTimeoutMs: 0 };
  fast = await startPeerServer(cache, options);
  connect = await startPeerServer(cache, { ...options, interceptors: [(next) => next] });
});
afterAll(async () => {
  await Promise.all(
    [...sessions.values()].map((session) => new Promise<void>((resolve) => session.close(() => resolve()))),
  );
  await fast?.close();
  await connect?.close();
  await cache?.close();
});

interface Answer {
  contentType: unknown;
  trailers: Record<string, unknown>;
  value?: string;
  ttlMs?: number;
  staleMs?: number;
  /** Whether the answer carried the key's request rate (its figure depends on timing). */
  minuteQps?: boolean;
  rstCode: number;
}

/**
 * One connection per server for the whole file, closed once every call is
 * over: opening and closing one per call made Deno's bundled nghttp2 abort
 * the process once (an assertion in its GOAWAY handling) in a loaded CI run.
 */
const sessions = new Map<PeerServer, http2.ClientHttp2Session>();
function sessionTo(server: PeerServer): http2.ClientHttp2Session {
  let session = sessions.get(server);
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(`http://${server.id}`);
    session.on("error", () => {});
    sessions.set(server, session);
  }
  return session;
}

/** One raw call of Get on `server`: `chunks` written in order, then the request ends. */
function rawGet(server: PeerServer, chunks: readonly Uint8Array[], headers: http2.OutgoingHttpHeaders = {}) {
  const stream = sessionTo(server).request({
    ":method": "POST",
    ":path": getPath,
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
  const data: Buffer[] = [];
  let contentType: unknown;
  let trailers: Record<string, unknown> = {};
  stream.on("response", (h) => {
    contentType = h["content-type"];
  });
  stream.on("trailers", (t) => {
    trailers = Object.fromEntries(Object.entries(t).filter(([name]) => !name.startsWith(":")));
  });
  stream.on("data", (chunk: Buffer) => data.push(chunk));
  stream.on("error", () => {});
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return new Promise<Answer>((resolve) =>
    stream.once("close", () => {
      const answer: Answer = { contentType, trailers, rstCode: stream.rstCode ?? 0 };
      const body = Buffer.concat(data);
      if (body.byteLength > 0) {
        const message = fromBinary(GetResponseSchema, body.subarray(5));
        answer.value = Buffer.from(message.value).toString("utf8");
        answer.ttlMs = message.ttlMs;
        answer.staleMs = message.staleMs;
        answer.minuteQps = message.minuteQps > 0;
      }
      resolve(answer);
    }),
  );
}

const get = (group: string, key: string) => frame(getRequest(group, key));
const flagged = (flags: number, body: Buffer) => {
  const framed = frame(body);
  framed[0] = flags;
  return framed;
};

const cases: [string, Uint8Array[], http2.OutgoingHttpHeaders?][] = [
  ["a value", [get("g", "k")]],
  ["a value split across chunks, a byte at a time", [...get("g", "split")].map((b) => Uint8Array.of(b))],
  ["a value with a TTL", [get("ttl", "k")]],
  ["a not-found the owner caches", [get("ttl", "missing")]],
  ["a not-found", [get("g", "missing")]],
  ["a getter that fails", [get("g", "fails")]],
  ["an unknown group", [get("nope", "k")]],
  ["an empty key", [get("g", "")]],
  ["a key that is not UTF-8", [frame(getRequest(Buffer.from("g"), Buffer.from([0x61, 0xed, 0xa0, 0x80])))]],
  ["a request over readMaxBytes", [get("g", "k".repeat(2000))]],
  ["a value over writeMaxBytes", [get("g", "huge")]],
  ["a truncated frame", [get("g", "k").subarray(0, 8)]],
  ["a prefix without its message", [frame(Buffer.alloc(0), 10)]],
  ["a truncated GetRequest", [frame(getRequest("g", "k").subarray(0, 4))]],
  ["a compressed message without an encoding", [flagged(1, getRequest("g", "k"))]],
  ["other flag bits (ignored)", [flagged(0x80, getRequest("g", "flags"))]],
  ["two messages", [get("g", "a"), get("g", "b")]],
  ["no message", []],
  ["an empty message", [frame(Buffer.alloc(0))]],
  ["an invalid grpc-timeout", [get("g", "k")], { "grpc-timeout": "5x" }],
  ["a long grpc-timeout", [get("g", "timeout")], { "grpc-timeout": "10S" }],
  ["application/grpc+proto", [get("g", "proto")], { "content-type": "application/grpc+proto" }],
  ["grpc-encoding identity", [get("g", "identity")], { "grpc-encoding": "identity" }],
];

test.each(cases)("%s: the same answer from both servers", async (_name, chunks, headers) => {
  // Once first, so that both answers come from the same state (a first
  // not-found is the getter's, a second one the cached not-found).
  await rawGet(connect, chunks, headers);
  const fromFast = await rawGet(fast, chunks, headers);
  const fromConnect = await rawGet(connect, chunks, headers);
  expect(fromFast).toEqual(fromConnect);
  expect(fromFast.contentType).toBe("application/grpc+proto");
});

test("the answers themselves: values, TTLs, statuses", async () => {
  const status = async (chunks: Uint8Array[]) => {
    const { trailers, value, ttlMs, staleMs } = await rawGet(fast, chunks);
    return { code: trailers["grpc-status"], message: trailers["grpc-message"], value, ttlMs, staleMs };
  };
  expect(await status([get("g", "k")])).toMatchObject({ code: "0", value: "v:k" });
  expect(await status([get("ttl", "k")])).toMatchObject({ code: "0", value: "t:k", ttlMs: 60_000, staleMs: 5_000 });
  expect(await rawGet(fast, [get("ttl", "missing")])).toMatchObject({
    trailers: { "grpc-status": "5", "groupcache-not-found": "getter", "groupcache-not-found-ttl-ms": "30000" },
  });
  expect(await status([get("g", "k"), get("g", "k")])).toMatchObject({
    code: "12",
    message: "protocol%20error%3A%20received%20extra%20input%20message%20for%20unary%20method",
  });
  expect(await status([frame(getRequest("g", "k").subarray(0, 4))])).toMatchObject({
    code: "13",
    message: "parse%20binary%3A%20premature%20EOF",
  });
});

test("a Get refused for bad bytes loads nothing", async () => {
  const before = getterCalls;
  for (const chunks of [
    [flagged(1, getRequest("g", "c1"))],
    [get("g", "c2"), get("g", "c3")],
    [get("g", "c4").subarray(0, 9)],
  ]) {
    await rawGet(fast, chunks);
  }
  expect(getterCalls).toBe(before);
});

test("a PeerServable of one's own that throws instead of rejecting: its error is the status, and the server goes on", async () => {
  let calls = 0;
  const throwing: PeerServable = {
    serve(_group, key) {
      calls++;
      if (key === "sync") throw new GroupCacheError("invalid-argument", "thrown, not rejected");
      return Promise.resolve({ value: new TextEncoder().encode(`s:${key}`), minuteQps: 0 });
    },
  };
  const server = await startPeerServer(throwing, { closeTimeoutMs: 0 });
  try {
    expect((await rawGet(server, [get("g", "sync")])).trailers).toEqual({
      "grpc-status": "3",
      "grpc-message": "thrown%2C%20not%20rejected",
    });
    expect(await rawGet(server, [get("g", "k")])).toMatchObject({ value: "s:k", trailers: { "grpc-status": "0" } });
    expect(calls).toBe(2);
  } finally {
    const session = sessions.get(server);
    sessions.delete(server);
    if (session !== undefined) await new Promise<void>((resolve) => session.close(() => resolve()));
    await server.close();
  }
});
