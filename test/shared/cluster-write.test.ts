import { afterEach, expect, test } from "vitest";
import {
  ByteView,
  type Group,
  GroupCache,
  GroupCacheError,
  neverHot,
  randomHotPolicy,
  stringCodec,
} from "../../src/index.ts";
import { createMemoryCluster, type MemoryCluster } from "../../src/testing/memory-cluster.ts";
import { deferred } from "../support/deferred.ts";

// Cluster-wide remove and set over the in-memory network: owners first,
// then every other node; per-peer results; and the race a load that began
// before a write must lose (its older value is never cached). Events are
// ordered with promises the test resolves: a getter call is held until
// the test releases it.

/** One getter call, held until released when `hold` is on. */
interface Call {
  node: string;
  key: string;
  /** What it returns: the key at the backend's version when the call started. */
  value: string;
  release(): void;
}

let open: MemoryCluster | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

/** Three nodes with group "g" (strings): the getter reads `key@v<version>`, then waits if `hold`. */
function setup(options: { hot?: "always" | "never" } = {}) {
  const cluster = createMemoryCluster({ peers: 3 });
  open = cluster;
  const backend = { version: 1, hold: false };
  const calls: Call[] = [];
  const watchers = new Set<() => void>();
  const groups = cluster.newGroup((node) => ({
    name: "g",
    codec: stringCodec,
    hotPolicy: options.hot === "always" ? randomHotPolicy(1) : neverHot,
    getter: async (key: string) => {
      const value = `${key}@v${backend.version}`;
      const gate = deferred();
      calls.push({ node, key, value, release: () => gate.resolve() });
      for (const watch of watchers) watch();
      if (backend.hold) await gate.promise;
      return value;
    },
  }));
  const group = (id: string) => groups[cluster.ids.indexOf(id)] as Group<string, string>;
  /** Resolves with call number `n` (1-based) once it has started; rejects after 5 s without it. */
  const call = (n: number) =>
    new Promise<Call>((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`getter call ${n} never started (${calls.length} calls)`));
      }, 5_000);
      function check() {
        const c = calls[n - 1];
        if (c === undefined) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(c);
      }
      watchers.add(check);
      check();
    });
  /** The owner of `key` and the two others. */
  const roles = (key: string) => {
    const owner = cluster.ownerOf(key);
    const [a, b] = cluster.ids.filter((id) => id !== owner) as [string, string];
    return { owner, a, b };
  };
  return { cluster, backend, calls, group, call, roles };
}

test("remove: the owner first, then every other node; one row per node, each reached; the next get loads anew", async () => {
  const { group, roles, calls, backend } = setup();
  const { owner, a, b } = roles("k");
  expect(await group(a).get("k")).toBe("k@v1");
  backend.version = 2;
  const result = await group(b).remove("k");
  expect(result.complete).toBe(true);
  expect(result.peers.map((p) => [p.peer, p.owned, p.reached, p.removed, p.error])).toEqual([
    [owner, 1, true, 1, undefined],
    ...[a, b].sort().map((id) => [id, 0, true, 0, undefined]),
  ]);
  expect(await group(a).get("k")).toBe("k@v2");
  expect(calls.map((c) => `${c.node} ${c.value}`)).toEqual([`${owner} k@v1`, `${owner} k@v2`]);
});

test("a remove that lands while the owner's getter reads the old row: the get that asked before gets it, nobody caches it", async () => {
  const { group, roles, calls, call, backend } = setup();
  const { owner, a, b } = roles("k");
  backend.hold = true;
  const before = group(a).get("k"); // a → owner → getter, held
  const first = await call(1);
  backend.version = 2;
  const result = await group(b).remove("k"); // arrives at the owner while its getter runs
  expect(result.peers.every((p) => p.reached && p.removed === 0)).toBe(true);
  first.release();
  expect(await before).toBe("k@v1");
  expect(group(owner).cacheStats("main").items).toBe(0);
  const after = group(a).get("k");
  (await call(2)).release();
  expect(await after).toBe("k@v2");
  expect(calls.map((c) => c.value)).toEqual(["k@v1", "k@v2"]);
  expect(await group(owner).get("k")).toBe("k@v2"); // cached now
  expect(calls).toHaveLength(2);
});

test("singleflight after a remove: a get that starts after it does not join the older load, which then cannot overwrite the new value", async () => {
  const { group, roles, calls, call, backend } = setup();
  const { owner, a } = roles("k");
  backend.hold = true;
  const before = group(owner).get("k");
  const first = await call(1);
  backend.version = 2;
  await group(a).remove("k");
  const after = group(owner).get("k"); // a new load, not a waiter of the first
  const second = await call(2);
  expect(second.value).toBe("k@v2");
  second.release();
  expect(await after).toBe("k@v2");
  first.release(); // the older load finishes last: without the guard it would replace v2
  expect(await before).toBe("k@v1");
  backend.hold = false;
  expect(await group(owner).get("k")).toBe("k@v2");
  expect(await group(a).get("k")).toBe("k@v2");
  expect(calls).toHaveLength(2);
});

test("a non-owner's fetch in flight when the remove arrives: it returns the owner's old answer but does not mirror it", async () => {
  const { group, roles, calls, call, backend } = setup({ hot: "always" });
  const { owner, a, b } = roles("k");
  backend.hold = true;
  const before = group(a).get("k"); // a's fetch waits on the owner's getter
  const first = await call(1);
  backend.version = 2;
  await group(b).remove("k");
  first.release();
  expect(await before).toBe("k@v1");
  expect(group(a).cacheStats("hot").items).toBe(0);
  backend.hold = false;
  expect(await group(a).get("k")).toBe("k@v2");
  expect(group(a).cacheStats("hot").items).toBe(1); // a fetch that began after the remove mirrors as usual
  expect(calls.map((c) => `${c.node} ${c.value}`)).toEqual([`${owner} k@v1`, `${owner} k@v2`]);
});

test("set racing a load on the owner: the owner keeps the set value, the load's waiters get theirs, every node then reads the set value", async () => {
  const { cluster, group, roles, calls, call, backend } = setup({ hot: "always" });
  const { owner, a, b } = roles("k");
  backend.hold = true;
  const before = group(a).get("k");
  const first = await call(1);
  const result = await group(b).set("k", "k@set");
  expect(result.complete).toBe(true);
  const ownerRow = result.peers[0];
  expect(ownerRow).toMatchObject({ peer: owner, owned: 1, reached: true, stored: true });
  first.release();
  expect(await before).toBe("k@v1");
  for (const id of cluster.ids) expect(await group(id).get("k")).toBe("k@set");
  expect(calls).toHaveLength(1);
});

test("set: exact bytes on every node, copies in hot caches dropped, the getter not called", async () => {
  const cluster = createMemoryCluster({ peers: 3 });
  open = cluster;
  let loads = 0;
  const groups = cluster.newGroup({
    name: "b",
    hotPolicy: randomHotPolicy(1),
    getter: () => {
      loads++;
      return new Uint8Array([1, 2, 3]);
    },
  });
  const owner = cluster.ownerOf("k");
  const others = cluster.ids.filter((id) => id !== owner);
  for (const g of groups) expect((await g.get("k")).toBytes()).toEqual(new Uint8Array([1, 2, 3]));
  for (const id of others) expect(groups[cluster.ids.indexOf(id)]?.cacheStats("hot").items).toBe(1);
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
  const result = await (groups[1] as Group).set("k", bytes);
  expect(result.peers.map((p) => [p.peer, p.reached, p.stored, p.removed])).toEqual([
    [owner, true, true, 0],
    ...others.sort().map((id) => [id, true, false, 1]),
  ]);
  for (const g of groups) {
    const view = await g.get("k");
    expect(view).toBeInstanceOf(ByteView);
    expect(view.toBytes()).toEqual(bytes);
  }
  expect(loads).toBe(1);
});

test("removeKeys: each owner gets its keys first, every node the rest; counts exact", async () => {
  const { cluster, group, calls } = setup();
  const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
  for (const key of keys) await group(cluster.ids[0] as string).get(key);
  const result = await group(cluster.ids[1] as string).removeKeys([...keys, "key-0"]); // a repeat counts once
  expect(result.complete).toBe(true);
  const owned = Object.fromEntries(cluster.ids.map((id) => [id, keys.filter((k) => cluster.ownerOf(k) === id).length]));
  expect(Object.fromEntries(result.peers.map((p) => [p.peer, p.owned]))).toEqual(owned);
  // neverHot: only owners held the keys.
  expect(Object.fromEntries(result.peers.map((p) => [p.peer, p.removed]))).toEqual(owned);
  calls.length = 0;
  await Promise.all(keys.map((key) => group(cluster.ids[2] as string).get(key)));
  expect(calls.map((c) => c.key).sort()).toEqual([...keys].sort());
});

test("partial failure: a stopped node is unavailable, one without the write RPCs unimplemented; neither counted as reached", async () => {
  const { cluster, group, roles } = setup();
  const { owner, a, b } = roles("k");
  await group(b).get("k");
  cluster.stop(owner);
  // An older peer: serves gets, knows nothing of writes.
  const old = cluster.cacheOf(a);
  cluster.network.listen(a, { serve: (g, k, o) => old.serve(g, k, o) });
  const result = await group(b).remove("k");
  expect(result.complete).toBe(false);
  const rows = Object.fromEntries(result.peers.map((p) => [p.peer, p]));
  expect(rows[owner]).toMatchObject({ owned: 1, reached: false, removed: 0 });
  expect(rows[owner]?.error?.code).toBe("unavailable");
  expect(rows[a]).toMatchObject({ reached: false });
  expect(rows[a]?.error?.code).toBe("unimplemented");
  expect(rows[b]).toMatchObject({ self: true, reached: true });
});

test("writes check their arguments and the caller's signal", async () => {
  const { group, cluster } = setup();
  const g = group(cluster.ids[0] as string);
  await expect(g.remove(42 as unknown as string)).rejects.toMatchObject({ code: "invalid-argument" });
  await expect(g.removeKeys("a,b" as unknown as string[])).rejects.toMatchObject({ code: "invalid-argument" });
  await expect(g.remove("\uD800")).rejects.toMatchObject({ code: "invalid-argument" });
  await expect(g.set("k", "v", { ttlMs: 0 })).rejects.toThrow(/ttlMs must be a finite number > 0, got 0/);
  await expect(g.set("k", "v", { ttlMs: -1 })).rejects.toMatchObject({ code: "invalid-argument" });
  await expect(g.remove("k", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "canceled" });
  const grouped = new GroupCache().newGroup({ name: "big", maxValueBytes: 4, getter: () => "" });
  await expect(grouped.set("k", "12345")).rejects.toThrow(/set was given 5 bytes for key "k", over maxValueBytes 4/);
  g.close();
  await expect(g.remove("k")).rejects.toMatchObject({ code: "closed" });
});

test("a cache alone: remove and set apply here, in one row", async () => {
  const cache = new GroupCache({ self: "me:1" });
  let n = 0;
  const g = cache.newGroup({ name: "g", codec: stringCodec, getter: (k) => `${k}#${++n}` });
  expect(await g.get("k")).toBe("k#1");
  expect(await g.remove("k")).toEqual({
    complete: true,
    peers: [{ peer: "me:1", self: true, former: false, owned: 1, reached: true, removed: 1, stored: false }],
  });
  expect(await g.get("k")).toBe("k#2");
  expect((await g.set("k", "mine")).peers[0]).toMatchObject({ stored: true });
  expect(await g.get("k")).toBe("mine");
  await cache.close();
  await expect(g.set("k", "x")).rejects.toBeInstanceOf(GroupCacheError);
});

test("a peer that just left the ring is told too (new owners may peek it), and does not count for complete", async () => {
  const { cluster, group, calls } = setup();
  const [x, y, z] = cluster.ids as [string, string, string];
  const key = ["a", "b", "c", "d", "e", "f", "g", "h"].find((k) => cluster.ownerOf(k) === z) as string;
  expect(await group(x).get(key)).toBe(`${key}@v1`); // loaded and held by z
  for (const id of [x, y]) cluster.cacheOf(id).setPeers([x, y]); // z leaves; its client lingers for peeks
  const result = await group(x).remove(key);
  expect(result.peers.find((p) => p.peer === z)).toMatchObject({ former: true, owned: 0, reached: true, removed: 1 });
  expect(result.complete).toBe(true);
  cluster.stop(z);
  const again = await group(x).remove(key);
  expect(again.peers.find((p) => p.peer === z)).toMatchObject({ former: true, reached: false });
  expect(again.complete).toBe(true);
  expect(calls).toHaveLength(1);
});

test("a write's signal releases the caller while a peer hangs, and cancels the call to it", async () => {
  const seen: AbortSignal[] = [];
  const cache = new GroupCache({
    self: "me:1",
    peerClient: () => ({
      get: () => Promise.reject(new GroupCacheError("unavailable", "not in this test")),
      remove: (_group, _keys, { signal }) => {
        seen.push(signal);
        return new Promise<number>(() => {}); // a peer that never answers
      },
      close: async () => {},
    }),
  });
  const g = cache.newGroup({ name: "g", getter: (k) => k });
  cache.setPeers(["me:1", "slow:1"]);
  const controller = new AbortController();
  const pending = g.remove("k", { signal: controller.signal });
  const started = await new Promise<AbortSignal>((resolve) => {
    const check = () => (seen[0] === undefined ? queueMicrotask(check) : resolve(seen[0]));
    check();
  });
  controller.abort();
  await expect(pending).rejects.toMatchObject({ code: "canceled" });
  expect(started.aborted).toBe(true);
  await cache.close();
});
