/**
 * The line-delimited JSON protocol between the cluster harness and its peer
 * processes: one JSON object per line, commands on the peer's stdin,
 * replies and events on its stdout. Kept free of runtime-specific APIs so
 * the same peer script can run under Node, Bun and Deno.
 *
 * The Go peer of the benchmarks (`bench/go/main.go`) speaks it too, so the
 * harness drives a Go groupcache cluster exactly as it drives ours: a
 * change to these messages must be made there as well. The settings `dns`,
 * `drainMs`, `writes`, `clientToken`, `handoff` and `onlyGet` and the
 * commands `peers`, `leave`, `load`, `loadStop`, `release`, `remove` and
 * `set` are ours only (for `bench/membership.ts` and the write tests): the Go peer ignores the
 * settings and answers those commands with "unknown command".
 */

import type { PeerWriteResult } from "../core/cluster-write.ts";
import type { HandoffReport } from "../core/handoff.ts";

/** How a peer's group decides what to mirror from other peers. */
export type HotSpec = "never" | "always" | "default" | { qps: number };

/** A group a peer process creates. Its getter returns {@link expectedValue}. */
export interface GroupSpec {
  name: string;
  /** Default: "default" (1 in 10, as Go). */
  hot?: HotSpec;
  /** Milliseconds the getter takes. Default: 0. */
  getterDelayMs?: number;
  /** The getter never returns (until its signal fires). Default: false. */
  hang?: boolean;
  /** Size of each value; see {@link expectedValue}. Default: unpadded. */
  valueBytes?: number;
  /** Default: the core's (64 MiB). */
  cacheBytes?: number;
  /** The group's `ttlMs`, `ttlJitter`, `staleMs` and `notFoundTtlMs` (ours only: the Go peer ignores them). Default: the core's. */
  ttlMs?: number;
  ttlJitter?: number;
  staleMs?: number;
  notFoundTtlMs?: number;
  /** Keys starting with this are missing: the getter throws `NotFoundError` for them. Default: none. */
  missingPrefix?: string;
}

/** A peer process's start-up configuration, passed as its first argument (JSON). */
export interface PeerConfig {
  /** Address to listen on. Default: 127.0.0.1. */
  host?: string;
  /** Port to listen on. Default: 0 (any free port). */
  port?: number;
  groups?: GroupSpec[];
  /** Client `timeoutMs` for calls to other peers. Default: the transport's. */
  clientTimeoutMs?: number;
  /** Client `stream`: keys on a GetStream (true) or one Get per key (false). Default: the transport's (true). */
  clientStream?: boolean;
  /**
   * Find the other peers through DNS SRV records (a Kubernetes headless
   * Service, e.g. the one `startDnsServer` plays), as deployed peers do.
   * Default: none; the peer knows only those given by `setPeers`.
   */
  dns?: DnsPeerConfig;
  /** `startPeer`'s `drainMs`: how long `leave` (and `close`) keep serving after leaving the ring. Default: 0 here (not `startPeer`'s). */
  drainMs?: number;
  /** `startPeer`'s `peekWindowMs` (0: no peeks of previous owners). Default: the cache's (60 000). */
  peekWindowMs?: number;
  /** `startPeer`'s `peekTimeoutMs`. Default: the cache's (200). */
  peekTimeoutMs?: number;
  /**
   * `startPeer`'s `server` options that are plain numbers (limits and
   * timeouts, such as `maxConcurrentStreams` or `messageTimeoutMs`).
   * Default: the server's; `closeTimeoutMs` 0.
   */
  server?: Record<string, number>;
  /** `startPeer`'s `writes`: which writes (Set, Remove) other peers may send here. Default: startPeer's (none). */
  writes?: { invalidation?: boolean; token?: string };
  /** Client `token` sent with this peer's writes. Default: `writes.token`. */
  clientToken?: string;
  /**
   * The client's `pingTimeoutMs`. Default here: 2 000, not the library's
   * 1 000: test machines run many peer processes on few cores, where a
   * process starved of CPU for 300 ms is common, and each false alarm
   * would turn keys' fetches into local loads and make exact load counts
   * flaky. Tests of hung-peer detection set it.
   */
  clientPingTimeoutMs?: number;
  /** `startPeer`'s `handoffOnJoin`. Default: the cache's (true). */
  handoffOnJoin?: boolean;
  /** `startPeer`'s `handoff` on `leave`/`close`: its bounds, or `false` for none. Default: `startPeer`'s (on). */
  handoff?: false | { maxBytes?: number; timeoutMs?: number };
  /**
   * Serve only Get, as Go's gRPC fork and older peers: every other RPC
   * (GetStream, Peek, Handoff) is answered UNIMPLEMENTED. Default: false.
   */
  onlyGet?: boolean;
}

/** What a peer's `leave` handed off (`startPeer`'s `Peer.handoff`): a `HandoffReport`, already plain JSON. */
export type HandoffSummary = HandoffReport;

/** DNS SRV discovery of a peer process: `startPeer`'s `peers: { dns }`, with the server to ask. */
export interface DnsPeerConfig {
  /** The DNS server, `ip:port`. */
  server: string;
  service: string;
  namespace: string;
  /** Default: "groupcache". */
  portName?: string;
  /** Milliseconds between lookups. Default: discovery's (5 000); tests and benchmarks poll faster. */
  intervalMs?: number;
  /** Spread of the interval, in [0, 1). Default: discovery's (0.2). */
  jitter?: number;
  /**
   * false: follow the others but never be in its own ring, as a client that
   * is not listed in DNS (a benchmark's driver): every key goes to its
   * owner. Default: true (in its own ring until it leaves, as `startPeer`).
   */
  member?: boolean;
}

/** What a `remove` or `set` did: a `WriteResult`, its errors as code and message. */
export interface WriteReply {
  complete: boolean;
  peers: (Omit<PeerWriteResult, "error"> & { error?: { code: string; message: string } })[];
}

/** What a single get returned. */
export type GetOutcome = { ok: true; value: string } | { ok: false; code: string; message: string };

/** Group counters plus the process's own getter call counts. */
export interface PeerStats {
  stats: Record<string, number>;
  main: Record<string, number>;
  hot: Record<string, number>;
  /** Getter calls per key in this process. */
  getterCalls: Record<string, number>;
  getterTotal: number;
}

/** Throughput and latency of a `bench` command. */
export interface BenchResult {
  ops: number;
  errors: number;
  elapsedMs: number;
  p50Us: number;
  p99Us: number;
}

/** Arguments of a `load` command. */
export interface LoadArgs {
  group: string;
  /** Read in order, over and over. */
  keys: string[];
  /** Gets in flight at most. */
  concurrency: number;
  /** Gets started per second, over all loops: a steady load, not a saturating one. */
  ratePerSec: number;
  /** Upper bounds: the load ends at the first of these (or at `loadStop`). */
  durationMs: number;
  maxOps: number;
  /** Each get's deadline, in ms (`GetOptions.timeoutMs`). Default: none. */
  timeoutMs?: number;
}

/**
 * Every get of a `load`, so the caller can split them by phase: the i-th get
 * started at `startedAt + startMs[i]` (both on the `performance.timeOrigin +
 * performance.now()` clock, which processes of one machine share) and took
 * `latencyUs[i]`.
 */
export interface LoadResult {
  startedAt: number;
  startMs: number[];
  latencyUs: number[];
  /** Indices of the gets that failed or returned another value than {@link expectedValue}. */
  failed: number[];
  /** The first failures (at most 20), to say why. */
  failures: { key: string; code: string; message: string }[];
}

/** Commands and the replies they produce. */
export interface Commands {
  get: { args: { group: string; key: string; timeoutMs?: number }; reply: GetOutcome };
  /** Runs every get at once in the peer process. */
  getMany: { args: { group: string; keys: string[]; timeoutMs?: number }; reply: { results: GetOutcome[] } };
  stats: { args: { group: string }; reply: PeerStats };
  setPeers: { args: { peers: string[] }; reply: { changed: boolean } };
  newGroup: { args: GroupSpec; reply: Record<string, never> };
  /**
   * Changes a group's getter behaviour. `version` (ours only): the getter
   * returns `expectedValue(key)@<version>` from now on (0: plain
   * `expectedValue`), read when a call starts, as a backend row; `hold`
   * (ours only): calls that start from now on wait for `release`.
   */
  configure: {
    args: { group: string; getterDelayMs?: number; hang?: boolean; version?: number; hold?: boolean };
    reply: Record<string, never>;
  };
  /** Lets every held getter call of the group return (ours only); `released`: how many. */
  release: { args: { group: string }; reply: { released: number } };
  /** `group.removeKeys(keys)` across the cluster, from this peer (ours only). */
  remove: { args: { group: string; keys: string[] }; reply: WriteReply };
  /** `group.set(key, value, { ttlMs })` across the cluster, from this peer (ours only). */
  set: { args: { group: string; key: string; value: string; ttlMs?: number }; reply: WriteReply };
  /** Resolves once the group's getter has been called `total` times in this process. */
  waitGetterCalls: { args: { group: string; total: number; timeoutMs?: number }; reply: { total: number } };
  /** `concurrency` loops of gets over `keys`, for `durationMs` or `maxOps` gets, whichever ends first. */
  bench: {
    args: { group: string; keys: string[]; concurrency: number; durationMs: number; maxOps: number };
    reply: BenchResult;
  };
  /** This process's ring: `cache.peers`, sorted. */
  peers: { args: Record<string, never>; reply: { peers: string[] } };
  /**
   * A graceful shutdown (`peer.close()`: leave the ring, keep serving for
   * `drainMs`, close the server and the cache); replies when done. The
   * process stays up, so its `stats` can still be read; `close` ends it.
   */
  leave: { args: Record<string, never>; reply: { handoff?: HandoffSummary } };
  /** Gets paced at `ratePerSec`, each timed; see {@link LoadResult}. One at a time per process. */
  load: { args: LoadArgs; reply: LoadResult };
  /** Ends the running `load` (it then replies); `stopped`: whether one was running. */
  loadStop: { args: Record<string, never>; reply: { stopped: boolean } };
  /**
   * The process's memory, in bytes (`process.memoryUsage()`); with `gc`,
   * after full collections (only when the runtime exposes `gc`, as Node
   * with `--expose-gc`; `collected` says whether it did).
   */
  memory: {
    args: { gc?: boolean };
    reply: { rssBytes: number; heapUsedBytes: number; externalBytes: number; collected: boolean };
  };
  /**
   * `cache.peerStates()`: the health of each other peer; `sinceMs` on the
   * shared clock (see `sharedClockMs`).
   */
  peerStates: {
    args: Record<string, never>;
    reply: { states: { peer: string; state: string; sinceMs: number; reason: string }[] };
  };
  /** Closes the cache and the server, replies, then exits with 0. */
  close: { args: Record<string, never>; reply: Record<string, never> };
}

export type CommandName = keyof Commands;

/** The value a peer's getter returns for `key`: `v:<key>`, padded with "." to `valueBytes` if given. */
export function expectedValue(key: string, valueBytes?: number): string {
  const base = `v:${key}`;
  return valueBytes === undefined || valueBytes <= base.length ? base : base.padEnd(valueBytes, ".");
}
