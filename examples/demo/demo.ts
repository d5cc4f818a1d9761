/**
 * `npm run demo`: a local groupcache cluster on an embedded default, no setup.
 *
 * Starts a DNS server on 127.0.0.1 that plays a Kubernetes headless Service,
 * then 3 processes of the Kubernetes example server (examples/kubernetes/
 * server.ts: an HTTP front serving Fibonacci numbers computed by a slow
 * backend, through groupcache). The peers find each other through the SRV
 * records, exactly as in a cluster. The demo then:
 *
 *   1. sends a thundering herd: many concurrent requests for the same keys,
 *      spread over every front; each key is computed once in the cluster;
 *   2. reads the same keys again: all from cache;
 *   3. scales to 4 peers by adding a record: rings converge, ~1/4 of the
 *      keys move to the newcomer;
 *   4. scales back to 3: the 4th peer leaves its ring, drains, exits;
 *
 * and prints what happened. It ends by itself and stops every process it
 * started, by PID. Options: --keys N (default 150), --requests N (1500),
 * --compute-ms N (40).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { prometheusSamples } from "../../bench/support/prometheus.ts";
import { quantile } from "../../bench/support/stats.ts";
import { Ring } from "../../src/core/ring.ts";
import { startDnsServer, type TestDnsServer } from "../../src/testing/dns-server.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const keyCount = arg("keys", 150);
const requestCount = arg("requests", 1500);
const computeMs = arg("compute-ms", 40);
const pollMs = 500;

const srvName = "_groupcache._tcp.fib-peers.default.svc.cluster.local";
// Fixed ports below the ephemeral range (so no lingering client connection
// holds them), offset per run so two demos do not collide.
const base = 21_000 + Math.floor(Math.random() * 500) * 10;

interface Pod {
  name: string;
  peerPort: number;
  httpPort: number;
  id: string;
  target: string;
  child?: ChildProcess;
  exited?: Promise<void>;
}

const pods: Pod[] = [0, 1, 2, 3].map((i) => ({
  name: `fib-${i}`,
  peerPort: base + i,
  httpPort: base + 5 + i,
  id: `127.0.0.1:${base + i}`,
  target: `fib-${i}.fib-peers.default.svc.cluster.local`,
}));

interface Stats {
  self: string;
  peers: string[];
  group: Record<string, number>;
  caches?: { main: Record<string, number>; hot: Record<string, number> };
}

const say = (line: string) => console.log(line);
const started: Pod[] = [];
let dns: TestDnsServer | undefined;

/** The DNS answers: one SRV record per listed pod, each target an A record for 127.0.0.1. */
function publish(listed: Pod[]): void {
  if (dns === undefined) return;
  dns.zone.srv.set(
    srvName,
    listed.map((p) => ({ target: p.target, port: p.peerPort })),
  );
  for (const p of listed) dns.zone.a.set(p.target, ["127.0.0.1"]);
}

/** Starts a pod and resolves once its HTTP front listens. */
async function start(pod: Pod): Promise<void> {
  const child = spawn(process.execPath, ["examples/kubernetes/server.ts"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      POD_IP: "127.0.0.1",
      PEER_PORT: String(pod.peerPort),
      HTTP_PORT: String(pod.httpPort),
      DNS_SERVER: dns?.address ?? "",
      DNS_POLL_MS: String(pollMs),
      DRAIN_MS: "1000",
      COMPUTE_MS: String(computeMs),
    },
  });
  pod.child = child;
  pod.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  started.push(pod);
  const stderr: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      // Generous: on a busy 2-core machine, loading the sources takes seconds.
      () => reject(new Error(`${pod.name} did not start within 60 s\n${stderr.join("")}`)),
      60_000,
    );
    lines.on("line", (line) => {
      if (line.includes("http on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${pod.name} exited with ${code}\n${stderr.join("")}`));
    });
  });
}

/**
 * Keep-alive connections, at most 32 per front: what a load balancer or an
 * HTTP client pool does. (One connection per request would measure TCP
 * handshakes, not the cache.)
 */
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** GET `path` from a front: status and body. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent, timeout: 30_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET :${port}${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

async function stats(pod: Pod): Promise<Stats> {
  return JSON.parse((await get(pod.httpPort, "/stats")).body) as Stats;
}

/** Waits (bounded) until every pod's ring holds exactly `ids`. */
async function converge(live: Pod[], ids: string[]): Promise<number> {
  const want = [...ids].sort().join(",");
  const begin = performance.now();
  for (let attempt = 0; attempt < 200; attempt++) {
    const all = await Promise.all(live.map(stats));
    if (all.every((s) => [...s.peers].sort().join(",") === want)) return performance.now() - begin;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`rings did not converge to ${want} within 10 s`);
}

interface Totals {
  localLoads: number;
  gets: number;
  cacheHits: number;
  peerLoads: number;
  serverRequests: number;
  peerErrors: number;
  mainHits: number;
  hotHits: number;
}

/**
 * The library's own counters, summed over `live`: read from each pod's
 * `/metrics` (OpenTelemetry, Prometheus format), as a dashboard would.
 */
async function totals(live: Pod[]): Promise<Totals> {
  const all = await Promise.all(live.map(async (pod) => prometheusSamples((await get(pod.httpPort, "/metrics")).body)));
  const sum = (name: string, labels: Record<string, string> = {}) =>
    all.reduce((n, sample) => n + (sample(name, { groupcache_group: "fib", ...labels }) ?? 0), 0);
  return {
    localLoads: sum("groupcache_group_local_loads_total"),
    gets: sum("groupcache_group_gets_total"),
    cacheHits: sum("groupcache_group_cache_hits_total"),
    peerLoads: sum("groupcache_group_peer_loads_total"),
    serverRequests: sum("groupcache_group_server_requests_total"),
    peerErrors: sum("groupcache_group_peer_errors_total"),
    mainHits: sum("groupcache_cache_hits_total", { groupcache_cache_type: "main" }),
    hotHits: sum("groupcache_cache_hits_total", { groupcache_cache_type: "hot" }),
  };
}

interface Phase {
  name: string;
  requests: number;
  wrong: number;
  loads: number;
  keys: number;
  hits: number;
  hotHits: number;
  peerFetches: number;
  peerErrors: number;
  p50: number;
  p99: number;
  wallMs: number;
}

function fib(n: number): string {
  let [a, b] = [0n, 1n];
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a.toString();
}

/** Sends `requestCount` concurrent requests for `keys`, round-robin over the fronts of `live`. */
async function workload(name: string, live: Pod[], keys: number[], counted: Pod[] = live): Promise<Phase> {
  const before = await totals(counted);
  const latencies: number[] = [];
  let wrong = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: requestCount }, async (_, i) => {
      const n = keys[i % keys.length] as number;
      const pod = live[i % live.length] as Pod;
      const t = performance.now();
      const res = await get(pod.httpPort, `/fib/${n}`);
      latencies.push(performance.now() - t);
      if (res.status !== 200 || res.body.trim() !== fib(n)) wrong++;
    }),
  );
  const wallMs = performance.now() - begin;
  const after = await totals(counted);
  return {
    name,
    requests: requestCount,
    wrong,
    keys: keys.length,
    loads: after.localLoads - before.localLoads,
    hits: after.cacheHits - before.cacheHits,
    hotHits: after.hotHits - before.hotHits,
    peerFetches: after.peerLoads - before.peerLoads,
    peerErrors: after.peerErrors - before.peerErrors,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    wallMs,
  };
}

function report(p: Phase): void {
  say(
    `  ${p.requests} requests for ${p.keys} keys in ${p.wallMs.toFixed(0)} ms: ` +
      `${p.loads} backend loads, ${p.hits} cache hits (${p.hotHits} from hot caches), ` +
      `${p.peerFetches} peer fetches, latency p50 ${p.p50.toFixed(1)} ms / p99 ${p.p99.toFixed(1)} ms` +
      (p.wrong > 0 ? `, ${p.wrong} WRONG ANSWERS` : ""),
  );
}

function owners(ids: string[], keys: number[]): Map<number, string> {
  const ring = new Ring(ids);
  return new Map(keys.map((k) => [k, ring.get(String(k)) as string]));
}

async function stopAll(): Promise<void> {
  agent.destroy();
  for (const pod of started)
    if (pod.child?.exitCode === null && pod.child.signalCode === null) pod.child.kill("SIGKILL");
  await Promise.all(started.map((p) => p.exited));
  await dns?.stop();
}

async function main(): Promise<void> {
  const t0 = performance.now();
  say("groupcache demo: a local cluster found through DNS SRV, like a Kubernetes headless Service\n");
  dns = await startDnsServer();
  say(`DNS server on ${dns.address} answers ${srvName}`);
  const first = pods.slice(0, 3);
  await Promise.all(first.map(start));
  say(`started ${first.map((p) => `${p.name} (pid ${p.child?.pid}, peer ${p.id}, http :${p.httpPort})`).join(", ")}`);
  publish(first);
  const ms = await converge(
    first,
    first.map((p) => p.id),
  );
  say(`every ring lists the 3 peers after ${ms.toFixed(0)} ms (DNS polled every ${pollMs} ms ± 20%)\n`);

  const keys = Array.from({ length: keyCount }, (_, i) => 1000 + i);
  const phases: Phase[] = [];
  say(
    `1. thundering herd: ${requestCount} requests sent at once for ${keyCount} keys, a ${computeMs} ms backend ` +
      "(latencies include queueing behind 32 keep-alive connections per front)",
  );
  phases.push(await workload("herd", first, keys));
  report(phases.at(-1) as Phase);

  say("2. the same requests again");
  phases.push(await workload("repeat", first, keys));
  report(phases.at(-1) as Phase);

  const four = pods.slice(0, 4);
  const newcomer = pods[3] as Pod;
  say(`\n3. scale up: start ${newcomer.name} and add its SRV record`);
  await start(newcomer);
  publish(four);
  const up = await converge(
    four,
    four.map((p) => p.id),
  );
  const before = owners(
    first.map((p) => p.id),
    keys,
  );
  const after = owners(
    four.map((p) => p.id),
    keys,
  );
  const moved = keys.filter((k) => before.get(k) !== after.get(k));
  const toNewcomer = moved.filter((k) => after.get(k) === newcomer.id).length;
  say(`  rings converged on 4 peers in ${up.toFixed(0)} ms`);
  say(`  ${moved.length} of ${keyCount} keys changed owner (${toNewcomer} to ${newcomer.name}; ~1/4 expected)`);
  phases.push(await workload("after scale-up", four, keys));
  report(phases.at(-1) as Phase);
  say(
    `  the moved keys were computed again by their new owner: ${phases.at(-1)?.loads} loads for ${moved.length} moved keys`,
  );

  say(`\n4. scale down: remove ${newcomer.name}'s record and send it SIGTERM (it leaves its ring, drains, exits)`);
  publish(first);
  newcomer.child?.kill("SIGTERM");
  const down = await converge(
    first,
    first.map((p) => p.id),
  );
  await newcomer.exited;
  say(`  rings converged on 3 peers in ${down.toFixed(0)} ms; ${newcomer.name} exited`);
  phases.push(await workload("after scale-down", first, keys));
  report(phases.at(-1) as Phase);

  say("\nsummary");
  const header = ["phase", "requests", "backend loads", "cache hits", "hot hits", "peer fetches", "p50 ms", "p99 ms"];
  const rows = phases.map((p) => [
    p.name,
    String(p.requests),
    String(p.loads),
    String(p.hits),
    String(p.hotHits),
    String(p.peerFetches),
    p.p50.toFixed(1),
    p.p99.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
  say(line(header));
  for (const r of rows) say(line(r));
  const dumped = first[0] as Pod;
  say(`\nmetrics of ${dumped.name} (GET /metrics; groupcache series, histogram buckets left out)`);
  const dump = (await get(dumped.httpPort, "/metrics")).body.split("\n");
  for (const row of dump)
    if (row.startsWith("groupcache_") && !row.includes("_bucket{"))
      say(`  ${row.replace(/,?otel_scope_name="groupcache"/, "")}`);
  const wrong = phases.reduce((n, p) => n + p.wrong, 0);
  const herd = phases[0] as Phase;
  say(
    `\n${herd.requests} concurrent requests cost ${herd.loads} backend loads for ${herd.keys} keys ` +
      `(${herd.loads === herd.keys ? "exactly one per key" : "NOT one per key"}); ${wrong} wrong answers; ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s in all.`,
  );
  if (wrong > 0 || herd.loads !== herd.keys) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await stopAll();
  say(
    `stopped ${started.length} peer processes (pids ${started.map((p) => p.child?.pid).join(", ")}) and the DNS server`,
  );
}
