import type { PeerClient, PeerGetter } from "./peers.ts";
import type { Ring } from "./ring.ts";

/** At most this many rings are remembered: enough for a rolling restart's overlapping changes. */
const maxRings = 3;
/** At most this many previous owners are peeked per key: each peek may cost a get up to `peekTimeoutMs`. */
const maxPicks = 2;
const none: readonly PeerGetter[] = Object.freeze([]);

interface Remembered {
  ring: Ring;
  /** `performance.now()` after which the ring is forgotten. */
  until: number;
}

/**
 * The rings a `GroupCache` had before its recent ring changes, and the
 * clients of peers that left, kept open for `windowMs`: a key that changed
 * owner can then be peeked from the memory of the peer that held it
 * instead of being loaded from the backend again (galaxycache does this
 * after start only; membership changes move as many keys). A departed
 * peer's client lingers rather than being closed at once, so peeks still
 * reach a peer that left gracefully and is draining, and calls in flight
 * to it are not failed by the close.
 */
export class PreviousOwners {
  readonly #windowMs: number;
  /** Newest first. */
  #rings: Remembered[] = [];
  readonly #lingering = new Map<string, { client: PeerClient; timer: ReturnType<typeof setTimeout> }>();

  /** `windowMs`: how long a ring and a departed client are kept; 0 keeps nothing. */
  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Remembers `ring` (the owners before a change) for the window; empty rings are not worth remembering. */
  remember(ring: Ring): void {
    if (this.#windowMs <= 0 || ring.peers.length === 0) return;
    this.#prune();
    this.#rings.unshift({ ring, until: performance.now() + this.#windowMs });
    if (this.#rings.length > maxRings) this.#rings.length = maxRings;
  }

  /** Keeps the client of a peer that left open for the window, then closes it; closes it at once when the window is 0. */
  linger(id: string, client: PeerClient): void {
    if (this.#windowMs <= 0) {
      closeQuietly(client);
      return;
    }
    const timer = setTimeout(() => {
      if (this.#lingering.get(id)?.client !== client) return;
      this.#lingering.delete(id);
      closeQuietly(client);
    }, this.#windowMs);
    (timer as { unref?: () => void }).unref?.();
    this.#lingering.set(id, { client, timer });
  }

  /** The lingering client of peer `id`, taken back for a peer that rejoined, or `undefined`. */
  reclaim(id: string): PeerClient | undefined {
    const held = this.#lingering.get(id);
    if (held === undefined) return undefined;
    clearTimeout(held.timer);
    this.#lingering.delete(id);
    return held.client;
  }

  /**
   * The clients of `key`'s distinct owners under the remembered rings,
   * newest first, at most 2, without `self`, `owner` (the current one) and
   * peers `isDown` says are down (alive but silent: a peek would only wait
   * out its timeout). `clients` are the current peers' clients; lingering
   * ones reach peers that left.
   */
  pick(
    key: string,
    self: string,
    owner: string | undefined,
    clients: ReadonlyMap<string, PeerClient>,
    isDown: (id: string) => boolean = () => false,
  ): readonly PeerGetter[] {
    if (this.#rings.length === 0) return none;
    this.#prune();
    const picked: PeerGetter[] = [];
    let seen: string | undefined;
    for (const { ring } of this.#rings) {
      const id = ring.get(key);
      if (id === undefined || id === self || id === owner || id === seen || isDown(id)) continue;
      const client = clients.get(id) ?? this.#lingering.get(id)?.client;
      if (client === undefined) continue;
      picked.push(client);
      if (picked.length === maxPicks) break;
      seen = id;
    }
    return picked;
  }

  /** The clients of peers that left and still linger, by id: a write tells them too, as new owners may peek them. */
  lingering(): [string, PeerClient][] {
    return [...this.#lingering].map(([id, { client }]) => [id, client]);
  }

  /** Whether `test` holds for a peer of a remembered ring or a lingering one. */
  somePeer(test: (id: string) => boolean): boolean {
    this.#prune();
    return this.#rings.some(({ ring }) => ring.peers.some(test)) || [...this.#lingering.keys()].some(test);
  }

  /** Forgets every ring and closes every lingering client. */
  close(): Promise<void> {
    this.#rings = [];
    const clients = [...this.#lingering.values()];
    this.#lingering.clear();
    for (const { timer } of clients) clearTimeout(timer);
    return Promise.allSettled(clients.map(({ client }) => client.close())).then(() => {});
  }

  #prune(): void {
    const now = performance.now();
    while (this.#rings.length > 0 && (this.#rings[this.#rings.length - 1] as Remembered).until <= now)
      this.#rings.pop();
  }
}

/** Closes a departed or unused client in the background: a failure to close changes nothing for the cache. */
export function closeQuietly(client: PeerClient): void {
  try {
    void client.close().catch(() => {});
  } catch {
    // A client whose close throws at once is as closed as it will get.
  }
}
