/**
 * Remote hits over gRPC between real processes: 3 peer processes on
 * loopback; peer 0 gets keys owned by peers 1 and 2 and already cached
 * there (its hot cache is off, so every get crosses the wire). Reports
 * gets/s and p50/p99 latency at concurrency 1, 16 and 64 for 100-byte and
 * 10 KB values, then the thundering-herd wall time (1,000 concurrent gets of
 * 100 keys spread over the 3 peers, 50 ms getter). Medians of 3 runs, with
 * min–max.
 *
 *   node bench/remote.ts            # ~1 minute
 *   node bench/remote.ts --quick    # tiny runs: checks it works, not its speed
 *
 * Baselines on this machine kind (REFERENCE §8): Go groupcache ~10.8k
 * gets/s at concurrency 1, ~20k at 64 (50k with a tuned HTTP client);
 * Connect unary on Node ~4.5k req/s.
 */
import { Ring } from "../src/index.ts";
import { startCluster } from "../test/cluster/cluster.ts";
import { expectedValue } from "../test/cluster/protocol.ts";
import { fmt, printTable, quick, summarize } from "./support/stats.ts";

const runs = 3;
const durationMs = quick ? 100 : 2_000;
const maxOps = quick ? 2_000 : 400_000;
const keyCount = quick ? 60 : 1_000;
const concurrencies = [1, 16, 64];
const sizes = [
  { name: "v100", bytes: 100, label: "100 B" },
  { name: "v10k", bytes: 10 * 1024, label: "10 KB" },
];

const cluster = await startCluster({
  size: 3,
  config: { groups: sizes.map((s) => ({ name: s.name, valueBytes: s.bytes, hot: "never" as const })) },
});
try {
  const driver = cluster.peer(0);
  const ring = new Ring(cluster.ids);
  const keys: string[] = [];
  for (let i = 0; keys.length < keyCount; i++) {
    const key = `bench-${i}`;
    if (ring.get(key) !== driver.id) keys.push(key);
  }

  // Warm up: every key loaded and cached by its owner, every connection open.
  for (const size of sizes) {
    const { results } = await driver.request("getMany", { group: size.name, keys });
    const bad = results.findIndex((r, i) => !r.ok || r.value !== expectedValue(keys[i] as string, size.bytes));
    if (bad !== -1) throw new Error(`warm-up get of ${keys[bad]} failed: ${JSON.stringify(results[bad])}`);
    await driver.request("bench", { group: size.name, keys, concurrency: 16, durationMs, maxOps });
  }

  const rows: string[][] = [];
  for (const size of sizes) {
    for (const concurrency of concurrencies) {
      const rates: number[] = [];
      const p50s: number[] = [];
      const p99s: number[] = [];
      for (let run = 0; run < runs; run++) {
        const r = await driver.request(
          "bench",
          { group: size.name, keys, concurrency, durationMs, maxOps },
          durationMs + 30_000,
        );
        if (r.errors > 0) throw new Error(`${r.errors} gets failed (${size.label}, c=${concurrency})`);
        rates.push((r.ops / r.elapsedMs) * 1000);
        p50s.push(r.p50Us);
        p99s.push(r.p99Us);
      }
      const rate = summarize(rates);
      rows.push([
        size.label,
        String(concurrency),
        fmt(rate.median),
        `${fmt(rate.min)}–${fmt(rate.max)}`,
        fmt(summarize(p50s).median),
        fmt(summarize(p99s).median),
      ]);
    }
  }
  // Every get above was a remote hit: the driver never loaded anything itself.
  for (const size of sizes) {
    const s = await driver.request("stats", { group: size.name });
    if (s.getterTotal !== 0 || (s.stats.peerErrors ?? 0) !== 0) {
      throw new Error(`driver loaded ${s.getterTotal} keys itself, ${s.stats.peerErrors} peer errors`);
    }
  }
  printTable(
    `Remote hits, 3 peer processes, gRPC over HTTP/2 cleartext on loopback (${runs} runs of ${durationMs} ms, median)`,
    ["value", "concurrency", "gets/s", "min–max", "p50 µs", "p99 µs"],
    rows,
  );

  // Thundering herd: fresh group per run, 50 ms getter on every peer.
  const walls: number[] = [];
  const herdKeys = Array.from({ length: 100 }, (_, i) => `herd-${i}`);
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
      cluster.peers.map((peer, p) => peer.request("getMany", { group, keys: perPeer[p] as string[] })),
    );
    walls.push(performance.now() - start);
    if (replies.some((r) => r.results.some((x) => !x.ok))) throw new Error("a herd get failed");
    const stats = await Promise.all(cluster.peers.map((p) => p.request("stats", { group })));
    const calls = stats.reduce((n, s) => n + s.getterTotal, 0);
    if (calls !== 100) throw new Error(`herd: ${calls} getter calls, expected 100`);
  }
  const wall = summarize(walls);
  printTable(
    "Thundering herd: 1,000 concurrent gets of 100 keys over 3 peers, 50 ms getter (exactly 100 getter calls)",
    ["runs", "wall ms (median)", "min–max"],
    [[String(runs), fmt(wall.median, 1), `${fmt(wall.min, 1)}–${fmt(wall.max, 1)}`]],
  );
  console.log(
    "\nBaselines (REFERENCE §8): Go groupcache 10.8k gets/s at c=1, ~20k at c=64 (HTTP); herd ~72 ms. Connect unary on Node ~4.5k req/s.",
  );
} finally {
  await cluster.close();
}
