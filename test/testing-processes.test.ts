import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { GroupCacheError } from "../src/index.ts";
import { srvName, startPeer, stringCodec } from "../src/runtime/node.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import { setPods, startDnsServer } from "../src/testing/dns-server.ts";
import { defaultPeerCommand, type PeerProcess, peerScript, startPeerProcess } from "../src/testing/peer-process.ts";
import { expectedValue } from "../src/testing/protocol.ts";

// The process harness of groupcache/testing as a user meets it: peer
// processes started with the runtime running the tests, found through a
// real DNS server over UDP. Node only (it starts processes).

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ size: 3, config: { groups: [{ name: "g", hot: "never" }] } });
});
afterAll(async () => {
  await cluster?.close();
});

test("the peer script is the one beside the harness, run by the current runtime", () => {
  expect(peerScript).toBe(new URL("../src/testing/peer.ts", import.meta.url).pathname);
  expect(defaultPeerCommand()).toEqual([process.execPath]);
});

test("ownerOf names the process that loads each key", async () => {
  const keys = Array.from({ length: 30 }, (_, i) => `owned-${i}`);
  const { results } = await cluster.peer(0).request("getMany", { group: "g", keys });
  expect(results).toEqual(keys.map((key) => ({ ok: true, value: expectedValue(key) })));
  for (const peer of cluster.peers) {
    const { getterCalls } = await peer.request("stats", { group: "g" });
    const owned = keys.filter((key) => cluster.ownerOf(key) === peer);
    expect(owned.length).toBeGreaterThan(0);
    expect(getterCalls).toEqual(Object.fromEntries(owned.map((key) => [key, 1])));
  }
});

test("a refused command rejects with invalid-argument and the peer's message", async () => {
  const error = await cluster
    .peer(1)
    .request("stats", { group: "nope" })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(GroupCacheError);
  expect((error as GroupCacheError).code).toBe("invalid-argument");
  expect((error as GroupCacheError).message).toBe(
    `peer ${cluster.peer(1).id} (pid ${cluster.peer(1).pid}) no group "nope" in this peer`,
  );
});

test("a command that cannot be started rejects with unavailable", async () => {
  const error = await startPeerProcess({}, { command: ["/nonexistent/groupcache-runtime"] }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(GroupCacheError);
  expect((error as GroupCacheError).code).toBe("unavailable");
  expect((error as GroupCacheError).message).toMatch(
    /^peer process \/nonexistent\/groupcache-runtime .*exited before it was ready/,
  );
});

// The example of the README's "Testing your application", as written there.
test("README: the app finds two peer processes through DNS and gets each key from its owner", async () => {
  // Two peer processes with the group "fib" (their getter answers
  // expectedValue(key)), and a DNS server on 127.0.0.1 that lists them as
  // a headless Service would.
  const peers = await startCluster({ size: 2, config: { groups: [{ name: "fib" }] } });
  const dns = await startDnsServer();
  setPods(dns.zone, srvName({ service: "fib", namespace: "default" }), peers.ids);

  // The app under test, configured as in Kubernetes but for the DNS server.
  const { promise: found, resolve } = Promise.withResolvers<void>();
  const app = await startPeer({
    host: "127.0.0.1",
    peers: { dns: { service: "fib", namespace: "default", server: dns.address } },
    onPeers: (ids) => ids.length === 3 && resolve(),
    drainMs: 0, // a test: nobody routes keys here after it
  });
  const fib = app.cache.newGroup({ name: "fib", codec: stringCodec, getter: (key) => expectedValue(key) });
  await found;
  await peers.setPeers([...peers.ids, app.self]);

  const keys = Array.from({ length: 20 }, (_, i) => `n-${i}`);
  expect(await Promise.all(keys.map((key) => fib.get(key)))).toEqual(keys.map((key) => expectedValue(key)));
  for (const peer of peers.peers) {
    const { getterCalls } = await peer.request("stats", { group: "fib" });
    expect(Object.keys(getterCalls).sort()).toEqual(keys.filter((key) => app.cache.ownerOf(key) === peer.id).sort());
  }
  await app.close();
  await dns.stop();
  await peers.close();
});

test("peer processes configured with dns follow the SRV records; a non-member client owns no key; leave keeps the stats", async () => {
  const dns = await startDnsServer();
  const name = srvName({ service: "procs", namespace: "default" });
  const found = { server: dns.address, service: "procs", namespace: "default", intervalMs: 100 };
  const groups = [{ name: "g", hot: "never" as const }];
  const processes = await Promise.all([
    startPeerProcess({ groups, drainMs: 200, dns: found }),
    startPeerProcess({ groups, dns: found }),
    startPeerProcess({ groups, dns: { ...found, member: false } }),
  ]);
  const [a, b, client] = processes as [PeerProcess, PeerProcess, PeerProcess];
  try {
    setPods(dns.zone, name, [a.id, b.id]);
    const listed = [a.id, b.id].sort();
    await vi.waitFor(
      async () => {
        for (const p of processes) expect((await p.request("peers", {})).peers).toEqual(listed);
      },
      { timeout: 10_000, interval: 50 },
    );

    // 40 gets paced at 400/s: the last starts 97.5 ms after the first (unpaced, all would start at once).
    const keys = Array.from({ length: 20 }, (_, i) => `k-${i}`);
    const args = { group: "g", keys, concurrency: 2, ratePerSec: 400, durationMs: 10_000, maxOps: 40 };
    const load = await client.request("load", args);
    expect(load.latencyUs).toHaveLength(40);
    expect(load.failed).toEqual([]);
    expect(Math.max(...load.startMs)).toBeGreaterThanOrEqual(97.5);
    const counts = await Promise.all(
      processes.map(async (p) => (await p.request("stats", { group: "g" })).getterTotal),
    );
    expect(counts[2]).toBe(0);
    expect((counts[0] ?? 0) + (counts[1] ?? 0)).toBe(keys.length);

    // A graceful shutdown: out of its ring, closed, yet its counters can be read.
    setPods(dns.zone, name, [b.id]);
    await a.request("leave", {});
    expect((await a.request("peers", {})).peers).toEqual([]);
    expect((await a.request("stats", { group: "g" })).getterTotal).toBe(counts[0]);

    // A load runs until loadStop when that comes first.
    const long = client.request("load", { ...args, durationMs: 30_000, maxOps: 1_000_000 });
    expect(await client.request("loadStop", {})).toEqual({ stopped: true });
    expect((await long).failed).toEqual([]);
    expect(await client.request("loadStop", {})).toEqual({ stopped: false });
  } finally {
    await Promise.all(processes.map((p) => p.kill()));
    await dns.stop();
  }
});
