import { GroupCacheError } from "./errors.ts";

/** Throws the caller's abort as a `GroupCacheError` if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, context: string): void {
  if (signal?.aborted) throw GroupCacheError.from(signal.reason, "canceled", context);
}

/**
 * Settles with `promise`, or rejects as soon as `signal` fires, whichever
 * comes first. The promise itself is left running: it may be shared with
 * other callers. The abort listener is removed either way.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, context: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(GroupCacheError.from(signal.reason, "canceled", context));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(GroupCacheError.from(signal.reason, "canceled", context));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** What {@link linkedSignal} returns. */
export interface LinkedSignal {
  /** Fires when the parent fires (with its reason) or when the timeout runs out (with `timeoutReason()`). */
  signal: AbortSignal;
  /** Removes the parent listener and clears the timer. Call it once the work settles; calling it twice is harmless. */
  cleanup(): void;
  /** Fires `signal` now with `reason` (a default `AbortError` when omitted), for an owner that stops the work itself. */
  abort(reason?: unknown): void;
}

/**
 * A signal that follows `parent` and, when `timeoutMs > 0`, also fires after
 * `timeoutMs` with `timeoutReason()`. One controller and a timer cleared by
 * `cleanup`, rather than `AbortSignal.any` and `AbortSignal.timeout`: on
 * Node 24 the signals `AbortSignal.any` creates stay reachable from their
 * parents and are never collected, and a pending `AbortSignal.timeout`
 * holds its memory for the whole timeout even after the work is done. The
 * timer is unreferenced where the runtime allows (Node, Bun), so a pending
 * timeout does not keep a process alive.
 */
export function linkedSignal(
  parent: AbortSignal | undefined,
  timeoutMs = 0,
  timeoutReason: () => unknown = () => new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError"),
): LinkedSignal {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutMs > 0 && !controller.signal.aborted) {
    timer = setTimeout(() => controller.abort(timeoutReason()), timeoutMs);
    (timer as { unref?: () => void }).unref?.();
  }
  return {
    signal: controller.signal,
    cleanup() {
      if (timer !== undefined) clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
    abort(reason?: unknown) {
      controller.abort(reason);
    },
  };
}

/**
 * Calls `work` with a {@link linkedSignal} of `parent` and `timeoutMs` (`0`:
 * no timeout), and settles as the work does, or rejects as soon as that
 * signal fires: the work may ignore its signal, and whoever waits must not
 * wait for it. It then rejects with `onTimeout(reason)` when the timeout
 * fired (the work's signal fires with a `TimeoutError`), and with
 * `canceled` when `parent` did. The work itself runs on; its
 * timer and listener are released once it settles, not when the deadline
 * passes, so a deadline of 30 s leaves nothing pending after a 1 ms load
 * (see {@link linkedSignal} for why not `AbortSignal.timeout`).
 */
export function withDeadline<T>(
  parent: AbortSignal,
  timeoutMs: number,
  onTimeout: (reason: unknown) => unknown,
  work: (signal: AbortSignal) => T | Promise<T>,
): Promise<T> {
  const { signal, cleanup } = linkedSignal(parent, timeoutMs);
  const done = new Promise<T>((resolve) => resolve(work(signal)));
  // Also keeps a late failure, once nobody waits any more, from being unhandled.
  done.then(cleanup, cleanup);
  return raceSignal(done, signal, "").catch((error: unknown) => {
    throw signal.aborted && !parent.aborted ? onTimeout(signal.reason) : error;
  });
}
