import { GroupCacheError } from "../core/errors.ts";
import { linkedSignal } from "../core/signals.ts";

/**
 * The delay before the next poll: `intervalMs` scaled by a uniform factor in
 * `[1 - jitter, 1 + jitter)`. Pods started together by one rollout would
 * otherwise query DNS in lockstep forever; jitter spreads them out.
 * `random` returns a number in `[0, 1)` (default `Math.random`).
 */
export function jitteredDelay(intervalMs: number, jitter: number, random: () => number = Math.random): number {
  return intervalMs * (1 + jitter * (2 * random() - 1));
}

/**
 * Resolves after `ms`, or at once when `signal` fires (then with `false`).
 * The timer is cleared on abort, so a stopped poller leaves nothing behind.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `run` with a signal that fires when `signal` does or after
 * `timeoutMs`, whichever is first; the timer and listener are removed when
 * `run` settles. A run cut short by the timeout rejects with
 * `deadline-exceeded` naming `what`.
 */
export async function withTimeout<T>(
  signal: AbortSignal,
  timeoutMs: number,
  what: string,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const linked = linkedSignal(
    signal,
    timeoutMs,
    () => new GroupCacheError("deadline-exceeded", `${what} timed out after ${timeoutMs} ms`),
  );
  try {
    return await run(linked.signal);
  } catch (error) {
    const reason: unknown = linked.signal.reason;
    if (!signal.aborted && reason instanceof GroupCacheError) throw reason;
    throw error;
  } finally {
    linked.cleanup();
  }
}
