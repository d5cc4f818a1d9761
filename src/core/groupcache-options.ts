import {
  defaultPeekTimeoutMs,
  defaultPeekWindowMs,
  defaultPeerShare,
  defaultProbeIntervalMs,
  defaultReplicas,
} from "./defaults.ts";
import type { EventListener } from "./events.ts";
import {
  booleanOption,
  fractionOption,
  functionOption,
  invalidOption,
  nonNegativeNumber,
  optionsObject,
  positiveInteger,
  positiveNumber,
} from "./options.ts";
import type { PeerStateChange } from "./peer-health.ts";
import { parsePeerId } from "./peer-id.ts";
import type { PeerClientFactory } from "./peers.ts";
import type { RingHash } from "./ring.ts";
import { noTelemetry, type Telemetry } from "./telemetry.ts";

/** Options of `GroupCache`. */
export interface GroupCacheOptions {
  /**
   * This process's peer id, exactly as it appears in every node's peer list
   * (for example `"10.1.2.3:8080"`): keys the ring gives to it are loaded
   * here. Default: `""` (a standalone cache, or a client that owns nothing).
   */
  self?: string;
  /** Ring points per peer; must match on every node. Default: 50 (`defaultReplicas`). */
  replicas?: number;
  /** Ring hash; must match on every node. Default: CRC-32 (IEEE), as Go. */
  hash?: RingHash;
  /**
   * Creates the client of another peer when it joins. Required before
   * `setPeers` names any peer other than `self`. Default: none.
   */
  peerClient?: PeerClientFactory;
  /**
   * How long after a ring change a key's previous owners are asked (peeked)
   * for it before this process loads it with the getter: a key that changed
   * owner is then copied from the memory of the peer that held it, not
   * loaded from the backend again. Peers that left linger (their clients
   * stay open) for this long, so a peer that is draining can still answer.
   * Cluster DNS answers are cached up to ~30 s and discovery polls every
   * 5 s, so peers converge within ~35 s. `0` turns peeking off. Default:
   * 60 000 (`defaultPeekWindowMs`).
   */
  peekWindowMs?: number;
  /**
   * How long one peek may take before it is given up (the key is then
   * loaded as usual). Short, because a peek only spares a backend load and
   * the get that caused it waits: it must never wait long. Default: 200
   * (`defaultPeekTimeoutMs`, which says why not less).
   */
  peekTimeoutMs?: number;
  /**
   * How often a peer marked down is probed, in ms. A peer's transport marks
   * it down when it is alive but silent (stopped, in a GC storm, its event
   * loop saturated): with `grpcPeerClient`, an HTTP/2 PING unanswered
   * within `pingTimeoutMs`. Its keys are then loaded by the asking process
   * (deduplicated, as for a dead peer) until a probe is answered. Default:
   * 250 (`defaultProbeIntervalMs`).
   */
  probeIntervalMs?: number;
  /**
   * Called whenever a peer's state changes (`up`, `suspect`, `down`; see
   * `peerStates()`), for logs and metrics. Must not throw. Default: none.
   */
  onPeerState?: (change: PeerStateChange) => void;
  /**
   * The share of a get's `timeoutMs` its owner may take: after that the
   * request to the owner is given up and the key is loaded locally with the
   * rest of the budget, so a slow or silent owner cannot spend the whole
   * deadline. From 0 (no cap: the owner may take it all) to below 1.
   * Gets without `timeoutMs` are not capped (a signal does not say when it
   * fires). Default: 0.5 (`defaultPeerShare`).
   */
  peerShare?: number;
  /**
   * Receives every event (`GroupCacheEvent`: peer errors, peers down and
   * up, a peer missing a group, ring changes and mismatches, values too
   * large, getter timeouts...), each with a `level` and a one-line
   * `message`: `onEvent: (e) => console[e.level](e.message)` logs them.
   * Default: none; the library never writes to the console itself.
   */
  onEvent?: EventListener;
  /**
   * Metrics and traces: `openTelemetry()` from `groupcache/opentelemetry`
   * (the OpenTelemetry API's global providers by default). Hits call no
   * telemetry at all (counters are read when metrics are collected), so
   * they cost the same with it or without. Default: none (`startPeer`
   * turns OpenTelemetry on when an SDK has registered a global provider).
   */
  telemetry?: Telemetry;
  /**
   * When peers join the ring, push them the main-cache entries they now
   * own (a handoff, see `GroupCache.handoff`, with its default bounds), in
   * the background: a peer that joins, or comes back after a restart, then
   * holds its keys before it is asked for them, rather than peeking each
   * one while a get waits. Only a process that is itself in the ring
   * pushes; peers that do not take handoffs are skipped. Default: `true`.
   */
  handoffOnJoin?: boolean;
}

/** {@link GroupCacheOptions} checked, with their defaults (`hash` and `peerClient` stay unset when not given). */
export interface ResolvedGroupCacheOptions {
  self: string;
  replicas: number;
  hash: RingHash | undefined;
  peerClient: PeerClientFactory | undefined;
  peekWindowMs: number;
  peekTimeoutMs: number;
  probeIntervalMs: number;
  onPeerState: ((change: PeerStateChange) => void) | undefined;
  peerShare: number;
  onEvent: EventListener | undefined;
  telemetry: Telemetry;
  handoffOnJoin: boolean;
}

/**
 * Checks a cache's options and fills in their defaults, so that a bad value
 * fails at construction with `invalid-argument` naming it.
 */
export function resolveGroupCacheOptions(options: GroupCacheOptions | undefined): ResolvedGroupCacheOptions {
  const given = optionsObject("GroupCache options", options);
  return {
    self: checkSelf(given.self ?? ""),
    replicas: positiveInteger("replicas", given.replicas, defaultReplicas),
    hash: functionOption<RingHash | undefined>("hash", given.hash, undefined),
    peerClient: functionOption<PeerClientFactory | undefined>("peerClient", given.peerClient, undefined),
    peekWindowMs: nonNegativeNumber("peekWindowMs", given.peekWindowMs, defaultPeekWindowMs),
    peekTimeoutMs: positiveNumber("peekTimeoutMs", given.peekTimeoutMs, defaultPeekTimeoutMs),
    probeIntervalMs: positiveNumber("probeIntervalMs", given.probeIntervalMs, defaultProbeIntervalMs),
    onPeerState: functionOption<((change: PeerStateChange) => void) | undefined>(
      "onPeerState",
      given.onPeerState,
      undefined,
    ),
    peerShare: fractionOption("peerShare", given.peerShare, defaultPeerShare),
    onEvent: functionOption<EventListener | undefined>("onEvent", given.onEvent, undefined),
    telemetry: telemetryOption(given.telemetry),
    handoffOnJoin: booleanOption("handoffOnJoin", given.handoffOnJoin, true),
  };
}

/** `self` if it is `""` or a `host:port` peer id. */
function checkSelf(self: unknown): string {
  const expected = '"" or a host:port peer id';
  if (typeof self !== "string") throw invalidOption("self", `${expected} such as "10.0.0.1:8080"`, self);
  if (self !== "") parsePeerId(self, `self must be ${expected}, but`);
  return self;
}

/** `telemetry` if it has the hooks of a `Telemetry`. */
function telemetryOption(telemetry: unknown): Telemetry {
  if (telemetry === undefined) return noTelemetry;
  const t = telemetry as Partial<Telemetry> | null;
  if (typeof t?.observe !== "function" || typeof t.group !== "function" || typeof t.event !== "function") {
    throw invalidOption("telemetry", "a Telemetry such as openTelemetry() from groupcache/opentelemetry", telemetry);
  }
  return telemetry as Telemetry;
}
