import type { ByteView } from "./byteview.ts";
import { GroupCacheError } from "./errors.ts";
import { Group, type GroupOptions } from "./group.ts";
import type { PeerClient, PeerClientFactory, PeerGetter, PeerPicker, ServeResult } from "./peers.ts";
import { Ring, type RingHash } from "./ring.ts";

/** Options of {@link GroupCache}. */
export interface GroupCacheOptions {
  /**
   * This process's peer id, exactly as it appears in every node's peer list
   * (for example `"10.1.2.3:8080"`): keys the ring gives to it are loaded
   * here. Default: `""` (a standalone cache, or a client that owns nothing).
   */
  self?: string;
  /** Ring points per peer; must match on every node. Default: 50. */
  replicas?: number;
  /** Ring hash; must match on every node. Default: CRC-32 (IEEE), as Go. */
  hash?: RingHash;
  /**
   * Creates the client of another peer when it joins. Required before
   * `setPeers` names any peer other than `self`. Default: none.
   */
  peerClient?: PeerClientFactory;
}

/**
 * One cache node: its groups, its view of the peer ring and the clients of
 * the other peers. Go groupcache keeps these in globals; here each instance
 * is independent, so several can live in one process (tests do exactly that).
 */
export class GroupCache implements PeerPicker {
  readonly self: string;
  readonly #replicas: number;
  readonly #hash: RingHash | undefined;
  readonly #peerClient: PeerClientFactory | undefined;
  readonly #groups = new Map<string, Group<unknown, unknown>>();
  #ring: Ring;
  #clients = new Map<string, PeerClient>();
  #closed = false;

  constructor(options: GroupCacheOptions = {}) {
    const self = options.self ?? "";
    if (typeof self !== "string") {
      throw new GroupCacheError("invalid-argument", `self must be a string, got ${typeof self}`);
    }
    this.self = self;
    this.#replicas = options.replicas ?? 50;
    this.#hash = options.hash;
    this.#peerClient = options.peerClient;
    this.#ring = this.#newRing([]);
  }

  /**
   * Creates the group `options.name`. Names are unique per instance: a
   * second group of the same name fails with `already-exists`.
   */
  newGroup<T = ByteView, In = Uint8Array | string>(options: GroupOptions<T, In>): Group<T, In> {
    this.#checkOpen();
    if (this.#groups.has(options?.name)) {
      throw new GroupCacheError(
        "already-exists",
        `group ${JSON.stringify(options.name)} already exists on this instance`,
      );
    }
    const group = new Group<T, In>(options, this);
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
   * new peers are created; those of departed peers are closed. A set equal
   * to the current one changes nothing; returns whether anything changed.
   *
   * Leaving `self` out makes this process own no keys: do that first when
   * shutting down, so it stops owning keys while it drains.
   */
  setPeers(ids: Iterable<string>): boolean {
    this.#checkOpen();
    const ring = this.#newRing(ids);
    const next = ring.peers;
    const current = this.#ring.peers;
    if (next.length === current.length && next.every((id, i) => id === current[i])) return false;
    const others = next.filter((id) => id !== this.self);
    if (others.length > 0 && this.#peerClient === undefined) {
      throw new GroupCacheError(
        "invalid-argument",
        `setPeers names other peers (${others.join(", ")}) but this instance has no peerClient to reach them`,
      );
    }
    const clients = new Map<string, PeerClient>();
    for (const id of others) {
      const client = this.#clients.get(id) ?? (this.#peerClient as PeerClientFactory)(id);
      clients.set(id, client);
    }
    const gone = [...this.#clients].filter(([id]) => !clients.has(id));
    this.#ring = ring;
    this.#clients = clients;
    for (const [, client] of gone) void client.close().catch(() => {});
    return true;
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
   * Answers a peer's request (for transports): the group's stored bytes,
   * from cache or a local load, never forwarded, and the key's request rate
   * here (`minute_qps`). Rejects with `unknown-group` when no group has that
   * name.
   */
  serve(group: string, key: string, options?: { signal?: AbortSignal }): Promise<ServeResult> {
    const g = this.#groups.get(group);
    if (g === undefined) {
      return Promise.reject(
        new GroupCacheError(
          "unknown-group",
          `no group named ${JSON.stringify(group)} on peer ${JSON.stringify(this.self)}`,
        ),
      );
    }
    return g.serve(key, options);
  }

  /** {@link Group.serveCached} of `group`: a cached key's answer at once, or `undefined` when {@link serve} must be called. */
  serveCached(group: string, key: string): ServeResult | undefined {
    return this.#groups.get(group)?.serveCached(key);
  }

  /** Closes every peer client. Creating groups or setting peers afterwards fails with `closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const clients = [...this.#clients.values()];
    this.#clients = new Map();
    this.#ring = this.#newRing([]);
    await Promise.allSettled(clients.map((c) => c.close()));
  }

  #newRing(ids: Iterable<string>): Ring {
    return new Ring(
      ids,
      this.#hash === undefined ? { replicas: this.#replicas } : { replicas: this.#replicas, hash: this.#hash },
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw new GroupCacheError("closed", "this GroupCache instance is closed");
  }
}
