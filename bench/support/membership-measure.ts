/**
 * What a membership change cost, from the raw material the bench collects:
 * the member lists DNS went through, every process's getter counters, and
 * every timed get of the driver's steady load.
 */
import { Ring } from "../../src/core/ring.ts";
import type { LoadResult, PeerStats } from "../../src/testing/protocol.ts";
import { quantile } from "./stats.ts";

/** How many keys changed owner across a sequence of member lists, with the default ring every peer uses. */
export function ownerMoves(
  keys: readonly string[],
  lists: readonly (readonly string[])[],
): {
  /** Keys whose owner changed at least once. */
  keys: number;
  /** Owner changes summed over the steps (a key moved twice counts twice). */
  moves: number;
} {
  const rings = lists.map((ids) => new Ring(ids));
  let moved = 0;
  let moves = 0;
  for (const key of keys) {
    let changes = 0;
    for (let i = 1; i < rings.length; i++) {
      if (rings[i]?.get(key) !== rings[i - 1]?.get(key)) changes++;
    }
    moves += changes;
    if (changes > 0) moved++;
  }
  return { keys: moved, moves };
}

/**
 * Backend loads over every process: getter calls beyond the one per key of
 * the warm-up, or, given `warm` (the counters right after the warm-up),
 * beyond the calls counted then (a loaded machine can fail a warm-up fetch,
 * which the asker then loads itself).
 */
export function backendLoads(
  keys: readonly string[],
  stats: readonly PeerStats[],
  warm?: readonly PeerStats[],
): {
  /** Getter calls after the warm-up. */
  loads: number;
  /** Keys loaded again at least once. */
  keys: number;
  /** Peer fetches that failed (each fell back to a load by the asking process). */
  peerErrors: number;
} {
  const calls = new Map<string, number>();
  let total = 0;
  let peerErrors = 0;
  for (const s of stats) {
    total += s.getterTotal;
    peerErrors += s.stats.peerErrors ?? 0;
    for (const [key, n] of Object.entries(s.getterCalls)) calls.set(key, (calls.get(key) ?? 0) + n);
  }
  if (warm === undefined) {
    return { loads: total - keys.length, keys: keys.filter((k) => (calls.get(k) ?? 0) > 1).length, peerErrors };
  }
  for (const s of warm) {
    total -= s.getterTotal;
    peerErrors -= s.stats.peerErrors ?? 0;
    for (const [key, n] of Object.entries(s.getterCalls)) calls.set(key, (calls.get(key) ?? 0) - n);
  }
  return { loads: total, keys: keys.filter((k) => (calls.get(k) ?? 0) > 0).length, peerErrors };
}

/** Latency of the gets started in a window of the shared clock, in µs. */
export interface WindowLatency {
  gets: number;
  p50Us: number;
  p99Us: number;
}

/** p50 and p99 of the load's gets that started in `[fromMs, toMs)` (shared clock, see `sharedClockMs`). */
export function latencyIn(load: LoadResult, fromMs: number, toMs: number): WindowLatency {
  const picked: number[] = [];
  for (let i = 0; i < load.startMs.length; i++) {
    const at = load.startedAt + (load.startMs[i] as number);
    if (at >= fromMs && at < toMs) picked.push(load.latencyUs[i] as number);
  }
  return { gets: picked.length, p50Us: quantile(picked, 0.5), p99Us: quantile(picked, 0.99) };
}
