import { defaultPeekTimeoutMs, defaultPeekWindowMs, defaultReplicas } from "./defaults.ts";
import {
  booleanOption,
  functionOption,
  invalidOption,
  nonNegativeNumber,
  optionsObject,
  positiveInteger,
  positiveNumber,
} from "./options.ts";
import { parsePeerId } from "./peer-id.ts";
import type { PeerClientFactory } from "./peers.ts";
import type { RingHash } from "./ring.ts";

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
