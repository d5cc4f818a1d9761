import type { ByteView } from "./byteview.ts";
import { type CacheStats, Caches, type CacheType } from "./caches.ts";
import {
  type ClusterWrite,
  clusterWrite,
  type LocalWriter,
  type SetOptions,
  type WriteOptions,
  type WriteResult,
} from "./cluster-write.ts";
import { type Entry, EntryCodec } from "./entry-codec.ts";
import { GroupCacheError, NotFoundError } from "./errors.ts";
import { type GetManyResult, getMany } from "./get-many.ts";
import { type GroupHooks, noGroupHooks } from "./group-hooks.ts";
import {
  type GetOptions,
  type GetterContext,
  type GroupOptions,
  type ResolvedGroupOptions,
  resolveGroupOptions,
} from "./group-options.ts";
import { type GroupStats, newGroupStats } from "./group-stats.ts";
import { KeyRate } from "./key-rate.ts";
import { LoadEpochs } from "./load-epochs.ts";
import { describe, nonNegativeNumber, optionsObject, positiveNumber, signalOption, stringList } from "./options.ts";
import type { PeekResult, PeerGetResult, PeerGetter, PeerPicker, RemainingTtl, ServeResult } from "./peers.ts";
import { linkedSignal, raceSignal, throwIfAborted, withDeadline } from "./signals.ts";
import { SingleFlight } from "./singleflight.ts";
import { endWith, type TelemetrySpan, type TraceCarrier } from "./telemetry.ts";

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

/**
 * A named set of keys, its getter and its caches: Go groupcache's `Group`.
 * Create one with `GroupCache.newGroup`.
 *
 * A `get` looks in the main cache (keys this process owns) and the hot cache
 * (mirrors of other peers' popular keys). On a miss the key is loaded once
 * per process (singleflight): from its owner if that is another peer,
 * otherwise, or if the owner fails, with the getter.
 */
/**
 * A group's server half: how `GroupCache` answers other peers' requests for
 * the group. Kept off `Group`'s own API, which is what applications call;
 * reach it with {@link groupServer}.
 */
export interface GroupServer {
  /** Answers a peer's get: from cache, else a local load, never forwarded. */
  serve(key: string, options?: GetOptions & { trace?: TraceCarrier | undefined }): Promise<ServeResult>;
  /** `serve` for a cached key, answered at once; `undefined` (nothing counted) when `serve` must be called. */
  serveCached(key: string): ServeResult | undefined;
  /** The stored bytes of a key held fresh in memory, with their remaining TTL, else `undefined`; never loads. */
  peek(key: string): PeekResult | undefined;
  /** A peer's Remove, applied here only: see `Group.remove`. */
  removeLocally(keys: readonly string[]): number;
  /** A peer's Set, applied here only: see `Group.set`. */
  setLocally(key: string, value: Uint8Array, ttlMs: number | undefined): boolean;
  /**
   * The main cache's fresh entries with a copy of their bytes and their
   * remaining TTL (0: none), most recently used first (what a leaving peer
   * hands off); nothing once closed.
   */
  mainEntries(): Generator<[key: string, value: Uint8Array, ttlMs: number]>;
  /**
   * Stores a handed-off entry in the main cache as if loaded, expiring
   * after `ttlMs` if given; `false` (not stored) when the key is already
   * held, the group is closed, or the bytes are not a value this group accepts.
   */
  storeHandoff(key: string, value: Uint8Array, ttlMs: number | undefined): boolean;
}

let serverOf: (group: Group<unknown, unknown>) => GroupServer;

/** The server half of `group` (for `GroupCache` and tests; not exported by the package). */
export function groupServer<T, In>(group: Group<T, In>): GroupServer {
  return serverOf(group as Group<unknown, unknown>);
}

export class Group<T = ByteView, In = Uint8Array | string> {
  static {
    serverOf = (group) => group.#server;
  }
  readonly name: string;
  readonly cacheBytes: number;
  readonly #options: ResolvedGroupOptions<T, In>;
  readonly #entries: EntryCodec<T, In>;
  readonly #peers: PeerPicker;
  readonly #caches: Caches<T>;
  /** Full loads: look again, ask the owner, fall back to the getter. */
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
   * map update, and local demand is served locally.
   */
  readonly #keyRate = new KeyRate();
  readonly #stats = newGroupStats();
  /** Keeps loads that began before a write of their key from caching their older value (see `LoadEpochs`). */
  readonly #epochs = new LoadEpochs();
  /** This process's part of a write: for `clusterWrite`, and for peers' Set and Remove. */
  readonly #local: LocalWriter = {
    remove: (keys) => this.#removeLocally(keys),
    set: (key, value, ttlMs) => this.#setLocally(key, value, ttlMs),
  };
  /** Telemetry, health and events, reported on misses only. */
  readonly #hooks: GroupHooks;
  readonly #server: GroupServer = {
    serve: (key, options) => this.#serve(key, options),
    serveCached: (key) => this.#serveCached(key),
    peek: (key) => this.#peek(key),
    removeLocally: (keys) => this.#local.remove(keys),
    setLocally: (key, value, ttlMs) => this.#local.set(key, value, ttlMs),
    mainEntries: () => this.#mainEntries(),
    storeHandoff: (key, value, ttlMs) => this.#storeHandoff(key, value, ttlMs),
  };
  #closed = false;

  /** Use `GroupCache.newGroup`: it checks the name is unique and gives the group its peers. */
  constructor(options: GroupOptions<T, In>, peers: PeerPicker, hooks: GroupHooks = noGroupHooks) {
    const resolved = resolveGroupOptions(options);
    this.#options = resolved;
    this.name = resolved.name;
    this.cacheBytes = resolved.cacheBytes;
    this.#entries = new EntryCodec(resolved.name, resolved.codec, resolved.maxValueBytes);
    this.#peers = peers;
    this.#caches = new Caches<T>({ ...resolved, expiring: resolved.ttlMs > 0 || resolved.notFoundTtlMs > 0 });
    this.#hooks = hooks;
  }

  /**
   * The value of `key`: from cache, from its owner, or from the getter.
   * Rejects with a `GroupCacheError`; a getter's own error is its `cause`.
   */
  get(key: string, options?: GetOptions): Promise<T> {
    // The hit path, for the usual calls (no options, or a live signal): it
    // skips the checks of the key (a key found in the cache was checked when
    // stored) and of the options, reads no clock, and on a memoized hit
    // allocates nothing. A miss is not counted here, as the key may yet be
    // invalid: everything else goes through #get.
    if (typeof key === "string" && (options === undefined || options?.signal?.aborted === false)) {
      const id = this.#caches.lookupCache(key, false);
      if (id !== undefined) {
        // #hit, written out: V8 then inlines the whole hit path into the
        // callers of get, which it did not always do through #hit.
        this.#stats.gets++;
        this.#stats.cacheHits++;
        return this.#caches.memoized(id) ?? this.#decodeHit(key, id);
      }
    }
    return this.#get(key, options);
  }

  /**
   * The values of `keys`, one result per key in their order: `{ key, ok:
   * true, value }` or `{ key, ok: false, error }`. The keys are asked for
   * together, so each owner gets them in one message; a failing key fails
   * only its own result. Rejects only for a bad call (`keys` not a list of
   * strings).
   */
  getMany(keys: Iterable<string>, options?: GetOptions): Promise<GetManyResult<T>[]> {
    return getMany((key, o) => this.get(key, o), keys, options);
  }

  /**
   * Go's `Get`: check the call, look the key up, counting the lookup, and
   * load it on a miss. A method of its own so that `get` stays small enough
   * for V8 to inline it into its callers.
   */
  #get(key: string, options: GetOptions | undefined): Promise<T> {
    let signal: AbortSignal | undefined;
    let timeoutMs: number;
    try {
      const o = optionsObject(`group "${this.name}": get options`, options);
      signal = this.#checkCall(key, o.signal);
      timeoutMs = nonNegativeNumber(`group "${this.name}": timeoutMs`, o.timeoutMs, 0);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#caches.lookupCache(key, true);
    if (id !== undefined) return this.#hit(key, id);
    const held = this.#caches.lookupHeld(key);
    if (held !== undefined) return this.#heldHit(key, held, false);
    this.#stats.gets++;
    if (timeoutMs === 0) return this.#load(key, signal, 0).then((entry) => this.#entries.valueOf(key, entry));
    const deadline = linkedSignal(
      signal,
      timeoutMs,
      () =>
        new GroupCacheError(
          "deadline-exceeded",
          `group "${this.name}": get of key ${JSON.stringify(key)} did not finish within timeoutMs (${timeoutMs} ms)`,
        ),
    );
    const loaded = this.#load(key, deadline.signal, performance.now() + timeoutMs);
    loaded.then(deadline.cleanup, deadline.cleanup);
    return loaded.then((entry) => this.#entries.valueOf(key, entry));
  }

  /**
   * A get (or, with `forPeer`, a peer's request) answered from what the
   * caches hold besides fresh values (`Caches.lookupHeld`), counted: a
   * cached not-found rejects with `not-found`; a value within its grace is
   * answered stale, and one refresh of it started if none runs.
   */
  #heldHit(key: string, id: number, forPeer: true): Promise<ServeResult>;
  #heldHit(key: string, id: number, forPeer: false): Promise<T>;
  #heldHit(key: string, id: number, forPeer: boolean): Promise<T | ServeResult> {
    if (forPeer) this.#stats.serverRequests++;
    this.#stats.gets++;
    this.#stats.cacheHits++;
    if (this.#caches.isNotFound(id)) {
      this.#stats.notFoundHits++;
      const ttlMs = this.#caches.expiresAt(id) - this.#options.clock.now();
      return Promise.reject(
        new NotFoundError(`group "${this.name}": key ${JSON.stringify(key)} not found (a cached not-found)`, { ttlMs }),
      );
    }
    this.#stats.staleHits++;
    if (forPeer) {
      // A peer's request is never forwarded: the refresh is this owner's own.
      if (!this.#localGroup.has(key)) {
        this.#localGroup
          .do(key, (_, flight) => {
            const span = this.#hooks.telemetry.load(key, undefined);
            return endWith(span, this.#loadLocally(key, flight, span));
          })
          .catch(() => {});
      }
      return Promise.resolve(this.#serveResult(id, this.#keyRate.record(key)));
    }
    if (!this.#loadGroup.has(key) && !this.#localGroup.has(key)) this.#load(key, undefined, 0).catch(() => {});
    return this.#caches.memoized(id) ?? this.#decodeHit(key, id);
  }

  /** A hit's answer, counted: the memoized promise, or the stored value decoded. */
  #hit(key: string, id: number): Promise<T> {
    this.#stats.gets++;
    this.#stats.cacheHits++;
    return this.#caches.memoized(id) ?? this.#decodeHit(key, id);
  }

  /**
   * Go's `load`, once per key at a time (singleflight): the owner's value
   * if another peer owns the key, otherwise, or if the owner failed, the
   * getter's. `deadline` (on `performance.now()`'s clock; `0`: none) is the
   * caller's, which caps the time given to the owner (see `peerShare`).
   *
   * A key this process owns needs no flight of its own around the getter's:
   * its gets join `#localGroup` directly, as peers' requests for it do
   * (unless a load that began while another peer owned it is still in
   * flight: they join that). That spares every miss on an owned key a
   * flight, its controller and its signal listener.
   */
  #load(key: string, signal: AbortSignal | undefined, deadline: number): Promise<Entry<T>> {
    this.#stats.loads++;
    const joined = this.#loadGroup.join(key, signal);
    if (joined !== undefined) return joined;
    const peer = this.#peers.pickPeer(key);
    if (peer === undefined)
      return this.#localGroup.do(key, (_, flight) => this.#loadOwned(key, flight, undefined), signal);
    return this.#loadGroup.do(key, (flightSignal) => this.#loadFromPeer(peer, key, flightSignal, deadline), signal);
  }

  /**
   * Inside `#localGroup`, the load of a key this process owns (for its own
   * gets and for peers' requests alike): looks again first, as a load
   * that finished between the caller's miss and this point has filled the
   * cache (loading again would call the getter twice and count the bytes
   * twice); else a local load.
   */
  #loadOwned(key: string, flight: AbortController, trace: TraceCarrier | undefined): Promise<Entry<T>> {
    const id = this.#caches.lookupCache(key, true);
    if (id !== undefined) {
      this.#stats.cacheHits++;
      // With its expiry: a peer's copy must not outlive this one.
      const entry = this.#entries.fromBytes(key, this.#caches.view(id));
      return Promise.resolve({ ...entry, expiresAt: this.#caches.expiresAt(id) });
    }
    this.#stats.loadsDeduped++;
    const span = this.#hooks.telemetry.load(key, trace);
    return endWith(span, this.#loadLocally(key, flight, span));
  }

  /**
   * Inside `#loadGroup`, the load of a key another peer owns: looks again
   * (see `#loadOwned`), then asks the owner, and loads the key here if that
   * failed.
   */
  #loadFromPeer(peer: PeerGetter, key: string, signal: AbortSignal, deadline: number): Promise<Entry<T>> {
    const id = this.#caches.lookupCache(key, true);
    if (id !== undefined) {
      this.#stats.cacheHits++;
      return Promise.resolve(this.#entries.fromBytes(key, this.#caches.view(id)));
    }
    this.#stats.loadsDeduped++;
    const span = this.#hooks.telemetry.load(key, undefined);
    return endWith(span, this.#fetchOrLoadLocally(peer, key, signal, deadline, span));
  }

  /** The owner's value, else (it failed) a local load within what is left of `getterTimeoutMs`. */
  async #fetchOrLoadLocally(
    peer: PeerGetter,
    key: string,
    signal: AbortSignal,
    deadline: number,
    span: TelemetrySpan,
  ): Promise<Entry<T>> {
    const asked = performance.now();
    const fetched = await this.#getFromPeer(peer, key, signal, this.#peerBudget(deadline), span);
    if (fetched !== undefined) return fetched;
    const timeoutMs = this.#fallbackTimeoutMs(key, performance.now() - asked);
    return this.#localGroup.do(key, (_, flight) => this.#loadLocally(key, flight, span, timeoutMs), signal);
  }

  /**
   * Asks the key's owner. Returns its value, mirrored into the hot cache
   * when the hot policy says so, or `undefined` when the owner failed or
   * answered something unusable (a peer error: the caller loads the key
   * itself). Throws the owner's `not-found`, as the getter here would say
   * the same, and `canceled` when nobody waits any more.
   */
  async #getFromPeer(
    peer: PeerGetter,
    key: string,
    signal: AbortSignal,
    budgetMs: number,
    load: TelemetrySpan,
  ): Promise<Entry<T> | undefined> {
    // One async function for the epoch and the fetch: its state lives as
    // long as the owner takes to answer, for every key fetched.
    const epoch = this.#epochs.begin(key);
    try {
      // The owner's remaining TTL counts from its answer; counted from before
      // the call, a copy here expires no later than the owner's.
      const sentAt = this.#options.clock.now();
      const peerId = peer.id ?? "unknown";
      const span = this.#hooks.telemetry.peerGet(load, peerId, key);
      let result: PeerGetResult;
      const capped = budgetMs > 0 ? linkedSignal(signal, budgetMs) : undefined;
      try {
        const trace = span.carrier;
        const callSignal = capped?.signal ?? signal;
        result = await peer.get(
          this.name,
          key,
          trace === undefined ? { signal: callSignal } : { signal: callSignal, trace },
        );
      } catch (error) {
        span.end(error);
        // Nobody is waiting any more: not the peer's fault, and no fallback.
        throwIfAborted(signal, `group "${this.name}"`);
        if (error instanceof GroupCacheError && error.code === "not-found") {
          // A not-found the owner caches: so does this peer, for no longer.
          const ttlMs = (error as NotFoundError).ttlMs;
          if (ttlMs !== undefined && ttlMs > 0 && this.#epochs.current(key, epoch)) {
            this.#caches.populateNotFound(key, "hot", sentAt + ttlMs);
          }
          throw error;
        }
        // Includes the owner's share of the caller's budget running out: the rest is for the getter.
        this.#peerError(peerId, GroupCacheError.from(error, "unavailable", `peer ${peerId}`));
        return undefined;
      } finally {
        capped?.cleanup();
      }
      const entry = this.#entries.fromPeer(result?.value);
      if (entry === undefined) {
        const tooLarge = result?.value instanceof Uint8Array;
        const error = new GroupCacheError(
          tooLarge ? "resource-exhausted" : "internal",
          tooLarge
            ? `group "${this.name}": peer ${peerId} sent a value of ${result.value.byteLength} bytes, over maxValueBytes`
            : `group "${this.name}": peer ${peerId} sent no bytes`,
        );
        span.end(error);
        if (tooLarge)
          this.#hooks.emit({
            type: "value-too-large",
            level: "warn",
            group: this.name,
            source: "peer",
            message: error.message,
          });
        this.#peerError(peerId, error);
        return undefined;
      }
      span.end();
      this.#hooks.health.peerOk(peerId, this.name);
      this.#stats.peerLoads++;
      const expiresAt = this.#peerExpiry(result, sentAt);
      if (expiresAt === undefined) return entry;
      const mirror = this.#options.hotPolicy({
        group: this.name,
        key,
        value: entry.bytes,
        minuteQps: result.minuteQps,
      });
      if (mirror) return this.#populateCache(key, { ...entry, expiresAt }, "hot", epoch);
      // A stale copy this load refreshed, not replaced: gone, so later gets ask the owner.
      if (this.#caches.expiring) this.#caches.remove(key);
      return entry;
    } finally {
      this.#epochs.end(key);
    }
  }

  /**
   * When a copy of a value a peer answered with `ttl`, asked at `sentAt`,
   * expires here: when the owner's does (or earlier, by the call's
   * duration). With no TTL known (a Go peer, an older one, a value without
   * TTL), after this group's own `ttlMs`, if any. `undefined`: not to be
   * kept, an expired value whose grace this group does not give.
   */
  #peerExpiry(ttl: RemainingTtl, sentAt: number): number | undefined {
    const ttlMs = ttl.ttlMs ?? 0;
    const staleMs = ttl.staleMs ?? 0;
    if (ttlMs > 0) return sentAt + ttlMs;
    if (staleMs <= 0) return this.#expiresAfter(undefined);
    // Expired on the owner, within its grace: stale here until the owner's grace ends.
    const ownStaleMs = this.#options.staleMs;
    return ownStaleMs > 0 ? Math.max(Number.MIN_VALUE, sentAt + Math.min(staleMs, ownStaleMs) - ownStaleMs) : undefined;
  }

  /**
   * When a value loaded now with TTL `ttlMs` expires: after `ttlMs` less
   * a random share of up to `ttlJitter` of it, so values loaded together
   * expire apart. `ttlMs` unset: the group's `ttlMs`, and `Infinity`
   * (never) when that is 0.
   */
  #expiresAfter(ttlMs: number | undefined): number {
    const ttl = ttlMs ?? this.#options.ttlMs;
    if (ttl <= 0) return Number.POSITIVE_INFINITY;
    return this.#options.clock.now() + ttl * (1 - this.#options.ttlJitter * Math.random());
  }

  /**
   * Caches `entry`, a value just loaded (or written), encoded and accepted,
   * as `key` in cache `which` with TTL `ttlMs`: unset, the group's `ttlMs`
   * (none if it has none); `0`, not cached at all (the value is for its
   * waiters only); jitter applied (see `#expiresAfter`). Returns what its
   * waiters receive. The one way a value enters the caches with a TTL of
   * this process's choosing; copies from peers (mirrors, peeks) keep the
   * owner's expiry instead.
   */
  #insert(key: string, entry: Entry<T>, which: CacheType, ttlMs: number | undefined, epoch: number): Entry<T> {
    if (ttlMs === 0) return entry;
    const expiresAt = this.#expiresAfter(ttlMs);
    return this.#populateCache(
      key,
      expiresAt === Number.POSITIVE_INFINITY ? entry : { ...entry, expiresAt },
      which,
      epoch,
    );
  }

  /**
   * The getter's timeout for a load whose owner failed after `spentMs`:
   * what is left of `getterTimeoutMs`. A load's whole budget, owner and
   * fallback together, is one `getterTimeoutMs`: an owner whose getter
   * hung until its own `getterTimeoutMs` leaves nothing, and the load fails
   * with `deadline-exceeded` rather than wait as long again on a second
   * getter call (the backend that hung there would likely hang here too).
   */
  #fallbackTimeoutMs(key: string, spentMs: number): number {
    const { getterTimeoutMs } = this.#options;
    if (getterTimeoutMs === 0) return 0;
    const left = getterTimeoutMs - spentMs;
    if (left >= 1) return left;
    throw new GroupCacheError(
      "deadline-exceeded",
      `group "${this.name}": the owner of key ${JSON.stringify(key)} failed after ${Math.round(spentMs)} ms, leaving nothing of getterTimeoutMs (${getterTimeoutMs} ms) for a local load`,
    );
  }

  /**
   * How long the owner may take for a load whose caller's deadline is
   * `deadline` (`0`: none, and then no cap): `peerShare` of what is left of
   * it, so the getter has the rest if the owner does not answer.
   */
  #peerBudget(deadline: number): number {
    const share = this.#peers.peerShare ?? 0;
    if (deadline === 0 || share === 0) return 0;
    return Math.max(1, (deadline - performance.now()) * share);
  }

  /** A failed fetch from `peer`: counted (`peerErrors`), told to health, and reported as an event. */
  #peerError(peer: string, error: GroupCacheError): void {
    this.#stats.peerErrors++;
    this.#hooks.health.peerFailed(peer, this.name, error);
    this.#hooks.emit({
      type: "peer-error",
      level: "warn",
      peer,
      group: this.name,
      code: error.code,
      cause: error,
      message: `group "${this.name}": fetch from peer ${peer} failed (${error.code}: ${error.message}); loading locally`,
    });
  }

  /**
   * A load by this process, inside `#localGroup` (so both its own gets and
   * peers' requests go through here): after a ring change, the key's
   * previous owners are peeked first, and a value one still holds is cached
   * as if loaded; otherwise, and always when no ring changed recently, the
   * getter (`#getLocally`).
   */
  #loadLocally(
    key: string,
    flight: AbortController,
    load: TelemetrySpan,
    timeoutMs = this.#options.getterTimeoutMs,
  ): Promise<Entry<T>> {
    const previous = this.#peers.pickPrevious?.(key);
    if (previous === undefined || previous.length === 0) return this.#getLocally(key, flight, load, timeoutMs);
    return this.#peekPrevious(previous, key, flight.signal).then(
      (entry) => entry ?? this.#getLocally(key, flight, load, timeoutMs),
    );
  }

  /**
   * Asks each previous owner in turn for the key from its memory, each for
   * at most the picker's `peekTimeoutMs` (a peek only spares a backend
   * load: a get must not wait long on it). The first usable answer is
   * stored in the main cache, as a load's; `undefined` when none had it.
   */
  async #peekPrevious(
    previous: readonly PeerGetter[],
    key: string,
    signal: AbortSignal,
  ): Promise<Entry<T> | undefined> {
    const epoch = this.#epochs.begin(key);
    try {
      return await this.#peekEach(previous, key, signal, epoch);
    } finally {
      this.#epochs.end(key);
    }
  }

  /** `#peekPrevious` inside its epoch (see `LoadEpochs`). */
  async #peekEach(
    previous: readonly PeerGetter[],
    key: string,
    signal: AbortSignal,
    epoch: number,
  ): Promise<Entry<T> | undefined> {
    const timeoutMs = this.#peers.peekTimeoutMs ?? 0;
    for (const peer of previous) {
      if (peer.peek === undefined || signal.aborted) continue;
      this.#stats.peeks++;
      const linked = linkedSignal(signal, timeoutMs);
      const sentAt = this.#options.clock.now();
      let peeked: PeekResult | undefined;
      try {
        // Raced with the signal: a peer whose peek ignores it must not hold the get.
        peeked = await raceSignal(peer.peek(this.name, key, { signal: linked.signal }), linked.signal, "");
      } catch {
        peeked = undefined;
      } finally {
        linked.abort();
        linked.cleanup();
      }
      const entry = this.#entries.fromPeer(peeked?.value);
      const expiresAt = peeked === undefined ? undefined : this.#peerExpiry(peeked, sentAt);
      if (entry === undefined || expiresAt === undefined) continue;
      this.#stats.peekHits++;
      // The previous owner's copy keeps its expiry: moving does not make it fresh.
      return this.#populateCache(
        key,
        expiresAt === Number.POSITIVE_INFINITY ? entry : { ...entry, expiresAt },
        "main",
        epoch,
      );
    }
    return undefined;
  }

  /**
   * Go's `getLocally`: calls the getter, and caches its value in the main
   * cache. Runs inside `#localGroup`. Its waiters are released with
   * `deadline-exceeded` once `timeoutMs` ran out (`getterTimeoutMs`, or
   * what an owner that failed left of it); a value that
   * arrives later is still cached.
   */
  #getLocally(key: string, flight: AbortController, load: TelemetrySpan, timeoutMs: number): Promise<Entry<T>> {
    const { getterTimeoutMs } = this.#options;
    const span = this.#hooks.telemetry.getter(load, key);
    let failed = false;
    const fail = (error: GroupCacheError): GroupCacheError => {
      if (!failed) {
        failed = true;
        this.#stats.localLoadErrs++;
        span.end(error);
        if (error.code === "resource-exhausted") {
          this.#hooks.emit({
            type: "value-too-large",
            level: "warn",
            group: this.name,
            source: "getter",
            message: error.message,
          });
        }
      }
      return error;
    };
    const timedOut = (reason: unknown) => {
      const budget =
        timeoutMs === getterTimeoutMs
          ? `getterTimeoutMs (${getterTimeoutMs} ms)`
          : `the ${Math.round(timeoutMs)} ms its owner left of getterTimeoutMs (${getterTimeoutMs} ms)`;
      this.#hooks.emit({
        type: "getter-timeout",
        level: "warn",
        group: this.name,
        timeoutMs,
        message: `group "${this.name}": getter did not finish within ${budget}`,
      });
      return fail(
        new GroupCacheError(
          "deadline-exceeded",
          `group "${this.name}": getter did not finish within ${budget} for key ${JSON.stringify(key)}`,
          { cause: reason },
        ),
      );
    };
    const call = (loadSignal: AbortSignal): Promise<Entry<T>> => {
      // The epoch spans the getter call and the insert, even one after the
      // deadline released the waiters: a late value is still cached, unless
      // a write of the key came in meanwhile.
      const epoch = this.#epochs.begin(key);
      const context: GetterContext = { signal: loadSignal, group: this.name };
      return new Promise<In>((resolve) => resolve(this.#options.getter(key, context)))
        .then(
          (value) => {
            let entry: Entry<T>;
            let ttlMs: number | undefined;
            try {
              entry = this.#entries.fromGetter(key, value);
              ttlMs = context.ttlMs;
              if (ttlMs !== undefined) ttlMs = nonNegativeNumber(`group "${this.name}": getter's ttlMs`, ttlMs, 0);
            } catch (error) {
              throw fail(error as GroupCacheError);
            }
            this.#stats.localLoads++;
            if (!failed) span.end();
            return this.#insert(key, entry, "main", ttlMs, epoch);
          },
          (error: unknown) => {
            throw fail(this.#notFound(key, this.#getterError(key, error), epoch));
          },
        )
        .finally(() => this.#epochs.end(key));
    };
    // The getter gets the flight's own signal, which the deadline fires:
    // it fires otherwise only once nobody waits for the load, so a getter
    // call costs no controller, listener or race of its own.
    return timeoutMs > 0 ? withDeadline(flight, timeoutMs, timedOut, call) : call(flight.signal);
  }

  /**
   * A getter's `error`, as its waiters receive it; for a not-found, what
   * the caches keep of the key: cached as not found for `notFoundTtlMs`
   * (the error then says for how long, for peers), else no stale copy.
   * Nothing is cached if a write of the key came in since the load began at `epoch`.
   */
  #notFound(key: string, error: GroupCacheError, epoch: number): GroupCacheError {
    if (error.code !== "not-found" || !this.#caches.expiring) return error;
    const ttlMs = this.#options.notFoundTtlMs;
    if (!this.#epochs.current(key, epoch)) return error;
    if (ttlMs <= 0) {
      this.#caches.remove(key);
      return error;
    }
    this.#caches.populateNotFound(key, "main", this.#options.clock.now() + ttlMs);
    return new NotFoundError(error.message, { cause: error, ttlMs });
  }

  /**
   * Caches a loaded entry in cache `which` (Go's `populateCache`, see
   * `Caches`), unless a write of the key came in since the load began at
   * `epoch` (then its waiters get the value, and the cache keeps the
   * write's). Returns the entry; for shared values, remembers it as the
   * key's hit answer. Its waiters receive the load's own bytes (a private
   * copy), not a view of the stored ones, so that a slab whose values are
   * evicted before anyone reads them from the cache can be written over
   * rather than left to the garbage collector (see `SlabStore`).
   */
  #populateCache(key: string, entry: Entry<T>, which: CacheType, epoch: number): Entry<T> {
    if (!this.#epochs.current(key, epoch)) return entry;
    const id = this.#caches.populateCache(key, entry.bytes, which, entry.expiresAt);
    if (id !== undefined && this.#entries.shared) this.#caches.memoizeLoad(id, Promise.resolve(entry.value as T));
    return entry;
  }

  /**
   * Answers a get that came from a peer: from cache, else by a local load,
   * never forwarded to another peer. Forwarding would let two peers whose
   * member lists differ send a key back and forth forever. Returns the stored
   * bytes themselves (a view into the cache's storage: the caller must not
   * write to them) and the key's request rate here, per minute, for the
   * response's `minute_qps`.
   *
   * For transports, through `GroupCache.serve`; applications call {@link get}.
   */
  #serve(key: string, options?: GetOptions & { trace?: TraceCarrier | undefined }): Promise<ServeResult> {
    let signal: AbortSignal | undefined;
    try {
      signal = this.#checkCall(key, options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#caches.lookupCache(key, true);
    if (id !== undefined) return Promise.resolve(this.#serveHit(key, id));
    const held = this.#caches.lookupHeld(key);
    if (held !== undefined) return this.#heldHit(key, held, true);
    this.#stats.serverRequests++;
    this.#stats.gets++;
    const minuteQps = this.#keyRate.record(key);
    this.#stats.loads++;
    const value = this.#localGroup.do(key, (_, flight) => this.#loadOwned(key, flight, options?.trace), signal);
    return value.then((entry) => this.#withTtl<ServeResult>({ value: entry.bytes, minuteQps }, entry.expiresAt));
  }

  /** `result` with the remaining TTL of a value expiring at `expiresAt` (if any: else as it is). */
  #withTtl<R extends RemainingTtl>(result: R, expiresAt: number | undefined): R {
    if (expiresAt === undefined || expiresAt === Number.POSITIVE_INFINITY) return result;
    const left = expiresAt - this.#options.clock.now();
    const staleMs = this.#options.staleMs;
    if (left > 0) {
      result.ttlMs = left;
      if (staleMs > 0) result.staleMs = staleMs;
    } else if (staleMs > 0 && left + staleMs > 0) {
      result.staleMs = left + staleMs;
    }
    return result;
  }

  /** What a peer is answered for cached entry `id`: its bytes, the key's rate, and its remaining TTL. */
  #serveResult(id: number, minuteQps: number): ServeResult {
    const result: ServeResult = { value: this.#caches.view(id), minuteQps };
    return this.#caches.expiring ? this.#withTtl(result, this.#caches.expiresAt(id)) : result;
  }

  /**
   * `serve` for a key that is cached, answered at once: its result,
   * counted exactly as `serve` counts a hit, or `undefined` (nothing
   * counted) when `serve` must be called. Spares a transport the promise
   * and the cancellation state of a key that needs neither, and most keys
   * a peer asks for are hits. The key needs no validation: a key found in
   * the cache was validated when it was stored.
   */
  #serveCached(key: string): ServeResult | undefined {
    if (typeof key !== "string") return undefined;
    const id = this.#caches.lookupCache(key, false);
    return id === undefined ? undefined : this.#serveHit(key, id);
  }

  /**
   * A key's stored bytes if this process holds it in memory (main or hot
   * cache), else `undefined`: for a peer's Peek after a ring change. Never
   * loads, and is not counted as a get (the caches count it as a lookup).
   * A view into the cache's storage: the caller must not write to it.
   */
  #peek(key: string): PeekResult | undefined {
    if (typeof key !== "string" || this.#closed) return undefined;
    const id = this.#caches.lookupCache(key, false);
    if (id === undefined) return undefined;
    const result: PeekResult = { value: this.#caches.view(id) };
    return this.#caches.expiring ? this.#withTtl(result, this.#caches.expiresAt(id)) : result;
  }

  *#mainEntries(): Generator<[key: string, value: Uint8Array, ttlMs: number]> {
    for (const [key, id] of this.#caches.entries("main")) {
      if (this.#closed) return;
      const expiresAt = this.#caches.expiresAt(id);
      const ttlMs = expiresAt === Number.POSITIVE_INFINITY ? 0 : expiresAt - this.#options.clock.now();
      // A copy: the caches may evict (and reuse) the stored bytes while the
      // handoff is on its way.
      yield [key, this.#caches.view(id).slice(), ttlMs];
    }
  }

  /**
   * A handed-off entry, stored as a load's would be (memory only, never
   * forwarded). A key already held keeps its value: it is at least as
   * fresh, and replacing it would only churn the caches.
   */
  #storeHandoff(key: string, value: Uint8Array, ttlMs: number | undefined): boolean {
    if (this.#closed || typeof key !== "string" || !key.isWellFormed()) return false;
    if (this.#caches.lookupCache(key, false) !== undefined) return false;
    const entry = this.#entries.fromPeer(value);
    if (entry === undefined) return false;
    // The bytes are a view into the request's buffer: the caches copy them
    // into their own storage (and nothing is memoized, which would keep the
    // whole request alive). A value that expires keeps its remaining TTL;
    // one without (an older peer) gets this group's, as a peer's copy does.
    const expiresAt =
      ttlMs !== undefined && ttlMs > 0 ? this.#options.clock.now() + ttlMs : this.#expiresAfter(undefined);
    if (this.#caches.populateCache(key, entry.bytes, "main", expiresAt) === undefined) return false;
    this.#stats.handoffsStored++;
    return true;
  }

  /** A peer's hit, counted. */
  #serveHit(key: string, id: number): ServeResult {
    this.#stats.serverRequests++;
    this.#stats.gets++;
    this.#stats.cacheHits++;
    return this.#serveResult(id, this.#keyRate.record(key));
  }

  /** A snapshot of the group's counters. */
  get stats(): GroupStats {
    return { ...this.#stats };
  }

  /** A snapshot of one cache's counters. */
  cacheStats(which: CacheType): CacheStats {
    return this.#caches.stats(which);
  }

  /**
   * Removes `key` across the cluster: from its owner first, then from every
   * other peer's hot cache (and this process's). Loads of the key already
   * in flight anywhere the remove arrives do not cache what they bring, and
   * gets that start after it load anew. Resolves with one row per peer
   * (`reached`, `removed`, or the `error` that kept it from being reached:
   * a peer without the Remove RPC answers `unimplemented`, one that does
   * not accept writes `permission-denied`); rejects only for a bad key, a
   * closed group or the caller's `signal`. Peers accept writes only when
   * configured to (`writes.invalidation`); see the README on versioned keys
   * first.
   */
  remove(key: string, options?: WriteOptions): Promise<WriteResult> {
    return this.removeKeys([key], options);
  }

  /** {@link remove} for many keys: each owner gets its keys in one request, then every peer the others. */
  removeKeys(keys: Iterable<string>, options?: WriteOptions): Promise<WriteResult> {
    let write: ClusterWrite;
    let signal: AbortSignal | undefined;
    try {
      const list = [...new Set(stringList(`group "${this.name}": removeKeys keys`, keys))];
      signal = this.#checkWrite(list, optionsObject(`group "${this.name}": remove options`, options).signal);
      write = { kind: "remove", keys: list };
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#write(write, signal);
  }

  /**
   * Stores `value` as `key`'s on its owner (encoded by the group's codec,
   * in place of what it held and of loads in flight there), then drops the
   * copies every other peer holds, as {@link remove}. `ttlMs`: how long it
   * lives on the owner. Resolves with one row per peer; the owner's says
   * whether it `stored` the value.
   */
  set(key: string, value: In, options?: SetOptions): Promise<WriteResult> {
    let write: ClusterWrite;
    let signal: AbortSignal | undefined;
    try {
      const o = optionsObject(`group "${this.name}": set options`, options);
      signal = this.#checkWrite([key], o.signal);
      const ttlMs = o.ttlMs === undefined ? undefined : positiveNumber(`group "${this.name}": set ttlMs`, o.ttlMs, 0);
      write = { kind: "set", key, value: this.#entries.fromGetter(key, value, "set was given").bytes, ttlMs };
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#write(write, signal);
  }

  /** Runs a write through the picker (`GroupCache`: across the cluster), or here alone without one. */
  #write(write: ClusterWrite, signal: AbortSignal | undefined): Promise<WriteResult> {
    const local = this.#local;
    return (
      this.#peers.write?.({ group: this.name, write, local, signal }) ??
      clusterWrite(
        this.name,
        write,
        [{ id: "local", self: true, former: false, client: undefined }],
        () => "local",
        local,
        signal,
      )
    );
  }

  /**
   * Applies a remove here: drops each key from both caches, keeps the loads
   * of it in flight from caching their value, and detaches them from the
   * gets that start from now on (which load anew). Returns how many of the
   * keys were held.
   */
  #removeLocally(keys: readonly string[]): number {
    let removed = 0;
    for (const key of keys) {
      if (typeof key !== "string") continue;
      this.#invalidate(key);
      if (this.#caches.remove(key)) removed++;
    }
    return removed;
  }

  /**
   * Applies a set here: the key's loads in flight are invalidated as by a
   * remove, then `value` is stored in the main cache. Throws
   * `invalid-argument` for a bad key or a value the codec cannot decode,
   * `resource-exhausted` for one over `maxValueBytes`.
   */
  #setLocally(key: string, value: Uint8Array, ttlMs: number | undefined): boolean {
    validateKey(key, this.name);
    if (value instanceof Uint8Array && value.byteLength > this.#options.maxValueBytes) {
      throw new GroupCacheError(
        "resource-exhausted",
        `group "${this.name}": set of ${value.byteLength} bytes for key ${JSON.stringify(key)}, over maxValueBytes ${this.#options.maxValueBytes}`,
      );
    }
    const entry = this.#entries.fromPeer(value);
    if (entry === undefined) {
      throw new GroupCacheError(
        "invalid-argument",
        `group "${this.name}": set for key ${JSON.stringify(key)} carries a value the group's codec cannot decode`,
      );
    }
    this.#invalidate(key);
    this.#caches.remove(key);
    return this.#storeWritten(key, entry, ttlMs);
  }

  /**
   * Stores a set's value in the main cache, expiring after `ttlMs` (unset:
   * the group's `ttlMs`, with its jitter; neither: never).
   */
  #storeWritten(key: string, entry: Entry<T>, ttlMs: number | undefined): boolean {
    return this.#caches.populateCache(key, entry.bytes, "main", this.#expiresAfter(ttlMs)) !== undefined;
  }

  /** A write of `key` here: its loads in flight become stale and are detached from later gets. */
  #invalidate(key: string): void {
    this.#epochs.bump(key);
    this.#loadGroup.forget(key);
    this.#localGroup.forget(key);
  }

  /** Checks a write's keys and signal, and that the group is open; returns the signal. */
  #checkWrite(keys: readonly string[], signal: unknown): AbortSignal | undefined {
    for (const key of keys) validateKey(key, this.name);
    return this.#checkSignal(signal);
  }

  /** Checks a call's signal, and that the group is open; returns the signal. */
  #checkSignal(signal: unknown): AbortSignal | undefined {
    const checked = signalOption(`group "${this.name}": signal`, signal);
    if (this.#closed) throw new GroupCacheError("closed", `group "${this.name}" is closed`);
    throwIfAborted(checked, `group "${this.name}"`);
    return checked;
  }

  /**
   * Refuses every later `get` and `serve` with `closed` (and `serveCached`
   * answers nothing), and empties the caches; loads in flight finish for
   * their waiters without caching. Values already returned stay valid.
   * `GroupCache.close` closes its groups.
   */
  close(): void {
    this.#closed = true;
    // An empty cache sends every get to #get, which checks #closed: the hit
    // path needs no check of its own.
    this.#caches.close();
  }

  /** Checks a get's key and signal, and that the group is open; returns the signal. */
  #checkCall(key: string, signal: unknown): AbortSignal | undefined {
    validateKey(key, this.name);
    return this.#checkSignal(signal);
  }

  /** A getter's failure as the `GroupCacheError` its waiters receive. */
  #getterError(key: string, error: unknown): GroupCacheError {
    return error instanceof GroupCacheError
      ? error
      : GroupCacheError.from(
          error,
          "load-failed",
          `group "${this.name}": getter failed for key ${JSON.stringify(key)}`,
        );
  }

  /** Decodes a hit's stored value; remembers the promise when values are shared and the key is hit repeatedly. */
  #decodeHit(key: string, id: number): Promise<T> {
    let value: T;
    try {
      value = this.#caches.decode(id, this.#entries.codec);
    } catch (error) {
      return Promise.reject(this.#entries.decodeError(key, error));
    }
    const promise = Promise.resolve(value);
    if (this.#entries.shared) this.#caches.memoizeHit(id, promise);
    return promise;
  }
}
