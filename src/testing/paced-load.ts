/**
 * The steady load of a peer process's `load` command: gets started at a
 * fixed rate over a key list, each one timed and checked, so that a
 * benchmark can compare the latency while the membership changes with the
 * latency before. Paced rather than as fast as possible: a saturating load
 * measures how much CPU the machine has left, not what a membership change
 * costs a client. A loop that falls behind its schedule starts its next
 * gets at once until it is back on it; each get is timed from its actual
 * start, so a stall of the client process itself is not charged to the
 * gets it delayed, only to those in flight.
 *
 * Only `performance` and timers: it runs under Node, Bun and Deno.
 */
import { sleep } from "../discovery/poll.ts";
import type { GetOutcome, LoadArgs, LoadResult } from "./protocol.ts";

/** Milliseconds on a clock the processes of one machine share (epoch-based, sub-millisecond). */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Runs `args.concurrency` loops that together start `args.ratePerSec` gets
 * a second over `args.keys`, in order, until `durationMs` or `maxOps` is
 * reached or `signal` fires. `get` must not throw; `expected` is the value
 * each key must have.
 */
export async function runPacedLoad(
  args: LoadArgs,
  get: (key: string) => Promise<GetOutcome>,
  expected: (key: string) => string,
  signal: AbortSignal,
): Promise<LoadResult> {
  if (!(args.ratePerSec > 0) || args.keys.length === 0 || !(args.concurrency >= 1)) {
    throw new RangeError("load needs keys, a concurrency >= 1 and a ratePerSec > 0");
  }
  const origin = performance.now();
  const startedAt = performance.timeOrigin + origin;
  const result: LoadResult = { startedAt, startMs: [], latencyUs: [], failed: [], failures: [] };
  const spacingMs = 1000 / args.ratePerSec;
  let issued = 0;
  const loop = async () => {
    // Bounded by maxOps and durationMs (every turn takes a slot of the schedule).
    while (!signal.aborted) {
      const slot = issued++;
      const dueMs = slot * spacingMs;
      if (slot >= args.maxOps || dueMs >= args.durationMs) return;
      // Node's timers may fire a millisecond or so early: wait out the rest (bounded by the due time).
      for (let waitMs = origin + dueMs - performance.now(); waitMs > 0; waitMs = origin + dueMs - performance.now()) {
        if (!(await sleep(waitMs, signal))) return;
      }
      const key = args.keys[slot % args.keys.length] as string;
      const start = performance.now();
      const outcome = await get(key);
      const end = performance.now();
      const index = result.startMs.length;
      result.startMs.push(Math.round((start - origin) * 100) / 100);
      result.latencyUs.push(Math.round((end - start) * 1000));
      if (outcome.ok && outcome.value === expected(key)) continue;
      result.failed.push(index);
      if (result.failures.length < 20) {
        result.failures.push(
          outcome.ok
            ? { key, code: "wrong-value", message: `got ${JSON.stringify(outcome.value.slice(0, 80))}` }
            : { key, code: outcome.code, message: outcome.message },
        );
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, loop));
  return result;
}
