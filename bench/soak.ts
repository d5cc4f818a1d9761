/**
 * Memory over a long run of mixed load: does RSS stay flat once the cache
 * is full? One process (measured) with one group of `cacheBytes` 64 MiB,
 * in a ring with an owner peer process that holds about half of the keys;
 * 16 loops of gets, returning to the event loop every 16 gets. Each get
 * picks, with a fixed pseudo-random sequence:
 *
 * - 70%: one of 20,000 popular keys (hits once loaded, hot-cache mirrors of
 *   the owner's keys by the default policy, 1 in 10);
 * - 30%: a key never asked before (a miss: a load here, or a fetch from the
 *   owner), so the cache churns all the time.
 *
 * Values: 1 key in 10 has 10 KB, the others 100 bytes. Node's default
 * flags. RSS, heap and external memory are sampled every second. The
 * warm-up lasts until the caches first hold 95% of their budget, plus a
 * fifth of the run (at most four fifths in all). The table shows, per tree, RSS when
 * the warm-up ends, its minimum, maximum and last value after, the largest
 * deviation from the warm-up's end (the goal: within 5%), and gets/s.
 *
 * `--duration-s N` (default 600; `--quick`: 10), `--baseline DIR` (the
 * same run against another worktree's library, one after the other) and
 * `--child-flags "..."` (V8 flags of the measured processes, such as
 * `--max-semi-space-size=16`; default: none, Node's defaults).
 *
 *   node --expose-gc bench/soak.ts [--quick] [--duration-s 600] [--baseline DIR] [--child-flags "..."]
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { arg, trees } from "./support/args.ts";
import { fmt, printTable, quick } from "./support/stats.ts";

const mib = 1 << 20;
const cacheBytes = quick ? 4 * mib : 64 * mib;
const durationS = Number(arg("duration-s") ?? (quick ? 10 : 600));
const popularKeys = quick ? 2_000 : 20_000;
const concurrency = 16;

interface Sample {
  t: number;
  /** Bytes the caches count (main + hot of both groups). */
  cached: number;
  rss: number;
  heapUsed: number;
  external: number;
}

interface Result {
  samples: Sample[];
  gets: number;
  cached: number;
}

/** Value size of a key: 1 in 10 has 10 KB. */
const sizeOf = (i: number) => (i % 10 === 0 ? 10 * 1024 : 100);

/** In the child: the soak, printed as JSON. */
async function child(root: string): Promise<void> {
  const lib = (p: string) => import(pathToFileURL(resolve(root, p)).href);
  const { GroupCache, grpcPeerClient } = await lib("src/runtime/node.ts");
  const { startPeerProcess } = await lib("src/testing/peer-process.ts");
  // The owner's getter returns `v:<key>` padded with "." to its group's
  // valueBytes: one group per size, named after it.
  const groups = [100, 10 * 1024].map((valueBytes) => ({ name: `v${valueBytes}`, valueBytes, cacheBytes: 0 }));
  const owner = await startPeerProcess({ groups });
  const cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient() });
  for (const g of groups) {
    cache.newGroup({
      name: g.name,
      cacheBytes: cacheBytes / 2,
      getter: (key: string) => new TextEncoder().encode(`v:${key}`.padEnd(g.valueBytes, ".")),
    });
  }
  cache.setPeers([cache.self, owner.id]);
  let seed = 12345;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  let fresh = 0;
  let gets = 0;
  const samples: Sample[] = [];
  const started = performance.now();
  const cachedBytes = (): number =>
    cache.groups().reduce((n: number, g: { cacheStats(w: string): { bytes: number } }) => {
      return n + g.cacheStats("main").bytes + g.cacheStats("hot").bytes;
    }, 0);
  const sample = () => {
    const m = process.memoryUsage();
    const t = (performance.now() - started) / 1000;
    samples.push({ t, cached: cachedBytes(), rss: m.rss, heapUsed: m.heapUsed, external: m.external });
  };
  const timer = setInterval(sample, 1000);
  const end = started + durationS * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const i = next(10) < 7 ? next(popularKeys) : popularKeys + fresh++;
      const valueBytes = sizeOf(i);
      const value = await cache.getGroup(`v${valueBytes}`).get(`k-${i}`);
      if (value.length !== valueBytes) throw new Error(`k-${i}: ${value.length} bytes, not ${valueBytes}`);
      if ((++gets & 15) === 0) await new Promise<void>((done) => setImmediate(done));
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, loop));
    sample();
    console.log(JSON.stringify({ samples, gets, cached: cachedBytes() } satisfies Result));
  } finally {
    clearInterval(timer);
    await owner.kill();
    await cache.close();
  }
}

function main(): void {
  const here = resolve(import.meta.dirname, "..");
  const rows: string[][] = [];
  const series: string[][] = [];
  const flags =
    arg("child-flags")
      ?.split(" ")
      .filter((f) => f !== "") ?? [];
  const tenths = Array.from({ length: 10 }, (_, i) => ((i + 1) * durationS) / 10);
  for (const tree of trees(here, resolve)) {
    const label = flags.length === 0 ? tree.label : `${tree.label}, ${flags.join(" ")}`;
    const args = [
      "--expose-gc",
      ...flags,
      import.meta.filename,
      "--child",
      "--root",
      tree.root,
      "--duration-s",
      String(durationS),
    ];
    if (quick) args.push("--quick");
    const out = spawnSync(process.execPath, args, { encoding: "utf8", timeout: (durationS + 120) * 1000 });
    if (out.status !== 0) throw new Error(`soak in ${tree.root} failed: ${out.stderr}`);
    const r = JSON.parse(out.stdout.trim().split("\n").at(-1) as string) as Result;
    // Warm-up: until the caches first hold 95% of their budget, then a fifth of the run more.
    const full = r.samples.find((s) => s.cached >= 0.95 * cacheBytes)?.t ?? durationS;
    const warm = Math.min(full + durationS * 0.2, durationS * 0.8);
    const after = r.samples.filter((s) => s.t >= warm);
    const at = after[0] ?? (r.samples.at(-1) as Sample);
    const rss = after.map((s) => s.rss);
    const deviation = Math.max(...rss.map((x) => Math.abs(x - at.rss))) / at.rss;
    const last = after.at(-1) ?? at;
    const m = (n: number) => fmt(n / mib, 1);
    const rssAt = (t: number) => r.samples.findLast((s) => s.t <= t) ?? at;
    series.push([label, ...tenths.map((t) => m(rssAt(t).rss))]);
    rows.push([
      label,
      `${fmt(warm)} s`,
      m(at.rss),
      m(Math.min(...rss)),
      m(Math.max(...rss)),
      m(last.rss),
      `${fmt(deviation * 100, 1)}%`,
      m(last.heapUsed),
      m(last.external),
      m(r.cached),
      fmt(r.gets / durationS),
    ]);
  }
  printTable(
    `Soak: ${durationS} s of mixed load on cacheBytes ${cacheBytes / mib} MiB (70% popular keys, 30% new; 1 in 10 values 10 KB), warm-up: until the caches are full, then ${durationS * 0.2} s (MiB)`,
    [
      "code",
      "warm-up ends",
      "RSS then",
      "min after",
      "max after",
      "last",
      "max deviation",
      "heapUsed",
      "external",
      "cached",
      "gets/s",
    ],
    rows,
  );
  printTable("RSS over the run (MiB), at each tenth of it", ["code", ...tenths.map((t) => `${fmt(t)} s`)], series);
}

if (process.argv.includes("--child")) await child(arg("root") as string);
else if (import.meta.main) main();
