/**
 * Remote hits over gRPC between real processes, on both client paths in the
 * same run: keys multiplexed on one GetStream per peer (the default) and one
 * unary Get per key (`grpcPeerClient({ stream: false })`). Two clusters of
 * 3 peer processes on loopback, one per path, alive together; in each, peer
 * 0 gets keys owned by peers 1 and 2 and already cached there (its hot cache
 * is off, so every get crosses the wire). For 100-byte and 10 KB values at
 * concurrency 1, 16 and 64, runs alternate between the paths; the table
 * shows gets/s (median and min–max of the runs), p50/p99 latency, the ratio
 * GetStream / single Get, and the static baselines of REFERENCE §8 and
 * issue 6. Then the thundering-herd wall time on each path (1,000
 * concurrent gets of 100 keys spread over the 3 peers, 50 ms getter,
 * checked to cost exactly 100 getter calls).
 *
 *   node bench/remote.ts            # ~2 minutes
 *   node bench/remote.ts --quick    # tiny runs: checks it works, not its speed
 *
 * The machine's load average is printed before and after: other work on
 * the machine moves these figures a lot, the ratio of the two paths much
 * less.
 */
import { loadavg } from "node:os";
import { Ring } from "../src/index.ts";
import { type Cluster, startCluster } from "../test/cluster/cluster.ts";
import type { BenchResult } from "../test/cluster/protocol.ts";
import { expectedValue } from "../test/cluster/protocol.ts";
import { fmt, printTable, quick, type Summary, summarize } from "./support/stats.ts";

const runs = 3;
const durationMs = quick ? 100 : 2_000;
const maxOps = quick ? 2_000 : 600_000;
const keyCount = quick ? 60 : 1_000;
const concurrencies = [1, 16, 64];
const sizes = [
  { name: "v100", bytes: 100, label: "100 B" },
  { name: "v10k", bytes: 10 * 1024, label: "10 KB" },
];
const paths = [
  { name: "GetStream", stream: true },
  { name: "single Get", stream: false },
] as const;

/**
 * Gets/s measured on this machine kind for 100-byte values (REFERENCE §8,
 * issue 6): Go groupcache over HTTP (default client; 50k at 64 with a tuned
 * one), and Redis GET through ioredis without auto-pipelining.
 */
const baselines: Record<number, { go: string; redis: string }> = {
  1: { go: "10.8k (p50 88 µs)", redis: "14–16k" },
  16: { go: "22k", redis: "–" },
  64: { go: "20k (50k tuned)", redis: "167k" },
};

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log(`load average at start: ${load()} (2 cores)`);

const clusters: Cluster[] = [];
try {
  for (const path of paths) {
    clusters.push(
      await startCluster({
        size: 3,
        config: {
          clientStream: path.stream,
          groups: sizes.map((s) => ({ name: s.name, valueBytes: s.bytes, hot: "never" as const })),
        },
      }),
    );
  }
  const keysOf = (cluster: Cluster) => {
    const ring = new Ring(cluster.ids);
    const keys: string[] = [];
    for (let i = 0; keys.length < keyCount; i++) {
      const key = `bench-${i}`;
      if (ring.get(key) !== cluster.peer(0).id) keys.push(key);
    }
    return keys;
  };
  const keys = clusters.map(keysOf);

  // Warm up: every key loaded and cached by its owner, every connection open.
  for (const [c, cluster] of clusters.entries()) {
    const driver = cluster.peer(0);
    for (const size of sizes) {
      const mine = keys[c] as string[];
      const { results } = await driver.request("getMany", { group: size.name, keys: mine }, 60_000);
      const bad = results.findIndex((r, i) => !r.ok || r.value !== expectedValue(mine[i] as string, size.bytes));
      if (bad !== -1) throw new Error(`warm-up get of ${mine[bad]} failed: ${JSON.stringify(results[bad])}`);
      await driver.request("bench", { group: size.name, keys: mine, concurrency: 16, durationMs, maxOps }, 60_000);
    }
  }

  const bench = async (c: number, group: string, concurrency: number): Promise<BenchResult> => {
    const cluster = clusters[c] as Cluster;
    const r = await cluster
      .peer(0)
      .request("bench", { group, keys: keys[c] as string[], concurrency, durationMs, maxOps }, durationMs + 60_000);
    if (r.errors > 0) throw new Error(`${r.errors} gets failed (${paths[c]?.name}, ${group}, c=${concurrency})`);
    return r;
  };

  const rows: string[][] = [];
  for (const size of sizes) {
    for (const concurrency of concurrencies) {
      const samples = paths.map(() => ({ rates: [] as number[], p50s: [] as number[], p99s: [] as number[] }));
      for (let run = 0; run < runs; run++) {
        for (let c = 0; c < paths.length; c++) {
          const r = await bench(c, size.name, concurrency);
          const s = samples[c] as (typeof samples)[number];
          s.rates.push((r.ops / r.elapsedMs) * 1000);
          s.p50s.push(r.p50Us);
          s.p99s.push(r.p99Us);
        }
      }
      const [stream, single] = samples.map((s) => ({
        rate: summarize(s.rates),
        p50: summarize(s.p50s).median,
        p99: summarize(s.p99s).median,
      })) as [{ rate: Summary; p50: number; p99: number }, { rate: Summary; p50: number; p99: number }];
      const base = size.bytes === 100 ? baselines[concurrency] : undefined;
      rows.push([
        size.label,
        String(concurrency),
        fmt(stream.rate.median),
        `${fmt(stream.rate.min)}–${fmt(stream.rate.max)}`,
        fmt(stream.p50),
        fmt(stream.p99),
        fmt(single.rate.median),
        `${fmt(single.rate.min)}–${fmt(single.rate.max)}`,
        fmt(single.p50),
        fmt(single.p99),
        `${fmt(stream.rate.median / single.rate.median, 1)}×`,
        base?.go ?? "–",
        base?.redis ?? "–",
      ]);
    }
  }
  // Every get above was a remote hit: no driver loaded anything itself.
  for (const cluster of clusters) {
    for (const size of sizes) {
      const s = await cluster.peer(0).request("stats", { group: size.name });
      if (s.getterTotal !== 0 || (s.stats.peerErrors ?? 0) !== 0) {
        throw new Error(`driver loaded ${s.getterTotal} keys itself, ${s.stats.peerErrors} peer errors`);
      }
    }
  }
  printTable(
    `Remote hits, 3 peer processes per path, gRPC over HTTP/2 cleartext on loopback (${runs} runs of ${durationMs} ms each, median; p50/p99 in µs)`,
    [
      "value",
      "c",
      "GetStream/s",
      "min–max",
      "p50",
      "p99",
      "single Get/s",
      "min–max",
      "p50",
      "p99",
      "ratio",
      "Go (HTTP)",
      "Redis ioredis",
    ],
    rows,
  );

  // Thundering herd: fresh group per run, 50 ms getter on every peer.
  const herdRows: string[][] = [];
  const herdKeys = Array.from({ length: 100 }, (_, i) => `herd-${i}`);
  for (const [c, cluster] of clusters.entries()) {
    const walls: number[] = [];
    for (let run = 0; run < runs; run++) {
      const group = `herd-${run}`;
      await Promise.all(cluster.peers.map((p) => p.request("newGroup", { name: group, getterDelayMs: 50 })));
      const perPeer = cluster.peers.map((_, p) =>
        Array.from({ length: 1000 }, (_, i) => i)
          .filter((i) => i % 3 === p)
          .map((i) => herdKeys[i % 100] as string),
      );
      const start = performance.now();
      const replies = await Promise.all(
        cluster.peers.map((peer, p) => peer.request("getMany", { group, keys: perPeer[p] as string[] }, 60_000)),
      );
      walls.push(performance.now() - start);
      if (replies.some((r) => r.results.some((x) => !x.ok))) throw new Error("a herd get failed");
      const stats = await Promise.all(cluster.peers.map((p) => p.request("stats", { group })));
      const calls = stats.reduce((n, s) => n + s.getterTotal, 0);
      if (calls !== 100) throw new Error(`herd (${paths[c]?.name}): ${calls} getter calls, expected 100`);
    }
    const wall = summarize(walls);
    herdRows.push([
      paths[c]?.name ?? "",
      String(runs),
      "100",
      fmt(wall.median, 1),
      `${fmt(wall.min, 1)}–${fmt(wall.max, 1)}`,
    ]);
  }
  printTable(
    "Thundering herd: 1,000 concurrent gets of 100 keys over 3 peers, 50 ms getter (Go: ~72 ms)",
    ["path", "runs", "getter calls", "wall ms (median)", "min–max"],
    herdRows,
  );
  console.log(`\nload average at end: ${load()} (2 cores)`);
} finally {
  await Promise.all(clusters.map((c) => c.close()));
}
