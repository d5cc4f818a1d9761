import { crc32String } from "./crc32.ts";
import { defaultReplicas } from "./defaults.ts";
import { GroupCacheError } from "./errors.ts";
import { positiveInteger } from "./options.ts";

/** Hashes a string to an unsigned 32-bit number. */
export type RingHash = (data: string) => number;

/** Options of {@link Ring}. */
export interface RingOptions {
  /**
   * Points on the ring per peer. More points spread keys more evenly (3 gives
   * a 37/63 split between two peers, 33 gives 49.8/50.2) at the cost of a
   * bigger table. Every node of a cluster must use the same value, Go nodes
   * included. Default: 50, as Go's gRPC fork (`defaultReplicas`).
   */
  replicas?: number;
  /**
   * Hash of a point or key. Default: CRC-32 (IEEE) of the UTF-8 bytes, which
   * is what Go groupcache uses, so TypeScript and Go nodes agree on owners.
   */
  hash?: RingHash;
}

/**
 * A consistent-hash ring: each peer id gets `replicas` points, point `i` of
 * peer `p` at `hash(String(i) + p)`, and a key belongs to the peer of the
 * first point at or after `hash(key)`, wrapping around.
 *
 * A ring is immutable: build a new one for a new peer set and swap it, so a
 * lookup never sees a half-built table. Two peers whose points collide are
 * resolved the same way on every node (the id that sorts last wins),
 * whatever order the ids were given in; Go lets the last-added win, which
 * depends on the order.
 */
export class Ring {
  /** Sorted, distinct point hashes. */
  readonly #points: Uint32Array;
  /** `#owners[i]` owns `#points[i]`. */
  readonly #owners: string[];
  readonly #hash: RingHash;
  /** The distinct peer ids, sorted. */
  readonly peers: readonly string[];
  readonly replicas: number;

  constructor(peers: Iterable<string>, options: RingOptions = {}) {
    const replicas = positiveInteger("ring replicas", options.replicas, defaultReplicas);
    this.replicas = replicas;
    const hash = options.hash ?? crc32String;
    this.#hash = hash;
    const ids = [...new Set(peers)].sort();
    for (const id of ids) {
      if (typeof id !== "string" || id === "") {
        throw new GroupCacheError("invalid-argument", `peer id must be a non-empty string, got ${JSON.stringify(id)}`);
      }
    }
    this.peers = ids;
    // Ids are visited in sorted order and a later id overwrites an earlier
    // one at the same point, so the id that sorts last wins every collision.
    const byPoint = new Map<number, string>();
    for (const id of ids) {
      for (let i = 0; i < replicas; i++) byPoint.set(hash(String(i) + id) >>> 0, id);
    }
    this.#points = Uint32Array.from(byPoint.keys()).sort();
    this.#owners = Array.from(this.#points, (p) => byPoint.get(p) as string);
  }

  /** Whether the ring has no peers. */
  isEmpty(): boolean {
    return this.#points.length === 0;
  }

  /** The id of the peer that owns `key`, or `undefined` when the ring is empty. */
  get(key: string): string | undefined {
    const points = this.#points;
    const n = points.length;
    if (n === 0) return undefined;
    const h = this.#hash(key) >>> 0;
    // Binary search for the first point >= h.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === n ? 0 : lo];
  }
}
