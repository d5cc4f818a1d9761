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
 * Calls `work` with the signal of `flight` (a singleflight call's
 * controller, whose signal fires once nobody waits for the call), and
 * settles as the work does, or, once `timeoutMs` ran out, fires that signal
 * with a `TimeoutError` and rejects at once with `onTimeout(reason)`: the
 * work may ignore its signal, and whoever waits must not wait for it. The
 * work itself runs on. The timer is released once it settles, not when the
 * deadline passes, so a deadline of 30 s leaves nothing pending after a
 * 1 ms load (see {@link linkedSignal} for why not `AbortSignal.timeout`).
 * A signal that fired before the deadline (nobody waits) is left as it is.
 *
 * It fires the call's own signal rather than one linked to it: it runs on
 * every getter call, and this way a call costs no second controller, no
 * listener and no race (see bench/README.md, "Memory under churn").
 */
export function withDeadline<T>(
  flight: AbortController,
  timeoutMs: number,
  onTimeout: (reason: unknown) => unknown,
  work: (signal: AbortSignal) => T | Promise<T>,
): Promise<T> {
  const signal = flight.signal;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (signal.aborted) return;
      flight.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError"));
      reject(onTimeout(signal.reason));
    }, timeoutMs);
    (timer as { unref?: () => void }).unref?.();
    let done: Promise<T>;
    try {
      done = Promise.resolve(work(signal));
    } catch (error) {
      done = Promise.reject(error);
    }
    // Settling a promise the deadline already rejected does nothing: a late
    // result or failure is dropped (and so never unhandled).
    done.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
