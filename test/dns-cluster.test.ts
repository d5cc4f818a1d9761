import { afterAll, beforeAll, expect, test } from "vitest";
import { connectDiscovery, type Membership } from "../src/core/membership.ts";
import { formatPeerId } from "../src/core/peer-id.ts";
import { createDnsSrvDiscovery, type DnsSrvDiscovery } from "../src/discovery/dns-srv.ts";
import { type Group, type GroupCache, neverHot, stringCodec } from "../src/index.ts";
import { setPods, startDnsServer, type TestDnsServer } from "../src/testing/dns-server.ts";
import { MemoryNetwork } from "../src/testing/memory-network.ts";
import { testResolver } from "./helpers/test-resolver.ts";
import { Recorder } from "./helpers/watch.ts";

// Several caches in one process discover each other through a real DNS
// server on 127.0.0.1 (UDP) playing a headless Service, and reach each other
// through an in-memory PeerClient. The DNS answers change as pods come and go.

const srv = "_groupcache._tcp.fib.default.svc.cluster.local";
const intervalMs = 150;
const jitter = 0.2;
/** A change must be seen within one (jittered) interval plus a lookup. */
const convergeMs = intervalMs * (1 + jitter) + 400;
const ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
const ids = ips.map((ip) => formatPeerId(ip, 8080));
const pods = (n: number) => ips.slice(0, n).map((ip) => ({ ip, port: 8080 }));

interface Node {
  id: string;
  cache: GroupCache;
  group: Group<string, string>;
  discovery: DnsSrvDiscovery;
  membership: Membership;
  recorder: Recorder;
}

let dns: TestDnsServer;
const network = new MemoryNetwork();
/** Getter calls per key, over the whole cluster. */
const backendLoads = new Map<string, number>();
/** The owners each key has had, over the phases. */
const owners = new Map<string, Set<string>>();
const nodes = new Map<string, Node>();
const measured: number[] = [];

function startNode(id: string): Node {
  // No peeks (peekWindowMs 0): the counts below are one load per owner, and
  // whether a peek beats its deadline is timing, not what this file tests.
  const cache = network.add(id, { peekWindowMs: 0 });
  const group = cache.newGroup<string, string>({
    name: "fib",
    codec: stringCodec,
    hotPolicy: neverHot, // keeps backend loads exact: no mirrors
    getter: (key) => {
      backendLoads.set(key, (backendLoads.get(key) ?? 0) + 1);
      return `value of ${key}`;
    },
  });
  const discovery = createDnsSrvDiscovery({
    resolver: testResolver(dns.address),
    service: "fib",
    namespace: "default",
    intervalMs,
    jitter,
    lookupTimeoutMs: 1000,
  });
  const recorder = new Recorder();
  const membership = connectDiscovery(cache, discovery, {
    onChange: recorder.onChange,
    onError: recorder.onError,
  });
  const node = { id, cache, group, discovery, membership, recorder };
  nodes.set(id, node);
  return node;
}

async function stopNode(node: Node): Promise<void> {
  await node.membership.close();
  await node.cache.close();
  network.disconnect(node.id);
  nodes.delete(node.id);
}

/** Waits until every running node's ring is `expected`; returns the time it took. */
async function converge(expected: string[]): Promise<number> {
  const start = performance.now();
  await Promise.all(
    [...nodes.values()].map((node) =>
      node.recorder.until(
        () => node.cache.peers.join() === expected.join(),
        convergeMs,
        `${node.id} to see [${expected.join(", ")}] (has [${node.cache.peers.join(", ")}])`,
      ),
    ),
  );
  const elapsed = performance.now() - start;
  measured.push(elapsed);
  return elapsed;
}

/** Gets every key from every node; checks the bytes and records owners. */
async function getEverywhere(keys: string[]): Promise<void> {
  const running = [...nodes.values()];
  for (const key of keys) {
    const owner = running[0]?.cache.ownerOf(key) as string;
    for (const node of running) expect(node.cache.ownerOf(key)).toBe(owner);
    const seen = owners.get(key) ?? new Set();
    seen.add(owner);
    owners.set(key, seen);
  }
  const values = await Promise.all(running.flatMap((node) => keys.map((key) => node.group.get(key))));
  values.forEach((value, i) => {
    expect(value).toBe(`value of ${keys[i % keys.length]}`);
  });
}

/** Every key was loaded once per distinct owner it has had: once, for a key whose owner never changed. */
function expectOneLoadPerOwner(keys: string[]): void {
  for (const key of keys) expect(backendLoads.get(key), key).toBe(owners.get(key)?.size);
}

const keysOf = (prefix: string) => Array.from({ length: 60 }, (_, i) => `${prefix}-${i}`);

beforeAll(async () => {
  dns = await startDnsServer();
});

afterAll(async () => {
  for (const node of [...nodes.values()]) await stopNode(node);
  await dns.stop();
  console.log(
    `ring convergence after a dns change (poll ${intervalMs} ms ±20%): ${measured.map((ms) => ms.toFixed(0)).join(", ")} ms`,
  );
});

test("three pods find each other and each key is loaded once in the cluster", async () => {
  setPods(dns.zone, srv, pods(3));
  for (const id of ids.slice(0, 3)) startNode(id);
  await converge(ids.slice(0, 3));
  const keys = keysOf("a");
  await getEverywhere(keys);
  await getEverywhere(keys); // all hits now
  for (const key of keys) expect(backendLoads.get(key)).toBe(1);
  // Each node's getter ran exactly for the keys it owns.
  for (const node of nodes.values()) {
    const own = keys.filter((key) => node.cache.ownerOf(key) === node.id).length;
    expect(node.group.stats.localLoads).toBe(own);
  }
});

test("a fourth pod joins: every ring converges within the poll interval", async () => {
  const fourth = startNode(ids[3] as string);
  // Before DNS lists it, the new pod is already in its own ring.
  await fourth.recorder.until(() => fourth.cache.peers.join() === ids.join(), convergeMs, "the new pod's first ring");
  setPods(dns.zone, srv, pods(4));
  const elapsed = await converge(ids);
  expect(elapsed).toBeLessThan(convergeMs);
  const fresh = keysOf("b");
  await getEverywhere(fresh);
  for (const key of fresh) expect(backendLoads.get(key)).toBe(1);
  const old = keysOf("a");
  await getEverywhere(old);
  expectOneLoadPerOwner(old);
  // Some keys moved to the new pod: those, and only those, loaded again.
  expect(old.filter((key) => backendLoads.get(key) === 2).length).toBe(
    old.filter((key) => fourth.cache.ownerOf(key) === fourth.id).length,
  );
});

test("two pods drain and leave: the rest converge and keep serving the right bytes", async () => {
  const leaving = [nodes.get(ids[2] as string), nodes.get(ids[3] as string)] as Node[];
  // SIGTERM: each leaving pod first drops itself from its own ring...
  for (const node of leaving) node.membership.leave();
  for (const node of leaving) {
    expect(node.cache.peers).not.toContain(node.id);
    expect(node.cache.ownerOf("a-1")).not.toBe(node.id);
  }
  // ...while still serving peers that send it requests (its readiness
  // probe fails, so the endpoints controller removes it from DNS).
  setPods(dns.zone, srv, pods(2));
  const elapsed = await converge(ids.slice(0, 2));
  expect(elapsed).toBeLessThan(convergeMs);
  for (const node of leaving) await stopNode(node);
  const fresh = keysOf("c");
  await getEverywhere(fresh);
  for (const key of fresh) expect(backendLoads.get(key)).toBe(1);
  for (const prefix of ["a", "b"]) {
    await getEverywhere(keysOf(prefix));
    expectOneLoadPerOwner(keysOf(prefix));
  }
  for (const node of nodes.values()) {
    expect(node.recorder.errors).toEqual([]);
    expect(node.discovery.stats.failures).toBe(0);
  }
});
