import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import { clearTimeout, setImmediate, setTimeout } from "node:timers";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { ChurnMap, hashNumber } from "../../core/churn-map.ts";
import { defaultMaxKeysPerMessage } from "../../core/defaults.ts";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerClientContext, PeerGetResult } from "../../core/peers.ts";
import type { TraceCarrier } from "../../core/telemetry.ts";
import { fromConnectError, fromGrpcStatus, withNotFoundTtl } from "../grpc/grpc-status.ts";
import { withRemainingTtl } from "../remaining-ttl.ts";
import { callerHeaders, ringHeader } from "../trace-propagation.ts";
import { type CallAnswer, type CallEvents, GetStreamCall } from "./get-stream-call.ts";
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
  fallback: (
    group: string,
    key: string,
    signal: AbortSignal,
    trace: TraceCarrier | undefined,
  ) => Promise<PeerGetResult>;
  /** The calling process (its id and ring fingerprint, sent when a stream opens). Default: none. */
  context?: PeerClientContext | undefined;
}

/**
 * Whether an answer's value may stay a view of the message it came in: only
 * when that message was assembled in a buffer of its own and the value is
 * at least half of it. A view of a received chunk would keep the whole read
 * buffer (64 KiB in Node) alive for as long as the caller keeps the value;
 * a large value is most of its message, and not copying it spares the
 * allocation that makes V8 run full collections (external memory).
 */
function keepsOwnBuffer(answer: CallAnswer): boolean {
  return answer.ownFrame && (answer.valueEnd - answer.valueStart) * 2 >= answer.frame.byteLength;
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

/**
 * Keys sent in one request message at most: a tenth of what owners accept
 * by default (`defaultMaxKeysPerMessage`), so an owner with a lower
 * `maxKeysPerMessage` still takes ours. A `Promise.all` over 100 000 keys
 * goes out as 100 messages; the owner serves its cap of them at a time and
 * reads the next ones as those are answered.
 */
export const keysPerMessage = defaultMaxKeysPerMessage / 10;

/** A key waiting for its answer. Doubles as its signal's abort listener. */
class PendingKey implements OutgoingKey {
  readonly id: number;
  readonly group: string;
  readonly key: string;
  readonly groupBytes: number;
  readonly keyBytes: number;
  readonly signal: AbortSignal;
  readonly deadline: number;
  readonly owner: GetStreamClient;
  readonly trace: TraceCarrier | undefined;
  resolve!: (result: PeerGetResult) => void;
  reject!: (reason: unknown) => void;
  /** The call it was sent on; `undefined` while queued. */
  sentOn: GetStreamCall | undefined = undefined;
  done = false;

  constructor(
    owner: GetStreamClient,
    id: number,
    group: string,
    key: string,
    signal: AbortSignal,
    deadline: number,
    trace: TraceCarrier | undefined,
  ) {
    this.owner = owner;
    this.trace = trace;
    this.id = id;
    this.group = group;
    this.key = key;
    this.groupBytes = Buffer.byteLength(group, "utf8");
    this.keyBytes = Buffer.byteLength(key, "utf8");
    this.signal = signal;
    this.deadline = deadline;
  }

  handleEvent(): void {
    this.owner.abortKey(this);
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
  /** Keys in flight or queued, by id. Not a `Map`: a key comes and goes on every fetch (see `ChurnMap`). */
  readonly #keys = new ChurnMap<number, PendingKey>(hashNumber);
  #queue: PendingKey[] = [];
  /** The call new keys go out on. */
  #call: GetStreamCall | undefined;
  /** Retired calls with cancels to send. */
  #dirty: GetStreamCall[] = [];
  #opening = false;
  /** The ring fingerprint the current call was opened with (sent in its headers). */
  #callRing: string | undefined;
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
    answer: (answer) => this.#answer(answer),
    ended: (call) => this.#ended(call),
    goaway: (call) => this.#retire(call),
    bytesRead: (stream) => this.#o.sessionManager.notifyResponseByteRead(stream),
  };

  constructor(options: GetStreamClientOptions) {
    this.#o = options;
  }

  /** Asks the peer for `key` of `group` on the stream. */
  get(group: string, key: string, signal: AbortSignal, trace?: TraceCarrier): Promise<PeerGetResult> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal.aborted) return Promise.reject(GroupCacheError.from(signal.reason, "canceled", `peer ${this.#o.peer}`));
    if (this.#legacy) return this.#o.fallback(group, key, signal, trace);
    // One clock read per batch: the keys queued before the next flush share it.
    this.#batchTime ??= performance.now();
    const now = this.#batchTime;
    this.#lastUsed = now;
    const timeoutMs = this.#o.timeoutMs;
    const deadline = timeoutMs > 0 ? now + timeoutMs : Infinity;
    const pending = new PendingKey(this, this.#newId(), group, key, signal, deadline, trace);
    const promise = new Promise<PeerGetResult>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.#keys.set(pending.id, pending);
    this.#queue.push(pending);
    signal.addEventListener("abort", pending, { once: true });
    if (timeoutMs > 0 && this.#deadlineTimer === undefined) this.#armDeadline(timeoutMs);
    this.#schedule();
    return promise;
  }

  /** For {@link PendingKey}: its caller aborted. */
  abortKey(pending: PendingKey): void {
    if (pending.done) return;
    this.#fail(pending, GroupCacheError.from(pending.signal.reason, "canceled", `peer ${this.#o.peer}`));
  }

  /**
   * Fails every key in flight or queued with `error` and resets the current
   * stream (its peer did not answer a PING); the next key opens a new one.
   */
  failAll(error: GroupCacheError): void {
    const keys = this.#keys.values();
    this.#keys.clear();
    this.#queue = [];
    this.#dirty = [];
    const call = this.#call;
    this.#call = undefined;
    // No cancels to send: the connection is dropped with its streams.
    for (const pending of keys) {
      pending.done = true;
      pending.signal.removeEventListener("abort", pending);
      pending.reject(error);
    }
    call?.reset();
  }

  /** Fails every key still waiting with `unavailable` and closes the streams. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#idleTimer);
    const error = this.#closedError();
    for (const pending of this.#keys.values()) this.#fail(pending, error);
    this.#queue = [];
    this.#call?.reset();
    this.#call = undefined;
  }

  #closedError(): GroupCacheError {
    return new GroupCacheError("unavailable", `peer ${this.#o.peer}: client is closed`);
  }

  #newId(): number {
    let id: number;
    do {
      id = this.#nextId = (this.#nextId + 1) >>> 0;
    } while (id === 0 || this.#keys.has(id));
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
    if (this.#call === undefined || this.#call.inFlight === 0) queueMicrotask(this.#flushNow);
    else setImmediate(this.#flushNow);
  }

  /** Sends what is queued: cancels to every call that has some, new keys on the current call. */
  #flush(): void {
    this.#flushScheduled = false;
    this.#batchTime = undefined;
    if (this.#closed) return;
    if (this.#dirty.length > 0) {
      const dirty = this.#dirty;
      this.#dirty = [];
      for (const call of dirty) if (call !== this.#call) call.flushCancels();
    }
    if (this.#queue.length === 0) {
      this.#call?.flushCancels();
      return;
    }
    if (this.#legacy) {
      this.#fallBack(this.#takeQueue());
      return;
    }
    let call = this.#call;
    // The owner checked the ring sent when the stream opened: after a ring
    // change, new keys go on a new stream that carries the new one.
    if (call !== undefined && this.#callRing !== this.#o.context?.ringFingerprint()) {
      this.#retire(call);
      call = this.#call;
    }
    if (call === undefined) {
      this.#open();
      return;
    }
    this.#send(call, this.#takeQueue());
  }

  #takeQueue(): PendingKey[] {
    const queue = this.#queue;
    this.#queue = [];
    return queue;
  }

  /** Sends `keys` on `call`, in messages of at most `writeMaxBytes` and {@link keysPerMessage} keys. */
  #send(call: GetStreamCall, keys: PendingKey[]): void {
    const limit = this.#o.writeMaxBytes - 5;
    const live: PendingKey[] = [];
    let size = 0;
    for (const pending of keys) {
      if (pending.done) continue;
      const entry = keyRequestEntrySize(pending);
      if (entry > limit) {
        this.#fail(
          pending,
          new GroupCacheError(
            "resource-exhausted",
            `peer ${this.#o.peer}: message size ${entry} is larger than configured writeMaxBytes ${this.#o.writeMaxBytes}`,
          ),
        );
        continue;
      }
      if (size + entry > limit || live.length === keysPerMessage) {
        this.#write(call, live, size);
        live.length = 0;
        size = 0;
      }
      live.push(pending);
      size += entry;
    }
    this.#write(call, live, size);
  }

  /** Writes one message with `keys` (entry sizes summing to `size`) and `call`'s pending cancels. */
  #write(call: GetStreamCall, keys: readonly PendingKey[], size: number): void {
    for (const pending of keys) pending.sentOn = call;
    call.write(keys, size);
  }

  #open(): void {
    if (this.#opening) return;
    this.#opening = true;
    const caller = callerHeaders(this.#o.context);
    const headers = {
      "content-type": "application/grpc",
      te: "trailers",
      [readMaxBytesHeader]: String(this.#o.readMaxBytes),
      ...caller,
    };
    this.#o.sessionManager.request("POST", getStreamPath, headers, {}).then(
      (stream) => {
        this.#opening = false;
        if (this.#closed) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        this.#call = new GetStreamCall(stream, this.#o.readMaxBytes, this.#o.receiveWindowBytes, this.#events);
        this.#callRing = caller[ringHeader];
        this.#armIdle(this.#o.idleMs);
        this.#flush();
      },
      (error: unknown) => {
        this.#opening = false;
        const failure = fromConnectError(error, this.#o.peer);
        for (const pending of this.#takeQueue()) this.#fail(pending, failure);
      },
    );
  }

  /** One key's answer arrived on `answer.call`. */
  #answer(answer: CallAnswer): void {
    const call = answer.call;
    const pending = this.#keys.get(answer.id);
    if (pending === undefined || pending.sentOn !== call) return; // cancelled, or timed out
    this.#keys.delete(answer.id);
    pending.done = true;
    pending.signal.removeEventListener("abort", pending);
    if (answer.code === 0) {
      const { frame, valueStart, valueEnd, minuteQps } = answer;
      const value = keepsOwnBuffer(answer) ? frame.subarray(valueStart, valueEnd) : copyOf(frame, valueStart, valueEnd);
      const result: PeerGetResult = minuteQps > 0 ? { value, minuteQps } : { value };
      pending.resolve(withRemainingTtl(result, answer.ttlMs, answer.staleMs));
    } else {
      const error = fromGrpcStatus(answer.code, answer.message, this.#o.peer);
      pending.reject(withNotFoundTtl(error, answer.notFoundTtlMs));
    }
    call.answered();
  }

  /** `call` ended: its keys fail with its status; a peer without GetStream gets them by unary Get instead. */
  #ended(call: GetStreamCall): void {
    if (this.#call === call) this.#call = undefined;
    const mine: PendingKey[] = [];
    for (const pending of this.#keys.values()) if (pending.sentOn === call) mine.push(pending);
    if (call.unimplemented) {
      this.#legacy = true;
      this.#fallBack([...mine, ...this.#takeQueue()]);
      return;
    }
    if (mine.length > 0) {
      const status = call.endStatus;
      const failure =
        status.code === 0
          ? new GroupCacheError("unavailable", `peer ${this.#o.peer}: stream ended with ${mine.length} keys unanswered`)
          : fromGrpcStatus(status.code, status.message, this.#o.peer);
      for (const pending of mine) this.#fail(pending, failure);
    }
    if (this.#queue.length > 0) this.#schedule();
  }

  /** Settles `pending` with `error` and tells the call it went out on, if any, that it is no longer wanted. */
  #fail(pending: PendingKey, error: GroupCacheError): void {
    if (pending.done) return;
    pending.done = true;
    this.#keys.delete(pending.id);
    pending.signal.removeEventListener("abort", pending);
    const call = pending.sentOn;
    if (call?.cancel(pending.id)) {
      if (call !== this.#call && call.pendingCancels === 1) this.#dirty.push(call);
      this.#schedule();
    }
    pending.reject(error);
  }

  #fallBack(keys: PendingKey[]): void {
    for (const pending of keys) {
      if (pending.done) continue;
      pending.done = true;
      this.#keys.delete(pending.id);
      pending.signal.removeEventListener("abort", pending);
      this.#o.fallback(pending.group, pending.key, pending.signal, pending.trace).then(pending.resolve, pending.reject);
    }
  }

  /** Stops sending new keys on `call`; it is half-closed once nothing is in flight on it. */
  #retire(call: GetStreamCall): void {
    if (!call.retire()) return;
    if (this.#call === call) {
      this.#call = undefined;
      if (call.pendingCancels > 0) this.#dirty.push(call);
    }
    if (this.#queue.length > 0) this.#schedule();
  }

  #armDeadline(ms: number): void {
    this.#deadlineTimer = setTimeout(this.#onDeadline, ms);
    this.#deadlineTimer.unref();
  }

  /** Fails the keys past their deadline, the oldest first, and waits for the next one to be due. */
  #expireDue(): void {
    this.#deadlineTimer = undefined;
    if (this.#closed) return;
    const now = performance.now();
    const due: PendingKey[] = [];
    let next = Infinity;
    for (const pending of this.#keys.values()) {
      if (pending.deadline <= now) due.push(pending);
      else next = Math.min(next, pending.deadline);
    }
    due.sort((a, b) => a.deadline - b.deadline);
    for (const pending of due) {
      this.#fail(
        pending,
        new GroupCacheError(
          "deadline-exceeded",
          `peer ${this.#o.peer}: no answer within timeoutMs (${this.#o.timeoutMs} ms)`,
        ),
      );
    }
    if (next !== Infinity && this.#deadlineTimer === undefined) this.#armDeadline(Math.ceil(next - now));
  }

  #armIdle(ms: number): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(this.#onIdle, ms);
    this.#idleTimer.unref();
  }

  /** Retires the current call once nothing has been asked on it for `idleMs`, so it does not hold the process open. */
  #checkIdle(): void {
    this.#idleTimer = undefined;
    const call = this.#call;
    if (call === undefined || this.#closed) return;
    const quietMs = performance.now() - this.#lastUsed;
    if (call.inFlight === 0 && this.#queue.length === 0 && quietMs >= this.#o.idleMs) this.#retire(call);
    else this.#armIdle(Math.max(1, Math.ceil(this.#o.idleMs - quietMs)));
  }
}
