/**
 * groupcache for Bun (≥ 1.2): the core, the gRPC transport over Bun's
 * `node:http2`, DNS SRV discovery over its `node:dns`, and `startPeer`.
 *
 * Why not `Bun.serve`: peers speak gRPC, whose status travels in HTTP
 * trailers, and a fetch-style `Response` cannot send trailers. Bun's
 * `node:http2` can, and interoperates with Node and Deno peers.
 */
import { createNodeResolver } from "../discovery/node-resolver.ts";
import { type Peer, type StartPeerOptions, startPeerWith } from "./start-peer.ts";

export { createNodeResolver, type NodeResolverOptions } from "../discovery/node-resolver.ts";
export * from "../index.ts";
export * from "./shared-exports.ts";

/**
 * Starts a peer on Bun: listens for peers on HTTP/2, creates the cache
 * with its own id, and follows `peers` (a list, `{ dns }` or a discovery).
 *
 * ```ts
 * const peer = await startPeer({ host: "0.0.0.0", port: 8080, advertiseHost: Bun.env.POD_IP,
 *   peers: { dns: { service: "fib", namespace: "default" } } });
 * const fib = peer.cache.newGroup({ name: "fib", getter: (n) => String(slowFib(Number(n))) });
 * ```
 */
export function startPeer(options?: StartPeerOptions): Promise<Peer> {
  return startPeerWith({ resolver: (server) => createNodeResolver(server === undefined ? {} : { server }) }, options);
}
