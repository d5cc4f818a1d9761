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
      new AbortController().signal,
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
      new AbortController().signal,
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

  test("the parent firing rejects with canceled, not with onTimeout's error", async () => {
    const parent = new AbortController();
    const result = withDeadline(
      parent.signal,
      30_000,
      () => "timed out",
      () => new Promise<string>(() => {}),
    );
    parent.abort();
    await expect(result).rejects.toMatchObject({ code: "canceled" });
  });

  test("work that throws at once rejects with its error", async () => {
    const failure = new Error("sync");
    const result = withDeadline(
      new AbortController().signal,
      0,
      () => "timed out",
      () => {
        throw failure;
      },
    );
    await expect(result).rejects.toBe(failure);
  });
});
