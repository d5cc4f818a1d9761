import { expect, test } from "vitest";
import { groupServer } from "../../src/core/group.ts";
import { type GroupOptions, ManualClock, NotFoundError, stringCodec } from "../../src/index.ts";
import { createMemoryCluster } from "../../src/testing/memory-cluster.ts";
import { MemoryNetwork } from "../../src/testing/memory-network.ts";
import { deferred } from "../support/deferred.ts";

// Expiry across peers, over the in-memory network: the owner's remaining
// TTL travels with the value as a duration, so peers whose clocks have
// different origins agree on when a copy expires; cached not-founds and
// grace refreshes cost one getter call cluster-wide.

/** Two nodes, each with its own ManualClock (origins a million ms apart), and a group mirroring every fetched value. */
function twoNodes(options: Partial<GroupOptions<string, string>>) {
  const cluster = createMemoryCluster({ peers: 2 });
  const clocks = new Map(cluster.ids.map((id, i) => [id, new ManualClock(i * 1_000_000)]));
  const calls: string[] = [];
  let version = 0;
  const groups = cluster.newGroup<string, string>((id) => ({
    name: "g",
    codec: stringCodec,
    clock: clocks.get(id) as ManualClock,
    ttlJitter: 0,
    hotPolicy: () => true,
    getter: (key) => {
      calls.push(`${id} ${key}`);
      return `${key}@v${++version}`;
    },
    ...options,
  }));
  const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find(
    (k) => cluster.ownerOf(k) === cluster.ids[0],
  ) as string;
  const [owner, peer] = groups as [(typeof groups)[0], (typeof groups)[0]];
  const advance = (ms: number) => {
    for (const clock of clocks.values()) clock.advance(ms);
  };
  return { cluster, owner, peer, key, calls, advance };
}

test("the remaining TTL shrinks as the value travels; the peer's hot copy expires when the owner's does, not later", async () => {
  const { owner, peer, key, calls, advance } = twoNodes({ ttlMs: 1_000 });
  expect(await owner.get(key)).toBe(`${key}@v1`);
  advance(400);
  // The owner answers with 600 ms left; the peer's copy is stamped from its own clock.
  const served = await groupServer(owner).serve(key);
  expect(served.ttlMs).toBe(600);
  expect(await peer.get(key)).toBe(`${key}@v1`);
  expect(peer.stats).toMatchObject({ peerLoads: 1 });
  expect(peer.cacheStats("hot").items).toBe(1);
  advance(100);
  expect(groupServer(peer).peek(key)?.ttlMs).toBe(500);
  expect(groupServer(owner).peek(key)?.ttlMs).toBe(500);
  // 1 ms before the owner's expiry both still serve v1; at it, neither does.
  advance(499);
  expect(await peer.get(key)).toBe(`${key}@v1`);
  advance(1);
  expect(await peer.get(key)).toBe(`${key}@v2`);
  expect(calls).toEqual([`node-1:1 ${key}`, `node-1:1 ${key}`]);
  expect(peer.cacheStats("hot")).toMatchObject({ expirations: 1, items: 1 });
  expect(groupServer(peer).peek(key)?.ttlMs).toBe(1_000);
});

test("a value without TTL from the owner gets the peer's own ttlMs (a peer that sends no TTL, as a Go peer)", async () => {
  const cluster = createMemoryCluster({ peers: 2 });
  const clock = new ManualClock();
  const [ownerId, peerId] = cluster.ids as [string, string];
  const [, peer] = cluster.newGroup<string, string>((id) => ({
    name: "g",
    codec: stringCodec,
    clock,
    ttlJitter: 0,
    hotPolicy: () => true,
    // The owner has no TTL; the peer's group has 300 ms.
    ...(id === peerId ? { ttlMs: 300 } : {}),
    getter: (key) => `${key} from ${id}`,
  }));
  const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => cluster.ownerOf(k) === ownerId) as string;
  await peer?.get(key);
  expect(groupServer(peer as NonNullable<typeof peer>).peek(key)?.ttlMs).toBe(300);
  clock.advance(300);
  expect(groupServer(peer as NonNullable<typeof peer>).peek(key)).toBeUndefined();
});

test("notFoundTtlMs across peers: a storm of gets for a missing key on every node is one getter call per interval", async () => {
  const { owner, peer, key, calls, advance } = twoNodes({
    notFoundTtlMs: 1_000,
    getter: (k: string) => {
      calls.push(k);
      throw new NotFoundError(`no row ${k}`);
    },
  });
  const storm = async () => {
    const results = await Promise.allSettled(
      [owner, peer].flatMap((g) => Array.from({ length: 20 }, () => g.get(key))),
    );
    for (const r of results) expect(r).toMatchObject({ status: "rejected", reason: { code: "not-found" } });
  };
  await storm();
  await storm();
  expect(calls).toEqual([key]);
  // The peer cached the owner's answer too: its second storm did not ask the owner.
  expect(peer.stats).toMatchObject({ notFoundHits: 20 });
  const fromPeer = await peer.get(key).catch((e: unknown) => e);
  expect(fromPeer).toBeInstanceOf(NotFoundError);
  advance(999);
  await storm();
  expect(calls).toEqual([key]);
  advance(1);
  await storm();
  expect(calls).toEqual([key, key]);
});

test("grace across peers: the owner's stale value is answered to every peer at once, one refresh cluster-wide", async () => {
  const refresh = deferred<string>();
  const { owner, peer, key, calls, advance } = twoNodes({
    ttlMs: 100,
    staleMs: 1_000,
    hotPolicy: () => false,
    getter: (k: string) => {
      calls.push(k);
      return calls.length === 1 ? `${k}@v1` : refresh.promise;
    },
  });
  expect(await peer.get(key)).toBe(`${key}@v1`);
  advance(100);
  const stale = await Promise.all([owner, peer].flatMap((g) => Array.from({ length: 10 }, () => g.get(key))));
  expect(stale).toEqual(Array(20).fill(`${key}@v1`));
  expect(calls).toEqual([key, key]);
  // A stale answer tells the peer how much grace is left.
  const served = await groupServer(owner).serve(key);
  expect(served).toMatchObject({ staleMs: 1_000 });
  expect(served.ttlMs).toBeUndefined();
  refresh.resolve(`${key}@v2`);
  await new Promise<void>((resolve) => setTimeout(resolve, 0)); // the refresh's callbacks run
  expect(await peer.get(key)).toBe(`${key}@v2`);
  expect(await owner.get(key)).toBe(`${key}@v2`);
  expect(calls).toEqual([key, key]);
});

test("a key that moves to a new owner (a peek of its previous owner) keeps its expiry: moving does not make it fresh", async () => {
  const network = new MemoryNetwork();
  const clock = new ManualClock();
  const calls: string[] = [];
  const add = (id: string) => {
    const cache = network.add(id);
    cache.newGroup<string, string>({
      name: "g",
      codec: stringCodec,
      clock,
      ttlMs: 1_000,
      ttlJitter: 0,
      hotPolicy: () => false,
      getter: (key) => {
        calls.push(`${id} ${key}`);
        return `${key} from ${id}`;
      },
    });
    return cache;
  };
  const a = add("a:1");
  a.setPeers(["a:1"]);
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  for (const key of keys) await a.getGroup("g")?.get(key);
  clock.advance(400);
  const b = add("b:1");
  for (const cache of [a, b]) cache.setPeers(["a:1", "b:1"]);
  const moved = keys.filter((k) => a.ownerOf(k) === "b:1");
  expect(moved.length).toBeGreaterThan(0);
  const groupB = b.getGroup("g") as NonNullable<ReturnType<typeof b.getGroup>>;
  for (const key of moved) expect(await groupB.get(key)).toBe(`${key} from a:1`);
  expect(groupB.stats).toMatchObject({ peekHits: moved.length, localLoads: 0 });
  for (const key of moved) expect(b.peek("g", key)?.ttlMs).toBe(600);
  clock.advance(600);
  calls.length = 0;
  for (const key of moved) expect(await groupB.get(key)).toBe(`${key} from b:1`);
  expect(calls).toEqual(moved.map((k) => `b:1 ${k}`));
  await Promise.all([a.close(), b.close()]);
});
