import { type Clock, CoarseClock } from "./clock.ts";
import type { Codec } from "./codec.ts";
import { ExpiryTable } from "./expiry-table.ts";
import { HitMemo } from "./hit-memo.ts";
import { hashKey, KeyIndex } from "./key-index.ts";
import type { LRUStats } from "./lru.ts";
import { RecencyLinks, RecencyList } from "./recency-list.ts";
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
 * No entry is a JavaScript object. One `SlabStore` packs every entry's key
 * and value bytes into shared slabs and knows each by a small integer id; a
 * `KeyIndex` finds a key's id; each cache is a `RecencyList` of ids. All
 * three are typed arrays, so under steady eviction the garbage collector
 * has nothing per entry to copy or promote (see `KeyIndex` for what a `Map`
 * of string keys costs). A key is in one cache at a time: storing it in
 * either replaces it in both. Per-entry fields beside the store's record
 * are typed arrays indexed by id, grown in `#ensureIds`.
 *
 * Beside them, a `HitMemo` keeps the answers of recent hits as settled
 * promises, so a hit on a popular key allocates nothing; an entry that
 * leaves a cache leaves the memo too.
 */
export class Caches<T> {
  /** The budget, or 0 once closed: a closed cache holds and finds nothing. */
  #cacheBytes: number;
  readonly #entryOverheadBytes: number;
  readonly #store: SlabStore;
  readonly #index: KeyIndex;
  readonly #memo: HitMemo<T>;
  readonly #links = new RecencyLinks();
  /** Keys this process is authoritative for: loaded by its own getter. */
  readonly #mainCache: RecencyList;
  /**
   * Keys other peers own, mirrored here because they are popular. Without it
   * every process would ask the owner for a hot key, and the owner's CPU and
   * NIC would become the cluster's bottleneck.
   */
  readonly #hotCache: RecencyList;
  /** Per id: 1 if the entry is in the hot cache, 0 in the main cache. */
  #inHot = new Uint8Array(1024);
  #mainGets = 0;
  #mainHits = 0;
  #hotGets = 0;
  #hotHits = 0;
  #mainExpirations = 0;
  #hotExpirations = 0;
  readonly #clock: Clock;
  readonly #staleMs: number;
  /** When entries expire, by id; `undefined` while none does (see `CachesOptions.expiring`). */
  #expiry: ExpiryTable | undefined;

  constructor(options: CachesOptions) {
    this.#cacheBytes = options.cacheBytes;
    this.#entryOverheadBytes = options.entryOverheadBytes;
    this.#store = new SlabStore({ slabBytes: options.slabBytes, onMove: (id) => this.#memo.delete(id) });
    this.#index = new KeyIndex(this.#store);
    this.#memo = new HitMemo(hitMemoSlots, options.cacheBytes / 8);
    this.#mainCache = new RecencyList(this.#links);
    this.#hotCache = new RecencyList(this.#links);
    this.#clock = options.clock ?? new CoarseClock();
    this.#staleMs = options.staleMs ?? 0;
    if (options.expiring) this.#expiry = new ExpiryTable();
  }

  /**
   * Go's `lookupCache`: the id of `key`'s value, from the main or the hot
   * cache, marked most recently used; `undefined` on a miss. Counts the
   * lookup in each cache it reached, as Go's `cache.get` (a hot hit counts
   * a main miss first); a miss only when `countMiss`: a caller that has not
   * yet checked the key (a hit needs no check: a cached key was checked when
   * stored) counts its miss by looking again once the key is known valid.
   * Nothing is counted when caching is off, as in Go.
   *
   * Only fresh values are found: an expired entry, and a cached not-found,
   * is a miss here (see {@link lookupHeld}); one whose grace ran out too is
   * removed, counted in `expirations`.
   */
  lookupCache(key: string, countMiss: boolean): number | undefined {
    if (this.#cacheBytes <= 0) return undefined;
    let id = this.#index.find(key, hashKey(key));
    // The one expiry check of a hit, and its only clock read (see ExpiryTable).
    if (id >= 0 && this.#expiry !== undefined && !(this.#clock.now() < this.#expiry.at(id))) {
      this.#reclaimIfDead(id);
      id = -1;
    }
    if (id < 0) {
      if (countMiss) {
        this.#mainGets++;
        this.#hotGets++;
      }
      return undefined;
    }
    this.#mainGets++;
    if (this.#inHot[id] === 0) {
      this.#mainHits++;
      this.#mainCache.touch(id);
    } else {
      this.#hotGets++;
      this.#hotHits++;
      this.#hotCache.touch(id);
    }
    return id;
  }

  /**
   * Go's `populateCache`: copies `key` and `bytes` into the store and
   * inserts them into cache `which` (replacing the key in either cache),
   * then evicts until main + hot fit the budget: from the hot cache while
   * it holds more than 1/8 of the main cache's bytes, otherwise from the
   * main cache (Go's rule, which keeps mirrors of other peers' keys from
   * crowding out this peer's own). A value that alone exceeds the budget
   * is not cached at all, rather than flushing every other entry and then
   * itself. Returns the value's id, or `undefined` if it is not cached (not
   * stored, or evicted at once by that rule).
   */
  populateCache(
    key: string,
    bytes: Uint8Array,
    which: CacheType,
    expiresAt = Number.POSITIVE_INFINITY,
  ): number | undefined {
    return this.#insert(key, bytes, which, expiresAt, false);
  }

  /**
   * Caches that `key` does not exist until `expiresAt`, in cache `which`:
   * an entry with no value bytes, which lookups of values miss and
   * {@link lookupHeld} finds. Returns its id, or `undefined` if not cached.
   */
  populateNotFound(key: string, which: CacheType, expiresAt: number): number | undefined {
    return this.#insert(key, noBytes, which, expiresAt, true);
  }

  /** Stores `key` and `bytes` as an entry of cache `which`, then evicts until the budget holds (see `populateCache`). */
  #insert(key: string, bytes: Uint8Array, which: CacheType, expiresAt: number, notFound: boolean): number | undefined {
    const cacheBytes = this.#cacheBytes;
    if (cacheBytes <= 0) return undefined;
    const keyBytes = utf8Length(key);
    const size = keyBytes + bytes.byteLength + this.#entryOverheadBytes;
    if (size > cacheBytes) return undefined;
    const hash = hashKey(key);
    const old = this.#index.find(key, hash);
    if (old >= 0) this.#removeId(old); // a replacement, not an eviction
    const id = this.#store.put(key, keyBytes, bytes);
    this.#ensureIds();
    const cache = which === "main" ? this.#mainCache : this.#hotCache;
    this.#inHot[id] = which === "main" ? 0 : 1;
    cache.pushFront(id);
    cache.bytes += size;
    this.#index.insert(id, hash);
    if (notFound || expiresAt !== Number.POSITIVE_INFINITY || this.#expiry !== undefined) {
      this.#expiry ??= new ExpiryTable();
      if (notFound) this.#expiry.setNotFound(id, expiresAt);
      else this.#expiry.setValue(id, expiresAt);
    }
    for (;;) {
      const mainBytes = this.#mainCache.bytes;
      const hotBytes = this.#hotCache.bytes;
      if (mainBytes + hotBytes <= cacheBytes) break;
      const victim = hotBytes > mainBytes / 8 ? this.#hotCache : this.#mainCache;
      this.#evictOldest(victim);
    }
    return this.#store.has(id) ? id : undefined;
  }

  /** Removes `cache`'s least recently used entry: an expiration if it had expired, else an eviction. */
  #evictOldest(cache: RecencyList): void {
    const id = cache.oldest;
    if (this.#expiry !== undefined && !(this.#clock.now() < this.#expiry.expiresAt(id))) {
      this.#countExpiration(id);
    } else {
      cache.evictions++;
    }
    this.#removeId(id);
  }

  /** Removes entry `id` (neither fresh nor a value) if its grace ran out too, counting an expiration. */
  #reclaimIfDead(id: number): void {
    const expiry = this.#expiry as ExpiryTable;
    const grace = expiry.notFound(id) ? 0 : this.#staleMs;
    if (this.#clock.now() < expiry.expiresAt(id) + grace) return;
    this.#countExpiration(id);
    this.#removeId(id);
  }

  #countExpiration(id: number): void {
    if (this.#inHot[id] === 0) this.#mainExpirations++;
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
    const id = this.#index.find(key, hashKey(key));
    if (id < 0) return undefined;
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

  /**
   * The entries of cache `which` holding fresh values, most recently used
   * first, as `[key, id]`, without changing recency or counting lookups
   * (for a handoff). Read the ids' bytes before the caches change: an
   * eviction frees them.
   */
  *entries(which: CacheType): Generator<[key: string, id: number]> {
    const cache = which === "main" ? this.#mainCache : this.#hotCache;
    const expiry = this.#expiry;
    const now = expiry === undefined ? 0 : this.#clock.now();
    for (const id of [...cache.ids()]) {
      if (!this.#store.has(id)) continue;
      if (expiry !== undefined && !(now < expiry.at(id))) continue;
      yield [this.#store.key(id), id];
    }
  }

  /** Drops `key` from the caches; returns whether either held it. */
  remove(key: string): boolean {
    const id = this.#index.find(key, hashKey(key));
    if (id < 0) return false;
    this.#removeId(id);
    return true;
  }

  /** A snapshot of one cache's counters. */
  stats(which: CacheType): CacheStats {
    const cache = which === "main" ? this.#mainCache : this.#hotCache;
    const stats = { bytes: cache.bytes, items: cache.items, evictions: cache.evictions };
    return which === "main"
      ? { ...stats, gets: this.#mainGets, hits: this.#mainHits, expirations: this.#mainExpirations }
      : { ...stats, gets: this.#hotGets, hits: this.#hotHits, expirations: this.#hotExpirations };
  }

  /**
   * Empties both caches and caches nothing from now on: every lookup misses
   * and counts nothing. Views of values already handed out stay valid.
   */
  close(): void {
    this.#cacheBytes = 0;
    for (const cache of [this.#mainCache, this.#hotCache]) {
      for (const id of [...cache.ids()]) {
        this.#memo.delete(id);
        this.#store.free(id);
      }
      cache.clear();
    }
    this.#index.clear();
  }

  /**
   * Takes entry `id` out of its cache, the index and the store, and forgets
   * its answer. Its bytes are read before the store frees them.
   */
  #removeId(id: number): void {
    const store = this.#store;
    const cache = this.#inHot[id] === 0 ? this.#mainCache : this.#hotCache;
    cache.unlink(id);
    cache.bytes -= store.keyLength(id) + store.length(id) + this.#entryOverheadBytes;
    this.#index.delete(id);
    this.#memo.delete(id);
    store.free(id);
  }

  /** Grows the per-id arrays to the store's id table. */
  #ensureIds(): void {
    const capacity = this.#store.idCapacity;
    if (capacity <= this.#inHot.length) return;
    this.#links.ensure(capacity);
    const inHot = new Uint8Array(capacity);
    inHot.set(this.#inHot);
    this.#inHot = inHot;
  }
}
