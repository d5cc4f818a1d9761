import type { RemainingTtl } from "../core/peers.ts";

/**
 * `result` with the remaining TTL and grace an owner sent (`ttl_ms`,
 * `stale_ms`), each only when positive and finite: proto3 sends 0 for
 * "none", and a Go peer, which does not know the fields, sends nothing,
 * which reads as no TTL known.
 */
export function withRemainingTtl<R extends RemainingTtl>(result: R, ttlMs: number, staleMs: number): R {
  if (ttlMs > 0 && Number.isFinite(ttlMs)) result.ttlMs = ttlMs;
  if (staleMs > 0 && Number.isFinite(staleMs)) result.staleMs = staleMs;
  return result;
}
