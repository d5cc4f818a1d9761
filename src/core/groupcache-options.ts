import { defaultReplicas } from "./defaults.ts";
import { functionOption, invalidOption, optionsObject, positiveInteger } from "./options.ts";
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
}

/** {@link GroupCacheOptions} checked, with their defaults (`hash` and `peerClient` stay unset when not given). */
export interface ResolvedGroupCacheOptions {
  self: string;
  replicas: number;
  hash: RingHash | undefined;
  peerClient: PeerClientFactory | undefined;
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
  };
}

/** `self` if it is `""` or a `host:port` peer id. */
function checkSelf(self: unknown): string {
  const expected = '"" or a host:port peer id';
  if (typeof self !== "string") throw invalidOption("self", `${expected} such as "10.0.0.1:8080"`, self);
  if (self !== "") parsePeerId(self, `self must be ${expected}, but`);
  return self;
}
