import type { ClusterWriteRequest, WriteResult } from "./cluster-write.ts";
import type { PeerLiveness } from "./peer-health.ts";
import type { TraceCarrier } from "./telemetry.ts";

/** Options of {@link PeerGetter.get}. */
export interface PeerGetOptions {
  signal: AbortSignal;
  /** The caller's trace context, for the owner's spans. Default: none. */
  trace?: TraceCarrier;
}

/** Options of {@link PeerServable.serve}: what a transport learnt of the request. */
export interface ServeOptions {
  signal: AbortSignal;
  /** The trace context the asking peer sent (gRPC metadata, a GetStream key's carrier). */
  trace?: TraceCarrier | undefined;
  /** The asking peer's id, when it said (the `groupcache-peer` header). */
  from?: string | undefined;
}

/**
 * How much longer a value may be served, as durations from the moment it
 * was answered (never absolute times: peers' clocks need not agree). Both
 * unset (or 0): no TTL known, as from a Go peer or a group without TTL.
 */
export interface RemainingTtl {
  /** Milliseconds the value stays fresh; unset or 0 when it has no TTL, or has expired (see `staleMs`). */
  ttlMs?: number;
  /**
   * Milliseconds the value may still be served stale once `ttlMs` ran out
   * (the owner's grace, `staleMs`); with `ttlMs` unset, the value has
   * expired already and this is the grace left.
   */
  staleMs?: number;
}

/** What a peer answers a peek with when it holds the key: the value and its remaining TTL there. */
export interface PeekResult extends RemainingTtl {
  /** The value's bytes. As for `PeerGetResult.value`, the receiver keeps them. */
  value: Uint8Array;
}

/** What an owner answers for one key. */
export interface PeerGetResult extends RemainingTtl {
  /** The value's bytes. The receiver keeps them, so they must not be a view into a buffer that is reused. */
  value: Uint8Array;
  /**
   * The owner's observed request rate for the key, per minute, when the
   * owner reports it; a hot policy may use it to decide what to mirror.
   */
  minuteQps?: number;
}

/**
 * A peer that can be asked for a key of a group: the seam between the core
 * and the network, as Go groupcache's `ProtoGetter`.
 *
 * Rejections must be `GroupCacheError`s: `not-found` when the owner's getter
 * said the key does not exist (the caller returns it without loading the key
 * itself); `canceled`/`deadline-exceeded` when `signal` fired; anything else
 * means the peer failed, and the caller loads the key locally.
 */
export interface PeerGetter {
  /** The peer's id, for metrics and events; "unknown" when absent. */
  readonly id?: string;
  /**
   * `options.trace`, when set, is the caller's trace context: send it along
   * (gRPC metadata, a per-key carrier) so the owner's spans join the trace.
   */
  get(group: string, key: string, options: PeerGetOptions): Promise<PeerGetResult>;
  /**
   * Optional: the key's value if the peer holds it in memory (its main or
   * hot cache), `undefined` if it does not, or if it cannot say (it does
   * not serve Peek, it is unreachable, `signal` fired): a peek never
   * rejects, since its caller falls back to a normal load whatever went
   * wrong. The peer never loads the key for a peek. Used while membership
   * changes, to ask a key's previous owner before loading a key again.
   */
  peek?(group: string, key: string, options: { signal: AbortSignal }): Promise<PeekResult | undefined>;
  /**
   * Optional: drops `keys` from the peer's caches and keeps its loads of
   * them in flight from caching what they bring; resolves with how many it
   * held. The peer applies it itself, never forwards it. Rejects with a
   * `GroupCacheError`: `unimplemented` when the peer does not serve it,
   * `permission-denied` when it refused the write. Without it, the peer is
   * reported as not reached by `Group.remove` and `Group.set`.
   */
  remove?(group: string, keys: readonly string[], options: { signal: AbortSignal }): Promise<number>;
  /**
   * Optional: stores `value` as `key`'s in the peer's main cache (it is the
   * key's owner), in place of any copy and of loads in flight; resolves
   * with whether it is cached there. `ttlMs`: how long it lives, relative
   * to its arrival; unset for the group's own setting. Rejects as
   * {@link remove}.
   */
  set?(
    group: string,
    key: string,
    value: Uint8Array,
    options: { signal: AbortSignal; ttlMs?: number | undefined },
  ): Promise<boolean>;
  /**
   * Optional: pushes cached entries to the peer, which stores them in
   * memory as if loaded (a leaving peer hands its keys to their new owner).
   * Resolves with what the peer did, or `undefined` when it does not take
   * handoffs (it does not serve Handoff, or refuses this caller): the
   * sender then stops handing off to it. Rejects when the call failed.
   */
  handoff?(entries: readonly HandoffEntry[], options: { signal: AbortSignal }): Promise<HandoffResult | undefined>;
}

/** One entry of a handoff: a cached value and where it belongs. */
export interface HandoffEntry {
  group: string;
  key: string;
  /** The stored bytes, as a cache holds them. */
  value: Uint8Array;
  /** The value's remaining TTL when it was read, in ms; unset or 0: none (it does not expire). */
  ttlMs?: number;
}

/** What a peer did with the entries of one handoff. */
export interface HandoffResult {
  /** Entries stored in the peer's main cache. */
  stored: number;
  /** Entries not stored: already held, group unknown, not cacheable there. */
  skipped: number;
}

/**
 * What an owner answers a peer's request with (`GroupCache.serve`): the
 * stored bytes, which the transport must not write to, and the key's request
 * rate on the owner, per minute, sent as the response's `minute_qps`.
 */
export interface ServeResult extends RemainingTtl {
  value: Uint8Array;
  minuteQps: number;
}

/** A connection to one peer, created when it joins the ring and closed when it leaves. */
export interface PeerClient extends PeerGetter {
  /** Releases the connection. Calls in flight may fail with `unavailable`. */
  close(): Promise<void>;
  /**
   * Optional: asks the peer whether it is alive, for a peer reported down
   * (see {@link PeerClientContext}): `true` once it answered anything
   * within the client's own short deadline, `false` otherwise; never
   * rejects. Without it, a peer reported down comes back at the next probe.
   */
  probe?(signal: AbortSignal): Promise<boolean>;
}

/** What `GroupCache` gives a peer's client when it creates it. */
export interface PeerClientContext {
  /**
   * Where the client reports the peer's liveness: `down` when the peer is
   * alive but silent (an unanswered HTTP/2 PING) takes it out of routing
   * until a {@link PeerClient.probe} succeeds. A client that never reports
   * leaves its peer in routing, as before health checks.
   */
  liveness: PeerLiveness;
  /** The calling process's id, told to the peers it calls (the `groupcache-peer` header). */
  readonly self: string;
  /**
   * The caller's current ring fingerprint (it changes with `setPeers`),
   * told to the peers it calls so an owner can notice a caller that
   * disagrees on membership.
   */
  ringFingerprint(): string;
}

/**
 * Creates the client of the peer with id `id` (for example
 * `"10.0.0.7:8080"`); `context` describes the calling process.
 */
export type PeerClientFactory = (id: string, context?: PeerClientContext) => PeerClient;

/**
 * Finds the owner of a key, as Go groupcache's `PeerPicker`: the peer to ask,
 * or `undefined` when this process owns the key (or knows no peers) and must
 * load it itself.
 */
export interface PeerPicker {
  pickPeer(key: string): PeerGetter | undefined;
  /**
   * Optional: the peers that owned `key` under recent rings (newest first,
   * neither this process nor the current owner), to peek before loading
   * the key with the getter; empty when none. So a key that changed owner
   * is copied from the memory of the peer that held it rather than loaded
   * from the backend again.
   */
  pickPrevious?(key: string): readonly PeerGetter[];
  /** With `pickPrevious`: how long one peek may take, in ms, before the key is loaded as usual. */
  readonly peekTimeoutMs?: number;
  /**
   * Optional: the share of a get's `timeoutMs` its owner may take before
   * the key is loaded locally instead (`0`: no cap). See `GroupCache`'s
   * `peerShare`.
   */
  readonly peerShare?: number;
  /**
   * Optional: runs a group's write across the cluster (`GroupCache` does:
   * the keys' owners first, then every other peer; see `clusterWrite`).
   * Without it, a group's writes apply to this process only.
   */
  write?(request: ClusterWriteRequest): Promise<WriteResult>;
}

/** A picker with no peers: every key is loaded locally. */
export const noPeers: PeerPicker = { pickPeer: () => undefined };

/**
 * What the server half needs of a cache: `GroupCache.serve`, which answers
 * from cache or by a local load and never forwards to another peer.
 */
export interface PeerServable {
  serve(group: string, key: string, options: ServeOptions): Promise<ServeResult>;
  /**
   * Optional: a request carried the asking peer's ring fingerprint
   * (`groupcache-ring` header) and maybe its id: compare it with this
   * process's (as `GroupCache.checkRing`).
   */
  checkRing?(fingerprint: string, from: string | undefined): void;
  /** Optional: a cached key's answer at once, or `undefined` to call `serve` (as `GroupCache.serveCached`). */
  serveCached?(group: string, key: string): ServeResult | undefined;
  /**
   * Optional: a key's stored bytes if held in memory, else `undefined`,
   * never loading it (as `GroupCache.peek`); throws `unknown-group` for a
   * group it does not have. Without it the server answers Peek with
   * UNIMPLEMENTED.
   */
  peek?(group: string, key: string): PeekResult | undefined;
  /**
   * Optional: a peer's Remove, applied here only (as `GroupCache.removeLocally`);
   * returns how many of `keys` were held. Without it the server answers
   * Remove with UNIMPLEMENTED.
   */
  removeLocally?(group: string, keys: readonly string[]): number;
  /**
   * Optional: a peer's Set, applied here only (as `GroupCache.setLocally`);
   * returns whether the value is cached. Without it the server answers Set
   * with UNIMPLEMENTED.
   */
  setLocally?(group: string, key: string, value: Uint8Array, options?: { ttlMs?: number | undefined }): boolean;
  /**
   * Optional: stores entries a leaving peer handed off, in memory as if
   * loaded, never forwarding them (as `GroupCache.acceptHandoff`). Without
   * it the server answers Handoff with UNIMPLEMENTED.
   */
  acceptHandoff?(entries: readonly HandoffEntry[]): HandoffResult;
  /**
   * Optional: whether `ip` is the host of a peer in the current or a
   * recent ring (as `GroupCache.isRingPeerHost`), to trust a write from
   * it. Without it, only callers authorized by mTLS are.
   */
  isRingPeerHost?(ip: string): boolean;
}
