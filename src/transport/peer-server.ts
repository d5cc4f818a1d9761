import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { defaultPeerHost } from "../core/defaults.ts";
import { GroupCacheError } from "../core/errors.ts";
import { integerInRange, invalidOption, nonNegativeNumber, optionsObject, positiveNumber } from "../core/options.ts";
import { formatPeerId } from "../core/peer-id.ts";
import type { PeerServable } from "../core/peers.ts";
import { type GroupCacheRoutesOptions, resolveRoutesOptions } from "./group-cache-routes.ts";
import { handlerFor } from "./peer-request-handler.ts";
import { capOpenStreams, watchSession } from "./peer-server-guards.ts";
import { maxTimerMs } from "./transport-options.ts";

/** Options of {@link startPeerServer}. */
export interface PeerServerOptions extends Omit<GroupCacheRoutesOptions, "shutdownSignal"> {
  /**
   * Address to listen on. Default: `defaultPeerHost`, `"127.0.0.1"` (this
   * machine only); use the address your peers reach you at (a pod IP, or
   * `"0.0.0.0"` / `"::"` for every interface) in a real cluster.
   */
  host?: string;
  /** Port to listen on; `0` lets the system pick a free one (read it from `port`). Default: 0. */
  port?: number;
  /**
   * Serve over TLS with these `http2.createSecureServer` options (`cert`,
   * `key`, `ca`, `requestCert`, ...). Default: none, cleartext HTTP/2 (h2c).
   */
  tls?: http2.SecureServerOptions;
  /**
   * How long `close()` lets requests in progress finish before it answers
   * them with UNAVAILABLE (their callers load the keys themselves); a second
   * later, connections still open are dropped. Default: 5 000 ms.
   */
  closeTimeoutMs?: number;
  /**
   * Streams one connection may have open at once (HTTP/2
   * `SETTINGS_MAX_CONCURRENT_STREAMS`); a client that opens more has them
   * refused (Node's own client queues them). Our clients use one GetStream
   * per peer, or one stream per key in flight with `stream: false`.
   * Default: 256 (Go's HTTP/2 server allows 250).
   */
  maxConcurrentStreams?: number;
  /**
   * Streams open at once over all connections; past it, a new request is
   * answered UNAVAILABLE at once (its caller loads the key itself). Each
   * open stream costs `node:http2` and the handler some 50-80 KB, so this
   * is what bounds the memory of many connections of slow or stuck
   * streams. Peers use one GetStream each (one stream per key in flight
   * with `stream: false`): raise it for large clusters of such clients.
   * Default: 1 000.
   */
  maxOpenStreams?: number;
  /**
   * Memory one connection may hold in `node:http2`'s buffers, in MiB
   * (Node's `maxSessionMemory`); past it, new streams are refused with
   * ENHANCE_YOUR_CALM. Default: 10, as Node.
   */
  maxSessionMemory?: number;
  /**
   * Largest request header block, in bytes (HTTP/2
   * `SETTINGS_MAX_HEADER_LIST_SIZE`); gRPC headers are a few hundred
   * bytes. Default: 16 384.
   */
  maxHeaderListBytes?: number;
  /** Most header fields in one request (Node's `maxHeaderListPairs`, at least 4). Default: 64. */
  maxHeaderListPairs?: number;
  /**
   * How long a new connection has to complete its TLS handshake (with
   * `tls`) and send the HTTP/2 preface and SETTINGS; a slower one is
   * dropped, so connections that trickle their first bytes cannot pile
   * up. 0: no limit. Default: 10 000 ms.
   */
  handshakeTimeoutMs?: number;
  /**
   * How long a connection may go without a single byte in either
   * direction before it is closed (GOAWAY, then dropped a second later if
   * streams are still open): clients that vanished without closing
   * (half-open connections) and idle ones. Clients reconnect on their next
   * call. 0: never. Default: 300 000 ms (5 minutes).
   */
  idleTimeoutMs?: number;
}

/** A running peer server: its address and how to stop it. */
export interface PeerServer {
  /** The address listened on, as given (`"127.0.0.1"`, `"::1"`, ...). */
  readonly host: string;
  /** The bound port (the one the system picked when `port` was 0). */
  readonly port: number;
  /** `host:port` (`[host]:port` for IPv6): the peer id to list in `setPeers`, if peers reach you at `host`. */
  readonly id: string;
  /** The underlying Node server, for its events and settings. */
  readonly server: http2.Http2Server | http2.Http2SecureServer;
  /**
   * Replaces the TLS credentials (`cert`, `key`, `ca`, ...) for new
   * connections, as `tls.Server.setSecureContext`: rotate certificates
   * without a restart. Connections already open keep theirs. Throws
   * `invalid-argument` on a cleartext server.
   */
  setSecureContext(options: http2.SecureServerOptions): void;
  /**
   * Stops accepting connections and requests, lets requests in progress
   * finish (up to `closeTimeoutMs`), answers the rest with UNAVAILABLE, and
   * resolves once every connection is closed.
   */
  close(): Promise<void>;
}

/**
 * Starts an HTTP/2 server (cleartext, or TLS with `tls`) that serves
 * `cache` to its peers at `/groupcachepb.GroupCache/Get` (gRPC, and Connect
 * and gRPC-web) and `/groupcachepb.GroupCache/GetStream` (gRPC); see
 * `groupCacheRoutes` and `peerRequestHandler`. Resolves once it
 * listens. To serve from your own server instead, use `peerRequestHandler`.
 *
 * A cache's `self` id usually names the port; with `port: 0` it is known
 * only once this resolves, so pass an object that forwards to the cache you
 * create afterwards: `{ serve: (g, k, o) => cache.serve(g, k, o),
 * serveCached: (g, k) => cache.serveCached(g, k) }` (the second is
 * optional: it answers cached keys without a promise each; so are `peek`,
 * and `removeLocally`, `setLocally` and `isRingPeerHost` for the writes
 * `writes` lets in).
 */
export async function startPeerServer(cache: PeerServable, options?: PeerServerOptions): Promise<PeerServer> {
  const { host, port, tls, closeTimeoutMs, limits, routes } = resolveServerOptions(cache, options);
  const shutdown = new AbortController();
  const handler = capOpenStreams(
    handlerFor(cache, { ...routes, shutdownSignal: shutdown.signal }),
    limits.maxOpenStreams,
  );
  const nodeOptions: http2.ServerOptions = {
    maxSessionMemory: limits.maxSessionMemory,
    maxHeaderListPairs: limits.maxHeaderListPairs,
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListBytes,
    },
  };
  const server =
    tls === undefined
      ? http2.createServer(nodeOptions, handler)
      : http2.createSecureServer(
          {
            ...(limits.handshakeTimeoutMs === 0 ? {} : { handshakeTimeout: limits.handshakeTimeoutMs }),
            ...tls,
            ...nodeOptions,
            settings: { ...tls.settings, ...nodeOptions.settings },
          },
          handler,
        );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // A peer that resets its connection must not crash the process.
    session.on("error", () => {});
    watchSession(session, limits.handshakeTimeoutMs, limits.idleTimeoutMs);
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      reject(
        new GroupCacheError(
          "unavailable",
          `startPeerServer: cannot listen on ${formatPeerId(host, port)}: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  server.on("error", () => {});
  const bound = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    host,
    port: bound,
    id: formatPeerId(host, bound),
    server,
    setSecureContext(options) {
      if (tls === undefined) {
        throw new GroupCacheError(
          "invalid-argument",
          `peer server ${formatPeerId(host, bound)} serves cleartext HTTP/2: start it with tls to set TLS credentials`,
        );
      }
      (server as http2.Http2SecureServer).setSecureContext(options);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close();
        const force = () => {
          // Release the handlers, so they answer UNAVAILABLE and their
          // streams end; drop connections still open a second later.
          shutdown.abort(new GroupCacheError("unavailable", `peer server ${formatPeerId(host, bound)} is closing`));
          setTimeout(() => {
            for (const session of sessions) session.destroy();
          }, 1_000).unref();
        };
        if (sessions.size === 0) return;
        if (closeTimeoutMs === 0) force();
        else setTimeout(force, closeTimeoutMs).unref();
      });
      return closing;
    },
  };
}

/** `closeTimeoutMs` when unset. */
const defaultCloseTimeoutMs = 5_000;

/** {@link PeerServerOptions} checked once, with their defaults filled in; throws `invalid-argument` naming a bad value. */
function resolveServerOptions(cache: PeerServable, options: PeerServerOptions | undefined) {
  const {
    host = defaultPeerHost,
    port,
    tls,
    closeTimeoutMs,
    maxConcurrentStreams,
    maxOpenStreams,
    maxSessionMemory,
    maxHeaderListBytes,
    maxHeaderListPairs,
    handshakeTimeoutMs,
    idleTimeoutMs,
    ...routes
  } = optionsObject("startPeerServer: options", options);
  if (typeof host !== "string")
    throw invalidOption("startPeerServer: host", "a string (an IP address or host name)", host);
  if (tls !== undefined && (tls === null || typeof tls !== "object")) {
    throw invalidOption("startPeerServer: tls", "an options object of http2.createSecureServer", tls);
  }
  const name = (option: string) => `startPeerServer: ${option}`;
  return {
    host,
    port: integerInRange(name("port"), port, 0, 65535, 0),
    tls,
    closeTimeoutMs: nonNegativeNumber(name("closeTimeoutMs"), closeTimeoutMs, defaultCloseTimeoutMs),
    limits: {
      maxConcurrentStreams: integerInRange(name("maxConcurrentStreams"), maxConcurrentStreams, 1, 0x7fffffff, 256),
      maxOpenStreams: integerInRange(name("maxOpenStreams"), maxOpenStreams, 1, 0x7fffffff, 1_000),
      maxSessionMemory: positiveNumber(name("maxSessionMemory"), maxSessionMemory, 10),
      maxHeaderListBytes: integerInRange(name("maxHeaderListBytes"), maxHeaderListBytes, 1, 0xffffffff, 16_384),
      maxHeaderListPairs: integerInRange(name("maxHeaderListPairs"), maxHeaderListPairs, 4, 0xffffffff, 64),
      handshakeTimeoutMs: integerInRange(name("handshakeTimeoutMs"), handshakeTimeoutMs, 0, maxTimerMs, 10_000),
      idleTimeoutMs: integerInRange(name("idleTimeoutMs"), idleTimeoutMs, 0, maxTimerMs, 300_000),
    },
    routes: resolveRoutesOptions("startPeerServer", cache, routes),
  };
}
