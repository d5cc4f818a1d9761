import { setImmediate } from "node:timers";
import { Code } from "@connectrpc/connect";
import { GroupCacheError } from "../core/errors.ts";
import type { PeerServable } from "./group-cache-routes.ts";
import { toGrpcStatus } from "./grpc-status.ts";
import { keyResponseEntrySize, type OutgoingResult, type RequestVisitor } from "./stream-codec.ts";

/**
 * Largest gRPC frame (prefix included) the owner builds from several
 * answers; a single larger answer (up to the message limit) goes alone.
 * Smaller messages let the caller start on the first answers while the
 * rest are on the wire.
 */
export const batchFrameBytes = 16 << 10;
const batchBytes = batchFrameBytes - 5;

/** Receives a batch of answers to send as one GetStreamResponse: `results[from..to)`, entry sizes summing to `size`. */
export type ResultSink = (results: readonly OutgoingResult[], from: number, to: number, size: number) => void;

/**
 * The owner's side of one GetStream, whatever carries it (the hand-written
 * gRPC handler or Connect's): each key asked for is answered by
 * `cache.serve` with its own `AbortSignal`, so a cancel from the caller
 * releases that key alone and the load goes on for any other waiter. Answers
 * are sent as they become ready, those ready in the same microtask together
 * in one message, each with its own status, so one slow or failing key
 * holds up or fails nothing else.
 */
export class GetStreamSession implements RequestVisitor {
  readonly #cache: PeerServable;
  readonly #maxMessageBytes: number;
  readonly #sink: ResultSink;
  readonly #inFlight = new Map<number, AbortController>();
  #out: OutgoingResult[] = [];
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
  constructor(cache: PeerServable, maxMessageBytes: number, sink: ResultSink) {
    this.#cache = cache;
    this.#maxMessageBytes = maxMessageBytes;
    this.#sink = sink;
  }

  /** Keys asked for and not answered or cancelled yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** A KeyRequest arrived: serves it. Strings that were not valid UTF-8 are `undefined`. */
  get(id: number, group: string | undefined, key: string | undefined): void {
    if (this.#closed) return;
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
      served = this.#cache.serve(group, key, { signal: controller.signal });
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

  /** The caller stopped waiting for `id`: releases it, without an answer. */
  cancel(id: number): void {
    const controller = this.#inFlight.get(id);
    if (controller === undefined) return;
    this.#inFlight.delete(id);
    controller.abort(new GroupCacheError("canceled", "the caller cancelled this key"));
    this.#drain();
  }

  /** Resolves once every key asked for so far has been answered (the caller has sent its last request). */
  drained(): Promise<void> {
    if (this.#inFlight.size === 0 && this.#out.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }

  /**
   * Ends the session early: every key still in flight is released with
   * `reason` and, if `answer`, answered now with its status (the server is
   * closing: the caller should load those keys itself); otherwise dropped
   * (the caller is gone). Nothing is sent afterwards.
   */
  close(reason: unknown, answer: boolean): void {
    if (this.#closed) return;
    const status = toGrpcStatus(reason);
    const controllers = [...this.#inFlight];
    this.#inFlight.clear();
    if (answer) {
      for (const [id] of controllers) this.#push(id, status.code, status.message);
      this.#flush();
    }
    this.#closed = true;
    this.#out = [];
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
    this.#out.push(result);
    this.#schedule();
  }

  #push(id: number, code: number, message: string): void {
    this.#out.push({ id, code, message, value: undefined, minuteQps: 0 });
    this.#schedule();
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
    if (this.#closed || out.length === 0) return;
    this.#out = [];
    const limit = Math.min(batchBytes, this.#maxMessageBytes - 5);
    let from = 0;
    let size = 0;
    for (let i = 0; i < out.length; i++) {
      const entry = keyResponseEntrySize(out[i] as OutgoingResult);
      if (i > from && size + entry > limit) {
        this.#sink(out, from, i, size);
        from = i;
        size = 0;
      }
      size += entry;
    }
    this.#sink(out, from, out.length, size);
    this.#drain();
  }

  #drain(): void {
    if (this.#drained === undefined || this.#inFlight.size > 0 || this.#out.length > 0) return;
    const resolve = this.#drained;
    this.#drained = undefined;
    resolve();
  }
}
