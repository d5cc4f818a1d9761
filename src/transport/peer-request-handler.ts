import type * as http2 from "node:http2";
import { clearTimeout, setTimeout } from "node:timers";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { PeerServable } from "../core/peers.ts";
import { closeAfterAnswer } from "./close-after-answer.ts";
import { KeyBudget } from "./get-stream/key-budget.ts";
import { isGrpcGetStream, serveGetStream } from "./get-stream/serve-get-stream.ts";
import {
  type GroupCacheRoutesOptions,
  type ResolvedRoutesOptions,
  resolveRoutesOptions,
  routesFor,
} from "./group-cache-routes.ts";
import { isPlainGrpcGet, serveGet } from "./serve-get.ts";
import { connectionContextValues } from "./write-caller.ts";

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
 * gRPC calls of GetStream (what `grpcPeerClient` uses by default) and of Get
 * (what Go's gRPC fork and `stream: false` send) are served by hand-written
 * handlers on `node:http2` rather than through Connect, which costs more
 * per message than the rest of a key's trip, and ~80 KB of garbage per
 * Get. With `interceptors` set, GetStream is answered UNIMPLEMENTED, as by
 * {@link groupCacheRoutes}, and Connect serves every Get: callers then send
 * every key as a Get, which the interceptors see. Connect also serves what
 * the Get handler leaves (the Connect protocol, gRPC-web, JSON, compressed
 * requests, and every Get when `acceptCompression` is set).
 */
export function peerRequestHandler(cache: PeerServable, options?: GroupCacheRoutesOptions): PeerRequestHandler {
  return handlerFor(cache, resolveRoutesOptions("peerRequestHandler", cache, options));
}

/** {@link peerRequestHandler} with its options already resolved (for `startPeerServer`). */
export function handlerFor(cache: PeerServable, options: ResolvedRoutesOptions): PeerRequestHandler {
  const adapter = connectNodeAdapter({ routes: routesFor(cache, options), contextValues: connectionContextValues });
  const fastStream = options.interceptors.length === 0;
  const fastGet = fastStream && options.acceptCompression.length === 0;
  // The GetStream key slots of each connection, shared by its streams.
  const budgets = new WeakMap<http2.Http2Session, KeyBudget>();
  const budgetOf = (session: http2.Http2Session | undefined) => {
    if (session === undefined) return new KeyBudget(options.maxConnectionKeysInFlight);
    let budget = budgets.get(session);
    if (budget === undefined) {
      budget = new KeyBudget(options.maxConnectionKeysInFlight);
      budgets.set(session, budget);
    }
    return budget;
  };
  return (request, response) => {
    if (fastStream && isGrpcGetStream(request)) {
      serveGetStream(cache, request, response, options, budgetOf(request.stream.session));
      return;
    }
    if (fastGet && isPlainGrpcGet(request)) {
      serveGet(cache, request, response, options);
      return;
    }
    watchUnary(request, response, options.messageTimeoutMs);
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

/**
 * For a request Connect answers (a Get, or anything else): a request body
 * still arriving `messageTimeoutMs` after the headers fails Connect's read
 * of it with DEADLINE_EXCEEDED, which Connect answers as any error; and a
 * response that ends before the request did (refused as too large, or too
 * slow) closes the stream once its status is out, so the caller stops
 * sending and reads the status rather than waiting for its own deadline.
 */
function watchUnary(
  request: http2.Http2ServerRequest,
  response: http2.Http2ServerResponse,
  messageTimeoutMs: number,
): void {
  if (request.complete) return;
  closeAfterAnswer(request, response);
  if (messageTimeoutMs === 0) return;
  const timer = setTimeout(() => {
    if (request.complete || response.headersSent) return;
    request.emit(
      "error",
      new ConnectError(
        `the request did not arrive within messageTimeoutMs (${messageTimeoutMs} ms) of its headers`,
        Code.DeadlineExceeded,
      ),
    );
  }, messageTimeoutMs);
  const stop = () => clearTimeout(timer);
  request.once("end", stop);
  response.once("close", stop);
}
