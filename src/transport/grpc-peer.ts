import { Code, ConnectError, type createClient } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { GroupCacheError } from "../core/errors.ts";
import type {
  HandoffEntry,
  HandoffResult,
  PeekResult,
  PeerClient,
  PeerClientContext,
  PeerGetOptions,
  PeerGetResult,
} from "../core/peers.ts";
import type { TraceCarrier } from "../core/telemetry.ts";
import type { GroupCache } from "../gen/groupcachepb/groupcache_pb.ts";
import type { GetStreamClient } from "./get-stream/get-stream-client.ts";
import { fromConnectError } from "./grpc/grpc-status.ts";
import type { PeerPinger } from "./peer-pinger.ts";
import { withRemainingTtl } from "./remaining-ttl.ts";
import { callerHeaders } from "./trace-propagation.ts";
import { tokenHeader } from "./write-caller.ts";

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
  /** Headers of write calls: the shared token, when configured. */
  readonly #writeHeaders: Record<string, string> | undefined;
  readonly #context: PeerClientContext | undefined;
  #stream: GetStreamClient | undefined;
  #pinger: PeerPinger | undefined;
  /** A probe's deadline. */
  #probeTimeoutMs = 0;
  /** The peer answered Peek with UNIMPLEMENTED (an older or Go peer): peek no more. */
  #noPeek = false;
  /** The peer answered Handoff with UNIMPLEMENTED: hand it nothing more. */
  #noHandoff = false;
  #closed = false;

  constructor(
    id: string,
    client: GroupCacheClient,
    sessionManager: Http2SessionManager,
    timeoutMs: number,
    token?: string | undefined,
    context?: PeerClientContext,
  ) {
    this.#id = id;
    this.#context = context;
    this.#client = client;
    this.#sessionManager = sessionManager;
    this.#timeoutMs = timeoutMs;
    this.#writeHeaders = token === undefined ? undefined : { [tokenHeader]: token };
  }

  /**
   * Checks the peer with `pinger` while requests are in flight, and
   * answers probes within `probeTimeoutMs`.
   */
  usePinger(pinger: PeerPinger, probeTimeoutMs: number): void {
    this.#pinger = pinger;
    this.#probeTimeoutMs = probeTimeoutMs;
  }

  /**
   * The peer was reported down (it left a PING unanswered): fails what is
   * in flight on its connection with `unavailable`, so those loads fall
   * back at once. The next request opens a new connection.
   */
  dropConnection(reason: string): void {
    this.#stream?.failAll(new GroupCacheError("unavailable", reason));
    this.#sessionManager.abort(new ConnectError(reason, Code.Unavailable));
  }

  /**
   * Whether the peer answers: a Peek of an empty group, answered from
   * memory by any live peer (an unknown group, or UNIMPLEMENTED from a Go
   * peer, is an answer too), within the probe deadline (1 s, or `pingTimeoutMs` if longer).
   */
  async probe(signal: AbortSignal): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await this.#client.peek(
        { group: "", key: "" },
        this.#probeTimeoutMs > 0 ? { signal, timeoutMs: this.#probeTimeoutMs } : { signal },
      );
      return true;
    } catch (error) {
      const code = ConnectError.from(error).code;
      return code !== Code.Canceled && code !== Code.DeadlineExceeded && code !== Code.Unavailable;
    }
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
    const result =
      this.#stream === undefined
        ? this.unaryGet(group, key, options.signal, options.trace)
        : this.#stream.get(group, key, options.signal, options.trace);
    const pinger = this.#pinger;
    if (pinger !== undefined) {
      pinger.started();
      result.then(pinger.answered, pinger.failed);
    }
    return result;
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
    const options = this.#timeoutMs > 0 ? { signal, timeoutMs: this.#timeoutMs, headers } : { signal, headers };
    for (let attempt = 1; ; attempt++) {
      try {
        response = await this.#client.get({ group, key }, options);
        break;
      } catch (error) {
        if (attempt < maxRefusedAttempts && isRefusedStream(error) && !signal.aborted) continue;
        throw fromConnectError(error, this.#id);
      }
    }
    // The decoded bytes are a view into the whole response buffer: copy them.
    const value = response.value.slice();
    // proto3 sends 0 for "not reported" (Go peers never fill these fields).
    const result: PeerGetResult = response.minuteQps > 0 ? { value, minuteQps: response.minuteQps } : { value };
    return withRemainingTtl(result, response.ttlMs, response.staleMs);
  }

  /**
   * Asks the peer for a key held in its memory, by a unary Peek call with
   * the caller's signal (its deadline is the caller's: peeks are meant to
   * be short). `undefined` when the peer does not hold the key, and on any
   * failure: a peek never fails a get. A peer that answers UNIMPLEMENTED is
   * not asked again.
   */
  async peek(group: string, key: string, options: { signal: AbortSignal }): Promise<PeekResult | undefined> {
    if (this.#closed || this.#noPeek || !group.isWellFormed() || !key.isWellFormed()) return undefined;
    try {
      const response = await this.#client.peek({ group, key }, { signal: options.signal });
      // A view into the response buffer: copy it, as for Get.
      if (!response.found) return undefined;
      return withRemainingTtl<PeekResult>({ value: response.value.slice() }, response.ttlMs, response.staleMs);
    } catch (error) {
      if (ConnectError.from(error).code === Code.Unimplemented) this.#noPeek = true;
      return undefined;
    }
  }

  /**
   * Sends a Remove of `keys` (one unary call); resolves with how many the
   * peer held. Rejects with the peer's status as a `GroupCacheError`:
   * `unimplemented` from a peer without the RPC, `permission-denied` from
   * one that refused the write.
   */
  async remove(group: string, keys: readonly string[], options: { signal: AbortSignal }): Promise<number> {
    this.#checkWrite(group, keys);
    try {
      const response = await this.#client.remove({ group, keys: [...keys] }, this.#writeCallOptions(options.signal));
      return response.removed;
    } catch (error) {
      throw fromConnectError(error, this.#id);
    }
  }

  /** Sends a Set of `key` (one unary call); resolves with whether the peer cached it. Rejects as {@link remove}. */
  async set(
    group: string,
    key: string,
    value: Uint8Array,
    options: { signal: AbortSignal; ttlMs?: number | undefined },
  ): Promise<boolean> {
    this.#checkWrite(group, [key]);
    const ttlMs = options.ttlMs === undefined ? 0n : BigInt(Math.ceil(options.ttlMs));
    try {
      const response = await this.#client.set({ group, key, value, ttlMs }, this.#writeCallOptions(options.signal));
      return response.stored;
    } catch (error) {
      throw fromConnectError(error, this.#id);
    }
  }

  #checkWrite(group: string, keys: readonly string[]): void {
    if (this.#closed) throw new GroupCacheError("unavailable", `peer ${this.#id}: client is closed`);
    if (!group.isWellFormed() || !keys.every((key) => key.isWellFormed())) {
      throw new GroupCacheError(
        "invalid-argument",
        `peer ${this.#id}: group ${JSON.stringify(group)} or a key is not well-formed UTF-16 (lone surrogate) and cannot be sent as a protobuf string`,
      );
    }
  }

  #writeCallOptions(signal: AbortSignal) {
    return {
      signal,
      ...(this.#timeoutMs > 0 ? { timeoutMs: this.#timeoutMs } : {}),
      ...(this.#writeHeaders === undefined ? {} : { headers: this.#writeHeaders }),
    };
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
    this.#pinger?.close();
    this.#stream?.close();
    this.#sessionManager.abort(new ConnectError(`peer ${this.#id}: client closed`, Code.Unavailable));
  }
}

/**
 * How many times a unary call is sent when the peer refuses its stream.
 * Node's client sends a burst of calls on a new connection before the
 * peer's SETTINGS say how many streams it takes; the peer refuses the
 * excess with RST_STREAM REFUSED_STREAM, which HTTP/2 (RFC 9113, section
 * 8.7) says was not processed and may be retried. By the retry the limit
 * is known, and Node queues calls past it.
 */
const maxRefusedAttempts = 4;

/**
 * Whether `error` is a stream the peer refused unprocessed: connect-node
 * passes Node's "Stream closed with error code NGHTTP2_REFUSED_STREAM" on
 * as INTERNAL (and its own reading of the reset code as UNAVAILABLE); both
 * name the code.
 */
function isRefusedStream(error: unknown): boolean {
  return error instanceof ConnectError && error.rawMessage.includes("REFUSED_STREAM");
}
