import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { prometheusSamples } from "../bench/support/prometheus.ts";
import { defaultDrainMs } from "../src/core/defaults.ts";
import { startDnsServer, type TestDnsServer } from "../src/testing/dns-server.ts";

// The Kubernetes example server (examples/kubernetes/server.ts), three
// processes on 127.0.0.1 over the real gRPC transport, finding each other
// through a real DNS server that plays the headless Service. It imports the
// built package (`groupcache/node`, resolved to dist/ by the package's own
// exports), so the package is built first. Node only.

const root = fileURLToPath(new URL("..", import.meta.url));
const manifest = (name: string) => readFileSync(new URL(`../examples/kubernetes/${name}`, import.meta.url), "utf8");
/** The number after `key:` in a manifest (the first one). */
const numberAt = (text: string, key: string) => Number(new RegExp(`\\b${key}: "?(\\d+)`).exec(text)?.[1]);
const srv = "_groupcache._tcp.fib-peers.default.svc.cluster.local";
// Fixed ports below the ephemeral range, offset per run: ports in
// 32768–60999, the ephemeral range, hit EADDRINUSE from lingering client
// connections.
const base = 20_000 + Math.floor(Math.random() * 400) * 10;
const pods = [0, 1, 2].map((i) => ({
  peerPort: base + i,
  httpPort: base + 5 + i,
  id: `127.0.0.1:${base + i}`,
  target: `pod-${i}.fib-peers.default.svc.cluster.local`,
}));

interface Running {
  child: ChildProcess;
  lines: string[];
  /** What it wrote to stderr (Node's type-stripping warning, or why it failed). */
  stderr: string[];
  waiters: Set<() => void>;
  exited: Promise<number | null>;
}

let dns: TestDnsServer;
const running: Running[] = [];

function list(which: typeof pods): void {
  dns.zone.srv.set(
    srv,
    which.map((pod) => ({ target: pod.target, port: pod.peerPort })),
  );
  for (const pod of which) dns.zone.a.set(pod.target, ["127.0.0.1"]);
}

function start(pod: (typeof pods)[number], extraEnv: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, ["examples/kubernetes/server.ts"], {
    cwd: root,
    env: {
      ...process.env,
      POD_IP: "127.0.0.1",
      PEER_PORT: String(pod.peerPort),
      HTTP_PORT: String(pod.httpPort),
      DNS_SERVER: dns.address,
      DNS_POLL_MS: "200",
      COMPUTE_MS: "100",
      DRAIN_MS: "300",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: Running = {
    child,
    lines: [],
    stderr: [],
    waiters: new Set(),
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
  };
  let buffered = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    run.lines.push(...parts);
    for (const waiter of [...run.waiters]) waiter();
  });
  child.stderr?.on("data", (chunk: Buffer) => run.stderr.push(chunk.toString()));
  running.push(run);
  return run;
}

/** Resolves when the process has printed a line containing `text`; rejects after `timeoutMs` (a start took over 10 s on a shared 2-core machine). */
function printed(run: Running, text: string, timeoutMs = 40_000): Promise<void> {
  if (run.lines.some((line) => line.includes(text))) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const waiter = () => {
      if (!run.lines.some((line) => line.includes(text))) return;
      clearTimeout(timer);
      run.waiters.delete(waiter);
      resolve();
    };
    const timer = setTimeout(() => {
      run.waiters.delete(waiter);
      reject(
        new Error(
          `timed out waiting for ${JSON.stringify(text)}; output:\n${run.lines.join("\n")}\nstderr:\n${run.stderr.join("")}`,
        ),
      );
    }, timeoutMs);
    run.waiters.add(waiter);
  });
}

function fibOf(n: number): string {
  let [a, b] = [0n, 1n];
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a.toString();
}

beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const built = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`building the package failed:\n${built.stdout}${built.stderr}`);
  dns = await startDnsServer();
}, 180_000);

test("the manifests line up with startPeer's rollout", () => {
  const deployment = manifest("deployment.yaml");
  const service = manifest("service.yaml");
  // Surge: a new pod is ready (and seen by every pod's DNS poll) before an old one leaves and hands off.
  const strategy = deployment.slice(deployment.indexOf("strategy:"), deployment.indexOf("selector:"));
  expect(strategy).toMatch(/type: RollingUpdate/);
  expect(strategy).toMatch(/^\s+maxSurge: 1$/m);
  expect(strategy).toMatch(/^\s+maxUnavailable: 0$/m);
  expect(numberAt(deployment, "minReadySeconds")).toBeGreaterThanOrEqual(10);
  // The grace period covers the drain and the server's close (5 s), with room to spare.
  const drainMs = Number(/name: DRAIN_MS\n\s+value: "(\d+)"/.exec(deployment)?.[1]);
  expect(drainMs).toBe(defaultDrainMs);
  expect(numberAt(deployment, "terminationGracePeriodSeconds") * 1000).toBeGreaterThanOrEqual(drainMs + 5_000 + 5_000);
  // Readiness decides membership: one slow probe must not take the pod out.
  const readiness = deployment.slice(deployment.indexOf("readinessProbe:"), deployment.indexOf("livenessProbe:"));
  expect(numberAt(readiness, "failureThreshold")).toBeGreaterThanOrEqual(3);
  expect(numberAt(readiness, "periodSeconds") * numberAt(readiness, "failureThreshold")).toBeGreaterThanOrEqual(10);
  // Memory as the README sizes it: 150 MiB at rest + 1.1 x cacheBytes + 120 MiB with a bounded
  // young generation (160 MiB without), requested as much as the limit.
  const cacheMiB = Number(/cacheBytes: (\d+) << 20/.exec(manifest("server.ts"))?.[1]);
  const semiSpace = /name: NODE_OPTIONS\n\s+value: "--max-semi-space-size=16"/.test(deployment);
  const resources = deployment.slice(deployment.indexOf("resources:"));
  const [requested, limit] = [...resources.matchAll(/memory: (\d+)Mi/g)].map((m) => Number(m[1]));
  expect(semiSpace).toBe(true);
  expect(limit).toBeGreaterThanOrEqual(150 + 1.1 * cacheMiB + 120);
  expect(requested).toBe(limit);
  // Pod Security "restricted".
  expect(deployment).toMatch(/runAsNonRoot: true/);
  expect(deployment).toMatch(/seccompProfile:\n\s+type: RuntimeDefault/);
  expect(deployment).toMatch(/allowPrivilegeEscalation: false/);
  expect(deployment).toMatch(/capabilities:\n\s+drop: \["ALL"\]/);
  expect(deployment).toMatch(/topologySpreadConstraints:/);
  // A pinned image: a tag that is a version, not :dev or :latest.
  expect(deployment).toMatch(/image: groupcache-fib:\d+\.\d+\.\d+\n/);
  // The image runs the packed package, not the sources.
  const dockerfile = manifest("Dockerfile");
  expect(dockerfile).toMatch(/^FROM node:\d+\.\d+\.\d+-\S+ AS build$/m);
  expect(dockerfile).toMatch(/npm pack/);
  expect(dockerfile).toMatch(/npm install --omit=dev [^\n]*groupcache\.tgz/);
  expect(dockerfile.slice(dockerfile.lastIndexOf("FROM "))).not.toMatch(/COPY src|src\//);
  // Only ready pods are listed: a terminating pod leaves every ring while it drains.
  expect(service).toMatch(/clusterIP: None/);
  expect(service).toMatch(/publishNotReadyAddresses: false/);
  // The example's server passes one signal per request, not AbortSignal.any (never freed on Node 24).
  expect(manifest("server.ts")).not.toMatch(/AbortSignal\.(any|timeout)\(/);
});

afterAll(async () => {
  for (const run of running) if (run.child.exitCode === null) run.child.kill("SIGKILL");
  await Promise.all(running.map((run) => run.exited));
  await dns.stop();
});

test("three example pods discover each other and compute each number once", async () => {
  list(pods);
  const runs = pods.map((pod) => start(pod));
  const all = `peers: ${pods.map((pod) => pod.id).join(", ")}`;
  await Promise.all(runs.map((run) => printed(run, all)));
  await Promise.all(runs.map((run) => printed(run, "http on")));
  const ns = [30, 31, 32, 33, 34, 35];
  const answers = await Promise.all(
    pods.flatMap((pod) =>
      ns.map(async (n) => {
        const res = await fetch(`http://127.0.0.1:${pod.httpPort}/fib/${n}`);
        return { n, status: res.status, body: (await res.text()).trim(), owner: res.headers.get("x-owner") };
      }),
    ),
  );
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(fibOf(answer.n));
  }
  // Every pod names the same owner for each number.
  for (const n of ns) expect(new Set(answers.filter((a) => a.n === n).map((a) => a.owner)).size).toBe(1);
  const stats = await Promise.all(
    pods.map(
      async (pod) =>
        (await fetch(`http://127.0.0.1:${pod.httpPort}/stats`)).json() as Promise<{ computations: number }>,
    ),
  );
  expect(stats.reduce((sum, s) => sum + s.computations, 0)).toBe(ns.length);
});

test("SIGTERM: the pod leaves its ring, drains and exits 0; the others follow DNS", async () => {
  const [first, second, third] = running as [Running, Running, Running];
  third.child.kill("SIGTERM");
  await printed(third, `peers: ${pods[0]?.id}, ${pods[1]?.id}`);
  list(pods.slice(0, 2));
  const two = `peers: ${pods[0]?.id}, ${pods[1]?.id}`;
  await Promise.all([printed(first, two), printed(second, two)]);
  expect(await third.exited).toBe(0);
  const res = await fetch(`http://127.0.0.1:${pods[0]?.httpPort}/fib/36`);
  expect((await res.text()).trim()).toBe(fibOf(36));
  first.child.kill("SIGTERM");
  second.child.kill("SIGTERM");
  expect(await first.exited).toBe(0);
  expect(await second.exited).toBe(0);
});

/** Scrapes a pod's /metrics: the value of the sample `name` whose labels include `labels`. */
async function scrape(pod: (typeof pods)[number]) {
  return prometheusSamples(await (await fetch(`http://127.0.0.1:${pod.httpPort}/metrics`)).text());
}

test("/metrics and /health: Go's counters for Prometheus; a pod with a misspelled Service name says it is alone", async () => {
  const [p0, p1, lost] = pods as [(typeof pods)[number], (typeof pods)[number], (typeof pods)[number]];
  list([p0, p1]);
  const good = [start(p0), start(p1)];
  const alone = start(lost, { SERVICE_NAME: "fib-peerz", ALONE_AFTER_MS: "300" });
  const two = `peers: ${p0.id}, ${p1.id}`;
  await Promise.all(good.map((run) => printed(run, two)));
  await Promise.all([...good, alone].map((run) => printed(run, "http on")));
  await printed(alone, "discovery has listed no peer but this one");

  // One number asked of both good pods, one after the other: computed once, by its owner.
  const n = 40;
  for (const pod of [p0, p1])
    expect((await (await fetch(`http://127.0.0.1:${pod.httpPort}/fib/${n}`)).text()).trim()).toBe(fibOf(n));
  const [m0, m1] = await Promise.all([scrape(p0), scrape(p1)]);
  const group = { groupcache_group: "fib" };
  for (const m of [m0, m1]) expect(m("groupcache_group_gets_total", group)).toBeGreaterThanOrEqual(1);
  const sum = (name: string) => (m0(name, group) ?? 0) + (m1(name, group) ?? 0);
  expect(sum("groupcache_group_local_loads_total")).toBe(1);
  expect(sum("groupcache_group_peer_loads_total")).toBe(1);
  expect(sum("groupcache_group_server_requests_total")).toBe(1);
  expect(sum("groupcache_group_peer_errors_total")).toBe(0);
  expect(m0("groupcache_ring_peers")).toBe(2);

  const lonely = await scrape(lost);
  expect(lonely("groupcache_events_total", { groupcache_event_type: "discovery-alone" })).toBe(1);
  expect(lonely("groupcache_ring_peers")).toBe(1);
  const health = (await (await fetch(`http://127.0.0.1:${lost.httpPort}/health`)).json()) as {
    ready: boolean;
    status: string;
    problems: { kind: string }[];
  };
  expect(health).toMatchObject({ ready: true, status: "degraded", problems: [{ kind: "discovery-alone" }] });
  expect(await (await fetch(`http://127.0.0.1:${p0.httpPort}/health`)).json()).toMatchObject({
    status: "ok",
    problems: [],
  });
  for (const run of [...good, alone]) run.child.kill("SIGTERM");
  expect(await Promise.all([...good, alone].map((run) => run.exited))).toEqual([0, 0, 0]);
});
