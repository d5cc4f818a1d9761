import { afterAll, beforeAll, expect, test } from "vitest";
import { Ring } from "../src/core/ring.ts";
import { Cluster } from "../src/testing/cluster.ts";
import { type PeerProcess, startPeerProcess } from "../src/testing/peer-process.ts";
import { expectedValue, type PeerStats } from "../src/testing/protocol.ts";

// One ring of three peer processes on three runtimes: Node, Bun and Deno,
// each with its own HTTP/2 server and gRPC clients, talking over loopback.

const bin = (name: string) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
const runtimes = [
  { name: "node", command: [bin("node")] },
  { name: "bun", command: [bin("bun")] },
  { name: "deno", command: [bin("deno"), "run", "-A"] },
] as const;

let cluster: Cluster;
beforeAll(async () => {
  const peers: PeerProcess[] = [];
  try {
    for (const runtime of runtimes)
      peers.push(await startPeerProcess({}, { command: runtime.command, startTimeoutMs: 30_000 }));
  } catch (error) {
    await Promise.all(peers.map((p) => p.kill()));
    throw error;
  }
  cluster = new Cluster(peers);
  await cluster.setPeers();
});
afterAll(async () => {
  await cluster?.close();
});

/** Every live peer's stats for `group`, with `undefined` for dead peers. */
async function stats(group: string): Promise<(PeerStats | undefined)[]> {
  return Promise.all(cluster.peers.map((p) => (p.alive ? p.request("stats", { group }) : undefined)));
}

test("a Node, a Bun and a Deno peer share one ring: a herd costs exactly one load per key, right bytes everywhere", async () => {
  await Promise.all(cluster.peers.map((p) => p.request("newGroup", { name: "mixed", getterDelayMs: 30 })));
  const keys = Array.from({ length: 60 }, (_, i) => `mixed-${i}`);
  const ring = new Ring(cluster.ids);
  expect(new Set(keys.map((k) => ring.get(k))).size).toBe(3);
  // 600 gets: every runtime asks for every key, ten times over, all at once.
  const perPeer = cluster.peers.map(() => Array.from({ length: 200 }, (_, i) => keys[i % keys.length] as string));
  const replies = await Promise.all(
    cluster.peers.map((peer, p) => peer.request("getMany", { group: "mixed", keys: perPeer[p] as string[] })),
  );
  replies.forEach((reply, p) => {
    expect(reply.results).toEqual((perPeer[p] as string[]).map((key) => ({ ok: true, value: expectedValue(key) })));
  });
  const all = await stats("mixed");
  for (const key of keys) {
    const calls = all.map((s) => s?.getterCalls[key] ?? 0);
    expect(
      calls.reduce((a, b) => a + b, 0),
      key,
    ).toBe(1);
    expect(calls[cluster.ids.indexOf(ring.get(key) as string)], key).toBe(1);
  }
  expect(all.reduce((n, s) => n + (s?.stats.peerErrors ?? 0), 0)).toBe(0);
  expect(all.every((s) => (s?.stats.serverRequests ?? 0) > 0)).toBe(true);
});

test.each(runtimes.map((r, i) => [r.name, i] as const))(
  "with the %s peer killed, the others fall back to local loads and keep answering",
  async (_name, index) => {
    const group = `after-kill-${index}`;
    const victim = cluster.peer(index);
    const survivors = cluster.peers.filter((p) => p !== victim && p.alive);
    await Promise.all(cluster.peers.filter((p) => p.alive).map((p) => p.request("newGroup", { name: group })));
    await victim.kill("SIGKILL");
    const ring = new Ring(cluster.ids);
    const orphans = Array.from({ length: 300 }, (_, i) => `${group}-${i}`)
      .filter((k) => ring.get(k) === victim.id)
      .slice(0, 10);
    expect(orphans).toHaveLength(10);
    for (const peer of survivors) {
      const reply = await peer.request("getMany", { group, keys: orphans });
      expect(reply.results).toEqual(orphans.map((key) => ({ ok: true, value: expectedValue(key) })));
      const s = await peer.request("stats", { group });
      // Each orphan: one failed fetch from the dead owner, then a local load.
      expect(s.stats).toMatchObject({ peerErrors: orphans.length, localLoads: orphans.length, peerLoads: 0 });
    }
  },
);
