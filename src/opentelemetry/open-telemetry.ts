import {
  type Attributes,
  type Context,
  type Counter,
  context,
  type Histogram,
  type MeterProvider,
  metrics,
  type Observable,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { GroupCacheError } from "../core/errors.ts";
import type { GroupCacheEvent } from "../core/events.ts";
import type { GroupStats } from "../core/group-stats.ts";
import { booleanOption, invalidOption, optionsObject } from "../core/options.ts";
import type { GroupTelemetry, Telemetry, TelemetrySource, TelemetrySpan, TraceCarrier } from "../core/telemetry.ts";

/** Options of {@link openTelemetry}. */
export interface OpenTelemetryOptions {
  /** Where metrics go. Default: the global one (`metrics.getMeterProvider()`) when `openTelemetry()` is called: register your SDK first. */
  meterProvider?: MeterProvider;
  /** Where spans go. Default: the global one (`trace.getTracerProvider()`, which follows an SDK registered later). */
  tracerProvider?: TracerProvider;
  /**
   * Writes trace context to the owner of a key and reads it back there.
   * Default: the global propagator (`propagation`; the SDKs register W3C
   * `traceparent`/`tracestate` and baggage).
   */
  propagator?: TextMapPropagator;
  /**
   * Records each span's key as the `groupcache.key` attribute. Keys may be
   * personal data (user ids, e-mail addresses): record them only where
   * traces may hold such data. Default: `false`.
   */
  recordKeys?: boolean;
}

/** The instrumentation scope of every meter and tracer. */
export const instrumentationName = "groupcache";

const groupAttribute = "groupcache.group";
const peerAttribute = "groupcache.peer";
const keyAttribute = "groupcache.key";
const cacheTypeAttribute = "groupcache.cache.type";
const errorTypeAttribute = "error.type";

/** Go's counters of a group, each an observable counter reading `group.stats` when metrics are collected. */
const groupCounters: readonly [keyof GroupStats, string, string, string][] = [
  ["gets", "groupcache.group.gets", "{get}", "Gets, from local callers and from peers"],
  ["cacheHits", "groupcache.group.cache_hits", "{hit}", "Lookups found in the main or hot cache"],
  ["peerLoads", "groupcache.group.peer_loads", "{load}", "Values fetched from the owning peer"],
  [
    "peerErrors",
    "groupcache.group.peer_errors",
    "{error}",
    "Failed fetches from the owning peer (loaded locally instead)",
  ],
  ["loads", "groupcache.group.loads", "{load}", "Gets that missed and went on to load (before singleflight)"],
  ["loadsDeduped", "groupcache.group.loads_deduped", "{load}", "Loads after singleflight (one per flight)"],
  ["localLoads", "groupcache.group.local_loads", "{load}", "Getter calls whose value was accepted"],
  ["localLoadErrs", "groupcache.group.local_load_errors", "{error}", "Getter calls that failed or timed out"],
  ["serverRequests", "groupcache.group.server_requests", "{request}", "Gets that came from peers"],
  ["peeks", "groupcache.group.peeks", "{peek}", "Peeks of previous owners after a ring change"],
  ["peekHits", "groupcache.group.peek_hits", "{hit}", "Peeks that returned the value"],
];

/**
 * Histogram buckets for durations in seconds, from 100 µs (a remote hit on
 * a LAN) to 30 s (the default getter timeout); OpenTelemetry's default
 * buckets are meant for milliseconds.
 */
const durationBuckets = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The `error.type` of a failure: the `GroupCacheError` code, as the semantic conventions want a low-cardinality type. */
function errorType(error: unknown): string {
  return error instanceof GroupCacheError ? error.code : "load-failed";
}

/**
 * Metrics and traces of a cache through the OpenTelemetry API, for the
 * `telemetry` option of `GroupCache` (and `startPeer`, which uses it by
 * default once an SDK has registered a global provider). The library depends on
 * the API only, never on an SDK: without one every instrument is a no-op.
 *
 * Metrics, with the attribute `groupcache.group`:
 * - Go's counters as observable counters (`groupcache.group.gets`,
 *   `.cache_hits`, `.peer_loads`, `.peer_errors`, `.loads`,
 *   `.loads_deduped`, `.local_loads`, `.local_load_errors`,
 *   `.server_requests`, `.peeks`, `.peek_hits`), read from `group.stats`
 *   at collection: a hit costs nothing more.
 * - per cache (`groupcache.cache.type`: `main`, `hot`): `groupcache.cache.bytes`
 *   and `.items` (gauges), `.evictions`, `.gets`, `.hits` (counters).
 * - `groupcache.getter.duration` and `groupcache.peer.duration` (histograms,
 *   seconds; the peer one per `groupcache.peer`), `groupcache.peer.errors`
 *   (per peer and `error.type`).
 * - `groupcache.ring.peers`, `groupcache.ring.mismatches`,
 *   `groupcache.server.unknown_group_requests`, and `groupcache.events`
 *   (each event, per `groupcache.event.type`).
 *
 * Spans, for a get that misses only: `groupcache.load` (the flight),
 * `groupcache.peer.get` (CLIENT, the fetch from the owner, whose trace
 * context travels with the request), `groupcache.serve` (SERVER, on the
 * owner, a child of the caller's `groupcache.peer.get`) and
 * `groupcache.getter`. Keys are not recorded unless `recordKeys` is set.
 */
export function openTelemetry(options?: OpenTelemetryOptions): Telemetry {
  const o = optionsObject("openTelemetry: options", options);
  const meterProvider = providerOption("meterProvider", o.meterProvider, "getMeter") ?? metrics.getMeterProvider();
  const tracerProvider = providerOption("tracerProvider", o.tracerProvider, "getTracer") ?? trace.getTracerProvider();
  const propagator = o.propagator ?? propagation;
  const recordKeys = booleanOption("openTelemetry: recordKeys", o.recordKeys, false);
  const meter = meterProvider.getMeter(instrumentationName);
  const tracer = tracerProvider.getTracer(instrumentationName);

  const sources = new Set<TelemetrySource>();
  const counter = (name: string, unit: string, description: string) =>
    meter.createObservableCounter(name, { unit, description });
  const gauge = (name: string, unit: string, description: string) =>
    meter.createObservableGauge(name, { unit, description });
  const cacheBytes = gauge(
    "groupcache.cache.bytes",
    "By",
    "Bytes in the cache (keys and values, as cacheBytes counts them)",
  );
  const cacheItems = gauge("groupcache.cache.items", "{item}", "Entries in the cache");
  const cacheEvictions = counter(
    "groupcache.cache.evictions",
    "{eviction}",
    "Entries evicted to keep within cacheBytes",
  );
  const cacheGets = counter("groupcache.cache.gets", "{get}", "Lookups in the cache");
  const cacheHits = counter("groupcache.cache.hits", "{hit}", "Lookups found in the cache");
  const ringPeers = gauge("groupcache.ring.peers", "{peer}", "Peers in this process's ring");
  const ringMismatches = counter(
    "groupcache.ring.mismatches",
    "{request}",
    "Requests from peers whose ring differed from this process's",
  );
  const unknownGroups = counter(
    "groupcache.server.unknown_group_requests",
    "{request}",
    "Requests from peers for a group this process does not have",
  );
  const counters = groupCounters.map(
    ([stat, name, unit, description]) => [stat, counter(name, unit, description)] as const,
  );
  const observables: Observable[] = [
    ...counters.map(([, counter]) => counter),
    cacheBytes,
    cacheItems,
    cacheEvictions,
    cacheGets,
    cacheHits,
    ringPeers,
    ringMismatches,
    unknownGroups,
  ];
  meter.addBatchObservableCallback((result) => {
    for (const source of sources) {
      result.observe(ringPeers, source.peers.length);
      result.observe(ringMismatches, source.ringMismatches);
      result.observe(unknownGroups, source.unknownGroupRequests);
      for (const group of source.groups()) {
        const attributes = { [groupAttribute]: group.name };
        const stats = group.stats;
        for (const [stat, counter] of counters) result.observe(counter, stats[stat], attributes);
        for (const which of ["main", "hot"] as const) {
          const c = group.cacheStats(which);
          const cacheAttributes = { [groupAttribute]: group.name, [cacheTypeAttribute]: which };
          result.observe(cacheBytes, c.bytes, cacheAttributes);
          result.observe(cacheItems, c.items, cacheAttributes);
          result.observe(cacheEvictions, c.evictions, cacheAttributes);
          result.observe(cacheGets, c.gets, cacheAttributes);
          result.observe(cacheHits, c.hits, cacheAttributes);
        }
      }
    }
  }, observables);

  const histograms: Instruments = {
    getter: meter.createHistogram("groupcache.getter.duration", {
      unit: "s",
      description: "Duration of getter calls",
      advice: { explicitBucketBoundaries: durationBuckets },
    }),
    peer: meter.createHistogram("groupcache.peer.duration", {
      unit: "s",
      description: "Round trip of fetches from the owning peer",
      advice: { explicitBucketBoundaries: durationBuckets },
    }),
    peerErrors: meter.createCounter("groupcache.peer.errors", {
      unit: "{error}",
      description: "Failed fetches from the owning peer, per peer",
    }),
  };
  const events = meter.createCounter("groupcache.events", {
    unit: "{event}",
    description: "Events reported, per type",
  });

  return {
    observe(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
    group: (name) => new OtelGroupTelemetry(name, tracer, propagator, histograms, recordKeys),
    event(event: GroupCacheEvent) {
      const attributes: Attributes = { "groupcache.event.type": event.type };
      if ("peer" in event) attributes[peerAttribute] = event.peer;
      events.add(1, attributes);
    },
  };
}

interface Instruments {
  getter: Histogram;
  peer: Histogram;
  peerErrors: Counter;
}

const carrierSetter: TextMapSetter<TraceCarrier> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};
const carrierGetter: TextMapGetter<TraceCarrier> = { get: (c, k) => c[k], keys: (c) => Object.keys(c) };

/** A span of this module: its context (for children and the carrier) and when it started. */
class OtelSpan implements TelemetrySpan {
  readonly span: Span;
  readonly context: Context;
  readonly started = performance.now();
  readonly carrier: TraceCarrier | undefined;
  readonly #onEnd: ((seconds: number, error: unknown) => void) | undefined;

  constructor(
    span: Span,
    parent: Context,
    propagator: TextMapPropagator | undefined,
    onEnd?: (seconds: number, error: unknown) => void,
  ) {
    this.span = span;
    this.context = trace.setSpan(parent, span);
    this.#onEnd = onEnd;
    if (propagator === undefined || !span.isRecording()) {
      this.carrier = undefined;
    } else {
      const carrier: TraceCarrier = {};
      propagator.inject(this.context, carrier, carrierSetter);
      this.carrier = Object.keys(carrier).length === 0 ? undefined : carrier;
    }
  }

  end(error?: unknown): void {
    this.#onEnd?.((performance.now() - this.started) / 1000, error);
    if (error !== undefined) {
      this.span.setAttribute(errorTypeAttribute, errorType(error));
      this.span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
    }
    this.span.end();
  }
}

/** One group's spans and histograms. */
class OtelGroupTelemetry implements GroupTelemetry {
  readonly #name: string;
  readonly #tracer: Tracer;
  readonly #propagator: TextMapPropagator;
  readonly #instruments: Instruments;
  readonly #recordKeys: boolean;

  constructor(
    name: string,
    tracer: Tracer,
    propagator: TextMapPropagator,
    instruments: Instruments,
    recordKeys: boolean,
  ) {
    this.#name = name;
    this.#tracer = tracer;
    this.#propagator = propagator;
    this.#instruments = instruments;
    this.#recordKeys = recordKeys;
  }

  #attributes(key: string, more?: Attributes): Attributes {
    const attributes: Attributes = { [groupAttribute]: this.#name, ...more };
    if (this.#recordKeys) attributes[keyAttribute] = key;
    return attributes;
  }

  load(key: string, parent: TraceCarrier | undefined): TelemetrySpan {
    const served = parent !== undefined;
    const ctx = served ? this.#propagator.extract(ROOT_CONTEXT, parent, carrierGetter) : context.active();
    const span = this.#tracer.startSpan(
      served ? "groupcache.serve" : "groupcache.load",
      { kind: served ? SpanKind.SERVER : SpanKind.INTERNAL, attributes: this.#attributes(key) },
      ctx,
    );
    return new OtelSpan(span, ctx, undefined);
  }

  peerGet(load: TelemetrySpan, peer: string, key: string): TelemetrySpan {
    const parent = load instanceof OtelSpan ? load.context : context.active();
    const span = this.#tracer.startSpan(
      "groupcache.peer.get",
      { kind: SpanKind.CLIENT, attributes: this.#attributes(key, { [peerAttribute]: peer }) },
      parent,
    );
    return new OtelSpan(span, parent, this.#propagator, (seconds, error) => {
      const attributes: Attributes = { [groupAttribute]: this.#name, [peerAttribute]: peer };
      if (error !== undefined) {
        attributes[errorTypeAttribute] = errorType(error);
        this.#instruments.peerErrors.add(1, attributes);
      }
      this.#instruments.peer.record(seconds, attributes);
    });
  }

  getter(load: TelemetrySpan, key: string): TelemetrySpan {
    const parent = load instanceof OtelSpan ? load.context : context.active();
    const span = this.#tracer.startSpan("groupcache.getter", { attributes: this.#attributes(key) }, parent);
    return new OtelSpan(span, parent, undefined, (seconds, error) => {
      const attributes: Attributes = { [groupAttribute]: this.#name };
      if (error !== undefined) attributes[errorTypeAttribute] = errorType(error);
      this.#instruments.getter.record(seconds, attributes);
    });
  }
}

/** `provider` if it has `method` (a provider of the OpenTelemetry API), `undefined` when not given. */
function providerOption<P>(name: string, provider: P | undefined, method: string): P | undefined {
  if (provider === undefined) return undefined;
  if (typeof (provider as Record<string, unknown> | null)?.[method] !== "function") {
    throw invalidOption(`openTelemetry: ${name}`, `an OpenTelemetry ${name} (with ${method})`, provider);
  }
  return provider;
}
