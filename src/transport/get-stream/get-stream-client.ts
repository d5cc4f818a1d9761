import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import { clearTimeout, setImmediate, setTimeout } from "node:timers";
import { Code } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerGetResult } from "../../core/peers.ts";
import { fromConnectError, fromGrpcStatus } from "../grpc/grpc-status.ts";
import { type CallEvents, GetStreamCall } from "./get-stream-call.ts";
import { getStreamPath, keyRequestEntrySize, type OutgoingKey, readMaxBytesHeader } from "./get-stream-codec.ts";

/** Options of {@link GetStreamClient}, checked by `grpcPeerClient`. */
export interface GetStreamClientOptions {
  /** The peer's id, for error messages. */
  peer: string;
  /** The peer's HTTP/2 connection, shared with its unary calls. */
  sessionManager: Http2SessionManager;
  /** Longest wait for one key's answer; `0`: none. */
  timeoutMs: number;
  readMaxBytes: number;
  writeMaxBytes: number;
  /** How long a stream with nothing in flight stays open. */
  idleMs: number;
  /** The connection-level HTTP/2 receive window to ask for (the streams' is a session setting). */
  receiveWindowBytes: number;
  /** Fetches a key with a unary Get: used for every key once the peer turns out not to serve GetStream. */
  fallback: (group: string, key: string, signal: AbortSignal) => Promise<PeerGetResult>;
}

/**
 * Whether an answer's value may stay a view of the message it came in: only
 * when that message was assembled in a buffer of its own and the value is
 * at least half of it. A view of a received chunk would keep the whole read
 * buffer (64 KiB in Node) alive for as long as the caller keeps the value;
 * a large value is most of its message, and not copying it spares the
 * allocation that makes V8 run full collections (external memory).
 */
function keepsOwnBuffer(conn: GetStreamCall, buf: Buffer, valueBytes: number): boolean {
  return conn.ownMessage && valueBytes * 2 >= buf.byteLength;
}

/**
 * A copy of `buf[start..end)`. Small values (under 4 KiB) come from Node's
 * shared allocation pool, as `Buffer`s do: an `ArrayBuffer` of their own
 * costs ~4× the time, and V8 counts it as external memory, which drives
 * full collections (at 64 gets in flight, a fifth of the asking peer's
 * CPU went to garbage collection). Like any pooled `Buffer`, a small value
 * kept for long keeps its 8 KiB pool alive.
 */
function copyOf(buf: Buffer, start: number, end: number): Uint8Array {
  const copy = Buffer.allocUnsafe(end - start);
  buf.copy(copy, 0, start, end);
  return copy;
}

/** A key waiting for its answer. Doubles as its signal's abort listener. */
class Call implements OutgoingKey {
  readonly id: number;
  readonly group: string;
  readonly key: string;
  readonly groupBytes: number;
  readonly keyBytes: number;
  readonly signal: AbortSignal;
  readonly deadline: number;
  readonly owner: GetStreamClient;
  resolve!: (result: PeerGetResult) => void;
  reject!: (reason: unknown) => void;
  /** The stream it was sent on; `undefined` while queued. */
  conn: GetStreamCall | undefined = undefined;
  done = false;

  constructor(owner: GetStreamClient, id: number, group: string, key: string, signal: AbortSignal, deadline: number) {
    this.owner = owner;
    this.id = id;
    this.group = group;
    this.key = key;
    this.groupBytes = Buffer.byteLength(group, "utf8");
    this.keyBytes = Buffer.byteLength(key, "utf8");
    this.signal = signal;
    this.deadline = deadline;
  }

  handleEvent(): void {
    this.owner.abortCall(this);
  }
}

/**
 * The caller's side of GetStream to one peer: every key fetched from that
 * peer travels on one long-lived HTTP/2 stream, with an id. Keys asked for
 * together go out in one message (those of one microtask when the stream is
 * quiet, of one round of I/O while keys are in flight); answers come back
 * in any order, each with its own status. A key whose caller aborts, or whose
 * `timeoutMs` runs out, is settled at once and a cancel goes to the owner.
 *
 * A broken stream fails only the keys in flight on it (the core then loads
 * them itself); the next key opens a new one. A peer that answers
 * UNIMPLEMENTED before any message (an older or non-TypeScript peer, such
 * as Go's gRPC fork) gets every key through `fallback`, a unary Get, from
 * then on.
 */
export class GetStreamClient {
  readonly #o: GetStreamClientOptions;
  readonly #calls = new Map<number, Call>();
  #queue: Call[] = [];
  #conn: GetStreamCall | undefined;
  /** Retired streams with cancels to send. */
  #dirty: GetStreamCall[] = [];
  #opening = false;
  #flushScheduled = false;
  #legacy = false;
  #closed = false;
  #nextId = 0;
  #lastUsed = 0;
  /** When the first key waiting for the next flush was asked for. */
  #batchTime: number | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #flushNow = () => this.#flush();
  readonly #onDeadline = () => this.#expireDue();
  readonly #onIdle = () => this.#checkIdle();
  readonly #events: CallEvents = {
    answer: (channel, id, code, message, buf, valueStart, valueEnd, minuteQps) =>
      this.#answer(channel, id, code, message, buf, valueStart, valueEnd, minuteQps),
    ended: (channel) => this.#ended(channel),
    goaway: (channel) => this.#retire(channel),
    bytesRead: (stream) => this.#o.sessionManager.notifyResponseByteRead(stream),
  };

  constructor(options: GetStreamClientOptions) {
    this.#o = options;
  }

  /** Whether the peer turned out not to serve GetStream (every key now goes through `fallback`). */
  get legacy(): boolean {
    return this.#legacy;
  }

  /** Asks the peer for `key` of `group` on the stream. */
  get(group: string, key: string, signal: AbortSignal): Promise<PeerGetResult> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal.aborted) return Promise.reject(GroupCacheError.from(signal.reason, "canceled", `peer ${this.#o.peer}`));
    if (this.#legacy) return this.#o.fallback(group, key, signal);
    // One clock read per batch: the keys queued before the next flush share it.
    this.#batchTime ??= performance.now();
    const now = this.#batchTime;
    this.#lastUsed = now;
    const timeoutMs = this.#o.timeoutMs;
    const call = new Call(this, this.#newId(), group, key, signal, timeoutMs > 0 ? now + timeoutMs : Infinity);
    const promise = new Promise<PeerGetResult>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    this.#calls.set(call.id, call);
    this.#queue.push(call);
    signal.addEventListener("abort", call, { once: true });
    if (timeoutMs > 0 && this.#deadlineTimer === undefined) this.#armDeadline(timeoutMs);
    this.#schedule();
    return promise;
  }

  /** For {@link Call}: its caller aborted. */
  abortCall(call: Call): void {
    if (call.done) return;
    this.#fail(call, GroupCacheError.from(call.signal.reason, "canceled", `peer ${this.#o.peer}`));
  }

  /** Fails every key still waiting with `unavailable` and closes the streams. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#idleTimer);
    const error = this.#closedError();
    for (const call of [...this.#calls.values()]) this.#fail(call, error);
    this.#queue = [];
    this.#conn?.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#conn = undefined;
  }

  #closedError(): GroupCacheError {
    return new GroupCacheError("unavailable", `peer ${this.#o.peer}: client is closed`);
  }

  #newId(): number {
    let id: number;
    do {
      id = this.#nextId = (this.#nextId + 1) >>> 0;
    } while (id === 0 || this.#calls.has(id));
    return id;
  }

  /**
   * Flushes at the end of this microtask when the stream is quiet (one key
   * at a time: latency first), otherwise at the end of this round of I/O
   * (`setImmediate`), so the keys that follow answers arriving in several
   * reads together go out in one message rather than one per read.
   */
  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    if (this.#conn === undefined || this.#conn.inFlight === 0) queueMicrotask(this.#flushNow);
    else setImmediate(this.#flushNow);
  }

  /** Sends what is queued: cancels to every stream that has some, new keys on the current stream. */
  #flush(): void {
    this.#flushScheduled = false;
    this.#batchTime = undefined;
    if (this.#closed) return;
    if (this.#dirty.length > 0) {
      const dirty = this.#dirty;
      this.#dirty = [];
      for (const conn of dirty) {
        if (conn === this.#conn) continue;
        conn.write([], 0);
        conn.endIfDone();
      }
    }
    if (this.#queue.length === 0) {
      if (this.#conn !== undefined && this.#conn.cancels.length > 0) this.#conn.write([], 0);
      return;
    }
    if (this.#legacy) {
      this.#fallBack(this.#takeQueue());
      return;
    }
    const conn = this.#conn;
    if (conn === undefined) {
      this.#open();
      return;
    }
    this.#send(conn, this.#takeQueue());
  }

  #takeQueue(): Call[] {
    const queue = this.#queue;
    this.#queue = [];
    return queue;
  }

  /** Sends `calls` on `conn`, in messages of at most `writeMaxBytes`. */
  #send(conn: GetStreamCall, calls: Call[]): void {
    const limit = this.#o.writeMaxBytes - 5;
    const live: Call[] = [];
    let size = 0;
    for (const call of calls) {
      if (call.done) continue;
      const entry = keyRequestEntrySize(call);
      if (entry > limit) {
        this.#fail(
          call,
          new GroupCacheError(
            "resource-exhausted",
            `peer ${this.#o.peer}: message size ${entry} is larger than configured writeMaxBytes ${this.#o.writeMaxBytes}`,
          ),
        );
        continue;
      }
      if (size + entry > limit) {
        this.#write(conn, live, size);
        live.length = 0;
        size = 0;
      }
      live.push(call);
      size += entry;
    }
    this.#write(conn, live, size);
  }

  /** Writes one message with `calls` (entry sizes summing to `size`) and `conn`'s pending cancels. */
  #write(conn: GetStreamCall, calls: readonly Call[], size: number): void {
    for (const call of calls) call.conn = conn;
    conn.write(calls, size);
  }

  #open(): void {
    if (this.#opening) return;
    this.#opening = true;
    const headers = {
      "content-type": "application/grpc",
      te: "trailers",
      [readMaxBytesHeader]: String(this.#o.readMaxBytes),
    };
    this.#o.sessionManager.request("POST", getStreamPath, headers, {}).then(
      (stream) => {
        this.#opening = false;
        if (this.#closed) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        this.#conn = new GetStreamCall(stream, this.#o.readMaxBytes, this.#o.receiveWindowBytes, this.#events);
        this.#armIdle(this.#o.idleMs);
        this.#flush();
      },
      (error: unknown) => {
        this.#opening = false;
        const failure = fromConnectError(error, this.#o.peer);
        for (const call of this.#takeQueue()) this.#fail(call, failure);
      },
    );
  }

  /** One key's answer arrived on `conn`. */
  #answer(
    conn: GetStreamCall,
    id: number,
    code: number,
    message: string,
    buf: Buffer,
    valueStart: number,
    valueEnd: number,
    minuteQps: number,
  ): void {
    const call = this.#calls.get(id);
    if (call === undefined || call.conn !== conn) return; // cancelled, or timed out
    this.#calls.delete(id);
    call.done = true;
    conn.inFlight--;
    call.signal.removeEventListener("abort", call);
    if (code === 0) {
      const value = keepsOwnBuffer(conn, buf, valueEnd - valueStart)
        ? buf.subarray(valueStart, valueEnd)
        : copyOf(buf, valueStart, valueEnd);
      call.resolve(minuteQps > 0 ? { value, minuteQps } : { value });
    } else {
      call.reject(fromGrpcStatus(code, message, this.#o.peer));
    }
    conn.endIfDone();
  }

  /** `conn` closed: its keys fail with its status; a peer without GetStream gets them by unary Get instead. */
  #ended(conn: GetStreamCall): void {
    if (this.#conn === conn) this.#conn = undefined;
    const status = conn.endStatus;
    const mine: Call[] = [];
    for (const call of this.#calls.values()) if (call.conn === conn) mine.push(call);
    if (status.code === Code.Unimplemented && !conn.gotMessage) {
      this.#legacy = true;
      this.#fallBack([...mine, ...this.#takeQueue()]);
      return;
    }
    if (mine.length > 0) {
      const failure =
        status.code === 0
          ? new GroupCacheError("unavailable", `peer ${this.#o.peer}: stream ended with ${mine.length} keys unanswered`)
          : fromGrpcStatus(status.code, status.message, this.#o.peer);
      for (const call of mine) this.#fail(call, failure);
    }
    if (this.#queue.length > 0) this.#schedule();
  }

  /** Settles `call` with `error` and tells its stream, if any, that it is no longer wanted. */
  #fail(call: Call, error: GroupCacheError): void {
    if (call.done) return;
    call.done = true;
    this.#calls.delete(call.id);
    call.signal.removeEventListener("abort", call);
    const conn = call.conn;
    if (conn !== undefined && !conn.closed) {
      conn.inFlight--;
      conn.cancels.push(call.id);
      if (conn !== this.#conn && conn.cancels.length === 1) this.#dirty.push(conn);
      this.#schedule();
    }
    call.reject(error);
  }

  #fallBack(calls: Call[]): void {
    for (const call of calls) {
      if (call.done) continue;
      call.done = true;
      this.#calls.delete(call.id);
      call.signal.removeEventListener("abort", call);
      this.#o.fallback(call.group, call.key, call.signal).then(call.resolve, call.reject);
    }
  }

  /** Stops sending new keys on `conn`; it is half-closed once nothing is in flight on it. */
  #retire(conn: GetStreamCall): void {
    if (conn.retired) return;
    conn.retired = true;
    if (this.#conn === conn) {
      this.#conn = undefined;
      if (conn.cancels.length > 0) this.#dirty.push(conn);
    }
    conn.endIfDone();
    if (this.#queue.length > 0) this.#schedule();
  }

  #armDeadline(ms: number): void {
    this.#deadlineTimer = setTimeout(this.#onDeadline, ms);
    this.#deadlineTimer.unref();
  }

  /** Fails the keys past their deadline (the oldest first: all share one `timeoutMs`). */
  #expireDue(): void {
    this.#deadlineTimer = undefined;
    if (this.#closed) return;
    const now = performance.now();
    for (const call of this.#calls.values()) {
      if (call.deadline > now) {
        this.#armDeadline(Math.ceil(call.deadline - now));
        return;
      }
      this.#fail(
        call,
        new GroupCacheError(
          "deadline-exceeded",
          `peer ${this.#o.peer}: no answer within timeoutMs (${this.#o.timeoutMs} ms)`,
        ),
      );
    }
  }

  #armIdle(ms: number): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(this.#onIdle, ms);
    this.#idleTimer.unref();
  }

  /** Retires the current stream once nothing has been asked on it for `idleMs`, so it does not hold the process open. */
  #checkIdle(): void {
    this.#idleTimer = undefined;
    const conn = this.#conn;
    if (conn === undefined || this.#closed) return;
    const quietMs = performance.now() - this.#lastUsed;
    if (conn.inFlight === 0 && this.#queue.length === 0 && quietMs >= this.#o.idleMs) this.#retire(conn);
    else this.#armIdle(Math.max(1, Math.ceil(this.#o.idleMs - quietMs)));
  }
}
