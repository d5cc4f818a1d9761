/**
 * groupcache for Deno (≥ 2): the core, the gRPC transport over Deno's
 * `node:http2`, DNS SRV discovery over `Deno.resolveDns`, and `startPeer`.
 *
 * Why not `Deno.serve`: peers speak gRPC, whose status travels in HTTP
 * trailers, and a fetch-style `Response` cannot send trailers. Deno's
 * `node:http2` can, and interoperates with Node and Bun peers. Needs
 * `--allow-net` (and `--allow-env` if you read `POD_IP`).
 */
import { createDenoResolver } from "../discovery/deno-resolver.ts";
import { type Peer, type StartPeerOptions, startPeerWith } from "./start-peer.ts";

export { createDenoResolver, type DenoResolverOptions } from "../discovery/deno-resolver.ts";
export * from "../index.ts";
export * from "./shared-exports.ts";

/**
 * Starts a peer on Deno: listens for peers on HTTP/2, creates the cache
 * with its own id, and follows `peers` (a list, `{ dns }` or a discovery).
 */
export function startPeer(options?: StartPeerOptions): Promise<Peer> {
  return startPeerWith({ resolver: (server) => createDenoResolver(server === undefined ? {} : { server }) }, options);
}
