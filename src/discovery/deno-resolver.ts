import { GroupCacheError } from "../core/errors.ts";
import {
  type DnsQueryOptions,
  type DnsResolver,
  parseServerAddress,
  type SrvRecord,
  stripTrailingDot,
} from "./resolver.ts";

interface DenoResolveOptions {
  nameServer?: { ipAddr: string; port?: number };
  signal?: AbortSignal;
}

// The part of Deno's API used here, declared locally so that the whole
// repository typechecks under Node's tsc; under Deno it is the real global.
declare const Deno: {
  resolveDns(
    query: string,
    recordType: "SRV",
    options?: DenoResolveOptions,
  ): Promise<{ priority: number; weight: number; port: number; target: string }[]>;
  resolveDns(query: string, recordType: "A" | "AAAA", options?: DenoResolveOptions): Promise<string[]>;
  errors: { NotFound: abstract new (...args: never[]) => Error; TimedOut: abstract new (...args: never[]) => Error };
};

/** Options of {@link createDenoResolver}. */
export interface DenoResolverOptions {
  /**
   * The DNS server to ask: `ip`, `ip:port` or `[ipv6]:port` (port 53 when
   * omitted). Default: the system's servers (`/etc/resolv.conf`).
   */
  server?: string;
  /**
   * A name that always has an A record, asked after a "not found" to tell a
   * real NXDOMAIN from a broken server. Deno reports SERVFAIL and REFUSED
   * with the same `NotFound` error as NXDOMAIN (measured with Deno 2.9), so
   * without a probe a failing DNS server looks like "no ready pods" and the
   * ring shrinks to self until DNS recovers. If the probe fails too, the
   * query fails with `unavailable` and discovery keeps the last good set. In
   * Kubernetes, `"kubernetes.default.svc.cluster.local"` always exists.
   * Default: none (an extra query per empty answer, only when set).
   */
  probeName?: string;
}

/**
 * A {@link DnsResolver} on `Deno.resolveDns`. Trailing dots of SRV targets
 * are stripped; `Deno.errors.NotFound` resolves to `[]` (see `probeName`),
 * `Deno.errors.TimedOut` rejects with `deadline-exceeded`, other failures
 * with `unavailable`, and an aborted query with `canceled`.
 */
export function createDenoResolver(options: DenoResolverOptions = {}): DnsResolver {
  let nameServer: { ipAddr: string; port: number } | undefined;
  if (options.server !== undefined) {
    const { ip, port } = parseServerAddress(options.server);
    nameServer = { ipAddr: ip, port };
  }
  const probeName = options.probeName;
  if (probeName !== undefined && (typeof probeName !== "string" || stripTrailingDot(probeName) === "")) {
    throw new GroupCacheError("invalid-argument", `probeName must be a dns name, got ${JSON.stringify(probeName)}`);
  }
  const queryOptions = (signal: AbortSignal): DenoResolveOptions =>
    nameServer === undefined ? { signal } : { signal, nameServer };

  const run = async <T>(what: string, signal: AbortSignal, query: () => Promise<T[]>): Promise<T[]> => {
    if (signal.aborted) throw GroupCacheError.from(signal.reason, "canceled", what);
    try {
      return await query();
    } catch (error) {
      if (signal.aborted) throw GroupCacheError.from(signal.reason, "canceled", what);
      if (error instanceof Deno.errors.NotFound) {
        if (probeName === undefined || (await probe(probeName, signal))) return [];
        throw new GroupCacheError(
          "unavailable",
          `${what} failed: no records, and the probe name ${probeName} did not resolve either`,
          { cause: error },
        );
      }
      const timedOut = error instanceof Deno.errors.TimedOut;
      throw new GroupCacheError(timedOut ? "deadline-exceeded" : "unavailable", `${what} failed: ${String(error)}`, {
        cause: error,
      });
    }
  };

  const probe = async (name: string, signal: AbortSignal): Promise<boolean> => {
    try {
      return (await Deno.resolveDns(name, "A", queryOptions(signal))).length > 0;
    } catch {
      if (signal.aborted) throw GroupCacheError.from(signal.reason, "canceled", `dns probe A ${name}`);
      return false;
    }
  };

  return {
    resolveSrv(name: string, { signal }: DnsQueryOptions): Promise<SrvRecord[]> {
      return run(`dns query SRV ${name}`, signal, async () =>
        (await Deno.resolveDns(name, "SRV", queryOptions(signal))).map((r) => ({
          target: stripTrailingDot(r.target),
          port: r.port,
          priority: r.priority,
          weight: r.weight,
        })),
      );
    },
    resolveIp(name: string, family: 4 | 6, { signal }: DnsQueryOptions): Promise<string[]> {
      return run(`dns query ${family === 4 ? "A" : "AAAA"} ${name}`, signal, () =>
        Deno.resolveDns(name, family === 4 ? "A" : "AAAA", queryOptions(signal)),
      );
    },
  };
}
