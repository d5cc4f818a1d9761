import type * as http2 from "node:http2";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { createGrpcTransport, Http2SessionManager, type Http2SessionOptions } from "@connectrpc/connect-node";
import { GroupCacheError } from "../core/errors.ts";
import type { PeerClient, PeerClientFactory, PeerGetResult } from "../core/peers.ts";
import { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import { fromConnectError } from "./grpc-status.ts";
import { checkMaxBytes, checkMs } from "./limits.ts";
import { parsePeerId, peerBaseUrl } from "./peer-address.ts";

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
  /** Connect interceptors run on every call (metrics, auth headers, ...). Default: none. */
  interceptors?: Interceptor[];
}

const defaultTimeoutMs = 35_000;

/**
 * Creates the clients of the other peers for `GroupCache`'s `peerClient`
 * option: one Connect gRPC transport per peer id (`host:port`,
 * `[ipv6]:port`) over HTTP/2, created when the peer joins the ring; its
 * HTTP/2 connection is closed when the peer leaves. Options are checked here,
 * so a bad one fails at start-up rather than at the first miss.
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
  return (id) => {
    const { host } = parsePeerId(id);
    const baseUrl = peerBaseUrl(id, tls !== undefined);
    // Node's HTTP/2 client sends `:authority` as `servername:port`, or
    // `host:port` without brackets for an IPv6 host, which is not a valid
    // authority. Over cleartext, servername only feeds that header: bracket it.
    const connectOptions =
      tls === undefined && host.includes(":") ? { servername: `[${host}]` } : tls === undefined ? undefined : tls;
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
    return new GrpcPeer(id, createClient(GroupCache, transport), sessionManager, timeoutMs);
  };
}

type GroupCacheClient = ReturnType<typeof createClient<typeof GroupCache>>;

/** The client of one peer. */
class GrpcPeer implements PeerClient {
  readonly #id: string;
  readonly #client: GroupCacheClient;
  readonly #sessionManager: Http2SessionManager;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(id: string, client: GroupCacheClient, sessionManager: Http2SessionManager, timeoutMs: number) {
    this.#id = id;
    this.#client = client;
    this.#sessionManager = sessionManager;
    this.#timeoutMs = timeoutMs;
  }

  async get(group: string, key: string, options: { signal: AbortSignal }): Promise<PeerGetResult> {
    if (this.#closed) {
      throw new GroupCacheError("unavailable", `peer ${this.#id}: client is closed`);
    }
    // Protobuf would silently replace a lone surrogate with U+FFFD, and the
    // owner would load a different key: refuse before sending.
    if (!group.isWellFormed() || !key.isWellFormed()) {
      throw new GroupCacheError(
        "invalid-argument",
        `peer ${this.#id}: group ${JSON.stringify(group)} / key ${JSON.stringify(key)} is not well-formed UTF-16 (lone surrogate) and cannot be sent as a protobuf string`,
      );
    }
    let response: Awaited<ReturnType<GroupCacheClient["get"]>>;
    try {
      response = await this.#client.get(
        { group, key },
        this.#timeoutMs > 0 ? { signal: options.signal, timeoutMs: this.#timeoutMs } : { signal: options.signal },
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
    this.#sessionManager.abort(new ConnectError(`peer ${this.#id}: client closed`, Code.Unavailable));
  }
}
