import { create } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { GetResponseSchema } from "../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCache, NotFoundError, stringCodec } from "../src/index.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import { expectedValue } from "../src/testing/protocol.ts";
import { grpcPeerClient } from "../src/transport/index.ts";
import { startGrpcJsServer } from "./support/grpc-js-service.ts";
import { keysOwnedBy } from "./support/in-process-peer.ts";

// Expiry over the real wire, between peer processes: the owner's remaining
// TTL on GetResponse / GetStream / Peek, hot copies that expire no later
// than the owner's, a cached not-found carried to peers, and a mixed ring
// with a peer that sends no TTL (as Go's gRPC fork). Node only.

const ttlMs = 60_000;
let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({
    size: 3,
    config: {
      groups: [{ name: "g", hot: "always", ttlMs, ttlJitter: 0, notFoundTtlMs: ttlMs, missingPrefix: "missing-" }],
    },
  });
});
afterAll(async () => {
  await cluster?.close();
});
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A client of peer `id`, as peers call each other: on GetStream (`stream`), or by unary Get. */
function clientOf(id: string, stream: boolean) {
  const client = grpcPeerClient({ stream })(id);
  cleanups.push(() => client.close());
  return client;
}

for (const stream of [true, false]) {
  test(`${stream ? "GetStream" : "unary Get"}: the remaining TTL shrinks as the value travels, and the hot copy expires no later than the owner's`, async () => {
    const key = `travel-${stream}`;
    const owner = cluster.ownerOf(key);
    const other = cluster.peers.find((p) => p !== owner);
    if (other === undefined) throw new Error("3 peers");
    const toOwner = clientOf(owner.id, stream);
    const toOther = clientOf(other.id, stream);

    expect(await other.request("get", { group: "g", key })).toEqual({ ok: true, value: expectedValue(key) });
    const first = await toOwner.get("g", key, { signal: new AbortController().signal });
    expect(first.ttlMs).toBeGreaterThan(0);
    expect(first.ttlMs).toBeLessThan(ttlMs);
    // The other peer mirrored the value with the owner's remaining TTL, less the time it travelled.
    const peekedAt = performance.now();
    const hot = await toOther.peek?.("g", key, { signal: new AbortController().signal });
    const second = await toOwner.get("g", key, { signal: new AbortController().signal });
    const elapsed = performance.now() - peekedAt;
    expect(new TextDecoder().decode(hot?.value)).toBe(expectedValue(key));
    const hotTtl = hot?.ttlMs as number;
    const ownerTtl = second.ttlMs as number;
    expect(ownerTtl).toBeLessThan(first.ttlMs as number);
    // The hot copy's expiry (now + hotTtl, when peeked) is no later than the owner's (now + ownerTtl, a bit later).
    expect(hotTtl).toBeLessThanOrEqual(ownerTtl + elapsed);
    expect(hotTtl).toBeLessThan(ttlMs);
    // The peek found it in the other peer's hot cache: a copy from the owner, not a load of its own.
    const stats = await other.request("stats", { group: "g" });
    expect(stats.getterCalls[key]).toBeUndefined();
    expect(stats.hot.items).toBeGreaterThanOrEqual(1);
  });
}

test("a storm of gets for a missing key on every peer costs one getter call; peers receive the not-found's TTL", async () => {
  const key = "missing-storm";
  const keys = Array.from({ length: 20 }, () => key);
  for (let round = 0; round < 2; round++) {
    const results = await Promise.all(cluster.peers.map((p) => p.request("getMany", { group: "g", keys })));
    for (const { results: outcomes } of results) {
      for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: false, code: "not-found" });
    }
  }
  const stats = await Promise.all(cluster.peers.map((p) => p.request("stats", { group: "g" })));
  expect(stats.reduce((sum, s) => sum + (s.getterCalls[key] ?? 0), 0)).toBe(1);
  for (const stream of [true, false]) {
    const error = await clientOf(cluster.ownerOf(key).id, stream)
      .get("g", key, { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).ttlMs).toBeGreaterThan(0);
    expect((error as NotFoundError).ttlMs).toBeLessThanOrEqual(ttlMs);
  }
});

test("a mixed ring with a peer that sends no TTL (a Get-only grpc-js server, as Go's fork): every get answered, copies take this group's ttlMs", async () => {
  const server = await startGrpcJsServer((call, callback) =>
    callback(null, create(GetResponseSchema, { value: new TextEncoder().encode(`grpc-js:${call.request.key}`) })),
  );
  cleanups.push(() => server.close());
  const cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient() });
  cleanups.push(() => cache.close());
  const group = cache.newGroup({
    name: "g",
    codec: stringCodec,
    ttlMs: 5_000,
    ttlJitter: 0,
    hotPolicy: () => true,
    getter: (key) => `local:${key}`,
  });
  cache.setPeers(["127.0.0.1:1", server.id]);
  const theirs = keysOwnedBy(cache, server.id, 20);
  const mine = keysOwnedBy(cache, "127.0.0.1:1", 20);
  const values = await Promise.all([...theirs, ...mine].map((k) => group.get(k)));
  expect(values).toEqual([...theirs.map((k) => `grpc-js:${k}`), ...mine.map((k) => `local:${k}`)]);
  expect(group.stats).toMatchObject({ peerLoads: 20, peerErrors: 0, localLoads: 20 });
  for (const key of theirs) {
    const ttl = cache.peek("g", key)?.ttlMs as number;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
  }
});
