/**
 * groupcache for Node (≥ 22): the core, the gRPC transport over
 * `node:http2`, DNS SRV discovery over `node:dns`, and `startPeer`, which
 * wires them into a running peer in one call.
 */
import { createNodeResolver } from "../discovery/node-resolver.ts";
import { type Peer, type StartPeerOptions, startPeerWith } from "./start-peer.ts";

export { createNodeResolver, type NodeResolverOptions } from "../discovery/node-resolver.ts";
export * from "../index.ts";
export * from "./shared-exports.ts";

/**
 * Starts a peer on Node: listens for peers on HTTP/2, creates the cache
 * with its own id, and follows `peers` (a list, `{ dns }` or a discovery).
 *
 * ```ts
 * const peer = await startPeer({ host: "0.0.0.0", port: 8080, advertiseHost: process.env.POD_IP,
 *   peers: { dns: { service: "fib", namespace: "default" } } });
 * const fib = peer.cache.newGroup({ name: "fib", getter: (n) => String(slowFib(Number(n))) });
 * ```
 */
export function startPeer(options?: StartPeerOptions): Promise<Peer> {
  return startPeerWith({ resolver: (server) => createNodeResolver(server === undefined ? {} : { server }) }, options);
}
