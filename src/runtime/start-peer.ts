import { defaultDrainMs, defaultPeerHost } from "../core/defaults.ts";
import { GroupCacheError } from "../core/errors.ts";
import { GroupCache } from "../core/groupcache.ts";
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
  /** The cache's `handoffOnJoin`: push joining peers the keys they now own. Default: true. */
  handoffOnJoin?: boolean;
  /** Options of the clients of the other peers (TLS, deadlines, limits). */
  client?: GrpcPeerClientOptions;
  /** Options of the peer server (TLS, limits, close timeout); `host` and `port` are set above. */
  server?: Omit<PeerServerOptions, "host" | "port">;
  /** Called when the ring changed, and when discovery failed (the last good set stays). */
  onPeers?: ConnectDiscoveryOptions["onChange"];
  onError?: ConnectDiscoveryOptions["onError"];
  /**
   * How long `close()` keeps serving after leaving the ring, so peers that
   * still route keys here (until their discovery catches up) are answered
   * rather than refused, which would make each of them load those keys
   * again. Applies only when the ring had other peers. Default: 20 000
   * (`defaultDrainMs`, which explains it against Kubernetes'
   * `terminationGracePeriodSeconds` and DNS caching).
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
  /** Which writes (Handoff) the peer server accepts, and from whom; the server's `writes`. Default: `{ handoff: true }`. */
  writes?: PeerWriteOptions;
  /** Stops the peer (as `close()`) when it fires. */
  signal?: AbortSignal;
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
  /**
   * Shuts down in the order that loses nothing: leave the ring (stop owning
   * keys); hand the main-cache entries off to their new owners while
   * serving for `drainMs` (both when other peers are in the ring); close
   * the server (requests in progress finish), stop discovery, close the
   * peer connections.
   */
  close(): Promise<void>;
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
  const drainMs = nonNegativeNumber("startPeer: drainMs", options.drainMs, defaultDrainMs);
  const handoff = options.handoff === false ? undefined : resolveHandoffOptions("startPeer: handoff", options.handoff);
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
  const server = await startPeerServer(
    {
      serve: (group, key, opts) =>
        cache === undefined
          ? Promise.reject(new GroupCacheError("unavailable", "peer is starting"))
          : cache.serve(group, key, opts),
      serveCached: (group, key) => cache?.serveCached(group, key),
      peek: (group, key) => cache?.peek(group, key),
      acceptHandoff: (entries) => cache?.acceptHandoff(entries) ?? { stored: 0, skipped: entries.length },
      isRingPeerHost: (ip) => cache?.isRingPeerHost(ip) ?? false,
    },
    {
      ...options.server,
      ...(options.writes === undefined ? {} : { writes: options.writes }),
      host,
      port: options.port ?? 0,
    },
  );
  const self = options.self ?? formatPeerId(advertise, server.port);
  cache = new GroupCache({
    self,
    peerClient: grpcPeerClient(options.client),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(options.hash === undefined ? {} : { hash: options.hash }),
    ...(options.peekWindowMs === undefined ? {} : { peekWindowMs: options.peekWindowMs }),
    ...(options.peekTimeoutMs === undefined ? {} : { peekTimeoutMs: options.peekTimeoutMs }),
    ...(options.handoffOnJoin === undefined ? {} : { handoffOnJoin: options.handoffOnJoin }),
  });
  const live = cache;
  const membership =
    discovery === undefined
      ? undefined
      : connectDiscovery(live, discovery, {
          ...(options.onPeers === undefined ? {} : { onChange: options.onPeers }),
          ...(options.onError === undefined ? {} : { onError: options.onError }),
        });
  let closing: Promise<void> | undefined;
  let handedOff: HandoffReport | undefined;
  const close = () => {
    closing ??= (async () => {
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
    close,
    get handoff() {
      return handedOff;
    },
  };
}

function toDiscovery(defaults: RuntimeDefaults, peers: StartPeerOptions["peers"]): PeerDiscovery | undefined {
  if (peers === undefined) return undefined;
  if (isDiscovery(peers)) return peers;
  if (typeof peers === "object" && peers !== null && "dns" in peers) {
    const { resolver, server, ...rest } = peers.dns;
    return createDnsSrvDiscovery({ ...rest, resolver: resolver ?? defaults.resolver(server) });
  }
  return staticDiscovery(peerIdList("startPeer: peers", peers));
}
