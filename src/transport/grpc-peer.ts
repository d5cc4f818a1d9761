import { Code, ConnectError, type createClient } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { GroupCacheError } from "../core/errors.ts";
import type { PeerClient, PeerClientContext, PeerGetOptions, PeerGetResult } from "../core/peers.ts";
import type { TraceCarrier } from "../core/telemetry.ts";
import type { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import type { GetStreamClient } from "./get-stream/get-stream-client.ts";
import { fromConnectError } from "./grpc/grpc-status.ts";
import { callerHeaders } from "./trace-propagation.ts";

/** A Connect client of the `groupcachepb.GroupCache` service. */
type GroupCacheClient = ReturnType<typeof createClient<typeof GroupCache>>;

/**
 * The client of one peer, made by `grpcPeerClient`: keys go out on its
 * GetStream once `useStream` gave it one, as unary Get calls otherwise; a
 * lone surrogate in a group or key is refused before anything is sent.
 */
export class GrpcPeer implements PeerClient {
  readonly #id: string;
  readonly #client: GroupCacheClient;
  readonly #sessionManager: Http2SessionManager;
  readonly #timeoutMs: number;
  readonly #context: PeerClientContext | undefined;
  #stream: GetStreamClient | undefined;
  /** The peer answered Peek with UNIMPLEMENTED (an older or Go peer): peek no more. */
  #noPeek = false;
  #closed = false;

  constructor(
    id: string,
    client: GroupCacheClient,
    sessionManager: Http2SessionManager,
    timeoutMs: number,
    context?: PeerClientContext,
  ) {
    this.#id = id;
    this.#context = context;
    this.#client = client;
    this.#sessionManager = sessionManager;
    this.#timeoutMs = timeoutMs;
  }

  /** Sends keys on `stream` rather than by unary Get. */
  useStream(stream: GetStreamClient): void {
    this.#stream = stream;
  }

  /** The peer's id (`host:port`). */
  get id(): string {
    return this.#id;
  }

  get(group: string, key: string, options: PeerGetOptions): Promise<PeerGetResult> {
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
      ? this.unaryGet(group, key, options.signal, options.trace)
      : this.#stream.get(group, key, options.signal, options.trace);
  }

  /**
   * Fetches one key with a unary Get call; its metadata carries the trace
   * context, this process's id and ring fingerprint.
   */
  async unaryGet(
    group: string,
    key: string,
    signal: AbortSignal,
    trace: TraceCarrier | undefined,
  ): Promise<PeerGetResult> {
    let response: Awaited<ReturnType<GroupCacheClient["get"]>>;
    const headers = trace === undefined ? callerHeaders(this.#context) : { ...trace, ...callerHeaders(this.#context) };
    try {
      response = await this.#client.get(
        { group, key },
        this.#timeoutMs > 0 ? { signal, timeoutMs: this.#timeoutMs, headers } : { signal, headers },
      );
    } catch (error) {
      throw fromConnectError(error, this.#id);
    }
    // The decoded bytes are a view into the whole response buffer: copy them.
    const value = response.value.slice();
    // proto3 sends 0 for "not reported" (Go peers never fill the field).
    return response.minuteQps > 0 ? { value, minuteQps: response.minuteQps } : { value };
  }

  /**
   * Asks the peer for a key held in its memory, by a unary Peek call with
   * the caller's signal (its deadline is the caller's: peeks are meant to
   * be short). `undefined` when the peer does not hold the key, and on any
   * failure: a peek never fails a get. A peer that answers UNIMPLEMENTED is
   * not asked again.
   */
  async peek(group: string, key: string, options: { signal: AbortSignal }): Promise<Uint8Array | undefined> {
    if (this.#closed || this.#noPeek || !group.isWellFormed() || !key.isWellFormed()) return undefined;
    try {
      const response = await this.#client.peek({ group, key }, { signal: options.signal });
      // A view into the response buffer: copy it, as for Get.
      return response.found ? response.value.slice() : undefined;
    } catch (error) {
      if (ConnectError.from(error).code === Code.Unimplemented) this.#noPeek = true;
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.close();
    this.#sessionManager.abort(new ConnectError(`peer ${this.#id}: client closed`, Code.Unavailable));
  }
}
