import type { PeerServable } from "../core/peers.ts";
import {
  GroupCache,
  GroupCacheError,
  type GroupCacheOptions,
  NotFoundError,
  type PeerClientFactory,
} from "../index.ts";

/**
 * A network in memory, for tests: caches reach each other through
 * {@link MemoryNetwork.peerClient}, whose `get` calls the target's `serve`
 * directly instead of going over gRPC (`peek`, `remove` and `set` its `peek`, `removeLocally` and `setLocally`). It behaves as a wire would where a
 * test can see it: the value's bytes are copied, an error crosses as its
 * code and message (a `NotFoundError` stays one, with its `ttlMs`; the
 * cause stays behind), the owner's remaining TTL travels with the value,
 * and a node that is not listening answers `unavailable`, as a stopped
 * process. No `node:` module is used, so it runs on Node, Bun and Deno.
 *
 * Why: the core's behaviour across peers (one load per key cluster-wide,
 * fallback to a local load when the owner is gone) can then be tested in
 * one process, with exact counts and without ports or timing.
 */
export class MemoryNetwork {
  readonly #listening = new Map<string, PeerServable>();
  readonly #requests = new Map<string, number>();

  /** Peer requests sent so far, per target id, including those to nodes that were not listening. */
  get requests(): ReadonlyMap<string, number> {
    return this.#requests;
  }

  /** The `peerClient` of caches on this network: its clients call the target's `serve`. */
  readonly peerClient: PeerClientFactory = (id, context) => ({
    id,
    get: async (group, key, { signal, trace }) => {
      this.#requests.set(id, (this.#requests.get(id) ?? 0) + 1);
      const target = this.#listening.get(id);
      if (target === undefined) throw new GroupCacheError("unavailable", `peer ${id} is not listening`);
      try {
        if (context !== undefined) target.checkRing?.(context.ringFingerprint(), context.self);
        const { value, minuteQps, ttlMs, staleMs } = await target.serve(group, key, {
          signal,
          trace,
          from: context?.self,
        });
        // The remaining TTL crosses as a wire carries it: a duration, read now.
        return {
          value: value.slice(),
          minuteQps,
          ...(ttlMs === undefined ? {} : { ttlMs }),
          ...(staleMs === undefined ? {} : { staleMs }),
        };
      } catch (error) {
        const e = GroupCacheError.from(error);
        if (e.code !== "not-found") throw new GroupCacheError(e.code, e.message);
        const ttlMs = (e as NotFoundError).ttlMs;
        throw new NotFoundError(e.message, ttlMs === undefined ? undefined : { ttlMs });
      }
    },
    // A peek is answered from the target's memory, its bytes copied as a
    // wire would; a stopped node, or one that cannot peek, holds nothing.
    // Not counted in `requests`, which counts gets.
    peek: async (group, key) => {
      const target = this.#listening.get(id);
      try {
        const peeked = target?.peek?.(group, key);
        return peeked === undefined ? undefined : { ...peeked, value: peeked.value.slice() };
      } catch {
        return undefined;
      }
    },
    // Writes are applied by the target itself, as a peer server applies a
    // Set or Remove (no trust check: the network is the test's own); a
    // target that cannot take them answers `unimplemented`, as an older peer.
    remove: async (group, keys) => this.#target(id, "removeLocally").removeLocally(group, [...keys]),
    set: async (group, key, value, { ttlMs }) =>
      this.#target(id, "setLocally").setLocally(group, key, value.slice(), { ttlMs }),
    close: async () => {},
  });

  /** The servable listening on `id`, which must have `method`; throws as a peer would answer. */
  #target<M extends "removeLocally" | "setLocally">(id: string, method: M): Required<Pick<PeerServable, M>> {
    const target = this.#listening.get(id);
    if (target === undefined) throw new GroupCacheError("unavailable", `peer ${id} is not listening`);
    if (target[method] === undefined) throw new GroupCacheError("unimplemented", `peer ${id} does not serve ${method}`);
    return target as unknown as Required<Pick<PeerServable, M>>;
  }

  /**
   * Answers requests to `id` with `servable` (a `GroupCache`, or anything
   * with its `serve`) until {@link disconnect}, in place of whatever
   * listened on `id` before (as a process restarted on the same address).
   */
  listen(id: string, servable: PeerServable): void {
    this.#listening.set(id, servable);
  }

  /** Stops answering requests to `id`: they fail with `unavailable` from now on. Nothing happens if nothing listens. */
  disconnect(id: string): void {
    this.#listening.delete(id);
  }

  /** Whether requests to `id` are answered. */
  isListening(id: string): boolean {
    return this.#listening.has(id);
  }

  /**
   * A new cache with id `self`, listening on this network (in place of
   * whatever listened on `self`), whose clients reach the others on it. Its ring is empty: set it with `setPeers` (or a
   * discovery), as in production. `options` are the cache's other options.
   */
  add(self: string, options: Omit<GroupCacheOptions, "self" | "peerClient"> = {}): GroupCache {
    const cache = new GroupCache({ ...options, self, peerClient: this.peerClient });
    this.listen(self, cache);
    return cache;
  }
}
