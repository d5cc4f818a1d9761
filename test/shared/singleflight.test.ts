import { describe, expect, test } from "vitest";
import { SingleFlight } from "../../src/core/singleflight.ts";
import { GroupCacheError } from "../../src/index.ts";
import { deferred } from "../support/deferred.ts";

describe("SingleFlight", () => {
  test("concurrent callers of one key share one call and its value", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    let calls = 0;
    const fn = () => {
      calls++;
      return gate.promise;
    };
    const all = Promise.all([flight.do("k", fn), flight.do("k", fn), flight.do("k", fn)]);
    expect(flight.size).toBe(1);
    gate.resolve("v");
    expect(await all).toEqual(["v", "v", "v"]);
    expect(calls).toBe(1);
    expect(flight.size).toBe(0);
  });

  test("different keys run separately; a finished key runs again", async () => {
    const flight = new SingleFlight<string>();
    let calls = 0;
    const fn = async () => `v${++calls}`;
    expect(await Promise.all([flight.do("a", fn), flight.do("b", fn)])).toEqual(["v1", "v2"]);
    expect(await flight.do("a", fn)).toBe("v3");
  });

  test("every waiter receives the same error", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    const a = flight.do("k", () => gate.promise);
    const b = flight.do("k", () => gate.promise);
    const boom = new Error("boom");
    gate.reject(boom);
    await expect(a).rejects.toBe(boom);
    await expect(b).rejects.toBe(boom);
    expect(flight.size).toBe(0);
  });

  test("a function that throws synchronously releases every waiter", async () => {
    const flight = new SingleFlight<string>();
    const p = flight.do("k", () => {
      throw new Error("sync");
    });
    await expect(p).rejects.toThrow("sync");
    expect(flight.size).toBe(0);
  });

  test("one waiter's abort rejects only that waiter; the call goes on for the others", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    let callSignal: AbortSignal | undefined;
    const fn = (signal: AbortSignal) => {
      callSignal = signal;
      return gate.promise;
    };
    const leaver = new AbortController();
    const a = flight.do("k", fn, leaver.signal);
    const stayer = new AbortController();
    const b = flight.do("k", fn, stayer.signal);
    leaver.abort();
    await expect(a).rejects.toMatchObject({ code: "canceled" });
    expect(callSignal?.aborted).toBe(false);
    gate.resolve("v");
    expect(await b).toBe("v");
  });

  test("when every waiter has left, the call's signal fires and the key is free at once", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    let callSignal: AbortSignal | undefined;
    const c1 = new AbortController();
    const c2 = new AbortController();
    const fn = (signal: AbortSignal) => {
      callSignal = signal;
      return gate.promise;
    };
    const a = flight.do("k", fn, c1.signal);
    const b = flight.do("k", fn, c2.signal);
    c1.abort();
    await expect(a).rejects.toBeInstanceOf(GroupCacheError);
    expect(callSignal?.aborted).toBe(false);
    c2.abort(new DOMException("late", "TimeoutError"));
    await expect(b).rejects.toMatchObject({ code: "deadline-exceeded" });
    expect(callSignal?.aborted).toBe(true);
    expect(flight.size).toBe(0);
    // A new caller starts a new call rather than joining the abandoned one.
    expect(await flight.do("k", async () => "fresh")).toBe("fresh");
    // The abandoned call may still fail later without an unhandled rejection.
    gate.reject(new Error("late failure"));
  });

  test("a waiter without a signal keeps the call alive when others leave", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    let callSignal: AbortSignal | undefined;
    const fn = (signal: AbortSignal) => {
      callSignal = signal;
      return gate.promise;
    };
    const steady = flight.do("k", fn);
    const c = new AbortController();
    const leaver = flight.do("k", fn, c.signal);
    c.abort();
    await expect(leaver).rejects.toMatchObject({ code: "canceled" });
    expect(callSignal?.aborted).toBe(false);
    gate.resolve("v");
    expect(await steady).toBe("v");
  });

  test("join waits for the call in flight as do would, and starts none when there is none", async () => {
    const flights = new SingleFlight<string>();
    expect(flights.join("k")).toBeUndefined();
    expect(flights.size).toBe(0);
    const gate = deferred<string>();
    let calls = 0;
    const first = flights.do("k", () => {
      calls++;
      return gate.promise;
    });
    const leaving = new AbortController();
    const joined = flights.join("k");
    const left = flights.join("k", leaving.signal);
    leaving.abort();
    await expect(left).rejects.toMatchObject({ code: "canceled" });
    gate.resolve("v");
    expect(await Promise.all([first, joined])).toEqual(["v", "v"]);
    expect(calls).toBe(1);
    expect(flights.join("k")).toBeUndefined();
  });

  test("the call's function gets its controller with its signal, to fire the signal itself", async () => {
    const flights = new SingleFlight<string>();
    let seen: AbortSignal | undefined;
    const result = flights.do("k", (signal, flight) => {
      seen = signal;
      expect(flight.signal).toBe(signal);
      flight.abort("deadline");
      return "still answered";
    });
    expect(seen?.reason).toBe("deadline");
    expect(await result).toBe("still answered");
  });

  test("an already aborted signal rejects without calling", async () => {
    const flight = new SingleFlight<string>();
    let calls = 0;
    await expect(
      flight.do(
        "k",
        async () => {
          calls++;
          return "v";
        },
        AbortSignal.abort(),
      ),
    ).rejects.toMatchObject({ code: "canceled" });
    expect(calls).toBe(0);
    expect(flight.size).toBe(0);
  });
});
