import type { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
// Connect marks its protocol helpers private (no semver guarantee):
// package.json pins @connectrpc/connect to exactly 2.2.0 for them.
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-grpc";
import { GroupCacheError } from "../../core/errors.ts";
import { GrpcFrameReader } from "../grpc/grpc-frame-reader.ts";
import { type GrpcStatus, grpcStatusOf, toGrpcStatus } from "../grpc/grpc-status.ts";
import {
  type AnswerReceiver,
  decodeResponse,
  encodeRequestFrame,
  getStreamPath,
  KeyAnswer,
  type OutgoingKey,
} from "./get-stream-codec.ts";

/** One key's answer on a {@link GetStreamCall}: the decoded fields, refilled for every answer, and the call it came on. */
export class CallAnswer extends KeyAnswer {
  readonly call: GetStreamCall;
  /** Whether `frame` holds this message alone (see `MessageHandler`), rather than being a received chunk. */
  ownFrame = false;

  constructor(call: GetStreamCall) {
    super();
    this.call = call;
  }
}

/** What a {@link GetStreamCall} reports to the client that owns it. */
export interface CallEvents extends AnswerReceiver<CallAnswer> {
  /** The stream is over; `call.endStatus` says how. */
  ended(call: GetStreamCall): void;
  /** The server is going away (GOAWAY): send no new keys on this call. */
  goaway(call: GetStreamCall): void;
  /** Response bytes arrived (for the connection's keep-alive bookkeeping). */
  bytesRead(stream: http2.ClientHttp2Stream): void;
}

/**
 * One GetStream call on the wire, on the caller's side: the HTTP/2 stream,
 * its gRPC framing and decoding, how many keys are in flight on it, the
 * cancels still to send, and the status it ended with. Which keys those
 * are, and what to do with their answers, is the business of
 * `GetStreamClient`, which tells the call when one is answered or
 * cancelled.
 */
export class GetStreamCall {
  readonly #stream: http2.ClientHttp2Stream;
  readonly #events: CallEvents;
  readonly #reader: GrpcFrameReader;
  readonly #answer = new CallAnswer(this);
  #inFlight = 0;
  /** Ids no longer wanted, to send with the next write. */
  #cancels: number[] = [];
  #retired = false;
  #gotMessage = false;
  #status: GrpcStatus | undefined;
  #closed = false;
  /**
   * Chunks that came before the response headers, read once they say 200:
   * Deno's `node:http2` emits "data" before "response", and the body of a
   * 404 is not gRPC. `undefined` once the headers are in.
   */
  #early: Buffer[] | undefined = [];
  readonly #onMessage = (buf: Buffer, start: number, end: number, own: boolean) => {
    this.#gotMessage = true;
    this.#answer.ownFrame = own;
    decodeResponse(buf, start, end, this.#answer, this.#events);
  };

  constructor(stream: http2.ClientHttp2Stream, readMaxBytes: number, receiveWindowBytes: number, events: CallEvents) {
    this.#stream = stream;
    this.#events = events;
    this.#reader = new GrpcFrameReader(readMaxBytes);
    const session = stream.session;
    if (session !== undefined && !widened.has(session)) {
      widened.add(session);
      // Not every runtime's node:http2 has it; the default window only costs throughput.
      try {
        session.setLocalWindowSize?.(receiveWindowBytes);
      } catch {}
    }
    const onGoaway = () => events.goaway(this);
    session?.once("goaway", onGoaway);
    stream.on("response", (headers) => {
      const status = headers[":status"];
      const early = this.#early ?? [];
      this.#early = undefined;
      if (status !== 200) {
        this.#abandon({
          code: codeFromHttpStatus(status ?? 0),
          message: `HTTP status ${String(status)} for ${getStreamPath}`,
        });
        return;
      }
      if (headers["grpc-status"] !== undefined) this.#status = grpcStatusOf(headers); // "trailers-only"
      for (const chunk of early) this.#read(chunk);
    });
    stream.on("data", (chunk: Buffer) => {
      if (this.#closed) return;
      events.bytesRead(stream);
      if (this.#early === undefined) this.#read(chunk);
      else this.#early.push(chunk);
    });
    stream.on("trailers", (trailers) => {
      this.#status ??= grpcStatusOf(trailers);
    });
    stream.on("error", () => {}); // reported by "close", with the status or without
    stream.on("close", () => {
      session?.off("goaway", onGoaway);
      this.#end();
    });
  }

  /** Keys sent on this call and not answered, cancelled or timed out. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Cancels waiting for the next write. */
  get pendingCancels(): number {
    return this.#cancels.length;
  }

  /** Whether an UNIMPLEMENTED ending means the peer does not serve GetStream: no message came before it. */
  get unimplemented(): boolean {
    return this.#status?.code === Code.Unimplemented && !this.#gotMessage;
  }

  /** Sends one message: `keys` (entry sizes summing to `size`), now in flight, and the pending cancels. */
  write(keys: readonly OutgoingKey[], size: number): void {
    const cancels = this.#cancels;
    if (keys.length === 0 && cancels.length === 0) return;
    this.#cancels = [];
    this.#inFlight += keys.length;
    this.#stream.write(encodeRequestFrame(keys, 0, keys.length, size, cancels));
  }

  /** A key in flight was answered: half-closes a retired call once nothing is left. */
  answered(): void {
    this.#inFlight--;
    this.#endIfDone();
  }

  /** The caller gave up on key `id`: a cancel goes with the next write. Returns false, doing nothing, once the stream is over. */
  cancel(id: number): boolean {
    if (this.#closed) return false;
    this.#inFlight--;
    this.#cancels.push(id);
    return true;
  }

  /** Takes no new keys (idle, or GOAWAY); half-closed once nothing is in flight. Returns false if it already was retired. */
  retire(): boolean {
    if (this.#retired) return false;
    this.#retired = true;
    this.#endIfDone();
    return true;
  }

  /** Sends the pending cancels, if any; a retired call with nothing left is then half-closed. */
  flushCancels(): void {
    this.write([], 0);
    this.#endIfDone();
  }

  /** Resets the stream (the client is closing); its keys have been settled already. */
  reset(): void {
    this.#abandon({ code: Code.Canceled, message: "the client closed the stream" });
  }

  /** The status to fail the keys in flight with: the stream's own, or UNAVAILABLE for a reset. */
  get endStatus(): GrpcStatus {
    return (
      this.#status ?? {
        code: Code.Unavailable,
        message: `stream closed without a status (HTTP/2 code ${this.#stream.rstCode ?? "none"})`,
      }
    );
  }

  /** Reads response bytes: a bad response (a frame or message we cannot read) fails the call; anything else thrown is a bug. */
  #read(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#reader.push(chunk, this.#onMessage);
    } catch (error) {
      if (!(error instanceof GroupCacheError)) throw error;
      this.#abandon(toGrpcStatus(error));
    }
  }

  /** Half-closes a retired call once nothing is in flight or left to cancel; the owner then ends it with OK. */
  #endIfDone(): void {
    if (this.#retired && this.#inFlight === 0 && this.#cancels.length === 0 && !this.#closed) this.#stream.end();
  }

  /** Gives up on the stream with a status of our own (a bad response): its keys fail with it. */
  #abandon(status: GrpcStatus): void {
    if (this.#closed) return;
    this.#status = status;
    this.#end();
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.ended(this);
  }
}

/** Sessions whose connection-level receive window has been widened. */
const widened = new WeakSet<http2.Http2Session>();
