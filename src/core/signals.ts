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
  };
}
