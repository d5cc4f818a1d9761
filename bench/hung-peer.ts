/**
 * What a hung peer costs a cluster: one of 3 peer processes is stopped
 * (SIGSTOP: alive, its connections open, answering nothing, as in a GC
 * storm or a saturated event loop) while the other two run a steady
 * closed-loop load over every key, then resumed (SIGCONT). With default
 * options, it prints per phase (before, while it hangs, after) the
 * cluster's throughput, the failed gets, and p50/p99 of the hung peer's
 * keys and of the other keys; also when the drivers marked it down and
 * took it back, and the getter calls its keys cost them.
 *
 * The load is 8 loops (4 on each of the two other peers) reading every key
 * in turn, each get with a 2 s deadline (`timeoutMs`), as an application's
 * front end would ask. Hot caches are off, so every get of a key owned by
 * another peer crosses the wire until that peer is marked down, and the
 * load counts are exact.
 *
 *   node bench/hung-peer.ts           # 3 s before, 10 s hung, 3 s after
 *   node bench/hung-peer.ts --quick   # 1 s, 2 s, 1 s: checks it runs
 */
import { loadavg } from "node:os";
import process from "node:process";
import { Ring } from "../src/core/ring.ts";
import { startCluster } from "../src/testing/cluster.ts";
import { sharedClockMs } from "../src/testing/paced-load.ts";
import type { PeerProcess } from "../src/testing/peer-process.ts";
import type { LoadResult } from "../src/testing/protocol.ts";
import { fmt, printTable, quantile, quick } from "./support/stats.ts";

const keyCount = quick ? 150 : 600;
const beforeMs = quick ? 1_000 : 3_000;
const hangMs = quick ? 2_000 : 10_000;
const afterMs = quick ? 1_000 : 3_000;
const loopsPerDriver = 4;
const deadlineMs = 2_000;
/** A bound on each driver's load; it is stopped once the phases are over. */
const maxOps = 2_000_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A window of the shared clock. */
interface Window {
  from: number;
  to: number;
}

/** The gets of `loads` that started in `window` and match `pick`: their latencies (ms) and failures. */
function getsIn(loads: readonly LoadResult[], window: Window, pick: (key: string) => boolean, keys: string[][]) {
  const latencies: number[] = [];
  let failed = 0;
  loads.forEach((load, d) => {
    const failedSet = new Set(load.failed);
    for (let i = 0; i < load.startMs.length; i++) {
      const at = load.startedAt + (load.startMs[i] as number);
      if (at < window.from || at >= window.to || !pick((keys[d] as string[])[i] as string)) continue;
      latencies.push((load.latencyUs[i] as number) / 1000);
      if (failedSet.has(i)) failed++;
    }
  });
  return { latencies, failed };
}

/** Gets completed per second within `window`, over every driver. */
function throughput(loads: readonly LoadResult[], window: Window): number {
  let done = 0;
  for (const load of loads) {
    for (let i = 0; i < load.startMs.length; i++) {
      const end = load.startedAt + (load.startMs[i] as number) + (load.latencyUs[i] as number) / 1000;
      if (end >= window.from && end < window.to) done++;
    }
  }
  return (done * 1000) / (window.to - window.from);
}

/** When `driver` first reported `peer` in `state` after `after`, polled every 20 ms until `untilMs` (shared clock). */
async function watchState(driver: PeerProcess, peer: string, state: string, after: number, untilMs: number) {
  while (sharedClockMs() < untilMs) {
    const reply = await driver.request("peerStates", {}).catch(() => undefined);
    if (reply === undefined) return undefined; // a peer without peerStates (code before health checks)
    const s = reply.states.find((x) => x.peer === peer);
    if (s !== undefined && s.state === state && s.sinceMs >= after) return s.sinceMs;
    await sleep(20);
  }
  return undefined;
}

const started = performance.now();
console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.log(
  `${keyCount} warm keys over 3 peer processes, ${2 * loopsPerDriver} closed loops on 2 of them, ` +
    `${deadlineMs} ms deadline per get; peer 2 stopped for ${hangMs / 1000} s`,
);
const cluster = await startCluster({
  size: 3,
  // Three processes starting at once on a crowded 2-core machine took ~20 s.
  startTimeoutMs: 60_000,
  config: {
    groups: [
      { name: "g", hot: "never" },
      { name: "w", hot: "never" },
    ],
    // The library's default (the test harness's own default is longer).
    clientPingTimeoutMs: 1_000,
  },
});
try {
  const [a, b, c] = cluster.peers as [PeerProcess, PeerProcess, PeerProcess];
  const ring = new Ring(cluster.ids);
  const keys = Array.from({ length: keyCount }, (_, i) => `hung-${i}`);
  const hungKeys = new Set(keys.filter((k) => ring.get(k) === c.id));
  // Each owner loads its own keys of "g"; the drivers warm their
  // connections and code paths on group "w", so that a false alarm of a
  // cold start (a slow PING ack on a crowded machine) cannot leave keys of
  // "g" in a driver's cache. Then every driver must see every peer up.
  for (const p of cluster.peers) {
    const own = keys.filter((k) => ring.get(k) === p.id);
    const warm = await p.request("getMany", { group: "g", keys: own });
    if (warm.results.some((r) => !r.ok)) throw new Error(`warm-up failed: ${JSON.stringify(warm.results[0])}`);
  }
  for (const p of [a, b]) await p.request("getMany", { group: "w", keys });
  for (const p of [a, b]) {
    for (const other of cluster.peers) {
      if (other !== p && (await watchState(p, other.id, "up", 0, sharedClockMs() + 10_000)) === undefined) {
        console.log(`(${other.id} not up on ${p.id} after 10 s of warm-up, or no peerStates)`);
      }
    }
  }
  const callsBefore = await Promise.all([a, b].map((p) => p.request("stats", { group: "g" })));
  // Each driver reads the keys in its own order, so the two do not ask for the same key at once.
  const orders = [keys, [...keys].reverse()];
  const loading = [a, b].map((p, d) =>
    p.request(
      "load",
      {
        group: "g",
        keys: orders[d] as string[],
        concurrency: loopsPerDriver,
        ratePerSec: 1e9,
        durationMs: 1e12,
        maxOps,
        timeoutMs: deadlineMs,
      },
      beforeMs + hangMs + afterMs + 120_000,
    ),
  );
  // Awaited below; if anything fails first, closing the cluster rejects them: not the error to report.
  for (const l of loading) l.catch(() => {});
  const t0 = sharedClockMs();
  await sleep(beforeMs);
  const stopAt = sharedClockMs();
  process.kill(c.pid, "SIGSTOP");
  const down = watchState(a, c.id, "down", stopAt, stopAt + hangMs);
  await sleep(hangMs);
  const contAt = sharedClockMs();
  process.kill(c.pid, "SIGCONT");
  const downAt = await down;
  const upAt = await watchState(a, c.id, "up", contAt, contAt + afterMs);
  const remaining = contAt + afterMs - sharedClockMs();
  if (remaining > 0) await sleep(remaining);
  const endAt = sharedClockMs();
  await Promise.all([a, b].map((p) => p.request("loadStop", {})));
  const loads = await Promise.all(loading);
  const callsAfter = await Promise.all([a, b].map((p) => p.request("stats", { group: "g" })));

  // Each get's key, per driver: the load reads its key list in order, over and over.
  const keysOf = loads.map((load, d) => {
    const order = orders[d] as string[];
    return load.startMs.map((_, i) => order[i % order.length] as string);
  });
  const phases: [string, Window][] = [
    ["before", { from: t0 + 200, to: stopAt }],
    ["hung", { from: stopAt, to: contAt }],
    ...(downAt === undefined ? [] : ([["hung, once down", { from: downAt, to: contAt }]] as [string, Window][])),
    ["after", { from: contAt, to: endAt }],
  ];
  const ms = (v: number) => (Number.isNaN(v) ? "-" : fmt(v, 1));
  const rows = phases.map(([name, w]) => {
    const hung = getsIn(loads, w, (k) => hungKeys.has(k), keysOf);
    const other = getsIn(loads, w, (k) => !hungKeys.has(k), keysOf);
    return [
      name,
      fmt(throughput(loads, w)),
      fmt(hung.failed + other.failed),
      fmt(hung.latencies.length),
      ms(quantile(hung.latencies, 0.5)),
      ms(quantile(hung.latencies, 0.99)),
      ms(quantile(other.latencies, 0.5)),
      ms(quantile(other.latencies, 0.99)),
    ];
  });
  printTable(
    `Hung peer (peer 2 owns ${hungKeys.size} of ${keyCount} keys), default options`,
    ["phase", "gets/s", "failed", "its gets", "its p50 ms", "its p99 ms", "others p50 ms", "others p99 ms"],
    rows,
  );
  const failures = loads.flatMap((l) => l.failures);
  for (const f of failures.slice(0, 5)) console.log(`  failed get of ${f.key}: ${f.code} ${f.message.split("\n")[0]}`);
  /** Getter calls of driver `i` during the load for the keys `pick` selects. */
  const loadsOf = (i: number, pick: (key: string) => boolean) => {
    const after = (callsAfter[i] as { getterCalls: Record<string, number> }).getterCalls;
    const before = (callsBefore[i] as { getterCalls: Record<string, number> }).getterCalls;
    return Object.entries(after).reduce((sum, [k, n]) => sum + (pick(k) ? n - (before[k] ?? 0) : 0), 0);
  };
  const drivers = [a, b];
  const isHung = (k: string) => hungKeys.has(k);
  /** Keys of the other, healthy driver: loading one means a false alarm. */
  const ofOtherDriver = (i: number) => (k: string) => ring.get(k) === drivers[1 - i]?.id;
  const before = throughput(loads, { from: t0 + 200, to: stopAt });
  const during = throughput(loads, { from: stopAt, to: contAt });
  console.log(
    `\nmarked down: ${downAt === undefined ? "never" : `${fmt(downAt - stopAt)} ms after SIGSTOP`}; ` +
      `taken back: ${upAt === undefined ? "not seen" : `${fmt(upAt - contAt)} ms after SIGCONT`}; ` +
      `throughput while hung: ${fmt((100 * during) / before, 1)}% of before; ` +
      `getter calls for its keys on the drivers: ${loadsOf(0, isHung)} + ${loadsOf(1, isHung)} (${hungKeys.size} keys); ` +
      `for the other driver's keys (false alarms): ${loadsOf(0, ofOtherDriver(0))} + ${loadsOf(1, ofOtherDriver(1))}`,
  );
} finally {
  await cluster.close();
}
console.log(
  `\nload average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}; ${fmt((performance.now() - started) / 1000, 1)} s`,
);
