import { expect, test } from "vitest";
import {
  type Group,
  GroupCache,
  GroupCacheError,
  neverHot,
  type PeerClient,
  type PeerClientFactory,
  type PeerLiveness,
  stringCodec,
} from "../../src/index.ts";
import { MemoryNetwork } from "../../src/testing/memory-network.ts";

// Peek on ownership change: after a ring change, a key's new owner asks the
// peers that owned it before (from their memory only) before calling its
// getter, so a membership change does not reload the keys that moved.

const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);
const ids = ["n1:1", "n2:1", "n3:1", "n4:1"];

/** Nodes on one in-memory network, each with a group "g" whose getter records `<node> <key>`; no mirrors. */
function nodes(count: number, options: { peekWindowMs?: number } = {}) {
  const network = new MemoryNetwork();
  const loads: string[] = [];
  const caches = new Map<string, GroupCache>();
  const add = (id: string) => {
    const cache = network.add(id, options);
    cache.newGroup({
      name: "g",
      codec: stringCodec,
      hotPolicy: neverHot,
      getter: (key: string) => {
        loads.push(`${id} ${key}`);
        return `value of ${key}`;
      },
    });
    caches.set(id, cache);
    return cache;
  };
  for (const id of ids.slice(0, count)) add(id);
  const setAll = (members: string[]) => {
    for (const cache of caches.values()) cache.setPeers(members.includes(cache.self) ? members : []);
  };
  const group = (id: string) => caches.get(id)?.getGroup("g") as Group<string, string>;
  const readAll = async (through: string[]) => {
    const values = await Promise.all(through.flatMap((id) => keys.map((k) => group(id).get(k))));
    expect(values).toEqual(through.flatMap(() => keys.map((k) => `value of ${k}`)));
  };
  const statsSum = (name: "peeks" | "peekHits" | "localLoads") =>
    [...caches.values()].reduce((n, c) => n + (c.getGroup("g")?.stats[name] ?? 0), 0);
  const close = () => Promise.all([...caches.values()].map((c) => c.close()));
  return { network, loads, caches, add, setAll, group, readAll, statsSum, close };
}

test("scale-up 3 → 4: the new owner peeks every key that moved; re-reading every key through every node loads nothing", async () => {
  const c = nodes(3);
  const three = ids.slice(0, 3);
  c.setAll(three);
  await c.readAll(three);
  expect(c.loads).toHaveLength(keys.length);

  c.add("n4:1");
  c.setAll(ids);
  const moved = keys.filter((k) => c.caches.get("n1:1")?.ownerOf(k) === "n4:1");
  expect(moved.length).toBeGreaterThan(0);
  c.loads.length = 0;
  await c.readAll(ids);
  expect(c.loads).toEqual([]);
  expect(c.group("n4:1").stats).toMatchObject({ peekHits: moved.length, peeks: moved.length, localLoads: 0 });
  expect(c.statsSum("peekHits")).toBe(moved.length);
  await c.close();
});

test("graceful scale-down 4 → 3: the leaver leaves its own ring and still serves; its keys are peeked from it, none reloaded", async () => {
  const c = nodes(4);
  c.setAll(ids);
  await c.readAll(ids);
  expect(c.loads).toHaveLength(keys.length);
  const moved = keys.filter((k) => c.caches.get("n1:1")?.ownerOf(k) === "n4:1");
  expect(moved.length).toBeGreaterThan(0);
  const peekHitsBefore = c.statsSum("peekHits");

  const three = ids.slice(0, 3);
  c.caches.get("n4:1")?.setPeers(three.filter((id) => id !== "n4:1")); // leaves its own ring first
  for (const id of three) c.caches.get(id)?.setPeers(three);
  c.loads.length = 0;
  await c.readAll(three);
  expect(c.loads).toEqual([]);
  expect(c.statsSum("peekHits") - peekHitsBefore).toBe(moved.length);
  await c.close();
});

test("a previous owner that stopped: one peek that misses, then exactly one getter call, and the get succeeds", async () => {
  const c = nodes(4);
  c.setAll(ids);
  await c.readAll(["n1:1"]);
  const key = keys.find((k) => c.caches.get("n1:1")?.ownerOf(k) === "n4:1") as string;
  c.network.disconnect("n4:1");
  const three = ids.slice(0, 3);
  for (const id of three) c.caches.get(id)?.setPeers(three);
  const owner = c.caches.get("n1:1")?.ownerOf(key) as string;
  const before = c.group(owner).stats;
  c.loads.length = 0;
  expect(await c.group("n1:1").get(key)).toBe(`value of ${key}`);
  expect(c.loads).toEqual([`${owner} ${key}`]);
  expect(c.group(owner).stats.peeks - before.peeks).toBe(1);
  expect(c.group(owner).stats.peekHits - before.peekHits).toBe(0);
  await c.close();
});

/** A cache `a:1` whose only other peer, `b:1`, is `client`; it joins a ring of both, so b:1 is the previous owner of its keys. */
function joinedWith(client: PeerClient | PeerClientFactory, options: { peekTimeoutMs?: number } = {}) {
  const loads: string[] = [];
  const peerClient = typeof client === "function" ? client : () => client;
  const cache = new GroupCache({ self: "a:1", peerClient, ...options });
  const group = cache.newGroup({
    name: "g",
    codec: stringCodec,
    getter: (key: string) => {
      loads.push(key);
      return `value of ${key}`;
    },
  });
  cache.setPeers(["a:1", "b:1"]);
  const key = keys.find((k) => cache.ownerOf(k) === "a:1") as string;
  return { cache, group, loads, key };
}

test("a previous owner whose peek hangs past peekTimeoutMs: the get falls back to exactly one getter call", async () => {
  let peeks = 0;
  const hanging: PeerClient = {
    get: () => Promise.reject(new GroupCacheError("unavailable", "not asked")),
    // Never settles until its signal fires.
    peek: (_group, _key, { signal }) => {
      peeks++;
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve(undefined), { once: true }));
    },
    close: async () => {},
  };
  const { cache, group, loads, key } = joinedWith(hanging, { peekTimeoutMs: 5 });
  expect(cache.pickPrevious(key)).toEqual([hanging]);
  expect(await group.get(key)).toBe(`value of ${key}`);
  expect(loads).toEqual([key]);
  expect(peeks).toBe(1);
  expect(group.stats).toMatchObject({ peeks: 1, peekHits: 0, localLoads: 1 });
  await cache.close();
});

test("a previous owner marked down (alive but silent) is not peeked: its keys load at once, and it is peeked again once up", async () => {
  let peeks = 0;
  const liveness = new Map<string, PeerLiveness>();
  const silent: PeerClient = {
    get: () => Promise.reject(new GroupCacheError("unavailable", "not asked")),
    peek: () => {
      peeks++;
      return Promise.resolve(undefined);
    },
    close: async () => {},
  };
  const { cache, group, loads, key } = joinedWith((id, context) => {
    if (context !== undefined) liveness.set(id, context.liveness);
    return silent;
  });
  expect(cache.pickPrevious(key)).toEqual([silent]);
  liveness.get("b:1")?.down("no PING ack within 1000 ms");
  expect(cache.pickPrevious(key)).toEqual([]);
  expect(await group.get(key)).toBe(`value of ${key}`);
  expect([loads, peeks, group.stats.peeks]).toEqual([[key], 0, 0]);
  liveness.get("b:1")?.up("answered a probe");
  expect(cache.pickPrevious(key)).toEqual([silent]);
  await cache.close();
});

test("a previous owner without peek (an older peer): no peek, a normal load", async () => {
  const old: PeerClient = { get: () => Promise.reject(new GroupCacheError("unavailable", "x")), close: async () => {} };
  const { cache, group, loads, key } = joinedWith(old);
  expect(await group.get(key)).toBe(`value of ${key}`);
  expect(loads).toEqual([key]);
  expect(group.stats).toMatchObject({ peeks: 0, peekHits: 0, localLoads: 1 });
  await cache.close();
});

test("peekWindowMs 0: scale-up 3 → 4 reloads every key that moved, as before the mechanism", async () => {
  const c = nodes(3, { peekWindowMs: 0 });
  const three = ids.slice(0, 3);
  c.setAll(three);
  await c.readAll(three);
  c.add("n4:1");
  c.setAll(ids);
  const moved = keys.filter((k) => c.caches.get("n1:1")?.ownerOf(k) === "n4:1");
  c.loads.length = 0;
  await c.readAll(ids);
  expect(c.loads.sort()).toEqual(moved.map((k) => `n4:1 ${k}`).sort());
  expect(c.statsSum("peeks")).toBe(0);
  await c.close();
});

/** A fake client of `id`: gets wait for `answer`, close is recorded and resolves `closed`. */
function fakeClient(id: string, closedIds: string[]) {
  let onClose: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  let answer: (value: string) => void = () => {};
  const answered = new Promise<string>((resolve) => {
    answer = resolve;
  });
  const client: PeerClient = {
    get: async () => ({ value: new TextEncoder().encode(await answered) }),
    peek: async () => undefined,
    close: async () => {
      closedIds.push(id);
      onClose();
    },
  };
  return { client, closed, answer };
}

test("a departed peer's client lingers until the window ends, is closed then, and is reused if the peer comes back", async () => {
  const closedIds: string[] = [];
  const created: string[] = [];
  const fakes = new Map<string, ReturnType<typeof fakeClient>>();
  const cache = new GroupCache({
    self: "a:1",
    peekWindowMs: 30,
    peerClient: (id) => {
      created.push(id);
      const fake = fakeClient(id, closedIds);
      fakes.set(id, fake);
      return fake.client;
    },
  });
  cache.setPeers(["a:1", "b:1", "c:1"]);
  cache.setPeers(["a:1", "b:1"]);
  cache.setPeers(["a:1", "b:1", "c:1"]); // c:1 came back: its client is reused
  expect(created).toEqual(["b:1", "c:1"]);
  cache.setPeers(["a:1", "b:1"]);
  expect(closedIds).toEqual([]);
  // A key c:1 owned is peeked there while the window lasts.
  const cKey = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => {
    const previous = cache.pickPrevious(k);
    return previous.length === 1 && previous[0] === fakes.get("c:1")?.client;
  });
  expect(cKey).toBeDefined();
  await fakes.get("c:1")?.closed;
  expect(closedIds).toEqual(["c:1"]);
  await cache.close();
  expect(closedIds).toEqual(["c:1", "b:1"]);
});

test("a departed peer's get in flight completes instead of failing; close() closes the lingering client", async () => {
  const closedIds: string[] = [];
  let fake: ReturnType<typeof fakeClient> | undefined;
  const cache = new GroupCache({
    self: "a:1",
    peerClient: (id) => {
      fake = fakeClient(id, closedIds);
      return fake.client;
    },
  });
  const group = cache.newGroup({ name: "g", codec: stringCodec, hotPolicy: neverHot, getter: () => "local" });
  cache.setPeers(["a:1", "b:1"]);
  const key = keys.find((k) => cache.ownerOf(k) === "b:1") as string;
  const pending = group.get(key);
  cache.setPeers(["a:1"]);
  fake?.answer(`from b of ${key}`);
  expect(await pending).toBe(`from b of ${key}`);
  expect(closedIds).toEqual([]);
  expect(group.stats).toMatchObject({ peerLoads: 1, peerErrors: 0, localLoads: 0 });
  await cache.close();
  expect(closedIds).toEqual(["b:1"]);
});

test("GroupCache.peek: stored bytes from memory only, never a load, not a get; unknown-group; closed", async () => {
  const cache = new GroupCache({ self: "a:1" });
  let calls = 0;
  const group = cache.newGroup({
    name: "g",
    codec: stringCodec,
    getter: (k: string) => {
      calls++;
      return `v-${k}`;
    },
  });
  expect(cache.peek("g", "k")).toBeUndefined();
  await group.get("k");
  expect(new TextDecoder().decode(cache.peek("g", "k")?.value)).toBe("v-k");
  expect(calls).toBe(1);
  expect(group.stats.gets).toBe(1);
  expect(() => cache.peek("nope", "k")).toThrow(expect.objectContaining({ code: "unknown-group" }));
  await cache.close();
  expect(() => cache.peek("g", "k")).toThrow(expect.objectContaining({ code: "closed" }));
});

test("peekWindowMs and peekTimeoutMs are checked", () => {
  expect(() => new GroupCache({ peekWindowMs: -1 })).toThrow(expect.objectContaining({ code: "invalid-argument" }));
  expect(() => new GroupCache({ peekTimeoutMs: 0 })).toThrow(expect.objectContaining({ code: "invalid-argument" }));
  expect(new GroupCache({ peekWindowMs: 0 }).peekTimeoutMs).toBe(200);
});
