/**
 * Memory per cached entry beyond its value: 100,000 entries of 100-byte
 * values under keys like `key-123456`, for our group cache and for the
 * usual alternatives. Each measurement runs in a fresh child process (RSS
 * is per process, and a process never gives all its pages back): it reads
 * RSS and the JS heap plus ArrayBuffers after `gc()`, fills, collects
 * again, reads again, and divides the growth by the number of entries.
 * Go groupcache is measured the same way in its own fresh processes
 * (`support/go-baseline.ts`: a self-only HTTPPool's group filled through
 * `Get`; RSS from /proc/self/statm and the live Go heap, after
 * `runtime.GC()` and `debug.FreeOSMemory()`). Without Go, the ~385 bytes
 * of RSS per entry that Go groupcache measured earlier on this machine
 * kind stand in.
 *
 * Two RSS figures: with V8's young generation fixed at 16 MiB per
 * semispace and warmed up before the first reading, and with Node's
 * default flags. By default the young generation grows while filling, to
 * 32 or 64 MiB depending on how much of the garbage survives: a
 * per-process constant, not a per-entry cost, that adds up to ~500 bytes
 * per entry at 100,000 entries, and differently for each candidate. The
 * first figure leaves it out; the second shows what a naive measurement
 * sees.
 *
 *   node --expose-gc bench/memory.ts [--quick]
 */
import { spawnSync } from "node:child_process";
import { LRUCache } from "lru-cache";
import { defaultEntryOverheadBytes } from "../src/core/defaults.ts";
import { GroupCache, stringCodec } from "../src/index.ts";
import { buildGoBaseline, type GoMemory, skippedLine } from "./support/go-baseline.ts";
import { fmt, printTable, quick, type Summary, summarize } from "./support/stats.ts";

const entries = quick ? 2_000 : 100_000;
const runs = quick ? 1 : 3;
const valueBytes = 100;
/** Go groupcache's RSS per entry, bytes, measured earlier on this machine kind: shown when Go is missing. */
const staticGoBytesPerEntry = 385;
/** Keys all have 10 characters (`key-100000` …), so every entry costs the same. */
const keyOf = (i: number) => `key-${100_000 + i}`;

interface Measurement {
  rss: number;
  heap: number;
}

interface Sample {
  fixed: Measurement;
  naive: Measurement;
}

type Fill = () => Promise<unknown>;

/**
 * Groups are measured with `getterTimeoutMs: 0`: with a timeout, every load
 * leaves an `AbortSignal.timeout` timer pending for that long after it
 * finished (~2.9 KB of heap each, for 30 s by default), which is per-load
 * state, not per-entry cache memory. The last row shows it.
 */
const loadOptions = { getterTimeoutMs: 0 };

/** Each candidate fills its structure and returns it, so that it stays alive while measured. */
const candidates: Record<string, Fill> = {
  "groupcache (ByteView, default)": async () => {
    const value = new Uint8Array(valueBytes).fill(7);
    const group = new GroupCache().newGroup({ name: "m", getter: () => value, ...loadOptions });
    for (let i = 0; i < entries; i++) await group.get(keyOf(i));
    return group;
  },
  "groupcache (ByteView, ttlMs 1 h)": async () => {
    const value = new Uint8Array(valueBytes).fill(7);
    const group = new GroupCache().newGroup({ name: "m", getter: () => value, ttlMs: 3_600_000, ...loadOptions });
    for (let i = 0; i < entries; i++) await group.get(keyOf(i));
    return group;
  },
  "groupcache (string codec)": async () => {
    const value = "x".repeat(valueBytes);
    const group = new GroupCache().newGroup({ name: "m", codec: stringCodec, getter: () => value, ...loadOptions });
    for (let i = 0; i < entries; i++) await group.get(keyOf(i));
    return group;
  },
  "groupcache after as many evictions (churn)": async () => {
    const value = new Uint8Array(valueBytes).fill(7);
    // A budget of exactly `entries` entries; the second half of the keys evicts the first.
    const group = new GroupCache().newGroup({
      name: "m",
      cacheBytes: entries * (10 + valueBytes + defaultEntryOverheadBytes),
      getter: () => value,
      ...loadOptions,
    });
    for (let i = 0; i < 2 * entries; i++) await group.get(keyOf(i));
    if (group.cacheStats("main").items !== entries) throw new Error("churn: wrong number of entries");
    return group;
  },
  "Map of one Uint8Array per entry": async () => {
    const map = new Map<string, Uint8Array>();
    for (let i = 0; i < entries; i++) map.set(keyOf(i), new Uint8Array(valueBytes).fill(7));
    return map;
  },
  "lru-cache (Uint8Array values)": async () => {
    const lru = new LRUCache<string, Uint8Array>({ max: entries });
    for (let i = 0; i < entries; i++) lru.set(keyOf(i), new Uint8Array(valueBytes).fill(7));
    return lru;
  },
  "lru-cache after as many evictions (churn)": async () => {
    const lru = new LRUCache<string, Uint8Array>({ max: entries });
    for (let i = 0; i < 2 * entries; i++) lru.set(keyOf(i), new Uint8Array(valueBytes).fill(7));
    return lru;
  },
  "groupcache, default getterTimeoutMs (loads < 30 s ago)": async () => {
    const value = new Uint8Array(valueBytes).fill(7);
    const group = new GroupCache().newGroup({ name: "m", getter: () => value });
    for (let i = 0; i < entries; i++) await group.get(keyOf(i));
    return group;
  },
};

function usage(): Measurement {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

/** Short-lived garbage, so the young generation's pages are resident before the first reading. */
function warmYoungGeneration(): void {
  let last: unknown;
  for (let i = 0; i < 2_000_000; i++) last = { i, list: [i] };
  if (last === undefined) throw new Error("unreachable");
}

/** In the child: measure one candidate, print the bytes per entry beyond the value as JSON. */
async function child(name: string): Promise<void> {
  const fill = candidates[name];
  if (fill === undefined) throw new Error(`unknown candidate ${name}`);
  warmYoungGeneration();
  const before = usage();
  const kept = await fill();
  const after = usage();
  const perEntry = (a: number, b: number) => (a - b) / entries - valueBytes;
  const result: Measurement = { rss: perEntry(after.rss, before.rss), heap: perEntry(after.heap, before.heap) };
  console.log(JSON.stringify(result));
  if (kept === undefined) throw new Error("nothing kept");
}

/** V8 flags of the first RSS figure: the young generation at a fixed size. */
const fixedYoungGeneration = ["--min-semi-space-size=16", "--max-semi-space-size=16"];

function measure(name: string, flags: readonly string[]): Measurement {
  const args = ["--expose-gc", ...flags, import.meta.filename, `--child=${name}`, ...process.argv.slice(2)];
  const out = spawnSync(process.execPath, args, { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`${name}: child failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").at(-1) as string) as Measurement;
}

const goName = "Go groupcache (group of a self-only HTTPPool)";

export function main(): void {
  const built = buildGoBaseline();
  if (built.go === undefined) console.log(skippedLine(built.reason));
  const names = Object.keys(candidates);
  const samples = new Map<string, Sample[]>(names.map((n) => [n, []]));
  const goSamples: GoMemory[] = [];
  // Interleave candidates so machine noise hits all of them alike.
  for (let r = 0; r < runs; r++) {
    for (const name of names) {
      samples.get(name)?.push({ fixed: measure(name, fixedYoungGeneration), naive: measure(name, []) });
    }
    if (built.go !== undefined) goSamples.push(built.go.memory(entries));
  }
  const of = (name: string, pick: (s: Sample) => number) => summarize((samples.get(name) ?? []).map(pick));
  const range = (s: { min: number; max: number }) => `${fmt(s.min)}–${fmt(s.max)}`;
  const mapRss = of("Map of one Uint8Array per entry", (s) => s.fixed.rss).median;
  const goRss = goSamples.length === 0 ? staticGoBytesPerEntry : summarize(goSamples.map((s) => s.rss)).median;
  const row = (name: string, rss: Summary, heap: Summary, naive: string[]) => [
    name,
    fmt(rss.median),
    range(rss),
    fmt(heap.median),
    range(heap),
    `${fmt(rss.median / goRss, 2)}×`,
    `${fmt(rss.median / mapRss, 2)}×`,
    ...naive,
  ];
  const rows = names.map((name) => {
    const naive = of(name, (s) => s.naive.rss);
    return row(
      name,
      of(name, (s) => s.fixed.rss),
      of(name, (s) => s.fixed.heap),
      [fmt(naive.median), range(naive)],
    );
  });
  // Go has no V8 young generation: its one RSS figure goes in the first column.
  if (goSamples.length > 0) {
    const go = (pick: (s: GoMemory) => number) => summarize(goSamples.map(pick));
    rows.push(
      row(
        goName,
        go((s) => s.rss),
        go((s) => s.heap),
        ["–", "–"],
      ),
    );
  }
  printTable(
    `Memory per entry beyond its ${valueBytes}-byte value, ${fmt(entries)} entries, ${runs} fresh processes each (median bytes; lower is better)`,
    [
      "candidate",
      "RSS",
      "min–max",
      "heap+buffers",
      "min–max",
      goSamples.length === 0 ? `vs Go ${staticGoBytesPerEntry} B (earlier)` : "vs Go",
      "vs Map",
      "RSS, default flags",
      "min–max",
    ],
    rows,
  );
}

const childArg = process.argv.find((a) => a.startsWith("--child="));
if (childArg !== undefined) await child(childArg.slice("--child=".length));
else if (import.meta.main) main();
