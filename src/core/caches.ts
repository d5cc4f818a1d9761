import { type Clock, CoarseClock } from "./clock.ts";
import type { Codec } from "./codec.ts";
import { ExpiryTable } from "./expiry-table.ts";
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
  /**
   * Entries removed because they expired (their TTL and any grace ran
   * out): found so on a lookup, or evicted after their expiry. Not counted
   * in `evictions`, which so counts only live entries pushed out for room.
   */
  expirations: number;
}

/** Options of {@link Caches}: a group's resolved settings (see `resolveGroupOptions`). */
export interface CachesOptions {
  /** The budget main and hot share; `0` caches nothing. */
  cacheBytes: number;
  /** Bytes each entry counts on top of its key and value. */
  entryOverheadBytes: number;
  /** Size of the value store's slabs. */
  slabBytes: number;
  /** The clock expiry times are read on. Default: a new `CoarseClock`. */
  clock?: Clock;
  /** How long an expired value is still held, to be served stale while it is refreshed. Default: 0. */
  staleMs?: number;
  /**
   * Whether entries will expire (a TTL or cached not-founds): the expiry
   * table is then made up front. Without, it is made on the first entry
   * that expires, and until then hits read no clock. Default: false.
   */
  expiring?: boolean;
}

/** The stored bytes of a cached not-found. */
const noBytes = new Uint8Array(0);

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
  #mainExpirations = 0;
  #hotExpirations = 0;
  readonly #clock: Clock;
  readonly #staleMs: number;
  /** When entries expire; `undefined` while none does (see `CachesOptions.expiring`). */
  #expiry: ExpiryTable | undefined;

  constructor(options: CachesOptions) {
    this.#cacheBytes = options.cacheBytes;
    this.#entryOverheadBytes = options.entryOverheadBytes;
    this.#store = new SlabStore({ slabBytes: options.slabBytes, onMove: (id) => this.#memo.delete(id) });
    this.#memo = new HitMemo(hitMemoSlots, options.cacheBytes / 8);
    this.#mainCache = this.#newLRU();
    this.#hotCache = this.#newLRU();
    this.#clock = options.clock ?? new CoarseClock();
    this.#staleMs = options.staleMs ?? 0;
    if (options.expiring) this.#expiry = new ExpiryTable();
  }

  /**
   * Go's `lookupCache`: the id of `key`'s value from the main cache, else
   * the hot cache, marked most recently used; `undefined` on a miss. Counts
   * the lookup in each cache it reached, as Go's `cache.get`; a miss only
   * when `countMiss`: a caller that has not yet checked the key (a hit
   * needs no check: a cached key was checked when stored) counts its miss
   * by looking again once the key is known valid. Nothing is counted when
   * caching is off, as in Go.
   *
   * Only fresh values are found: an expired entry, and a cached not-found,
   * is a miss here (see {@link lookupHeld}); one whose grace ran out too is
   * removed, counted in `expirations`.
   */
  lookupCache(key: string, countMiss: boolean): number | undefined {
    if (this.#cacheBytes <= 0) return undefined;
    const id = this.#mainCache.get(key);
    if (id === undefined) return this.#lookupHot(key, countMiss);
    // The one expiry check of a hit, and its only clock read (see ExpiryTable).
    if (this.#expiry !== undefined && !(this.#clock.now() < this.#expiry.at(id))) {
      this.#reclaimIfDead(this.#mainCache, key, id);
      return this.#lookupHot(key, countMiss);
    }
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
    let id = this.#hotCache.get(key);
    if (id !== undefined && this.#expiry !== undefined && !(this.#clock.now() < this.#expiry.at(id))) {
      this.#reclaimIfDead(this.#hotCache, key, id);
      id = undefined;
    }
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
  populateCache(
    key: string,
    bytes: Uint8Array,
    which: CacheType,
    expiresAt = Number.POSITIVE_INFINITY,
  ): number | undefined {
    const cacheBytes = this.#cacheBytes;
    if (cacheBytes <= 0) return undefined;
    if (utf8Length(key) + bytes.byteLength + this.#entryOverheadBytes > cacheBytes) return undefined;
    const id = this.#store.put(bytes);
    if (expiresAt !== Number.POSITIVE_INFINITY || this.#expiry !== undefined) {
      this.#expiry ??= new ExpiryTable();
      this.#expiry.setValue(id, expiresAt);
    }
    return this.#insert(key, id, which);
  }

  /**
   * Caches that `key` does not exist until `expiresAt`, in cache `which`:
   * an entry with no value bytes, which lookups of values miss and
   * {@link lookupHeld} finds. Returns its id, or `undefined` if not cached.
   */
  populateNotFound(key: string, which: CacheType, expiresAt: number): number | undefined {
    if (this.#cacheBytes <= 0 || utf8Length(key) + this.#entryOverheadBytes > this.#cacheBytes) return undefined;
    const id = this.#store.put(noBytes);
    this.#expiry ??= new ExpiryTable();
    this.#expiry.setNotFound(id, expiresAt);
    return this.#insert(key, id, which);
  }

  /** Inserts stored entry `id` as `key` into cache `which`, then evicts until the budget holds (see `populateCache`). */
  #insert(key: string, id: number, which: CacheType): number | undefined {
    const cacheBytes = this.#cacheBytes;
    (which === "main" ? this.#mainCache : this.#hotCache).add(key, id);
    for (;;) {
      const mainBytes = this.#mainCache.bytes;
      const hotBytes = this.#hotCache.bytes;
      if (mainBytes + hotBytes <= cacheBytes) break;
      const victim = hotBytes > mainBytes / 8 ? this.#hotCache : this.#mainCache;
      this.#evictOldest(victim);
    }
    return this.#store.has(id) ? id : undefined;
  }

  /** Removes `lru`'s least recently used entry: an expiration if it had expired, else an eviction. */
  #evictOldest(lru: LRU<number>): void {
    const expiry = this.#expiry;
    const key = expiry === undefined ? undefined : lru.oldest();
    if (key !== undefined && expiry !== undefined) {
      const id = lru.peek(key) as number;
      if (!(this.#clock.now() < expiry.expiresAt(id))) {
        lru.delete(key);
        this.#countExpiration(lru);
        return;
      }
    }
    lru.removeOldest();
  }

  /** Removes `key` (entry `id`, neither fresh nor a value) from `lru` if its grace ran out too, counting an expiration. */
  #reclaimIfDead(lru: LRU<number>, key: string, id: number): void {
    const expiry = this.#expiry as ExpiryTable;
    const grace = expiry.notFound(id) ? 0 : this.#staleMs;
    if (this.#clock.now() < expiry.expiresAt(id) + grace) return;
    lru.delete(key);
    this.#countExpiration(lru);
  }

  #countExpiration(lru: LRU<number>): void {
    if (lru === this.#mainCache) this.#mainExpirations++;
    else this.#hotExpirations++;
  }

  /**
   * The id of what `key` holds besides a fresh value, for the callers that
   * serve it: an expired value still within its grace (`staleMs`), or a
   * cached not-found; `undefined` otherwise. Counts nothing and leaves the
   * recency as it is: call it after {@link lookupCache} missed.
   */
  lookupHeld(key: string): number | undefined {
    const expiry = this.#expiry;
    if (expiry === undefined || this.#cacheBytes <= 0) return undefined;
    const id = this.#mainCache.peek(key) ?? this.#hotCache.peek(key);
    if (id === undefined) return undefined;
    const grace = expiry.notFound(id) ? 0 : this.#staleMs;
    return this.#clock.now() < expiry.expiresAt(id) + grace ? id : undefined;
  }

  /** Whether entry `id` is a cached not-found. */
  isNotFound(id: number): boolean {
    return this.#expiry?.notFound(id) === true;
  }

  /** When entry `id` expires on the group's clock; `Infinity` for never. */
  expiresAt(id: number): number {
    return this.#expiry === undefined ? Number.POSITIVE_INFINITY : this.#expiry.expiresAt(id);
  }

  /** Whether any entry may expire: only then do entries' times need reading. */
  get expiring(): boolean {
    return this.#expiry !== undefined;
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

  /** Drops `key` from both caches; returns whether either held it. */
  remove(key: string): boolean {
    const main = this.#mainCache.delete(key);
    const hot = this.#hotCache.delete(key);
    return main || hot;
  }

  /** A snapshot of one cache's counters. */
  stats(which: CacheType): CacheStats {
    return which === "main"
      ? { ...this.#mainCache.stats(), gets: this.#mainGets, hits: this.#mainHits, expirations: this.#mainExpirations }
      : { ...this.#hotCache.stats(), gets: this.#hotGets, hits: this.#hotHits, expirations: this.#hotExpirations };
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
