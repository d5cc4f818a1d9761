/**
 * What every runtime entrypoint exports besides the core: the gRPC
 * transport as applications use it (its other building blocks are the
 * `groupcache/transport` subpath), DNS SRV discovery and the types of
 * `startPeer`. The resolvers
 * are exported by the entrypoint whose runtime has them.
 */
export {
  createDnsSrvDiscovery,
  type DnsSrvDiscovery,
  type DnsSrvDiscoveryOptions,
  type DnsSrvStats,
} from "../discovery/dns-srv.ts";
export type { DnsQueryOptions, DnsResolver, SrvRecord } from "../discovery/resolver.ts";
export { type SrvNameOptions, srvName } from "../discovery/srv-name.ts";
export {
  type GroupCacheRoutesOptions,
  type GrpcPeerClientOptions,
  groupCacheRoutes,
  grpcPeerClient,
  type PeerRequestHandler,
  type PeerServer,
  type PeerServerOptions,
  type PeerWriteOptions,
  peerRequestHandler,
  startPeerServer,
} from "../transport/index.ts";
export type { DnsPeersOptions, Peer, PeerHealth, StartPeerOptions } from "./start-peer.ts";
