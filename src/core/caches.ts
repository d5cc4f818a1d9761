import type { Codec } from "./codec.ts";
import { HitMemo } from "./hit-memo.ts";
import { LRU, type LRUStats } from "./lru.ts";
import { SlabStore } from "./slab-store.ts";
import { utf8Length } from "./utf8.ts";

/** Which of a group's two caches. */
export type CacheType = "main" | "hot";

/** Counters of one cache, named as Go groupcache's `CacheStats`. */
export interface CacheStats extends LRUStats {
  /** Lookups that reached this cache (the hot cache is looked in after a miss in the main cache). */
  gets: number;
  /** Lookups that found the key here. */
  hits: number;
}

/** Options of {@link Caches}: a group's resolved settings (see `resolveGroupOptions`). */
export interface CachesOptions {
  /** The budget main and hot share; `0` caches nothing. */
  cacheBytes: number;
  /** Bytes each entry counts on top of its key and value. */
  entryOverheadBytes: number;
  /** Size of the value store's slabs. */
  slabBytes: number;
}

/** Most recently returned values kept as settled promises (see `HitMemo`). */
const hitMemoSlots = 4096;

/**
 * A group's main and hot caches, what Go groupcache's `Group` keeps in its
 * `mainCache` and `hotCache` fields: the two LRUs with their lookup
 * counters (Go's `cache` type), the storage of their values, and the byte
 * budget they share.
 *
 * The caches map keys to ids in one `SlabStore`, which packs the bytes of
 * every value into shared slabs: one small record per value instead of a
 * `Uint8Array` each (see `SlabStore`). Beside them, a `HitMemo` keeps the
 * answers of recent hits as settled promises, so a hit on a popular key
 * allocates nothing; an entry that leaves a cache leaves the memo too.
 */
export class Caches<T> {
  /** The budget, or 0 once closed: a closed cache holds and finds nothing. */
  #cacheBytes: number;
  readonly #entryOverheadBytes: number;
  readonly #store: SlabStore;
  readonly #memo: HitMemo<T>;
  /** Keys this process is authoritative for: loaded by its own getter. */
  readonly #mainCache: LRU<number>;
  /**
   * Keys other peers own, mirrored here because they are popular. Without it
   * every process would ask the owner for a hot key, and the owner's CPU and
   * NIC would become the cluster's bottleneck.
   */
  readonly #hotCache: LRU<number>;
  #mainGets = 0;
  #mainHits = 0;
  #hotGets = 0;
  #hotHits = 0;

  constructor(options: CachesOptions) {
    this.#cacheBytes = options.cacheBytes;
    this.#entryOverheadBytes = options.entryOverheadBytes;
    this.#store = new SlabStore({ slabBytes: options.slabBytes, onMove: (id) => this.#memo.delete(id) });
    this.#memo = new HitMemo(hitMemoSlots, options.cacheBytes / 8);
    this.#mainCache = this.#newLRU();
    this.#hotCache = this.#newLRU();
  }

  /**
   * Go's `lookupCache`: the id of `key`'s value from the main cache, else
   * the hot cache, marked most recently used; `undefined` on a miss. Counts
   * the lookup in each cache it reached, as Go's `cache.get`; a miss only
   * when `countMiss`: a caller that has not yet checked the key (a hit
   * needs no check: a cached key was checked when stored) counts its miss
   * by looking again once the key is known valid. Nothing is counted when
   * caching is off, as in Go.
   */
  lookupCache(key: string, countMiss: boolean): number | undefined {
    if (this.#cacheBytes <= 0) return undefined;
    const id = this.#mainCache.get(key);
    if (id === undefined) return this.#lookupHot(key, countMiss);
    this.#mainGets++;
    this.#mainHits++;
    return id;
  }

  /**
   * `lookupCache` after a miss in the main cache. A method of its own so
   * that a main-cache hit, the usual case, stays a short path where the
   * hit path inlines it.
   */
  #lookupHot(key: string, countMiss: boolean): number | undefined {
    const id = this.#hotCache.get(key);
    if (id !== undefined) {
      this.#mainGets++;
      this.#hotGets++;
      this.#hotHits++;
      return id;
    }
    if (countMiss) {
      this.#mainGets++;
      this.#hotGets++;
    }
    return undefined;
  }

  /**
   * Go's `populateCache`: copies `bytes` into the store and inserts them
   * into cache `which`, then evicts until main + hot fit the budget: from
   * the hot cache while it holds more than 1/8 of the main cache's bytes,
   * otherwise from the main cache (Go's rule, which keeps mirrors of other
   * peers' keys from crowding out this peer's own). A value that alone
   * exceeds the budget is not cached at all, rather than flushing every
   * other entry and then itself. Returns the value's id, or `undefined` if
   * it is not cached (not stored, or evicted at once by that rule).
   */
  populateCache(key: string, bytes: Uint8Array, which: CacheType): number | undefined {
    const cacheBytes = this.#cacheBytes;
    if (cacheBytes <= 0) return undefined;
    if (utf8Length(key) + bytes.byteLength + this.#entryOverheadBytes > cacheBytes) return undefined;
    const id = this.#store.put(bytes);
    (which === "main" ? this.#mainCache : this.#hotCache).add(key, id);
    for (;;) {
      const mainBytes = this.#mainCache.bytes;
      const hotBytes = this.#hotCache.bytes;
      if (mainBytes + hotBytes <= cacheBytes) break;
      const victim = hotBytes > mainBytes / 8 ? this.#hotCache : this.#mainCache;
      victim.removeOldest();
    }
    return this.#store.has(id) ? id : undefined;
  }

  /** A view of value `id`'s stored bytes (a `Uint8Array` view, no copy); never write to it. */
  view(id: number): Uint8Array {
    return this.#store.view(id);
  }

  /** Decodes value `id` with `codec`, through `decodeRange` when the codec has one (no view allocated). */
  decode<In>(id: number, codec: Codec<T, In>): T {
    const store = this.#store;
    return codec.decodeRange !== undefined
      ? codec.decodeRange(store.buffer(id), store.start(id), store.length(id))
      : codec.decode(store.view(id));
  }

  /** The settled promise remembered as value `id`'s answer, if any. */
  memoized(id: number): Promise<T> | undefined {
    return this.#memo.get(id);
  }

  /**
   * Remembers a hit's `answer` as value `id`'s, if the key is hit
   * repeatedly (see `HitMemo.admit`): then it takes the memo slot.
   */
  memoizeHit(id: number, answer: Promise<T>): void {
    if (this.#memo.admit(id)) this.#memo.set(id, answer, this.#store.length(id), true);
  }

  /**
   * Remembers a load's `answer` as value `id`'s if its memo slot is free: a
   * load does not push out a value that hits are using.
   */
  memoizeLoad(id: number, answer: Promise<T>): void {
    this.#memo.set(id, answer, this.#store.length(id), false);
  }

  /**
   * The keys of cache `which` with their value ids, most recently used
   * first, without changing recency or counting lookups (for a handoff).
   * Read the ids' bytes before the caches change: an eviction frees them.
   */
  *entries(which: CacheType): Generator<[key: string, id: number]> {
    const lru = which === "main" ? this.#mainCache : this.#hotCache;
    for (const key of [...lru.keys()]) {
      const id = lru.peek(key);
      if (id !== undefined) yield [key, id];
    }
  }

  /** Drops `key` from both caches; returns whether either held it. */
  remove(key: string): boolean {
    const main = this.#mainCache.delete(key);
    const hot = this.#hotCache.delete(key);
    return main || hot;
  }

  /** A snapshot of one cache's counters. */
  stats(which: CacheType): CacheStats {
    return which === "main"
      ? { ...this.#mainCache.stats(), gets: this.#mainGets, hits: this.#mainHits }
      : { ...this.#hotCache.stats(), gets: this.#hotGets, hits: this.#hotHits };
  }

  /**
   * Empties both caches and caches nothing from now on: every lookup misses
   * and counts nothing. Views of values already handed out stay valid.
   */
  close(): void {
    this.#cacheBytes = 0;
    this.#mainCache.clear();
    this.#hotCache.clear();
  }

  #newLRU(): LRU<number> {
    return new LRU<number>({
      valueArray: Uint32Array,
      sizeOf: (id) => this.#store.length(id) + this.#entryOverheadBytes,
      // An entry left a cache: free its bytes and forget its answer.
      dispose: (id) => {
        this.#memo.delete(id);
        this.#store.free(id);
      },
    });
  }
}
