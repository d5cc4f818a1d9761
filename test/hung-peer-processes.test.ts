import process from "node:process";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Ring } from "../src/core/ring.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import type { PeerProcess } from "../src/testing/peer-process.ts";
import { expectedValue } from "../src/testing/protocol.ts";

// A hung peer across real processes over gRPC, with default options: one of
// three peers is stopped (SIGSTOP: alive, its connections open, silent).
// Gets of its keys, with a 2 s deadline, all succeed: its silence is
// noticed by an unanswered HTTP/2 PING, it is taken out of routing, and each
// of its keys is loaded once by the asking peer. Resumed (SIGCONT), it is
// probed and taken back. Node only (it starts processes).

const keys = Array.from({ length: 120 }, (_, i) => `hung-${i}`);
let cluster: Cluster;
let a: PeerProcess;
let b: PeerProcess;
let c: PeerProcess;
beforeAll(async () => {
  // Three processes starting at once on a crowded 2-core machine took ~20 s.
  cluster = await startCluster({
    size: 3,
    startTimeoutMs: 60_000,
    // The library's PING deadline (the harness defaults to 2 s).
    config: { groups: [{ name: "g", hot: "never" }], clientPingTimeoutMs: 1_000 },
  });
  [a, b, c] = cluster.peers as [PeerProcess, PeerProcess, PeerProcess];
});
afterAll(async () => {
  if (c?.alive) process.kill(c.pid, "SIGCONT");
  await cluster?.close();
});

/** `peer`'s state of `other` as `peerStates` reports it. */
async function stateOf(peer: PeerProcess, other: PeerProcess) {
  const { states } = await peer.request("peerStates", {});
  return states.find((s) => s.peer === other.id);
}

/** Waits until `peer` reports `other` in `state`: across processes there is no event to wait on, so a poll, bounded. */
async function untilState(peer: PeerProcess, other: PeerProcess, state: string, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await stateOf(peer, other);
    if (s?.state === state) return s;
    if (performance.now() > deadline)
      throw new Error(`${other.id} still ${s?.state} on ${peer.id} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Getter calls per key that `after` counts beyond `before`. */
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after)) if (n !== (before[key] ?? 0)) out[key] = n - (before[key] ?? 0);
  return out;
}
const once = (ks: readonly string[]) => Object.fromEntries([...ks].sort().map((k) => [k, 1]));

test("SIGSTOP one of 3 peers: 0 failed gets, each of its keys loaded once by each asker; SIGCONT: probed and taken back", async () => {
  const ok = (ks: readonly string[]) => ks.map((key) => ({ ok: true, value: expectedValue(key) }));
  // Warm the connections and the code paths, and let any false alarm of a
  // cold start (a fresh process can be slow to ack a PING on a crowded
  // machine) clear before measuring.
  const warm = Array.from({ length: 60 }, (_, i) => `warm-${i}`);
  for (const p of [a, b]) expect((await p.request("getMany", { group: "g", keys: warm })).results).toEqual(ok(warm));
  for (const [p, q] of [
    [a, b],
    [a, c],
    [b, a],
    [b, c],
  ] as const)
    await untilState(p, q, "up");

  const ring = new Ring(cluster.ids);
  const ofC = keys.filter((k) => ring.get(k) === c.id);
  // Keys of c left unread until it is back, to show it is asked again.
  const later = ofC.slice(-3);
  const hungKeys = ofC.slice(0, -3);
  const early = keys.filter((k) => !later.includes(k));
  const ofA = early.filter((k) => ring.get(k) === a.id);
  const ofB = early.filter((k) => ring.get(k) === b.id);
  expect(hungKeys.length).toBeGreaterThan(10);
  const before = await Promise.all([a, b, c].map((p) => p.request("stats", { group: "g" })));

  process.kill(c.pid, "SIGSTOP");
  const stoppedAt = performance.now();
  // Every key from a and from b, all at once, each get with a 2 s deadline.
  const [fromA, fromB] = await Promise.all(
    [a, b].map((p) => p.request("getMany", { group: "g", keys: early, timeoutMs: 2_000 })),
  );
  const tookMs = performance.now() - stoppedAt;
  expect(fromA?.results).toEqual(ok(early));
  expect(fromB?.results).toEqual(ok(early));
  // Noticed by a PING, well before the callers' deadline.
  expect(tookMs).toBeLessThan(2_000);
  for (const asker of [a, b]) {
    // The gets may have fallen back first (the owner gets half of their 2 s): the PING's verdict follows.
    const s = await untilState(asker, c, "down");
    expect(s?.reason).toBe(`peer ${c.id}: no answer to an HTTP/2 PING within pingTimeoutMs (1000 ms)`);
  }
  const during = await Promise.all([a, b].map((p) => p.request("stats", { group: "g" })));
  // Each owner loads its own keys once (for both askers); c's keys are loaded once by each asker.
  expect(delta(before[0]?.getterCalls ?? {}, during[0]?.getterCalls ?? {})).toEqual(once([...ofA, ...hungKeys]));
  expect(delta(before[1]?.getterCalls ?? {}, during[1]?.getterCalls ?? {})).toEqual(once([...ofB, ...hungKeys]));
  // What was in flight to c when it was dropped failed over: one peer error per key of c.
  expect((during[0]?.stats.peerErrors ?? 0) - (before[0]?.stats.peerErrors ?? 0)).toBe(hungKeys.length);
  expect(during[0]?.stats.localLoadErrs).toBe(0);

  process.kill(c.pid, "SIGCONT");
  const back = await untilState(a, c, "up");
  expect(back.reason).toBe("answered a probe");
  // Taken back: a key of c that a never read goes to c, which loads it (a does not).
  expect((await a.request("getMany", { group: "g", keys: later, timeoutMs: 2_000 })).results).toEqual(ok(later));
  const [afterA, afterC] = await Promise.all([a, c].map((p) => p.request("stats", { group: "g" })));
  expect(delta(during[0]?.getterCalls ?? {}, afterA?.getterCalls ?? {})).toEqual({});
  // (Once resumed, c also works through the requests that reached its socket while it was stopped.)
  const loadedByC = delta(before[2]?.getterCalls ?? {}, afterC?.getterCalls ?? {});
  expect(later.map((k) => loadedByC[k])).toEqual(later.map(() => 1));
  expect((afterA?.stats.peerLoads ?? 0) - (during[0]?.stats.peerLoads ?? 0)).toBe(later.length);
});
