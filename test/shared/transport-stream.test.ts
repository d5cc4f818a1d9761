import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, test } from "vitest";
import { GetStreamRequestSchema, GetStreamResponseSchema } from "../../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCache, GroupCacheError, NotFoundError, type PeerClient } from "../../src/index.ts";
import { GrpcFrameReader } from "../../src/transport/grpc/grpc-frame-reader.ts";
import { groupCacheRoutes, grpcPeerClient, type PeerServable, startPeerServer } from "../../src/transport/index.ts";
import { deferred, keysOwnedBy, startInProcessPeer, text } from "../support/in-process-peer.ts";

// GetStream, the default path of grpcPeerClient: many keys on one HTTP/2
// stream per peer, each answered with its own status.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const getStreamPath = "/groupcachepb.GroupCache/GetStream";
const getPath = "/groupcachepb.GroupCache/Get";
const signal = () => new AbortController().signal;

/** Counts the HTTP/2 streams a server receives, per path, and resolves when each closes. */
function watchStreams(server: http2.Http2Server | http2.Http2SecureServer) {
  const paths: string[] = [];
  const closed: Promise<void>[] = [];
  server.on("stream", (stream, headers) => {
    paths.push(String(headers[":path"]));
    closed.push(new Promise((resolve) => stream.once("close", () => resolve())));
  });
  return {
    count: (path: string) => paths.filter((p) => p === path).length,
    closed: (index: number) => closed[index] as Promise<void>,
  };
}

/** An owner whose getter answers per key: `missing*` not found, `boom` fails, `gate*` waits for `release(key)`. */
async function owner() {
  const peer = await startInProcessPeer();
  cleanups.push(() => peer.close());
  const gates = new Map<string, ReturnType<typeof deferred<string>>>();
  const entered = new Map<string, ReturnType<typeof deferred<void>>>();
  const gate = (key: string) => {
    if (!gates.has(key)) {
      gates.set(key, deferred<string>());
      entered.set(key, deferred<void>());
    }
    return {
      value: gates.get(key) as ReturnType<typeof deferred<string>>,
      entered: entered.get(key) as ReturnType<typeof deferred<void>>,
    };
  };
  const calls: string[] = [];
  peer.cache.newGroup({
    name: "g",
    getter: (key) => {
      calls.push(key);
      if (key.startsWith("missing")) throw new NotFoundError(`no row ${key}`);
      if (key === "boom") throw new Error("database down");
      if (key.startsWith("gate")) {
        const g = gate(key);
        g.entered.resolve();
        return g.value.promise;
      }
      if (key.startsWith("big")) return "x".repeat(2000);
      return `v:${key}`;
    },
  });
  const streams = watchStreams(peer.server.server);
  return {
    peer,
    calls,
    streams,
    entered: (key: string) => gate(key).entered.promise,
    release: (key: string, value: string) => gate(key).value.resolve(value),
  };
}

function client(id: string, options: Parameters<typeof grpcPeerClient>[0] = {}): PeerClient {
  const c = grpcPeerClient(options)(id);
  cleanups.push(() => c.close());
  return c;
}

describe("one GetStream per peer", () => {
  test("keys asked for together share one stream; each key gets its own outcome (a partly failing batch fails only its keys)", async () => {
    const { peer, streams } = await owner();
    const c = client(peer.id);
    const outcomes = await Promise.allSettled([
      c.get("g", "k1", { signal: signal() }),
      c.get("g", "missing-1", { signal: signal() }),
      c.get("nope", "k2", { signal: signal() }),
      c.get("g", "boom", { signal: signal() }),
      c.get("g", "k3", { signal: signal() }),
    ]);
    const [ok1, missing, unknownGroup, failed, ok3] = outcomes;
    expect(ok1.status === "fulfilled" && text(ok1.value.value)).toBe("v:k1");
    expect(ok3.status === "fulfilled" && text(ok3.value.value)).toBe("v:k3");
    expect(missing.status === "rejected" && missing.reason).toBeInstanceOf(NotFoundError);
    expect(missing.status === "rejected" && missing.reason.message).toBe(`peer ${peer.id}: no row missing-1`);
    expect(unknownGroup.status === "rejected" && unknownGroup.reason).toMatchObject({
      code: "unknown-group",
      message: `peer ${peer.id}: no group named "nope" on peer "${peer.id}"`,
    });
    expect(failed.status === "rejected" && failed.reason).toMatchObject({
      code: "load-failed",
      message: `peer ${peer.id}: group "g": getter failed for key "boom": database down`,
    });
    expect(streams.count(getStreamPath)).toBe(1);
    expect(streams.count(getPath)).toBe(0);
    // And the stream goes on serving.
    expect(text((await c.get("g", "k4", { signal: signal() })).value)).toBe("v:k4");
    expect(streams.count(getStreamPath)).toBe(1);
    expect(peer.served.toSorted()).toEqual(["load-failed", "not-found", "ok", "ok", "ok", "unknown-group"]);
  });

  test("answers come back as each is ready: a slow key does not hold up the fast ones behind it", async () => {
    const o = await owner();
    const c = client(o.peer.id);
    const slow = c.get("g", "gate-slow", { signal: signal() });
    await o.entered("gate-slow");
    const fast = await Promise.all(["a", "b", "c"].map((k) => c.get("g", k, { signal: signal() })));
    expect(fast.map((r) => text(r.value))).toEqual(["v:a", "v:b", "v:c"]);
    o.release("gate-slow", "finally");
    expect(text((await slow).value)).toBe("finally");
    expect(o.streams.count(getStreamPath)).toBe(1);
  });

  test("aborting one key's caller cancels it on the owner (which leaves the load); other keys in flight are unaffected", async () => {
    const o = await owner();
    const c = client(o.peer.id);
    const controller = new AbortController();
    const abandoned = c.get("g", "gate-1", { signal: controller.signal });
    const kept = c.get("g", "gate-2", { signal: signal() });
    await Promise.all([o.entered("gate-1"), o.entered("gate-2")]);
    controller.abort();
    await expect(abandoned).rejects.toMatchObject({ code: "canceled" });
    // The cancel crossed the wire: the owner released that key's request.
    expect(await o.peer.waitServed(1)).toEqual(["canceled"]);
    o.release("gate-2", "second");
    o.release("gate-1", "first");
    expect(text((await kept).value)).toBe("second");
    expect(o.peer.served).toEqual(["canceled", "ok"]);
    expect(o.calls.toSorted()).toEqual(["gate-1", "gate-2"]);
    expect(o.streams.count(getStreamPath)).toBe(1);
  });

  test("a stream broken mid-flight fails only its keys (the core loads them itself); the next key opens a new stream", async () => {
    const a = await startInProcessPeer();
    const o = await owner();
    cleanups.push(() => a.close());
    for (const p of [a, o.peer]) p.cache.setPeers([a.id, o.peer.id]);
    let local = 0;
    const group = a.cache.newGroup({ name: "g", getter: (k) => `local ${++local} ${k}`, hotPolicy: () => false });
    const sessions = new Set<http2.ServerHttp2Session>();
    o.peer.server.server.on("session", (s) => sessions.add(s));
    const [gated] = keysOwnedBy(a.cache, o.peer.id, 1, "gate");
    const [later] = keysOwnedBy(a.cache, o.peer.id, 1, "later");
    if (gated === undefined || later === undefined) throw new Error("no keys");

    const pending = group.get(gated);
    await o.entered(gated);
    for (const s of sessions) s.destroy(); // the connection drops under the stream
    expect(text(await pending)).toBe(`local 1 ${gated}`);
    expect(group.stats).toMatchObject({ peerErrors: 1, localLoads: 1, peerLoads: 0 });

    expect(text(await group.get(later))).toBe(`v:${later}`);
    expect(group.stats).toMatchObject({ peerErrors: 1, localLoads: 1, peerLoads: 1 });
    expect(o.streams.count(getStreamPath)).toBe(2);
    o.release(gated, "late");
  });

  test("a stream with nothing in flight for streamIdleMs is closed; the next key opens a new one", async () => {
    const o = await owner();
    const c = client(o.peer.id, { streamIdleMs: 20 });
    expect(text((await c.get("g", "k1", { signal: signal() })).value)).toBe("v:k1");
    await o.streams.closed(0); // closed by the client, after 20 ms of quiet
    expect(text((await c.get("g", "k2", { signal: signal() })).value)).toBe("v:k2");
    expect(o.streams.count(getStreamPath)).toBe(2);
  });

  test("an answer over the client's readMaxBytes fails that key alone with resource-exhausted", async () => {
    const o = await owner();
    const c = client(o.peer.id, { readMaxBytes: 1000 });
    const [small, big] = await Promise.allSettled([
      c.get("g", "small", { signal: signal() }),
      c.get("g", "big-1", { signal: signal() }),
    ]);
    expect(small.status === "fulfilled" && text(small.value.value)).toBe("v:small");
    expect(big.status === "rejected" && big.reason).toMatchObject({ code: "resource-exhausted" });
    expect(text((await c.get("g", "after", { signal: signal() })).value)).toBe("v:after");
    expect(o.streams.count(getStreamPath)).toBe(1);
  });

  test("large values come back byte for byte under concurrency, with no more than twice their size kept alive", async () => {
    const peer = await startInProcessPeer();
    cleanups.push(() => peer.close());
    // Every key's bytes differ, so a frame buffer reused too early, or a value
    // read from the wrong place, shows up as a wrong byte.
    const blob = (key: string) => {
      const seed = Number(key.slice(5));
      return Uint8Array.from({ length: 12_000 + seed }, (_, i) => (i * 31 + seed * 7) & 0xff);
    };
    peer.cache.newGroup({ name: "blobs", getter: (key) => blob(key) });
    const c = client(peer.id);
    const keys = Array.from({ length: 120 }, (_, i) => `blob-${i}`);
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(keys.map((k) => c.get("blobs", k, { signal: signal() })));
      for (const [i, result] of results.entries()) {
        const want = blob(keys[i] as string);
        expect(result.value.byteLength).toBe(want.byteLength);
        expect(Buffer.compare(result.value, want)).toBe(0);
        expect(result.value.buffer.byteLength).toBeLessThanOrEqual(2 * want.byteLength);
      }
    }
  });

  test("a server whose cache offers serveCached answers hits from it and everything else through serve", async () => {
    const calls: string[] = [];
    const server = await startPeerServer(
      {
        serve: async (group, key) => {
          calls.push(`serve ${group}/${key}`);
          if (key === "hit") throw new Error("a hit must not reach serve");
          return { value: new TextEncoder().encode(`loaded:${key}`), minuteQps: 0 };
        },
        serveCached: (group, key) => {
          calls.push(`cached ${group}/${key}`);
          return key === "hit" ? { value: new TextEncoder().encode("from cache"), minuteQps: 7 } : undefined;
        },
      },
      { host: "127.0.0.1", closeTimeoutMs: 0 },
    );
    cleanups.push(() => server.close());
    const c = client(server.id);
    const [hit, miss] = await Promise.all([
      c.get("g", "hit", { signal: signal() }),
      c.get("g", "miss", { signal: signal() }),
    ]);
    expect(text(hit.value)).toBe("from cache");
    expect(hit.minuteQps).toBe(7);
    expect(text(miss.value)).toBe("loaded:miss");
    expect(calls).toEqual(["cached g/hit", "cached g/miss", "serve g/miss"]);
  });

  test("a caller that asks without reading makes the owner stop serving its keys until it reads; then every key is answered", async () => {
    const valueBytes = 64 << 10;
    const blobOf = (key: string) => new Uint8Array(valueBytes).fill(Number(key.slice(2)) & 0xff);
    let served = 0;
    const firstServed = deferred<void>();
    const server = await startPeerServer(
      {
        serve: () => Promise.reject(new Error("every key is cached")),
        serveCached: (_group, key) => {
          served++;
          firstServed.resolve();
          return { value: blobOf(key), minuteQps: 0 };
        },
      },
      { host: "127.0.0.1", closeTimeoutMs: 0 },
    );
    cleanups.push(() => server.close());
    const session = http2.connect(`http://${server.id}`);
    cleanups.push(() => void session.destroy());
    const stream = session.request({
      ":method": "POST",
      ":path": getStreamPath,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.pause(); // not reading: HTTP/2 flow control stops the owner's writes
    // 200 keys of 64 KiB in one message: 12.5 MiB of answers for one small request.
    const keys = Array.from({ length: 200 }, (_, i) => `k-${i}`);
    const message = toBinary(
      GetStreamRequestSchema,
      create(GetStreamRequestSchema, { gets: keys.map((key, i) => ({ id: i + 1, group: "g", key })) }),
    );
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.byteLength, 1);
    stream.write(Buffer.concat([prefix, message]));
    await firstServed.promise;
    // The whole message was decoded in the task that served the first key;
    // one more turn of the event loop lets anything else it scheduled run.
    await new Promise((resolve) => setImmediate(resolve));
    // A handful of answers (what the transport buffers before it reports
    // back-pressure), not one per key asked for.
    expect(served).toBeLessThanOrEqual(10);

    const answers = new Map<number, Uint8Array>();
    const reader = new GrpcFrameReader(8 << 20);
    const allAnswered = deferred<void>();
    stream.on("data", (chunk: Buffer) =>
      reader.push(chunk, (buf, start, end) => {
        for (const r of fromBinary(GetStreamResponseSchema, buf.subarray(start, end)).results) {
          expect(r.code).toBe(0);
          answers.set(r.id, r.value);
        }
        if (answers.size === keys.length) allAnswered.resolve();
      }),
    );
    stream.resume();
    await allAnswered.promise;
    expect(served).toBe(keys.length);
    for (const [i, key] of keys.entries()) {
      expect(Buffer.compare(answers.get(i + 1) as Uint8Array, blobOf(key))).toBe(0);
    }
    stream.end();
  });

  test("stream: false sends one unary Get per key", async () => {
    const o = await owner();
    const c = client(o.peer.id, { stream: false });
    const values = await Promise.all(["a", "b"].map((k) => c.get("g", k, { signal: signal() })));
    expect(values.map((v) => text(v.value))).toEqual(["v:a", "v:b"]);
    expect(o.streams.count(getPath)).toBe(2);
    expect(o.streams.count(getStreamPath)).toBe(0);
  });

  test("bad options fail at creation, naming the value", () => {
    expect(() => grpcPeerClient({ stream: "yes" as unknown as boolean })).toThrow(
      'grpcPeerClient: stream must be true or false, got "yes"',
    );
    expect(() => grpcPeerClient({ streamIdleMs: -5 })).toThrow(
      "grpcPeerClient: streamIdleMs must be a finite number >= 0, got -5",
    );
  });
});

describe("peers without GetStream", () => {
  /** A value per key with every byte value in it, so a value that arrives changed or truncated shows. */
  const bytesOf = (key: string) =>
    Uint8Array.from({ length: 300 + key.length }, (_, i) => (i * 7 + key.charCodeAt(0)) & 0xff);
  const expectBytes = (result: { value: Uint8Array }, key: string) =>
    expect(Buffer.compare(result.value, bytesOf(key))).toBe(0);

  /**
   * `groupCacheRoutes` mounted through Connect on the application's own
   * server: GetStream is answered UNIMPLEMENTED there. With `notFound`, the
   * HTTP server answers GetStream's path with a 404 and a Connect-protocol
   * error body instead (as a proxy, or a server of only the Connect protocol).
   */
  async function connectMountedServer(notFound = false) {
    const cache = new GroupCache({ self: "old:1" });
    cleanups.push(() => cache.close());
    cache.newGroup({ name: "g", getter: (k) => bytesOf(k) });
    const adapter = connectNodeAdapter({ routes: groupCacheRoutes(cache) });
    const server = http2.createServer((request, response) => {
      if (notFound && request.url === getStreamPath) {
        response.writeHead(404, { "content-type": "application/json" });
        response.end(JSON.stringify({ code: "unimplemented", message: "no such method" }));
        return;
      }
      adapter(request, response);
    });
    const streams = watchStreams(server);
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on("session", (s) => sessions.add(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sessions) s.destroy();
        }),
    );
    return { id: `127.0.0.1:${(server.address() as AddressInfo).port}`, streams };
  }

  test("Connect-mounted routes answer GetStream UNIMPLEMENTED: the keys in flight arrive byte for byte by Get, and so does every key after (GetStream is tried once)", async () => {
    const old = await connectMountedServer();
    const c = client(old.id);
    const first = await Promise.all(["a", "b", "c"].map((k) => c.get("g", k, { signal: signal() })));
    for (const [i, k] of ["a", "b", "c"].entries()) expectBytes(first[i] as { value: Uint8Array }, k);
    const second = await Promise.all(["d", "e"].map((k) => c.get("g", k, { signal: signal() })));
    for (const [i, k] of ["d", "e"].entries()) expectBytes(second[i] as { value: Uint8Array }, k);
    expect(old.streams.count(getStreamPath)).toBe(1);
    expect(old.streams.count(getPath)).toBe(5);
  });

  test("an HTTP 404 for GetStream, with a Connect-protocol error body, counts as UNIMPLEMENTED (the gRPC mapping of HTTP statuses)", async () => {
    const old = await connectMountedServer(true);
    const c = client(old.id);
    const values = await Promise.all(["a", "b"].map((k) => c.get("g", k, { signal: signal() })));
    expectBytes(values[0] as { value: Uint8Array }, "a");
    expectBytes(values[1] as { value: Uint8Array }, "b");
    expectBytes(await c.get("g", "c", { signal: signal() }), "c");
    expect(old.streams.count(getStreamPath)).toBe(1);
    expect(old.streams.count(getPath)).toBe(3);
  });

  test("a caller's abort still works after the fallback", async () => {
    const old = await connectMountedServer();
    const c = client(old.id);
    await c.get("g", "a", { signal: signal() });
    const controller = new AbortController();
    controller.abort();
    await expect(c.get("g", "b", { signal: controller.signal })).rejects.toMatchObject({ code: "canceled" });
  });
});

describe("interceptors", () => {
  test("a server with interceptors answers GetStream UNIMPLEMENTED; the keys arrive byte for byte by Get, which the interceptors see", async () => {
    const seen: string[] = [];
    const interceptor: Interceptor = (next) => async (request) => {
      seen.push(request.url.slice(request.url.lastIndexOf("/") + 1));
      return next(request);
    };
    const blob = (key: string) => Uint8Array.from({ length: 70_000 }, (_, i) => (i + key.length * 13) & 0xff);
    let cache: GroupCache | undefined;
    const servable: PeerServable = {
      serve: (g, k, o) => (cache as GroupCache).serve(g, k, o),
    };
    const server = await startPeerServer(servable, { interceptors: [interceptor], closeTimeoutMs: 0 });
    cleanups.push(() => server.close());
    cache = new GroupCache({ self: server.id });
    cache.newGroup({
      name: "g",
      getter: (k) => {
        if (k === "missing") throw new NotFoundError("gone");
        return blob(k);
      },
    });
    const streams = watchStreams(server.server);
    const c = client(server.id, { stream: true });
    const [ok, missing] = await Promise.allSettled([
      c.get("g", "key", { signal: signal() }),
      c.get("g", "missing", { signal: signal() }),
    ]);
    expect(ok.status === "fulfilled" && Buffer.compare(ok.value.value, blob("key"))).toBe(0);
    expect(missing.status === "rejected" && missing.reason).toBeInstanceOf(NotFoundError);
    expect(Buffer.compare((await c.get("g", "k2", { signal: signal() })).value, blob("k2"))).toBe(0);
    expect(seen.toSorted()).toEqual(["Get", "Get", "Get", "GetStream"]);
    expect(streams.count(getStreamPath)).toBe(1);
    expect(streams.count(getPath)).toBe(3);

    // A client with interceptors sends unary Gets by default, so they run on every key.
    const mine: string[] = [];
    const c2 = client(server.id, {
      interceptors: [
        (next) => async (request) => {
          mine.push(request.url.slice(request.url.lastIndexOf("/") + 1));
          return next(request);
        },
      ],
    });
    expect(Buffer.compare((await c2.get("g", "k3", { signal: signal() })).value, blob("k3"))).toBe(0);
    expect(mine).toEqual(["Get"]);
    expect(streams.count(getStreamPath)).toBe(1);
  });
});

describe("closing", () => {
  test("a closed client fails keys in flight and later keys with unavailable", async () => {
    const o = await owner();
    const c = grpcPeerClient()(o.peer.id);
    const pending = c.get("g", "gate-x", { signal: signal() });
    await o.entered("gate-x");
    await c.close();
    await expect(pending).rejects.toMatchObject({
      code: "unavailable",
      message: `peer ${o.peer.id}: client is closed`,
    });
    await expect(c.get("g", "k", { signal: signal() })).rejects.toBeInstanceOf(GroupCacheError);
    o.release("gate-x", "late");
  });
});
