import type * as http2 from "node:http2";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { createGrpcTransport, Http2SessionManager, type Http2SessionOptions } from "@connectrpc/connect-node";
import { GroupCacheError } from "../core/errors.ts";
import { parsePeerId } from "../core/peer-id.ts";
import type { PeerClient, PeerClientFactory, PeerGetResult } from "../core/peers.ts";
import { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import { GetStreamClient } from "./get-stream/get-stream-client.ts";
import { fromConnectError } from "./grpc/grpc-status.ts";
import { checkMaxBytes, checkMs } from "./grpc/message-bytes-option.ts";
import { peerBaseUrl } from "./peer-base-url.ts";

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
   * Default: 35 000 ms, a little more than a group's default
   * `getterTimeoutMs` (30 s), so a slow load on the owner is not abandoned
   * and repeated here. `0` means no deadline.
   */
  timeoutMs?: number;
  /**
   * Largest response message accepted, in bytes; a larger one fails with
   * `resource-exhausted` (and the caller loads the key itself). Default:
   * 8 MiB + 64 KiB, a default `maxValueBytes` value with headroom.
   */
  readMaxBytes?: number;
  /** Largest request message sent, in bytes. Default: 8 MiB + 64 KiB. */
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
}

const defaultTimeoutMs = 35_000;
/**
 * HTTP/2 receive window of each peer connection and of each of its streams:
 * enough for 64 answers of 10 KB in flight on one stream without stalling.
 */
const receiveWindowBytes = 4 << 20;
const defaultStreamIdleMs = 1_000;

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
export function grpcPeerClient(options: GrpcPeerClientOptions = {}): PeerClientFactory {
  const timeoutMs = checkMs("grpcPeerClient: timeoutMs", options.timeoutMs, defaultTimeoutMs);
  const readMaxBytes = checkMaxBytes("grpcPeerClient: readMaxBytes", options.readMaxBytes);
  const writeMaxBytes = checkMaxBytes("grpcPeerClient: writeMaxBytes", options.writeMaxBytes);
  const acceptCompression = options.acceptCompression ?? [];
  const { tls, sendCompression, session, interceptors = [] } = options;
  const stream = options.stream ?? interceptors.length === 0;
  if (typeof stream !== "boolean") {
    throw new GroupCacheError("invalid-argument", `grpcPeerClient: stream must be a boolean, got ${String(stream)}`);
  }
  const streamIdleMs = checkMs("grpcPeerClient: streamIdleMs", options.streamIdleMs, defaultStreamIdleMs);
  return (id) => {
    const { host } = parsePeerId(id);
    const baseUrl = peerBaseUrl(id, tls !== undefined);
    // Node's HTTP/2 client sends `:authority` as `servername:port`, or
    // `host:port` without brackets for an IPv6 host, which is not a valid
    // authority. Over cleartext, servername only feeds that header: bracket it.
    const connectOptions: http2.SecureClientSessionOptions = {
      ...(tls === undefined && host.includes(":") ? { servername: `[${host}]` } : tls),
      // Values come back on one stream: with HTTP/2's default 64 KiB
      // window, 10 KB values at 64 keys in flight wait on WINDOW_UPDATEs.
      settings: { initialWindowSize: receiveWindowBytes, ...tls?.settings },
    };
    const sessionManager = new Http2SessionManager(baseUrl, session, connectOptions);
    const transport = createGrpcTransport({
      baseUrl,
      sessionManager,
      acceptCompression,
      ...(sendCompression === undefined ? {} : { sendCompression }),
      readMaxBytes,
      writeMaxBytes,
      interceptors,
    });
    const peer = new GrpcPeer(id, createClient(GroupCache, transport), sessionManager, timeoutMs);
    if (stream) {
      peer.useStream(
        new GetStreamClient({
          peer: id,
          sessionManager,
          timeoutMs,
          readMaxBytes,
          writeMaxBytes,
          idleMs: streamIdleMs,
          receiveWindowBytes,
          fallback: (group, key, signal) => peer.unaryGet(group, key, signal),
        }),
      );
    }
    return peer;
  };
}

type GroupCacheClient = ReturnType<typeof createClient<typeof GroupCache>>;

/** The client of one peer. */
class GrpcPeer implements PeerClient {
  readonly #id: string;
  readonly #client: GroupCacheClient;
  readonly #sessionManager: Http2SessionManager;
  readonly #timeoutMs: number;
  #stream: GetStreamClient | undefined;
  #closed = false;

  constructor(id: string, client: GroupCacheClient, sessionManager: Http2SessionManager, timeoutMs: number) {
    this.#id = id;
    this.#client = client;
    this.#sessionManager = sessionManager;
    this.#timeoutMs = timeoutMs;
  }

  /** Sends keys on `stream` rather than by unary Get. */
  useStream(stream: GetStreamClient): void {
    this.#stream = stream;
  }

  get(group: string, key: string, options: { signal: AbortSignal }): Promise<PeerGetResult> {
    if (this.#closed) {
      return Promise.reject(new GroupCacheError("unavailable", `peer ${this.#id}: client is closed`));
    }
    // Protobuf would silently replace a lone surrogate with U+FFFD, and the
    // owner would load a different key: refuse before sending.
    if (!group.isWellFormed() || !key.isWellFormed()) {
      return Promise.reject(
        new GroupCacheError(
          "invalid-argument",
          `peer ${this.#id}: group ${JSON.stringify(group)} / key ${JSON.stringify(key)} is not well-formed UTF-16 (lone surrogate) and cannot be sent as a protobuf string`,
        ),
      );
    }
    return this.#stream === undefined
      ? this.unaryGet(group, key, options.signal)
      : this.#stream.get(group, key, options.signal);
  }

  /** Fetches one key with a unary Get call. */
  async unaryGet(group: string, key: string, signal: AbortSignal): Promise<PeerGetResult> {
    let response: Awaited<ReturnType<GroupCacheClient["get"]>>;
    try {
      response = await this.#client.get(
        { group, key },
        this.#timeoutMs > 0 ? { signal, timeoutMs: this.#timeoutMs } : { signal },
      );
    } catch (error) {
      throw fromConnectError(error, this.#id);
    }
    // The decoded bytes are a view into the whole response buffer: copy them.
    const value = response.value.slice();
    // proto3 sends 0 for "not reported" (Go peers never fill the field).
    return response.minuteQps > 0 ? { value, minuteQps: response.minuteQps } : { value };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.close();
    this.#sessionManager.abort(new ConnectError(`peer ${this.#id}: client closed`, Code.Unavailable));
  }
}
