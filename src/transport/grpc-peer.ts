import { Code, ConnectError, type createClient } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { GroupCacheError } from "../core/errors.ts";
import type { HandoffEntry, HandoffResult, PeerClient, PeerGetResult } from "../core/peers.ts";
import type { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import type { GetStreamClient } from "./get-stream/get-stream-client.ts";
import { fromConnectError } from "./grpc/grpc-status.ts";
import { writeTokenHeader } from "./write-trust.ts";

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
  #stream: GetStreamClient | undefined;
  /** The peer answered Peek with UNIMPLEMENTED (an older or Go peer): peek no more. */
  #noPeek = false;
  /** The peer answered Handoff with UNIMPLEMENTED: hand it nothing more. */
  #noHandoff = false;
  /** Headers of write calls: the `groupcache-token` when one is configured. */
  readonly #writeHeaders: Record<string, string> | undefined;
  #closed = false;

  constructor(
    id: string,
    client: GroupCacheClient,
    sessionManager: Http2SessionManager,
    timeoutMs: number,
    writeToken?: string,
  ) {
    this.#id = id;
    this.#client = client;
    this.#sessionManager = sessionManager;
    this.#timeoutMs = timeoutMs;
    this.#writeHeaders = writeToken === undefined ? undefined : { [writeTokenHeader]: writeToken };
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

  /**
   * Pushes entries to the peer with a unary Handoff call (with the write
   * token, if configured). `undefined` when the peer does not take them:
   * it answers UNIMPLEMENTED (an older or Go peer; not asked again) or
   * PERMISSION_DENIED. Rejects with the call's error otherwise.
   */
  async handoff(
    entries: readonly HandoffEntry[],
    options: { signal: AbortSignal },
  ): Promise<HandoffResult | undefined> {
    if (this.#noHandoff) return undefined;
    if (this.#closed) throw new GroupCacheError("unavailable", `peer ${this.#id}: client is closed`);
    // Entries a protobuf string cannot carry unchanged stay behind.
    const sendable = entries.filter((e) => e.group.isWellFormed() && e.key.isWellFormed());
    try {
      const response = await this.#client.handoff(
        { entries: sendable },
        {
          signal: options.signal,
          ...(this.#timeoutMs > 0 ? { timeoutMs: this.#timeoutMs } : {}),
          ...(this.#writeHeaders === undefined ? {} : { headers: this.#writeHeaders }),
        },
      );
      return { stored: response.stored, skipped: response.skipped + entries.length - sendable.length };
    } catch (error) {
      const code = ConnectError.from(error).code;
      if (code === Code.Unimplemented) this.#noHandoff = true;
      if (code === Code.Unimplemented || code === Code.PermissionDenied) return undefined;
      throw fromConnectError(error, this.#id);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.close();
    this.#sessionManager.abort(new ConnectError(`peer ${this.#id}: client closed`, Code.Unavailable));
  }
}
