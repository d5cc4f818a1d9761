import { GroupCacheError } from "../core/errors.ts";
import { formatPeerId } from "../core/peer-id.ts";

/** A peer id split into its parts. */
export interface PeerAddress {
  /** Host name or IP address, without brackets (`::1`, not `[::1]`). */
  host: string;
  port: number;
}

/**
 * Splits a peer id (the inverse of the core's `formatPeerId`), `host:port` or `[ipv6]:port` (`10.0.0.7:8080`,
 * `[::1]:8080`, `cache-0.cache.default.svc.cluster.local:8080`), into host
 * and port. Throws `invalid-argument` naming the id when it is not one.
 */
export function parsePeerId(id: string): PeerAddress {
  const bad = (why: string) =>
    new GroupCacheError("invalid-argument", `peer id ${JSON.stringify(id)} ${why}; expected host:port or [ipv6]:port`);
  if (typeof id !== "string") throw bad("is not a string");
  const colon = id.lastIndexOf(":");
  if (colon <= 0) throw bad("has no port");
  let host = id.slice(0, colon);
  const portText = id.slice(colon + 1);
  if (host.startsWith("[")) {
    if (!host.endsWith("]") || host.length < 3) throw bad("has an unclosed [");
    host = host.slice(1, -1);
  } else if (host.includes(":")) {
    throw bad("has an IPv6 host without brackets");
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad("has no numeric port");
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad("has a port out of range");
  if (/[\s/?#@[\]]/.test(host)) throw bad("has a host with invalid characters");
  return { host, port };
}

/** The base URL of a peer's gRPC server: `http://id` (cleartext HTTP/2) or `https://id` (TLS). */
export function peerBaseUrl(id: string, secure: boolean): string {
  const { host, port } = parsePeerId(id);
  return `${secure ? "https" : "http"}://${formatPeerId(host, port)}`;
}
