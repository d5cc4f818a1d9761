import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { arrayOption, invalidOption, optionsObject, signalOption } from "../core/options.ts";
import type { PeerServable } from "../core/peers.ts";
import { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import { toConnectError } from "./grpc/grpc-status.ts";
import { checkCaller, traceFromHeaders } from "./trace-propagation.ts";
import { messageBytesOption } from "./transport-options.ts";

/** Options of {@link groupCacheRoutes}. */
export interface GroupCacheRoutesOptions {
  /**
   * Largest request message accepted, in bytes; a larger one is answered
   * with RESOURCE_EXHAUSTED and the server goes on serving. Requests are a
   * group name and a key, so this only needs to exceed the longest key.
   * Default: `defaultMaxMessageBytes` (8 MiB + 64 KiB).
   */
  readMaxBytes?: number;
  /**
   * Largest response message sent, in bytes; a larger value is answered
   * with RESOURCE_EXHAUSTED (and the peer loads the key itself). Default:
   * `defaultMaxMessageBytes` (8 MiB + 64 KiB: a value of a group's default
   * `maxValueBytes` with its key and framing).
   */
  writeMaxBytes?: number;
  /**
   * Compressions the server accepts for requests and may use for responses
   * (only those the client accepts too). Default: none; see
   * `GrpcPeerClientOptions.acceptCompression`. A compressed request is then
   * answered with UNIMPLEMENTED.
   */
  acceptCompression?: Compression[];
  /** Connect interceptors run on every request (metrics, auth, ...). Default: none. */
  interceptors?: Interceptor[];
  /**
   * When it fires, every request in progress is released (the loads
   * themselves go on for local callers): with the status of its reason when
   * that is a `GroupCacheError` (`startPeerServer` uses `unavailable`:
   * UNAVAILABLE), otherwise CANCELLED. Default: none.
   */
  shutdownSignal?: AbortSignal;
}

/**
 * The `groupcachepb.GroupCache` service as Connect routes, to mount on your
 * own HTTP/2 server next to your other services:
 *
 * ```ts
 * http2.createServer(connectNodeAdapter({ routes: groupCacheRoutes(cache) })).listen(8080);
 * ```
 *
 * Each `/groupcachepb.GroupCache/Get` request is answered by `cache.serve`
 * with the request's signal, so a caller's cancel or deadline releases it
 * (the shared load goes on for others). Errors become gRPC statuses per
 * `toConnectError`: NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION for an
 * unknown group, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNKNOWN for a failed
 * getter, INTERNAL otherwise. The response's `minute_qps` carries the key's
 * request rate on this peer.
 *
 * GetStream is answered UNIMPLEMENTED here, so callers fetch every key with
 * Get (which these routes' interceptors see). It is served only by
 * `peerRequestHandler`, on `node:http2` without Connect: per message,
 * Connect's generic streaming costs more than the rest of a key's trip. To
 * serve it beside other Connect services, send the service's paths to
 * `peerRequestHandler`:
 *
 * ```ts
 * const groupcache = peerRequestHandler(cache);
 * const others = connectNodeAdapter({ routes });
 * http2.createServer((req, res) =>
 *   req.url.startsWith("/groupcachepb.GroupCache/") ? groupcache(req, res) : others(req, res));
 * ```
 */
export function groupCacheRoutes(
  cache: PeerServable,
  options?: GroupCacheRoutesOptions,
): (router: ConnectRouter) => void {
  return routesFor(cache, resolveRoutesOptions("groupCacheRoutes", cache, options));
}

/** {@link groupCacheRoutes} with its options already resolved (for `peerRequestHandler`). */
export function routesFor(cache: PeerServable, options: ResolvedRoutesOptions): (router: ConnectRouter) => void {
  return (router) => {
    router.service(
      GroupCache,
      {
        async get(request, context) {
          try {
            const header = (name: string) => context.requestHeader.get(name);
            const from = checkCaller(cache, header);
            const { value, minuteQps } =
              cache.serveCached?.(request.group, request.key) ??
              (await cache.serve(request.group, request.key, {
                signal: context.signal,
                trace: traceFromHeaders(header),
                from,
              }));
            return { value, minuteQps };
          } catch (error) {
            throw toConnectError(error);
          }
        },
        peek(request) {
          if (cache.peek === undefined) throw new ConnectError("this peer does not serve Peek", Code.Unimplemented);
          try {
            const value = cache.peek(request.group, request.key);
            return value === undefined ? { found: false } : { found: true, value };
          } catch (error) {
            throw toConnectError(error);
          }
        },
      },
      options,
    );
  };
}

/** {@link GroupCacheRoutesOptions} checked, with their defaults filled in. */
export interface ResolvedRoutesOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  acceptCompression: Compression[];
  interceptors: Interceptor[];
  shutdownSignal?: AbortSignal;
}

/**
 * Checks `cache` and `options` once, for `caller` (named in errors:
 * `groupCacheRoutes`, `peerRequestHandler`, `startPeerServer`), and fills
 * in the defaults. Throws `invalid-argument` naming a bad value.
 */
export function resolveRoutesOptions(
  caller: string,
  cache: PeerServable,
  options: GroupCacheRoutesOptions | undefined,
): ResolvedRoutesOptions {
  if (typeof cache?.serve !== "function") {
    throw invalidOption(`${caller}: cache`, "an object with a serve method (a GroupCache)", cache);
  }
  const o = optionsObject(`${caller}: options`, options);
  const shutdownSignal = signalOption(`${caller}: shutdownSignal`, o.shutdownSignal);
  return {
    readMaxBytes: messageBytesOption(`${caller}: readMaxBytes`, o.readMaxBytes),
    writeMaxBytes: messageBytesOption(`${caller}: writeMaxBytes`, o.writeMaxBytes),
    acceptCompression: arrayOption(`${caller}: acceptCompression`, o.acceptCompression),
    interceptors: arrayOption(`${caller}: interceptors`, o.interceptors),
    ...(shutdownSignal === undefined ? {} : { shutdownSignal }),
  };
}
