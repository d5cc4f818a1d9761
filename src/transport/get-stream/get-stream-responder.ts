import { setImmediate } from "node:timers";
import { Code } from "@connectrpc/connect";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerServable, ServeResult } from "../../core/peers.ts";
import type { TraceCarrier } from "../../core/telemetry.ts";
import { notFoundTtlOf, toGrpcStatus } from "../grpc/grpc-status.ts";
import { keyResponseEntrySize, type OutgoingResult, type RequestVisitor } from "./get-stream-codec.ts";
import type { KeyBudget } from "./key-budget.ts";

/**
 * Largest gRPC frame (prefix included) the owner builds from several
 * answers; a single larger answer (up to the message limit) goes alone.
 * Smaller messages let the caller start on the first answers while the
 * rest are on the wire.
 */
export const batchFrameBytes = 16 << 10;
const batchBytes = batchFrameBytes - 5;

/**
 * Receives a batch of answers to send as one GetStreamResponse:
 * `results[from..to)`, entry sizes summing to `size`. Returns `false` when
 * the transport is backed up (the caller is not reading as fast as answers
 * come): the responder then serves no new key until {@link GetStreamResponder.resume}.
 */
export type ResultSink = (results: readonly OutgoingResult[], from: number, to: number, size: number) => boolean;

/** A key asked for while the responder could not serve it (backed up, or no slot free), served later in order. */
interface QueuedGet {
  id: number;
  group: string | undefined;
  key: string | undefined;
  /** The caller's trace context for this key, if it sent one. */
  trace: TraceCarrier | undefined;
  /** The caller cancelled it while it waited. */
  cancelled: boolean;
}

/** How many keys one stream may have in flight, and the slots of its connection. */
export interface ResponderLimits {
  /** Keys served at once on this stream at most (cache hits do not count). */
  maxKeysInFlight: number;
  /** The slots shared by the streams of this stream's connection. */
  connection: KeyBudget;
  /**
   * Called when the queue of keys waiting for a slot has emptied (after
   * {@link GetStreamResponder.queued} was above 0): the transport may read
   * requests again.
   */
  onRoom: () => void;
}

/**
 * The owner's side of one GetStream, apart from the wire (`serveGetStream`
 * reads and writes it): each key asked for is answered by
 * `cache.serve` with its own `AbortSignal`, so a cancel from the caller
 * releases that key alone and the load goes on for any other waiter. Answers
 * are sent as they become ready, those ready in the same microtask together
 * in one message, each with its own status, so one slow or failing key
 * holds up or fails nothing else.
 *
 * Back-pressure: once answers waiting to be sent reach one batch, they are
 * handed to the sink at once, and if the sink says it is backed up, keys
 * asked for afterwards wait in a queue, unserved, until `resume`. So a
 * caller that asks without reading holds at most the answers to keys
 * already being served, not one answer per key it asks for (a single
 * request message may name thousands).
 *
 * Keys in flight are capped too, per stream (`maxKeysInFlight`) and per
 * connection (`connection`): a key beyond either cap waits in the queue
 * until one in flight is answered, and the transport stops reading the
 * stream's requests while any key waits (`queued`), so the queue holds at
 * most the keys of what was already read. One message of 20,000 keys
 * whose loads hang starts `maxKeysInFlight` of them, not 20,000.
 */
export class GetStreamResponder implements RequestVisitor {
  readonly #cache: PeerServable;
  readonly #maxMessageBytes: number;
  readonly #sink: ResultSink;
  readonly #limits: ResponderLimits;
  /** The asking peer's id, when its stream said (for events). */
  readonly #from: string | undefined;
  readonly #inFlight = new Map<number, AbortController>();
  #out: OutgoingResult[] = [];
  /** Sum of the entry sizes in `#out`. */
  #outBytes = 0;
  #paused = false;
  /** Keys waiting to be served, in order, from `#queueHead` on; cancelled ones are skipped. */
  #queue: QueuedGet[] = [];
  #queueHead = 0;
  /** The keys of `#queue` not yet served nor cancelled, by id. */
  readonly #queued = new Map<number, QueuedGet>();
  /** Waiting for a slot of the connection. */
  #waitingForSlot = false;
  #flushScheduled = false;
  #closed = false;
  #drained: (() => void) | undefined;
  readonly #flushNow = () => {
    this.#flushScheduled = false;
    this.#flush();
  };
  readonly #onSlot = () => {
    this.#waitingForSlot = false;
    this.#pump();
  };

  /**
   * `maxMessageBytes`: the largest message to send (the server's
   * `writeMaxBytes`, or less if the caller reads less); an answer that does
   * not fit is replaced by RESOURCE_EXHAUSTED for its key.
   */
  constructor(cache: PeerServable, maxMessageBytes: number, sink: ResultSink, limits: ResponderLimits, from?: string) {
    this.#cache = cache;
    this.#from = from;
    this.#maxMessageBytes = maxMessageBytes;
    this.#sink = sink;
    this.#limits = limits;
  }

  /** Whether the sink is backed up: new keys are queued, not served. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Keys waiting to be served (the sink is backed up, or no slot is free): the transport should not read more requests. */
  get queued(): number {
    return this.#queued.size;
  }

  /** Keys being served now (loads in progress). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** A KeyRequest arrived: serves it, or queues it while backed up or out of slots. Strings that were not valid UTF-8 are `undefined`. */
  get(id: number, group: string | undefined, key: string | undefined, trace?: TraceCarrier): void {
    if (this.#closed) return;
    if (this.#inFlight.has(id) || this.#queued.has(id)) {
      this.#push(id, Code.InvalidArgument, `request id ${id} is already in flight on this stream`);
      return;
    }
    // Behind keys that wait, in order; or first in line when no slot is free.
    if (this.#queued.size > 0 || this.#paused || !this.#serve(id, group, key, trace)) {
      const q: QueuedGet = { id, group, key, trace, cancelled: false };
      this.#queue.push(q);
      this.#queued.set(id, q);
    }
  }

  /** Serves one key now; `false` when it needs a slot and none is free (it is then not served). */
  #serve(id: number, group: string | undefined, key: string | undefined, trace: TraceCarrier | undefined): boolean {
    if (group === undefined || key === undefined) {
      this.#push(id, Code.InvalidArgument, `${group === undefined ? "group" : "key"} is not valid UTF-8`);
      return true;
    }
    // A hit needs no promise, nothing to cancel, and no slot.
    const cached = this.#cache.serveCached?.(group, key);
    if (cached !== undefined) {
      this.#pushValue(id, cached);
      return true;
    }
    if (!this.#takeSlot()) return false;
    const controller = new AbortController();
    this.#inFlight.set(id, controller);
    let served: Promise<ServeResult>;
    try {
      served = this.#cache.serve(group, key, { signal: controller.signal, trace, from: this.#from });
    } catch (error) {
      served = Promise.reject(error);
    }
    served.then(
      (result) => {
        if (!this.#settle(id, controller)) return;
        this.#pushValue(id, result);
        this.#pump();
      },
      (error: unknown) => {
        if (!this.#settle(id, controller)) return;
        const status = toGrpcStatus(error);
        this.#push(id, status.code, status.message, notFoundTtlOf(error));
        this.#pump();
      },
    );
    return true;
  }

  /** The transport can take answers again: sends what waits and serves the queued keys, until it is backed up again. */
  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.#flush();
    this.#pump();
    this.#drain();
  }

  /** Takes a slot for one more key in flight, on this stream and its connection; waits for the connection's when none is free. */
  #takeSlot(): boolean {
    if (this.#inFlight.size >= this.#limits.maxKeysInFlight) return false;
    if (this.#limits.connection.tryTake()) return true;
    if (!this.#waitingForSlot) {
      this.#waitingForSlot = true;
      this.#limits.connection.wait(this.#onSlot);
    }
    return false;
  }

  /** Serves queued keys, in order, while not backed up and slots are free; tells the transport once the queue is empty. */
  #pump(): void {
    if (this.#closed || this.#queue.length === 0) return;
    const queue = this.#queue;
    while (this.#queueHead < queue.length && !this.#paused) {
      const q = queue[this.#queueHead] as QueuedGet;
      if (!q.cancelled && !this.#serve(q.id, q.group, q.key, q.trace)) break; // out of slots: it stays first
      this.#queueHead++;
      this.#queued.delete(q.id);
    }
    if (this.#queued.size === 0) {
      this.#queue = [];
      this.#queueHead = 0;
      this.#limits.onRoom();
    } else if (this.#queueHead >= 1024 && this.#queueHead * 2 >= queue.length) {
      // Drop the served head now and then, so a long queue is not copied per key.
      this.#queue = queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  /** The caller stopped waiting for `id`: releases it, without an answer. */
  cancel(id: number): void {
    const controller = this.#inFlight.get(id);
    if (controller !== undefined) {
      this.#release(id);
      controller.abort(new GroupCacheError("canceled", "the caller cancelled this key"));
      this.#pump();
    } else {
      const queued = this.#queued.get(id);
      if (queued !== undefined) {
        queued.cancelled = true;
        this.#queued.delete(id);
        this.#pump();
      }
    }
    this.#drain();
  }

  /** Forgets `id`'s load and gives its slot back (to this stream or another of its connection). */
  #release(id: number): void {
    this.#inFlight.delete(id);
    this.#limits.connection.release();
  }

  /** Resolves once every key asked for so far has been answered (the caller has sent its last request). */
  drained(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }

  /**
   * Ends the stream early: every key still in flight is released with
   * `reason` and, if `answer`, answered now with its status (the server is
   * closing: the caller should load those keys itself); otherwise dropped
   * (the caller is gone). Nothing is sent afterwards.
   */
  close(reason: unknown, answer: boolean): void {
    if (this.#closed) return;
    const status = toGrpcStatus(reason);
    const controllers = [...this.#inFlight];
    const queued = [...this.#queued.values()];
    this.#inFlight.clear();
    for (let i = 0; i < controllers.length; i++) this.#limits.connection.release();
    this.#limits.connection.cancelWait(this.#onSlot);
    this.#queue = [];
    this.#queueHead = 0;
    this.#queued.clear();
    if (answer) {
      for (const [id] of controllers) this.#push(id, status.code, status.message);
      for (const q of queued) this.#push(q.id, status.code, status.message);
      this.#paused = false; // the last answers go out whatever the caller reads
      this.#flush();
    }
    this.#closed = true;
    this.#out = [];
    this.#outBytes = 0;
    for (const [, controller] of controllers) controller.abort(reason);
    this.#drain();
  }

  /** Whether `id` was still waiting for this answer (not cancelled, not closed); forgets it. */
  #settle(id: number, controller: AbortController): boolean {
    if (this.#inFlight.get(id) !== controller) return false;
    this.#release(id);
    return true;
  }

  #pushValue(id: number, served: ServeResult): void {
    const result: OutgoingResult = {
      id,
      code: 0,
      message: "",
      value: served.value,
      minuteQps: served.minuteQps,
      ttlMs: served.ttlMs ?? 0,
      staleMs: served.staleMs ?? 0,
      notFoundTtlMs: 0,
    };
    const size = keyResponseEntrySize(result);
    if (5 + size > this.#maxMessageBytes) {
      this.#push(
        id,
        Code.ResourceExhausted,
        `message size ${size} is larger than configured writeMaxBytes ${this.#maxMessageBytes}`,
      );
      return;
    }
    this.#enqueue(result, size);
  }

  #push(id: number, code: number, message: string, notFoundTtlMs = 0): void {
    const result: OutgoingResult = {
      id,
      code,
      message,
      value: undefined,
      minuteQps: 0,
      ttlMs: 0,
      staleMs: 0,
      notFoundTtlMs,
    };
    this.#enqueue(result, keyResponseEntrySize(result));
  }

  /** Adds an answer to send; a full batch goes to the sink at once, so a backed-up sink is seen before more keys are served. */
  #enqueue(result: OutgoingResult, size: number): void {
    this.#out.push(result);
    this.#outBytes += size;
    if (this.#outBytes >= batchBytes && !this.#paused) this.#flush();
    else this.#schedule();
  }

  /**
   * Flushes at the end of this microtask when no other key is in flight
   * (latency first), otherwise at the end of this round of I/O
   * (`setImmediate`), so answers to keys that came in several reads, or
   * that settle a few promise hops apart, share one message.
   */
  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    if (this.#inFlight.size === 0) queueMicrotask(this.#flushNow);
    else setImmediate(this.#flushNow);
  }

  #flush(): void {
    const out = this.#out;
    if (this.#closed || this.#paused || out.length === 0) return;
    this.#out = [];
    this.#outBytes = 0;
    const limit = Math.min(batchBytes, this.#maxMessageBytes - 5);
    let from = 0;
    let size = 0;
    for (let i = 0; i < out.length; i++) {
      const entry = keyResponseEntrySize(out[i] as OutgoingResult);
      if (i > from && size + entry > limit) {
        if (!this.#sink(out, from, i, size)) this.#paused = true;
        from = i;
        size = 0;
      }
      size += entry;
    }
    if (!this.#sink(out, from, out.length, size)) this.#paused = true;
    this.#drain();
  }

  /** Nothing in flight, queued or waiting to be sent. */
  #idle(): boolean {
    return this.#inFlight.size === 0 && this.#out.length === 0 && this.#queued.size === 0;
  }

  #drain(): void {
    if (this.#drained === undefined || !this.#idle()) return;
    const resolve = this.#drained;
    this.#drained = undefined;
    resolve();
  }
}
