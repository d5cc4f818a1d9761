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
