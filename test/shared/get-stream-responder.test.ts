import { describe, expect, test } from "vitest";
import { GroupCacheError } from "../../src/index.ts";
import type { OutgoingResult } from "../../src/transport/get-stream/get-stream-codec.ts";
import { GetStreamResponder } from "../../src/transport/get-stream/get-stream-responder.ts";

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
