import type * as http2 from "node:http2";
import { createClient, type Interceptor } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { createGrpcTransport, type Http2SessionOptions } from "@connectrpc/connect-node";
import { defaultPeerTimeoutMs } from "../core/defaults.ts";
import { arrayOption, booleanOption, nonNegativeNumber, optionsObject, positiveNumber } from "../core/options.ts";
import { parsePeerId } from "../core/peer-id.ts";
import type { PeerClientContext, PeerClientFactory } from "../core/peers.ts";
import { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import { GetStreamClient } from "./get-stream/get-stream-client.ts";
import { GrpcPeer } from "./grpc-peer.ts";
import { peerBaseUrl } from "./peer-base-url.ts";
import { PeerPinger, WatchedSessionManager } from "./peer-pinger.ts";
import { messageBytesOption } from "./transport-options.ts";
import { tokenOption } from "./write-caller.ts";

/** Options of {@link grpcPeerClient}. Every peer gets its own connection built from them. */
export interface GrpcPeerClientOptions {
  /**
   * Connect over TLS (`https://`) with these `http2.connect` options (`ca`,
   * `cert`, `key`, `servername`, `rejectUnauthorized`, ...). Default: none,
   * cleartext HTTP/2 (h2c), fine on a private network or a service mesh.
   */
  tls?: http2.SecureClientSessionOptions;
  /**
   * Longest a call may take, sent to the owner as the gRPC deadline; the
   * caller's own `AbortSignal` still cancels it sooner. When it runs out the
   * call fails with `deadline-exceeded` and the caller loads the key itself.
   * Default: `defaultPeerTimeoutMs`, 35 000 ms: a group's default
   * `getterTimeoutMs` (30 s) plus 5 s, so a slow load on the owner is not
   * abandoned and repeated here. `0` means no deadline.
   */
  timeoutMs?: number;
  /**
   * Largest response message accepted, in bytes; a larger one fails with
   * `resource-exhausted` (and the caller loads the key itself). Default:
   * `defaultMaxMessageBytes` (8 MiB + 64 KiB: a value of a group's default
   * `maxValueBytes` with its key and framing).
   */
  readMaxBytes?: number;
  /** Largest request message sent, in bytes. Default: `defaultMaxMessageBytes` (8 MiB + 64 KiB). */
  writeMaxBytes?: number;
  /**
   * Response compressions to accept, most preferred first (for example
   * `[compressionGzip]` from `@connectrpc/connect-node`). Default: none:
   * values are usually already compact or compressed, and on a LAN gzip
   * costs more CPU time than it saves in transfer (it roughly halves
   * throughput of 10 KB values on loopback).
   */
  acceptCompression?: Compression[];
  /** Compress requests with this algorithm. Default: none (requests are a group name and a key). */
  sendCompression?: Compression;
  /**
   * HTTP/2 keep-alive of each peer connection: `pingIntervalMs`,
   * `pingTimeoutMs`, `pingIdleConnection`, `idleConnectionTimeoutMs`.
   * Default: Connect's (no PINGs, idle connections closed after 15 min).
   * Set `pingIntervalMs` to notice a peer that vanished without closing its
   * connections (a cut network rather than a killed process).
   */
  session?: Http2SessionOptions;
  /**
   * Connect interceptors run on every unary call (metrics, auth headers,
   * ...). Keys sent on a GetStream do not pass through them, so setting
   * interceptors turns `stream` off unless it is set explicitly. Default:
   * none.
   */
  interceptors?: Interceptor[];
  /**
   * Fetch keys over one long-lived GetStream per peer (`true`), or with one
   * unary `Get` call per key (`false`, how Go's gRPC fork and earlier
   * versions talk). On the stream, keys asked for in the same microtask
   * travel in one message and their answers come back as each is ready, so
   * a key costs a few bytes instead of an HTTP/2 stream: several times the
   * throughput, and a lower latency under load. A peer that does not serve
   * GetStream (it answers UNIMPLEMENTED) is asked with `Get` from then on,
   * by this client. Default: `true`, or `false` when `interceptors` are set.
   */
  stream?: boolean;
  /**
   * How long a peer's GetStream stays open with nothing in flight, in
   * milliseconds; the next key opens a new one (`0`: as soon as nothing is
   * in flight). An open stream keeps its connection, and so the process,
   * alive. Default: 1 000.
   */
  streamIdleMs?: number;
  /**
   * How long requests to a peer may be in flight with nothing heard from it
   * before an HTTP/2 PING checks it, in ms. A peer that answers anything
   * (a value, an error) is not pinged, so a busy healthy peer never is.
   * Default: 100.
   */
  pingAfterMs?: number;
  /**
   * How long that PING may go unanswered before the peer is reported down,
   * in ms. A peer that is alive but silent (stopped, in a GC storm, its
   * event loop saturated) is then taken out of routing: what was in flight
   * to it fails at once and is loaded locally, as are its keys until it
   * answers a probe (`GroupCache`'s `probeIntervalMs`). So it is noticed
   * within `pingAfterMs` + `pingTimeoutMs` (~1.1 s by default) instead of
   * after `timeoutMs`. A peer's HTTP/2 layer acks a PING as soon as its
   * event loop reads the socket, so a slow getter does not count as
   * silence; a peer whose event loop stalls longer than this does. A
   * connection that has not answered yet (to a peer process that is just
   * starting) gets 5 times as long. A false alarm costs local loads of the
   * peer's keys until the next probe (every `probeIntervalMs`, each waiting
   * up to 1 s), never a failed get. Lower it where peers have their CPU
   * (300 ms notices a stopped peer in ~400 ms). `0` turns the checks off.
   * Default: 1 000.
   */
  pingTimeoutMs?: number;
  /**
   * Shared secret sent with every write (Set, Remove) in the
   * `groupcache-token` header: the peers' `writes.token`. Default: none.
   */
  token?: string;
}

/**
 * HTTP/2 receive window of each peer connection and of each of its streams:
 * enough for 64 answers of 10 KB in flight on one stream without stalling.
 */
const receiveWindowBytes = 4 << 20;
/** `streamIdleMs` when unset. */
const defaultStreamIdleMs = 1_000;
/** `pingAfterMs` when unset. */
const defaultPingAfterMs = 100;
/**
 * `pingTimeoutMs` when unset. A PING crosses loopback or a LAN in well
 * under a millisecond; this leaves room for a peer starved of CPU on a
 * crowded node, where a burst of a few milliseconds of work takes hundreds
 * of wall-clock milliseconds: on a 2-core machine at a load average of 30,
 * 200 and 300 ms gave false alarms (cold processes under a burst of 1,000
 * gets), each costing local loads of a live peer's keys.
 */
const defaultPingTimeoutMs = 1_000;
/**
 * A probe's deadline: longer than a PING's, as a probe of a peer that was
 * dropped opens a new connection first; and a peer that resumes answers the
 * probe it finds waiting, so a long one brings it back sooner.
 */
const probeTimeoutMs = 1_000;

/**
 * Creates the clients of the other peers for `GroupCache`'s `peerClient`
 * option: one HTTP/2 connection per peer id (`host:port`, `[ipv6]:port`),
 * created when the peer joins the ring and closed when it leaves. Keys go
 * out on a GetStream multiplexed on that connection (see `stream`), or as
 * Connect gRPC unary calls. Options are checked here, so a bad one fails at
 * start-up rather than at the first miss.
 *
 * ```ts
 * const cache = new GroupCache({ self: "10.0.0.1:8080", peerClient: grpcPeerClient() });
 * ```
 *
 * The owner's answers come back as the core expects: NOT_FOUND becomes a
 * `NotFoundError`, other statuses `GroupCacheError`s (see `fromConnectError`),
 * and values are copied out of the response buffer, so caching one does not
 * keep the whole buffer alive.
 */
export function grpcPeerClient(options?: GrpcPeerClientOptions): PeerClientFactory {
  const o = resolveClientOptions(options);
  return (id, context?: PeerClientContext) => {
    const { host } = parsePeerId(id);
    const baseUrl = peerBaseUrl(id, o.tls !== undefined);
    // Node's HTTP/2 client sends `:authority` as `servername:port`, or
    // `host:port` without brackets for an IPv6 host, which is not a valid
    // authority. Over cleartext, servername only feeds that header: bracket it.
    const connectOptions: http2.SecureClientSessionOptions = {
      ...(o.tls === undefined && host.includes(":") ? { servername: `[${host}]` } : o.tls),
      // Values come back on one stream: with HTTP/2's default 64 KiB
      // window, 10 KB values at 64 keys in flight wait on WINDOW_UPDATEs.
      settings: { initialWindowSize: receiveWindowBytes, ...o.tls?.settings },
    };
    const sessionManager = new WatchedSessionManager(baseUrl, o.session, connectOptions);
    const transport = createGrpcTransport({
      baseUrl,
      sessionManager,
      acceptCompression: o.acceptCompression,
      ...(o.sendCompression === undefined ? {} : { sendCompression: o.sendCompression }),
      readMaxBytes: o.readMaxBytes,
      writeMaxBytes: o.writeMaxBytes,
      interceptors: o.interceptors,
    });
    const peer = new GrpcPeer(id, createClient(GroupCache, transport), sessionManager, o.timeoutMs, o.token, context);
    if (context !== undefined && o.pingTimeoutMs > 0) {
      const pinger = new PeerPinger({
        peer: id,
        sessionManager,
        pingAfterMs: o.pingAfterMs,
        pingTimeoutMs: o.pingTimeoutMs,
        liveness: context.liveness,
        onDown: (reason) => peer.dropConnection(reason),
      });
      peer.usePinger(pinger, Math.max(probeTimeoutMs, o.pingTimeoutMs));
    }
    if (o.stream) {
      peer.useStream(
        new GetStreamClient({
          peer: id,
          sessionManager,
          timeoutMs: o.timeoutMs,
          readMaxBytes: o.readMaxBytes,
          writeMaxBytes: o.writeMaxBytes,
          idleMs: o.streamIdleMs,
          receiveWindowBytes,
          fallback: (group, key, signal, trace) => peer.unaryGet(group, key, signal, trace),
          context,
        }),
      );
    }
    return peer;
  };
}

/**
 * {@link GrpcPeerClientOptions} checked once, with their defaults filled
 * in; throws `invalid-argument` naming a bad value.
 */
function resolveClientOptions(options: GrpcPeerClientOptions | undefined) {
  const o = optionsObject("grpcPeerClient: options", options);
  const interceptors = arrayOption("grpcPeerClient: interceptors", o.interceptors);
  return {
    tls: o.tls,
    timeoutMs: nonNegativeNumber("grpcPeerClient: timeoutMs", o.timeoutMs, defaultPeerTimeoutMs),
    readMaxBytes: messageBytesOption("grpcPeerClient: readMaxBytes", o.readMaxBytes),
    writeMaxBytes: messageBytesOption("grpcPeerClient: writeMaxBytes", o.writeMaxBytes),
    acceptCompression: arrayOption("grpcPeerClient: acceptCompression", o.acceptCompression),
    sendCompression: o.sendCompression,
    session: o.session,
    interceptors,
    stream: booleanOption("grpcPeerClient: stream", o.stream, interceptors.length === 0),
    streamIdleMs: nonNegativeNumber("grpcPeerClient: streamIdleMs", o.streamIdleMs, defaultStreamIdleMs),
    pingAfterMs: positiveNumber("grpcPeerClient: pingAfterMs", o.pingAfterMs, defaultPingAfterMs),
    pingTimeoutMs: nonNegativeNumber("grpcPeerClient: pingTimeoutMs", o.pingTimeoutMs, defaultPingTimeoutMs),
    token: tokenOption("grpcPeerClient: token", o.token),
  };
}
