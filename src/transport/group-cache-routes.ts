import { Code, ConnectError, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { defaultMaxKeysPerMessage } from "../core/defaults.ts";
import {
  arrayOption,
  integerInRange,
  invalidOption,
  optionsObject,
  positiveInteger,
  signalOption,
} from "../core/options.ts";
import type { PeerServable } from "../core/peers.ts";
import { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import { toConnectError } from "./grpc/grpc-status.ts";
import { checkCaller, traceFromHeaders } from "./trace-propagation.ts";
import { maxTimerMs, messageBytesOption } from "./transport-options.ts";
import { resolveWriteOptions, writeCallerOf } from "./write-caller.ts";
import { type PeerWriteOptions, type WriteKind, writeRefusal } from "./write-trust.ts";

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
   * GetStream (served by `peerRequestHandler`): keys one request message
   * may name. A message naming more ends its stream with
   * RESOURCE_EXHAUSTED before any of its keys is served (the caller then
   * loads them itself). Our clients send at most 1 000 per message.
   * Default: `defaultMaxKeysPerMessage`, 10 000.
   */
  maxKeysPerMessage?: number;
  /**
   * GetStream: keys one stream may have in flight (being loaded; cache hits
   * do not count). Further keys wait, in order, and the stream's requests
   * are not read meanwhile, so HTTP/2 flow control makes the caller wait
   * too: a caller cannot start more loads than this however many keys it
   * sends. Default: 1 000.
   */
  maxStreamKeysInFlight?: number;
  /**
   * GetStream: keys all the streams of one HTTP/2 connection may have in
   * flight together; past it, their further keys wait as above. Default:
   * 4 000.
   */
  maxConnectionKeysInFlight?: number;
  /**
   * `peerRequestHandler` (and so `startPeerServer`): longest a request
   * message may take to arrive, from its first byte (for a Get, from the
   * request's headers) to its last. A slower one is answered
   * DEADLINE_EXCEEDED and its stream closed: a caller trickling bytes
   * (slowloris) holds a stream for this long at most. Requests are a few
   * hundred bytes; 0 turns the limit off. Default: 10 000 ms.
   */
  messageTimeoutMs?: number;
  /**
   * When it fires, every request in progress is released (the loads
   * themselves go on for local callers): with the status of its reason when
   * that is a `GroupCacheError` (`startPeerServer` uses `unavailable`:
   * UNAVAILABLE), otherwise CANCELLED. Default: none.
   */
  shutdownSignal?: AbortSignal;
  /**
   * Which writes peers may send, and from whom: Handoff (a leaving peer's
   * entries) is accepted by default, Set and Remove (the cluster-wide
   * `Group.set` and `remove`) are refused with PERMISSION_DENIED unless
   * `invalidation` is true. An accepted kind is taken only from a caller
   * with a client certificate this server verified (mTLS), or else from the
   * host of a peer in this cache's current or a recent ring; with `token`,
   * only when they carry it too. Default: `{ handoff: true, invalidation:
   * false }`, no token.
   */
  writes?: PeerWriteOptions;
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
 * request rate on this peer, its `ttl_ms` and `stale_ms` the value's
 * remaining TTL and grace here; a NOT_FOUND this peer caches carries the
 * time left in the `groupcache-not-found-ttl-ms` trailer.
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
            const { value, minuteQps, ttlMs, staleMs } =
              cache.serveCached?.(request.group, request.key) ??
              (await cache.serve(request.group, request.key, {
                signal: context.signal,
                trace: traceFromHeaders(header),
                from,
              }));
            return { value, minuteQps, ttlMs: ttlMs ?? 0, staleMs: staleMs ?? 0 };
          } catch (error) {
            throw toConnectError(error);
          }
        },
        set(request, context) {
          const setLocally = cache.setLocally;
          if (setLocally === undefined) throw new ConnectError("this peer does not serve Set", Code.Unimplemented);
          refuseUntrusted("invalidation", cache, options, context);
          try {
            const ttlMs = request.ttlMs === 0n ? undefined : Number(request.ttlMs);
            return { stored: setLocally.call(cache, request.group, request.key, request.value, { ttlMs }) };
          } catch (error) {
            throw toConnectError(error);
          }
        },
        remove(request, context) {
          const removeLocally = cache.removeLocally;
          if (removeLocally === undefined)
            throw new ConnectError("this peer does not serve Remove", Code.Unimplemented);
          refuseUntrusted("invalidation", cache, options, context);
          try {
            return { removed: removeLocally.call(cache, request.group, request.keys) };
          } catch (error) {
            throw toConnectError(error);
          }
        },
        handoff(request, context) {
          if (cache.acceptHandoff === undefined) {
            throw new ConnectError("this peer does not serve Handoff", Code.Unimplemented);
          }
          refuseUntrusted("handoff", cache, options, context);
          return cache.acceptHandoff(request.entries);
        },
        peek(request) {
          if (cache.peek === undefined) throw new ConnectError("this peer does not serve Peek", Code.Unimplemented);
          try {
            const peeked = cache.peek(request.group, request.key);
            return peeked === undefined
              ? { found: false }
              : { found: true, value: peeked.value, ttlMs: peeked.ttlMs ?? 0, staleMs: peeked.staleMs ?? 0 };
          } catch (error) {
            throw toConnectError(error);
          }
        },
      },
      options,
    );
  };
}

/** Throws PERMISSION_DENIED, saying why, unless this server accepts writes of `kind` from the caller. */
function refuseUntrusted(
  kind: WriteKind,
  cache: PeerServable,
  options: ResolvedRoutesOptions,
  context: HandlerContext,
): void {
  const reason = writeRefusal(
    kind,
    writeCallerOf(context),
    options.writes,
    (ip) => cache.isRingPeerHost?.(ip) ?? false,
  );
  if (reason !== undefined) throw new ConnectError(`write refused: ${reason}`, Code.PermissionDenied);
}

/** {@link GroupCacheRoutesOptions} checked, with their defaults filled in. */
export interface ResolvedRoutesOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  acceptCompression: Compression[];
  interceptors: Interceptor[];
  maxKeysPerMessage: number;
  maxStreamKeysInFlight: number;
  maxConnectionKeysInFlight: number;
  messageTimeoutMs: number;
  shutdownSignal?: AbortSignal;
  writes: PeerWriteOptions;
}

/** `maxStreamKeysInFlight` when unset. */
const defaultMaxStreamKeysInFlight = 1_000;
/** `maxConnectionKeysInFlight` when unset. */
const defaultMaxConnectionKeysInFlight = 4_000;
/** `messageTimeoutMs` when unset. */
const defaultMessageTimeoutMs = 10_000;

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
    maxKeysPerMessage: positiveInteger(`${caller}: maxKeysPerMessage`, o.maxKeysPerMessage, defaultMaxKeysPerMessage),
    maxStreamKeysInFlight: positiveInteger(
      `${caller}: maxStreamKeysInFlight`,
      o.maxStreamKeysInFlight,
      defaultMaxStreamKeysInFlight,
    ),
    maxConnectionKeysInFlight: positiveInteger(
      `${caller}: maxConnectionKeysInFlight`,
      o.maxConnectionKeysInFlight,
      defaultMaxConnectionKeysInFlight,
    ),
    messageTimeoutMs: integerInRange(
      `${caller}: messageTimeoutMs`,
      o.messageTimeoutMs,
      0,
      maxTimerMs,
      defaultMessageTimeoutMs,
    ),
    writes: resolveWriteOptions(`${caller}: writes`, o.writes),
    ...(shutdownSignal === undefined ? {} : { shutdownSignal }),
  };
}
