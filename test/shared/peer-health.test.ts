import { describe, expect, test } from "vitest";
import { PeerHealth, type PeerHealthClock, type PeerStateChange } from "../../src/core/peer-health.ts";

/** A clock whose time and timers move only when the test says so. */
function manualClock(): PeerHealthClock & { advance(ms: number): void; pending(): number } {
  let t = 1_000;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    setTimeout(fn, ms) {
      const id = ++nextId;
      timers.set(id, { at: t + ms, fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      const until = t + ms;
      for (;;) {
        const due = [...timers].filter(([, x]) => x.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = until;
    },
    pending: () => timers.size,
  };
}

/** A probe whose answers the test gives, one per call, recording each call's signal. */
function scriptedProbe() {
  const calls: { peer: string; signal: AbortSignal; answer: (alive: boolean) => void }[] = [];
  return {
    calls,
    probe: (peer: string, signal: AbortSignal) =>
      new Promise<boolean>((resolve) => {
        calls.push({ peer, signal, answer: resolve });
      }),
  };
}

/** Lets the promise callbacks of settled probes run. */
const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));

function health(probeIntervalMs = 250) {
  const clock = manualClock();
  const probe = scriptedProbe();
  const changes: PeerStateChange[] = [];
  const h = new PeerHealth({ probeIntervalMs, probe: probe.probe, clock, onChange: (c) => changes.push(c) });
  h.watch(["b:1", "a:1"]);
  return { h, clock, probe, changes };
}

describe("PeerHealth", () => {
  test("peers never reported are up, listed sorted with no reason", () => {
    const { h } = health();
    expect(h.states()).toEqual([
      { peer: "a:1", state: "up", since: 0, reason: "" },
      { peer: "b:1", state: "up", since: 0, reason: "" },
    ]);
    expect(h.isDown("a:1")).toBe(false);
  });

  test("down takes a peer out of routing and probes it every probeIntervalMs until a probe is answered", async () => {
    const { h, clock, probe, changes } = health(250);
    h.liveness("a:1").down("no PING ack");
    expect(h.isDown("a:1")).toBe(true);
    expect(h.isDown("b:1")).toBe(false);
    expect(changes).toEqual([{ peer: "a:1", state: "down", previous: "up", since: 1_000, reason: "no PING ack" }]);

    clock.advance(249);
    expect(probe.calls).toHaveLength(0);
    clock.advance(1);
    expect(probe.calls.map((c) => c.peer)).toEqual(["a:1"]);
    // One probe at a time: no second one while the first is out.
    clock.advance(1_000);
    expect(probe.calls).toHaveLength(1);

    probe.calls[0]?.answer(false);
    await settle();
    expect(h.isDown("a:1")).toBe(true);
    clock.advance(249);
    expect(probe.calls).toHaveLength(1);
    clock.advance(1);
    expect(probe.calls).toHaveLength(2);

    probe.calls[1]?.answer(true);
    await settle();
    expect(h.isDown("a:1")).toBe(false);
    expect(changes.at(-1)).toEqual({
      peer: "a:1",
      state: "up",
      previous: "down",
      since: 2_500,
      reason: "answered a probe",
    });
    expect(clock.pending()).toBe(0);
    clock.advance(10_000);
    expect(probe.calls).toHaveLength(2);
  });

  test("a rejected or throwing probe counts as unanswered", async () => {
    const clock = manualClock();
    let calls = 0;
    const h = new PeerHealth({
      probeIntervalMs: 10,
      clock,
      probe: () => {
        calls++;
        if (calls === 1) throw new Error("sync");
        return Promise.reject(new Error("async"));
      },
    });
    h.watch(["a:1"]);
    h.liveness("a:1").down("x");
    clock.advance(10);
    await settle();
    clock.advance(10);
    await settle();
    await settle();
    clock.advance(10);
    expect(calls).toBe(3);
    expect(h.isDown("a:1")).toBe(true);
  });

  test("suspect stays in routing; a suspicion does not overrule down; up from the transport ends the probes", async () => {
    const { h, clock, probe, changes } = health(100);
    const a = h.liveness("a:1");
    a.suspect("PING late");
    expect(h.isDown("a:1")).toBe(false);
    expect(h.states()[0]).toEqual({ peer: "a:1", state: "suspect", since: 1_000, reason: "PING late" });
    a.suspect("again"); // same state: no change reported
    a.down("PING unanswered");
    a.suspect("late once more");
    expect(h.isDown("a:1")).toBe(true);
    clock.advance(100);
    expect(probe.calls).toHaveLength(1);
    a.up("answered a PING");
    expect(h.isDown("a:1")).toBe(false);
    expect(probe.calls[0]?.signal.aborted).toBe(true);
    probe.calls[0]?.answer(false); // a late answer of the aborted probe changes nothing
    await settle();
    expect(h.isDown("a:1")).toBe(false);
    expect(clock.pending()).toBe(0);
    expect(changes.map((c) => `${c.previous}->${c.state}`)).toEqual(["up->suspect", "suspect->down", "down->up"]);
  });

  test("reports about peers out of the ring are ignored; leaving the ring stops a down peer's probes", () => {
    const { h, clock, probe, changes } = health(100);
    h.liveness("gone:1").down("x");
    expect(h.isDown("gone:1")).toBe(false);
    expect(changes).toEqual([]);

    h.liveness("a:1").down("x");
    clock.advance(100);
    expect(probe.calls).toHaveLength(1);
    h.watch(["b:1"]);
    expect(probe.calls[0]?.signal.aborted).toBe(true);
    expect(h.isDown("a:1")).toBe(false);
    expect(h.states().map((s) => s.peer)).toEqual(["b:1"]);
    h.liveness("a:1").down("late report");
    expect(h.isDown("a:1")).toBe(false);

    // Back in the ring: up until reported again.
    h.watch(["a:1", "b:1"]);
    expect(h.states()[0]?.state).toBe("up");
  });

  test("close stops every probe and ignores later reports; a throwing onChange changes nothing", () => {
    const clock = manualClock();
    const probe = scriptedProbe();
    const h = new PeerHealth({
      probeIntervalMs: 50,
      clock,
      probe: probe.probe,
      onChange: () => {
        throw new Error("observer bug");
      },
    });
    h.watch(["a:1", "b:1"]);
    h.liveness("a:1").down("x");
    expect(h.isDown("a:1")).toBe(true);
    clock.advance(50);
    h.close();
    expect(probe.calls[0]?.signal.aborted).toBe(true);
    expect(clock.pending()).toBe(0);
    h.liveness("b:1").down("after close");
    expect(h.isDown("b:1")).toBe(false);
  });
});
