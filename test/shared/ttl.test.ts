import { expect, test } from "vitest";
import {
  type Clock,
  type GetterContext,
  GroupCache,
  type GroupOptions,
  ManualClock,
  NotFoundError,
  stringCodec,
} from "../../src/index.ts";
import { deferred } from "../support/deferred.ts";

// Expiry in one process, on a ManualClock: TTLs expire at the exact
// millisecond, grace serves stale values while one refresh runs, and
// not-founds are cached. No sleeps: the clock moves when the test says.

/** A string group on `clock` whose getter counts its calls per key and answers `<key>#<n>` (n: the key's call number). */
function counting(clock: Clock, options: Partial<GroupOptions<string, string>> = {}) {
  const calls = new Map<string, number>();
  const group = new GroupCache().newGroup<string, string>({
    name: "g",
    codec: stringCodec,
    clock,
    ttlJitter: 0,
    getter: (key) => {
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      return `${key}#${n}`;
    },
    ...options,
  });
  return { group, calls };
}

/**
 * Resolves once every microtask queued so far has run: a background
 * refresh has then settled and left its flight (a macrotask boundary, not
 * a wait on time).
 */
const drained = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

test("ttlMs: a value is served until the millisecond it expires, then loaded again; counted as an expiration, not an eviction", async () => {
  const clock = new ManualClock(5_000);
  const { group, calls } = counting(clock, { ttlMs: 1_000 });
  expect(await group.get("k")).toBe("k#1");
  clock.advance(999);
  expect(await group.get("k")).toBe("k#1");
  clock.advance(1);
  expect(await group.get("k")).toBe("k#2");
  expect(calls.get("k")).toBe(2);
  expect(group.cacheStats("main")).toMatchObject({ items: 1, expirations: 1, evictions: 0 });
  expect(group.stats).toMatchObject({ gets: 3, cacheHits: 1, loads: 2, localLoads: 2 });
});

test("no TTL (the default): hits never read the clock, values never expire", async () => {
  let reads = 0;
  const clock = { now: () => ++reads };
  const { group, calls } = counting(clock);
  await group.get("k");
  const readsAfterLoad = reads;
  for (let i = 0; i < 100; i++) expect(await group.get("k")).toBe("k#1");
  expect(reads).toBe(readsAfterLoad);
  expect(readsAfterLoad).toBe(0);
  expect(calls.get("k")).toBe(1);
});

test("a getter's own ttlMs overrides the group's: shorter, longer, or 0 to return the value uncached", async () => {
  const clock = new ManualClock();
  const { group, calls } = counting(clock, {
    ttlMs: 1_000,
    getter: (key: string, context: GetterContext) => {
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      if (key === "short") context.ttlMs = 10;
      if (key === "long") context.ttlMs = 5_000;
      if (key === "uncached") context.ttlMs = 0;
      return `${key}#${n}`;
    },
  });
  for (const key of ["short", "long", "uncached", "group"]) await group.get(key);
  clock.advance(10);
  expect(await group.get("short")).toBe("short#2");
  expect(await group.get("uncached")).toBe("uncached#2");
  clock.advance(990);
  expect(await group.get("group")).toBe("group#2");
  expect(await group.get("long")).toBe("long#1");
  clock.advance(4_000);
  expect(await group.get("long")).toBe("long#2");
});

test("per-value TTL in a group without ttlMs: only that value expires", async () => {
  const clock = new ManualClock();
  const { group, calls } = counting(clock, {
    getter: (key: string, context: GetterContext) => {
      calls.set(key, (calls.get(key) ?? 0) + 1);
      if (key === "expiring") context.ttlMs = 100;
      return `${key}#${calls.get(key)}`;
    },
  });
  await group.get("forever");
  await group.get("expiring");
  clock.advance(1e9);
  expect(await group.get("forever")).toBe("forever#1");
  expect(await group.get("expiring")).toBe("expiring#2");
});

test("a getter's ttlMs that is not a number >= 0 fails the load with invalid-argument", async () => {
  const { group } = counting(new ManualClock(), {
    getter: (_key: string, context: GetterContext) => {
      context.ttlMs = -1;
      return "v";
    },
  });
  await expect(group.get("k")).rejects.toMatchObject({ code: "invalid-argument", message: /ttlMs/ });
  expect(group.stats).toMatchObject({ localLoadErrs: 1, localLoads: 0 });
});

test("ttlJitter spreads the expiry of values loaded together over the last share of the TTL, never beyond it", async () => {
  const clock = new ManualClock();
  const { group, calls } = counting(clock, { ttlMs: 1_000, ttlJitter: 0.5 });
  const keys = Array.from({ length: 1_000 }, (_, i) => `k${i}`);
  await Promise.all(keys.map((k) => group.get(k)));
  const reloaded = async () => {
    await Promise.all(keys.map((k) => group.get(k)));
    return keys.filter((k) => (calls.get(k) ?? 0) > 1).length;
  };
  clock.advance(499);
  expect(await reloaded()).toBe(0); // nothing before ttl × (1 - jitter)
  clock.advance(251); // 750 ms: about half (binomial, n = 1000, p = 0.5: σ ≈ 16)
  const half = await reloaded();
  expect(half).toBeGreaterThan(400);
  expect(half).toBeLessThan(600);
  clock.advance(250); // 1000 ms: every first value expired (the reloads of 750 ms expire later)
  expect(await reloaded()).toBe(1_000);
  // Each first value was reclaimed as expired when its get found it so.
  expect(group.cacheStats("main")).toMatchObject({ expirations: 1_000, evictions: 0, items: 1_000 });
});

test("grace: a stale value is answered at once while one refresh runs; a failing backend keeps the stale value until grace ends", async () => {
  const clock = new ManualClock();
  let calls = 0;
  let pending = deferred<string>();
  let called = deferred();
  const { group } = counting(clock, {
    ttlMs: 100,
    staleMs: 1_000,
    getter: () => {
      calls++;
      called.resolve();
      return pending.promise;
    },
  });
  const first = group.get("k");
  pending.resolve("v1");
  expect(await first).toBe("v1");

  // Expired, within grace: ten gets answered with v1 at once, one refresh.
  clock.advance(100);
  pending = deferred<string>();
  called = deferred();
  const stale = await Promise.all(Array.from({ length: 10 }, () => group.get("k")));
  expect(stale).toEqual(Array(10).fill("v1"));
  await called.promise;
  expect(calls).toBe(2);
  expect(group.stats).toMatchObject({ staleHits: 10 });

  // The refresh fails: still v1, and the next get tries again.
  pending.reject(new Error("backend down"));
  await drained();
  expect(group.stats).toMatchObject({ localLoadErrs: 1 });
  pending = deferred<string>();
  called = deferred();
  expect(await group.get("k")).toBe("v1");
  await called.promise;
  expect(calls).toBe(3);
  pending.reject(new Error("still down"));
  await drained();

  // Grace over: the stale value is gone, a get waits for the getter and fails with it.
  clock.advance(1_000);
  pending = deferred<string>();
  const failing = group.get("k");
  pending.reject(new Error("still down"));
  await expect(failing).rejects.toMatchObject({ code: "load-failed" });
  expect(group.cacheStats("main")).toMatchObject({ items: 0, expirations: 1 });

  // The backend is back: a fresh value, fresh for ttlMs.
  pending = deferred<string>();
  const fresh = group.get("k");
  pending.resolve("v2");
  expect(await fresh).toBe("v2");
  clock.advance(99);
  expect(await group.get("k")).toBe("v2");
  expect(calls).toBe(5);
});

test("grace: a successful refresh replaces the stale value for every later get", async () => {
  const clock = new ManualClock();
  const refreshed = deferred();
  let n = 0;
  const { group } = counting(clock, {
    ttlMs: 100,
    staleMs: 100,
    getter: () => {
      n++;
      if (n === 2) queueMicrotask(() => refreshed.resolve());
      return `v${n}`;
    },
  });
  expect(await group.get("k")).toBe("v1");
  clock.advance(150);
  expect(await group.get("k")).toBe("v1");
  await refreshed.promise;
  await drained();
  expect(await group.get("k")).toBe("v2");
  expect(n).toBe(2);
});

test("notFoundTtlMs: a storm of gets for a missing key costs one getter call per interval", async () => {
  const clock = new ManualClock();
  let calls = 0;
  const { group } = counting(clock, {
    notFoundTtlMs: 500,
    getter: (key: string) => {
      calls++;
      throw new NotFoundError(`no row ${key}`);
    },
  });
  const storm = () => Promise.allSettled(Array.from({ length: 50 }, () => group.get("missing")));
  for (const r of await storm()) expect(r).toMatchObject({ status: "rejected", reason: { code: "not-found" } });
  for (const r of await storm()) expect(r).toMatchObject({ status: "rejected", reason: { code: "not-found" } });
  expect(calls).toBe(1);
  clock.advance(499);
  await storm();
  expect(calls).toBe(1);
  clock.advance(1);
  await storm();
  expect(calls).toBe(2);
  // The first get of each interval loads, the 49 others join its flight; the second and third storms are all cached.
  expect(group.stats.notFoundHits).toBe(100);
  const error = await group.get("missing").catch((e: unknown) => e);
  expect(error).toBeInstanceOf(NotFoundError);
  expect((error as NotFoundError).ttlMs).toBe(500);
});

test("without notFoundTtlMs a not-found is not cached: every get calls the getter", async () => {
  let calls = 0;
  const { group } = counting(new ManualClock(), {
    getter: () => {
      calls++;
      throw new NotFoundError();
    },
  });
  for (let i = 0; i < 3; i++) await expect(group.get("k")).rejects.toMatchObject({ code: "not-found" });
  expect(calls).toBe(3);
});

test("TTL options are checked at newGroup", () => {
  const cache = new GroupCache();
  const bad: [Partial<GroupOptions<string, string>>, RegExp][] = [
    [{ ttlMs: -1 }, /ttlMs must be a finite number >= 0, got -1/],
    [{ ttlJitter: 1 }, /ttlJitter must be a number from 0 to below 1, got 1/],
    [{ staleMs: Number.NaN }, /staleMs must be a finite number >= 0/],
    [{ notFoundTtlMs: Number.POSITIVE_INFINITY }, /notFoundTtlMs must be a finite number >= 0/],
    [{ clock: {} as Clock }, /clock must be an object with a now\(\) method/],
  ];
  for (const [options, message] of bad) {
    expect(() => cache.newGroup({ name: "g", getter: () => "v", ...options })).toThrow(message);
  }
});

test("an expired entry pushed out for room counts as an expiration; a live one as an eviction", async () => {
  const clock = new ManualClock();
  // Each entry costs 4 bytes ("a" + "a#1", no per-entry overhead counted): room for two.
  const { group } = counting(clock, { ttlMs: 100, cacheBytes: 8, entryOverheadBytes: 0 });
  await group.get("a");
  clock.advance(50);
  await group.get("b");
  clock.advance(50); // "a" expired, "b" has 50 ms left
  await group.get("c");
  expect(group.cacheStats("main")).toMatchObject({ items: 2, expirations: 1, evictions: 0 });
  await group.get("d"); // pushes out "b", still fresh
  expect(group.cacheStats("main")).toMatchObject({ items: 2, expirations: 1, evictions: 1 });
});
