import { GroupCacheError } from "./errors.ts";
import type { GroupCache } from "./groupcache.ts";
import { booleanOption, functionOption, optionsObject, signalOption } from "./options.ts";
import { normalizePeerIds, peerIdList, samePeerIds } from "./peer-id.ts";
import { linkedSignal } from "./signals.ts";

/** Receives what a {@link PeerDiscovery} finds. */
export interface PeerSetListener {
  /**
   * A new set of peer ids: sorted, distinct, and different from the previous
   * one given to this listener. It is what the source lists, which may or may
   * not include this process (see {@link connectDiscovery}).
   */
  onPeers(ids: readonly string[]): void;
  /**
   * A lookup failed (DNS timed out, a server refused...). The previous set
   * stays in force: a failure never means "no peers".
   */
  onError?(error: GroupCacheError): void;
}

/** Options of {@link PeerDiscovery.watch}. */
export interface WatchOptions {
  /** Stops watching. Required: a watch runs until it fires. */
  signal: AbortSignal;
}

/**
 * A source of peer-id sets over time: a static list, the DNS SRV records of
 * a Kubernetes headless Service, anything that can list members. The core
 * knows only this; {@link connectDiscovery} applies the sets to a cache.
 */
export interface PeerDiscovery {
  /**
   * Calls `listener.onPeers` with the first set and then with every change,
   * until `signal` fires. Resolves once stopped, with no timer or query left
   * running; it does not reject (lookup failures go to `listener.onError`).
   */
  watch(listener: PeerSetListener, options: WatchOptions): Promise<void>;
}

/**
 * A discovery that lists the same peers forever: for fixed clusters, tests,
 * and a local demo. The ids are checked (`host:port` each; a string such as
 * `"a:1,b:2"` is refused, not split into characters), deduplicated and
 * sorted at once.
 */
export function staticDiscovery(ids: Iterable<string>): PeerDiscovery {
  const peers = normalizePeerIds(peerIdList("staticDiscovery: ids", ids));
  return {
    async watch(listener, { signal }) {
      if (signal.aborted) return;
      notifyPeers(listener, peers);
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    },
  };
}

/**
 * Hands `ids` to `listener.onPeers`; a throwing listener is reported to its
 * own `onError` rather than breaking the discovery's loop.
 */
export function notifyPeers(listener: PeerSetListener, ids: readonly string[]): void {
  try {
    listener.onPeers(ids);
  } catch (error) {
    notifyError(listener, GroupCacheError.from(error, "internal", "peer set listener failed"));
  }
}

/** Hands `error` to `listener.onError`, if any; a throwing hook is ignored. */
export function notifyError(listener: PeerSetListener, error: GroupCacheError): void {
  try {
    listener.onError?.(error);
  } catch {
    // A broken error hook must not stop discovery.
  }
}

/** Options of {@link connectDiscovery}. */
export interface ConnectDiscoveryOptions {
  /** Stops watching when it fires (as {@link Membership.close}). Default: none. */
  signal?: AbortSignal;
  /**
   * Keep this process (`cache.self`) in its own ring whatever the discovery
   * lists, until {@link Membership.leave}. A pod is not in DNS before it is
   * ready (and, with no ready pod, the name does not exist at all), yet it
   * must serve, and load keys itself, from the start. Ignored when
   * `cache.self` is `""`. Default: `true`.
   */
  includeSelf?: boolean;
  /** Called with the cache's new peers each time the ring changed. Default: none. */
  onChange?: (peers: readonly string[]) => void;
  /**
   * Called when a lookup failed (the last good set stays) or a set could not
   * be applied. Default: none; failures are then only visible in the
   * discovery's own stats.
   */
  onError?: (error: GroupCacheError) => void;
}

/** {@link ConnectDiscoveryOptions} checked, with their defaults. */
function resolveConnectOptions(options: ConnectDiscoveryOptions | undefined) {
  const given = optionsObject("connectDiscovery: options", options);
  return {
    includeSelf: booleanOption("connectDiscovery: includeSelf", given.includeSelf, true),
    signal: signalOption("connectDiscovery: signal", given.signal),
    onChange: functionOption<ConnectDiscoveryOptions["onChange"]>(
      "connectDiscovery: onChange",
      given.onChange,
      undefined,
    ),
    onError: functionOption<ConnectDiscoveryOptions["onError"]>("connectDiscovery: onError", given.onError, undefined),
  };
}

/** A discovery connected to a cache by {@link connectDiscovery}. */
export interface Membership {
  /** The last set the discovery listed (before adding or removing self). */
  readonly discovered: readonly string[];
  /** Whether {@link leave} was called. */
  readonly left: boolean;
  /**
   * Removes this process from its own ring now, and from every later set:
   * it stops owning keys, so peers that still send it requests are served
   * from its cache or getter while new owners take over. Discovery goes on,
   * so its own gets keep reaching the right owners while it drains. Call it
   * first on shutdown (SIGTERM), then wait, then close the server.
   */
  leave(): void;
  /** Stops watching; resolves when the discovery has stopped. The ring is kept. */
  close(): Promise<void>;
  /** Settles when watching stopped, by {@link close}, the signal, or a closed cache. */
  readonly closed: Promise<void>;
}

/**
 * Keeps `cache`'s ring equal to what `discovery` lists: applies each set with
 * `setPeers` (which swaps the ring in one step and does nothing for an equal
 * set), adds this process while it has not left, and reports failures
 * without touching the ring, so the last good set stays in force.
 *
 * Stops by itself when the cache is closed. Each new set and each failure
 * is also reported to the cache's `onEvent` (`discovery-change`,
 * `discovery-error`).
 */
export function connectDiscovery(
  cache: Pick<GroupCache, "self" | "peers" | "setPeers"> & Partial<Pick<GroupCache, "emit">>,
  discovery: PeerDiscovery,
  options?: ConnectDiscoveryOptions,
): Membership {
  const { includeSelf, signal: outer, onChange, onError } = resolveConnectOptions(options);
  const self = cache.self;
  // Fires when `outer` does, on close(), and when the cache turns out closed.
  const watching = linkedSignal(outer);
  const stop = () => watching.abort();

  let discovered: readonly string[] = [];
  let left = false;
  const report = (error: GroupCacheError) => {
    cache.emit?.({
      type: "discovery-error",
      level: "warn",
      error,
      message: `peer discovery failed, keeping the last peers: ${error.message}`,
    });
    try {
      onError?.(error);
    } catch {
      // A broken error hook must not stop discovery.
    }
  };
  const apply = () => {
    let ids = discovered;
    if (self !== "") {
      if (left) ids = ids.filter((id) => id !== self);
      else if (includeSelf && !ids.includes(self)) ids = [...ids, self];
    }
    let changed: boolean;
    try {
      changed = cache.setPeers(ids);
    } catch (error) {
      const failure = GroupCacheError.from(error, "internal", "cannot apply the discovered peers");
      report(failure);
      if (failure.code === "closed") stop();
      return;
    }
    if (!changed) return;
    try {
      onChange?.(cache.peers);
    } catch (error) {
      report(GroupCacheError.from(error, "internal", "onChange hook failed"));
    }
  };

  // In its own ring from the start, before the first lookup answers.
  if (includeSelf && self !== "" && cache.peers.length === 0 && !watching.signal.aborted) apply();

  const listener: PeerSetListener = {
    onPeers(ids) {
      const next = normalizePeerIds(ids);
      if (samePeerIds(next, discovered)) return;
      discovered = next;
      cache.emit?.({
        type: "discovery-change",
        level: "info",
        peers: next,
        message: `discovery lists ${next.length} peers: ${next.join(", ") || "none"}`,
      });
      apply();
    },
    onError: report,
  };
  const closed = discovery
    .watch(listener, { signal: watching.signal })
    .catch((error: unknown) => report(GroupCacheError.from(error, "internal", "peer discovery stopped")))
    .finally(watching.cleanup);

  return {
    get discovered() {
      return discovered;
    },
    get left() {
      return left;
    },
    leave() {
      if (left) return;
      left = true;
      apply();
    },
    close() {
      stop();
      return closed;
    },
    closed,
  };
}
