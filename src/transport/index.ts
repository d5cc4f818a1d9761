/**
 * `groupcache/transport`: the building blocks of the gRPC transport, for
 * applications that assemble a peer themselves (their own HTTP/2 server,
 * Connect routes beside other services, status mapping in interceptors).
 * The runtime entries (`groupcache/node`, `/bun`, `/deno`) re-export the
 * parts most applications use.
 *
 * The peer transport over gRPC on HTTP/2 for Node, and for Bun and Deno
 * through their `node:http2`: a client factory for `GroupCache`'s
 * `peerClient` option, the `groupcachepb.GroupCache` service as Connect
 * routes, and a server that serves it. Keys travel on one GetStream per
 * peer (hand-written gRPC on `node:http2`), or as Connect unary `Get` calls
 * (`stream: false`, and with peers that only know `Get`, as Go's).
 */

export { defaultMaxMessageBytes } from "../core/defaults.ts";
export { type PeerAddress, parsePeerId } from "../core/peer-id.ts";
export type { PeerServable } from "../core/peers.ts";
export { type GroupCacheRoutesOptions, groupCacheRoutes } from "./group-cache-routes.ts";
export { fromConnectError, toConnectError } from "./grpc/grpc-status.ts";
export { type GrpcPeerClientOptions, grpcPeerClient } from "./grpc-peer-client.ts";
export { peerBaseUrl } from "./peer-base-url.ts";
export { type PeerRequestHandler, peerRequestHandler } from "./peer-request-handler.ts";
export { type PeerServer, type PeerServerOptions, startPeerServer } from "./peer-server.ts";
export { connectionContextValues } from "./write-caller.ts";
export { type PeerWriteOptions, type WriteCaller, type WriteKind, writeRefusal } from "./write-trust.ts";
