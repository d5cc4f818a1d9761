import type { ByteView } from "./byteview.ts";
import { GroupCacheError } from "./errors.ts";
import { Group, groupServer } from "./group.ts";
import type { GroupOptions } from "./group-options.ts";
import {
  type GroupCacheOptions,
  type ResolvedGroupCacheOptions,
  resolveGroupCacheOptions,
} from "./groupcache-options.ts";
import { type HandoffOptions, type HandoffReport, handOff } from "./handoff.ts";
import { parsePeerId, peerIdList, samePeerIds } from "./peer-id.ts";
import type {
  HandoffEntry,
  HandoffResult,
  PeerClient,
  PeerClientFactory,
  PeerGetter,
  PeerPicker,
  ServeResult,
} from "./peers.ts";
import { closeQuietly, PreviousOwners } from "./previous-owners.ts";
import { Ring } from "./ring.ts";

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
  #closed = false;
  /** The pushes to joining peers (`handoffOnJoin`), one after the other; aborted by close(). */
  #pushing: Promise<unknown> = Promise.resolve();
  readonly #stopPushing = new AbortController();
  /** How long one peek of a previous owner may take (`peekTimeoutMs`); read by the groups' loads. */
  readonly peekTimeoutMs: number;

  constructor(options?: GroupCacheOptions) {
    this.#options = resolveGroupCacheOptions(options);
    this.self = this.#options.self;
    this.peekTimeoutMs = this.#options.peekTimeoutMs;
    this.#previous = new PreviousOwners(this.#options.peekWindowMs);
    this.#ring = this.#newRing([]);
  }

  /**
   * Creates the group `options.name`. Names are unique per instance: a
   * second group of the same name fails with `already-exists`.
   */
  newGroup<T = ByteView, In = Uint8Array | string>(options: GroupOptions<T, In>): Group<T, In> {
    this.#checkOpen();
    const group = new Group<T, In>(options, this);
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
    for (const [id, client] of gone) this.#previous.linger(id, client);
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
          client = (factory as PeerClientFactory)(id);
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

  /** The client of the owner of `key`, or `undefined` when this process owns it. */
  pickPeer(key: string): PeerGetter | undefined {
    const owner = this.#ring.get(key);
    if (owner === undefined || owner === this.self) return undefined;
    return this.#clients.get(owner);
  }

  /**
   * The clients of `key`'s previous owners under the rings of the last
   * `peekWindowMs` (at most 3 rings), newest first, at most 2, neither this
   * process nor the current owner: Go's `PickPeer` for the owners before a
   * membership change, which a load peeks before calling the getter.
   */
  pickPrevious(key: string): readonly PeerGetter[] {
    return this.#previous.pick(key, this.self, this.#ring.get(key), this.#clients);
  }

  /**
   * Answers a peer's Peek (for transports): the group's stored bytes of
   * `key` if held in its main or hot cache, else `undefined`; never loads,
   * and is not counted as a get. The bytes are a view into the cache's
   * storage: the caller must not write to them. Throws `unknown-group` for
   * a group it does not have, `closed` once closed.
   */
  peek(group: string, key: string): Uint8Array | undefined {
    this.#checkOpen();
    const g = this.#groups.get(group);
    if (g === undefined) throw this.#unknownGroup(group);
    return groupServer(g).peek(key);
  }

  /**
   * Answers a peer's request (for transports): the group's stored bytes,
   * from cache or a local load, never forwarded, and the key's request rate
   * here (`minute_qps`). Rejects with `unknown-group` when no group has that
   * name.
   */
  serve(group: string, key: string, options?: { signal?: AbortSignal }): Promise<ServeResult> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const g = this.#groups.get(group);
    if (g === undefined) {
      return Promise.reject(this.#unknownGroup(group));
    }
    return groupServer(g).serve(key, options);
  }

  #unknownGroup(group: string): GroupCacheError {
    return new GroupCacheError(
      "unknown-group",
      `no group named ${JSON.stringify(group)} on peer ${JSON.stringify(this.self)}`,
    );
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
    for (const { group, key, value } of entries) {
      const g = this.#closed ? undefined : this.#groups.get(group);
      if (g !== undefined && groupServer(g).storeHandoff(key, value)) stored++;
    }
    return { stored, skipped: entries.length - stored };
  }

  /**
   * Whether `ip` is the host of a peer in the current ring, a ring of the
   * last `peekWindowMs`, or a departed peer whose client still lingers:
   * the callers a server trusts with writes into this cache when there is
   * no mTLS. Peer ids that name hosts rather than IP addresses never match.
   */
  isRingPeerHost(ip: string): boolean {
    const wanted = ip.toLowerCase();
    const ids = this.#previous.peerIds();
    for (const id of this.#ring.peers) ids.add(id);
    for (const id of ids) {
      if (parsePeerId(id).host === wanted) return true;
    }
    return false;
  }

  /**
   * Closes every group and peer client (lingering ones too). Every later get, `serve`, group or
   * peer set fails with `closed` (and `serveCached` answers nothing).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPushing.abort();
    for (const group of this.#groups.values()) group.close();
    const clients = [...this.#clients.values()];
    this.#clients = new Map();
    this.#ring = this.#newRing([]);
    await Promise.allSettled([...clients.map((c) => c.close()), this.#previous.close()]);
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
