import { GroupCacheError } from "./errors.ts";
import { invalidOption, stringList } from "./options.ts";

/**
 * The peer id of `host` and `port`: `ip:port`, or `[ip]:port` for an IPv6
 * address (as URLs write it, so the port stays unambiguous). Hosts are
 * lowercased, so the id built from the downward API's `POD_IP` equals the one
 * built from a DNS answer on every node: the ring needs byte-equal ids.
 * `host` may be `undefined` (an environment variable that is not set, as
 * `process.env.POD_IP` outside Kubernetes): it is refused with a message
 * saying so.
 */
export function formatPeerId(host: string | undefined, port: number): string {
  if (host === undefined) {
    throw new GroupCacheError(
      "invalid-argument",
      "peer host is not set (undefined): pass this process's address, e.g. the pod IP from the downward API (status.podIP) as POD_IP",
    );
  }
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
 * Splits a peer id (the inverse of {@link formatPeerId}), `host:port` or
 * `[ipv6]:port` (`10.0.0.7:8080`, `[::1]:8080`,
 * `cache-0.cache.default.svc.cluster.local:8080`), into host and port. The
 * host is parsed as a URL's host is, so the one returned is what a
 * connection to it uses (lowercased, IPv6 without brackets). Throws
 * `invalid-argument` naming the id, what is wrong with it (a scheme, a path,
 * no port...) and what to pass instead; `label` is how the message names
 * the id. Default: "peer id".
 */
export function parsePeerId(id: string, label = "peer id"): PeerAddress {
  if (typeof id !== "string") throw invalidOption(label, 'a "host:port" string such as "10.0.0.1:8080"', id);
  const bad = (why: string, instead: string) =>
    new GroupCacheError("invalid-argument", `${label} ${JSON.stringify(id)} ${why}: pass ${instead}`);
  if (id === "") throw bad("is empty", 'host:port, such as "10.0.0.1:8080"');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(id)?.[0];
  if (scheme !== undefined) {
    const rest = id.slice(scheme.length).split(/[/?#]/)[0] as string;
    throw bad(`has a scheme (${scheme}): peer ids have no scheme`, JSON.stringify(rest));
  }
  const pathAt = id.search(/[/?#]/);
  if (pathAt !== -1) throw bad("has a path", JSON.stringify(id.slice(0, pathAt)));
  const at = id.lastIndexOf("@");
  if (at !== -1) throw bad("has user info", JSON.stringify(id.slice(at + 1)));
  const colon = id.lastIndexOf(":");
  if (colon === -1 || colon === id.length - 1 || id.lastIndexOf("]") > colon) {
    throw bad("has no port", `host:port, such as ${JSON.stringify(`${id.replace(/:$/, "")}:8080`)}`);
  }
  const host = id.slice(0, colon);
  const portText = id.slice(colon + 1);
  if (host === "") throw bad("has no host", `host:port, such as ${JSON.stringify(`10.0.0.1${id}`)}`);
  if (host.startsWith("[") !== host.endsWith("]")) {
    const why = host.startsWith("[") ? 'has an unclosed "["' : 'has a "]" without "["';
    throw bad(why, `an IPv6 host in brackets, such as ${JSON.stringify(`[::1]:${portText}`)}`);
  }
  if (!host.startsWith("[") && host.includes(":")) {
    throw bad("has an IPv6 host without brackets", JSON.stringify(`[${host}]:${portText}`));
  }
  if (!/^[0-9]+$/.test(portText)) throw bad(`has a port that is not a number (${JSON.stringify(portText)})`, portRange);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad(`has port ${portText}, out of range`, portRange);
  let url: URL;
  try {
    url = new URL(`http://${id}`);
  } catch {
    throw bad(`has an invalid host ${JSON.stringify(host)}`, "a host name or an IP address");
  }
  const hostname = url.hostname;
  return { host: hostname.startsWith("[") ? hostname.slice(1, -1) : hostname, port };
}

const portRange = "a port from 1 to 65535";

/**
 * A list of peer ids, each checked by {@link parsePeerId}: refuses a string
 * (`"a:1,b:2"` is not a list of two ids) and anything that is not
 * `host:port`, naming `name` and the bad id.
 */
export function peerIdList(name: string, ids: unknown): string[] {
  const list = stringList(name, ids);
  for (const id of list) parsePeerId(id, `${name}: peer id`);
  return list;
}
