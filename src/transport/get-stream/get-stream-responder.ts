import { setImmediate } from "node:timers";
import { Code } from "@connectrpc/connect";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerServable } from "../../core/peers.ts";
import type { TraceCarrier } from "../../core/telemetry.ts";
import { toGrpcStatus } from "../grpc/grpc-status.ts";
import { keyResponseEntrySize, type OutgoingResult, type RequestVisitor } from "./get-stream-codec.ts";

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

/** A key asked for while the responder was paused, served on resume. */
interface QueuedGet {
  id: number;
  group: string | undefined;
  key: string | undefined;
  trace: TraceCarrier | undefined;
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
 */
export class GetStreamResponder implements RequestVisitor {
  readonly #cache: PeerServable;
  readonly #maxMessageBytes: number;
  readonly #sink: ResultSink;
  /** The asking peer's id, when its stream said (for events). */
  readonly #from: string | undefined;
  readonly #inFlight = new Map<number, AbortController>();
  #out: OutgoingResult[] = [];
  /** Sum of the entry sizes in `#out`. */
  #outBytes = 0;
  #paused = false;
  #queue: QueuedGet[] = [];
  #flushScheduled = false;
  #closed = false;
  #drained: (() => void) | undefined;
  readonly #flushNow = () => {
    this.#flushScheduled = false;
    this.#flush();
  };

  /**
   * `maxMessageBytes`: the largest message to send (the server's
   * `writeMaxBytes`, or less if the caller reads less); an answer that does
   * not fit is replaced by RESOURCE_EXHAUSTED for its key.
   */
  constructor(cache: PeerServable, maxMessageBytes: number, sink: ResultSink, from?: string) {
    this.#cache = cache;
    this.#from = from;
    this.#maxMessageBytes = maxMessageBytes;
    this.#sink = sink;
  }

  /** Whether the sink is backed up: new keys are queued, not served. */
  get paused(): boolean {
    return this.#paused;
  }

  /** A KeyRequest arrived: serves it (or queues it while paused). Strings that were not valid UTF-8 are `undefined`. */
  get(id: number, group: string | undefined, key: string | undefined, trace?: TraceCarrier): void {
    if (this.#closed) return;
    if (this.#paused) {
      this.#queue.push({ id, group, key, trace });
      return;
    }
    if (group === undefined || key === undefined) {
      this.#push(id, Code.InvalidArgument, `${group === undefined ? "group" : "key"} is not valid UTF-8`);
      return;
    }
    if (this.#inFlight.has(id)) {
      this.#push(id, Code.InvalidArgument, `request id ${id} is already in flight on this stream`);
      return;
    }
    // A hit needs no promise and nothing to cancel.
    const cached = this.#cache.serveCached?.(group, key);
    if (cached !== undefined) {
      this.#pushValue(id, cached.value, cached.minuteQps);
      return;
    }
    const controller = new AbortController();
    this.#inFlight.set(id, controller);
    let served: Promise<{ value: Uint8Array; minuteQps: number }>;
    try {
      served = this.#cache.serve(group, key, { signal: controller.signal, trace, from: this.#from });
    } catch (error) {
      served = Promise.reject(error);
    }
    served.then(
      (result) => {
        if (this.#settle(id, controller)) this.#pushValue(id, result.value, result.minuteQps);
      },
      (error: unknown) => {
        if (!this.#settle(id, controller)) return;
        const status = toGrpcStatus(error);
        this.#push(id, status.code, status.message);
      },
    );
  }

  /** The transport can take answers again: sends what waits and serves the queued keys, until it is backed up again. */
  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.#flush();
    const queue = this.#queue;
    this.#queue = [];
    let i = 0;
    for (; i < queue.length && !this.#paused; i++) {
      const q = queue[i] as QueuedGet;
      this.get(q.id, q.group, q.key, q.trace);
    }
    // Backed up again part way: the rest stays queued, in order.
    if (i < queue.length) this.#queue = queue.slice(i);
    this.#drain();
  }

  /** The caller stopped waiting for `id`: releases it, without an answer. */
  cancel(id: number): void {
    const controller = this.#inFlight.get(id);
    if (controller === undefined) {
      const queued = this.#queue.findIndex((q) => q.id === id);
      if (queued !== -1) this.#queue.splice(queued, 1);
      this.#drain();
      return;
    }
    this.#inFlight.delete(id);
    controller.abort(new GroupCacheError("canceled", "the caller cancelled this key"));
    this.#drain();
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
    const queued = this.#queue;
    this.#inFlight.clear();
    this.#queue = [];
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
    this.#inFlight.delete(id);
    return true;
  }

  #pushValue(id: number, value: Uint8Array, minuteQps: number): void {
    const result: OutgoingResult = { id, code: 0, message: "", value, minuteQps };
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

  #push(id: number, code: number, message: string): void {
    const result: OutgoingResult = { id, code, message, value: undefined, minuteQps: 0 };
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
    return this.#inFlight.size === 0 && this.#out.length === 0 && this.#queue.length === 0;
  }

  #drain(): void {
    if (this.#drained === undefined || !this.#idle()) return;
    const resolve = this.#drained;
    this.#drained = undefined;
    resolve();
  }
}
