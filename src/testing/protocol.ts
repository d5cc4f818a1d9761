/**
 * The line-delimited JSON protocol between the cluster harness and its peer
 * processes: one JSON object per line, commands on the peer's stdin,
 * replies and events on its stdout. Kept free of runtime-specific APIs so
 * the same peer script can run under Node, Bun and Deno.
 *
 * The Go peer of the benchmarks (`bench/go/main.go`) speaks it too, so the
 * harness drives a Go groupcache cluster exactly as it drives ours: a
 * change to these messages must be made there as well.
 */

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

/** Commands and the replies they produce. */
export interface Commands {
  get: { args: { group: string; key: string; timeoutMs?: number }; reply: GetOutcome };
  /** Runs every get at once in the peer process. */
  getMany: { args: { group: string; keys: string[]; timeoutMs?: number }; reply: { results: GetOutcome[] } };
  stats: { args: { group: string }; reply: PeerStats };
  setPeers: { args: { peers: string[] }; reply: { changed: boolean } };
  newGroup: { args: GroupSpec; reply: Record<string, never> };
  /** Changes a group's getter behaviour. */
  configure: { args: { group: string; getterDelayMs?: number; hang?: boolean }; reply: Record<string, never> };
  /** Resolves once the group's getter has been called `total` times in this process. */
  waitGetterCalls: { args: { group: string; total: number; timeoutMs?: number }; reply: { total: number } };
  /** `concurrency` loops of gets over `keys`, for `durationMs` or `maxOps` gets, whichever ends first. */
  bench: {
    args: { group: string; keys: string[]; concurrency: number; durationMs: number; maxOps: number };
    reply: BenchResult;
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
