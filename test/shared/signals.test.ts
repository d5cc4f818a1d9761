import { afterEach, describe, expect, test, vi } from "vitest";
import { GroupCacheError } from "../../src/core/errors.ts";
import { linkedSignal, withDeadline } from "../../src/core/signals.ts";
import { deferred } from "../support/deferred.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("linkedSignal", () => {
  test("follows its parent, fires on its timeout or on abort(), and cleanup clears the timer", () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const followed = linkedSignal(parent.signal, 1000);
    parent.abort("parent's reason");
    expect(followed.signal.reason).toBe("parent's reason");

    const timed = linkedSignal(undefined, 1000);
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(1000);
    expect((timed.signal.reason as DOMException).name).toBe("TimeoutError");

    const stopped = linkedSignal(undefined);
    stopped.abort("stopped");
    expect(stopped.signal.reason).toBe("stopped");

    const done = linkedSignal(new AbortController().signal, 1000);
    done.cleanup();
    followed.cleanup();
    expect(vi.getTimerCount()).toBe(0);
    expect(done.signal.aborted).toBe(false);
  });
});

describe("withDeadline", () => {
  test("work that settles first leaves no timer behind", async () => {
    vi.useFakeTimers();
    const result = withDeadline(
      new AbortController(),
      30_000,
      () => "timed out",
      async () => "value",
    );
    expect(await result).toBe("value");
    expect(vi.getTimerCount()).toBe(0);
  });

  test("a timeout rejects at once with onTimeout's error while the work runs on; its signal says TimeoutError", async () => {
    vi.useFakeTimers();
    const work = deferred<string>();
    let workSignal: AbortSignal | undefined;
    const result = withDeadline(
      new AbortController(),
      50,
      (reason) => new GroupCacheError("deadline-exceeded", "too slow", { cause: reason }),
      (signal) => {
        workSignal = signal;
        return work.promise;
      },
    );
    const settled = result.catch((error: unknown) => error);
    vi.advanceTimersByTime(50);
    const error = (await settled) as GroupCacheError;
    expect(error).toMatchObject({ code: "deadline-exceeded", message: "too slow" });
    expect((error.cause as DOMException).name).toBe("TimeoutError");
    expect((workSignal?.reason as DOMException | undefined)?.name).toBe("TimeoutError");
    work.resolve("late"); // nobody waits for it any more; it must not be unhandled either
    await work.promise;
  });

  test("a signal fired before the deadline (nobody waits) is left as it is: no onTimeout, no TimeoutError", async () => {
    vi.useFakeTimers();
    const flight = new AbortController();
    let timeouts = 0;
    const work = deferred<string>();
    const result = withDeadline(
      flight,
      50,
      () => {
        timeouts++;
        return "timed out";
      },
      () => work.promise,
    );
    flight.abort("everyone left");
    vi.advanceTimersByTime(50);
    expect(timeouts).toBe(0);
    expect(flight.signal.reason).toBe("everyone left");
    work.resolve("late");
    expect(await result).toBe("late");
    expect(vi.getTimerCount()).toBe(0);
  });

  test("work that throws at once rejects with its error", async () => {
    const failure = new Error("sync");
    const result = withDeadline(
      new AbortController(),
      30_000,
      () => "timed out",
      () => {
        throw failure;
      },
    );
    await expect(result).rejects.toBe(failure);
  });
});
