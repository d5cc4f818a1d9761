import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { prometheusSamples } from "../bench/support/prometheus.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import type { PeerProcess } from "../src/testing/peer-process.ts";

// Three peer processes over the real gRPC transport, each with the real
// OpenTelemetry SDK registered as the global providers before it starts
// (`node --import`, as an application does): startPeer then reports to it
// without being told. Metrics are read by scraping each process's
// Prometheus endpoint, spans from the JSON lines each process writes.
// Peer C has no group "g" (a misconfiguration), and B's ring leaves C out
// (another). Node only.

const register = fileURLToPath(new URL("./support/otel-register.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "groupcache-otel-"));
let cluster: Cluster;

beforeAll(async () => {
  process.env.GROUPCACHE_OTEL_DIR = dir;
  cluster = await startCluster({
    size: 3,
    command: [process.execPath, "--import", register],
    config: (i) => ({ groups: i === 2 ? [] : [{ name: "g", hot: "never" }] }),
  });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the process wrote at start: its metrics port and spans file. */
function telemetryOf(peer: PeerProcess): { metricsPort: number; spansFile: string } {
  return JSON.parse(readFileSync(join(dir, `${peer.pid}.json`), "utf8"));
}

/** Scrapes `peer`'s Prometheus endpoint. */
async function scrape(peer: PeerProcess): Promise<{ value: ReturnType<typeof prometheusSamples> }> {
  const response = await fetch(`http://127.0.0.1:${telemetryOf(peer).metricsPort}/metrics`);
  return { value: prometheusSamples(await response.text()) };
}

interface SpanLine {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
}
function spansOf(peer: PeerProcess): SpanLine[] {
  return readFileSync(telemetryOf(peer).spansFile, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SpanLine);
}

test("exact counters after a scripted workload, a trace across caller and owner, an event per misconfiguration", async () => {
  const [a, b, c] = [cluster.peer(0), cluster.peer(1), cluster.peer(2)];
  await cluster.setPeers(); // A and C: [A, B, C]
  await b.request("setPeers", { peers: [a.id, b.id] }); // B disagrees: it leaves C out

  const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
  const owned = (p: PeerProcess) => keys.filter((k) => cluster.ownerOf(k) === p);
  const [nA, nB, nC] = [owned(a).length, owned(b).length, owned(c).length];
  expect(nA * nB * nC).toBeGreaterThan(0);
  // Sequentially, twice: each of C's keys is a peer error then a local load on A.
  for (let round = 0; round < 2; round++) for (const key of keys) await a.request("get", { group: "g", key });

  const expectedA = {
    gets: 60,
    cache_hits: nA + nC,
    peer_loads: 2 * nB,
    peer_errors: nC,
    loads: 60 - nA - nC,
    loads_deduped: 60 - nA - nC,
    local_loads: nA + nC,
    local_load_errors: 0,
    server_requests: 0,
  };
  const expectedB = {
    gets: 2 * nB,
    cache_hits: nB,
    peer_loads: 0,
    peer_errors: 0,
    loads: nB,
    loads_deduped: nB,
    local_loads: nB,
    local_load_errors: 0,
    server_requests: 2 * nB,
  };
  const [ma, mb, mc] = await Promise.all([scrape(a), scrape(b), scrape(c)]);
  for (const [m, expected, p] of [
    [ma, expectedA, a],
    [mb, expectedB, b],
  ] as const) {
    const scraped = Object.fromEntries(
      Object.keys(expected).map((stat) => [stat, m.value(`groupcache_group_${stat}_total`, { groupcache_group: "g" })]),
    );
    expect(scraped).toEqual(expected);
    // The same figures as the library's own stats.
    const { stats } = await p.request("stats", { group: "g" });
    expect(scraped.gets).toBe(stats.gets);
    expect(scraped.peer_errors).toBe(stats.peerErrors);
  }
  expect(ma.value("groupcache_peer_duration_count", { groupcache_peer: b.id })).toBe(2 * nB);
  expect(ma.value("groupcache_peer_duration_count", { groupcache_peer: c.id, error_type: "unknown-group" })).toBe(nC);
  expect(ma.value("groupcache_getter_duration_count")).toBe(nA + nC);
  expect(ma.value("groupcache_cache_items", { groupcache_cache_type: "main" })).toBe(nA + nC);

  // The misconfigurations, each an event (counted) where it shows.
  expect(
    ma.value("groupcache_events_total", { groupcache_event_type: "peer-missing-group", groupcache_peer: c.id }),
  ).toBe(1);
  expect(mc.value("groupcache_events_total", { groupcache_event_type: "unknown-group" })).toBe(1);
  expect(mc.value("groupcache_server_unknown_group_requests_total")).toBe(nC);
  expect(mb.value("groupcache_events_total", { groupcache_event_type: "ring-mismatch" })).toBe(1);
  expect(mb.value("groupcache_ring_mismatches_total")).toBeGreaterThanOrEqual(1);

  // One trace: A's load and fetch, B's serve and getter.
  const [key] = Array.from({ length: 200 }, (_, i) => `traced-${i}`).filter((k) => cluster.ownerOf(k) === b);
  await a.request("get", { group: "g", key: key as string });
  const caller = spansOf(a)
    .filter((s) => s.name === "groupcache.peer.get")
    .at(-1);
  const load = spansOf(a).find((s) => s.spanId === caller?.parentSpanId);
  const serve = spansOf(b).find((s) => s.name === "groupcache.serve" && s.parentSpanId === caller?.spanId);
  const getter = spansOf(b).find((s) => s.parentSpanId === serve?.spanId);
  expect([load?.name, caller?.name, serve?.name, getter?.name]).toEqual([
    "groupcache.load",
    "groupcache.peer.get",
    "groupcache.serve",
    "groupcache.getter",
  ]);
  for (const span of [caller, serve, getter]) expect(span?.traceId).toBe(load?.traceId);
  expect(caller?.attributes["groupcache.key"]).toBeUndefined();

  // A peer that stops answering: down after three failed fetches in a row.
  await c.kill();
  const more = Array.from({ length: 400 }, (_, i) => `late-${i}`)
    .filter((k) => cluster.ownerOf(k) === c)
    .slice(0, 3);
  for (const k of more) await a.request("get", { group: "g", key: k });
  const after = await scrape(a);
  expect(after.value("groupcache_events_total", { groupcache_event_type: "peer-down", groupcache_peer: c.id })).toBe(1);
  expect(after.value("groupcache_peer_errors_total", { groupcache_peer: c.id, error_type: "unavailable" })).toBe(3);
}, 60_000);
