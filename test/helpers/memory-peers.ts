import { GroupCache, GroupCacheError, type PeerClientFactory } from "../../src/index.ts";

/**
 * An in-memory network of caches: a peer client calls the target instance's
 * `serve` directly, as a transport would over the wire. Instances removed
 * from `nodes` answer `unavailable`, as a stopped process.
 */
export class MemoryNetwork {
  readonly nodes = new Map<string, GroupCache>();
  /** Peer requests sent, per target id. */
  readonly requests = new Map<string, number>();

  readonly peerClient: PeerClientFactory = (id) => ({
    get: async (group, key, { signal }) => {
      this.requests.set(id, (this.requests.get(id) ?? 0) + 1);
      const node = this.nodes.get(id);
      if (node === undefined) throw new GroupCacheError("unavailable", `peer ${id} is not running`);
      const { value, minuteQps } = await node.serve(group, key, { signal });
      return { value: value.slice(), minuteQps };
    },
    close: async () => {},
  });

  /** A cache whose id is `self`, reachable by the others. */
  add(self: string): GroupCache {
    const cache = new GroupCache({ self, peerClient: this.peerClient });
    this.nodes.set(self, cache);
    return cache;
  }
}
