import { afterEach, expect, test } from "vitest";
import { Ring } from "../src/core/ring.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import { expectedValue } from "../src/testing/protocol.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("owner killed with SIGKILL while loads are in flight: every get succeeds by a local load, peerErrors counted", async () => {
  // Peer 1's getter never returns, so its loads are in flight when it dies.
  cluster = await startCluster({
    size: 2,
    config: (i) => ({ groups: [{ name: "g", hot: "never", hang: i === 1 }] }),
  });
  const [a, b] = cluster.peers as [NonNullable<Cluster["peers"][0]>, NonNullable<Cluster["peers"][1]>];
  const ring = new Ring(cluster.ids);
  const owned = Array.from({ length: 400 }, (_, i) => `k-${i}`).filter((k) => ring.get(k) === b.id);
  const inFlight = owned.slice(0, 20);
  const later = owned.slice(20, 25);
  expect(inFlight.length).toBe(20);
  expect(later.length).toBe(5);

  // Three gets per key: one flight per key on A, one RPC per key to B.
  const keys = [...inFlight, ...inFlight, ...inFlight];
  const pending = a.request("getMany", { group: "g", keys }, 15_000);
  expect(await b.request("waitGetterCalls", { group: "g", total: 20 })).toEqual({ total: 20 });

  const killedAt = performance.now();
  expect(await b.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
  const { results } = await pending;
  const recoveryMs = performance.now() - killedAt;
  results.forEach((r, i) => {
    expect(r).toEqual({ ok: true, value: expectedValue(keys[i] as string) });
  });
  expect(recoveryMs).toBeLessThan(5_000);

  // Keys of the dead owner asked for afterwards: refused connection, local load.
  const after = await a.request("getMany", { group: "g", keys: later });
  expect(after.results).toEqual(later.map((k) => ({ ok: true, value: expectedValue(k) })));

  const s = await a.request("stats", { group: "g" });
  expect(s.getterTotal).toBe(25);
  expect(s.stats).toMatchObject({ gets: 65, loadsDeduped: 25, peerErrors: 25, peerLoads: 0, localLoads: 25 });
});

test("two peers with different member lists (each thinks the other owns the key) both complete: no forwarding loop", async () => {
  cluster = await startCluster({ size: 2, connect: false, config: { groups: [{ name: "g", hot: "never" }] } });
  const [a, b] = cluster.peers as [NonNullable<Cluster["peers"][0]>, NonNullable<Cluster["peers"][1]>];
  // A's ring holds only B, B's only A: every key belongs to "the other one".
  await a.request("setPeers", { peers: [b.id] });
  await b.request("setPeers", { peers: [a.id] });

  const [fromA, fromB] = await Promise.all([
    a.request("get", { group: "g", key: "contested" }, 10_000),
    b.request("get", { group: "g", key: "contested" }, 10_000),
  ]);
  expect(fromA).toEqual({ ok: true, value: expectedValue("contested") });
  expect(fromB).toEqual({ ok: true, value: expectedValue("contested") });

  // Each answered the other's request with a local load and never forwarded it.
  for (const peer of [a, b]) {
    const s = await peer.request("stats", { group: "g" });
    expect(s.getterCalls).toEqual({ contested: 1 });
    expect(s.stats).toMatchObject({ gets: 2, serverRequests: 1, peerLoads: 1, peerErrors: 0, localLoads: 1 });
  }
});
