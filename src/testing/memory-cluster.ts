import { integerInRange, optionsObject, stringList } from "../core/options.ts";
import { normalizePeerIds } from "../core/peer-id.ts";
import {
  type ByteView,
  type Group,
  type GroupCache,
  GroupCacheError,
  type GroupOptions,
  type RingHash,
} from "../index.ts";
import { MemoryNetwork } from "./memory-network.ts";

/** Options of {@link createMemoryCluster}. */
export interface MemoryClusterOptions {
  /**
   * How many nodes, with ids `node-1:1`, `node-2:1`, ... (peer ids are host:port); or the nodes' ids
   * themselves (distinct, non-empty strings, such as `"10.0.0.1:8080"`).
   * Default: 3.
   */
  peers?: number | Iterable<string>;
  /** Ring points per peer, on every node. Default: 50, as `GroupCache`. */
  replicas?: number;
  /** Ring hash, on every node. Default: CRC-32 (IEEE), as `GroupCache`. */
  hash?: RingHash;
  /** `peekWindowMs` of every node (0: no peeks of previous owners). Default: 60 000, as `GroupCache`. */
  peekWindowMs?: number;
}

/**
 * Several `GroupCache` nodes in one process, each listing all of them as
 * its peers, connected by a {@link MemoryNetwork}. See
 * {@link createMemoryCluster}.
 */
export interface MemoryCluster {
  /** Every node's id, in the order given (`node-1:1`, `node-2:1`, ... by default). */
  readonly ids: readonly string[];
  /** Every node's cache, in the order of {@link ids}. */
  readonly caches: readonly GroupCache[];
  /** The network between the nodes. */
  readonly network: MemoryNetwork;
  /**
   * Peer requests sent so far, per target node id, including those to
   * stopped nodes: how many times a node was asked for a key it owns.
   */
  readonly requests: ReadonlyMap<string, number>;
  /**
   * Creates the group on every node, as every process of a real cluster
   * does at start-up, and returns them in the order of {@link ids}. Pass a
   * function to give each node its own options (a getter that counts
   * per node, say). One getter shared by every node sees every load of
   * the cluster.
   */
  newGroup<T = ByteView, In = Uint8Array | string>(
    options: GroupOptions<T, In> | ((id: string) => GroupOptions<T, In>),
  ): Group<T, In>[];
  /** The id of the node that owns `key`, as the first node's ring sees it (all rings are equal unless you changed one). */
  ownerOf(key: string): string;
  /** The cache of node `id`; `invalid-argument` if there is no such node. */
  cacheOf(id: string): GroupCache;
  /**
   * Stops node `id` answering: requests to it fail with `unavailable`, as
   * to a crashed process, while the other nodes keep it in their rings
   * (as they would until their discovery noticed), so they load its keys
   * themselves. Its cache keeps its groups and values.
   */
  stop(id: string): void;
  /** Makes a stopped node `id` answer again, with the cache it had. */
  start(id: string): void;
  /** Closes every cache and stops every node. */
  close(): Promise<void>;
}

/**
 * Starts a cluster of `GroupCache` nodes in memory, for unit tests of code
 * that uses groupcache: every node knows every other, and a key asked of
 * any node is loaded once, by its owner, exactly as across processes. Runs
 * on Node, Bun and Deno (no `node:` module).
 *
 * ```ts
 * const cluster = createMemoryCluster({ peers: 3 });
 * const groups = cluster.newGroup({ name: "users", codec: stringCodec, getter: (id) => db.load(id) });
 * await Promise.all(groups.map((g) => g.get("42"))); // one db.load("42"), on cluster.ownerOf("42")
 * await cluster.close();
 * ```
 *
 * Why: Go groupcache's own test cluster does the same across goroutines;
 * here the in-memory transport makes counts exact (no ports, no timing).
 */
export function createMemoryCluster(options?: MemoryClusterOptions): MemoryCluster {
  const { peers = 3, replicas, hash, peekWindowMs } = optionsObject("createMemoryCluster options", options);
  const ids = memberIds(peers);
  const network = new MemoryNetwork();
  const caches = ids.map((id) =>
    network.add(id, {
      ...(replicas === undefined ? {} : { replicas }),
      ...(hash === undefined ? {} : { hash }),
      ...(peekWindowMs === undefined ? {} : { peekWindowMs }),
    }),
  );
  for (const cache of caches) cache.setPeers(ids);
  const byId = new Map(ids.map((id, i) => [id, caches[i] as GroupCache]));
  const cacheOf = (id: string): GroupCache => {
    const cache = byId.get(id);
    if (cache === undefined) {
      throw new GroupCacheError(
        "invalid-argument",
        `no node ${JSON.stringify(id)} in this cluster of ${ids.join(", ")}`,
      );
    }
    return cache;
  };
  return {
    ids,
    caches,
    network,
    requests: network.requests,
    newGroup: (groupOptions) =>
      ids.map((id) => cacheOf(id).newGroup(typeof groupOptions === "function" ? groupOptions(id) : groupOptions)),
    ownerOf: (key) => {
      const owner = caches[0]?.ownerOf(key);
      if (owner === undefined) throw new GroupCacheError("closed", "the cluster is closed: no node owns any key");
      return owner;
    },
    cacheOf,
    stop: (id) => {
      cacheOf(id);
      network.disconnect(id);
    },
    start: (id) => network.listen(id, cacheOf(id)),
    close: async () => {
      for (const id of ids) network.disconnect(id);
      await Promise.all(caches.map((cache) => cache.close()));
    },
  };
}

/** The ids `peers` stands for: `node-1:1`... for a count, else the ids, checked. */
function memberIds(peers: number | Iterable<string>): string[] {
  if (typeof peers === "number") {
    const count = integerInRange("peers", peers, 1, 1000, 3);
    return Array.from({ length: count }, (_, i) => `node-${i + 1}:1`);
  }
  const ids = stringList("peers", peers);
  if (ids.length === 0 || normalizePeerIds(ids).length !== ids.length) {
    throw new GroupCacheError(
      "invalid-argument",
      `peers must name at least one node, each once, got ${JSON.stringify(ids)}`,
    );
  }
  return ids;
}
