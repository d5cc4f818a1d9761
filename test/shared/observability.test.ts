import { SpanKind } from "@opentelemetry/api";
import { afterEach, describe, expect, test, vi } from "vitest";
import { defaultEntryOverheadBytes } from "../../src/core/defaults.ts";
import type { Telemetry } from "../../src/core/telemetry.ts";
import { GroupCache, type GroupCacheEvent, neverHot, type PeerDiscovery } from "../../src/index.ts";
import type { Peer, StartPeerOptions } from "../../src/runtime/start-peer.ts";
import { MemoryNetwork } from "../../src/testing/memory-network.ts";
import { createTestTelemetry } from "../support/otel.ts";

/** The entrypoint of the runtime this suite runs under. */
async function runtimeEntry(): Promise<{ startPeer: (options?: StartPeerOptions) => Promise<Peer> }> {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return import("../../src/runtime/deno.ts");
  if (g.Bun !== undefined) return import("../../src/runtime/bun.ts");
  return import("../../src/runtime/node.ts");
}

const started: Peer[] = [];
const telemetries: ReturnType<typeof createTestTelemetry>[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.close()));
  await Promise.all(telemetries.splice(0).map((t) => t.close()));
});

/** A peer on loopback with its own in-memory OpenTelemetry SDK and an event log. */
async function peer(options: StartPeerOptions & { recordKeys?: boolean } = {}) {
  const { startPeer } = await runtimeEntry();
  const { recordKeys, ...rest } = options;
  const otel = createTestTelemetry(recordKeys === undefined ? {} : { recordKeys });
  telemetries.push(otel);
  const events: GroupCacheEvent[] = [];
  const p = await startPeer({ host: "127.0.0.1", telemetry: otel.telemetry, onEvent: (e) => events.push(e), ...rest });
  started.push(p);
  return { peer: p, otel, events, of: (type: string) => events.filter((e) => e.type === type) };
}

/** `count` keys that `cache` gives to `owner`. */
function keysOwnedBy(cache: GroupCache, owner: string, count: number, prefix = "k"): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count && i < 10_000; i++)
    if (cache.ownerOf(`${prefix}${i}`) === owner) keys.push(`${prefix}${i}`);
  return keys;
}

/** A promise of the first event of `type` given to the returned listener. */
function nextEvent(type: string) {
  const { promise, resolve } = Promise.withResolvers<GroupCacheEvent>();
  return { promise, listener: (e: GroupCacheEvent) => e.type === type && resolve(e) };
}

const statNames = {
  gets: "groupcache.group.gets",
  cacheHits: "groupcache.group.cache_hits",
  peerLoads: "groupcache.group.peer_loads",
  peerErrors: "groupcache.group.peer_errors",
  loads: "groupcache.group.loads",
  loadsDeduped: "groupcache.group.loads_deduped",
  localLoads: "groupcache.group.local_loads",
  localLoadErrs: "groupcache.group.local_load_errors",
  serverRequests: "groupcache.group.server_requests",
} as const;

describe("metrics through the OpenTelemetry SDK", () => {
  test("Go's counters, the caches and the latencies, exact after a scripted workload", async () => {
    const a = await peer();
    const b = await peer();
    for (const p of [a, b]) {
      p.peer.cache.newGroup({ name: "g", hotPolicy: neverHot, getter: (key) => `value of ${key}` });
      p.peer.cache.setPeers([a.peer.self, b.peer.self]);
    }
    const ga = a.peer.cache.getGroup("g");
    const theirs = keysOwnedBy(a.peer.cache, b.peer.self, 10);
    const mine = keysOwnedBy(a.peer.cache, a.peer.self, 10);
    for (let round = 0; round < 2; round++) for (const key of [...mine, ...theirs]) await ga?.get(key);

    // a: its keys loaded once and hit once; b's fetched twice (never mirrored).
    const expectedA = {
      gets: 40,
      cacheHits: 10,
      peerLoads: 20,
      peerErrors: 0,
      loads: 30,
      loadsDeduped: 30,
      localLoads: 10,
      localLoadErrs: 0,
      serverRequests: 0,
    };
    // b: asked twice for each of its 10 keys, loaded once each.
    const expectedB = {
      gets: 20,
      cacheHits: 10,
      peerLoads: 0,
      peerErrors: 0,
      loads: 10,
      loadsDeduped: 10,
      localLoads: 10,
      localLoadErrs: 0,
      serverRequests: 20,
    };
    for (const [p, expected] of [
      [a, expectedA],
      [b, expectedB],
    ] as const) {
      expect(p.peer.cache.getGroup("g")?.stats).toMatchObject(expected);
      const points = await p.otel.collect();
      for (const [stat, name] of Object.entries(statNames)) {
        const point = points.find((x) => x.name === name && x.attributes["groupcache.group"] === "g");
        expect({ name, value: point?.value }).toEqual({ name, value: expected[stat as keyof typeof expected] });
      }
    }
    const bytes = [...mine].reduce((n, k) => n + k.length + `value of ${k}`.length + defaultEntryOverheadBytes, 0);
    expect(await a.otel.value("groupcache.cache.bytes", { "groupcache.cache.type": "main" })).toBe(bytes);
    expect(await a.otel.value("groupcache.cache.items", { "groupcache.cache.type": "main" })).toBe(10);
    expect(await a.otel.value("groupcache.cache.items", { "groupcache.cache.type": "hot" })).toBe(0);
    expect(await a.otel.value("groupcache.ring.peers")).toBe(2);
    const getter = (await a.otel.value("groupcache.getter.duration", { "groupcache.group": "g" })) as { count: number };
    expect(getter.count).toBe(10);
    const round = (await a.otel.value("groupcache.peer.duration", { "groupcache.peer": b.peer.self })) as {
      count: number;
      sum: number;
    };
    expect(round.count).toBe(20);
    expect(round.sum).toBeGreaterThan(0);
    expect(((await b.otel.value("groupcache.getter.duration")) as { count: number }).count).toBe(10);
    expect(await a.otel.value("groupcache.peer.errors")).toBeUndefined();
  });

  test("hits call no telemetry at all: a stub counting every hook sees only the misses", async () => {
    let calls = 0;
    const span = { carrier: undefined, end() {} };
    const counting: Telemetry = {
      observe: () => () => {},
      event() {},
      group: () => {
        const hook = () => {
          calls++;
          return span;
        };
        return { load: hook, peerGet: hook, getter: hook };
      },
    };
    const cache = new GroupCache({ telemetry: counting });
    const g = cache.newGroup({ name: "g", getter: (key) => key });
    await g.get("k");
    expect(calls).toBe(2); // load, getter
    for (let i = 0; i < 1_000; i++) await g.get("k");
    expect(calls).toBe(2);
    await cache.close();
  });
});

describe("traces", () => {
  for (const stream of [true, false]) {
    test(`one trace spans caller and owner over ${stream ? "GetStream" : "unary Get"}; keys are not recorded`, async () => {
      const a = await peer({ client: { stream } });
      const b = await peer();
      for (const p of [a, b]) {
        p.peer.cache.newGroup({ name: "g", hotPolicy: neverHot, getter: (key) => `value of ${key}` });
        p.peer.cache.setPeers([a.peer.self, b.peer.self]);
      }
      const [key] = keysOwnedBy(a.peer.cache, b.peer.self, 1);
      expect(String(await a.peer.cache.getGroup("g")?.get(key as string))).toBe(`value of ${key}`);

      const caller = a.otel.spans();
      const owner = b.otel.spans();
      expect(caller.map((s) => s.name).sort()).toEqual(["groupcache.load", "groupcache.peer.get"]);
      expect(owner.map((s) => s.name).sort()).toEqual(["groupcache.getter", "groupcache.serve"]);
      const load = caller.find((s) => s.name === "groupcache.load");
      const fetch = caller.find((s) => s.name === "groupcache.peer.get");
      const serve = owner.find((s) => s.name === "groupcache.serve");
      const getter = owner.find((s) => s.name === "groupcache.getter");
      const traceId = load?.spanContext().traceId;
      for (const span of [fetch, serve, getter]) expect(span?.spanContext().traceId).toBe(traceId);
      expect(fetch?.parentSpanContext?.spanId).toBe(load?.spanContext().spanId);
      expect(serve?.parentSpanContext?.spanId).toBe(fetch?.spanContext().spanId);
      expect(getter?.parentSpanContext?.spanId).toBe(serve?.spanContext().spanId);
      expect(fetch?.kind).toBe(SpanKind.CLIENT);
      expect(serve?.kind).toBe(SpanKind.SERVER);
      expect(fetch?.attributes).toEqual({ "groupcache.group": "g", "groupcache.peer": b.peer.self });
      for (const span of [...caller, ...owner]) expect(span.attributes["groupcache.key"]).toBeUndefined();

      // A hit opens no span.
      const [own] = keysOwnedBy(a.peer.cache, a.peer.self, 1, "own");
      await a.peer.cache.getGroup("g")?.get(own as string);
      const before = a.otel.spans().length;
      await a.peer.cache.getGroup("g")?.get(own as string);
      expect(a.otel.spans().length).toBe(before);
    });
  }

  test("recordKeys records the key on every span", async () => {
    const a = await peer({ recordKeys: true });
    a.peer.cache.newGroup({ name: "g", getter: (key) => key });
    await a.peer.cache.getGroup("g")?.get("user:42");
    expect(a.otel.spans().map((s) => s.attributes["groupcache.key"])).toEqual(["user:42", "user:42"]);
  });
});

describe("events, and a misconfigured cluster that says so", () => {
  test("a peer that stops answering: a peer-error per failed fetch, peer-down after 3 in a row, up again when it answers", async () => {
    const network = new MemoryNetwork();
    const events: GroupCacheEvent[] = [];
    const a = network.add("a:1", { onEvent: (e) => events.push(e) });
    const b = network.add("b:1");
    for (const c of [a, b]) {
      c.newGroup({ name: "g", hotPolicy: neverHot, getter: (key) => key });
      c.setPeers(["a:1", "b:1"]);
    }
    const keys = keysOwnedBy(a, "b:1", 5);
    network.disconnect("b:1");
    for (const key of keys.slice(0, 3)) await a.getGroup("g")?.get(key);
    expect(
      events
        .filter((e) => e.type === "peer-error")
        .map((e) => [e.type === "peer-error" && e.peer, e.type === "peer-error" && e.code]),
    ).toEqual([
      ["b:1", "unavailable"],
      ["b:1", "unavailable"],
      ["b:1", "unavailable"],
    ]);
    const down = events.filter((e) => e.type === "peer-down");
    expect(down).toMatchObject([{ peer: "b:1", consecutiveErrors: 3, level: "warn" }]);
    expect(a.problems()).toMatchObject([{ kind: "peer-down", peer: "b:1" }]);

    network.listen("b:1", b);
    await a.getGroup("g")?.get(keys[3] as string);
    expect(events.filter((e) => e.type === "peer-up")).toMatchObject([{ peer: "b:1" }]);
    expect(a.problems()).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  test("a peer without the group: peer-missing-group on the caller, unknown-group (naming the caller) on the peer, each once; counted", async () => {
    const a = await peer();
    const b = await peer();
    a.peer.cache.newGroup({ name: "g", hotPolicy: neverHot, getter: (key) => key });
    for (const p of [a, b]) p.peer.cache.setPeers([a.peer.self, b.peer.self]);
    for (const key of keysOwnedBy(a.peer.cache, b.peer.self, 2)) await a.peer.cache.getGroup("g")?.get(key);

    expect(a.of("peer-missing-group")).toMatchObject([{ peer: b.peer.self, group: "g", level: "error" }]);
    expect(a.of("peer-error")).toHaveLength(2);
    expect(a.of("peer-down")).toEqual([]); // it answers: a configuration problem, not a dead peer
    expect(b.of("unknown-group")).toMatchObject([{ group: "g", from: a.peer.self }]);
    expect(a.peer.health()).toMatchObject({
      ready: true,
      status: "degraded",
      problems: [{ kind: "peer-missing-group", peer: b.peer.self, group: "g" }],
    });
    expect(await b.otel.value("groupcache.server.unknown_group_requests")).toBe(2);
    expect(await a.otel.value("groupcache.peer.errors", { "error.type": "unknown-group" })).toBe(2);
    expect(await a.otel.value("groupcache.events", { "groupcache.event.type": "peer-missing-group" })).toBe(1);
  });

  test("peers that disagree on membership: ring-mismatch on the owner until the caller's ring matches", async () => {
    const a = await peer({ client: { streamIdleMs: 0 } });
    const b = await peer();
    for (const p of [a, b]) p.peer.cache.newGroup({ name: "g", hotPolicy: neverHot, getter: (key) => key });
    a.peer.cache.setPeers([a.peer.self, b.peer.self]);
    b.peer.cache.setPeers([b.peer.self]); // b thinks it is alone
    const [k1, k2] = keysOwnedBy(a.peer.cache, b.peer.self, 2);
    await a.peer.cache.getGroup("g")?.get(k1 as string);

    expect(b.of("ring-mismatch")).toMatchObject([
      { from: a.peer.self, ours: b.peer.cache.ringFingerprint, theirs: a.peer.cache.ringFingerprint },
    ]);
    expect(b.peer.health().problems).toMatchObject([{ kind: "ring-mismatch", peer: a.peer.self }]);
    expect(await b.otel.value("groupcache.ring.mismatches")).toBe(1);

    b.peer.cache.setPeers([a.peer.self, b.peer.self]);
    expect(b.peer.cache.ringFingerprint).toBe(a.peer.cache.ringFingerprint);
    await a.peer.cache.getGroup("g")?.get(k2 as string);
    expect(b.peer.health()).toMatchObject({ status: "ok", problems: [] });
    expect(b.of("ring-mismatch")).toHaveLength(1);
  });

  test("a value over maxValueBytes and a getter past getterTimeoutMs are events", async () => {
    const a = await peer();
    const large = a.peer.cache.newGroup({ name: "large", maxValueBytes: 10, getter: () => "x".repeat(20) });
    const slow = a.peer.cache.newGroup({
      name: "slow",
      getterTimeoutMs: 20,
      getter: (_key, { signal }) =>
        new Promise<string>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    });
    await expect(large.get("k")).rejects.toMatchObject({ code: "resource-exhausted" });
    await expect(slow.get("k")).rejects.toMatchObject({ code: "deadline-exceeded" });
    expect(a.of("value-too-large")).toMatchObject([{ group: "large", source: "getter", level: "warn" }]);
    expect(a.of("getter-timeout")).toMatchObject([{ group: "slow", timeoutMs: 20 }]);
    const errors = (await a.otel.collect()).filter((p) => p.name === "groupcache.getter.duration");
    expect(errors.map((p) => p.attributes["error.type"]).sort()).toEqual(["deadline-exceeded", "resource-exhausted"]);
  });

  test("a discovery that never lists another peer: discovery-alone after aloneAfterMs, in health until a peer shows up", async () => {
    const { promise: stop, resolve: release } = Promise.withResolvers<void>();
    let list: ((ids: readonly string[]) => void) | undefined;
    const discovery: PeerDiscovery = {
      async watch(listener, { signal }) {
        list = (ids) => listener.onPeers(ids);
        list([]);
        signal.addEventListener("abort", () => release(), { once: true });
        await stop;
      },
    };
    const alone = nextEvent("discovery-alone");
    const a = await peer({ peers: discovery, aloneAfterMs: 30, onEvent: alone.listener });
    expect(await alone.promise).toMatchObject({ level: "error", afterMs: 30 });
    expect(a.peer.health()).toMatchObject({ ready: true, status: "degraded", problems: [{ kind: "discovery-alone" }] });
    list?.([a.peer.self, "127.0.0.1:9"]);
    expect(a.peer.health()).toMatchObject({ status: "ok", problems: [] });
  });

  test("discovery and ring changes are events; health turns not ready once close() begins", async () => {
    const a = await peer({ peers: ["127.0.0.1:9"] });
    expect(a.of("discovery-change")).toMatchObject([{ peers: ["127.0.0.1:9"] }]);
    const rings = a.of("ring-change");
    expect(rings.at(-1)).toMatchObject({
      peers: [a.peer.self, "127.0.0.1:9"].sort(),
      fingerprint: a.peer.cache.ringFingerprint,
    });
    expect(a.peer.health()).toMatchObject({ ready: true, status: "ok" });
    const closing = a.peer.close();
    expect(a.peer.health()).toMatchObject({ ready: false, status: "closing" });
    await closing;
  });

  test("quiet by default: with failures and no onEvent, nothing is written to the console", async () => {
    const spies = (["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m));
    try {
      const network = new MemoryNetwork();
      const a = network.add("a:1");
      a.newGroup({ name: "g", getter: (key) => key });
      a.setPeers(["a:1", "b:1"]);
      for (const key of keysOwnedBy(a, "b:1", 4)) await a.getGroup("g")?.get(key);
      expect(a.getGroup("g")?.stats.peerErrors).toBe(4);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      await a.close();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
