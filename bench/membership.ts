/**
 * What membership changes cost a warm cluster: backend loads (getter calls
 * over every process, those that left included), failed gets, and the
 * latency of a steady client load before and during the change. Real peer
 * processes on loopback find each other through a real DNS server playing
 * the headless Service (`support/dns-cluster.ts`), as in Kubernetes. Each
 * scenario starts from a fresh cluster whose owners hold every key once:
 *
 * 1. scale-up 3 → 4: a new peer is listed;
 * 2. graceful scale-down 4 → 3: a peer is unlisted and shuts down as on
 *    SIGTERM (leaves its ring, serves for `drainMs`, closes);
 * 3. rolling restart, new ids: for each of the 4 peers, a replacement (new
 *    port, empty) is listed, then the old one is unlisted and shuts down;
 * 4. rolling restart, same ids: each peer is unlisted, shuts down, and
 *    comes back empty on its port.
 *
 * The steady load is one client process that follows DNS without being
 * listed (so it owns no key and caches nothing: every get reaches the
 * owner) and reads every key in turn at a fixed rate until the change is
 * over and the keys have been read twice more, so every key that moved
 * has been asked for again. Hot caches are off everywhere, so the counts
 * are exact. Every wait is on a condition (rings equal to the DNS list,
 * the driver's get count), bounded in time.
 *
 *   node --expose-gc bench/membership.ts           # ~1–2 minutes
 *   node --expose-gc bench/membership.ts --quick   # 100 keys: checks it runs
 *
 * `--scenario up|down|rolling-new|rolling-same` runs only those scenarios.
 * `--mechanism off|on` selects the rows to run; by default both run, one
 * after the other on fresh clusters: "off" without peeks or handoff
 * (`peekWindowMs: 0`, `handoff: false`: the code before the mechanism),
 * "on" with the defaults: a peer that leaves hands its main cache to the
 * new owners while it drains, and new owners peek a key's previous owners
 * before loading it (see {@link peerConfig}).
 */
import { loadavg } from "node:os";
import { sharedClockMs } from "../src/testing/paced-load.ts";
import type { PeerProcess } from "../src/testing/peer-process.ts";
import type { LoadResult, PeerConfig } from "../src/testing/protocol.ts";
import { DnsCluster } from "./support/dns-cluster.ts";
import { backendLoads, latencyIn, ownerMoves, type WindowLatency } from "./support/membership-measure.ts";
import { fmt, printTable, quick } from "./support/stats.ts";

const keyCount = quick ? 100 : 2_000;
const ratePerSec = quick ? 500 : 2_000;
const concurrency = quick ? 4 : 8;
/** DNS poll interval of every process: short, so that a scenario takes seconds, not minutes. */
const intervalMs = quick ? 100 : 250;
/**
 * How long a leaving peer serves after leaving its ring. It must cover DNS
 * propagation (2× a poll interval +20% jitter and a lookup, so peers that
 * still route to it are answered) and, for peeks, one pass of the load over
 * every key after the others dropped it: a key that moved is peeked from
 * the leaver only when the driver next asks for it.
 */
const drainMs = Math.ceil(2.4 * intervalMs + 100 + (keyCount / ratePerSec) * 1000 * 1.5);
/** Passes over the keys before measuring (connections, JIT), measured as steady state, and after the change. */
const warmPasses = 1;
const steadyPasses = quick ? 2 : 4;
const settlePasses = 2;
/** Upper bound of one scenario's load; it is stopped as soon as the scenario is over. */
const loadBoundMs = 180_000;
const group = "g";
const keys = Array.from({ length: keyCount }, (_, i) => `key-${i}`);

/** Handoff on leave and peeks of previous owners on ownership change: both off, or both on (the defaults). */
type Mechanism = "off" | "on";
const knownMechanisms: readonly Mechanism[] = ["off", "on"];

function selectedMechanisms(): Mechanism[] {
  const at = process.argv.indexOf("--mechanism");
  if (at === -1) return [...knownMechanisms];
  const wanted = process.argv[at + 1] ?? "";
  const known = knownMechanisms.find((m) => m === wanted);
  if (known === undefined) throw new Error(`--mechanism ${wanted}: one of ${knownMechanisms.join(", ")}`);
  return [known];
}

/** The listed peers' configuration: the one place a mechanism reaches them. */
function peerConfig(mechanism: Mechanism): PeerConfig {
  const groups = [{ name: group, hot: "never" as const }];
  return mechanism === "on"
    ? { drainMs, groups }
    : { drainMs, peekWindowMs: 0, handoff: false, handoffOnJoin: false, groups };
}

/** The driver caches nothing (not even what it loads when an owner fails), so every get measures the cluster. */
const driverConfig: PeerConfig = { groups: [{ name: group, hot: "never", cacheBytes: 0 }] };

interface Scenario {
  /** Its name for `--scenario`. */
  name: string;
  title: string;
  size: number;
  change(cluster: DnsCluster): Promise<void>;
}

/** Entries stored by the handoffs of the peers that left, per cluster. */
const handedOff = new WeakMap<DnsCluster, number>();

/** Unlists `peer` and shuts it down gracefully, as Kubernetes does both at once on a scale-down. */
async function remove(cluster: DnsCluster, peer: PeerProcess): Promise<void> {
  cluster.list(cluster.members.filter((p) => p !== peer));
  const [, handoff] = await Promise.all([cluster.converge(), cluster.retire(peer)]);
  handedOff.set(cluster, (handedOff.get(cluster) ?? 0) + (handoff?.stored ?? 0));
}

/** Starts a peer (on `port`, or a new one) and lists it once it is ready. */
async function add(cluster: DnsCluster, port?: number): Promise<void> {
  const peer = await cluster.startPeer(port);
  cluster.list([...cluster.members, peer]);
  await cluster.converge();
}

const portOf = (id: string) => Number(id.slice(id.lastIndexOf(":") + 1));

const scenarios: Scenario[] = [
  { name: "up", title: "Scale-up 3 → 4", size: 3, change: (c) => add(c) },
  {
    name: "down",
    title: "Graceful scale-down 4 → 3",
    size: 4,
    change: (c) => remove(c, c.members[c.members.length - 1] as PeerProcess),
  },
  {
    name: "rolling-new",
    title: "Rolling restart of 4, new ids (each replacement listed before the old peer leaves)",
    size: 4,
    change: async (c) => {
      for (const old of [...c.members]) {
        await add(c);
        await remove(c, old);
      }
    },
  },
  {
    name: "rolling-same",
    title: "Rolling restart of 4, same ids (each peer leaves, exits, comes back empty on its port)",
    size: 4,
    change: async (c) => {
      for (const old of [...c.members]) {
        await remove(c, old);
        await add(c, portOf(old.id));
      }
    },
  },
];

/**
 * `--scenario up|down|rolling-new|rolling-same` (repeatable) selects the
 * scenarios; by default all run.
 */
function selectedScenarios(): Scenario[] {
  const wanted = process.argv.flatMap((arg, i) => (process.argv[i - 1] === "--scenario" ? [arg] : []));
  for (const name of wanted) {
    if (!scenarios.some((s) => s.name === name)) {
      throw new Error(`--scenario ${name}: one of ${scenarios.map((s) => s.name).join(", ")}`);
    }
  }
  return wanted.length === 0 ? scenarios : scenarios.filter((s) => wanted.includes(s.name));
}

/** Resolves once the driver has made `passes` more passes over the keys; bounded by ten times their duration + 30 s (a loaded machine is slow). */
async function passes(cluster: DnsCluster, count: number): Promise<void> {
  const gets = async () => (await cluster.driver.request("stats", { group })).stats.gets ?? 0;
  const target = (await gets()) + count * keyCount;
  const deadline = performance.now() + ((10 * count * keyCount) / ratePerSec) * 1000 + 30_000;
  // Bounded by the deadline; each turn waits for one answer and 20 ms.
  while ((await gets()) < target) {
    if (performance.now() > deadline) throw new Error(`the driver did not make ${count} passes in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Row {
  mechanism: Mechanism;
  moved: { keys: number; moves: number };
  loads: { loads: number; keys: number; peerErrors: number };
  failed: number;
  handedOff: number;
  changeMs: number;
  steady: WindowLatency;
  during: WindowLatency;
}

async function run(scenario: Scenario, mechanism: Mechanism): Promise<Row> {
  const cluster = await DnsCluster.start({
    size: scenario.size,
    config: peerConfig(mechanism),
    driverConfig,
    group,
    intervalMs,
    convergeTimeoutMs: 15_000,
    startTimeoutMs: 60_000,
  });
  try {
    const { results } = await cluster.driver.request("getMany", { group, keys }, 60_000);
    const bad = results.findIndex((r) => !r.ok);
    if (bad !== -1) throw new Error(`warm-up get of ${keys[bad]} failed: ${JSON.stringify(results[bad])}`);
    const warmStats = await cluster.stats();
    const warm = backendLoads(keys, warmStats);
    // On a loaded machine a warm-up fetch can fail (the asker then loads the key too): counted from here.
    if (warm.loads !== 0 || warm.peerErrors !== 0)
      console.log(`  warm-up: ${JSON.stringify(warm)}; counting from here`);

    const maxOps = (ratePerSec * loadBoundMs) / 1000;
    const args = { group, keys, concurrency, ratePerSec, durationMs: loadBoundMs, maxOps };
    const loading: Promise<LoadResult> = cluster.driver.request("load", args, loadBoundMs + 30_000);
    loading.catch(() => {}); // awaited below; a failure must not go unhandled while the change runs
    await passes(cluster, warmPasses);
    const steadyFrom = sharedClockMs();
    await passes(cluster, steadyPasses);
    const changeFrom = sharedClockMs();
    await scenario.change(cluster);
    const changeTo = sharedClockMs();
    await passes(cluster, settlePasses);
    await cluster.driver.request("loadStop", {});
    const load = await loading;
    for (const f of load.failures) console.log(`  failed get of ${f.key}: ${f.code} ${f.message.split("\n")[0]}`);
    return {
      mechanism,
      moved: ownerMoves(keys, cluster.lists),
      loads: backendLoads(keys, await cluster.stats(), warmStats),
      failed: load.failed.length,
      handedOff: handedOff.get(cluster) ?? 0,
      changeMs: changeTo - changeFrom,
      steady: latencyIn(load, steadyFrom, changeFrom),
      during: latencyIn(load, changeFrom, changeTo),
    };
  } finally {
    await cluster.close();
  }
}

const pct = (n: number) => `${fmt((100 * n) / keyCount, 1)}%`;
const header = [
  "mechanism",
  "keys",
  "changed owner",
  "owner changes",
  "backend loads",
  "% of keys",
  "keys reloaded",
  "failed gets",
  "peer errors",
  "handed off",
  "change s",
  "steady p50 µs",
  "p99",
  "during p50 µs",
  "p99",
  "p99 ÷ steady",
];
const cells = (r: Row) => [
  r.mechanism,
  fmt(keyCount),
  `${fmt(r.moved.keys)} (${pct(r.moved.keys)})`,
  fmt(r.moved.moves),
  fmt(r.loads.loads),
  pct(r.loads.loads),
  `${fmt(r.loads.keys)} (${pct(r.loads.keys)})`,
  fmt(r.failed),
  fmt(r.loads.peerErrors),
  fmt(r.handedOff),
  fmt(r.changeMs / 1000, 1),
  fmt(r.steady.p50Us),
  fmt(r.steady.p99Us),
  fmt(r.during.p50Us),
  fmt(r.during.p99Us),
  `${fmt(r.during.p99Us / r.steady.p99Us, 1)}×`,
];

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const started = performance.now();
const mechanisms = selectedMechanisms();
console.log(`load average at start: ${load()}`);
console.log(
  `${fmt(keyCount)} warm keys, steady load ${fmt(ratePerSec)} gets/s (c=${concurrency}) from a client process; ` +
    `DNS poll ${intervalMs} ms ±20% (production default 5,000 ms); drain ${fmt(drainMs)} ms; hot caches off`,
);
for (const scenario of selectedScenarios()) {
  const rows: Row[] = [];
  for (const mechanism of mechanisms) rows.push(await run(scenario, mechanism));
  printTable(scenario.title, header, rows.map(cells));
}
console.log(`\nload average at end: ${load()}; ${fmt((performance.now() - started) / 1000, 1)} s`);
