import { expect, test } from "vitest";
import type { PeerLiveness, PeerStateChange } from "../../src/core/peer-health.ts";
import {
  GroupCache,
  GroupCacheError,
  neverHot,
  type PeerClient,
  type PeerClientFactory,
  stringCodec,
} from "../../src/index.ts";

// A hung owner, as the core sees it: reported down by its transport, it is
// out of routing (its keys load here, once per key) until a probe is
// answered; and a get's timeoutMs gives the owner only `peerShare` of it.

/** A deferred promise. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * A peer client standing in for a transport: each get either answers
 * `remote <key>` or (with `silent`) waits until its signal fires; probes
 * wait for the test's answer.
 */
function fakeTransport() {
  const state = {
    silent: false,
    /** Answer every get with the owner's getter timing out after this many ms (`0`: no). */
    ownerTimesOutMs: 0,
    gets: [] as string[],
    aborts: [] as { key: string; afterMs: number }[],
    liveness: new Map<string, PeerLiveness>(),
    probes: [] as ((alive: boolean) => void)[],
    probed: deferred<void>(),
  };
  const factory: PeerClientFactory = (id, context) => {
    if (context !== undefined) state.liveness.set(id, context.liveness);
    const client: PeerClient = {
      get(_group, key, { signal }) {
        state.gets.push(key);
        if (state.ownerTimesOutMs > 0) {
          return new Promise((_, reject) =>
            setTimeout(
              () => reject(new GroupCacheError("deadline-exceeded", "peer b:1: getter did not finish")),
              state.ownerTimesOutMs,
            ),
          );
        }
        if (!state.silent) return Promise.resolve({ value: new TextEncoder().encode(`remote ${key}`) });
        const start = performance.now();
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            state.aborts.push({ key, afterMs: performance.now() - start });
            reject(GroupCacheError.from(signal.reason, "canceled"));
          }),
        );
      },
      probe: () =>
        new Promise<boolean>((resolve) => {
          state.probes.push(resolve);
          state.probed.resolve();
        }),
      close: async () => {},
    };
    return client;
  };
  return { state, factory };
}

function setup(
  options: { peerShare?: number; onPeerState?: (c: PeerStateChange) => void } = {},
  getterTimeoutMs?: number,
) {
  const transport = fakeTransport();
  const cache = new GroupCache({ self: "a:1", peerClient: transport.factory, probeIntervalMs: 1, ...options });
  cache.setPeers(["a:1", "b:1"]);
  const loads: string[] = [];
  const gate = deferred<void>();
  const group = cache.newGroup<string, string>({
    name: "g",
    codec: stringCodec,
    hotPolicy: neverHot,
    ...(getterTimeoutMs === undefined ? {} : { getterTimeoutMs }),
    getter: async (key) => {
      loads.push(key);
      await gate.promise;
      return `local ${key}`;
    },
  });
  const ownedByB = Array.from({ length: 200 }, (_, i) => `k${i}`).filter((k) => cache.ownerOf(k) === "b:1");
  return {
    cache,
    group,
    loads,
    transport: transport.state,
    ownedByB,
    open: () => gate.resolve(),
  };
}

test("a peer reported down is out of routing: its keys load here once per key; an answered probe takes it back", async () => {
  const changes: PeerStateChange[] = [];
  const up = deferred<void>();
  const s = setup({
    onPeerState: (c) => {
      changes.push(c);
      if (c.state === "up") up.resolve();
    },
  });
  const keys = s.ownedByB.slice(0, 3);
  s.transport.liveness.get("b:1")?.down("no PING ack within 200 ms");
  expect(s.cache.peerStates().map(({ peer, state, reason }) => ({ peer, state, reason }))).toEqual([
    { peer: "b:1", state: "down", reason: "no PING ack within 200 ms" },
  ]);

  const gets = keys.flatMap((k) => Array.from({ length: 10 }, () => s.group.get(k)));
  s.open();
  expect(await Promise.all(gets)).toEqual(keys.flatMap((k) => Array(10).fill(`local ${k}`)));
  expect(s.loads).toEqual(keys);
  expect(s.transport.gets).toEqual([]);
  expect(s.group.stats).toMatchObject({
    gets: 30,
    loads: 30,
    loadsDeduped: 3,
    localLoads: 3,
    peerLoads: 0,
    peerErrors: 0,
  });

  await s.transport.probed.promise;
  s.transport.probes[0]?.(true);
  await up.promise;
  expect(changes.map((c) => `${c.peer} ${c.previous}->${c.state} ${c.reason}`)).toEqual([
    "b:1 up->down no PING ack within 200 ms",
    "b:1 down->up answered a probe",
  ]);
  const next = s.ownedByB[3] as string;
  expect(await s.group.get(next)).toBe(`remote ${next}`);
  expect(s.transport.gets).toEqual([next]);
  await s.cache.close();
});

test("timeoutMs: a silent owner is given peerShare of it (default half); the getter gets the rest and the get succeeds", async () => {
  const s = setup();
  s.transport.silent = true;
  s.open();
  const key = s.ownedByB[0] as string;
  expect(await s.group.get(key, { timeoutMs: 400 })).toBe(`local ${key}`);
  expect(s.transport.aborts.map((a) => a.key)).toEqual([key]);
  // Timers may fire a millisecond early; the share is 200 ms of 400.
  expect(s.transport.aborts[0]?.afterMs).toBeGreaterThanOrEqual(190);
  expect(s.transport.aborts[0]?.afterMs).toBeLessThan(400);
  expect(s.loads).toEqual([key]);
  expect(s.group.stats).toMatchObject({ peerErrors: 1, localLoads: 1, peerLoads: 0 });
  await s.cache.close();
});

test("with peerShare 0 the owner may take the whole timeoutMs: the get fails with deadline-exceeded naming it", async () => {
  const s = setup({ peerShare: 0 });
  s.transport.silent = true;
  const key = s.ownedByB[0] as string;
  const error = (await s.group.get(key, { timeoutMs: 50 }).catch((e: unknown) => e)) as GroupCacheError;
  expect([error.code, error.message]).toEqual([
    "deadline-exceeded",
    `group "g": get of key ${JSON.stringify(key)} did not finish within timeoutMs (50 ms)`,
  ]);
  expect(s.loads).toEqual([]);
  await s.cache.close();
});

test("bad options are refused naming the value: timeoutMs, peerShare, probeIntervalMs", async () => {
  const s = setup();
  const error = (await s.group.get("k", { timeoutMs: -1 }).catch((e: unknown) => e)) as GroupCacheError;
  expect([error.code, error.message]).toEqual([
    "invalid-argument",
    'group "g": timeoutMs must be a finite number >= 0, got -1',
  ]);
  expect(() => new GroupCache({ peerShare: 1 })).toThrow("peerShare must be a number from 0 to below 1, got 1");
  expect(() => new GroupCache({ probeIntervalMs: 0 })).toThrow("probeIntervalMs must be a finite number > 0, got 0");
  await s.cache.close();
});

test("a key whose getter hangs on its owner costs one getterTimeoutMs in all, and no second getter call", async () => {
  const s = setup({}, 100);
  s.transport.ownerTimesOutMs = 110; // the owner's getter ran out of its own 100 ms
  const key = s.ownedByB[0] as string;
  const error = (await s.group.get(key).catch((e: unknown) => e)) as GroupCacheError;
  expect(error.code).toBe("deadline-exceeded");
  expect(error.message).toMatch(
    new RegExp(
      `^group "g": the owner of key "${key}" failed after \\d+ ms, leaving nothing of getterTimeoutMs \\(100 ms\\) for a local load$`,
    ),
  );
  expect(s.loads).toEqual([]);
  expect(s.group.stats).toMatchObject({ peerErrors: 1, localLoads: 0 });
  await s.cache.close();
});

test("an owner that fails late leaves the getter only the rest of getterTimeoutMs", async () => {
  const s = setup({}, 200);
  s.transport.ownerTimesOutMs = 50;
  const key = s.ownedByB[0] as string;
  // The gate stays closed: the local getter hangs.
  const error = (await s.group.get(key).catch((e: unknown) => e)) as GroupCacheError;
  expect(error.code).toBe("deadline-exceeded");
  expect(error.message).toMatch(
    new RegExp(
      `^group "g": getter did not finish within the \\d+ ms its owner left of getterTimeoutMs \\(200 ms\\) for key "${key}"$`,
    ),
  );
  expect(s.loads).toEqual([key]);
  await s.cache.close();
});
