import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Which write RPCs a peer server accepts, and from whom. Part of
 * `PeerServerOptions` as `writes` and of `startPeer`'s options as `writes`.
 *
 * Writes are a new attack surface: whoever can reach the peer port and is
 * allowed to write can poison the cache (Set) or flush it (Remove).
 */
export interface PeerWriteOptions {
  /** Accept Handoff (a leaving peer pushing its entries to their new owners). Default: true. */
  handoff?: boolean;
  /** Accept Set and Remove (cluster-wide set/invalidation). Default: false (refused with PERMISSION_DENIED). */
  invalidation?: boolean;
  /**
   * Shared secret. When set, every write must carry header
   * `groupcache-token: <token>` (compared in constant time); our client
   * sends it from `GrpcPeerClientOptions.token`. Default: none.
   */
  token?: string | undefined;
}

/** The caller of a write, as the server sees it. */
export interface WriteCaller {
  /** Remote IP of the connection (no port), e.g. "127.0.0.1" or "::1"; IPv4-mapped IPv6 normalised to IPv4. */
  remoteAddress: string | undefined;
  /** True when the connection is TLS and the client presented a certificate the server verified (mTLS). */
  tlsAuthorized: boolean;
  /** The `groupcache-token` header, or null. */
  token: string | null;
}

/** Which kind of write is asked for. */
export type WriteKind = "handoff" | "invalidation";

/**
 * `undefined` when the write is trusted, else the reason (put in the
 * PERMISSION_DENIED message).
 * Order: kind disabled -> refuse; token configured and wrong/missing -> refuse;
 * mTLS-authorized -> trust; otherwise trust only if isRingPeerHost(remoteAddress)
 * (the host part of a peer id in the current or previous ring).
 */
export function writeRefusal(
  kind: WriteKind,
  caller: WriteCaller,
  options: PeerWriteOptions,
  isRingPeerHost: (ip: string) => boolean,
): string | undefined {
  const enabled = kind === "handoff" ? (options.handoff ?? true) : (options.invalidation ?? false);
  if (!enabled) {
    return kind === "handoff"
      ? "this peer does not accept Handoff (writes.handoff is false)"
      : "this peer does not accept Set or Remove (writes.invalidation is off; enable it on every peer)";
  }
  if (options.token !== undefined) {
    if (caller.token === null) return "the write carries no groupcache-token header, and this peer requires one";
    if (!sameSecret(caller.token, options.token)) return "the write's groupcache-token is wrong";
  }
  if (caller.tlsAuthorized) return undefined;
  const ip = caller.remoteAddress;
  if (ip === undefined) return "the caller's address is unknown, and it presented no client certificate";
  if (!isRingPeerHost(ip)) {
    return `the caller ${ip} is not the host of a peer in this peer's ring, and presented no client certificate`;
  }
  return undefined;
}

/** Compares two secrets in time independent of where they differ (digests, so lengths may differ). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}
