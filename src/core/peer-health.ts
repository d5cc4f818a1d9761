/**
 * A peer's health as this process sees it:
 *
 * - `up`: in routing (the state of a peer nothing was reported about);
 * - `suspect`: requests to it made no progress for a while and its
 *   transport is checking it (an HTTP/2 PING); still in routing, as most
 *   slow answers are just slow;
 * - `down`: it did not answer the check: out of routing (its keys are
 *   loaded by the asking process, as for a dead peer) and probed every
 *   `probeIntervalMs` until it answers.
 */
export type PeerState = "up" | "suspect" | "down";

/** A peer's state, for operators (`GroupCache.peerStates`). */
export interface PeerStatus {
  peer: string;
  state: PeerState;
  /** When it entered `state`, on the health clock (`performance.now()` by default). */
  since: number;
  /** Why it is in `state` (what the transport or the probe said); `""` for a peer never reported. */
  reason: string;
}

/** A change of a peer's state, as passed to `onChange` (`GroupCache`'s `onPeerState`). */
export interface PeerStateChange extends PeerStatus {
  previous: PeerState;
}

/**
 * What a peer's transport reports into (given to the `PeerClientFactory`).
 * Reports about a peer that is not in the ring any more are ignored.
 */
export interface PeerLiveness {
  /** Requests made no progress and a check is out: stays in routing. */
  suspect(reason: string): void;
  /** The check went unanswered: out of routing, probed until it answers. */
  down(reason: string): void;
  /** It answered (a check, a probe, a request): back in routing. */
  up(reason: string): void;
}

/** The clock and timers of a {@link PeerHealth}: injectable, so tests drive time. */
export interface PeerHealthClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()`, and timers that do not keep a process alive (Node, Bun). */
export const realClock: PeerHealthClock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Options of {@link PeerHealth}. */
export interface PeerHealthOptions {
  /** How often a `down` peer is probed. */
  probeIntervalMs: number;
  /**
   * Asks `peer` whether it is alive: resolves `true` when it answered,
   * `false` (or rejects) when not; its own deadline is the transport's
   * business. `signal` fires when the peer leaves the ring or the health
   * is closed. One probe per peer at a time.
   */
  probe(peer: string, signal: AbortSignal): Promise<boolean>;
  /** Called on every change of state: the one place where "marked down" and "up again" happen. Must not throw (a throw is ignored). */
  onChange?: ((change: PeerStateChange) => void) | undefined;
  /** Default: {@link realClock}. */
  clock?: PeerHealthClock;
}

interface Entry {
  status: PeerStatus;
  /** The pending probe's timer, while `down`. */
  timer: unknown;
  /** Aborts the probe in flight. */
  probing: AbortController | undefined;
}

/**
 * The health of the other peers: the state each is in, reported by their
 * transports, and the probes of those that are down. Runtime-neutral: the
 * transport decides how a peer is checked (an HTTP/2 PING with a short
 * deadline) and how it is probed; this decides what follows.
 */
export class PeerHealth {
  readonly #o: Required<Omit<PeerHealthOptions, "onChange">> & Pick<PeerHealthOptions, "onChange">;
  readonly #entries = new Map<string, Entry>();
  /** Peers in the ring (the others' reports are ignored). */
  #watched = new Set<string>();
  /** How many peers are `down`: with none, routing needs no lookup. */
  #down = 0;
  #closed = false;

  constructor(options: PeerHealthOptions) {
    this.#o = { clock: realClock, ...options };
  }

  /** Whether `peer` is out of routing. */
  isDown(peer: string): boolean {
    return this.#down > 0 && this.#entries.get(peer)?.status.state === "down";
  }

  /** The state of every peer in the ring (those never reported: `up`), sorted by id. */
  states(): PeerStatus[] {
    return [...this.#watched].sort().map((peer) => ({ ...(this.#entries.get(peer)?.status ?? this.#fresh(peer)) }));
  }

  /** Follows exactly `peers` (the ring, without self): the others are forgotten and no longer probed. */
  watch(peers: Iterable<string>): void {
    this.#watched = new Set(peers);
    for (const [peer, entry] of this.#entries) {
      if (this.#watched.has(peer)) continue;
      this.#stopProbing(entry);
      if (entry.status.state === "down") this.#down--;
      this.#entries.delete(peer);
    }
  }

  /** What `peer`'s transport reports into. */
  liveness(peer: string): PeerLiveness {
    return {
      suspect: (reason) => this.#report(peer, "suspect", reason),
      down: (reason) => this.#report(peer, "down", reason),
      up: (reason) => this.#report(peer, "up", reason),
    };
  }

  /** Stops every probe; later reports are ignored. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) this.#stopProbing(entry);
  }

  #fresh(peer: string): PeerStatus {
    return { peer, state: "up", since: 0, reason: "" };
  }

  #report(peer: string, state: PeerState, reason: string): void {
    if (this.#closed || !this.#watched.has(peer)) return;
    let entry = this.#entries.get(peer);
    const previous = entry?.status.state ?? "up";
    // A suspicion does not overrule a verdict: a down peer leaves that state by answering.
    if (previous === state || (state === "suspect" && previous === "down")) return;
    if (entry === undefined) {
      entry = { status: this.#fresh(peer), timer: undefined, probing: undefined };
      this.#entries.set(peer, entry);
    }
    entry.status = { peer, state, since: this.#o.clock.now(), reason };
    if (previous === "down") {
      this.#down--;
      this.#stopProbing(entry);
    }
    if (state === "down") {
      this.#down++;
      this.#scheduleProbe(peer, entry);
    }
    try {
      this.#o.onChange?.({ ...entry.status, previous });
    } catch {
      // An observer's bug must not break routing.
    }
  }

  #scheduleProbe(peer: string, entry: Entry): void {
    entry.timer = this.#o.clock.setTimeout(() => {
      entry.timer = undefined;
      this.#runProbe(peer, entry);
    }, this.#o.probeIntervalMs);
  }

  #runProbe(peer: string, entry: Entry): void {
    const controller = new AbortController();
    entry.probing = controller;
    const settle = (alive: boolean) => {
      if (entry.probing !== controller) return; // stopped meanwhile
      entry.probing = undefined;
      if (this.#entries.get(peer) !== entry || entry.status.state !== "down") return;
      if (alive) this.#report(peer, "up", "answered a probe");
      else this.#scheduleProbe(peer, entry);
    };
    let probe: Promise<boolean>;
    try {
      probe = this.#o.probe(peer, controller.signal);
    } catch {
      probe = Promise.resolve(false);
    }
    probe.then(settle, () => settle(false));
  }

  #stopProbing(entry: Entry): void {
    if (entry.timer !== undefined) this.#o.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.probing?.abort();
    entry.probing = undefined;
  }
}
