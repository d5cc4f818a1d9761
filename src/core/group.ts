import type { ByteView } from "./byteview.ts";
import { byteViewCodec, type Codec } from "./codec.ts";
import { GroupCacheError } from "./errors.ts";
import { HitMemo } from "./hit-memo.ts";
import { type HotPolicy, randomHotPolicy } from "./hot-policy.ts";
import { KeyRate } from "./key-rate.ts";
import { type CacheStats, LRU } from "./lru.ts";
import { describe } from "./options.ts";
import type { PeerGetResult, PeerPicker, ServeResult } from "./peers.ts";
import { raceSignal } from "./signals.ts";
import { SingleFlight } from "./singleflight.ts";
import { SlabStore } from "./slab-store.ts";
import { utf8Length } from "./utf8.ts";

/** What a getter receives besides the key. */
export interface GetterContext {
  /** Fires when nobody waits for this load any more, or `getterTimeoutMs` ran out. */
  signal: AbortSignal;
  /** The group's name. */
  group: string;
}

/**
 * Loads a key's value from the source of truth, on a cache miss on the
 * key's owner. Throw {@link NotFoundError} for a key that does not exist.
 */
export type Getter<In> = (key: string, context: GetterContext) => In | Promise<In>;

/** Options of a group. */
export interface GroupOptions<T, In> {
  /** Unique on its instance, and the same on every peer. Must be non-empty. */
  name: string;
  /** Loads a missing key. Called at most once at a time per key in this process. */
  getter: Getter<In>;
  /**
   * Byte budget shared by the main and hot caches: the sum over entries of
   * key bytes (UTF-8) plus value bytes, as Go counts it, plus
   * `entryOverheadBytes` per entry. `0` disables caching: every get loads.
   * Default: 64 MiB.
   *
   * What the process really holds is more (measured on Node 24, see
   * `bench/README.md`):
   * - per entry, the key string and the table slots of the LRU and the
   *   value store: ~130 bytes of RSS beyond key and value bytes for
   *   100-byte values (counted in the budget with `entryOverheadBytes`);
   * - slab space of evicted values not yet compacted: at most as much
   *   again as the live values plus two slabs (1 MiB each at the default
   *   budget; see `SlabStore`'s `compactBelow`), usually far less;
   * - for codecs whose values are shared, the promises of up to 4,096
   *   recently hit values and at most `cacheBytes / 8` of their decoded
   *   values;
   * - slabs dropped after eviction until V8's next full garbage collection,
   *   which it starts once ~64–100 MiB of buffers have been released: a
   *   per-process amount under churn, not per entry or per group.
   */
  cacheBytes?: number;
  /**
   * Bytes each entry costs in the budget on top of its key and value, so
   * that `cacheBytes` bounds memory rather than payload: 130 matches the
   * measured per-entry overhead on Node 24 (`bench/memory.ts`). Default: 0,
   * Go's accounting: `cacheStats` bytes then mean what they mean on a Go
   * peer (in a mixed cluster, or on dashboards built for Go), and a budget
   * keeps the number of entries it held before. Raise it when values are
   * small: at 100-byte values the overhead is more than half of what an
   * entry really costs, at 10 KiB it is about 1%.
   */
  entryOverheadBytes?: number;
  /** Turns values into bytes and back. Default: {@link byteViewCodec} (immutable `ByteView`s). */
  codec?: Codec<T, In>;
  /** Which values fetched from other peers to mirror locally. Default: 1 in 10, as Go. */
  hotPolicy?: HotPolicy;
  /**
   * How long a getter may run before its waiters are released with
   * `deadline-exceeded` (its signal fires too; a value that arrives later is
   * still cached). `0` waits forever. Default: 30 000 ms.
   */
  getterTimeoutMs?: number;
  /**
   * Largest value, in bytes, that the getter may return or a peer may send:
   * larger ones fail with `resource-exhausted`. Default: 8 MiB.
   */
  maxValueBytes?: number;
}

/** Options of one `get`. */
export interface GetOptions {
  /** Stops this caller's wait (`canceled`/`deadline-exceeded`); the shared load goes on for others. */
  signal?: AbortSignal;
}

/** Counters of a group, named as Go groupcache's `Stats`. */
export interface GroupStats {
  /** Every get, including those from peers. */
  gets: number;
  /** Gets answered from the main or hot cache. */
  cacheHits: number;
  /** Values fetched from the owning peer. */
  peerLoads: number;
  /** Failed peer fetches (each fell back to a local load). */
  peerErrors: number;
  /** Gets that missed the cache (`gets - cacheHits`). */
  loads: number;
  /** Loads after singleflight: distinct loads actually started. */
  loadsDeduped: number;
  /** Getter calls that succeeded. */
  localLoads: number;
  /** Getter calls that failed or timed out. */
  localLoadErrs: number;
  /** Gets that came from peers. */
  serverRequests: number;
}

/** Which of a group's two caches. */
export type CacheType = "main" | "hot";

/**
 * A value on its way from a load to its waiters: the bytes peers are sent,
 * and for codecs whose values are immutable (`shared`), the decoded value
 * every waiter receives. The caches do not hold these: they hold ids into
 * the group's `SlabStore`.
 */
interface Entry<T> {
  readonly bytes: Uint8Array;
  readonly value: T | undefined;
}

/** Most recently returned values kept as settled promises (see `HitMemo`). */
const hitMemoSlots = 4096;

/**
 * Slab size for a budget: the largest power of two from 4 KiB to 1 MiB that
 * is at most 1/32 of it, so a small cache does not reserve a large slab and
 * the current, partly filled slab stays a small share of the budget.
 */
function slabBytesFor(cacheBytes: number): number {
  let size = 4096;
  while (size < 1 << 20 && size * 32 <= cacheBytes) size *= 2;
  return size;
}

const defaultCacheBytes = 64 << 20;
const defaultMaxValueBytes = 8 << 20;
const defaultGetterTimeoutMs = 30_000;

/** Checks that `key` can be cached and sent to a peer; throws `invalid-argument` naming it. */
export function validateKey(key: unknown, group: string): asserts key is string {
  if (typeof key !== "string") {
    throw new GroupCacheError("invalid-argument", `group "${group}": key must be a string, got ${describe(key)}`);
  }
  if (!key.isWellFormed()) {
    throw new GroupCacheError(
      "invalid-argument",
      `group "${group}": key ${JSON.stringify(key)} is not well-formed UTF-16 (lone surrogate) and cannot be sent as protobuf string`,
    );
  }
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new GroupCacheError("invalid-argument", `${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * A named set of keys, its getter and its caches: Go groupcache's `Group`.
 * Create one with `GroupCache.newGroup`.
 *
 * A `get` looks in the main cache (keys this process owns) and the hot cache
 * (mirrors of other peers' popular keys). On a miss the key is loaded once
 * per process (singleflight): from its owner if that is another peer,
 * otherwise, or if the owner fails, with the getter.
 */
export class Group<T = ByteView, In = Uint8Array | string> {
  readonly name: string;
  readonly cacheBytes: number;
  readonly #getter: Getter<In>;
  readonly #codec: Codec<T, In>;
  readonly #shared: boolean;
  readonly #peers: PeerPicker;
  readonly #hotPolicy: HotPolicy;
  readonly #getterTimeoutMs: number;
  readonly #maxValueBytes: number;
  readonly #entryOverheadBytes: number;
  /**
   * The bytes of every cached value, of both caches, packed into shared
   * slabs; the caches map keys to ids in it. One small record per value
   * instead of a `Uint8Array` each: see `SlabStore` and `bench/memory.ts`.
   */
  readonly #store: SlabStore;
  /** Recent hits' promises, so a hit on a popular key allocates nothing. */
  readonly #memo: HitMemo<T>;
  /**
   * Keys this process is authoritative for: loaded by its own getter. Main
   * and hot share `cacheBytes`.
   */
  readonly #mainCache = new LRU<number>({
    valueArray: Uint32Array,
    sizeOf: (id) => this.#store.length(id) + this.#entryOverheadBytes,
    dispose: (id) => this.#release(id),
  });
  /**
   * Keys other peers own, mirrored here because they are popular. Without it
   * every process would ask the owner for a hot key, and the owner's CPU and
   * NIC would become the cluster's bottleneck.
   */
  readonly #hotCache = new LRU<number>({
    valueArray: Uint32Array,
    sizeOf: (id) => this.#store.length(id) + this.#entryOverheadBytes,
    dispose: (id) => this.#release(id),
  });
  /** Full loads: re-check, owner, fallback. */
  readonly #loadGroup = new SingleFlight<Entry<T>>();
  /**
   * Getter calls. Loads for local callers and for peers join here, so an
   * owner calls its getter once per key however the requests arrive; a
   * peer's request never waits on a forward, so two peers that disagree on
   * the owner cannot wait on each other.
   */
  readonly #localGroup = new SingleFlight<Entry<T>>();
  /**
   * How often peers ask this owner for each key: reported as `minute_qps`,
   * so a peer's hot policy can tell keys popular across the cluster. Local
   * gets are not counted: that would cost the hit path a clock read and a
   * map update (a third of its time), and local demand is served locally.
   */
  readonly #keyRate = new KeyRate();
  readonly #stats: GroupStats = {
    gets: 0,
    cacheHits: 0,
    peerLoads: 0,
    peerErrors: 0,
    loads: 0,
    loadsDeduped: 0,
    localLoads: 0,
    localLoadErrs: 0,
    serverRequests: 0,
  };

  /** Use `GroupCache.newGroup`: it checks the name is unique and gives the group its peers. */
  constructor(options: GroupOptions<T, In>, peers: PeerPicker) {
    const { name, getter } = options;
    if (typeof name !== "string" || name === "" || !name.isWellFormed()) {
      throw new GroupCacheError(
        "invalid-argument",
        `group name must be a non-empty, well-formed string, got ${JSON.stringify(name)}`,
      );
    }
    if (typeof getter !== "function") {
      throw new GroupCacheError(
        "invalid-argument",
        `group "${name}": getter must be a function, got ${describe(getter)}`,
      );
    }
    this.name = name;
    this.#getter = getter;
    this.cacheBytes = nonNegative(`group "${name}": cacheBytes`, options.cacheBytes, defaultCacheBytes);
    this.#getterTimeoutMs = nonNegative(
      `group "${name}": getterTimeoutMs`,
      options.getterTimeoutMs,
      defaultGetterTimeoutMs,
    );
    this.#maxValueBytes = nonNegative(`group "${name}": maxValueBytes`, options.maxValueBytes, defaultMaxValueBytes);
    this.#entryOverheadBytes = nonNegative(`group "${name}": entryOverheadBytes`, options.entryOverheadBytes, 0);
    this.#store = new SlabStore({
      slabBytes: slabBytesFor(this.cacheBytes),
      onMove: (id) => this.#memo.delete(id),
    });
    this.#memo = new HitMemo(hitMemoSlots, this.cacheBytes / 8);
    this.#codec = options.codec ?? (byteViewCodec as unknown as Codec<T, In>);
    this.#shared = this.#codec.shared === true;
    this.#hotPolicy = options.hotPolicy ?? randomHotPolicy(10);
    this.#peers = peers;
  }

  /**
   * The value of `key`: from cache, from its owner, or from the getter.
   * Rejects with a `GroupCacheError`; a getter's own error is its `cause`.
   */
  get(key: string, options?: GetOptions): Promise<T> {
    const signal = options?.signal;
    // The hit path comes first and skips the key's `isWellFormed` scan (~15
    // ns, a sixth of a hit): a key found in the cache equals a key that was
    // validated when it was stored. Lookups are counted only once the key
    // is known to be valid, so the counters are exactly as before.
    if (typeof key === "string" && this.cacheBytes > 0 && signal?.aborted !== true) {
      const hit = this.#hit(key);
      if (hit !== undefined) return hit;
    }
    return this.#miss(key, signal);
  }

  /**
   * The rest of `get` after the hit path found nothing: validate, count,
   * load. A method of its own so that `get` stays small enough for V8 to
   * inline it into its callers.
   */
  #miss(key: string, signal: AbortSignal | undefined): Promise<T> {
    try {
      validateKey(key, this.name);
      if (signal?.aborted) throw GroupCacheError.from(signal.reason, "canceled", `group "${this.name}"`);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#stats.gets++;
    if (this.cacheBytes > 0) {
      this.#mainCache.countLookup(false);
      this.#hotCache.countLookup(false);
    }
    return this.#load(key, signal).then((entry) =>
      this.#shared ? (entry.value as T) : this.#decode(key, entry.bytes),
    );
  }

  /**
   * Answers a get that came from a peer: from cache, else by a local load,
   * never forwarded to another peer. Forwarding would let two peers whose
   * member lists differ send a key back and forth forever. Returns the stored
   * bytes themselves (a view into the cache's storage: the caller must not
   * write to them) and the key's request rate here, per minute, for the
   * response's `minute_qps`.
   *
   * For transports; applications call {@link get}.
   */
  serve(key: string, options?: GetOptions): Promise<ServeResult> {
    const signal = options?.signal;
    try {
      validateKey(key, this.name);
      if (signal?.aborted) throw GroupCacheError.from(signal.reason, "canceled", `group "${this.name}"`);
    } catch (error) {
      return Promise.reject(error);
    }
    const cached = this.serveCached(key);
    if (cached !== undefined) return Promise.resolve(cached);
    this.#stats.serverRequests++;
    this.#stats.gets++;
    const minuteQps = this.#keyRate.record(key);
    if (this.cacheBytes > 0) {
      this.#mainCache.countLookup(false);
      this.#hotCache.countLookup(false);
    }
    this.#stats.loads++;
    const value = this.#localGroup.do(
      key,
      (loadSignal) => {
        // Same re-check as in #load: a load may have finished just before.
        const again = this.#lookupCache(key);
        if (again !== undefined) {
          this.#stats.cacheHits++;
          return { bytes: this.#store.view(again), value: undefined };
        }
        this.#stats.loadsDeduped++;
        return this.#getLocally(key, loadSignal);
      },
      signal,
    );
    return value.then((entry) => ({ value: entry.bytes, minuteQps }));
  }

  /**
   * {@link serve} for a key that is cached, answered at once: its result,
   * counted exactly as `serve` counts a hit, or `undefined` (nothing
   * counted) when `serve` must be called. Spares a transport the promise
   * and the cancellation state of a key that needs neither, and most keys
   * a peer asks for are hits. The key needs no validation: a key found in
   * the cache was validated when it was stored.
   */
  serveCached(key: string): ServeResult | undefined {
    if (typeof key !== "string" || this.cacheBytes <= 0) return undefined;
    const id = this.#touchHit(key);
    if (id === undefined) return undefined;
    this.#stats.serverRequests++;
    this.#stats.gets++;
    this.#stats.cacheHits++;
    return { value: this.#store.view(id), minuteQps: this.#keyRate.record(key) };
  }

  /** A snapshot of the group's counters. */
  get stats(): GroupStats {
    return { ...this.#stats };
  }

  /** A snapshot of one cache's counters. */
  cacheStats(which: CacheType): CacheStats {
    return which === "main" ? this.#mainCache.stats() : this.#hotCache.stats();
  }

  /**
   * Drops `key` from this process's caches only. Other peers keep their copy
   * (values are immutable: version keys rather than invalidating them).
   */
  remove(key: string): boolean {
    const main = this.#mainCache.delete(key);
    const hot = this.#hotCache.delete(key);
    return main || hot;
  }

  /** The id of `key`'s value in the store, counting the lookups; `undefined` on a miss. */
  #lookupCache(key: string): number | undefined {
    if (this.cacheBytes <= 0) return undefined;
    return this.#mainCache.get(key) ?? this.#hotCache.get(key);
  }

  /**
   * A hit's answer, counted, or `undefined` on a miss, not counted (the key
   * may still turn out invalid). Recency is updated as by `#lookupCache`.
   */
  #hit(key: string): Promise<T> | undefined {
    const id = this.#touchHit(key);
    if (id === undefined) return undefined;
    this.#stats.gets++;
    this.#stats.cacheHits++;
    return this.#memo.get(id) ?? this.#decodeHit(key, id);
  }

  /** The id of `key`'s value if cached, with recency updated and the lookups counted; `undefined` (nothing counted) on a miss. */
  #touchHit(key: string): number | undefined {
    let id = this.#mainCache.touch(key);
    if (id !== undefined) this.#mainCache.countLookup(true);
    else {
      id = this.#hotCache.touch(key);
      if (id === undefined) return undefined;
      this.#mainCache.countLookup(false);
      this.#hotCache.countLookup(true);
    }
    return id;
  }

  /** Decodes a hit's stored value; remembers the promise when values are shared and the key is hit repeatedly. */
  #decodeHit(key: string, id: number): Promise<T> {
    let value: T;
    try {
      value = this.#decodeStored(id);
    } catch (error) {
      return Promise.reject(this.#decodeError(key, error));
    }
    const promise = Promise.resolve(value);
    if (this.#shared && this.#memo.admit(id)) this.#memo.set(id, promise, this.#store.length(id), true);
    return promise;
  }

  /** Decodes the stored value `id`, through `decodeRange` when the codec has one. */
  #decodeStored(id: number): T {
    const codec = this.#codec;
    const store = this.#store;
    return codec.decodeRange !== undefined
      ? codec.decodeRange(store.buffer(id), store.start(id), store.length(id))
      : codec.decode(store.view(id));
  }

  /** An entry left the caches: free its bytes and forget its memo. */
  #release(id: number): void {
    this.#memo.delete(id);
    this.#store.free(id);
  }

  #load(key: string, signal: AbortSignal | undefined): Promise<Entry<T>> {
    this.#stats.loads++;
    return this.#loadGroup.do(
      key,
      async (flightSignal) => {
        // Look again inside the flight: a load that finished between our
        // cache miss and this point has filled the cache. Loading again
        // would call the getter twice and count the bytes twice.
        const hit = this.#lookupCache(key);
        if (hit !== undefined) {
          this.#stats.cacheHits++;
          const bytes = this.#store.view(hit);
          return { bytes, value: this.#shared ? this.#decode(key, bytes) : undefined };
        }
        this.#stats.loadsDeduped++;
        const peer = this.#peers.pickPeer(key);
        if (peer !== undefined) {
          let result: PeerGetResult | undefined;
          try {
            result = await peer.get(this.name, key, { signal: flightSignal });
          } catch (error) {
            // Nobody is waiting any more: not the peer's fault, and no fallback.
            if (flightSignal.aborted)
              throw GroupCacheError.from(flightSignal.reason, "canceled", `group "${this.name}"`);
            // The owner's getter said the key does not exist: so would ours.
            if (error instanceof GroupCacheError && error.code === "not-found") throw error;
            this.#stats.peerErrors++;
          }
          if (result !== undefined) {
            const value = this.#checkPeerValue(result.value);
            const entry = value === undefined ? undefined : this.#tryEntry(value);
            if (value !== undefined && entry !== undefined) {
              this.#stats.peerLoads++;
              if (this.#hotPolicy({ group: this.name, key, value, minuteQps: result.minuteQps })) {
                return this.#cacheEntry(key, entry, this.#hotCache);
              }
              return entry;
            }
            this.#stats.peerErrors++;
          }
        }
        return this.#localGroup.do(key, (loadSignal) => this.#getLocally(key, loadSignal), flightSignal);
      },
      signal,
    );
  }

  /** A peer's answer, or `undefined` if it is not a usable value (counted as a peer error). */
  #checkPeerValue(value: unknown): Uint8Array | undefined {
    if (!(value instanceof Uint8Array) || value.byteLength > this.#maxValueBytes) return undefined;
    return value;
  }

  /** Calls the getter; caches and returns the encoded value. Runs inside `#localGroup`. */
  #getLocally(key: string, signal: AbortSignal): Promise<Entry<T>> {
    const timeoutMs = this.#getterTimeoutMs;
    // A timer cleared as soon as the getter settles: `AbortSignal.timeout`
    // would stay pending for the whole timeout (~2.9 KB each), so a burst of
    // 100,000 loads would hold ~290 MB for 30 s.
    let loadSignal = signal;
    let release = () => {};
    if (timeoutMs > 0) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(
        () => controller.abort(new DOMException(`getter timed out after ${timeoutMs} ms`, "TimeoutError")),
        timeoutMs,
      );
      // Where timers can be unreferenced (Node, Bun), a hung getter does not keep the process alive.
      (timer as { unref?: () => void }).unref?.();
      release = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      loadSignal = controller.signal;
    }
    let failed = false;
    const fail = (error: GroupCacheError): GroupCacheError => {
      if (!failed) {
        failed = true;
        this.#stats.localLoadErrs++;
      }
      return error;
    };
    const stored = new Promise<In>((resolve) =>
      resolve(this.#getter(key, { signal: loadSignal, group: this.name })),
    ).then(
      (value) => {
        let bytes: Uint8Array;
        try {
          bytes = this.#codec.encode(value);
        } catch (error) {
          const context = `group "${this.name}": key ${JSON.stringify(key)}`;
          throw fail(
            error instanceof GroupCacheError
              ? new GroupCacheError(error.code, `${context}: ${error.message}`, { cause: error })
              : GroupCacheError.from(error, "invalid-argument", context),
          );
        }
        if (bytes.byteLength > this.#maxValueBytes) {
          throw fail(
            new GroupCacheError(
              "resource-exhausted",
              `group "${this.name}": getter returned ${bytes.byteLength} bytes for key ${JSON.stringify(key)}, over maxValueBytes ${this.#maxValueBytes}`,
            ),
          );
        }
        const entry: Entry<T> = { bytes, value: this.#shared ? this.#decode(key, bytes) : undefined };
        this.#stats.localLoads++;
        return this.#cacheEntry(key, entry, this.#mainCache);
      },
      (error: unknown) => {
        throw fail(
          error instanceof GroupCacheError
            ? error
            : GroupCacheError.from(
                error,
                "load-failed",
                `group "${this.name}": getter failed for key ${JSON.stringify(key)}`,
              ),
        );
      },
    );
    // Also keeps a late failure after the waiters left from being unhandled.
    stored.then(release, release);
    return raceSignal(stored, loadSignal, "").catch((error: unknown) => {
      if (loadSignal.aborted && !signal.aborted) {
        throw fail(
          new GroupCacheError(
            "deadline-exceeded",
            `group "${this.name}": getter did not finish within getterTimeoutMs (${timeoutMs} ms) for key ${JSON.stringify(key)}`,
            { cause: loadSignal.reason },
          ),
        );
      }
      throw error;
    });
  }

  /**
   * Caches a loaded entry in `cache`. Returns what its waiters receive: for
   * a codec with `decodeRange`, the value over the stored copy, so the
   * load's own bytes can be collected; and, for shared values, remembers
   * it as the hit answer unless another entry's answer holds that slot.
   */
  #cacheEntry(key: string, entry: Entry<T>, cache: LRU<number>): Entry<T> {
    const id = this.#populateCache(key, entry.bytes, cache);
    if (id === undefined || !this.#shared) return entry;
    let value = entry.value as T;
    if (this.#codec.decodeRange !== undefined) {
      try {
        value = this.#decodeStored(id);
      } catch {
        // decode accepted these bytes; keep its value.
      }
    }
    this.#memo.set(id, Promise.resolve(value), entry.bytes.byteLength, false);
    return { bytes: entry.bytes, value };
  }

  /**
   * Copies `bytes` into the store and inserts them into `cache`, then evicts
   * until main + hot fit in `cacheBytes`: from the hot cache while it holds
   * more than 1/8 of the main cache's bytes, otherwise from the main cache
   * (Go's rule). A value that alone exceeds the budget is not cached at
   * all, rather than flushing every other entry and then itself. Returns
   * the value's id, or `undefined` if it is not cached (not stored, or
   * evicted at once by that rule).
   */
  #populateCache(key: string, bytes: Uint8Array, cache: LRU<number>): number | undefined {
    if (this.cacheBytes <= 0) return undefined;
    if (utf8Length(key) + bytes.byteLength + this.#entryOverheadBytes > this.cacheBytes) return undefined;
    const id = this.#store.put(bytes);
    cache.add(key, id);
    for (;;) {
      const mainBytes = this.#mainCache.bytes;
      const hotBytes = this.#hotCache.bytes;
      if (mainBytes + hotBytes <= this.cacheBytes) break;
      const victim = hotBytes > mainBytes / 8 ? this.#hotCache : this.#mainCache;
      victim.removeOldest();
    }
    return this.#store.has(id) ? id : undefined;
  }

  /** An entry for bytes a peer sent, or `undefined` if a shared codec cannot decode them (a peer error). */
  #tryEntry(bytes: Uint8Array): Entry<T> | undefined {
    if (!this.#shared) return { bytes, value: undefined };
    try {
      return { bytes, value: this.#codec.decode(bytes) };
    } catch {
      return undefined;
    }
  }

  #decode(key: string, bytes: Uint8Array): T {
    try {
      return this.#codec.decode(bytes);
    } catch (error) {
      throw this.#decodeError(key, error);
    }
  }

  #decodeError(key: string, error: unknown): GroupCacheError {
    return GroupCacheError.from(
      error,
      "internal",
      `group "${this.name}": cannot decode the value of key ${JSON.stringify(key)}`,
    );
  }
}
