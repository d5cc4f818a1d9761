import type { Buffer } from "node:buffer";
import type * as http2 from "node:http2";
// Connect marks its protocol helpers private (no semver guarantee):
// package.json pins @connectrpc/connect to exactly 2.2.0 for them.
import { compressionNegotiate } from "@connectrpc/connect/protocol";
import { parseContentType, parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerServable } from "../../core/peers.ts";
import { linkedSignal } from "../../core/signals.ts";
import { closeAfterAnswer } from "../close-after-answer.ts";
import { FramePool } from "../grpc/frame-pool.ts";
import { GrpcFrameReader } from "../grpc/grpc-frame-reader.ts";
import { requestHeader as header, statusOnly } from "../grpc/grpc-response.ts";
import { type GrpcStatus, grpcTrailers, toGrpcStatus } from "../grpc/grpc-status.ts";
import { checkCaller } from "../trace-propagation.ts";
import { maxTimerMs } from "../transport-options.ts";
import {
  countRequestKeys,
  decodeRequest,
  encodeResponseFrame,
  getStreamPath,
  readMaxBytesHeader,
} from "./get-stream-codec.ts";
import { batchFrameBytes, GetStreamResponder } from "./get-stream-responder.ts";
import type { KeyBudget } from "./key-budget.ts";

/** Response frames of every GetStream this process serves: up to 2 MiB of them kept for reuse. */
const responseFrames = new FramePool(batchFrameBytes, 128);

/** Whether a request is a gRPC call with protobuf messages (not Connect, gRPC-web or JSON) of GetStream. */
export function isGrpcGetStream(request: http2.Http2ServerRequest): boolean {
  return (
    request.method === "POST" &&
    request.url === getStreamPath &&
    parseContentType(header(request, "content-type"))?.binary === true
  );
}

/** Options of {@link serveGetStream}: its routes' options, resolved. */
export interface ServeGetStreamOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  /** Keys one request message may name; a message with more ends the stream with RESOURCE_EXHAUSTED. */
  maxKeysPerMessage: number;
  /** Keys served at once on one stream. */
  maxStreamKeysInFlight: number;
  /** Longest a request message may take from its first byte to its last; 0: no limit. */
  messageTimeoutMs: number;
  shutdownSignal?: AbortSignal | undefined;
}

/**
 * Serves one gRPC GetStream call straight on `node:http2`'s compatibility
 * API, without Connect: per message, Connect's generic streaming costs more
 * than the rest of a key's trip, and a stream carries thousands of keys a
 * second. The wire protocol is plain gRPC (5-byte message prefix,
 * `grpc-status` trailers), so any gRPC client can call it.
 *
 * Keys in flight are capped per stream (`maxStreamKeysInFlight`) and per
 * connection (`connection`, shared by its streams); while keys wait for a
 * slot, the stream's requests are not read, so HTTP/2 flow control holds
 * the caller's further keys on its side.
 *
 * The stream's own status reports the stream only: OK once the caller has
 * closed its side and every key is answered; INTERNAL for bytes that are not
 * GetStream messages; RESOURCE_EXHAUSTED for a message over `readMaxBytes`
 * or naming more than `maxKeysPerMessage` keys (before any of its keys is
 * served);
 * UNAVAILABLE (after answering every key in flight with it) when the server
 * shuts down; DEADLINE_EXCEEDED when a `grpc-timeout` runs out. A compressed
 * stream and an invalid `grpc-timeout` get the status Connect gives a unary
 * Get for them (UNIMPLEMENTED, INVALID_ARGUMENT), before any key.
 */
export function serveGetStream(
  cache: PeerServable,
  request: http2.Http2ServerRequest,
  response: http2.Http2ServerResponse,
  options: ServeGetStreamOptions,
  connection: KeyBudget,
): void {
  // Connect's own checks of these headers, so a stream is refused as a Get would be.
  const { error: compressionError } = compressionNegotiate(
    [],
    header(request, "grpc-encoding"),
    header(request, "grpc-accept-encoding"),
    "grpc-accept-encoding",
  );
  const timeout = parseTimeout(header(request, "grpc-timeout"), Number.MAX_SAFE_INTEGER);
  const refused = compressionError ?? timeout.error;
  if (refused !== undefined) {
    statusOnly(request, response, grpcTrailers({ code: refused.code, message: refused.rawMessage }));
    return;
  }
  if (options.shutdownSignal?.aborted) {
    statusOnly(request, response, grpcTrailers(toGrpcStatus(options.shutdownSignal.reason)));
    return;
  }

  let finished = false;
  let backedUp = false;
  // The caller reads slower than we answer: stop reading its requests and
  // serving its keys until what was written has gone out.
  const onDrain = () => {
    backedUp = false;
    if (finished) return;
    responder.resume();
    if (responder.queued === 0) resumeReading();
  };
  // Every key that waited for a slot is served: read the caller's next keys.
  const onRoom = () => {
    if (!finished && !backedUp) resumeReading();
  };
  const pauseReading = () => {
    request.pause();
    watchMessage();
  };
  const resumeReading = () => {
    request.resume();
    watchMessage();
  };
  // A message must arrive within messageTimeoutMs of its first byte,
  // counted while we read (a paused stream cannot complete one).
  const messageTimeoutMs = options.messageTimeoutMs;
  let messageTimer: ReturnType<typeof setTimeout> | undefined;
  let timedMessage = -1;
  const onSlowMessage = () => {
    messageTimer = undefined;
    fail(
      new GroupCacheError(
        "deadline-exceeded",
        `a request message did not arrive within messageTimeoutMs (${messageTimeoutMs} ms) of its first byte`,
      ),
    );
  };
  const watchMessage = () => {
    const reading = !finished && !backedUp && responder.queued === 0;
    if (!reading || !reader.partial || messageTimeoutMs === 0) {
      if (messageTimer !== undefined) clearTimeout(messageTimer);
      messageTimer = undefined;
      return;
    }
    if (messageTimer !== undefined && timedMessage === reader.completed) return;
    if (messageTimer !== undefined) clearTimeout(messageTimer);
    timedMessage = reader.completed;
    messageTimer = setTimeout(onSlowMessage, messageTimeoutMs);
  };
  const maxMessageBytes = answerLimit(header(request, readMaxBytesHeader), options.writeMaxBytes);
  const caller = checkCaller(cache, (name) => header(request, name));
  const responder = new GetStreamResponder(
    cache,
    maxMessageBytes,
    (results, from, to, size) => {
      if (finished) return true;
      const slot = responseFrames.take(5 + size);
      const ok =
        slot === undefined
          ? response.write(encodeResponseFrame(results, from, to, size))
          : response.write(encodeResponseFrame(results, from, to, size, slot), () => responseFrames.release(slot));
      if (!ok && !backedUp) {
        backedUp = true;
        pauseReading();
        response.once("drain", onDrain);
      }
      return ok;
    },
    { maxKeysInFlight: options.maxStreamKeysInFlight, connection, onRoom },
    caller,
  );
  const reader = new GrpcFrameReader(options.readMaxBytes);
  // The server's shutdown and the stream's grpc-timeout, as one signal.
  const timeoutMs = timeout.timeoutMs ?? 0;
  const ended = linkedSignal(
    options.shutdownSignal,
    timeoutMs <= maxTimerMs ? timeoutMs : 0,
    () => new GroupCacheError("deadline-exceeded", `the stream's grpc-timeout of ${timeoutMs} ms ran out`),
  );

  const finish = (status: GrpcStatus) => {
    if (finished) return;
    finished = true;
    cleanup();
    response.addTrailers(grpcTrailers(status));
    if (!request.complete) closeAfterAnswer(request, response);
    response.end();
  };
  /** Ends the stream with `reason`'s status, answering every key in flight with it first. */
  const fail = (reason: unknown) => {
    responder.close(reason, true);
    finish(toGrpcStatus(reason));
  };
  const onEnded = () => fail(ended.signal.reason);
  const onGone = () => {
    if (finished) return;
    finished = true;
    cleanup();
    responder.close(new GroupCacheError("canceled", "the caller closed the stream"), false);
  };
  const cleanup = () => {
    if (messageTimer !== undefined) clearTimeout(messageTimer);
    ended.cleanup();
    ended.signal.removeEventListener("abort", onEnded);
    request.off("data", onData);
    response.off("drain", onDrain);
  };
  const maxKeys = options.maxKeysPerMessage;
  const onMessage = (buf: Buffer, start: number, end: number) => {
    // A key takes 2 bytes at least: only a larger message can name too many.
    if (end - start > 2 * maxKeys) {
      const keys = countRequestKeys(buf, start, end, maxKeys);
      if (keys > maxKeys) {
        throw new GroupCacheError(
          "resource-exhausted",
          `a request message names more than ${maxKeys} keys (maxKeysPerMessage); send fewer per message`,
        );
      }
    }
    decodeRequest(buf, start, end, responder);
  };
  const onData = (chunk: Buffer) => {
    try {
      reader.push(chunk, onMessage);
      // Keys wait for a slot: read no more until they are served (onRoom).
      if (responder.queued > 0 && !finished) pauseReading();
      else if (reader.partial || messageTimer !== undefined) watchMessage();
    } catch (error) {
      // Bytes we cannot read (a bad frame or message) end the stream; anything else is a bug.
      if (!(error instanceof GroupCacheError)) throw error;
      fail(error);
    }
  };

  ended.signal.addEventListener("abort", onEnded, { once: true });
  response.on("close", onGone);
  response.on("error", () => {});
  response.writeHead(200, { "content-type": "application/grpc" });
  request.on("data", onData);
  request.on("end", () => {
    if (finished) return;
    if (reader.partial) {
      fail(new GroupCacheError("internal", "parse binary: premature EOF"));
      return;
    }
    // The caller sent its last key: answer what is in flight, then end OK.
    void responder.drained().then(() => finish({ code: 0, message: "" }));
  });
}

/**
 * The largest message to answer with: the server's `writeMaxBytes`, or less
 * when the caller's `groupcache-read-max-bytes` header says it reads less
 * (so a key too large for it fails alone, not the whole stream).
 */
function answerLimit(readMaxBytes: string | null, writeMaxBytes: number): number {
  const limit = Number(readMaxBytes);
  return Number.isInteger(limit) && limit > 0 ? Math.min(limit, writeMaxBytes) : writeMaxBytes;
}
