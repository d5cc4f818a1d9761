/**
 * RSS of one group filled past its budget: `cacheBytes` 64 MiB, then
 * distinct keys of 10 KB values until 16 times the budget went through it
 * (1 GiB), or of 100-byte values once (~600,000 gets, whose misses take
 * longer). Two paths: values from the local getter (a fresh `Uint8Array`
 * per load, as a getter reading from elsewhere returns), and values fetched
 * from an owner peer process over the gRPC transport and mirrored into the
 * hot cache (`hotPolicy` always). With Node's default flags, as a pod runs,
 * and with the young generation bounded (`--max-semi-space-size=16`).
 *
 * Each measurement is a fresh child process: it starts, warms up (a
 * thousand gets through the same path, then `gc()`), reads RSS, fills with
 * 16 loops that return to the event loop every 16 gets, as requests arriving
 * over the network do, sampling RSS every 256 gets, and reads again at the
 * end (no forced collection: what a pod's memory limit sees), then after
 * `gc()`. The table shows RSS growth at its peak and at the end, as a ratio
 * of `cacheBytes`, and the end's breakdown from `process.memoryUsage()`.
 *
 * A last row per value size, "no library", is the floor: the same fill
 * with no cache at all, each value allocated as the getter does and copied
 * into a buffer of `cacheBytes` standing in for the caches' storage. What
 * it shows beyond `cacheBytes` is V8's and the allocator's, whatever a
 * library does: the young generation and the values awaiting collection.
 *
 * `--baseline DIR` measures the same in the library of another worktree
 * (e.g. `git worktree add /tmp/mem-base <commit>`), in the same run,
 * interleaved with this one. `--runs N` (default 1) repeats each;
 * `--cache-mib N` sets the budget (default 64; 1 GiB of 10 KB values still
 * goes through), `--sizes 100,10240` the value sizes.
 *
 *   node --expose-gc bench/memory-churn.ts [--quick] [--baseline DIR] [--runs N] [--cache-mib N] [--sizes ...]   # ~15 min
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { arg, trees as treesOf } from "./support/args.ts";
import { fmt, printTable, quick, summarize } from "./support/stats.ts";

const mib = 1 << 20;
const cacheBytes = (quick ? 4 : Number(arg("cache-mib") ?? 64)) * mib;
/**
 * How many times its budget goes through the group: 16× (1 GiB) of 10 KB
 * values; once (~600,000 gets) of 100-byte ones, whose misses take longer.
 */
const fillFactorOf = (valueBytes: number) =>
  quick ? 2 : valueBytes >= 1024 ? Math.max(1, Math.round((16 * 64 * mib) / cacheBytes)) : 1;
const runs = Number(arg("runs") ?? 1);
const concurrency = 16;
/** The V8 flag of the last rows: semispaces of 16 MiB at most (Node 24 grows them to 64 under load). */
const semiFlag = "--max-semi-space-size=16";
const sizes = (arg("sizes") ?? "100,10240").split(",").map(Number);
const paths = ["local", "remote"] as const;
type Path = (typeof paths)[number] | "floor";

/** What a child reports, in bytes. */
interface Result {
  peak: number;
  end: number;
  afterGc: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cachedBytes: number;
  items: number;
}

/** In the child: one fill of one group, printed as JSON. */
async function child(root: string, path: Path, valueBytes: number): Promise<void> {
  const lib = (p: string) => import(pathToFileURL(resolve(root, p)).href);
  const { GroupCache, grpcPeerClient } = await lib("src/runtime/node.ts");
  const { startPeerProcess } = await lib("src/testing/peer-process.ts");
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  const name = "churn";
  let owner: { id: string; kill(): Promise<unknown> } | undefined;
  let cache: InstanceType<typeof GroupCache> | undefined;
  let get: (key: string) => Promise<Uint8Array>;
  if (path === "floor") {
    const storage = new Uint8Array(cacheBytes);
    let at = 0;
    get = async (key) => {
      const value = new Uint8Array(valueBytes);
      value[0] = key.charCodeAt(key.length - 1);
      if (at + valueBytes > storage.byteLength) at = 0;
      storage.set(value, at);
      at += valueBytes;
      return value;
    };
  } else if (path === "local") {
    cache = new GroupCache();
    cache.newGroup({
      name,
      cacheBytes,
      getterTimeoutMs: 0,
      getter: (key: string) => {
        const value = new Uint8Array(valueBytes);
        value[0] = key.charCodeAt(key.length - 1);
        return value;
      },
    });
  } else {
    const peer = await startPeerProcess({ groups: [{ name, valueBytes, cacheBytes: 0 }] });
    owner = peer;
    cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient() });
    cache.newGroup({ name, cacheBytes, hotPolicy: () => true, getter: () => new Uint8Array(0) });
    cache.setPeers([peer.id]);
  }
  if (cache !== undefined) {
    const group = cache.getGroup(name);
    get = (key) => group.get(key);
  }
  try {
    const total = Math.ceil((fillFactorOf(valueBytes) * cacheBytes) / (valueBytes + 12));
    let next = 0;
    let peak = 0;
    const loop = async (count: number) => {
      while (next < count) {
        const i = next++;
        const value = await get(`k-${i}`);
        if (value.length !== valueBytes) throw new Error(`key k-${i}: ${value.length} bytes, not ${valueBytes}`);
        if ((i & 255) === 0) peak = Math.max(peak, process.memoryUsage.rss());
        // Requests reach a server as separate I/O events: return to the event
        // loop now and then, as they would. (A fill that never leaves the
        // microtask queue keeps V8 from releasing some objects until it ends,
        // and grows the young generation to its maximum.)
        if ((i & 15) === 0) await new Promise<void>((done) => setImmediate(done));
      }
    };
    const fill = (count: number) => Promise.all(Array.from({ length: concurrency }, () => loop(count)));
    await fill(1_000);
    for (let i = 0; i < 3; i++) gc();
    const before = process.memoryUsage.rss();
    peak = before;
    await fill(1_000 + total);
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    for (let i = 0; i < 3; i++) gc();
    const afterGc = process.memoryUsage.rss();
    const none = { bytes: path === "floor" ? cacheBytes : 0, items: 0 };
    const main = cache?.getGroup(name).cacheStats("main") ?? none;
    const hot = cache?.getGroup(name).cacheStats("hot") ?? { bytes: 0, items: 0 };
    const result: Result = {
      peak: peak - before,
      end: m.rss - before,
      afterGc: afterGc - before,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      cachedBytes: main.bytes + hot.bytes,
      items: main.items + hot.items,
    };
    console.log(JSON.stringify(result));
  } finally {
    await owner?.kill();
    await cache?.close?.();
  }
}

/** What is measured: a library root, with V8 flags. */
interface Variant {
  label: string;
  root: string;
  flags: string[];
}

function measure(variant: Variant, path: Path, valueBytes: number): Result {
  const { root } = variant;
  const args = [
    "--expose-gc",
    ...variant.flags,
    import.meta.filename,
    "--child",
    "--root",
    root,
    "--path",
    path,
    "--value",
    String(valueBytes),
  ];
  if (quick) args.push("--quick");
  else args.push("--cache-mib", String(cacheBytes / mib));
  const out = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 600_000 });
  if (out.status !== 0) throw new Error(`${path} ${valueBytes} B in ${root}: child failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").at(-1) as string) as Result;
}

function main(): void {
  const here = resolve(import.meta.dirname, "..");
  // Each tree with Node's default flags, and this one with the young generation bounded.
  const trees: Variant[] = [
    ...treesOf(here, resolve).map((t) => ({ ...t, flags: [] })),
    { label: `this, ${semiFlag}`, root: here, flags: [semiFlag] },
  ];
  // Each path through each tree, then the floor (no library, default flags).
  const cases: { path: Path; tree: Variant }[] = [
    ...paths.flatMap((path) => trees.map((tree) => ({ path, tree }))),
    { path: "floor", tree: { label: "no library", root: here, flags: [] } },
  ];
  const samples = new Map<string, Result[]>();
  for (let r = 0; r < runs; r++) {
    for (const valueBytes of sizes) {
      for (const { path, tree } of cases) {
        const key = `${tree.label}|${path}|${valueBytes}`;
        const list = samples.get(key) ?? [];
        list.push(measure(tree, path, valueBytes));
        samples.set(key, list);
      }
    }
  }
  const m = (n: number) => fmt(n / mib, 1);
  const rows: string[][] = [];
  for (const valueBytes of sizes) {
    for (const { path, tree } of cases) {
      const list = samples.get(`${tree.label}|${path}|${valueBytes}`) ?? [];
      const med = (pick: (r: Result) => number) => summarize(list.map(pick)).median;
      const peak = summarize(list.map((r) => r.peak));
      rows.push([
        valueBytes >= 1024 ? `${valueBytes / 1024} KB` : `${valueBytes} B`,
        path,
        tree.label,
        m(peak.median),
        `${m(peak.min)}–${m(peak.max)}`,
        `${fmt(peak.median / cacheBytes, 2)}×`,
        m(med((r) => r.end)),
        `${fmt(med((r) => r.end) / cacheBytes, 2)}×`,
        m(med((r) => r.afterGc)),
        m(med((r) => r.heapUsed)),
        m(med((r) => r.heapTotal)),
        m(med((r) => r.external)),
        m(med((r) => r.arrayBuffers)),
        m(med((r) => r.cachedBytes)),
        fmt(med((r) => r.items)),
      ]);
    }
  }
  printTable(
    `RSS growth filling cacheBytes ${m(cacheBytes)} MiB with ${fillFactorOf(10240)}× (10 KB) or ${fillFactorOf(100)}× (100 B) its size of distinct values, ${runs} fresh process(es) each (MiB, median)`,
    [
      "value",
      "path",
      "code",
      "peak RSS",
      "min–max",
      "÷ cacheBytes",
      "end RSS",
      "÷ cacheBytes",
      "after gc()",
      "heapUsed",
      "heapTotal",
      "external",
      "arrayBuffers",
      "cached",
      "entries",
    ],
    rows,
  );
}

if (process.argv.includes("--child")) {
  await child(arg("root") as string, arg("path") as Path, Number(arg("value")));
} else if (import.meta.main) main();
