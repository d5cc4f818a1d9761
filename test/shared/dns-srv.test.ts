import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { connectDiscovery, type PeerSetListener } from "../../src/core/membership.ts";
import { formatPeerId } from "../../src/core/peer-id.ts";
import { createDnsSrvDiscovery, type DnsSrvDiscoveryOptions } from "../../src/discovery/dns-srv.ts";
import type { DnsResolver } from "../../src/discovery/resolver.ts";
import { GroupCache, GroupCacheError } from "../../src/index.ts";
import { emptyZone, setPods, startDnsServer, type TestDnsServer } from "../../src/testing/dns-server.ts";
import { MemoryNetwork } from "../../src/testing/memory-network.ts";
import { runtime, testResolver } from "../helpers/test-resolver.ts";
import { nextCall, Recorder } from "../helpers/watch.ts";

// One discovery at a time against a real DNS server on 127.0.0.1 (UDP).

const srv = "_groupcache._tcp.fib.default.svc.cluster.local";
const domain = "fib.default.svc.cluster.local";
const intervalMs = 100;
const waitMs = 2000;
const id = (n: number) => formatPeerId(`10.0.0.${n}`, 8080);
const pods = (...ns: number[]) => ns.map((n) => ({ ip: `10.0.0.${n}`, port: 8080 }));

let dns: TestDnsServer;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dns = await startDnsServer();
});
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  Object.assign(dns.zone, emptyZone());
});
afterAll(async () => {
  await dns.stop();
});

function discovery(options: Partial<DnsSrvDiscoveryOptions> = {}) {
  return createDnsSrvDiscovery({
    resolver: testResolver(dns.address),
    service: "fib",
    namespace: "default",
    intervalMs,
    lookupTimeoutMs: 1000,
    ...options,
  });
}

/** A cache of id `self` connected to `d`, with a recorder of its changes and errors. */
function connect(self: string, d = discovery(), network = new MemoryNetwork()) {
  const cache = network.add(self);
  const recorder = new Recorder();
  const membership = connectDiscovery(cache, d, { onChange: recorder.onChange, onError: recorder.onError });
  stops.push(async () => {
    await membership.close();
    await cache.close();
  });
  return { cache, recorder, membership, discovery: d };
}

/** `resolver`, calling `onSrv` each time an SRV query has answered. */
function observed(resolver: DnsResolver, onSrv: () => void): DnsResolver {
  return {
    resolveSrv: async (name, options) => {
      try {
        return await resolver.resolveSrv(name, options);
      } finally {
        onSrv();
      }
    },
    resolveIp: (name, family, options) => resolver.resolveIp(name, family, options),
  };
}

test("a lookup lists the SRV targets' addresses as sorted ip:port ids", async () => {
  setPods(dns.zone, srv, pods(3, 1, 2));
  const d = discovery();
  expect(d.name).toBe(srv);
  expect(await d.lookup({ signal: AbortSignal.timeout(waitMs) })).toEqual([id(1), id(2), id(3)]);
  const stats = d.stats;
  expect(stats).toMatchObject({ lookups: 1, failures: 0, empty: 0, peers: [id(1), id(2), id(3)] });
  expect(stats.lastSuccessAt).toBeTypeOf("number");
});

test("duplicate, unordered and trailing-dot answers give the same ring on every node", async () => {
  setPods(dns.zone, srv, pods(1, 2, 3));
  const records = dns.zone.srv.get(srv) ?? [];
  // The same target twice, and an alias target with an address already listed.
  records.push({ ...(records[0] as { target: string; port: number }) });
  records.push({ target: `alias.${domain}`, port: 8080 });
  dns.zone.a.set(`alias.${domain}`, ["10.0.0.2", "10.0.0.2"]);
  dns.zone.shuffle = true;
  const plain = testResolver(dns.address);
  // As Deno answers: targets with the root's trailing dot, in any case.
  const dotted: DnsResolver = {
    resolveSrv: async (name, options) =>
      (await plain.resolveSrv(name, options)).map((r) => ({ ...r, target: `${r.target.toUpperCase()}.` })),
    resolveIp: (name, family, options) => plain.resolveIp(name, family, options),
  };
  const expected = [id(1), id(2), id(3)];
  const discoveries = [discovery({ resolver: plain }), discovery({ resolver: dotted }), discovery()];
  for (let round = 0; round < 5; round++) {
    for (const d of discoveries) expect(await d.lookup({ signal: AbortSignal.timeout(waitMs) })).toEqual(expected);
  }
  const network = new MemoryNetwork();
  const nodes = discoveries.map((d, i) => connect(id(i + 1), d, network));
  await Promise.all(nodes.map((n) => n.recorder.until(() => n.cache.peers.join() === expected.join(), waitMs, "ring")));
  for (let k = 0; k < 1000; k++) {
    const owner = nodes[0]?.cache.ownerOf(`key-${k}`);
    for (const n of nodes) expect(n.cache.ownerOf(`key-${k}`)).toBe(owner);
  }
});

test("IPv6 pods are listed as [ip]:port; family 'both' lists A and AAAA", async () => {
  setPods(dns.zone, srv, [
    { ip: "fd00::2", port: 8080 },
    { ip: "fd00::1", port: 8080 },
  ]);
  expect(await discovery({ family: 6 }).lookup({ signal: AbortSignal.timeout(waitMs) })).toEqual([
    "[fd00::1]:8080",
    "[fd00::2]:8080",
  ]);
  // A v4-only lookup of v6 pods: the targets exist but have no A record (NODATA).
  expect(await discovery().lookup({ signal: AbortSignal.timeout(waitMs) })).toEqual([]);
  const dual = `dual.${domain}`;
  dns.zone.srv.set(srv, [{ target: dual, port: 9000 }]);
  dns.zone.a.set(dual, ["10.0.0.9"]);
  dns.zone.aaaa.set(dual, ["fd00::9"]);
  expect(await discovery({ family: "both" }).lookup({ signal: AbortSignal.timeout(waitMs) })).toEqual([
    "10.0.0.9:9000",
    "[fd00::9]:9000",
  ]);
});

test("NXDOMAIN at start-up (no ready pod): the node is alone in its own ring", async () => {
  const d = discovery();
  expect(await d.lookup({ signal: AbortSignal.timeout(waitMs) })).toEqual([]);
  expect(d.stats).toMatchObject({ lookups: 1, failures: 0, empty: 1 });
  const first = nextCall<readonly string[]>(waitMs, "the first lookup");
  const observedDiscovery = discovery({
    resolver: observed(testResolver(dns.address), () => first.callback([])),
  });
  const node = connect(id(7), observedDiscovery);
  expect(node.cache.peers).toEqual([id(7)]); // before any answer
  await first.called;
  expect(node.cache.peers).toEqual([id(7)]);
  expect(node.recorder.errors).toEqual([]);
});

test("all pods gone (NXDOMAIN after a good set): only self remains", async () => {
  setPods(dns.zone, srv, pods(1, 2, 3));
  const node = connect(id(1));
  await node.recorder.until(() => node.cache.peers.length === 3, waitMs, "three peers");
  setPods(dns.zone, srv, []);
  await node.recorder.until(() => node.cache.peers.join() === id(1), waitMs, "self only");
  expect(node.membership.discovered).toEqual([]);
  expect(node.recorder.errors).toEqual([]);
});

test("DNS server stopped: the last good set is kept and the failure reported; restarted: it resumes", async () => {
  setPods(dns.zone, srv, pods(1, 2, 3));
  const node = connect(id(1), discovery({ lookupTimeoutMs: 400 })); // Deno times out on a closed port
  await node.recorder.until(() => node.cache.peers.length === 3, waitMs, "three peers");
  await dns.stop();
  try {
    await node.recorder.until(() => node.recorder.errors.length >= 2, waitMs, "two failed lookups");
  } finally {
    setPods(dns.zone, srv, pods(1, 2));
    await dns.restart();
  }
  const error = node.recorder.errors[0];
  expect(error).toBeInstanceOf(GroupCacheError);
  // Node and Bun see the ICMP "port unreachable" at once; Deno waits for a timeout.
  const failed = ["unavailable", "deadline-exceeded"];
  expect(failed).toContain(error?.code);
  expect(error?.message).toMatch(/^dns srv lookup of _groupcache\._tcp\.fib\.default\.svc\.cluster\.local failed: /);
  const stats = node.discovery.stats;
  expect(stats.failures).toBeGreaterThanOrEqual(2);
  expect(failed).toContain(stats.lastError?.code);
  expect(stats.peers).toEqual([id(1), id(2), id(3)]);
  expect(node.recorder.changes.at(-1)).toEqual([id(1), id(2), id(3)]); // the ring did not move while DNS was down
  await node.recorder.until(() => node.cache.peers.join() === [id(1), id(2)].join(), waitMs, "the new set");
  expect(node.discovery.stats.lastSuccessAt).toBeGreaterThan(stats.lastSuccessAt ?? Number.POSITIVE_INFINITY);
});

test("SERVFAIL, REFUSED and timeouts keep the last good set and are reported with their code", async () => {
  setPods(dns.zone, srv, pods(1, 2, 3));
  const node = connect(id(1));
  await node.recorder.until(() => node.cache.peers.length === 3, waitMs, "three peers");
  // Deno reports SERVFAIL and REFUSED as "not found": its probe name fails too, which tells them apart.
  const cases = [
    ["servfail", "unavailable", runtime === "deno" ? /probe name/ : /ESERVFAIL/],
    ["refused", "unavailable", runtime === "deno" ? /probe name/ : /EREFUSED/],
    ["drop", "deadline-exceeded", /ETIMEOUT|timed out/],
  ] as const;
  for (const [mode, code, message] of cases) {
    const before = node.recorder.errors.length;
    dns.zone.mode = mode;
    await node.recorder.until(() => node.recorder.errors.length > before, waitMs, `a ${mode} failure`);
    dns.zone.mode = "answer";
    const error = node.recorder.errors[before];
    expect(error?.code, mode).toBe(code);
    expect(error?.message, mode).toMatch(message);
    expect(node.cache.peers, mode).toEqual([id(1), id(2), id(3)]);
  }
  expect(node.discovery.stats.failures).toBe(node.recorder.errors.length);
  setPods(dns.zone, srv, pods(1, 4));
  await node.recorder.until(() => node.cache.peers.join() === [id(1), id(4)].join(), waitMs, "recovery");
});

test("a lookup that outlives lookupTimeoutMs fails with deadline-exceeded", async () => {
  dns.zone.mode = "drop";
  const d = discovery({
    resolver: testResolver(dns.address, 5000),
    lookupTimeoutMs: 150,
  });
  const start = performance.now();
  const error = await d.lookup({ signal: AbortSignal.timeout(waitMs) }).catch((e: unknown) => e);
  expect(performance.now() - start).toBeLessThan(1000);
  expect(error).toBeInstanceOf(GroupCacheError);
  expect((error as GroupCacheError).code).toBe("deadline-exceeded");
  expect((error as GroupCacheError).message).toContain("lookup timed out after 150 ms");
  expect(d.stats).toMatchObject({ lookups: 1, failures: 1 });
});

test("unchanged answers reach the listener once", async () => {
  setPods(dns.zone, srv, pods(2, 1));
  let answered = 0;
  const fourth = nextCall<number>(waitMs, "four lookups");
  const d = discovery({
    resolver: observed(testResolver(dns.address), () => {
      if (++answered === 4) fourth.callback(answered);
    }),
  });
  const sets: (readonly string[])[] = [];
  const controller = new AbortController();
  const listener: PeerSetListener = { onPeers: (ids) => sets.push(ids) };
  const watching = d.watch(listener, { signal: controller.signal });
  await fourth.called;
  controller.abort();
  await watching;
  expect(sets).toEqual([[id(1), id(2)]]);
  expect(d.stats.changes).toBe(1);
  expect(d.stats.lookups).toBeGreaterThanOrEqual(3); // the fourth was abandoned by the abort
});

test("stopping mid-lookup returns promptly, counts no failure and leaves no timer behind", async () => {
  dns.zone.mode = "drop";
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  const asked = nextCall<void>(waitMs, "the first query");
  const d = discovery({
    resolver: {
      resolveSrv: (name, options) => {
        asked.callback();
        return testResolver(dns.address, 5000).resolveSrv(name, options);
      },
      resolveIp: () => Promise.resolve([]),
    },
    lookupTimeoutMs: 5000,
  });
  const controller = new AbortController();
  const errors: GroupCacheError[] = [];
  const watching = d.watch({ onPeers: () => {}, onError: (e) => errors.push(e) }, { signal: controller.signal });
  await asked.called;
  const start = performance.now();
  controller.abort();
  await watching;
  expect(performance.now() - start).toBeLessThan(200);
  expect(errors).toEqual([]);
  expect(d.stats).toMatchObject({ lookups: 0, failures: 0 });
  // Deno's process.getActiveResourcesInfo() also lists its own resolver's timers.
  if (runtime !== "deno") expect(timers()).toBe(before);
  await expect(d.lookup({ signal: controller.signal })).rejects.toMatchObject({ code: "canceled" });
});

test("a short or half-qualified name is rejected at start-up with invalid-argument", () => {
  const resolver = testResolver(dns.address);
  for (const name of [
    "fib",
    "_groupcache._tcp.fib",
    "_groupcache._tcp.fib.default.svc",
    "fib.default.svc.cluster.local",
  ]) {
    expect(() => createDnsSrvDiscovery({ resolver, name }), name).toThrowError(
      expect.objectContaining({ code: "invalid-argument", message: expect.stringContaining(JSON.stringify(name)) }),
    );
  }
  expect(() => createDnsSrvDiscovery({ resolver, service: "fib.default", namespace: "default" })).toThrowError(
    /service must be one lowercase dns label .* got "fib.default"/,
  );
  expect(createDnsSrvDiscovery({ resolver, name: `${srv}.` }).name).toBe(srv);
});

test("a cache closed under a running membership stops its discovery", async () => {
  setPods(dns.zone, srv, pods(1, 2));
  const cache = new GroupCache({ self: id(1), peerClient: new MemoryNetwork().peerClient });
  await cache.close();
  const recorder = new Recorder();
  const membership = connectDiscovery(cache, discovery(), { onError: recorder.onError });
  await membership.closed;
  expect(recorder.errors.map((e) => e.code)).toContain("closed");
});
