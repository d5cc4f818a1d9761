import { GroupCacheError } from "../core/errors.ts";

/** One SRV record: where an instance of a service listens. */
export interface SrvRecord {
  /** Host name of the instance (trailing dot stripped by the resolver). */
  target: string;
  /** Port of the instance. */
  port: number;
  /** Lower is preferred. Discovery treats every peer alike and ignores it. */
  priority: number;
  /** Relative weight within a priority. Ignored, as `priority`. */
  weight: number;
}

/** Options of every {@link DnsResolver} query. */
export interface DnsQueryOptions {
  /** Abandons the query: it rejects with `canceled` (or `deadline-exceeded` for a timeout reason). */
  signal: AbortSignal;
}

/**
 * The DNS queries SRV discovery needs, behind a seam so each runtime plugs in
 * its own resolver (`createNodeResolver` on Node and Bun, `createDenoResolver`
 * on Deno) and tests can point one at a local server.
 *
 * Two outcomes must stay apart, because they mean opposite things:
 * - **no such name** (NXDOMAIN) or **no records of that type** (NODATA):
 *   resolve to `[]`. For a headless Service it means "no ready pod".
 * - **DNS failed** (timeout, SERVFAIL, REFUSED, unreachable server): reject
 *   with a `GroupCacheError`, `deadline-exceeded` for a timeout and
 *   `unavailable` otherwise. Discovery then keeps the last good peers.
 *
 * Names are queried as given, fully qualified: no search domains.
 */
export interface DnsResolver {
  /** The SRV records of `name`. */
  resolveSrv(name: string, options: DnsQueryOptions): Promise<SrvRecord[]>;
  /** The addresses of `name`: A records for `family` 4, AAAA for 6. */
  resolveIp(name: string, family: 4 | 6, options: DnsQueryOptions): Promise<string[]>;
}

/** `name` without its trailing dot(s): `"a.b."` → `"a.b"`. Some resolvers (Deno's) keep the root dot. */
export function stripTrailingDot(name: string): string {
  let end = name.length;
  while (end > 0 && name[end - 1] === ".") end--;
  return name.slice(0, end);
}

/** A DNS server address split into an IP and a port. */
export interface ServerAddress {
  /** IPv4 or IPv6 literal (without brackets). */
  ip: string;
  /** UDP port. */
  port: number;
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv6 = /^[0-9a-f:.]+$/i;

/** Whether `host` is an IPv4 or IPv6 literal (no brackets, no zone). */
export function isIpLiteral(host: string): boolean {
  return ipv4.test(host) || (host.includes(":") && ipv6.test(host));
}

/**
 * Parses a DNS server address: `"10.96.0.10"`, `"127.0.0.1:5353"`,
 * `"fd00::a"` or `"[fd00::a]:5353"`. The port defaults to 53. Resolvers
 * take IP addresses only: a host name would itself need resolving.
 */
export function parseServerAddress(address: string): ServerAddress {
  const bad = (why: string) =>
    new GroupCacheError(
      "invalid-argument",
      `dns server ${JSON.stringify(address)} ${why}; use ip, ip:port or [ipv6]:port`,
    );
  if (typeof address !== "string" || address === "") throw bad("is not a non-empty string");
  let ip = address;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracket !== null) {
    ip = bracket[1] as string;
    portText = bracket[2];
  } else if (!address.includes(":") || address.indexOf(":") !== address.lastIndexOf(":")) {
    ip = address; // IPv4 without port, or bare IPv6
  } else {
    const colon = address.lastIndexOf(":");
    ip = address.slice(0, colon);
    portText = address.slice(colon + 1);
  }
  if (!isIpLiteral(ip)) throw bad("is not an ip address");
  const port = portText === undefined ? 53 : Number(portText);
  if (!/^\d*$/.test(portText ?? "") || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw bad("has an invalid port");
  }
  return { ip, port };
}
