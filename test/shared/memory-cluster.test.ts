import { expect, test } from "vitest";
import { Ring } from "../../src/core/ring.ts";
import { GroupCacheError, NotFoundError, neverHot, stringCodec } from "../../src/index.ts";
import { createMemoryCluster, type MemoryCluster } from "../../src/testing/memory-cluster.ts";
import { MemoryNetwork } from "../../src/testing/memory-network.ts";

// The in-memory cluster of groupcache/testing: several caches in one
// process, each key loaded once cluster-wide by its owner.

const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);

/** A group "g" on every node whose getter records `<node> <key>` and answers `value of <key>`; no mirrors. */
function countingGroup(cluster: MemoryCluster) {
  const loads: string[] = [];
  const groups = cluster.newGroup((id) => ({
    name: "g",
    codec: stringCodec,
    hotPolicy: neverHot, // a non-owner never keeps what it fetched: counts stay exact
    getter: (key: string) => {
      loads.push(`${id} ${key}`);
      return `value of ${key}`;
    },
  }));
  return { loads, groups };
}

/** How many of `keys` node `id` owns. */
const ownedBy = (cluster: MemoryCluster, id: string) => keys.filter((k) => cluster.ownerOf(k) === id).length;

test("3 nodes, 30 keys asked of every node at once: each key is loaded exactly once, by its owner", async () => {
  const cluster = createMemoryCluster({ peers: 3 });
  expect(cluster.ids).toEqual(["node-1:1", "node-2:1", "node-3:1"]);
  expect(cluster.caches.map((c) => c.peers)).toEqual([cluster.ids, cluster.ids, cluster.ids]);
  const { loads, groups } = countingGroup(cluster);
  for (const id of cluster.ids) expect(ownedBy(cluster, id)).toBeGreaterThan(0);

  const values = await Promise.all(groups.flatMap((g) => keys.map((k) => g.get(k))));
  expect(values).toEqual(groups.flatMap(() => keys.map((k) => `value of ${k}`)));
  expect(loads.sort()).toEqual(keys.map((k) => `${cluster.ownerOf(k)} ${k}`).sort());
  // Each owner is asked once per key it owns by each of the two others.
  const expectedRequests = (rounds: number) =>
    Object.fromEntries(cluster.ids.map((id) => [id, 2 * rounds * ownedBy(cluster, id)]));
  expect(Object.fromEntries(cluster.requests)).toEqual(expectedRequests(1));
  cluster.ids.forEach((id, i) => {
    const owned = ownedBy(cluster, id);
    expect(groups[i]?.stats).toMatchObject({
      gets: keys.length + 2 * owned,
      localLoads: owned,
      peerLoads: keys.length - owned,
      peerErrors: 0,
      serverRequests: 2 * owned,
    });
  });

  // Again: owners answer from their caches, and nobody loads.
  await Promise.all(groups.flatMap((g) => keys.map((k) => g.get(k))));
  expect(loads).toHaveLength(keys.length);
  expect(Object.fromEntries(cluster.requests)).toEqual(expectedRequests(2));
  await cluster.close();
});

test("a stopped owner: the asker loads its keys itself, once each; started again, it answers again", async () => {
  // No peeks: the restarted owner would otherwise copy some keys from the asker, which loaded them.
  const cluster = createMemoryCluster({ peekWindowMs: 0 });
  const { loads, groups } = countingGroup(cluster);
  const [asker, victim, other] = cluster.ids as [string, string, string];
  const victimKeys = keys.filter((k) => cluster.ownerOf(k) === victim);
  const askerGroup = groups[0];
  expect(victimKeys.length).toBeGreaterThan(0);

  cluster.stop(victim);
  expect(cluster.network.isListening(victim)).toBe(false);
  expect(await Promise.all(victimKeys.map((k) => askerGroup?.get(k)))).toEqual(victimKeys.map((k) => `value of ${k}`));
  expect(loads).toEqual(victimKeys.map((k) => `${asker} ${k}`));
  expect(cluster.requests.get(victim)).toBe(victimKeys.length);
  expect(askerGroup?.stats).toMatchObject({
    peerErrors: victimKeys.length,
    localLoads: victimKeys.length,
    peerLoads: 0,
  });
  // The asker keeps what it loaded: asking again costs nothing.
  await Promise.all(victimKeys.map((k) => askerGroup?.get(k)));
  expect(loads).toHaveLength(victimKeys.length);
  expect(cluster.requests.get(victim)).toBe(victimKeys.length);

  cluster.start(victim);
  expect(await Promise.all(victimKeys.map((k) => groups[2]?.get(k)))).toEqual(victimKeys.map((k) => `value of ${k}`));
  expect(loads.slice(victimKeys.length)).toEqual(victimKeys.map((k) => `${victim} ${k}`));
  expect(cluster.requests.get(victim)).toBe(2 * victimKeys.length);
  expect(groups[2]?.stats).toMatchObject({ peerLoads: victimKeys.length, peerErrors: 0, localLoads: 0 });
  expect(cluster.requests.get(other)).toBeUndefined();
  await cluster.close();
});

test("not-found crosses the network as NotFoundError: no local load by the asker", async () => {
  const cluster = createMemoryCluster({ peers: 2 });
  let calls = 0;
  const groups = cluster.newGroup({
    name: "missing",
    getter: () => {
      calls++;
      throw new NotFoundError("no such row");
    },
  });
  const key = keys.find((k) => cluster.ownerOf(k) === cluster.ids[1]) as string;
  const error = await groups[0]?.get(key).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(NotFoundError);
  expect((error as NotFoundError).message).toContain("no such row");
  expect(calls).toBe(1);
  expect(groups[0]?.stats).toMatchObject({ localLoads: 0, peerErrors: 0 });
  await cluster.close();
});

test("a peer's answer is a copy of the owner's bytes, as over a wire", async () => {
  const cluster = createMemoryCluster({ peers: 2 });
  const groups = cluster.newGroup({ name: "g", codec: stringCodec, getter: (key) => `value of ${key}` });
  const owner = cluster.ids[1] as string;
  const key = keys.find((k) => cluster.ownerOf(k) === owner) as string;
  const { value } = await cluster.network.peerClient(owner).get("g", key, { signal: new AbortController().signal });
  expect(new TextDecoder().decode(value)).toBe(`value of ${key}`);
  value.fill(0);
  expect(await groups[1]?.get(key)).toBe(`value of ${key}`);
  expect(await groups[0]?.get(key)).toBe(`value of ${key}`);
  await cluster.close();
});

test("ids, replicas and hash given: every node's ring is the Ring of those ids", async () => {
  const ids = ["10.0.0.2:8080", "10.0.0.1:8080", "[fd00::1]:8080"];
  const hash = (data: string) => [...data].reduce((h, c) => (h * 31 + (c.codePointAt(0) ?? 0)) >>> 0, 7);
  const cluster = createMemoryCluster({ peers: ids, replicas: 7, hash });
  expect(cluster.ids).toEqual(ids);
  const ring = new Ring(ids, { replicas: 7, hash });
  for (let k = 0; k < 200; k++) {
    expect(cluster.ownerOf(`k${k}`)).toBe(ring.get(`k${k}`));
    for (const cache of cluster.caches) expect(cache.ownerOf(`k${k}`)).toBe(ring.get(`k${k}`));
  }
  expect(cluster.cacheOf("10.0.0.1:8080")).toBe(cluster.caches[1]);
  await cluster.close();
});

test("bad options and unknown nodes fail with invalid-argument; a second group of a name with already-exists", async () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return error instanceof GroupCacheError ? `${error.code}: ${error.message}` : String(error);
    }
    return "no error";
  };
  expect(code(() => createMemoryCluster({ peers: 0 }))).toBe(
    "invalid-argument: peers must be an integer from 1 to 1000, got 0",
  );
  expect(code(() => createMemoryCluster({ peers: ["a", "a"] }))).toBe(
    'invalid-argument: peers must name at least one node, each once, got ["a","a"]',
  );
  expect(code(() => createMemoryCluster({ peers: [] }))).toBe(
    "invalid-argument: peers must name at least one node, each once, got []",
  );
  expect(code(() => createMemoryCluster({ peers: "a,b" as unknown as string[] }))).toMatch(
    /^invalid-argument: peers must be an array/,
  );
  const cluster = createMemoryCluster({ peers: 2 });
  expect(code(() => cluster.cacheOf("node-3:1"))).toBe(
    'invalid-argument: no node "node-3:1" in this cluster of node-1:1, node-2:1',
  );
  expect(code(() => cluster.stop("node-3:1"))).toMatch(/^invalid-argument: no node "node-3:1"/);
  cluster.newGroup({ name: "g", getter: () => "v" });
  expect(code(() => cluster.newGroup({ name: "g", getter: () => "v" }))).toMatch(/^already-exists: /);
  await cluster.close();
  expect(code(() => cluster.ownerOf("k"))).toBe("closed: the cluster is closed: no node owns any key");
});

test("MemoryNetwork: a node that is not listening answers unavailable, and the request is counted", async () => {
  const network = new MemoryNetwork();
  const a = network.add("a:1");
  a.newGroup({ name: "g", getter: (key) => `value of ${key}` });
  const signal = new AbortController().signal;
  const error = await network
    .peerClient("b:1")
    .get("g", "k", { signal })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(GroupCacheError);
  expect((error as GroupCacheError).code).toBe("unavailable");
  const unknown = await network
    .peerClient("a:1")
    .get("nope", "k", { signal })
    .catch((e: unknown) => e);
  expect((unknown as GroupCacheError).code).toBe("unknown-group");
  expect(Object.fromEntries(network.requests)).toEqual({ "a:1": 1, "b:1": 1 });
  network.disconnect("a:1");
  expect(network.isListening("a:1")).toBe(false);
  await a.close();
});

// The example of the README's "Testing your application", as written there.
test("each user is loaded once, by its owner, whichever node is asked", async () => {
  const cluster = createMemoryCluster({ peers: 3 });
  const loaded: string[] = [];
  const users = cluster.newGroup({
    name: "users",
    codec: stringCodec,
    hotPolicy: neverHot, // no node mirrors what it fetched: counts stay exact
    getter: (id) => {
      loaded.push(id); // your database call
      return `user ${id}`;
    },
  });

  // Every node asks for users 1 to 10, all at once: each is loaded once.
  const ids = Array.from({ length: 10 }, (_, i) => String(i + 1));
  await Promise.all(users.flatMap((group) => ids.map((id) => group.get(id))));
  expect(loaded.sort()).toEqual([...ids].sort());

  // User 7's owner stops answering: the two others load it themselves.
  cluster.stop(cluster.ownerOf("7"));
  expect(await Promise.all(users.map((group) => group.get("7")))).toEqual(["user 7", "user 7", "user 7"]);
  expect(loaded.filter((id) => id === "7")).toHaveLength(3);
  await cluster.close();
});
