/**
 * Example service for Kubernetes: an HTTP front that serves Fibonacci
 * numbers, each computed by a slow "backend", through groupcache. However
 * many pods and requests there are, each number is computed once in the
 * whole cluster (until evicted); a pod that does not own a number asks its
 * owner over gRPC.
 *
 * Pods find each other through the SRV records of a headless Service, and a
 * pod told to stop (SIGTERM) first leaves its own ring, then drains, then
 * closes. Configuration comes from the environment (see `deployment.yaml`):
 *
 * | variable             | default              | meaning                                             |
 * | -------------------- | -------------------- | --------------------------------------------------- |
 * | `POD_IP`             | `127.0.0.1`          | this pod's IP (downward API `status.podIP`)         |
 * | `POD_NAMESPACE`      | `default`            | namespace of the Service (`metadata.namespace`)     |
 * | `SERVICE_NAME`       | `fib-peers`          | the headless Service                                |
 * | `PEER_PORT_NAME`     | `groupcache`         | the Service's port name for peer traffic            |
 * | `PEER_PORT`          | `8081`               | the port that name points to (gRPC between pods)    |
 * | `HTTP_PORT`          | `8080`               | the HTTP front (`/fib/<n>`, `/stats`, probes)       |
 * | `CLUSTER_DOMAIN`     | `cluster.local`      | the cluster's DNS domain                            |
 * | `DNS_SERVER`         | the system's         | `ip[:port]` of a DNS server, e.g. for local tests   |
 * | `DNS_POLL_MS`        | `5000`               | how often to re-read the SRV records                |
 * | `DRAIN_MS`           | `20000`              | how long to keep serving peers after leaving        |
 * | `COMPUTE_MS`         | `500`                | simulated cost of computing one number              |
 * | `ALONE_AFTER_MS`     | `60000`              | report a discovery that finds no other pod after it |
 *
 * Metrics: `/metrics` in Prometheus format, through the OpenTelemetry SDK
 * and its Prometheus exporter (dependencies of this example, not of the
 * library, which uses the OpenTelemetry API only). `/health` answers
 * `peer.health()` as JSON; warnings and errors (`onEvent`) go to the log.
 *
 * It imports the built package (`groupcache/node`), as an application does;
 * in the repository that resolves to `dist/` (`npm run build` first), and
 * the image installs the packed package. Run it with Node 24 (which strips
 * the types): `node examples/kubernetes/server.ts`.
 */
import { createServer } from "node:http";
import { metrics } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { type DnsSrvDiscovery, GroupCacheError, startPeer, stringCodec } from "groupcache/node";

// Metrics for Prometheus: the SDK's meter provider, read by the exporter at
// each scrape of /metrics (served below, on the HTTP front). Registered as
// the global provider before startPeer, which reports to the global one.
const prometheus = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [prometheus] }));

function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : value;
}

function envInt(name: string, fallback: number): number {
  const text = env(name, String(fallback));
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${text}`);
  return value;
}

const podIp = env("POD_IP", "127.0.0.1");
const peerPort = envInt("PEER_PORT", 8081);
const httpPort = envInt("HTTP_PORT", 8080);
const drainMs = envInt("DRAIN_MS", 20_000);
const computeMs = envInt("COMPUTE_MS", 500);
const dnsServer = process.env.DNS_SERVER;
const log = (message: string) => console.log(`${new Date().toISOString()} ${podIp} ${message}`);

// One call: listen for peers on PEER_PORT (gRPC over cleartext HTTP/2),
// take `POD_IP:PEER_PORT` as this pod's id (the same string every other pod
// builds from the SRV records), and follow the headless Service's records.
// This pod is in its own ring from the start, before DNS lists it.
const peer = await startPeer({
  host: podIp.includes(":") ? "::" : "0.0.0.0",
  port: peerPort,
  advertiseHost: podIp,
  peers: {
    dns: {
      ...(dnsServer === undefined ? {} : { server: dnsServer }),
      service: env("SERVICE_NAME", "fib-peers"),
      namespace: env("POD_NAMESPACE", "default"),
      portName: env("PEER_PORT_NAME", "groupcache"),
      clusterDomain: env("CLUSTER_DOMAIN", "cluster.local"),
      intervalMs: envInt("DNS_POLL_MS", 5000),
    },
  },
  client: { timeoutMs: 10_000 },
  drainMs,
  aloneAfterMs: envInt("ALONE_AFTER_MS", 60_000),
  // Problems (down peers, a peer missing the group, rings that differ, no
  // other pod found...) to the log; info events, each peer error (peer-down
  // sums them up) and discovery errors (onError below) are left out.
  onEvent: (event) => {
    if (event.level !== "info" && event.type !== "peer-error" && event.type !== "discovery-error") {
      log(`${event.level}: ${event.message}`);
    }
  },
  onPeers: (peers) => log(`peers: ${peers.join(", ")}`),
  onError: (error) => log(`discovery failed, keeping the last peers: ${error.message}`),
});
const { cache, self } = peer;
const discovery = peer.discovery as DnsSrvDiscovery;
log(`peer id ${self}; discovering peers at ${discovery.name}`);

let computations = 0;
const fib = cache.newGroup({
  name: "fib",
  codec: stringCodec,
  cacheBytes: 32 << 20,
  getter: async (key, { signal }) => {
    const n = Number(key);
    // The "expensive backend": a slow call, then the number itself.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, computeMs);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
    computations++;
    let [a, b] = [0n, 1n];
    for (let i = 0; i < n; i++) [a, b] = [b, a + b];
    log(`computed fib(${n})`);
    return a.toString();
  },
});

let draining = false;
const http = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const send = (status: number, body: string, type = "text/plain") => {
    res.writeHead(status, { "content-type": type });
    res.end(body);
  };
  if (url.pathname === "/healthz") return send(200, "ok\n");
  if (url.pathname === "/metrics") return prometheus.getMetricsRequestHandler(req, res);
  if (url.pathname === "/health") return send(200, `${JSON.stringify(peer.health(), null, 2)}\n`, "application/json");
  // Ready while not draining: a draining pod gets no new front traffic.
  if (url.pathname === "/readyz") return draining ? send(503, "draining\n") : send(200, "ready\n");
  if (url.pathname === "/stats") {
    const stats = {
      self,
      peers: cache.peers,
      computations,
      group: fib.stats,
      caches: { main: fib.cacheStats("main"), hot: fib.cacheStats("hot") },
      discovery: discovery.stats,
    };
    return send(200, `${JSON.stringify(stats, null, 2)}\n`, "application/json");
  }
  const match = /^\/fib\/(\d{1,5})$/.exec(url.pathname);
  if (match === null) return send(404, "try /fib/<n> (n ≤ 50000), /stats\n");
  const key = String(Number(match[1]));
  if (Number(key) > 50_000) return send(400, "n must be at most 50000\n");
  // One controller per request, aborted when the client goes away or after
  // 30 s, and a timer cleared when the get settles; not `AbortSignal.any`
  // over this signal and an `AbortSignal.timeout`: Node 24 never frees the
  // signals `AbortSignal.any` makes (hundreds of MiB over some 60,000
  // requests), and each `AbortSignal.timeout` holds its timer for 30 s.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new DOMException("no answer within 30 s", "TimeoutError")), 30_000);
  res.on("close", () => abort.abort());
  res.setHeader("x-owner", cache.ownerOf(key) ?? self);
  res.setHeader("x-served-by", self);
  fib
    .get(key, { signal: abort.signal })
    .then(
      (value) => send(200, `${value}\n`),
      (error: unknown) => {
        const e = GroupCacheError.from(error);
        if (!res.headersSent) send(e.code === "deadline-exceeded" ? 504 : 500, `${e.code}: ${e.message}\n`);
      },
    )
    .finally(() => clearTimeout(timer));
});
http.listen(httpPort, () => {
  const address = http.address();
  log(
    `http on :${typeof address === "object" && address !== null ? address.port : httpPort}, peers on :${peer.server.port}`,
  );
});

// Kubernetes sends SIGTERM, then SIGKILL after terminationGracePeriodSeconds.
// Order: leave the ring (stop owning keys), hand the cached numbers to their
// new owners while serving peers whose rings still name this pod until their
// next DNS poll, then close everything.
let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  draining = true;
  log(`${signal}: leaving the ring, handing off, draining for ${drainMs} ms`);
  // Leaves the ring, hands the main cache off to the new owners while it
  // keeps serving peers (and this front) for drainMs, then closes the peer
  // server, discovery and the peer connections.
  await peer.close();
  const handed = peer.handoff;
  if (handed !== undefined) {
    log(`handed off ${handed.stored} of ${handed.sent} entries (${handed.bytes} bytes, complete: ${handed.complete})`);
  }
  const closed = new Promise<void>((resolve) => http.close(() => resolve()));
  http.closeIdleConnections();
  await closed;
  log("stopped");
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
