import { type Clock, CoarseClock } from "./clock.ts";
import { byteViewCodec, type Codec } from "./codec.ts";
import {
  defaultCacheBytes,
  defaultEntryOverheadBytes,
  defaultGetterTimeoutMs,
  defaultMaxValueBytes,
  defaultTtlJitter,
} from "./defaults.ts";
import { GroupCacheError } from "./errors.ts";
import { type HotPolicy, randomHotPolicy } from "./hot-policy.ts";
import { fractionOption, functionOption, invalidOption, nonNegativeNumber } from "./options.ts";

/** What a getter receives besides the key. */
export interface GetterContext {
  /** Fires when nobody waits for this load any more, or `getterTimeoutMs` ran out. */
  signal: AbortSignal;
  /** The group's name. */
  group: string;
  /**
   * This value's own TTL, in milliseconds: set it before returning the
   * value (for example from an HTTP `Cache-Control: max-age`) to override
   * the group's `ttlMs` for it; `0` returns the value to its waiters
   * without caching it. Jitter applies to it as to `ttlMs`. Left unset, the
   * group's `ttlMs` applies. Default: unset.
   */
  ttlMs?: number;
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
   * What the process really holds is more (README "Sizing memory", figures
   * in `bench/README.md`):
   * - slab space of evicted values not yet compacted: at most as much
   *   again as the live values plus two slabs (see `SlabStore`'s
   *   `compactBelow`), usually far less;
   * - for codecs whose values are shared, the promises of up to 4,096
   *   recently hit or loaded values and at most `cacheBytes / 8` of their
   *   decoded values;
   * - slabs dropped after eviction that handed out views, until the garbage
   *   collector's next full collection, and values being loaded: a
   *   per-process amount under churn, not per entry or per group;
   * - V8's young generation, which grows under load to its maximum (set it
   *   with `--max-semi-space-size`).
   */
  cacheBytes?: number;
  /**
   * Bytes each entry costs in the budget on top of its key and value, so
   * that `cacheBytes` bounds memory rather than payload. Default:
   * `defaultEntryOverheadBytes`, 64: the per-entry overhead `bench/memory.ts`
   * measures (slab record header, index and recency slots). It matters for
   * small values: a 100-byte value under a 10-byte key counts 174 bytes, not
   * 110. `0` is Go's accounting: `cacheStats` bytes then mean what they mean
   * on a Go peer (in a mixed cluster, or on dashboards built for Go), at the
   * price of a budget that undercounts small values by a third or more.
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
  /**
   * How long a loaded value stays fresh, in milliseconds; an expired value
   * is never served (past `staleMs`) and is loaded again. `0`: values never
   * expire, Go groupcache's model, where a value that changes gets a new key
   * (`user:42:v7`). Versioned keys stay the better choice where you can
   * have them: no stale reads at all, and no reloads of unchanged values; a
   * TTL suits data that changes without a version to put in its key, at the
   * price of serving a value up to `ttlMs` old. Peers receive the owner's
   * remaining TTL with the value, so their hot-cache copies expire no later
   * than the owner's. The getter can set a value's own TTL (see
   * `GetterContext.ttlMs`). Default: 0 (no TTL: hits read no clock).
   */
  ttlMs?: number;
  /**
   * Share of a TTL taken off at random, per value, from 0 to below 1: with
   * 0.1, a value loaded with a 60 s TTL expires between 54 s and 60 s
   * later, so keys loaded together (a cold start, a herd) are not all
   * reloaded together. Never lengthens a TTL. Default: 0.1.
   */
  ttlJitter?: number;
  /**
   * Grace after expiry, in milliseconds (stale-while-revalidate): within
   * it, a get of an expired value returns that value at once while one
   * refresh runs in the background (one per key in the process; through
   * the key's owner, which also refreshes once for every peer). A refresh
   * that fails leaves the stale value to be served until the grace ends; a
   * not-found ends it. Default: 0 (an expired value is reloaded before it
   * is returned).
   */
  staleMs?: number;
  /**
   * How long the owner caches a `NotFoundError` from the getter, in
   * milliseconds, so a storm of gets for a missing key costs one getter
   * call per interval instead of one each: its gets (and peers' requests)
   * fail with `not-found` at once until then. Peers receive the remaining
   * time with the not-found and cache it as long. Default: 0 (not-founds are
   * not cached, as in Go).
   */
  notFoundTtlMs?: number;
  /**
   * The clock expiry is measured on. Default: a `CoarseClock` of its own
   * (monotonic, read at most once per millisecond while hits come); give a
   * `ManualClock` in tests to expire entries exactly.
   */
  clock?: Clock;
}

/** Options of one `get`. */
export interface GetOptions {
  /** Stops this caller's wait (`canceled`/`deadline-exceeded`); the shared load goes on for others. Default: none. */
  signal?: AbortSignal;
  /**
   * This caller's deadline, in ms: the get then rejects with
   * `deadline-exceeded` (the shared load goes on for others). Unlike a
   * signal, it tells the load its budget: the key's owner is given at most
   * `peerShare` of it (half by default), so a slow or silent owner leaves
   * the rest for a local load rather than failing the get. `0`: none.
   * Default: none.
   */
  timeoutMs?: number;
}

/** {@link GroupOptions} checked, with every default filled in and the settings derived from them. */
export interface ResolvedGroupOptions<T, In> extends Required<GroupOptions<T, In>> {
  /** Size of the value store's slabs (see {@link slabBytesFor}). */
  slabBytes: number;
}

/**
 * Checks a group's options and fills in their defaults, so that a bad value
 * fails at `newGroup` with `invalid-argument` naming it, not at the first
 * load that uses it.
 */
export function resolveGroupOptions<T, In>(options: GroupOptions<T, In>): ResolvedGroupOptions<T, In> {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("group options", "an object with a name and a getter", options);
  }
  const { name, getter } = options;
  if (typeof name !== "string" || name === "" || !name.isWellFormed()) {
    throw new GroupCacheError(
      "invalid-argument",
      `group name must be a non-empty, well-formed string, got ${JSON.stringify(name)}`,
    );
  }
  const prefix = `group ${JSON.stringify(name)}: `;
  if (typeof getter !== "function") throw invalidOption(`${prefix}getter`, "a function", getter);
  const cacheBytes = nonNegativeNumber(`${prefix}cacheBytes`, options.cacheBytes, defaultCacheBytes);
  return {
    name,
    getter,
    cacheBytes,
    entryOverheadBytes: nonNegativeNumber(
      `${prefix}entryOverheadBytes`,
      options.entryOverheadBytes,
      defaultEntryOverheadBytes,
    ),
    codec: checkCodec(`${prefix}codec`, options.codec ?? (byteViewCodec as unknown as Codec<T, In>)),
    hotPolicy: functionOption(
      `${prefix}hotPolicy`,
      options.hotPolicy,
      randomHotPolicy(10),
      "a function (such as randomHotPolicy(10), qpsHotPolicy(60) or neverHot)",
    ),
    getterTimeoutMs: nonNegativeNumber(`${prefix}getterTimeoutMs`, options.getterTimeoutMs, defaultGetterTimeoutMs),
    maxValueBytes: nonNegativeNumber(`${prefix}maxValueBytes`, options.maxValueBytes, defaultMaxValueBytes),
    ttlMs: nonNegativeNumber(`${prefix}ttlMs`, options.ttlMs, 0),
    ttlJitter: fractionOption(`${prefix}ttlJitter`, options.ttlJitter, defaultTtlJitter),
    staleMs: nonNegativeNumber(`${prefix}staleMs`, options.staleMs, 0),
    notFoundTtlMs: nonNegativeNumber(`${prefix}notFoundTtlMs`, options.notFoundTtlMs, 0),
    clock: checkClock(`${prefix}clock`, options.clock),
    slabBytes: slabBytesFor(cacheBytes),
  };
}

/** `clock` if it has a `now` method; a new `CoarseClock` when unset. */
function checkClock(name: string, clock: unknown): Clock {
  if (clock === undefined) return new CoarseClock();
  if (typeof (clock as Partial<Clock> | null)?.now !== "function") {
    throw invalidOption(name, "an object with a now() method (such as new ManualClock())", clock);
  }
  return clock as Clock;
}

/** `codec` if it has `encode` and `decode` functions (and `decodeRange`, if any, is one too). */
function checkCodec<T, In>(name: string, codec: Codec<T, In>): Codec<T, In> {
  const candidate = codec as Partial<Codec<T, In>> | null;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof candidate.encode !== "function" ||
    typeof candidate.decode !== "function" ||
    (candidate.decodeRange !== undefined && typeof candidate.decodeRange !== "function")
  ) {
    throw invalidOption(name, "an object with encode and decode functions (such as stringCodec or jsonCodec())", codec);
  }
  return codec;
}

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
