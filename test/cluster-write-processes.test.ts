import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GetResponseSchema } from "../src/gen/groupcachepb/groupcache_pb.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import { expectedValue } from "../src/testing/protocol.ts";
import { startGrpcJsServer } from "./support/grpc-js-service.ts";

// Cluster-wide remove and set across real peer processes over gRPC, with
// writes enabled on every peer (they trust each other as hosts of their
// ring, all on 127.0.0.1). The race: a getter held on the owner (released
// by the test, no sleeps) while a remove arrives from another peer. Node
// only (it starts processes).

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({
    size: 3,
    startTimeoutMs: 60_000, // processes start slowly on a busy 2-core machine
    config: { groups: [{ name: "g", hot: "always" }], writes: { invalidation: true }, clientTimeoutMs: 10_000 },
  });
}, 120_000);
afterAll(async () => {
  await cluster?.close();
});

/** The owner of `key` and the two other peers. */
function roles(key: string) {
  const owner = cluster.ownerOf(key);
  const [a, b] = cluster.peers.filter((p) => p !== owner);
  if (a === undefined || b === undefined) throw new Error("3 peers");
  return { owner, a, b };
}

test("a remove reaches every peer process: owners drop their keys, the others their mirrors; the next gets load anew", async () => {
  const keys = Array.from({ length: 30 }, (_, i) => `rm-${i}`);
  for (const peer of cluster.peers) {
    const { results } = await peer.request("getMany", { group: "g", keys });
    expect(results).toEqual(keys.map((key) => ({ ok: true, value: expectedValue(key) })));
  }
  // Every peer holds every key: its own in main, the others mirrored (hot: "always").
  const result = await cluster.peer(0).request("remove", { group: "g", keys });
  expect(result.complete).toBe(true);
  const owned = (id: string) => keys.filter((key) => cluster.ownerOf(key).id === id).length;
  expect(
    Object.fromEntries(result.peers.map((p) => [p.peer, [p.reached, p.owned, p.removed, p.error?.message]])),
  ).toEqual(Object.fromEntries(cluster.ids.map((id) => [id, [true, owned(id), keys.length, undefined]])));
  for (const peer of cluster.peers) {
    const { main, hot } = await peer.request("stats", { group: "g" });
    expect([main.items, hot.items]).toEqual([0, 0]);
  }
  await Promise.all(cluster.peers.map((p) => p.request("configure", { group: "g", version: 2 })));
  const { results } = await cluster.peer(2).request("getMany", { group: "g", keys });
  expect(results).toEqual(keys.map((key) => ({ ok: true, value: `${expectedValue(key)}@2` })));
  const calls: Record<string, number> = {};
  for (const peer of cluster.peers) {
    const { getterCalls } = await peer.request("stats", { group: "g" });
    for (const key of keys) calls[key] = (calls[key] ?? 0) + (getterCalls[key] ?? 0);
  }
  expect(calls).toEqual(Object.fromEntries(keys.map((key) => [key, 2])));
});

test("the race across processes: a load in flight on the owner when the remove arrives from another peer caches nothing", async () => {
  const group = "race";
  await Promise.all(cluster.peers.map((p) => p.request("newGroup", { name: group, hot: "always" })));
  const key = "contended";
  const { owner, a, b } = roles(key);
  await owner.request("configure", { group, hold: true });
  const before = a.request("get", { group, key }); // a → owner, whose getter reads version 0 and waits
  await owner.request("waitGetterCalls", { group, total: 1 });
  await owner.request("configure", { group, version: 2, hold: false }); // the backend changed
  const result = await b.request("remove", { group, keys: [key] }); // reaches the owner mid-load
  expect(result.complete).toBe(true);
  expect(result.peers.map((p) => [p.peer, p.owned, p.reached, p.removed])).toEqual([
    [owner.id, 1, true, 0],
    ...[a.id, b.id].sort().map((id) => [id, 0, true, 0]),
  ]);
  expect(await owner.request("release", { group })).toEqual({ released: 1 });
  expect(await before).toEqual({ ok: true, value: expectedValue(key) }); // it asked before the remove
  for (const peer of [owner, a]) {
    const { main, hot } = await peer.request("stats", { group });
    expect([main.items, hot.items]).toEqual([0, 0]); // neither the owner nor a's mirror kept the old value
  }
  for (const peer of [a, b, owner]) {
    expect(await peer.request("get", { group, key })).toEqual({ ok: true, value: `${expectedValue(key)}@2` });
  }
  expect((await owner.request("stats", { group })).getterCalls).toEqual({ [key]: 2 });
});

test("set across processes: exact bytes from every peer, the owner's getter never called, mirrors dropped", async () => {
  const group = "set";
  await Promise.all(cluster.peers.map((p) => p.request("newGroup", { name: group, hot: "always" })));
  const key = "written";
  const { owner, a, b } = roles(key);
  for (const peer of [a, b])
    expect(await peer.request("get", { group, key })).toEqual({ ok: true, value: expectedValue(key) });
  const value = "ünïcödé ✓ \u0000 bytes";
  const result = await b.request("set", { group, key, value, ttlMs: 60_000 });
  expect(result.complete).toBe(true);
  expect(result.peers[0]).toMatchObject({ peer: owner.id, owned: 1, reached: true, stored: true, removed: 0 });
  expect(result.peers.slice(1).map((p) => [p.peer, p.removed])).toEqual(
    [a.id, b.id].sort().map((id) => [id, 1]), // each had mirrored the old value
  );
  for (const peer of [owner, a, b]) expect(await peer.request("get", { group, key })).toEqual({ ok: true, value });
  expect((await owner.request("stats", { group })).getterCalls).toEqual({ [key]: 1 });
});

test("partial failures across processes: a dead peer, one with writes off, one that answers UNIMPLEMENTED; the rest reached", {
  timeout: 120_000,
}, async () => {
  const grpcJs = await startGrpcJsServer((_call, callback) =>
    callback(null, create(GetResponseSchema, { value: new TextEncoder().encode("grpc-js") })),
  );
  const mixed = await startCluster({
    size: 4,
    connect: false,
    startTimeoutMs: 60_000,
    config: (i) => ({
      groups: [{ name: "g", hot: "never" }],
      writes: { invalidation: i !== 2 },
      clientTimeoutMs: 10_000,
    }),
  });
  try {
    const ids = [...mixed.ids, grpcJs.id];
    await Promise.all(mixed.peers.map((p) => p.request("setPeers", { peers: ids })));
    await mixed.peer(3).kill();
    const keys = Array.from({ length: 40 }, (_, i) => `pf-${i}`);
    const result = await mixed.peer(0).request("remove", { group: "g", keys });
    expect(result.complete).toBe(false);
    const rows = Object.fromEntries(result.peers.map((p) => [p.peer, [p.reached, p.error?.code]]));
    expect(rows).toEqual({
      [mixed.peer(0).id]: [true, undefined],
      [mixed.peer(1).id]: [true, undefined],
      [mixed.peer(2).id]: [false, "permission-denied"],
      [mixed.peer(3).id]: [false, "unavailable"],
      [grpcJs.id]: [false, "unimplemented"],
    });
    expect(result.peers.reduce((n, p) => n + p.owned, 0)).toBe(keys.length);
  } finally {
    await mixed.close();
    await grpcJs.close();
  }
});
