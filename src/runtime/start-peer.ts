import { clearTimeout, setTimeout } from "node:timers";
import type { HealthProblem } from "../core/cluster-health.ts";
import { defaultAloneAfterMs, defaultDrainMs, defaultPeerHost } from "../core/defaults.ts";
import { GroupCacheError } from "../core/errors.ts";
import type { EventListener } from "../core/events.ts";
import { GroupCache } from "../core/groupcache.ts";
import type { GroupCacheOptions } from "../core/groupcache-options.ts";
import { type HandoffOptions, type HandoffReport, resolveHandoffOptions } from "../core/handoff.ts";
import {
  type ConnectDiscoveryOptions,
  connectDiscovery,
  type Membership,
  type PeerDiscovery,
  staticDiscovery,
} from "../core/membership.ts";
import { nonNegativeNumber } from "../core/options.ts";
import { formatPeerId, peerIdList } from "../core/peer-id.ts";
import type { RingHash } from "../core/ring.ts";
import type { Telemetry } from "../core/telemetry.ts";
import { createDnsSrvDiscovery, type DnsSrvDiscoveryOptions } from "../discovery/dns-srv.ts";
import type { DnsResolver } from "../discovery/resolver.ts";
import { type GrpcPeerClientOptions, grpcPeerClient } from "../transport/grpc-peer-client.ts";
import { type PeerServer, type PeerServerOptions, startPeerServer } from "../transport/peer-server.ts";
import type { PeerWriteOptions } from "../transport/write-trust.ts";

/** DNS SRV discovery options for {@link startPeer}; the resolver defaults to the runtime's own. */
export type DnsPeersOptions = Omit<DnsSrvDiscoveryOptions, "resolver"> & {
  /** Resolver to use. Default: the runtime's (Node/Bun: `node:dns`; Deno: `Deno.resolveDns`), asking `server`. */
  resolver?: DnsResolver;
  /** DNS server for the default resolver (`ip` or `ip:port`). Default: the system's. */
  server?: string;
};

/** Options of `startPeer` (the same on Node, Bun and Deno). */
export interface StartPeerOptions {
  /**
   * Address the peer server listens on. Default: `defaultPeerHost`,
   * `"127.0.0.1"` (this machine only: a single-machine cluster). To be
   * reached from other hosts, listen on `"0.0.0.0"` (or `"::"`) and set
   * `advertiseHost` to the address peers reach this one at (in Kubernetes,
   * the pod IP).
   */
  host?: string;
  /** Port to listen on; `0` picks a free one. Default: 0. */
  port?: number;
  /**
   * This peer's id as every other peer lists it, `ip:port`. Default:
   * `advertiseHost` (or `host` when it is a specific address) with the bound
   * port. In Kubernetes, pass the pod IP (`status.podIP` through the
   * downward API) as `advertiseHost`.
   */
  self?: string | undefined;
  /** The address others reach this peer at; combined with the bound port into `self`. Default: `host`. */
  advertiseHost?: string | undefined;
  /**
   * Who the peers are: a list of ids (a fixed cluster), `{ dns: ... }` for
   * the SRV records of a Kubernetes headless Service, or any
   * `PeerDiscovery`. This peer is always in its own ring until `close()`.
   * Default: none, a cluster of one until `cache.setPeers` is called.
   */
  peers?: Iterable<string> | PeerDiscovery | { dns: DnsPeersOptions };
  /** Ring points per peer; the same on every node. Default: 50. */
  replicas?: number;
  /** Ring hash; the same on every node. Default: CRC-32 (IEEE), as Go. */
  hash?: RingHash;
  /** The cache's `peekWindowMs`: how long after a ring change previous owners are peeked; 0 turns it off. Default: 60 000. */
  peekWindowMs?: number;
  /** The cache's `peekTimeoutMs`: how long one peek may take. Default: 200. */
  peekTimeoutMs?: number;
  /** The cache's `probeIntervalMs`: how often a peer marked down (alive but silent) is probed. Default: 250. */
  probeIntervalMs?: number;
  /** The cache's `onPeerState`: called on every change of a peer's state (up, suspect, down). Default: none. */
  onPeerState?: GroupCacheOptions["onPeerState"];
  /** The cache's `peerShare`: the share of a get's `timeoutMs` its owner may take. Default: 0.5. */
  peerShare?: number;
  /** The cache's `handoffOnJoin`: push joining peers the keys they now own. Default: true. */
  handoffOnJoin?: boolean;
  /** Options of the clients of the other peers (TLS, deadlines, limits). */
  client?: GrpcPeerClientOptions;
  /** Options of the peer server (TLS, limits, close timeout); `host` and `port` are set above, `writes` below. */
  server?: Omit<PeerServerOptions, "host" | "port" | "writes">;
  /**
   * Which writes this peer accepts from others, and from whom (see
   * `PeerWriteOptions`): `invalidation: true` lets the ring's peers run
   * `Group.remove`, `removeKeys` and `set` here. Its `token`, if set, is
   * also sent with this peer's own writes (unless `client.token` says
   * otherwise). Default: `{ handoff: true, invalidation: false }`, no token.
   */
  writes?: PeerWriteOptions;
  /** Called when the ring changed, and when discovery failed (the last good set stays). */
  onPeers?: ConnectDiscoveryOptions["onChange"];
  onError?: ConnectDiscoveryOptions["onError"];
  /**
   * How long `close()` keeps serving after leaving the ring, so peers that
   * still route keys here (until their discovery catches up) are answered
   * rather than refused, which would make each of them load those keys
   * again. Applies only when the ring had other peers. Default: 20 000
   * (`defaultDrainMs`, which explains it against Kubernetes'
   * `terminationGracePeriodSeconds` and DNS caching) when `peers` is
   * discovered (`{ dns }` or a `PeerDiscovery`); 0 with a fixed list or
   * none (`setPeers` by hand), where no discovery tells the others that
   * this peer left: set it if your own mechanism does.
   */
  drainMs?: number;
  /**
   * What `close()` hands off, after leaving the ring and while it drains:
   * the main-cache entries go to their new owners, most recently used
   * first, bounded by `maxBytes` (default 256 MiB) and `timeoutMs`
   * (default 10 000 ms); see `GroupCache.handoff`. `false` hands off
   * nothing. Default: `{}` (on, with those bounds).
   */
  handoff?: HandoffOptions | false;
  /** Stops the peer (as `close()`) when it fires. */
  signal?: AbortSignal;
  /**
   * Receives every event of the cache and its discovery (`GroupCacheEvent`),
   * e.g. `(e) => console[e.level](e.message)`. Default: none; the library
   * never logs by itself.
   */
  onEvent?: EventListener;
  /**
   * Metrics and traces. Default: `openTelemetry()` (the global providers of
   * `@opentelemetry/api`) when an OpenTelemetry SDK has registered a global
   * provider before `startPeer` (as `node --import ./instrumentation.ts`
   * does), else none; `false` turns it off.
   */
  telemetry?: Telemetry | false;
  /**
   * With a discovery (`{ dns }` or your own): how long after start-up a
   * discovery that has listed no peer but this one is reported, as a
   * `discovery-alone` event and in `health()` (a misspelled Service name,
   * namespace or port name looks exactly like this). `0`: never. Default:
   * 60 000 (longer than cluster DNS caching plus a few polls).
   */
  aloneAfterMs?: number;
}

/** What `peer.health()` answers: for a readiness probe, and for a person. */
export interface PeerHealth {
  /**
   * Whether to send this peer traffic: `true` from start until `close()`
   * begins (then it drains). Problems below do not clear it: a peer that
   * cannot reach others still serves (it loads keys itself), and taking
   * pods out of a Service for their peers' faults would empty it.
   */
  ready: boolean;
  /** `ok`, `degraded` (some problem listed), or `closing`. */
  status: "ok" | "degraded" | "closing";
  self: string;
  /** The peers in this process's ring. */
  peers: readonly string[];
  /** What is wrong, oldest first: peers down, peers missing a group, rings that differ, a discovery that found no one. */
  problems: HealthProblem[];
}

/** A running peer: its cache, its server, its membership. */
export interface Peer {
  /** The cache: create groups on it (`peer.cache.newGroup(...)`) right after start. */
  readonly cache: GroupCache;
  /** This peer's id in the ring. */
  readonly self: string;
  /** The HTTP/2 server peers call. */
  readonly server: PeerServer;
  /**
   * The discovery followed (for `{ dns }`, a `DnsSrvDiscovery` with its
   * name and stats); `undefined` when `peers` was not given.
   */
  readonly discovery: PeerDiscovery | undefined;
  /** Discovery's view and the drain switch; `undefined` when `peers` was not given. */
  readonly membership: Membership | undefined;
  /** The peer's health now: see {@link PeerHealth}. */
  health(): PeerHealth;
  /**
   * Shuts down in the order that loses nothing: leave the ring (stop owning
   * keys); hand the main-cache entries off to their new owners while
   * serving for `drainMs` (both when other peers are in the ring); close
   * the server (requests in progress finish), stop discovery, close the
   * peer connections.
   */
  close(): Promise<void>;
  /** `close()`, so that `await using peer = await startPeer(...)` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
  /** What `close()` handed off, once it has; `undefined` before, or with `handoff: false`, or alone in the ring. */
  readonly handoff: HandoffReport | undefined;
}

/** What differs between runtimes: how to make the default DNS resolver. */
export interface RuntimeDefaults {
  resolver(server: string | undefined): DnsResolver;
}

function isDiscovery(value: unknown): value is PeerDiscovery {
  return typeof (value as { watch?: unknown } | null)?.watch === "function";
}

const wildcard = new Set(["0.0.0.0", "::", ""]);

/**
 * Starts a peer: listens, builds the cache with its own id and the gRPC
 * clients of the others, and keeps the ring current from `peers`. The
 * runtime entrypoints (`groupcache/node`, `/bun`, `/deno`) call this with
 * their own defaults.
 */
export async function startPeerWith(defaults: RuntimeDefaults, options: StartPeerOptions = {}): Promise<Peer> {
  const host = options.host ?? defaultPeerHost;
  const discovered = options.peers !== undefined && (isDiscovery(options.peers) || isDnsPeers(options.peers));
  const drainMs = nonNegativeNumber("startPeer: drainMs", options.drainMs, discovered ? defaultDrainMs : 0);
  const handoff = options.handoff === false ? undefined : resolveHandoffOptions("startPeer: handoff", options.handoff);
  const aloneAfterMs = nonNegativeNumber("startPeer: aloneAfterMs", options.aloneAfterMs, defaultAloneAfterMs);
  const telemetry = options.telemetry === undefined ? await defaultTelemetry() : options.telemetry;
  const advertise = options.advertiseHost ?? host;
  if (options.self === undefined && wildcard.has(advertise)) {
    throw new GroupCacheError(
      "invalid-argument",
      `startPeer: listening on ${JSON.stringify(host)} gives no address peers can reach: set advertiseHost (e.g. the pod IP) or self`,
    );
  }
  const discovery = toDiscovery(defaults, options.peers);
  // The server needs the cache and the cache's id needs the bound port:
  // serve through a forwarder until the cache exists (it refuses until then).
  let cache: GroupCache | undefined;
  const started = (): GroupCache => {
    if (cache === undefined) throw new GroupCacheError("unavailable", "peer is starting");
    return cache;
  };
  const server = await startPeerServer(
    {
      serve: (group, key, opts) =>
        cache === undefined
          ? Promise.reject(new GroupCacheError("unavailable", "peer is starting"))
          : cache.serve(group, key, opts),
      serveCached: (group, key) => cache?.serveCached(group, key),
      peek: (group, key) => cache?.peek(group, key),
      removeLocally: (group, keys) => started().removeLocally(group, keys),
      setLocally: (group, key, value, opts) => started().setLocally(group, key, value, opts),
      acceptHandoff: (entries) => cache?.acceptHandoff(entries) ?? { stored: 0, skipped: entries.length },
      isRingPeerHost: (ip) => cache?.isRingPeerHost(ip) ?? false,
      checkRing: (fingerprint, from) => cache?.checkRing(fingerprint, from),
    },
    {
      ...options.server,
      host,
      port: options.port ?? 0,
      ...(options.writes === undefined ? {} : { writes: options.writes }),
    },
  );
  const self = options.self ?? formatPeerId(advertise, server.port);
  cache = new GroupCache({
    self,
    peerClient: grpcPeerClient(
      options.writes?.token === undefined ? options.client : { token: options.writes.token, ...options.client },
    ),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(options.hash === undefined ? {} : { hash: options.hash }),
    ...(options.peekWindowMs === undefined ? {} : { peekWindowMs: options.peekWindowMs }),
    ...(options.peekTimeoutMs === undefined ? {} : { peekTimeoutMs: options.peekTimeoutMs }),
    ...(options.probeIntervalMs === undefined ? {} : { probeIntervalMs: options.probeIntervalMs }),
    ...(options.onPeerState === undefined ? {} : { onPeerState: options.onPeerState }),
    ...(options.peerShare === undefined ? {} : { peerShare: options.peerShare }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    ...(telemetry === false || telemetry === undefined ? {} : { telemetry }),
    ...(options.handoffOnJoin === undefined ? {} : { handoffOnJoin: options.handoffOnJoin }),
  });
  const live = cache;
  const alone = discovery !== undefined && !isStatic(options.peers) ? aloneWatch(live, aloneAfterMs) : undefined;
  const membership =
    discovery === undefined
      ? undefined
      : connectDiscovery(live, discovery, {
          onChange: (peers) => {
            alone?.seen(peers);
            options.onPeers?.(peers);
          },
          ...(options.onError === undefined ? {} : { onError: options.onError }),
        });
  let closing: Promise<void> | undefined;
  let handedOff: HandoffReport | undefined;
  const health = (): PeerHealth => {
    const problems = live.problems();
    return {
      ready: closing === undefined,
      status: closing !== undefined ? "closing" : problems.length > 0 ? "degraded" : "ok",
      self,
      peers: live.peers,
      problems,
    };
  };
  const close = () => {
    closing ??= (async () => {
      alone?.stop();
      membership?.leave();
      if (membership === undefined && live.peers.includes(self)) {
        live.setPeers(live.peers.filter((id) => id !== self));
      }
      // Alone, nobody routes keys here and there is nobody to hand off to.
      if (live.peers.some((id) => id !== self)) {
        const handing =
          handoff === undefined
            ? undefined
            : live
                .handoff({
                  maxBytes: handoff.maxBytes,
                  timeoutMs: handoff.timeoutMs,
                  ...(handoff.signal === undefined ? {} : { signal: handoff.signal }),
                })
                .then((report) => {
                  handedOff = report;
                });
        await Promise.all([handing, drainMs > 0 ? new Promise((resolve) => setTimeout(resolve, drainMs)) : undefined]);
      }
      await server.close();
      await membership?.close();
      await live.close();
    })();
    return closing;
  };
  if (options.signal?.aborted) await close();
  else options.signal?.addEventListener("abort", () => void close(), { once: true });
  return {
    cache: live,
    self,
    server,
    discovery,
    membership,
    health,
    close,
    [Symbol.asyncDispose]: close,
    get handoff() {
      return handedOff;
    },
  };
}

/** Whether `peers` is a fixed list (which cannot be "alone" by mistake). */
function isStatic(peers: StartPeerOptions["peers"]): boolean {
  return peers !== undefined && !isDiscovery(peers) && !(typeof peers === "object" && peers !== null && "dns" in peers);
}

/**
 * Watches for a discovery that lists no peer but this one for `afterMs`
 * after start-up: then reports `discovery-alone` (event and health) until
 * another peer shows up.
 */
function aloneWatch(cache: GroupCache, afterMs: number) {
  let found = false;
  const timer =
    afterMs === 0
      ? undefined
      : setTimeout(() => {
          if (found) return;
          const message = `discovery has listed no peer but this one (${cache.self}) for ${afterMs} ms since start-up: check the Service name, namespace and port name, and that its selector matches these pods`;
          if (cache.health.setProblem("discovery-alone", message)) {
            cache.emit({ type: "discovery-alone", level: "error", afterMs, message });
          }
        }, afterMs);
  timer?.unref();
  return {
    seen(peers: readonly string[]) {
      if (found || !peers.some((id) => id !== cache.self)) return;
      found = true;
      cache.health.setProblem("discovery-alone", undefined);
    },
    stop: () => clearTimeout(timer),
  };
}

/**
 * Where `@opentelemetry/api` 1.x keeps what was registered globally (a
 * provider, a propagator), shared by every copy of the package in the
 * process: absent until an SDK registers something.
 */
const otelGlobal = Symbol.for("opentelemetry.js.api.1");

/**
 * OpenTelemetry through the global providers once an SDK has registered
 * one, else none. Without a registration the API would only hand out
 * no-ops, so it is not even imported: a process without an SDK (or without
 * the optional `@opentelemetry/api`) starts as fast as before.
 */
async function defaultTelemetry(): Promise<Telemetry | undefined> {
  if ((globalThis as Record<symbol, unknown>)[otelGlobal] === undefined) return undefined;
  try {
    const { openTelemetry } = await import("../opentelemetry/open-telemetry.ts");
    return openTelemetry();
  } catch {
    return undefined;
  }
}

function toDiscovery(defaults: RuntimeDefaults, peers: StartPeerOptions["peers"]): PeerDiscovery | undefined {
  if (peers === undefined) return undefined;
  if (isDiscovery(peers)) return peers;
  if (isDnsPeers(peers)) {
    const { resolver, server, ...rest } = peers.dns;
    return createDnsSrvDiscovery({ ...rest, resolver: resolver ?? defaults.resolver(server) });
  }
  return staticDiscovery(peerIdList("startPeer: peers", peers));
}

/** Whether `peers` asks for DNS discovery (`{ dns }`). */
function isDnsPeers(peers: StartPeerOptions["peers"]): peers is { dns: DnsPeersOptions } {
  return typeof peers === "object" && peers !== null && "dns" in peers;
}
