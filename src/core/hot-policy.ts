import { functionOption, positiveInteger } from "./options.ts";

/** What a hot policy sees of a value just fetched from its owner. */
export interface HotCandidate {
  group: string;
  key: string;
  value: Uint8Array;
  /** The owner's observed rate for the key, per minute, if it reported one. */
  minuteQps: number | undefined;
}

/**
 * Decides whether a value fetched from another peer is mirrored into the
 * local hot cache. Mirroring keeps one peer's CPU and NIC from being
 * hammered by a key that is popular everywhere; mirroring everything would
 * spend the budget on copies of other peers' keys.
 */
export type HotPolicy = (candidate: HotCandidate) => boolean;

/**
 * Mirrors a fetched value with probability `1 / n`: Go groupcache's
 * `rand.Intn(10) == 0` when `n` is 10 (the default). `random` is injectable
 * so tests can be exact. `n = 1` mirrors every fetched value (mailgun's
 * choice); use {@link neverHot} to mirror none.
 */
export function randomHotPolicy(n = 10, random: () => number = Math.random): HotPolicy {
  const oneIn = positiveInteger("randomHotPolicy: n", n, 10);
  const draw = functionOption("randomHotPolicy: random", random, Math.random);
  return () => Math.floor(draw() * oneIn) === 0;
}

/**
 * Mirrors a value when its owner reports at least `minQps` requests per
 * minute for it (the use the proto's `minute_qps` field was meant for).
 */
export function qpsHotPolicy(minQps: number): HotPolicy {
  return ({ minuteQps }) => minuteQps !== undefined && minuteQps >= minQps;
}

/** Never mirrors. */
export const neverHot: HotPolicy = () => false;
