import { timingSafeEqual } from "node:crypto";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { type ContextValues, createContextKey, createContextValues } from "@connectrpc/connect";
import { booleanOption, invalidOption, optionsObject } from "../core/options.ts";

/**
 * Which write RPCs a peer server accepts, and from whom. Part of
 * `PeerServerOptions` as `writes` and of `startPeer`'s options as `writes`.
 *
 * A write puts bytes into this peer's caches that its getter never
 * produced, so it is accepted only from a caller the server trusts: one
 * whose connection is mutually authenticated (mTLS), or otherwise one whose
 * address is the host of a peer in its current or previous ring; and, when
 * `token` is set, only with that token as well.
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

/** Which kind of write a request is. */
export type WriteKind = "handoff" | "invalidation";

/** The header a write's token travels in. */
export const writeTokenHeader = "groupcache-token";

/** {@link PeerWriteOptions} checked, with their defaults. */
export interface ResolvedWriteOptions {
  handoff: boolean;
  invalidation: boolean;
  token: string | undefined;
}

/** Checks `options` (named `caller` in errors) and fills in the defaults. */
export function resolveWriteOptions(caller: string, options: PeerWriteOptions | undefined): ResolvedWriteOptions {
  const o = optionsObject(`${caller}: writes`, options);
  return {
    handoff: booleanOption(`${caller}: writes.handoff`, o.handoff, true),
    invalidation: booleanOption(`${caller}: writes.invalidation`, o.invalidation, false),
    token: tokenOption(`${caller}: writes.token`, o.token),
  };
}

/** A write token option: a non-empty string, or `undefined` (also for `""`: no token). */
export function tokenOption(name: string, token: unknown): string | undefined {
  if (token !== undefined && typeof token !== "string")
    throw invalidOption(name, "a string (the shared secret)", token);
  return token === "" ? undefined : token;
}

/**
 * `undefined` when the write is trusted, else the reason (put in the
 * PERMISSION_DENIED message). In order: a kind that is off is refused; with
 * a `token` configured, a missing or wrong one is refused; an mTLS-verified
 * caller is trusted; any other caller only if `isRingPeerHost` says its
 * address is the host of a peer in the current or previous ring.
 */
export function writeRefusal(
  kind: WriteKind,
  caller: WriteCaller,
  options: PeerWriteOptions,
  isRingPeerHost: (ip: string) => boolean,
): string | undefined {
  const enabled = kind === "handoff" ? options.handoff !== false : options.invalidation === true;
  if (!enabled) return `this peer does not accept ${kind} writes (writes.${kind} is off)`;
  const token = options.token;
  if (token !== undefined && token !== "") {
    if (caller.token === null) return `a ${kind} write needs the ${writeTokenHeader} header on this peer`;
    if (!sameSecret(caller.token, token)) return `wrong ${writeTokenHeader} for a ${kind} write`;
  }
  if (caller.tlsAuthorized) return undefined;
  const ip = caller.remoteAddress;
  if (ip !== undefined && isRingPeerHost(ip)) return undefined;
  return `${kind} refused: caller ${ip ?? "(unknown address)"} is not a peer of this ring and presented no verified client certificate`;
}

/** Constant-time comparison of two strings (their UTF-8 bytes); different lengths differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `::ffff:10.0.0.1` as `10.0.0.1`; other addresses as they are, lowercased. */
export function normalizeIp(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const lower = address.toLowerCase();
  return lower.startsWith("::ffff:") && lower.includes(".") ? lower.slice(7) : lower;
}

/**
 * The caller of a Connect request, read lazily (only writes need it), put
 * into its context by {@link peerContextValues}.
 */
export const writeCallerKey = createContextKey<(() => WriteCaller) | undefined>(undefined, {
  description: "groupcache write caller",
});

/**
 * `connectNodeAdapter`'s `contextValues` for the groupcache routes: who
 * the caller is, for the write RPCs (Handoff). Pass it when you mount
 * `groupCacheRoutes` on your own adapter: without it the caller is
 * unknown, and every write is refused with PERMISSION_DENIED.
 *
 * ```ts
 * connectNodeAdapter({ routes: groupCacheRoutes(cache), contextValues: peerContextValues });
 * ```
 */
export function peerContextValues(request: http.IncomingMessage | http2.Http2ServerRequest): ContextValues {
  return createContextValues().set(writeCallerKey, () => writeCallerOf(request));
}

/** A caller nobody knows: no address, no certificate, no token (routes mounted without {@link peerContextValues}). */
export const unknownCaller: WriteCaller = { remoteAddress: undefined, tlsAuthorized: false, token: null };

/** A request's {@link WriteCaller}, read from its socket and headers. */
export function writeCallerOf(request: http.IncomingMessage | http2.Http2ServerRequest): WriteCaller {
  const socket = request.socket as Partial<TLSSocket> | undefined;
  const token = request.headers[writeTokenHeader];
  return {
    remoteAddress: normalizeIp(socket?.remoteAddress),
    tlsAuthorized: socket?.encrypted === true && socket.authorized === true,
    token: typeof token === "string" ? token : null,
  };
}
