import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { defaultPeerHost } from "../core/defaults.ts";
import { GroupCacheError } from "../core/errors.ts";
import { integerInRange, invalidOption, nonNegativeNumber, optionsObject } from "../core/options.ts";
import { formatPeerId } from "../core/peer-id.ts";
import type { PeerServable } from "../core/peers.ts";
import { type GroupCacheRoutesOptions, resolveRoutesOptions } from "./group-cache-routes.ts";
import { handlerFor } from "./peer-request-handler.ts";

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
  const { host, port, tls, closeTimeoutMs, routes } = resolveServerOptions(cache, options);
  const shutdown = new AbortController();
  const handler = handlerFor(cache, { ...routes, shutdownSignal: shutdown.signal });
  const server = tls === undefined ? http2.createServer(handler) : http2.createSecureServer(tls, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // A peer that resets its connection must not crash the process.
    session.on("error", () => {});
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
    ...routes
  } = optionsObject("startPeerServer: options", options);
  if (typeof host !== "string")
    throw invalidOption("startPeerServer: host", "a string (an IP address or host name)", host);
  return {
    host,
    port: integerInRange("startPeerServer: port", port, 0, 65535, 0),
    tls,
    closeTimeoutMs: nonNegativeNumber("startPeerServer: closeTimeoutMs", closeTimeoutMs, defaultCloseTimeoutMs),
    routes: resolveRoutesOptions("startPeerServer", cache, routes),
  };
}
