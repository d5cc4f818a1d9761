import { GroupCacheError } from "./errors.ts";

/**
 * The peer id of `host` and `port`: `ip:port`, or `[ip]:port` for an IPv6
 * address (as URLs write it, so the port stays unambiguous). Hosts are
 * lowercased, so the id built from the downward API's `POD_IP` equals the one
 * built from a DNS answer on every node: the ring needs byte-equal ids.
 */
export function formatPeerId(host: string, port: number): string {
  if (typeof host !== "string" || host === "") {
    throw new GroupCacheError("invalid-argument", `peer host must be a non-empty string, got ${JSON.stringify(host)}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new GroupCacheError("invalid-argument", `peer port must be an integer in 1..65535, got ${String(port)}`);
  }
  const h = host.toLowerCase();
  const bracketed = h.startsWith("[") && h.endsWith("]");
  return h.includes(":") && !bracketed ? `[${h}]:${port}` : `${h}:${port}`;
}

/**
 * Checks, deduplicates and sorts peer ids (code-unit order, as the ring).
 * Discoveries pass what they found through it, so two nodes that received
 * the same members in different orders, or with repeats, compare equal.
 */
export function normalizePeerIds(ids: Iterable<string>): string[] {
  const unique = new Set<string>();
  for (const id of ids) {
    if (typeof id !== "string" || id === "" || !id.isWellFormed()) {
      throw new GroupCacheError(
        "invalid-argument",
        `peer id must be a non-empty, well-formed string, got ${JSON.stringify(id)}`,
      );
    }
    unique.add(id);
  }
  return [...unique].sort();
}

/** Whether two normalized (sorted, distinct) id lists hold the same ids. */
export function samePeerIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** A peer id split into its parts. */
export interface PeerAddress {
  /** Host name or IP address, without brackets (`::1`, not `[::1]`). */
  host: string;
  port: number;
}

/**
 * Splits a peer id (the inverse of {@link formatPeerId}), `host:port` or `[ipv6]:port` (`10.0.0.7:8080`,
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
