import { readFileSync } from "node:fs";
import { afterEach, describe, expect, test } from "vitest";
import { GroupCacheError, NotFoundError } from "../../src/index.ts";
import { grpcPeerClient, parsePeerId, peerBaseUrl } from "../../src/transport/index.ts";
import { countingGetter, type InProcessPeer, keysOwnedBy, startPeerPair, text } from "../support/in-process-peer.ts";

const open: InProcessPeer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

const pair = (host = "127.0.0.1") => startPeerPair(open, { host });

describe("gRPC transport round trip (two caches, real HTTP/2 on loopback)", () => {
  test("a key owned by the other peer is fetched from it: one getter call, on the owner", async () => {
    const [a, b] = await pair();
    const ga = countingGetter();
    const gb = countingGetter();
    const groupA = a.cache.newGroup({ name: "g", getter: ga.getter, hotPolicy: () => false });
    const groupB = b.cache.newGroup({ name: "g", getter: gb.getter, hotPolicy: () => false });
    const [key] = keysOwnedBy(a.cache, b.id, 1);
    if (key === undefined) throw new Error("no key");

    expect(text(await groupA.get(key))).toBe(`v:${key}`);
    expect(text(await groupA.get(key))).toBe(`v:${key}`);
    expect(ga.total()).toBe(0);
    expect(gb.calls.get(key)).toBe(1);
    expect(groupA.stats).toMatchObject({ gets: 2, peerLoads: 2, peerErrors: 0, localLoads: 0 });
    expect(groupB.stats).toMatchObject({ serverRequests: 2, localLoads: 1, cacheHits: 1 });
    expect(b.served).toEqual(["ok", "ok"]);
  });

  test("the owner reports the key's request rate in minute_qps", async () => {
    const [a, b] = await pair();
    const seen: (number | undefined)[] = [];
    const groupA = a.cache.newGroup({
      name: "g",
      getter: () => "local",
      hotPolicy: ({ minuteQps }) => {
        seen.push(minuteQps);
        return false;
      },
    });
    const groupB = b.cache.newGroup({ name: "g", getter: (k) => `v:${k}` });
    const [key] = keysOwnedBy(a.cache, b.id, 1);
    if (key === undefined) throw new Error("no key");
    await groupB.get(key); // the owner's own gets are not counted
    for (let i = 0; i < 3; i++) await groupA.get(key);
    expect(seen).toEqual([1, 2, 3]);
  });

  test("a remote not-found comes back as NotFoundError and is not loaded locally", async () => {
    const [a, b] = await pair();
    const ga = countingGetter();
    const groupA = a.cache.newGroup({ name: "g", getter: ga.getter });
    b.cache.newGroup({
      name: "g",
      getter: (key) => {
        throw new NotFoundError(`no row ${key}`);
      },
    });
    const [key] = keysOwnedBy(a.cache, b.id, 1);
    if (key === undefined) throw new Error("no key");
    const error = await groupA.get(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as GroupCacheError).message).toBe(`peer ${b.id}: no row ${key}`);
    expect(ga.total()).toBe(0);
    expect(groupA.stats).toMatchObject({ peerErrors: 0, localLoads: 0, localLoadErrs: 0 });
  });

  test("values up to 8 MiB cross intact, keeping no more than twice their size alive", async () => {
    const [a, b] = await pair();
    const big = new Uint8Array(8 << 20).map((_, i) => i % 251);
    a.cache.newGroup({ name: "g", getter: () => "local" });
    b.cache.newGroup({ name: "g", getter: () => big });
    const [key] = keysOwnedBy(a.cache, b.id, 1);
    if (key === undefined) throw new Error("no key");
    const client = grpcPeerClient()(b.id);
    try {
      const { value } = await client.get("g", key, { signal: new AbortController().signal });
      expect(value.byteLength).toBe(8 << 20);
      // The message it came in was assembled in a buffer of its own: the value
      // is most of it and stays a view, rather than a second 8 MiB copy.
      expect(value.buffer.byteLength).toBeLessThanOrEqual(2 * (8 << 20));
      expect(Buffer.from(value).equals(Buffer.from(big))).toBe(true);
    } finally {
      await client.close();
    }
  });

  test("IPv6 loopback peers ([::1]:port) work the same", async () => {
    const [a, b] = await pair("::1");
    expect(a.id).toMatch(/^\[::1\]:\d+$/);
    const gb = countingGetter();
    const groupA = a.cache.newGroup({ name: "g", getter: () => "local" });
    b.cache.newGroup({ name: "g", getter: gb.getter });
    const [key] = keysOwnedBy(a.cache, b.id, 1);
    if (key === undefined) throw new Error("no key");
    expect(text(await groupA.get(key))).toBe(`v:${key}`);
    expect(gb.total()).toBe(1);
  });

  test("the client refuses a lone-surrogate key before sending anything", async () => {
    const [, b] = await pair();
    b.cache.newGroup({ name: "g", getter: (k) => `v:${k}` });
    const client = grpcPeerClient()(b.id);
    try {
      await expect(client.get("g", "a\uD800b", { signal: new AbortController().signal })).rejects.toMatchObject({
        code: "invalid-argument",
      });
      expect(b.served).toEqual([]);
    } finally {
      await client.close();
    }
  });

  test("a closed client fails with unavailable; a dead port fails with unavailable", async () => {
    const [, b] = await pair();
    b.cache.newGroup({ name: "g", getter: (k) => `v:${k}` });
    const client = grpcPeerClient()(b.id);
    const signal = new AbortController().signal;
    expect(text((await client.get("g", "k", { signal })).value)).toBe("v:k");
    await client.close();
    await expect(client.get("g", "k", { signal })).rejects.toMatchObject({ code: "unavailable" });
    const port = b.server.port;
    await b.close();
    const dead = grpcPeerClient()(`127.0.0.1:${port}`);
    try {
      await expect(dead.get("g", "k", { signal })).rejects.toMatchObject({ code: "unavailable" });
    } finally {
      await dead.close();
    }
  });
});

describe("TLS and limits", () => {
  const fixtures = new URL("../fixtures/tls/", import.meta.url);
  const cert = readFileSync(new URL("cert.pem", fixtures));
  const key = readFileSync(new URL("key.pem", fixtures));

  test("peers over TLS (HTTP/2 with a certificate the clients trust)", async () => {
    const [a, b] = await startPeerPair(open, { server: { tls: { cert, key } }, client: { tls: { ca: cert } } });
    const gb = countingGetter();
    const groupA = a.cache.newGroup({ name: "g", getter: () => "local" });
    b.cache.newGroup({ name: "g", getter: gb.getter });
    const [k] = keysOwnedBy(a.cache, b.id, 1);
    if (k === undefined) throw new Error("no key");
    expect(text(await groupA.get(k))).toBe(`v:${k}`);
    expect(groupA.stats).toMatchObject({ peerLoads: 1, peerErrors: 0 });
    // A cleartext client cannot talk to a TLS peer: a peer error, not a hang.
    const plain = grpcPeerClient({ timeoutMs: 2_000 })(b.id);
    try {
      await expect(plain.get("g", k, { signal: new AbortController().signal })).rejects.toBeInstanceOf(GroupCacheError);
    } finally {
      await plain.close();
    }
  });

  test("a response over the client's readMaxBytes is a peer error: the key is loaded locally", async () => {
    const [a, b] = await startPeerPair(open, { client: { readMaxBytes: 1000 } }, {});
    const groupA = a.cache.newGroup({ name: "g", getter: () => "small" });
    b.cache.newGroup({ name: "g", getter: () => "x".repeat(2000) });
    const [k] = keysOwnedBy(a.cache, b.id, 1);
    if (k === undefined) throw new Error("no key");
    expect(text(await groupA.get(k))).toBe("small");
    expect(groupA.stats).toMatchObject({ peerLoads: 0, peerErrors: 1, localLoads: 1 });
  });
});

describe("peer ids", () => {
  test("host:port and [ipv6]:port parse; anything else is invalid-argument naming the id", () => {
    expect(parsePeerId("10.0.0.7:8080")).toEqual({ host: "10.0.0.7", port: 8080 });
    expect(parsePeerId("[::1]:9")).toEqual({ host: "::1", port: 9 });
    expect(peerBaseUrl("[::1]:9", true)).toBe("https://[::1]:9");
    for (const bad of ["", "host", ":80", "::1:80", "[::1:80", "h:0", "h:65536", "h:8a", "a b:1"]) {
      expect(() => parsePeerId(bad)).toThrow(GroupCacheError);
      expect(() => parsePeerId(bad)).toThrow(JSON.stringify(bad));
    }
  });

  test("bad client options fail at creation, naming the value", () => {
    expect(() => grpcPeerClient({ timeoutMs: -1 })).toThrow(
      "grpcPeerClient: timeoutMs must be a finite number >= 0, got -1",
    );
    expect(() => grpcPeerClient({ readMaxBytes: 0 })).toThrow(
      "grpcPeerClient: readMaxBytes must be an integer from 1 to 4294967295, got 0",
    );
  });
});
