import type * as http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { PeerServable } from "../core/peers.ts";
import { isGrpcGetStream, serveGetStream } from "./get-stream/serve-get-stream.ts";
import {
  type GroupCacheRoutesOptions,
  type ResolvedRoutesOptions,
  resolveRoutesOptions,
  routesFor,
} from "./group-cache-routes.ts";
import { peerContextValues } from "./write-trust.ts";

/** A request listener for `http2.createServer` / `http2.createSecureServer`. */
export type PeerRequestHandler = (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => void;

/**
 * {@link groupCacheRoutes} as a ready request listener for your own
 * `node:http2` server (what `startPeerServer` uses):
 *
 * ```ts
 * http2.createServer(peerRequestHandler(cache)).listen(8080);
 * ```
 *
 * Prefer it over mounting the routes with `connectNodeAdapter` yourself: it
 * also survives a request whose `:authority` is not a valid URL host.
 * connect-node 2.2 parses that header synchronously and throws, which would
 * crash the process, and Node's own HTTP/2 client sends such a header
 * (`::1:8080`, without brackets) to IPv6 addresses. The header means nothing
 * to this service, so an unparsable one is replaced by `localhost`.
 *
 * gRPC calls of GetStream (what `grpcPeerClient` uses by default) are served
 * by a hand-written handler on `node:http2` rather than through Connect,
 * which costs more per stream message than the rest of a key's trip. With
 * `interceptors` set, GetStream is answered UNIMPLEMENTED, as by
 * {@link groupCacheRoutes}: callers then send every key as a Get, which the
 * interceptors see.
 */
export function peerRequestHandler(cache: PeerServable, options?: GroupCacheRoutesOptions): PeerRequestHandler {
  return handlerFor(cache, resolveRoutesOptions("peerRequestHandler", cache, options));
}

/** {@link peerRequestHandler} with its options already resolved (for `startPeerServer`). */
export function handlerFor(cache: PeerServable, options: ResolvedRoutesOptions): PeerRequestHandler {
  const adapter = connectNodeAdapter({ routes: routesFor(cache, options), contextValues: peerContextValues });
  const fastStream = options.interceptors.length === 0;
  return (request, response) => {
    if (fastStream && isGrpcGetStream(request)) {
      serveGetStream(cache, request, response, options);
      return;
    }
    const headers = request.headers;
    const authority = headers[":authority"];
    if (typeof authority === "string" && !URL.canParse(`http://${authority}`)) {
      headers[":authority"] = "localhost";
    }
    try {
      adapter(request, response);
    } catch (error) {
      // Whatever else connect-node rejects before the call starts: answer
      // it instead of letting it become an uncaught exception.
      if (!response.headersSent) {
        response.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
        response.end(`bad request: ${error instanceof Error ? error.message : String(error)}`);
      } else {
        response.stream.close();
      }
    }
  };
}
