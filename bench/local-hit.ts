/**
 * Local hit: `await group.get(key)` on a cached key, against `lru-cache`'s
 * `fetch()` on a hit and a bare `Map` lookup behind an async function, in
 * the same process and run, and against Go groupcache's `Get` hit
 * (`support/go-baseline.ts`; one process per run, between ours): with
 * `ByteViewSink`, which hands out the cached bytes without a copy like our
 * ByteView, and with `AllocatingByteSliceSink`, a copy per get like
 * `bytesCodec` (one sink for every get, Go's cheapest). Without Go, the
 * ~102 ns/op that Go groupcache's local hit measured earlier on this
 * machine kind stands in.
 *
 * The 1,000 hot keys fit the group's hit memo (4,096 slots of settled
 * promises), as popular keys do. The "spread" row cycles through 20,000
 * keys, so every hit misses the memo: it decodes again and allocates a
 * promise, the cost of a hit on a key that is not among the recently hit.
 *
 * Telemetry must not cost a hit anything: two more rows run the default
 * candidate with `openTelemetry()` over the API's no-op providers (the
 * package installed, no SDK: what `startPeer` does by default) and over the
 * real SDK (a meter provider with a reader, a tracer provider with a span
 * processor), in the same run as the row without telemetry.
 *
 *   node bench/local-hit.ts [--quick]
 */
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { LRUCache } from "lru-cache";
import { bytesCodec, GroupCache, stringCodec } from "../src/index.ts";
import { openTelemetry } from "../src/opentelemetry/index.ts";
import { buildGoBaseline, type GoSink, skippedLine } from "./support/go-baseline.ts";
import { fmt, printTable, quick, summarize } from "./support/stats.ts";

const keyCount = 1000;
const valueBytes = 100;
const opsPerRun = quick ? 20_000 : 2_000_000;
const runs = quick ? 3 : 7;
/** Go groupcache's local hit, ns/op, measured earlier on this machine kind: shown when Go is missing. */
const staticGoNsPerOp = 102;

const keys = Array.from({ length: keyCount }, (_, i) => `key-${i}`);
const spreadKeyCount = quick ? 5_000 : 20_000;
const spreadKeys = Array.from({ length: spreadKeyCount }, (_, i) => `key-${i}`);
const value = new Uint8Array(valueBytes).fill(7);
const valueText = "x".repeat(valueBytes);

type Get = (key: string) => Promise<unknown>;

const viewName = "groupcache get (ByteView, default)";
const ttlName = "groupcache get (ByteView, ttlMs 1 h)";
/** A metric reader nobody collects from during the run: instruments are live, collection never competes. */
class IdleReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** The OpenTelemetry SDK in memory, as an application would register it. */
function sdkTelemetry() {
  return openTelemetry({
    meterProvider: new MeterProvider({ readers: [new IdleReader()] }),
    tracerProvider: new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
    }),
  });
}

/** Collects garbage first (with `--expose-gc`, as `bench/run.ts` runs it), so no candidate pays for the previous one's. */
async function measure(get: Get): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const start = performance.now();
  for (let i = 0; i < opsPerRun; i++) await get(keys[i % keyCount] as string);
  return ((performance.now() - start) * 1e6) / opsPerRun;
}

async function candidates(): Promise<[string, Get][]> {
  const cache = new GroupCache();
  const view = cache.newGroup({ name: "view", getter: () => value });
  // With a TTL every hit checks its expiry (on the default coarse clock); an hour, so none expires during the run.
  const ttl = cache.newGroup({ name: "ttl", getter: () => value, ttlMs: 3_600_000 });
  const bytes = cache.newGroup({ name: "bytes", codec: bytesCodec, getter: () => value });
  const text = cache.newGroup({ name: "text", codec: stringCodec, getter: () => valueText });
  const spread = cache.newGroup({ name: "spread", getter: () => value });
  const noSdk = new GroupCache({ telemetry: openTelemetry() }).newGroup({ name: "view", getter: () => value });
  const sdk = new GroupCache({ telemetry: sdkTelemetry() }).newGroup({ name: "view", getter: () => value });
  for (const k of spreadKeys) await spread.get(k);
  let next = 0;
  const lru = new LRUCache<string, Uint8Array>({ max: keyCount * 2, fetchMethod: async () => value });
  const map = new Map<string, Uint8Array>();
  for (const k of keys) {
    await view.get(k);
    await ttl.get(k);
    await noSdk.get(k);
    await sdk.get(k);
    await bytes.get(k);
    await text.get(k);
    await lru.fetch(k);
    map.set(k, value);
  }
  return [
    [viewName, (k) => view.get(k)],
    [ttlName, (k) => ttl.get(k)],
    ["  same, openTelemetry() with no SDK (no-op API)", (k) => noSdk.get(k)],
    ["  same, openTelemetry() with the OpenTelemetry SDK", (k) => sdk.get(k)],
    ["groupcache get (bytesCodec, copy per get)", (k) => bytes.get(k)],
    ["groupcache get (string codec)", (k) => text.get(k)],
    [
      `groupcache get, spread over ${fmt(spreadKeyCount)} keys`,
      () => spread.get(spreadKeys[next++ % spreadKeyCount] as string),
    ],
    ["lru-cache fetch() hit", (k) => lru.fetch(k)],
    ["async Map lookup", async (k) => map.get(k)],
  ];
}

/** Go's candidates: the sinks that match our ByteView and bytesCodec rows. */
const goCandidates: [string, GoSink][] = [
  ["Go groupcache Get (ByteViewSink, no copy)", "byteview"],
  ["Go groupcache Get (AllocatingByteSliceSink, copy per get)", "allocating"],
];

export async function main(): Promise<void> {
  const built = buildGoBaseline();
  if (built.go === undefined) console.log(skippedLine(built.reason));
  const go = built.go === undefined ? [] : goCandidates;
  const list = await candidates();
  const names = [...list.map(([name]) => name), ...go.map(([name]) => name)];
  const samples = new Map<string, number[]>(names.map((name) => [name, []]));
  // The copying candidate runs apart, after the others: its garbage (a new
  // ArrayBuffer per get) slowed whichever candidate ran next by up to 1.5×,
  // even with a collection in between.
  const apart = list.filter(([name]) => name.includes("bytesCodec"));
  const together = list.filter((c) => !apart.includes(c));
  for (const [, get] of together) await measure(get); // warm up every candidate first
  for (let r = 0; r < runs; r++) {
    // Interleave candidates so machine noise hits all of them alike.
    for (const [name, get] of together) samples.get(name)?.push(await measure(get));
    // Go runs in its own process, so it leaves no garbage here.
    for (const [name, sink] of go) samples.get(name)?.push(built.go?.localHit(sink, opsPerRun) ?? Number.NaN);
  }
  for (const [name, get] of apart) {
    await measure(get);
    for (let r = 0; r < runs; r++) samples.get(name)?.push(await measure(get));
  }
  const median = (name: string) => summarize(samples.get(name) ?? []).median;
  const lruMedian = median("lru-cache fetch() hit");
  const mapMedian = median("async Map lookup");
  const goMedian = built.go === undefined ? staticGoNsPerOp : median(goCandidates[0]?.[0] as string);
  const rows = names.map((name) => {
    const s = summarize(samples.get(name) ?? []);
    return [
      name,
      fmt(s.median, 1),
      `${fmt(s.min, 1)}–${fmt(s.max, 1)}`,
      fmt(1e9 / s.median),
      `${fmt(s.median / goMedian, 2)}×`,
      `${fmt(s.median / lruMedian, 2)}×`,
      `${fmt(s.median / mapMedian, 2)}×`,
    ];
  });
  printTable(
    `Local hit, ${keyCount} cached keys of ${valueBytes} B, ${fmt(opsPerRun)} ops × ${runs} runs (median ns/op; ratios: lower is better)`,
    [
      "candidate",
      "ns/op",
      "min–max",
      "ops/s",
      built.go === undefined ? `vs Go ${staticGoNsPerOp} ns (earlier)` : "vs Go ByteViewSink",
      "vs lru-cache",
      "vs Map",
    ],
    rows,
  );
  console.log(`TTL on / off (same run, medians): ${fmt(median(ttlName) / median(viewName), 2)}×`);
}

if (import.meta.main) await main();
