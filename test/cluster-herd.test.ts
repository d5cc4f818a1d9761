import { afterAll, beforeAll, expect, test } from "vitest";
import { Ring } from "../src/core/ring.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import { expectedValue, type PeerStats } from "../src/testing/protocol.ts";

// Three peers, each its own OS process, talking gRPC over HTTP/2 on loopback.

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ size: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

async function stats(group: string): Promise<PeerStats[]> {
  return Promise.all(cluster.peers.map((p) => p.request("stats", { group })));
}

test("thundering herd: 1,000 concurrent gets of 100 keys over 3 processes call the getter exactly 100 times", async () => {
  await Promise.all(cluster.peers.map((p) => p.request("newGroup", { name: "herd", getterDelayMs: 50 })));
  const keys = Array.from({ length: 100 }, (_, i) => `herd-${i}`);
  const ring = new Ring(cluster.ids);
  const owners = new Set(keys.map((k) => ring.get(k)));
  expect(owners.size).toBe(3); // the keys really are spread over every peer

  // Gets 0..999 over keys i % 100, dealt round-robin to the three processes,
  // so every process asks for keys owned by each peer.
  const perPeer = cluster.peers.map((_, p) =>
    Array.from({ length: 1000 }, (_, i) => i)
      .filter((i) => i % 3 === p)
      .map((i) => keys[i % 100] as string),
  );
  const replies = await Promise.all(
    cluster.peers.map((peer, p) => peer.request("getMany", { group: "herd", keys: perPeer[p] as string[] })),
  );

  let gets = 0;
  replies.forEach((reply, p) => {
    reply.results.forEach((result, i) => {
      gets++;
      expect(result).toEqual({ ok: true, value: expectedValue((perPeer[p] as string[])[i] as string) });
    });
  });
  expect(gets).toBe(1000);

  const all = await stats("herd");
  expect(all.reduce((n, s) => n + s.getterTotal, 0)).toBe(100);
  // Each key was loaded once, by its owner.
  for (const key of keys) {
    const calls = cluster.peers.map((_, p) => (all[p] as PeerStats).getterCalls[key] ?? 0);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(1);
    expect(calls[cluster.ids.indexOf(ring.get(key) as string)]).toBe(1);
  }
  expect(all.reduce((n, s) => n + (s.stats.peerErrors ?? 0), 0)).toBe(0);
  expect(all.reduce((n, s) => n + (s.stats.gets ?? 0) - (s.stats.serverRequests ?? 0), 0)).toBe(1000);
});

test("a group the owner does not have (FAILED_PRECONDITION) is a peer error: the key is loaded locally", async () => {
  // "solo" exists only on peer 0: its peers answer FAILED_PRECONDITION, and peer 0 loads locally.
  await cluster.peer(0).request("newGroup", { name: "solo" });
  const ring = new Ring(cluster.ids);
  const key = Array.from({ length: 200 }, (_, i) => `solo-${i}`).find((k) => ring.get(k) !== cluster.ids[0]) as string;
  expect(await cluster.peer(0).request("get", { group: "solo", key })).toEqual({ ok: true, value: expectedValue(key) });
  const s = await cluster.peer(0).request("stats", { group: "solo" });
  expect(s.stats).toMatchObject({ peerErrors: 1, localLoads: 1, peerLoads: 0 });
});
