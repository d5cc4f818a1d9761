import { GroupCacheError } from "../core/errors.ts";
import type { PeerDiscovery, PeerSetListener, WatchOptions } from "../core/membership.ts";
import { notifyError, notifyPeers } from "../core/membership.ts";
import { fractionOption, positiveNumber } from "../core/options.ts";
import { formatPeerId, normalizePeerIds, samePeerIds } from "../core/peer-id.ts";
import { throwIfAborted } from "../core/signals.ts";
import { jitteredDelay, sleep, withTimeout } from "./poll.ts";
import { type DnsResolver, isIpLiteral, stripTrailingDot } from "./resolver.ts";
import { type SrvNameOptions, srvName } from "./srv-name.ts";

/** Options of {@link createDnsSrvDiscovery}: the name (see {@link SrvNameOptions}) and how to poll it. */
export interface DnsSrvDiscoveryOptions extends SrvNameOptions {
  /** Runs the queries: `createNodeResolver()` on Node and Bun, `createDenoResolver()` on Deno. Required. */
  resolver: DnsResolver;
  /**
   * Which addresses of each SRV target become peer ids: `4` (A records),
   * `6` (AAAA) or `"both"`. Use the family of the pods' `status.podIP`, so
   * that this process's own id appears in the set: with `"both"`, a
   * dual-stack pod is listed twice, under two ids. Default: `4`.
   */
  family?: 4 | 6 | "both";
  /**
   * Milliseconds between two lookups (from the end of one to the start of
   * the next). Cluster DNS caches answers for up to ~30 s (CoreDNS `ttl 30`
   * plus `cache 30`), so polling much faster only re-reads cached answers;
   * polling much slower adds its own delay on top of the cache's. 5 s keeps
   * the ring within a few seconds of what DNS says, for a few small queries
   * per interval (one SRV plus one per peer) that the node's DNS cache
   * answers. Default: 5000.
   */
  intervalMs?: number;
  /**
   * Spread of the interval, as a fraction: each delay is uniform in
   * `intervalMs × [1 - jitter, 1 + jitter)`, so pods started by the same
   * rollout do not query DNS in lockstep. In `[0, 1)`. Default: 0.2 (±20 %).
   */
  jitter?: number;
  /**
   * Limit for one whole lookup (SRV plus every target), in milliseconds;
   * past it the lookup fails with `deadline-exceeded` and the last good set
   * stays. Keep it below `intervalMs`. Default: 4000.
   */
  lookupTimeoutMs?: number;
}

/** Counters of a {@link DnsSrvDiscovery}. */
export interface DnsSrvStats {
  /** Lookups that finished, successful or not (abandoned ones are not counted). */
  lookups: number;
  /** Lookups that failed; each kept the previous set. */
  failures: number;
  /** Successful lookups that found no peer (the name did not exist or listed nobody). */
  empty: number;
  /** Times a watch handed a changed set to its listener. */
  changes: number;
  /** The error of the latest failed lookup, or `undefined` if none has failed yet. */
  lastError: GroupCacheError | undefined;
  /** `Date.now()` of the latest successful lookup, or `undefined` before the first. */
  lastSuccessAt: number | undefined;
  /** The set found by the latest successful lookup. */
  peers: readonly string[];
}

/** Peer discovery through the DNS SRV records of a (Kubernetes headless) Service. */
export interface DnsSrvDiscovery extends PeerDiscovery {
  /** The fully qualified SRV name queried, without a trailing dot. */
  readonly name: string;
  /** A snapshot of the counters. */
  readonly stats: DnsSrvStats;
  /**
   * One lookup: the peer ids the SRV records list, as `ip:port` (IPv6 as
   * `[ip]:port`), sorted and distinct; `[]` when the name does not exist.
   * Rejects with a `GroupCacheError` when DNS failed.
   */
  lookup(options: { signal: AbortSignal }): Promise<string[]>;
}

/**
 * Creates a discovery that polls the SRV records of a headless Service:
 * `_<portName>._tcp.<service>.<namespace>.svc.<clusterDomain>`, resolves
 * every target to its addresses and lists `ip:port` ids, the port being the
 * SRV record's. Options are checked here, so a short name fails at start-up
 * with `invalid-argument` rather than looking like an empty cluster.
 *
 * What each answer means:
 * - records: the peers are exactly those listed (and resolvable);
 * - the name does not exist (NXDOMAIN) or has no records: no pod is ready,
 *   the set is empty ("only me" once {@link connectDiscovery} adds self);
 * - a timeout, SERVFAIL, a refusal, an unreachable server: the lookup
 *   failed; the last good set stays, the error goes to `onError` and to
 *   `stats`. A failure never empties the ring.
 *
 * Only changed sets reach the listener; answers in another order, with
 * repeats or trailing dots give the same set.
 */
export function createDnsSrvDiscovery(options: DnsSrvDiscoveryOptions): DnsSrvDiscovery {
  const name = srvName(options);
  const resolver = options.resolver;
  if (
    typeof resolver !== "object" ||
    resolver === null ||
    typeof resolver.resolveSrv !== "function" ||
    typeof resolver.resolveIp !== "function"
  ) {
    throw new GroupCacheError(
      "invalid-argument",
      `resolver must implement resolveSrv and resolveIp, got ${String(resolver)}`,
    );
  }
  const family = options.family ?? 4;
  if (family !== 4 && family !== 6 && family !== "both") {
    throw new GroupCacheError("invalid-argument", `family must be 4, 6 or "both", got ${JSON.stringify(family)}`);
  }
  const intervalMs = positiveNumber("intervalMs", options.intervalMs, 5000);
  const jitter = fractionOption("jitter", options.jitter, 0.2);
  const lookupTimeoutMs = positiveNumber("lookupTimeoutMs", options.lookupTimeoutMs, 4000);
  const families: (4 | 6)[] = family === "both" ? [4, 6] : [family];

  const stats: DnsSrvStats = {
    lookups: 0,
    failures: 0,
    empty: 0,
    changes: 0,
    lastError: undefined,
    lastSuccessAt: undefined,
    peers: [],
  };

  const resolveTarget = async (target: string, signal: AbortSignal): Promise<string[]> => {
    if (isIpLiteral(target)) return [target];
    const lists = await Promise.all(families.map((f) => resolver.resolveIp(target, f, { signal })));
    return lists.flat();
  };

  const query = async (signal: AbortSignal): Promise<string[]> => {
    const records = await resolver.resolveSrv(name, { signal });
    const ids = await Promise.all(
      records.map(async (record) => {
        const target = stripTrailingDot(record.target).toLowerCase();
        // RFC 2782: a target of "." says the service is not available there.
        if (target === "" || !Number.isInteger(record.port) || record.port < 1 || record.port > 65535) return [];
        const ips = await resolveTarget(target, signal);
        return ips.map((ip) => formatPeerId(ip, record.port));
      }),
    );
    return normalizePeerIds(ids.flat());
  };

  const lookup = async ({ signal }: { signal: AbortSignal }): Promise<string[]> => {
    throwIfAborted(signal, `dns srv lookup of ${name}`);
    let peers: string[];
    try {
      peers = await withTimeout(signal, lookupTimeoutMs, "lookup", query);
    } catch (error) {
      if (signal.aborted) throw GroupCacheError.from(signal.reason, "canceled", `dns srv lookup of ${name}`);
      const context = `dns srv lookup of ${name} failed`;
      const failure =
        error instanceof GroupCacheError
          ? new GroupCacheError(error.code, `${context}: ${error.message}`, { cause: error })
          : GroupCacheError.from(error, "unavailable", context);
      stats.lookups++;
      stats.failures++;
      stats.lastError = failure;
      throw failure;
    }
    stats.lookups++;
    if (peers.length === 0) stats.empty++;
    stats.lastSuccessAt = Date.now();
    stats.peers = peers;
    return peers;
  };

  const watch = async (listener: PeerSetListener, { signal }: WatchOptions): Promise<void> => {
    let last: readonly string[] | undefined;
    // Bounded by the signal: each turn waits a positive, jittered interval.
    while (!signal.aborted) {
      try {
        const peers = await lookup({ signal });
        if (last === undefined || !samePeerIds(last, peers)) {
          last = peers;
          stats.changes++;
          notifyPeers(listener, peers);
        }
      } catch (error) {
        if (signal.aborted) break;
        notifyError(listener, GroupCacheError.from(error, "unavailable", `dns srv lookup of ${name} failed`));
      }
      await sleep(jitteredDelay(intervalMs, jitter), signal);
    }
  };

  return {
    name,
    get stats() {
      return { ...stats };
    },
    lookup,
    watch,
  };
}
