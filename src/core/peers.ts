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

/** What an owner answers for one key. */
export interface PeerGetResult {
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
  peek?(group: string, key: string, options: { signal: AbortSignal }): Promise<Uint8Array | undefined>;
}

/**
 * What an owner answers a peer's request with (`GroupCache.serve`): the
 * stored bytes, which the transport must not write to, and the key's request
 * rate on the owner, per minute, sent as the response's `minute_qps`.
 */
export interface ServeResult {
  value: Uint8Array;
  minuteQps: number;
}

/** A connection to one peer, created when it joins the ring and closed when it leaves. */
export interface PeerClient extends PeerGetter {
  /** Releases the connection. Calls in flight may fail with `unavailable`. */
  close(): Promise<void>;
}

/**
 * What a client may tell the peers it calls about the process calling:
 * its id and its ring's fingerprint, so an owner can notice a caller that
 * disagrees on membership.
 */
export interface PeerClientContext {
  readonly self: string;
  /** The caller's current ring fingerprint (it changes with `setPeers`). */
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
  peek?(group: string, key: string): Uint8Array | undefined;
}
