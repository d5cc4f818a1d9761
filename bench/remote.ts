/**
 * Remote hits between real processes, our two client paths against Go
 * groupcache in the same run: keys multiplexed on one GetStream per peer
 * (our default), one unary Get per key (`grpcPeerClient({ stream: false })`),
 * and Go groupcache over HTTP with its default client and with a tuned one
 * (`support/go-baseline.ts`). One cluster of 3 peer processes on loopback
 * per path, all alive together; in each, peer 0 gets keys owned by peers 1
 * and 2 and already cached there, and caches nothing itself (our hot cache
 * off; Go's driver groups have cacheBytes 0, which turns its hot cache off
 * too), so every get crosses the wire. For 100-byte and 10 KB values at
 * concurrency 1, 16 and 64, runs alternate between the paths; the tables
 * show gets/s (median and min–max of the runs), ratios of GetStream to the
 * others, and p50/p99 latency. Then the thundering-herd wall time on each
 * path (1,000 concurrent gets of 100 keys spread over the 3 peers, 50 ms
 * getter, checked to cost exactly 100 getter calls). Without Go, Go
 * groupcache's figures measured earlier on this machine kind stand in
 * (remote hits at c=64: ~20k gets/s with its default HTTP client, ~50k
 * tuned; the herd: 100 getter calls in ~72 ms).
 *
 *   node bench/remote.ts            # ~3 minutes
 *   node bench/remote.ts --quick    # tiny runs: checks it works, not its speed
 *
 * The machine's load average is printed before and after: other work on
 * the machine moves these figures a lot, ratios measured together much
 * less.
 */
import { loadavg } from "node:os";
import { Ring } from "../src/core/ring.ts";
import { type Cluster, type ClusterOptions, startCluster } from "../src/testing/cluster.ts";
import { type BenchResult, expectedValue, type GroupSpec } from "../src/testing/protocol.ts";
import { type EchoFloor, startEchoFloor } from "./support/echo-floor.ts";
import { buildGoBaseline, type GoTransport, skippedLine } from "./support/go-baseline.ts";
import { fmt, printTable, quick, type Summary, summarize } from "./support/stats.ts";

const runs = 3;
const durationMs = quick ? 50 : 2_000;
const maxOps = quick ? 2_000 : 600_000;
const keyCount = quick ? 60 : 1_000;
const concurrencies = [1, 16, 64];
const sizes = [
  { name: "v100", bytes: 100, label: "100 B" },
  { name: "v10k", bytes: 10 * 1024, label: "10 KB" },
];

/**
 * Gets/s measured earlier on this machine kind for 100-byte values:
 * Redis GET through ioredis without auto-pipelining, and Go groupcache
 * over HTTP with its default client (shown only when Go is missing; 50k
 * at 64 with a tuned client).
 */
const baselines: Record<number, { go: string; redis: string }> = {
  1: { go: "10.8k (p50 88 µs)", redis: "14–16k" },
  16: { go: "22k", redis: "–" },
  64: { go: "20k (50k tuned)", redis: "167k" },
};

interface Path {
  name: string;
  start: () => Promise<Cluster>;
}

/** The benchmark's groups: our peers never mirror what they fetch (hot cache off). */
const ourGroups: GroupSpec[] = sizes.map((s) => ({ name: s.name, valueBytes: s.bytes, hot: "never" }));
const ours = (name: string, stream: boolean): Path => ({
  name,
  start: () => startCluster({ size: 3, config: { clientStream: stream, groups: ourGroups } }),
});
const paths: Path[] = [ours("GetStream", true), ours("single Get", false)];

const built = buildGoBaseline();
if (built.go === undefined) console.log(skippedLine(built.reason));
else {
  const go = built.go;
  /**
   * Go groupcache has no hot policy: its driver caches nothing only with
   * cacheBytes 0 (then `populateCache` returns early); owners get the
   * 64 MiB our peers have.
   */
  const config: ClusterOptions["config"] = (i) => ({
    groups: sizes.map((s) => ({ name: s.name, valueBytes: s.bytes, ...(i === 0 ? { cacheBytes: 0 } : {}) })),
  });
  const goPath = (transport: GoTransport): Path => ({
    name: `Go ${transport}`,
    start: () => go.startCluster(transport, { size: 3, config }),
  });
  paths.push(goPath("default"), goPath("tuned"));
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log(`load average at start: ${load()} (2 cores)`);

let echo: EchoFloor | undefined;
const clusters: Cluster[] = [];
try {
  for (const path of paths) clusters.push(await path.start());
  /** Keys owned by peers 1 and 2 (Go's ring is ours, byte for byte; Go's bench checks with `PickPeer`). */
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

  const rateRows: string[][] = [];
  const latencyRows: string[][] = [];
  // The c=1 floor, run in the same runs as the 100-byte c=1 row.
  echo = await startEchoFloor(120);
  const floor = { rates: [] as number[], p50s: [] as number[], p99s: [] as number[], streamP50: Number.NaN };
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
        if (concurrency === 1 && size.bytes === 100) {
          const e = await echo.run(durationMs, maxOps);
          floor.rates.push((e.ops / durationMs) * 1000);
          floor.p50s.push(e.p50Us);
          floor.p99s.push(e.p99Us);
        }
      }
      const results = samples.map((s) => ({
        rate: summarize(s.rates),
        p50: summarize(s.p50s).median,
        p99: summarize(s.p99s).median,
      })) as [{ rate: Summary; p50: number; p99: number }, ...{ rate: Summary; p50: number; p99: number }[]];
      const stream = results[0].rate.median;
      if (concurrency === 1 && size.bytes === 100) floor.streamP50 = results[0].p50;
      const base = size.bytes === 100 ? baselines[concurrency] : undefined;
      rateRows.push([
        size.label,
        String(concurrency),
        ...results.flatMap((r) => [fmt(r.rate.median), `${fmt(r.rate.min)}–${fmt(r.rate.max)}`]),
        ...results.slice(1).map((r) => `${fmt(stream / r.rate.median, 1)}×`),
        ...(built.go === undefined ? [base?.go ?? "–"] : []),
        base?.redis ?? "–",
      ]);
      latencyRows.push([size.label, String(concurrency), ...results.flatMap((r) => [fmt(r.p50), fmt(r.p99)])]);
    }
  }
  // Every get above was a remote hit: no driver loaded anything itself.
  for (const [c, cluster] of clusters.entries()) {
    for (const size of sizes) {
      const s = await cluster.peer(0).request("stats", { group: size.name });
      if (s.getterTotal !== 0 || (s.stats.peerErrors ?? 0) !== 0) {
        throw new Error(
          `${paths[c]?.name}: driver loaded ${s.getterTotal} keys itself, ${s.stats.peerErrors} peer errors`,
        );
      }
    }
  }
  printTable(
    `Remote hits, 3 peer processes per path on loopback, ours gRPC over HTTP/2 cleartext${built.go === undefined ? "" : ", Go HTTP/1.1"} (${runs} runs of ${durationMs} ms each; gets/s, median and min–max; ÷: GetStream's rate over the path's)`,
    [
      "value",
      "c",
      ...paths.flatMap((p) => [`${p.name}/s`, "min–max"]),
      ...paths.slice(1).map((p) => `÷ ${p.name}`),
      ...(built.go === undefined ? ["Go (HTTP), earlier"] : []),
      "Redis, earlier",
    ],
    rateRows,
  );
  printTable(
    "Latency of the same runs (median of the runs' p50 and p99, µs)",
    ["value", "c", ...paths.flatMap((p) => [`${p.name} p50`, "p99"])],
    latencyRows,
  );

  const echoP50 = summarize(floor.p50s).median;
  printTable(
    "The floor at c=1, same runs: round trips of 120 bytes on one bare node:http2 stream to an echo process (µs)",
    ["round trips/s", "p50", "p99", "GetStream p50 (100 B)", "GetStream ÷ echo"],
    [
      [
        fmt(summarize(floor.rates).median),
        fmt(echoP50),
        fmt(summarize(floor.p99s).median),
        fmt(floor.streamP50),
        `${fmt(floor.streamP50 / echoP50, 2)}×`,
      ],
    ],
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
    `Thundering herd: 1,000 concurrent gets of 100 keys over 3 peers, 50 ms getter${built.go === undefined ? " (Go measured earlier on this machine kind: ~72 ms)" : ""}`,
    ["path", "runs", "getter calls", "wall ms (median)", "min–max"],
    herdRows,
  );
  console.log(`\nload average at end: ${load()} (2 cores)`);
} finally {
  await Promise.all([...clusters.map((c) => c.close()), echo?.close()]);
}
