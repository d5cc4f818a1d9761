import { describe, expect, test, vi } from "vitest";
import { crc32String } from "../../src/core/crc32.ts";
import { groupServer } from "../../src/core/group.ts";
import { noPeers, type PeerPicker } from "../../src/core/peers.ts";
import { GetRequestSchema } from "../../src/gen/groupcachepb/groupcache_pb.ts";
import {
  type ByteView,
  bytesCodec,
  Group,
  GroupCache,
  GroupCacheError,
  type GroupOptions,
  jsonCodec,
  NotFoundError,
  neverHot,
  type PeerGetResult,
  type PeerGetter,
  protobufCodec,
  randomHotPolicy,
  stringCodec,
} from "../../src/index.ts";
import { deferred } from "../support/deferred.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (b: ByteView | Uint8Array) => (b instanceof Uint8Array ? dec.decode(b) : b.toString());

/** A group that counts Go's bytes per entry (key + value, `entryOverheadBytes` 0) unless told otherwise. */
function bytesGroup(options: Partial<GroupOptions<ByteView, Uint8Array | string>>, peers: PeerPicker = noPeers) {
  return new Group<ByteView, Uint8Array | string>(
    {
      name: "g",
      getter: (key) => `v:${key}`,
      entryOverheadBytes: 0,
      ...options,
    } as GroupOptions<ByteView, Uint8Array | string>,
    peers,
  );
}

/** A group whose getter waits for `gate` and counts its calls. */
function gatedGroup() {
  const gate = deferred<string>();
  let count = 0;
  const g = bytesGroup({
    getter: () => {
      count++;
      return gate.promise;
    },
  });
  return { g, gate, calls: () => count };
}

/** A peer that answers "got:<key>" and counts its calls, as Go's fakePeer. */
class FakePeer implements PeerGetter {
  hits = 0;
  fail = false;
  get(_group: string, key: string): Promise<PeerGetResult> {
    this.hits++;
    if (this.fail) return Promise.reject(new GroupCacheError("unavailable", "simulated error from peer"));
    return Promise.resolve({ value: enc.encode(`got:${key}`) });
  }
}

/** Picks peers[crc32(key) % n], as Go's fakePeers; an undefined slot means "this process". */
function fakePeers(peers: (PeerGetter | undefined)[]): PeerPicker {
  return { pickPeer: (key) => peers[crc32String(key) % peers.length] };
}

describe("Group: the Get flow", () => {
  test("two concurrent gets of a missing key call the getter once (duplicate suppression)", async () => {
    const { g, gate, calls } = gatedGroup();
    const a = g.get("k");
    const b = g.get("k");
    gate.resolve("value");
    expect((await Promise.all([a, b])).map(text)).toEqual(["value", "value"]);
    expect(calls()).toBe(1);
    expect(g.stats).toMatchObject({ gets: 2, cacheHits: 0, loads: 2, loadsDeduped: 1, localLoads: 1 });
  });

  test("a cached key is not loaded again", async () => {
    let calls = 0;
    const g = bytesGroup({
      getter: (key) => {
        calls++;
        return `v:${key}`;
      },
    });
    for (let i = 0; i < 10; i++) expect(text(await g.get("fish"))).toBe("v:fish");
    expect(calls).toBe(1);
    expect(g.stats).toMatchObject({ gets: 10, cacheHits: 9, loads: 1, localLoads: 1 });
    expect(g.cacheStats("main")).toMatchObject({ items: 1, bytes: 4 + 6, hits: 9 });
  });

  test("sequential loads of one key insert it once and count its bytes once", async () => {
    const g = bytesGroup({});
    await Promise.all(Array.from({ length: 50 }, () => g.get("k")));
    await g.get("k");
    expect(g.cacheStats("main")).toMatchObject({ items: 1, bytes: 1 + 3 });
    expect(g.stats).toMatchObject({ gets: 51, loads: 50, loadsDeduped: 1, localLoads: 1, cacheHits: 1 });
  });

  test("cacheBytes 0 disables caching: every get loads", async () => {
    let calls = 0;
    const g = bytesGroup({
      cacheBytes: 0,
      getter: () => {
        calls++;
        return "x";
      },
    });
    await g.get("k");
    await g.get("k");
    expect(calls).toBe(2);
    expect(g.cacheStats("main").items).toBe(0);
  });

  test("eviction keeps the main cache within cacheBytes, oldest first", async () => {
    // Every entry costs 1 key byte + 9 value bytes = 10 bytes.
    const g = bytesGroup({ cacheBytes: 100, getter: () => "123456789" });
    for (let i = 0; i < 10; i++) await g.get(String(i));
    expect(g.cacheStats("main")).toMatchObject({ bytes: 100, items: 10, evictions: 0 });
    await g.get("a");
    expect(g.cacheStats("main")).toMatchObject({ bytes: 100, items: 10, evictions: 1 });
    // "0" was the oldest: getting it again loads it.
    const before = g.stats.localLoads;
    await g.get("0");
    expect(g.stats.localLoads).toBe(before + 1);
  });

  test("a value larger than the whole budget is returned but not cached, and evicts nothing", async () => {
    const g = bytesGroup({ cacheBytes: 50, getter: (key) => (key === "big" ? "x".repeat(60) : "small") });
    await g.get("a");
    expect(text(await g.get("big"))).toBe("x".repeat(60));
    expect(g.cacheStats("main")).toMatchObject({ items: 1, bytes: 6, evictions: 0 });
  });

  test("main and hot share the budget; the hot cache is the victim while it holds more than 1/8 of main", async () => {
    // Keys are one byte; local values 9 bytes, peer values "got:" + key = 5 bytes.
    // Even keys are ours, odd keys belong to the peer.
    const peer = new FakePeer();
    const picker: PeerPicker = { pickPeer: (key) => (Number(key) % 2 === 1 ? peer : undefined) };
    const g = bytesGroup({ cacheBytes: 100, getter: () => "123456789", hotPolicy: randomHotPolicy(1) }, picker);
    const check = () => {
      const main = g.cacheStats("main");
      const hot = g.cacheStats("hot");
      expect(main.bytes + hot.bytes).toBeLessThanOrEqual(100);
      return [main.items, hot.items, main.bytes, hot.bytes];
    };
    for (const k of ["0", "2", "4", "6", "8", "10"]) await g.get(k); // 10 + 5*... see below
    // "10" has a 2-byte key: main = 5*10 + 11 = 61 bytes.
    expect(check()).toEqual([6, 0, 61, 0]);
    for (const k of ["1", "3", "5", "7"]) await g.get(k); // 4 hot entries of 6 bytes
    expect(check()).toEqual([6, 4, 61, 24]);
    await g.get("9"); // 91 bytes: fits
    expect(check()).toEqual([6, 5, 61, 30]);
    await g.get("12"); // main +11 = 102 > 100: hot 30 > 72/8 = 9, so the hot cache loses its oldest ("1")
    expect(check()).toEqual([7, 4, 72, 24]);
    expect(g.cacheStats("hot").evictions).toBe(1);
    expect(g.cacheStats("main").evictions).toBe(0);
  });

  test("the main cache is the victim when the hot cache holds at most 1/8 of it", async () => {
    const peer = new FakePeer();
    const picker: PeerPicker = { pickPeer: (key) => (key === "p" ? peer : undefined) };
    // Local values make 10-byte entries; the one hot entry "p" -> "got:p" costs 6.
    const g = bytesGroup({ cacheBytes: 100, getter: () => "123456789", hotPolicy: randomHotPolicy(1) }, picker);
    await g.get("p");
    for (let i = 0; i < 9; i++) await g.get(String(i)); // main 90 + hot 6 = 96
    await g.get("a"); // 106 > 100, hot 6 <= 90/8: evict main's oldest ("0")
    expect(g.cacheStats("main")).toMatchObject({ items: 9, bytes: 90, evictions: 1 });
    expect(g.cacheStats("hot")).toMatchObject({ items: 1, bytes: 6, evictions: 0 });
  });
});

describe("Group: peers (Go's TestPeers, with the same expected counts)", () => {
  test("base, cached, one peer down, one peer failing", async () => {
    const peer0 = new FakePeer();
    const peer1 = new FakePeer();
    const peer2 = new FakePeer();
    const peerList: (PeerGetter | undefined)[] = [peer0, peer1, peer2, undefined];
    let localHits = 0;
    const options = {
      name: "TestPeers-group",
      getter: (key: string) => {
        localHits++;
        return `got:${key}`;
      },
      hotPolicy: neverHot,
    };
    let g = new Group(options, fakePeers(peerList));
    const run = async (n: number) => {
      localHits = 0;
      for (const p of [peer0, peer1, peer2]) p.hits = 0;
      for (let i = 0; i < n; i++) expect(text(await g.get(`key-${i}`))).toBe(`got:key-${i}`);
      return `localHits = ${localHits}, peers = ${peer0.hits} ${peer1.hits} ${peer2.hits}`;
    };
    expect(await run(200)).toBe("localHits = 49, peers = 51 49 51");
    // Local keys are now cached; peer keys are not mirrored (neverHot), so they are asked again.
    expect(await run(200)).toBe("localHits = 0, peers = 51 49 51");

    g = new Group({ ...options, cacheBytes: 0 }, fakePeers(peerList));
    peerList[0] = undefined; // peer 0 is down: its keys load locally
    expect(await run(200)).toBe("localHits = 100, peers = 0 49 51");
    peerList[0] = peer0;
    peer0.fail = true; // peer 0 fails: asked, then local fallback
    expect(await run(200)).toBe("localHits = 100, peers = 51 49 51");
    expect(g.stats).toMatchObject({ peerErrors: 51, peerLoads: 49 + 51 + 49 + 51 - 49 - 51 + 49 + 51 });
  });

  test("with every fetched value mirrored, a second pass is served from the hot cache", async () => {
    const peer = new FakePeer();
    const g = bytesGroup({ hotPolicy: randomHotPolicy(1) }, fakePeers([peer]));
    for (let i = 0; i < 20; i++) await g.get(`k${i}`);
    for (let i = 0; i < 20; i++) expect(text(await g.get(`k${i}`))).toBe(`got:k${i}`);
    expect(peer.hits).toBe(20);
    expect(g.stats).toMatchObject({ gets: 40, cacheHits: 20, peerLoads: 20, localLoads: 0 });
    expect(g.cacheStats("hot")).toMatchObject({ items: 20, hits: 20 });
    expect(g.cacheStats("main").items).toBe(0);
  });

  test("the default policy mirrors one fetched value in ten", async () => {
    const draws = [0.05, 0.5, 0.95, 0.099, 0.1];
    const g = bytesGroup({ hotPolicy: randomHotPolicy(10, () => draws.shift() ?? 1) }, fakePeers([new FakePeer()]));
    for (let i = 0; i < 5; i++) await g.get(`k${i}`);
    expect(g.cacheStats("hot").items).toBe(2); // 0.05 and 0.099 fall below 1/10
  });

  test("a remote not-found is returned as is, without a local load or a peer error", async () => {
    let localCalls = 0;
    const peer: PeerGetter = { get: () => Promise.reject(new NotFoundError("no such user 42")) };
    const g = bytesGroup(
      {
        getter: () => {
          localCalls++;
          return "x";
        },
      },
      fakePeers([peer]),
    );
    await expect(g.get("user:42")).rejects.toMatchObject({ code: "not-found", message: "no such user 42" });
    expect(localCalls).toBe(0);
    expect(g.stats.peerErrors).toBe(0);
  });

  test("a caller that gives up while the owner is slow gets canceled, not a peer error nor a local load", async () => {
    let localCalls = 0;
    let peerSignal: AbortSignal | undefined;
    const asked = deferred();
    const peer: PeerGetter = {
      get: (_g, _k, { signal }) => {
        peerSignal = signal;
        asked.resolve();
        return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      },
    };
    const g = bytesGroup(
      {
        getter: () => {
          localCalls++;
          return "x";
        },
      },
      fakePeers([peer]),
    );
    const c = new AbortController();
    const p = g.get("k", { signal: c.signal });
    await asked.promise;
    c.abort();
    await expect(p).rejects.toMatchObject({ code: "canceled" });
    expect(peerSignal?.aborted).toBe(true);
    expect(localCalls).toBe(0);
    expect(g.stats.peerErrors).toBe(0);
  });

  test("a peer that answers something other than bytes counts as a peer error and the key loads locally", async () => {
    const peer = { get: () => Promise.resolve({ value: "not bytes" }) } as unknown as PeerGetter;
    const g = bytesGroup({}, fakePeers([peer]));
    expect(text(await g.get("k"))).toBe("v:k");
    expect(g.stats).toMatchObject({ peerErrors: 1, localLoads: 1 });
  });

  test("serve never asks a peer (the forwarding-loop guard)", async () => {
    const picker: PeerPicker = {
      pickPeer: () => {
        throw new Error("serve must not pick a peer");
      },
    };
    const g = bytesGroup({}, picker);
    const served = await groupServer(g).serve("k");
    expect(text(served instanceof Uint8Array ? served : (served as { value: Uint8Array }).value)).toBe("v:k");
    expect(g.stats).toMatchObject({ serverRequests: 1, gets: 1, loads: 1, loadsDeduped: 1, localLoads: 1 });
  });

  test("serveCached answers a cached key at once, counted exactly as serve counts it; a miss returns undefined and counts nothing", async () => {
    const viaServe = bytesGroup({});
    const viaCached = bytesGroup({});
    for (const g of [viaServe, viaCached]) await g.get("k");
    const before = { stats: viaCached.stats, main: viaCached.cacheStats("main"), hot: viaCached.cacheStats("hot") };
    expect(groupServer(viaCached).serveCached("missing")).toBeUndefined();
    expect(groupServer(viaCached).serveCached("")).toBeUndefined();
    expect({ stats: viaCached.stats, main: viaCached.cacheStats("main"), hot: viaCached.cacheStats("hot") }).toEqual(
      before,
    );

    const served = await groupServer(viaServe).serve("k");
    const cached = groupServer(viaCached).serveCached("k");
    expect(cached).toBeDefined();
    expect(text(cached?.value as Uint8Array)).toBe("v:k");
    expect(cached?.minuteQps).toBe(served.minuteQps);
    expect(served.minuteQps).toBe(1);
    expect(viaCached.stats).toEqual(viaServe.stats);
    expect(viaCached.cacheStats("main")).toEqual(viaServe.cacheStats("main"));
    expect(viaCached.cacheStats("hot")).toEqual(viaServe.cacheStats("hot"));
    expect(viaCached.stats).toMatchObject({ serverRequests: 1, cacheHits: 1 });
  });

  test("serve counts lookups as get does: misses in both caches, then a hit in the main cache", async () => {
    const viaServe = bytesGroup({});
    const viaGet = bytesGroup({});
    await groupServer(viaServe).serve("k");
    await viaGet.get("k");
    for (const which of ["main", "hot"] as const) {
      expect(viaServe.cacheStats(which)).toEqual(viaGet.cacheStats(which));
    }
    // The miss, then Go's re-check inside the flight: two lookups, no hit.
    expect(viaServe.cacheStats("main")).toMatchObject({ gets: 2, hits: 0 });
    expect(viaServe.cacheStats("hot")).toMatchObject({ gets: 2, hits: 0 });
    await groupServer(viaServe).serve("k");
    expect(viaServe.cacheStats("main")).toMatchObject({ gets: 3, hits: 1 });
    expect(viaServe.cacheStats("hot")).toMatchObject({ gets: 2, hits: 0 });
  });

  test("GroupCache.serveCached: undefined for an unknown group or an uncached key, the value for a cached one", async () => {
    const cache = new GroupCache({ self: "me:1" });
    const g = cache.newGroup({ name: "g", getter: (key) => `v:${key}` });
    expect(cache.serveCached("nope", "k")).toBeUndefined();
    expect(cache.serveCached("g", "k")).toBeUndefined();
    await g.get("k");
    expect(text(cache.serveCached("g", "k")?.value as Uint8Array)).toBe("v:k");
  });

  test("a peer's request and a local get of the same key share one getter call, counted as one deduplicated load", async () => {
    for (const localFirst of [false, true]) {
      const { g, gate, calls } = gatedGroup();
      const local = localFirst ? g.get("k") : undefined;
      const fromPeer = groupServer(g).serve("k");
      const later = local ?? g.get("k");
      gate.resolve("shared");
      await Promise.all([fromPeer, later]);
      expect(calls()).toBe(1);
      expect(text(await later)).toBe("shared");
      expect(text((await fromPeer).value)).toBe("shared");
      expect(g.stats).toMatchObject({ loads: 2, loadsDeduped: 1, localLoads: 1 });
    }
  });
});

describe("Group: failures", () => {
  test("a getter that throws releases every waiter with load-failed; errors are not cached", async () => {
    const gate = deferred<string>();
    let calls = 0;
    const g = bytesGroup({
      getter: () => {
        calls++;
        return calls === 1 ? gate.promise : "ok";
      },
    });
    const waiters = [g.get("k"), g.get("k"), g.get("k")];
    const cause = new Error("database down");
    gate.reject(cause);
    for (const w of waiters) {
      await expect(w).rejects.toMatchObject({
        code: "load-failed",
        cause,
        message: 'group "g": getter failed for key "k": database down',
      });
    }
    expect(g.stats).toMatchObject({ localLoadErrs: 1, localLoads: 0 });
    expect(text(await g.get("k"))).toBe("ok");
    expect(calls).toBe(2);
  });

  test("a getter that throws synchronously is handled the same way", async () => {
    const g = bytesGroup({
      getter: () => {
        throw new TypeError("bad");
      },
    });
    await expect(g.get("k")).rejects.toMatchObject({ code: "load-failed" });
  });

  test("a getter's NotFoundError reaches every waiter as it is", async () => {
    const g = bytesGroup({
      getter: (key) => {
        throw new NotFoundError(`no row for ${key}`);
      },
    });
    const err = await g.get("u1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: "not-found", message: "no row for u1" });
  });

  test("a getter that hangs is cut off after getterTimeoutMs with deadline-exceeded, and its signal fires", async () => {
    let getterSignal: AbortSignal | undefined;
    const g = bytesGroup({
      getterTimeoutMs: 20,
      getter: (_key, { signal }) => {
        getterSignal = signal;
        return new Promise<string>(() => {});
      },
    });
    await expect(g.get("k")).rejects.toMatchObject({
      code: "deadline-exceeded",
      message: 'group "g": getter did not finish within getterTimeoutMs (20 ms) for key "k"',
    });
    expect(getterSignal?.aborted).toBe(true);
    expect(g.stats.localLoadErrs).toBe(1);
  });

  test("a getter that settles leaves no getterTimeoutMs timer pending", async () => {
    vi.useFakeTimers();
    try {
      const g = bytesGroup({ getterTimeoutMs: 30_000 });
      expect(text(await g.get("k"))).toBe("v:k");
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  test("a getter that returns neither bytes nor a string fails with invalid-argument naming what it got", async () => {
    const g = bytesGroup({ getter: () => 42 as unknown as string });
    await expect(g.get("k")).rejects.toMatchObject({
      code: "invalid-argument",
      message: 'group "g": key "k": getter must return a Uint8Array or a string, got number',
    });
    expect(g.cacheStats("main").items).toBe(0);
  });

  test("a value over maxValueBytes fails with resource-exhausted and is not cached", async () => {
    const g = bytesGroup({ maxValueBytes: 4, getter: () => "12345" });
    await expect(g.get("k")).rejects.toMatchObject({
      code: "resource-exhausted",
      message: 'group "g": getter returned 5 bytes for key "k", over maxValueBytes 4',
    });
    expect(g.cacheStats("main").items).toBe(0);
  });

  test("a key with a lone surrogate is rejected before any load", async () => {
    let calls = 0;
    const g = bytesGroup({
      getter: () => {
        calls++;
        return "x";
      },
    });
    await expect(g.get("bad\uD800key")).rejects.toMatchObject({ code: "invalid-argument" });
    await expect(g.get("bad\uD800key")).rejects.toThrow(/lone surrogate/);
    await expect(g.get(7 as unknown as string)).rejects.toThrow('group "g": key must be a string, got number');
    expect(calls).toBe(0);
    expect(g.stats.gets).toBe(0);
  });

  test("an already aborted signal rejects with canceled before touching anything", async () => {
    const g = bytesGroup({});
    await expect(g.get("k", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "canceled" });
    expect(g.stats.gets).toBe(0);
  });

  test("one caller's abort rejects only that caller; the load completes once for the others", async () => {
    const { g, gate, calls } = gatedGroup();
    const c = new AbortController();
    const leaver = g.get("k", { signal: c.signal });
    const stayer = g.get("k");
    c.abort();
    await expect(leaver).rejects.toMatchObject({ code: "canceled" });
    gate.resolve("v");
    expect(text(await stayer)).toBe("v");
    expect(text(await g.get("k"))).toBe("v");
    expect(calls()).toBe(1);
  });

  test("a value that arrives after every caller left is still cached", async () => {
    const { g, gate, calls } = gatedGroup();
    const c = new AbortController();
    const p = g.get("k", { signal: c.signal });
    c.abort();
    await expect(p).rejects.toMatchObject({ code: "canceled" });
    gate.resolve("late");
    await gate.promise;
    await Promise.resolve();
    expect(text(await g.get("k"))).toBe("late");
    expect(calls()).toBe(1);
  });
});

describe("Group: codecs and immutability", () => {
  test("the default codec hands every hit the same immutable ByteView", async () => {
    const source = enc.encode("abc");
    const g = bytesGroup({ getter: () => source });
    const first = await g.get("k");
    source.fill(0); // the getter reusing its buffer cannot corrupt the cache
    const second = await g.get("k");
    expect(second).toBe(first);
    expect(second.toString()).toBe("abc");
    const copy = second.toBytes();
    copy.fill(0); // a copy is the caller's own
    expect(second.equals("abc")).toBe(true);
    expect([...second.slice(1)]).toEqual([98, 99]);
    expect(second.length).toBe(3);
    expect(second.at(-1)).toBe(99);
  });

  test("bytesCodec hands each caller its own writable copy", async () => {
    const cache = new GroupCache();
    const g = cache.newGroup({ name: "b", codec: bytesCodec, getter: () => "abc" });
    const first = await g.get("k");
    first.fill(0);
    expect(dec.decode(await g.get("k"))).toBe("abc");
  });

  test("a string group decodes each entry once and shares it", async () => {
    const cache = new GroupCache();
    let decodes = 0;
    const counting = {
      ...stringCodec,
      decode(bytes: Uint8Array) {
        decodes++;
        return stringCodec.decode(bytes);
      },
    };
    const g = cache.newGroup({ name: "s", codec: counting, getter: (key) => `v:${key}` });
    for (let i = 0; i < 5; i++) expect(await g.get("k")).toBe("v:k");
    expect(decodes).toBe(1);
  });

  test("string, JSON and protobuf groups round-trip their values", async () => {
    const cache = new GroupCache();
    const s = cache.newGroup({ name: "s", codec: stringCodec, getter: (key) => `héllo ${key}` });
    expect(await s.get("1")).toBe("héllo 1");
    const j = cache.newGroup({
      name: "j",
      codec: jsonCodec<{ id: string; tags: string[] }>(),
      getter: (key) => ({ id: key, tags: ["a"] }),
    });
    const obj = await j.get("7");
    expect(obj).toEqual({ id: "7", tags: ["a"] });
    obj.tags.push("mutated");
    expect(await j.get("7")).toEqual({ id: "7", tags: ["a"] });
    const { create } = await import("@bufbuild/protobuf");
    const p = cache.newGroup({
      name: "p",
      codec: protobufCodec(GetRequestSchema),
      getter: (key) => create(GetRequestSchema, { group: "x", key }),
    });
    expect(await p.get("k9")).toMatchObject({ group: "x", key: "k9" });
  });

  test("typed getters returning the wrong type fail with invalid-argument", async () => {
    const cache = new GroupCache();
    const s = cache.newGroup({ name: "s", codec: stringCodec, getter: () => 1 as unknown as string });
    await expect(s.get("k")).rejects.toThrow("getter must return a string, got number");
    const { create } = await import("@bufbuild/protobuf");
    const { GetResponseSchema } = await import("../../src/gen/groupcachepb/groupcache_pb.ts");
    const p = cache.newGroup({
      name: "p",
      codec: protobufCodec(GetRequestSchema),
      getter: () => create(GetResponseSchema) as never,
    });
    await expect(p.get("k")).rejects.toThrow(
      "getter must return a groupcachepb.GetRequest message, got groupcachepb.GetResponse",
    );
  });
});

describe("Group: storage in slabs", () => {
  test("a ByteView keeps its exact bytes after its entry is evicted and its slab compacted", async () => {
    // cacheBytes 4000 gives 4 KiB slabs; each entry costs 6 + 90 bytes, so ~40 fit.
    const value = (key: string) => key.padEnd(90, "#");
    const g = bytesGroup({ cacheBytes: 4000, getter: value });
    const views = new Map<string, ByteView>();
    for (let i = 0; i < 40; i++)
      views.set(`k-${String(i).padStart(3, "0")}`, await g.get(`k-${String(i).padStart(3, "0")}`));
    // Keep every fifth key recently used while 400 more keys churn through.
    for (let i = 40; i < 440; i++) {
      await g.get(`k-${String(i).padStart(3, "0")}`);
      if (i % 10 === 0) for (let j = 0; j < 40; j += 5) await g.get(`k-${String(j).padStart(3, "0")}`);
    }
    expect(g.cacheStats("main").evictions).toBeGreaterThan(350);
    for (const [key, view] of views) expect(view.toString()).toBe(value(key));
    // Survivors were moved by compaction; their hits still answer their own bytes.
    for (let j = 0; j < 40; j += 5) {
      const key = `k-${String(j).padStart(3, "0")}`;
      expect((await g.get(key)).toString()).toBe(value(key));
    }
    expect(g.cacheStats("main").bytes).toBeLessThanOrEqual(4000);
  });

  test("by default each entry counts 64 bytes on top of its key and value", async () => {
    const cache = new GroupCache();
    const g = cache.newGroup({ name: "d", cacheBytes: 2 * (1 + 9 + 64), getter: () => "123456789" });
    await g.get("a");
    await g.get("b");
    expect(g.cacheStats("main")).toMatchObject({ items: 2, bytes: 2 * 74, evictions: 0 });
    await g.get("c");
    expect(g.cacheStats("main")).toMatchObject({ items: 2, bytes: 2 * 74, evictions: 1 });
  });

  test("entryOverheadBytes counts in the budget and in the cache's bytes", async () => {
    // Each entry: 1 key byte + 9 value bytes + 40 overhead = 50.
    const g = bytesGroup({ cacheBytes: 100, entryOverheadBytes: 40, getter: () => "123456789" });
    await g.get("a");
    await g.get("b");
    expect(g.cacheStats("main")).toMatchObject({ items: 2, bytes: 100, evictions: 0 });
    await g.get("c");
    expect(g.cacheStats("main")).toMatchObject({ items: 2, bytes: 100, evictions: 1 });
    expect(() => bytesGroup({ entryOverheadBytes: -1 })).toThrow(
      'group "g": entryOverheadBytes must be a finite number >= 0, got -1',
    );
  });

  test("an invalid key is not counted as a lookup, even though hits skip its validation", async () => {
    const g = bytesGroup({});
    await g.get("k");
    await g.get("k");
    const before = [g.stats, g.cacheStats("main"), g.cacheStats("hot")];
    await expect(g.get("\ud800")).rejects.toMatchObject({ code: "invalid-argument" });
    await expect(g.get(7 as unknown as string)).rejects.toMatchObject({ code: "invalid-argument" });
    expect([g.stats, g.cacheStats("main"), g.cacheStats("hot")]).toEqual(before);
    // The load's re-check inside the flight is a lookup too, as in Go.
    expect(g.stats).toMatchObject({ gets: 2, cacheHits: 1, loads: 1 });
    expect(g.cacheStats("main")).toMatchObject({ gets: 3, hits: 1 });
    expect(g.cacheStats("hot")).toMatchObject({ gets: 2, hits: 0 });
  });

  test("a hit with an aborted signal is canceled, and not counted", async () => {
    const g = bytesGroup({});
    await g.get("k");
    await expect(g.get("k", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "canceled" });
    expect(g.stats).toMatchObject({ gets: 1, cacheHits: 0 });
  });

  test("serve answers a view of the stored bytes, which stays valid after eviction", async () => {
    const g = bytesGroup({ cacheBytes: 100, getter: (key) => `value of ${key}` });
    await g.get("a");
    const { value } = await groupServer(g).serve("a");
    expect(text(value)).toBe("value of a");
    for (let i = 0; i < 50; i++) await g.get(`key${i}`);
    expect(text(value)).toBe("value of a");
  });
});

describe("GroupCache", () => {
  test("several instances in one process are independent", async () => {
    const a = new GroupCache();
    const b = new GroupCache();
    const ga = a.newGroup({ name: "same", getter: () => "from a" });
    const gb = b.newGroup({ name: "same", getter: () => "from b" });
    expect(text(await ga.get("k"))).toBe("from a");
    expect(text(await gb.get("k"))).toBe("from b");
    expect(a.getGroup("same")).toBe(ga);
  });

  test("bad options fail at construction with invalid-argument naming the value", () => {
    const cache = new GroupCache();
    expect(() => cache.newGroup({ name: "", getter: () => "" })).toThrow(
      'group name must be a non-empty, well-formed string, got ""',
    );
    expect(() => cache.newGroup({ name: "n", getter: () => "", cacheBytes: -1 })).toThrow(
      'group "n": cacheBytes must be a finite number >= 0, got -1',
    );
    expect(() => cache.newGroup({ name: "n", getter: "nope" as never })).toThrow(
      'group "n": getter must be a function, got "nope"',
    );
    cache.newGroup({ name: "n", getter: () => "" });
    expect(() => cache.newGroup({ name: "n", getter: () => "" })).toThrow(
      expect.objectContaining({ code: "already-exists" }),
    );
  });

  test("setPeers builds the ring, creates and closes peer clients, ignores unchanged sets", async () => {
    const created: string[] = [];
    const closed: string[] = [];
    const cache = new GroupCache({
      self: "a:1",
      peekWindowMs: 0, // no lingering: a departed peer's client is closed at once
      peerClient: (id) => {
        created.push(id);
        return {
          get: () => Promise.resolve({ value: enc.encode(`from ${id}`) }),
          close: async () => {
            closed.push(id);
          },
        };
      },
    });
    expect(cache.setPeers(["a:1", "b:1", "c:1"])).toBe(true);
    expect(cache.setPeers(["c:1", "b:1", "a:1"])).toBe(false);
    expect(created).toEqual(["b:1", "c:1"]);
    expect(cache.setPeers(["a:1", "b:1"])).toBe(true);
    expect(closed).toEqual(["c:1"]);
    // Every key is owned by a:1 (self, undefined) or b:1.
    let remote = 0;
    for (let i = 0; i < 200; i++) {
      const owner = cache.ownerOf(`k${i}`);
      const peer = cache.pickPeer(`k${i}`);
      if (owner === "a:1") expect(peer).toBeUndefined();
      else {
        expect(owner).toBe("b:1");
        expect(peer).toBeDefined();
        remote++;
      }
    }
    expect(remote).toBeGreaterThan(50);
    // Leaving self out: this process owns nothing.
    cache.setPeers(["b:1"]);
    expect(cache.pickPeer("k1")).toBeDefined();
    await cache.close();
    expect(closed.sort()).toEqual(["b:1", "c:1"]);
  });

  test("a peerClient that throws part way: the clients this call created are closed, the old ring and clients stay", async () => {
    const created: string[] = [];
    const closed: string[] = [];
    const failure = new Error("no route to d");
    const cache = new GroupCache({
      self: "a:1",
      peerClient: (id) => {
        if (id === "d:1") throw failure;
        created.push(id);
        return {
          get: () => Promise.resolve({ value: enc.encode(`from ${id}`) }),
          close: async () => {
            closed.push(id);
          },
        };
      },
    });
    cache.setPeers(["a:1", "b:1"]);
    const owners = Array.from({ length: 50 }, (_, i) => cache.ownerOf(`k${i}`));
    expect(() => cache.setPeers(["a:1", "b:1", "c:1", "d:1"])).toThrowError(
      expect.objectContaining({
        code: "unavailable",
        message: 'setPeers: cannot create the client of peer "d:1": no route to d; the peers are unchanged',
        cause: failure,
      }),
    );
    expect(created).toEqual(["b:1", "c:1"]);
    expect(closed).toEqual(["c:1"]);
    expect(cache.peers).toEqual(["a:1", "b:1"]);
    expect(Array.from({ length: 50 }, (_, i) => cache.ownerOf(`k${i}`))).toEqual(owners);
    await cache.close();
    expect(closed).toEqual(["c:1", "b:1"]);
  });

  test("setPeers without a peerClient cannot reach others and says so", () => {
    const cache = new GroupCache({ self: "a:1" });
    expect(() => cache.setPeers(["a:1", "b:1"])).toThrow(
      /names other peers \(b:1\) but this instance has no peerClient/,
    );
    expect(cache.setPeers(["a:1"])).toBe(true);
  });

  test("serve of an unknown group fails with unknown-group", async () => {
    const cache = new GroupCache({ self: "me:1" });
    await expect(cache.serve("nope", "k")).rejects.toMatchObject({
      code: "unknown-group",
      message: 'no group named "nope" on peer "me:1"',
    });
  });

  test("a closed instance refuses new groups and peers with closed", async () => {
    const cache = new GroupCache();
    await cache.close();
    expect(() => cache.newGroup({ name: "x", getter: () => "" })).toThrow(expect.objectContaining({ code: "closed" }));
    expect(() => cache.setPeers([])).toThrow(expect.objectContaining({ code: "closed" }));
  });
});
