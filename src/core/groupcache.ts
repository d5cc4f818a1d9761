import type { ByteView } from "./byteview.ts";
import { ClusterHealth, type HealthProblem } from "./cluster-health.ts";
import { type ClusterWriteRequest, clusterWrite, type WriteResult, type WriteTarget } from "./cluster-write.ts";
import { GroupCacheError } from "./errors.ts";
import { emitTo, type GroupCacheEvent } from "./events.ts";
import { Group, groupServer } from "./group.ts";
import type { GroupOptions } from "./group-options.ts";
import {
  type GroupCacheOptions,
  type ResolvedGroupCacheOptions,
  resolveGroupCacheOptions,
} from "./groupcache-options.ts";
import { type HandoffOptions, type HandoffReport, handOff } from "./handoff.ts";
import { PeerHealth, type PeerStatus } from "./peer-health.ts";
import { parsePeerId, peerIdList, samePeerIds } from "./peer-id.ts";
import type {
  HandoffEntry,
  HandoffResult,
  PeekResult,
  PeerClient,
  PeerClientContext,
  PeerClientFactory,
  PeerGetter,
  PeerPicker,
  ServeOptions,
  ServeResult,
} from "./peers.ts";
import { closeQuietly, PreviousOwners } from "./previous-owners.ts";
import { Ring } from "./ring.ts";
import { ringFingerprint } from "./ring-fingerprint.ts";

/**
 * One cache node: its groups, its view of the peer ring and the clients of
 * the other peers. Go groupcache keeps these in globals; here each instance
 * is independent, so several can live in one process (tests do exactly that).
 */
export class GroupCache implements PeerPicker {
  readonly self: string;
  readonly #options: ResolvedGroupCacheOptions;
  readonly #groups = new Map<string, Group<unknown, unknown>>();
  #ring: Ring;
  #clients = new Map<string, PeerClient>();
  readonly #previous: PreviousOwners;
  /** Which other peers are down (alive but silent), as their transports report; probes them. */
  readonly #health: PeerHealth;
  #closed = false;
  /** What this process knows of its peers' health (failures, missing groups, ring mismatches). */
  readonly #clusterHealth: ClusterHealth;
  readonly #unobserve: () => void;
  #fingerprint: string;
  /** Requests from peers whose ring fingerprint differed from this process's (see {@link checkRing}). */
  ringMismatches = 0;
  /** Requests from peers for a group this process does not have. */
  unknownGroupRequests = 0;
  /** (asking peer, group) pairs already reported as `unknown-group` since the last ring change. */
  readonly #unknownReported = new Set<string>();
  /** What peer clients tell the peers they call about this process. */
  readonly #clientContext: Omit<PeerClientContext, "liveness">;
  /** The pushes to joining peers (`handoffOnJoin`), one after the other; aborted by close(). */
  #pushing: Promise<unknown> = Promise.resolve();
  readonly #stopPushing = new AbortController();
  /** How long one peek of a previous owner may take (`peekTimeoutMs`); read by the groups' loads. */
  readonly peekTimeoutMs: number;
  /** The share of a get's `timeoutMs` its owner may take (`peerShare`); read by the groups' loads. */
  readonly peerShare: number;

  constructor(options?: GroupCacheOptions) {
    this.#options = resolveGroupCacheOptions(options);
    this.self = this.#options.self;
    this.peekTimeoutMs = this.#options.peekTimeoutMs;
    this.peerShare = this.#options.peerShare;
    this.#health = new PeerHealth({
      probeIntervalMs: this.#options.probeIntervalMs,
      onChange: (change) => {
        // One place peers go down and up: events, health and the user's callback.
        if (change.state === "down") this.#clusterHealth.markDown(change.peer, change.reason);
        else if (change.state === "up" && change.previous === "down") this.#clusterHealth.markUp(change.peer);
        this.#options.onPeerState?.(change);
      },
      // A client without probes cannot say: take the peer back and let its next check decide.
      probe: (id, signal) => this.#clients.get(id)?.probe?.(signal) ?? Promise.resolve(true),
    });
    this.#previous = new PreviousOwners(this.#options.peekWindowMs);
    this.#ring = this.#newRing([]);
    this.#fingerprint = ringFingerprint([], this.#options.replicas);
    this.#clientContext = { self: this.self, ringFingerprint: () => this.#fingerprint };
    this.#clusterHealth = new ClusterHealth((event) => this.emit(event));
    this.#unobserve = this.#options.telemetry.observe(this);
  }

  /**
   * Reports `event` to `onEvent` and telemetry (for the parts of a peer
   * outside the core, such as discovery; the cache reports its own).
   */
  emit(event: GroupCacheEvent): void {
    this.#options.telemetry.event(event);
    emitTo(this.#options.onEvent, event);
  }

  /**
   * What is wrong with the cluster as this process sees it: peers down,
   * peers missing a group, peers with another ring, and problems others
   * report through {@link reportProblem}. Empty when all is well.
   */
  problems(): HealthProblem[] {
    return this.#clusterHealth.problems();
  }

  /** The health tracker, for the runtime (`startPeer`) and a detector of hung peers: the one place peers go down and up. */
  get health(): ClusterHealth {
    return this.#clusterHealth;
  }

  /** A digest of the current ring (peer ids and replicas) that peers compare with their own. */
  get ringFingerprint(): string {
    return this.#fingerprint;
  }

  /**
   * Compares a peer's ring fingerprint with this process's (for
   * transports, from the `groupcache-ring` header): a difference is
   * counted in {@link ringMismatches}, reported once per peer and pair as
   * a `ring-mismatch` event, and listed in {@link problems} until that peer
   * agrees again.
   */
  checkRing(fingerprint: string, from: string | undefined): void {
    if (fingerprint !== this.#fingerprint) this.ringMismatches++;
    this.#clusterHealth.ringSeen(from, this.#fingerprint, fingerprint);
  }

  /**
   * Creates the group `options.name`. Names are unique per instance: a
   * second group of the same name fails with `already-exists`.
   */
  newGroup<T = ByteView, In = Uint8Array | string>(options: GroupOptions<T, In>): Group<T, In> {
    this.#checkOpen();
    const group = new Group<T, In>(options, this, {
      telemetry: this.#options.telemetry.group(String(options?.name)),
      health: this.#clusterHealth,
      emit: (event) => this.emit(event),
    });
    if (this.#groups.has(group.name)) {
      throw new GroupCacheError(
        "already-exists",
        `group ${JSON.stringify(group.name)} already exists on this instance`,
      );
    }
    this.#groups.set(group.name, group as Group<unknown, unknown>);
    return group;
  }

  /** The group named `name`, or `undefined`. */
  getGroup(name: string): Group<unknown, unknown> | undefined {
    return this.#groups.get(name);
  }

  /** Every group, in creation order. */
  groups(): Group<unknown, unknown>[] {
    return [...this.#groups.values()];
  }

  /** The current peer ids, sorted (`self` included if it was listed). */
  get peers(): readonly string[] {
    return this.#ring.peers;
  }

  /**
   * Replaces the peer set. The new ring is built first and swapped in one
   * step, so a lookup sees either the old ring or the new one. Clients of
   * new peers are created; those of departed peers linger for
   * `peekWindowMs` (then close), so peeks and calls in flight still reach
   * a peer that is draining, and are reused if it comes back. A set equal
   * to the current one changes nothing; returns whether anything changed.
   *
   * Leaving `self` out makes this process own no keys: do that first when
   * shutting down, so it stops owning keys while it drains.
   *
   * Each id must be `host:port` (a string such as `"a:1,b:2"` is refused,
   * not split into characters). If a client cannot be created, the clients
   * this call created are closed and the old ring and clients stay.
   */
  setPeers(ids: Iterable<string>): boolean {
    this.#checkOpen();
    const ring = this.#newRing(peerIdList("setPeers: ids", ids));
    const next = ring.peers;
    const current = this.#ring.peers;
    if (samePeerIds(next, current)) return false;
    const clients = this.#clientsOf(next.filter((id) => id !== this.self));
    const gone = [...this.#clients].filter(([id]) => !clients.has(id));
    this.#previous.remember(this.#formerOwners(current, ring));
    this.#ring = ring;
    this.#clients = clients;
    this.#health.watch(clients.keys());
    for (const [id, client] of gone) this.#previous.linger(id, client);
    this.#ringChanged(current, next);
    const joined = next.filter((id) => id !== this.self && !current.includes(id));
    if (this.#options.handoffOnJoin && joined.length > 0 && next.includes(this.self)) this.#pushTo(joined);
    return true;
  }

  /**
   * Hands the main-cache entries that peers in `joined` now own to them, in
   * the background, after the pushes already under way (`handoffOnJoin`).
   */
  #pushTo(joined: readonly string[]): void {
    const to = new Set(joined);
    this.#pushing = this.#pushing.then(() => {
      if (this.#stopPushing.signal.aborted) return undefined;
      return this.#handOff({ signal: this.#stopPushing.signal }, (id) => to.has(id)).catch(() => undefined);
    });
  }

  /**
   * The ring whose owners to peek after a change from `current` to `next`:
   * the old ring; but for a process that starts or joins (absent from the
   * old ring, or alone in it, and in the new one) the new ring without
   * itself, the owner each key would have without this process, which is
   * where its keys were (galaxycache's choice at start).
   */
  #formerOwners(current: readonly string[], next: Ring): Ring {
    const self = this.self;
    const joins = next.peers.includes(self) && (!current.includes(self) || current.length === 1);
    return joins ? this.#newRing(next.peers.filter((id) => id !== self)) : this.#ring;
  }

  /** After a ring change: the new fingerprint, health forgets departed peers, a `ring-change` event. */
  #ringChanged(current: readonly string[], next: readonly string[]): void {
    this.#fingerprint = ringFingerprint(next, this.#options.replicas);
    this.#clusterHealth.ringChanged(next, this.#fingerprint);
    this.#unknownReported.clear();
    const added = next.filter((id) => !current.includes(id));
    const removed = current.filter((id) => !next.includes(id));
    this.emit({
      type: "ring-change",
      level: "info",
      peers: next,
      added,
      removed,
      fingerprint: this.#fingerprint,
      message: `ring of ${this.self || "this process"}: ${next.length} peers (+${added.join(",") || "none"} -${removed.join(",") || "none"}), fingerprint ${this.#fingerprint}`,
    });
  }

  /** The clients of `others`: the current ones, and new ones for peers that joined. */
  #clientsOf(others: readonly string[]): Map<string, PeerClient> {
    const factory = this.#options.peerClient;
    if (others.length > 0 && factory === undefined) {
      throw new GroupCacheError(
        "invalid-argument",
        `setPeers names other peers (${others.join(", ")}) but this instance has no peerClient to reach them`,
      );
    }
    const clients = new Map<string, PeerClient>();
    const created: PeerClient[] = [];
    const reclaimed: [string, PeerClient][] = [];
    for (const id of others) {
      let client = this.#clients.get(id);
      if (client === undefined) {
        client = this.#previous.reclaim(id);
        if (client !== undefined) reclaimed.push([id, client]);
      }
      if (client === undefined) {
        try {
          client = (factory as PeerClientFactory)(id, { ...this.#clientContext, liveness: this.#health.liveness(id) });
        } catch (error) {
          for (const c of created) closeQuietly(c);
          for (const [gone, c] of reclaimed) this.#previous.linger(gone, c);
          const code = error instanceof GroupCacheError ? error.code : "unavailable";
          const message = error instanceof Error ? error.message : String(error);
          throw new GroupCacheError(
            code,
            `setPeers: cannot create the client of peer ${JSON.stringify(id)}: ${message}; the peers are unchanged`,
            { cause: error },
          );
        }
        created.push(client);
      }
      clients.set(id, client);
    }
    return clients;
  }

  /** The id of the peer that owns `key`, or `undefined` when no peers are set. */
  ownerOf(key: string): string | undefined {
    return this.#ring.get(key);
  }

  /**
   * The client of the owner of `key`, or `undefined` when this process owns
   * it, or when its owner is down (alive but silent: see `peerStates`): the
   * key is then loaded here, once per key at a time, as for a dead peer.
   */
  pickPeer(key: string): PeerGetter | undefined {
    const owner = this.#ring.get(key);
    if (owner === undefined || owner === this.self || this.#health.isDown(owner)) return undefined;
    return this.#clients.get(owner);
  }

  /**
   * The health of every other peer in the ring, sorted by id: `up`;
   * `suspect` (requests to it stalled and its transport is checking it);
   * `down` (alive but silent: out of routing, probed every
   * `probeIntervalMs` until it answers). `since` is on `performance.now()`'s
   * clock. `onPeerState` reports each change as it happens.
   */
  peerStates(): PeerStatus[] {
    return this.#health.states();
  }

  /**
   * The clients of `key`'s previous owners under the rings of the last
   * `peekWindowMs` (at most 3 rings), newest first, at most 2, neither this
   * process nor the current owner nor a peer marked down: Go's `PickPeer`
   * for the owners before a membership change, which a load peeks before
   * calling the getter.
   */
  pickPrevious(key: string): readonly PeerGetter[] {
    return this.#previous.pick(key, this.self, this.#ring.get(key), this.#clients, this.#isDown);
  }

  readonly #isDown = (id: string) => this.#health.isDown(id);

  /**
   * Answers a peer's Peek (for transports): the group's stored bytes of
   * `key` if held fresh in its main or hot cache, with their remaining
   * TTL, else `undefined`; never loads,
   * and is not counted as a get. The bytes are a view into the cache's
   * storage: the caller must not write to them. Throws `unknown-group` for
   * a group it does not have, `closed` once closed.
   */
  peek(group: string, key: string): PeekResult | undefined {
    return groupServer(this.#openGroup(group)).peek(key);
  }

  /**
   * Runs a group's write (`Group.remove`, `removeKeys`, `set`) across the
   * cluster as this process sees it now: the keys' owners under the
   * current ring first, then every other peer of the ring, this process and
   * the peers that left within `peekWindowMs` (new owners may still peek
   * them). See `clusterWrite`.
   */
  write(request: ClusterWriteRequest): Promise<WriteResult> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const ring = this.#ring;
    const self = this.self;
    const targets: WriteTarget[] = [];
    if (!ring.peers.includes(self)) targets.push({ id: self, self: true, former: false, client: undefined });
    for (const id of ring.peers) {
      targets.push({ id, self: id === self, former: false, client: id === self ? undefined : this.#clients.get(id) });
    }
    for (const [id, client] of this.#previous.lingering()) {
      if (!ring.peers.includes(id)) targets.push({ id, self: false, former: true, client });
    }
    const ownerOf = (key: string) => ring.get(key) ?? self;
    return clusterWrite(request.group, request.write, targets, ownerOf, request.local, request.signal);
  }

  /**
   * Applies a peer's Remove of `keys` of `group` here only, never
   * forwarding it (for transports): see `Group.remove`. Returns how many
   * were held. Throws `unknown-group`, or `closed` once closed.
   */
  removeLocally(group: string, keys: readonly string[]): number {
    return groupServer(this.#openGroup(group)).removeLocally(keys);
  }

  /**
   * Applies a peer's Set of `key` of `group` here only, never forwarding
   * it (for transports): see `Group.set`. Returns whether the value is
   * cached. Throws `unknown-group`, `closed`, or the group's refusal of the
   * key or value.
   */
  setLocally(group: string, key: string, value: Uint8Array, options?: { ttlMs?: number | undefined }): boolean {
    return groupServer(this.#openGroup(group)).setLocally(key, value, options?.ttlMs);
  }

  /**
   * Whether `ip` is the host of a peer id in the current ring or one of
   * the rings kept for `peekWindowMs` (and of peers that left within it):
   * the callers a peer server trusts with writes when neither mTLS nor a
   * token says more. Ids whose host is a name rather than an address never
   * match.
   */
  isRingPeerHost(ip: string): boolean {
    const wanted = ip.toLowerCase();
    const isHost = (id: string) => parsePeerId(id).host.toLowerCase() === wanted;
    return this.#ring.peers.some(isHost) || this.#previous.somePeer(isHost);
  }

  #openGroup(group: string): Group<unknown, unknown> {
    this.#checkOpen();
    const g = this.#groups.get(group);
    // Not reported: peeks and writes are best effort, and the gets that follow report the same misconfiguration.
    if (g === undefined) throw this.#noGroup(group);
    return g;
  }

  /**
   * Answers a peer's request (for transports): the group's stored bytes,
   * from cache or a local load, never forwarded, and the key's request rate
   * here (`minute_qps`). Rejects with `unknown-group` when no group has that
   * name.
   */
  serve(group: string, key: string, options?: Partial<ServeOptions>): Promise<ServeResult> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const g = this.#groups.get(group);
    if (g === undefined) {
      return Promise.reject(this.#unknownGroup(group, options?.from));
    }
    return groupServer(g).serve(key, options);
  }

  #noGroup(group: string): GroupCacheError {
    return new GroupCacheError(
      "unknown-group",
      `no group named ${JSON.stringify(group)} on peer ${JSON.stringify(this.self)}`,
    );
  }

  /** A peer asked for a group this process lacks: reported, and the error to answer. */
  #unknownGroup(group: string, from: string | undefined): GroupCacheError {
    const error = this.#noGroup(group);
    this.unknownGroupRequests++;
    const pair = `${from ?? ""} ${group}`;
    if (this.#unknownReported.has(pair)) return error;
    this.#unknownReported.add(pair);
    this.emit({
      type: "unknown-group",
      level: "warn",
      group,
      from,
      message: `peer ${from ?? "(unnamed)"} asked for group ${JSON.stringify(group)}, which this process does not have: deploy the same groups on every peer`,
    });
    return error;
  }

  /** {@link serve} for a cached key of `group`, answered at once, or `undefined` when {@link serve} must be called. */
  serveCached(group: string, key: string): ServeResult | undefined {
    const g = this.#groups.get(group);
    return g === undefined ? undefined : groupServer(g).serveCached(key);
  }

  /**
   * Hands this process's main-cache entries to their owners under the
   * current ring: what a peer does after leaving its ring (`setPeers`
   * without `self`, or `Membership.leave`) and before it closes, so the
   * keys it held are not loaded again from the backend. Most recently used
   * first, bounded by `maxBytes` and `timeoutMs`; keys this process still
   * owns stay. Receivers store the entries in memory as if loaded (see
   * {@link acceptHandoff}); a peer that does not take handoffs (an older or
   * Go peer) is skipped, and its keys are loaded or peeked as before.
   *
   * Hot caches are not handed off: they mirror keys other peers own, and
   * those owners are unchanged by this process leaving.
   *
   * With `handoffOnJoin` (the default), `setPeers` does the same in the
   * background for the keys that peers who just joined now own.
   */
  handoff(options?: HandoffOptions): Promise<HandoffReport> {
    return this.#handOff(options, () => true);
  }

  /** {@link handoff} of the keys whose owner passes `toPeer`. */
  #handOff(options: HandoffOptions | undefined, toPeer: (id: string) => boolean): Promise<HandoffReport> {
    const sources = [...this.#groups.values()].map((g) => ({
      group: g.name,
      entries: groupServer(g).mainEntries(),
    }));
    return handOff(
      sources,
      (key) => {
        const id = this.#ring.get(key);
        const peer = id === undefined || id === this.self || !toPeer(id) ? undefined : this.#clients.get(id);
        return peer === undefined ? undefined : { id: id as string, peer };
      },
      options,
    );
  }

  /**
   * Stores entries another peer handed off (for transports): each in its
   * group's main cache as if loaded, never forwarded, unless the key is
   * already held; entries of unknown groups are skipped. Whether to accept
   * them from a caller at all is the transport's decision (see
   * {@link isRingPeerHost}).
   */
  acceptHandoff(entries: readonly HandoffEntry[]): HandoffResult {
    let stored = 0;
    for (const { group, key, value, ttlMs } of entries) {
      const g = this.#closed ? undefined : this.#groups.get(group);
      if (g !== undefined && groupServer(g).storeHandoff(key, value, ttlMs)) stored++;
    }
    return { stored, skipped: entries.length - stored };
  }

  /**
   * Closes every group and peer client (lingering ones too). Every later get, `serve`, group or
   * peer set fails with `closed` (and `serveCached` answers nothing).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#health.close();
    this.#stopPushing.abort();
    for (const group of this.#groups.values()) group.close();
    const clients = [...this.#clients.values()];
    this.#clients = new Map();
    this.#ring = this.#newRing([]);
    this.#unobserve();
    await Promise.allSettled([...clients.map((c) => c.close()), this.#previous.close()]);
  }

  /** `close()`, so that `await using cache = new GroupCache(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #newRing(ids: Iterable<string>): Ring {
    const { replicas, hash } = this.#options;
    return new Ring(ids, hash === undefined ? { replicas } : { replicas, hash });
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): GroupCacheError {
    return new GroupCacheError("closed", "this GroupCache instance is closed");
  }
}
