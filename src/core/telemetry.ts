import type { CacheStats, CacheType } from "./caches.ts";
import type { GroupCacheEvent } from "./events.ts";
import type { GroupStats } from "./group-stats.ts";

/**
 * Trace context as text headers (W3C `traceparent`, `tracestate`,
 * `baggage`, or whatever the tracer's propagator writes), carried to a
 * key's owner so its spans join the caller's trace.
 */
export type TraceCarrier = Record<string, string>;

/** A span the core opened around a step of a miss; ended exactly once. */
export interface TelemetrySpan {
  /** The trace context that makes the owner's spans children of this one; `undefined` when not traced. */
  readonly carrier: TraceCarrier | undefined;
  /** Ends the span: failed with `error`, or successful when it is `undefined`. */
  end(error?: unknown): void;
}

/**
 * The hooks of one group, called on misses only: a hit calls none of them,
 * so the hit path costs the same with or without telemetry.
 */
export interface GroupTelemetry {
  /**
   * A load starts (once per singleflight): here for a local get, or for a
   * peer's request, with the trace context the peer sent as `parent`.
   */
  load(key: string, parent: TraceCarrier | undefined): TelemetrySpan;
  /** A fetch from the owner `peer` starts, within `load`; its duration and outcome are recorded per peer. */
  peerGet(load: TelemetrySpan, peer: string, key: string): TelemetrySpan;
  /** A getter call starts, within `load`; its duration is recorded. */
  getter(load: TelemetrySpan, key: string): TelemetrySpan;
}

/** A group as telemetry reads it: Go's counters and the two caches' figures. */
export interface ObservedGroup {
  readonly name: string;
  readonly stats: GroupStats;
  cacheStats(which: CacheType): CacheStats;
}

/** What a cache lets telemetry read when it collects (observable instruments read it then, never on a get). */
export interface TelemetrySource {
  readonly self: string;
  readonly peers: readonly string[];
  /** Requests from peers whose ring fingerprint differed from this process's. */
  readonly ringMismatches: number;
  /** Requests from peers for a group this process does not have. */
  readonly unknownGroupRequests: number;
  groups(): readonly ObservedGroup[];
}

/**
 * A telemetry backend for `GroupCache`'s `telemetry` option: metrics and
 * traces of the cache. `groupcache/opentelemetry`'s `openTelemetry()` is
 * the one that ships; the core knows only this interface, so it depends
 * on no telemetry package.
 */
export interface Telemetry {
  /** Starts reading `source`'s counters when metrics are collected; returns what stops it (at `close`). */
  observe(source: TelemetrySource): () => void;
  /** The hooks of the group `name`. */
  group(name: string): GroupTelemetry;
  /** An event the cache reported (to count it); called whether or not `onEvent` is set. */
  event(event: GroupCacheEvent): void;
}

/** A span that records nothing. */
export const noSpan: TelemetrySpan = { carrier: undefined, end() {} };

const noGroupTelemetry: GroupTelemetry = {
  load: () => noSpan,
  peerGet: () => noSpan,
  getter: () => noSpan,
};

/** Telemetry off: every hook does nothing. The default. */
export const noTelemetry: Telemetry = {
  observe: () => () => {},
  group: () => noGroupTelemetry,
  event() {},
};

/** Ends `span` when `promise` settles, with its error if it rejects; returns `promise`'s outcome. */
export function endWith<T>(span: TelemetrySpan, promise: Promise<T>): Promise<T> {
  if (span === noSpan) return promise;
  return promise.then(
    (value) => {
      span.end();
      return value;
    },
    (error: unknown) => {
      span.end(error);
      throw error;
    },
  );
}
