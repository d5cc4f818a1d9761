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
  const session = new GetStreamResponder(
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
  return { session, served, answers, state };
}

describe("GetStreamResponder back-pressure", () => {
  test("once the sink is backed up, later keys wait unserved; resume serves them in order, each answered once", () => {
    const { session, served, answers, state } = harness(20_000); // each answer is over one batch: sent at once
    state.backedUp = true;
    for (let id = 1; id <= 5; id++) session.get(id, "g", `k${id}`);
    expect(served).toEqual(["k1"]);
    expect(session.paused).toBe(true);
    expect(answers.map((a) => a.id)).toEqual([1]);

    state.backedUp = false;
    session.resume();
    expect(served).toEqual(["k1", "k2", "k3", "k4", "k5"]);
    expect(answers.map((a) => a.id)).toEqual([1, 2, 3, 4, 5]);
    expect(answers.every((a) => a.code === 0 && a.bytes === 20_000)).toBe(true);
    expect(session.paused).toBe(false);
  });

  test("backed up again during resume: the rest stays queued, first in line", () => {
    const { session, served, state } = harness(20_000);
    state.backedUp = true;
    for (let id = 1; id <= 4; id++) session.get(id, "g", `k${id}`);
    session.resume(); // still backed up: serves k2, pauses again
    expect(served).toEqual(["k1", "k2"]);
    session.get(5, "g", "k5");
    state.backedUp = false;
    session.resume();
    expect(served).toEqual(["k1", "k2", "k3", "k4", "k5"]);
  });

  test("a queued key that is cancelled is never served or answered", () => {
    const { session, served, answers, state } = harness(20_000);
    state.backedUp = true;
    for (let id = 1; id <= 3; id++) session.get(id, "g", `k${id}`);
    session.cancel(2);
    state.backedUp = false;
    session.resume();
    expect(served).toEqual(["k1", "k3"]);
    expect(answers.map((a) => a.id)).toEqual([1, 3]);
  });

  test("drained waits for the queued keys; closing with answers answers them with the status", async () => {
    const { session, answers, state } = harness(20_000);
    state.backedUp = true;
    for (let id = 1; id <= 3; id++) session.get(id, "g", `k${id}`);
    let drained = false;
    const done = session.drained().then(() => {
      drained = true;
    });
    await Promise.resolve();
    expect(drained).toBe(false);
    session.close(new GroupCacheError("unavailable", "server shutting down"), true);
    await done;
    expect(answers.map((a) => [a.id, a.code, a.message])).toEqual([
      [1, 0, ""],
      [2, 14, "server shutting down"],
      [3, 14, "server shutting down"],
    ]);
  });

  test("small answers still go out together, once per microtask, when nothing is backed up", async () => {
    const { session, answers } = harness(100);
    for (let id = 1; id <= 50; id++) session.get(id, "g", `k${id}`);
    expect(answers).toEqual([]);
    await Promise.resolve();
    expect(answers).toHaveLength(50);
  });
});
