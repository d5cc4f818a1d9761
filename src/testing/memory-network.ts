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
 * directly instead of going over gRPC (and `peek` its `peek`). It behaves as a wire would where a
 * test can see it: the value's bytes are copied, an error crosses as its
 * code and message (a `NotFoundError` stays one; the cause stays behind),
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
        const { value, minuteQps } = await target.serve(group, key, { signal, trace, from: context?.self });
        return { value: value.slice(), minuteQps };
      } catch (error) {
        const e = GroupCacheError.from(error);
        throw e.code === "not-found" ? new NotFoundError(e.message) : new GroupCacheError(e.code, e.message);
      }
    },
    // A peek is answered from the target's memory, its bytes copied as a
    // wire would; a stopped node, or one that cannot peek, holds nothing.
    // Not counted in `requests`, which counts gets.
    peek: async (group, key) => {
      const target = this.#listening.get(id);
      try {
        return target?.peek?.(group, key)?.slice();
      } catch {
        return undefined;
      }
    },
    close: async () => {},
  });

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
