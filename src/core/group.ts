import type { ByteView } from "./byteview.ts";
import { type CacheStats, Caches, type CacheType } from "./caches.ts";
import { type Entry, EntryCodec } from "./entry-codec.ts";
import { GroupCacheError } from "./errors.ts";
import { type GroupHooks, noGroupHooks } from "./group-hooks.ts";
import { type GetOptions, type GroupOptions, type ResolvedGroupOptions, resolveGroupOptions } from "./group-options.ts";
import { type GroupStats, newGroupStats } from "./group-stats.ts";
import { KeyRate } from "./key-rate.ts";
import { describe, optionsObject, signalOption } from "./options.ts";
import type { PeerGetResult, PeerGetter, PeerPicker, ServeResult } from "./peers.ts";
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
  /** The stored bytes of a key held in memory, else `undefined`; never loads. */
  peek(key: string): Uint8Array | undefined;
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
  /** Telemetry, health and events, reported on misses only. */
  readonly #hooks: GroupHooks;
  readonly #server: GroupServer = {
    serve: (key, options) => this.#serve(key, options),
    serveCached: (key) => this.#serveCached(key),
    peek: (key) => this.#peek(key),
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
    this.#caches = new Caches<T>(resolved);
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
   * Go's `Get`: check the call, look the key up, counting the lookup, and
   * load it on a miss. A method of its own so that `get` stays small enough
   * for V8 to inline it into its callers.
   */
  #get(key: string, options: GetOptions | undefined): Promise<T> {
    let signal: AbortSignal | undefined;
    try {
      signal = this.#checkCall(key, optionsObject(`group "${this.name}": get options`, options).signal);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#caches.lookupCache(key, true);
    if (id !== undefined) return this.#hit(key, id);
    this.#stats.gets++;
    return this.#load(key, signal).then((entry) => this.#entries.valueOf(key, entry));
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
   * getter's.
   */
  #load(key: string, signal: AbortSignal | undefined): Promise<Entry<T>> {
    this.#stats.loads++;
    return this.#loadGroup.do(
      key,
      async (flightSignal) => {
        // Look again inside the flight: a load that finished between our
        // cache miss and this point has filled the cache. Loading again
        // would call the getter twice and count the bytes twice.
        const id = this.#caches.lookupCache(key, true);
        if (id !== undefined) {
          this.#stats.cacheHits++;
          return this.#entries.fromBytes(key, this.#caches.view(id));
        }
        this.#stats.loadsDeduped++;
        const span = this.#hooks.telemetry.load(key, undefined);
        return endWith(span, this.#loadFromPeerOrLocally(key, flightSignal, span));
      },
      signal,
    );
  }

  /** Inside a load's flight: the owner's value if another peer owns the key, else (or if it failed) a local load. */
  async #loadFromPeerOrLocally(key: string, signal: AbortSignal, span: TelemetrySpan): Promise<Entry<T>> {
    const peer = this.#peers.pickPeer(key);
    const fetched = peer === undefined ? undefined : await this.#getFromPeer(peer, key, signal, span);
    return fetched ?? this.#localGroup.do(key, (loadSignal) => this.#loadLocally(key, loadSignal, span), signal);
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
    load: TelemetrySpan,
  ): Promise<Entry<T> | undefined> {
    const peerId = peer.id ?? "unknown";
    const span = this.#hooks.telemetry.peerGet(load, peerId, key);
    let result: PeerGetResult;
    try {
      const trace = span.carrier;
      result = await peer.get(this.name, key, trace === undefined ? { signal } : { signal, trace });
    } catch (error) {
      span.end(error);
      // Nobody is waiting any more: not the peer's fault, and no fallback.
      throwIfAborted(signal, `group "${this.name}"`);
      if (error instanceof GroupCacheError && error.code === "not-found") throw error;
      this.#peerError(peerId, GroupCacheError.from(error, "unavailable", `peer ${peerId}`));
      return undefined;
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
    const mirror = this.#options.hotPolicy({ group: this.name, key, value: entry.bytes, minuteQps: result.minuteQps });
    return mirror ? this.#populateCache(key, entry, "hot") : entry;
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
  #loadLocally(key: string, signal: AbortSignal, load: TelemetrySpan): Promise<Entry<T>> {
    const previous = this.#peers.pickPrevious?.(key);
    if (previous === undefined || previous.length === 0) return this.#getLocally(key, signal, load);
    return this.#peekPrevious(previous, key, signal).then((entry) => entry ?? this.#getLocally(key, signal, load));
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
    const timeoutMs = this.#peers.peekTimeoutMs ?? 0;
    for (const peer of previous) {
      if (peer.peek === undefined || signal.aborted) continue;
      this.#stats.peeks++;
      const linked = linkedSignal(signal, timeoutMs);
      let bytes: Uint8Array | undefined;
      try {
        // Raced with the signal: a peer whose peek ignores it must not hold the get.
        bytes = await raceSignal(peer.peek(this.name, key, { signal: linked.signal }), linked.signal, "");
      } catch {
        bytes = undefined;
      } finally {
        linked.abort();
        linked.cleanup();
      }
      const entry = this.#entries.fromPeer(bytes);
      if (entry === undefined) continue;
      this.#stats.peekHits++;
      return this.#populateCache(key, entry, "main");
    }
    return undefined;
  }

  /**
   * Go's `getLocally`: calls the getter, and caches its value in the main
   * cache. Runs inside `#localGroup`. Its waiters are released with
   * `deadline-exceeded` once `getterTimeoutMs` ran out; a value that
   * arrives later is still cached.
   */
  #getLocally(key: string, signal: AbortSignal, load: TelemetrySpan): Promise<Entry<T>> {
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
      this.#hooks.emit({
        type: "getter-timeout",
        level: "warn",
        group: this.name,
        timeoutMs: getterTimeoutMs,
        message: `group "${this.name}": getter did not finish within getterTimeoutMs (${getterTimeoutMs} ms)`,
      });
      return fail(
        new GroupCacheError(
          "deadline-exceeded",
          `group "${this.name}": getter did not finish within getterTimeoutMs (${getterTimeoutMs} ms) for key ${JSON.stringify(key)}`,
          { cause: reason },
        ),
      );
    };
    return withDeadline(signal, getterTimeoutMs, timedOut, (loadSignal) =>
      new Promise<In>((resolve) => resolve(this.#options.getter(key, { signal: loadSignal, group: this.name }))).then(
        (value) => {
          let entry: Entry<T>;
          try {
            entry = this.#entries.fromGetter(key, value);
          } catch (error) {
            throw fail(error as GroupCacheError);
          }
          this.#stats.localLoads++;
          if (!failed) span.end();
          return this.#populateCache(key, entry, "main");
        },
        (error: unknown) => {
          throw fail(this.#getterError(key, error));
        },
      ),
    );
  }

  /**
   * Caches a loaded entry in cache `which` (Go's `populateCache`, see
   * `Caches`). Returns what its waiters receive: for a codec with
   * `decodeRange`, the value over the stored copy, so the load's own bytes
   * can be collected; and, for shared values, remembers it as the key's hit
   * answer.
   */
  #populateCache(key: string, entry: Entry<T>, which: CacheType): Entry<T> {
    const id = this.#caches.populateCache(key, entry.bytes, which);
    if (id === undefined || !this.#entries.shared) return entry;
    const value = this.#entries.cachedValue(this.#caches, id, entry);
    this.#caches.memoizeLoad(id, Promise.resolve(value));
    return { bytes: entry.bytes, value };
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
    this.#stats.serverRequests++;
    this.#stats.gets++;
    const minuteQps = this.#keyRate.record(key);
    this.#stats.loads++;
    const value = this.#localGroup.do(
      key,
      (loadSignal) => {
        // Same look again as in #load: a load may have finished just before.
        const again = this.#caches.lookupCache(key, true);
        if (again !== undefined) {
          this.#stats.cacheHits++;
          return { bytes: this.#caches.view(again), value: undefined };
        }
        this.#stats.loadsDeduped++;
        const span = this.#hooks.telemetry.load(key, options?.trace);
        return endWith(span, this.#loadLocally(key, loadSignal, span));
      },
      signal,
    );
    return value.then((entry) => ({ value: entry.bytes, minuteQps }));
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
  #peek(key: string): Uint8Array | undefined {
    if (typeof key !== "string" || this.#closed) return undefined;
    const id = this.#caches.lookupCache(key, false);
    return id === undefined ? undefined : this.#caches.view(id);
  }

  /** A peer's hit, counted. */
  #serveHit(key: string, id: number): ServeResult {
    this.#stats.serverRequests++;
    this.#stats.gets++;
    this.#stats.cacheHits++;
    return { value: this.#caches.view(id), minuteQps: this.#keyRate.record(key) };
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
   * Drops `key` from this process's caches only. Other peers keep their copy
   * (values are immutable: version keys rather than invalidating them).
   */
  remove(key: string): boolean {
    return this.#caches.remove(key);
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
    const checked = signalOption(`group "${this.name}": signal`, signal);
    if (this.#closed) throw new GroupCacheError("closed", `group "${this.name}" is closed`);
    throwIfAborted(checked, `group "${this.name}"`);
    return checked;
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
