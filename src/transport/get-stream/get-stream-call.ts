import type { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { FrameError, GrpcFrameReader } from "../grpc/grpc-frame-reader.ts";
import { grpcCodeOfHttpStatus, grpcStatusOf } from "../grpc/grpc-status.ts";
import {
  DecodeError,
  decodeResponse,
  encodeRequestFrame,
  getStreamPath,
  type OutgoingKey,
  type ResultVisitor,
} from "./get-stream-codec.ts";

/** What a {@link GetStreamCall} reports to the client that owns it. */
export interface CallEvents {
  /** One key's answer: the value is `buf[valueStart..valueEnd)` when `code` is 0. */
  answer: (channel: GetStreamCall, ...result: Parameters<ResultVisitor>) => void;
  /** The stream is over; `channel.status` says how (`undefined`: reset without a status). */
  ended: (channel: GetStreamCall) => void;
  /** The server is going away (GOAWAY): send no new keys on this stream. */
  goaway: (channel: GetStreamCall) => void;
  /** Response bytes arrived (for the connection's keep-alive bookkeeping). */
  bytesRead: (stream: http2.ClientHttp2Stream) => void;
}

/**
 * One GetStream call on the wire, on the caller's side: the HTTP/2 stream,
 * its gRPC framing and decoding, the keys in flight on it and the cancels
 * still to send, and the status it ended with. Which keys those are, and
 * what to do with their answers, is the business of `GetStreamClient`.
 */
export class GetStreamCall {
  readonly stream: http2.ClientHttp2Stream;
  /** Keys sent on this stream and not answered, cancelled or timed out. */
  inFlight = 0;
  /** Ids no longer wanted, to send with the next write. */
  cancels: number[] = [];
  /** Takes no new keys (idle, or GOAWAY); half-closed once nothing is in flight. */
  retired = false;
  /** Whether a message arrived (an UNIMPLEMENTED after one is not "GetStream unknown"). */
  gotMessage = false;
  /** Whether the message being decoded is in a buffer of its own (see `MessageHandler`), rather than in a received chunk. */
  ownMessage = false;
  /** The gRPC status the stream ended with, once known. */
  status: { code: number; message: string } | undefined;
  closed = false;
  readonly #events: CallEvents;
  readonly #reader: GrpcFrameReader;

  constructor(stream: http2.ClientHttp2Stream, readMaxBytes: number, receiveWindowBytes: number, events: CallEvents) {
    this.stream = stream;
    this.#events = events;
    this.#reader = new GrpcFrameReader(readMaxBytes);
    const visit: ResultVisitor = (id, code, message, buf, valueStart, valueEnd, minuteQps) =>
      events.answer(this, id, code, message, buf, valueStart, valueEnd, minuteQps);
    const onMessage = (buf: Buffer, start: number, end: number, own: boolean) => {
      this.gotMessage = true;
      this.ownMessage = own;
      decodeResponse(buf, start, end, visit);
    };
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
      if (status !== 200) {
        this.abandon(grpcCodeOfHttpStatus(status), `HTTP status ${String(status)} for ${getStreamPath}`);
      } else if (headers["grpc-status"] !== undefined) {
        this.status = grpcStatusOf(headers); // "trailers-only": no messages will come
      }
    });
    stream.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      events.bytesRead(stream);
      try {
        this.#reader.push(chunk, onMessage);
      } catch (error) {
        if (error instanceof FrameError) {
          this.abandon(error.kind === "resource-exhausted" ? Code.ResourceExhausted : Code.Internal, error.message);
        } else if (error instanceof DecodeError) {
          this.abandon(Code.Internal, `parse binary: ${error.message}`);
        } else {
          throw error;
        }
      }
    });
    stream.on("trailers", (trailers) => {
      this.status ??= grpcStatusOf(trailers);
    });
    stream.on("error", () => {}); // reported by "close", with the status or without
    stream.on("close", () => {
      session?.off("goaway", onGoaway);
      this.#end();
    });
  }

  /** Sends one message: `keys` (entry sizes summing to `size`) and the pending cancels. */
  write(keys: readonly OutgoingKey[], size: number): void {
    const cancels = this.cancels;
    if (keys.length === 0 && cancels.length === 0) return;
    this.cancels = [];
    this.inFlight += keys.length;
    this.stream.write(encodeRequestFrame(keys, 0, keys.length, size, cancels));
  }

  /** Half-closes a retired stream once nothing is in flight or left to cancel; the owner then ends it with OK. */
  endIfDone(): void {
    if (this.retired && this.inFlight === 0 && this.cancels.length === 0 && !this.closed) this.stream.end();
  }

  /** Gives up on the stream with a status of our own (a bad response): its keys fail with it. */
  abandon(code: number, message: string): void {
    if (this.closed) return;
    this.status = { code, message };
    this.#end();
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** The status to fail the keys in flight with: the stream's own, or UNAVAILABLE for a reset. */
  get endStatus(): { code: number; message: string } {
    return (
      this.status ?? {
        code: Code.Unavailable,
        message: `stream closed without a status (HTTP/2 code ${this.stream.rstCode ?? "none"})`,
      }
    );
  }

  #end(): void {
    if (this.closed) return;
    this.closed = true;
    this.#events.ended(this);
  }
}

/** Sessions whose connection-level receive window has been widened. */
const widened = new WeakSet<http2.Http2Session>();
