import { Resolver } from "node:dns/promises";
import { GroupCacheError } from "../core/errors.ts";
import { type DnsQueryOptions, type DnsResolver, parseServerAddress, type SrvRecord } from "./resolver.ts";

/** Options of {@link createNodeResolver}. */
export interface NodeResolverOptions {
  /**
   * The DNS server to ask: `ip`, `ip:port` or `[ipv6]:port` (port 53 when
   * omitted). Default: the system's servers (`/etc/resolv.conf`; in a pod,
   * the cluster DNS).
   */
  server?: string;
  /** Milliseconds to wait for one answer before trying again. Default: 1000. */
  timeoutMs?: number;
  /** Attempts per server before the query fails with a timeout. Default: 2. */
  tries?: number;
}

/** Codes of `node:dns` that mean "no such name" or "no records of this type", not a failure. */
const noSuchName = new Set(["ENOTFOUND", "ENODATA"]);

/**
 * A {@link DnsResolver} on `node:dns/promises` (c-ares), for Node and Bun.
 * NXDOMAIN and NODATA resolve to `[]`; ETIMEOUT rejects with
 * `deadline-exceeded`; SERVFAIL, REFUSED, an unreachable server and other
 * failures reject with `unavailable`. Each query gets its own `Resolver`, so
 * aborting one (`cancel()`) leaves the others running.
 */
export function createNodeResolver(options: NodeResolverOptions = {}): DnsResolver {
  const servers = options.server === undefined ? undefined : [formatServer(options.server)];
  const timeout = options.timeoutMs ?? 1000;
  if (!Number.isInteger(timeout) || timeout < 1) {
    throw new GroupCacheError("invalid-argument", `timeoutMs must be a positive integer, got ${String(timeout)}`);
  }
  const tries = options.tries ?? 2;
  if (!Number.isInteger(tries) || tries < 1) {
    throw new GroupCacheError("invalid-argument", `tries must be a positive integer, got ${String(tries)}`);
  }

  const run = async <T>(what: string, signal: AbortSignal, query: (resolver: Resolver) => Promise<T[]>) => {
    if (signal.aborted) throw GroupCacheError.from(signal.reason, "canceled", what);
    const resolver = new Resolver({ timeout, tries });
    if (servers !== undefined) resolver.setServers(servers);
    const onAbort = () => resolver.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await query(resolver);
    } catch (error) {
      if (signal.aborted) throw GroupCacheError.from(signal.reason, "canceled", what);
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && noSuchName.has(code)) return [];
      throw new GroupCacheError(
        code === "ETIMEOUT" ? "deadline-exceeded" : "unavailable",
        `${what} failed: ${typeof code === "string" ? code : String(error)}`,
        { cause: error },
      );
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  };

  return {
    resolveSrv(name: string, { signal }: DnsQueryOptions): Promise<SrvRecord[]> {
      return run(`dns query SRV ${name}`, signal, async (resolver) =>
        (await resolver.resolveSrv(name)).map((r) => ({
          target: r.name,
          port: r.port,
          priority: r.priority,
          weight: r.weight,
        })),
      );
    },
    resolveIp(name: string, family: 4 | 6, { signal }: DnsQueryOptions): Promise<string[]> {
      return run(`dns query ${family === 4 ? "A" : "AAAA"} ${name}`, signal, (resolver) =>
        family === 4 ? resolver.resolve4(name) : resolver.resolve6(name),
      );
    },
  };
}

/** `node:dns` wants `ip`, `ip:port` or `[ipv6]:port`. */
function formatServer(address: string): string {
  const { ip, port } = parseServerAddress(address);
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}
