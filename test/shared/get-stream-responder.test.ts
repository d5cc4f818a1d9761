import { setImmediate } from "node:timers";
import { describe, expect, test } from "vitest";
import { GroupCacheError } from "../../src/index.ts";
import type { OutgoingResult } from "../../src/transport/get-stream/get-stream-codec.ts";
import { GetStreamResponder } from "../../src/transport/get-stream/get-stream-responder.ts";
import { KeyBudget } from "../../src/transport/get-stream/key-budget.ts";

// The owner's side of GetStream without a network: a cache that answers
// every key from "cache" with `valueBytes` bytes, and a sink that reports
// itself backed up while `backedUp` is set.
function harness(valueBytes: number) {
  const served: string[] = [];
  const answers: { id: number; code: number; message: string; bytes: number }[] = [];
  const state = { backedUp: false };
  const responder = new GetStreamResponder(
    {
      serve: () => Promise.reject(new Error("every key is cached")),
      serveCached: (_group, key) => {
        served.push(key);
        return { value: new Uint8Array(valueBytes), minuteQps: 0 };
      },
    },
    8 << 20,
    (results: readonly OutgoingResult[], from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const r = results[i] as OutgoingResult;
        answers.push({ id: r.id, code: r.code, message: r.message, bytes: r.value?.byteLength ?? 0 });
      }
      return !state.backedUp;
    },
    { maxKeysInFlight: 1_000, connection: new KeyBudget(1_000), onRoom: () => {} },
  );
  return { responder, served, answers, state };
}

describe("GetStreamResponder back-pressure", () => {
  test("once the sink is backed up, later keys wait unserved; resume serves them in order, each answered once", () => {
    const { responder, served, answers, state } = harness(20_000); // each answer is over one batch: sent at once
    state.backedUp = true;
    for (let id = 1; id <= 5; id++) responder.get(id, "g", `k${id}`);
    expect(served).toEqual(["k1"]);
    expect(responder.paused).toBe(true);
    expect(answers.map((a) => a.id)).toEqual([1]);

    state.backedUp = false;
    responder.resume();
    expect(served).toEqual(["k1", "k2", "k3", "k4", "k5"]);
    expect(answers.map((a) => a.id)).toEqual([1, 2, 3, 4, 5]);
    expect(answers.every((a) => a.code === 0 && a.bytes === 20_000)).toBe(true);
    expect(responder.paused).toBe(false);
  });

  test("backed up again during resume: the rest stays queued, first in line", () => {
    const { responder, served, state } = harness(20_000);
    state.backedUp = true;
    for (let id = 1; id <= 4; id++) responder.get(id, "g", `k${id}`);
    responder.resume(); // still backed up: serves k2, pauses again
    expect(served).toEqual(["k1", "k2"]);
    responder.get(5, "g", "k5");
    state.backedUp = false;
    responder.resume();
    expect(served).toEqual(["k1", "k2", "k3", "k4", "k5"]);
  });

  test("a queued key that is cancelled is never served or answered", () => {
    const { responder, served, answers, state } = harness(20_000);
    state.backedUp = true;
    for (let id = 1; id <= 3; id++) responder.get(id, "g", `k${id}`);
    responder.cancel(2);
    state.backedUp = false;
    responder.resume();
    expect(served).toEqual(["k1", "k3"]);
    expect(answers.map((a) => a.id)).toEqual([1, 3]);
  });

  test("drained waits for the queued keys; closing with answers answers them with the status", async () => {
    const { responder, answers, state } = harness(20_000);
    state.backedUp = true;
    for (let id = 1; id <= 3; id++) responder.get(id, "g", `k${id}`);
    let drained = false;
    const done = responder.drained().then(() => {
      drained = true;
    });
    await Promise.resolve();
    expect(drained).toBe(false);
    responder.close(new GroupCacheError("unavailable", "server shutting down"), true);
    await done;
    expect(answers.map((a) => [a.id, a.code, a.message])).toEqual([
      [1, 0, ""],
      [2, 14, "server shutting down"],
      [3, 14, "server shutting down"],
    ]);
  });

  test("small answers still go out together, once per microtask, when nothing is backed up", async () => {
    const { responder, answers } = harness(100);
    for (let id = 1; id <= 50; id++) responder.get(id, "g", `k${id}`);
    expect(answers).toEqual([]);
    await Promise.resolve();
    expect(answers).toHaveLength(50);
  });
});

// A cache whose loads wait for the test: every key misses, and its load
// settles only when the test resolves it.
function loadHarness(maxKeysInFlight: number, connection: KeyBudget) {
  const loads = new Map<string, (value: string) => void>();
  const answers: { id: number; code: number }[] = [];
  let rooms = 0;
  const responder = new GetStreamResponder(
    {
      serve: (_group, key, { signal }) =>
        new Promise((resolve, reject) => {
          loads.set(key, (value) => resolve({ value: new TextEncoder().encode(value), minuteQps: 0 }));
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
    },
    8 << 20,
    (results: readonly OutgoingResult[], from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const r = results[i] as OutgoingResult;
        answers.push({ id: r.id, code: r.code });
      }
      return true;
    },
    { maxKeysInFlight, connection, onRoom: () => rooms++ },
  );
  return { responder, loads, answers, rooms: () => rooms };
}

describe("GetStreamResponder key caps", () => {
  test("a stream serves maxKeysInFlight keys at once; the rest wait in order and start as loads finish", async () => {
    const { responder, loads, rooms } = loadHarness(3, new KeyBudget(100));
    for (let id = 1; id <= 10; id++) responder.get(id, "g", `k${id}`);
    expect([...loads.keys()]).toEqual(["k1", "k2", "k3"]);
    expect(responder.inFlight).toBe(3);
    expect(responder.queued).toBe(7);

    loads.get("k2")?.("v");
    await Promise.resolve();
    await Promise.resolve();
    expect([...loads.keys()]).toEqual(["k1", "k2", "k3", "k4"]);
    expect(responder.inFlight).toBe(3);
    expect(rooms()).toBe(0);

    for (let id = 1; id <= 10; id++) loads.get(`k${id}`)?.("v");
    for (let i = 0; i < 20 && responder.queued > 0; i++) {
      for (const resolve of loads.values()) resolve("v");
      await Promise.resolve();
    }
    expect(loads.size).toBe(10);
    expect(responder.queued).toBe(0);
    expect(rooms()).toBe(1);
  });

  test("streams of one connection share its budget: a slot given back by one starts a waiting key of another", async () => {
    const connection = new KeyBudget(4);
    const a = loadHarness(3, connection);
    const b = loadHarness(3, connection);
    for (let id = 1; id <= 3; id++) a.responder.get(id, "g", `a${id}`);
    for (let id = 1; id <= 3; id++) b.responder.get(id, "g", `b${id}`);
    expect([...a.loads.keys()]).toEqual(["a1", "a2", "a3"]);
    expect([...b.loads.keys()]).toEqual(["b1"]);
    expect(connection.used).toBe(4);
    expect(b.responder.queued).toBe(2);

    a.loads.get("a1")?.("v");
    await Promise.resolve();
    await Promise.resolve();
    expect([...b.loads.keys()]).toEqual(["b1", "b2"]);
    expect(connection.used).toBe(4);

    // Closing a stream gives its slots back to the others.
    a.responder.close(new GroupCacheError("canceled", "gone"), false);
    expect([...b.loads.keys()]).toEqual(["b1", "b2", "b3"]);
    expect(connection.used).toBe(3);
  });

  test("a waiting key that is cancelled is never loaded; a repeated id is refused", async () => {
    const { responder, loads, answers } = loadHarness(1, new KeyBudget(10));
    responder.get(1, "g", "k1");
    responder.get(2, "g", "k2");
    responder.get(2, "g", "k2-again");
    responder.cancel(2);
    responder.cancel(1);
    expect([...loads.keys()]).toEqual(["k1"]);
    expect(responder.queued).toBe(0);
    expect(responder.inFlight).toBe(0);
    // Answers go out once this round of I/O ends while a key was in flight.
    await new Promise((resolve) => setImmediate(resolve));
    expect(answers).toEqual([{ id: 2, code: 3 }]); // INVALID_ARGUMENT
  });
});
