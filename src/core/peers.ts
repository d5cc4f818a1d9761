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
  get(group: string, key: string, options: { signal: AbortSignal }): Promise<PeerGetResult>;
  /**
   * Optional: the key's value if the peer holds it in memory (its main or
   * hot cache), `undefined` if it does not, or if it cannot say (it does
   * not serve Peek, it is unreachable, `signal` fired): a peek never
   * rejects, since its caller falls back to a normal load whatever went
   * wrong. The peer never loads the key for a peek. Used while membership
   * changes, to ask a key's previous owner before loading a key again.
   */
  peek?(group: string, key: string, options: { signal: AbortSignal }): Promise<Uint8Array | undefined>;
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
export interface ServeResult {
  value: Uint8Array;
  minuteQps: number;
}

/** A connection to one peer, created when it joins the ring and closed when it leaves. */
export interface PeerClient extends PeerGetter {
  /** Releases the connection. Calls in flight may fail with `unavailable`. */
  close(): Promise<void>;
}

/** Creates the client of the peer with id `id` (for example `"10.0.0.7:8080"`). */
export type PeerClientFactory = (id: string) => PeerClient;

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
  serve(group: string, key: string, options: { signal: AbortSignal }): Promise<ServeResult>;
  /** Optional: a cached key's answer at once, or `undefined` to call `serve` (as `GroupCache.serveCached`). */
  serveCached?(group: string, key: string): ServeResult | undefined;
  /**
   * Optional: a key's stored bytes if held in memory, else `undefined`,
   * never loading it (as `GroupCache.peek`); throws `unknown-group` for a
   * group it does not have. Without it the server answers Peek with
   * UNIMPLEMENTED.
   */
  peek?(group: string, key: string): Uint8Array | undefined;
  /**
   * Optional: stores entries a leaving peer handed off, in memory as if
   * loaded, never forwarding them (as `GroupCache.acceptHandoff`). Without
   * it the server answers Handoff with UNIMPLEMENTED.
   */
  acceptHandoff?(entries: readonly HandoffEntry[]): HandoffResult;
  /**
   * Optional: whether `ip` is the host of a peer in the current ring or
   * one of the recent previous rings (as `GroupCache.isRingPeerHost`): the
   * callers a server trusts with writes into its caches. Without it only
   * mTLS-verified callers are trusted.
   */
  isRingPeerHost?(ip: string): boolean;
}
