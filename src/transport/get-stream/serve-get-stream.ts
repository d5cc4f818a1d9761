import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerServable } from "../../core/peers.ts";
import { FramePool } from "../grpc/frame-pool.ts";
import { FrameError, GrpcFrameReader } from "../grpc/grpc-frame-reader.ts";
import { toGrpcStatus } from "../grpc/grpc-status.ts";
import {
  DecodeError,
  decodeRequest,
  encodeResponseFrame,
  getStreamPath,
  readMaxBytesHeader,
} from "./get-stream-codec.ts";
import { batchFrameBytes, GetStreamResponder } from "./get-stream-responder.ts";

/** Response frames of every GetStream this process serves: up to 2 MiB of them kept for reuse. */
const responseFrames = new FramePool(batchFrameBytes, 128);

/** Whether a request is a gRPC call (not Connect or gRPC-web) of GetStream. */
export function isGrpcGetStream(request: http2.Http2ServerRequest): boolean {
  if (request.method !== "POST" || request.url !== getStreamPath) return false;
  const type = request.headers["content-type"];
  return type === "application/grpc" || type === "application/grpc+proto";
}

/** Options of {@link serveGetStream}, resolved by `groupCacheRoutes`'s option checks. */
export interface GetStreamHandlerOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  shutdownSignal?: AbortSignal;
}

/**
 * Serves one gRPC GetStream call straight on `node:http2`'s compatibility
 * API, without Connect: per message, Connect's generic streaming machinery
 * costs more than the whole key (REFERENCE §6), and a stream carries
 * thousands of keys a second. The wire protocol is plain gRPC (5-byte
 * message prefix, `grpc-status` trailers), so any gRPC client can call it.
 *
 * The stream's own status reports the stream only: OK once the caller has
 * closed its side and every key is answered; INTERNAL for bytes that are not
 * GetStream messages; RESOURCE_EXHAUSTED for a message over `readMaxBytes`;
 * UNAVAILABLE (after answering every key in flight with it) when the server
 * shuts down; DEADLINE_EXCEEDED when a `grpc-timeout` runs out.
 */
export function serveGetStream(
  cache: PeerServable,
  request: http2.Http2ServerRequest,
  response: http2.Http2ServerResponse,
  options: GetStreamHandlerOptions,
): void {
  const encoding = request.headers["grpc-encoding"];
  if (encoding !== undefined && encoding !== "identity") {
    statusOnly(response, Code.Unimplemented, `unknown compression "${encoding}": supported encodings are identity`);
    return;
  }
  const readLimit = Number(request.headers[readMaxBytesHeader]);
  const maxMessageBytes =
    Number.isInteger(readLimit) && readLimit > 0 ? Math.min(readLimit, options.writeMaxBytes) : options.writeMaxBytes;

  let finished = false;
  let backedUp = false;
  // The caller reads slower than we answer: stop reading its requests and
  // serving its keys until what was written has gone out.
  const onDrain = () => {
    backedUp = false;
    if (finished) return;
    request.resume();
    session.resume();
  };
  const session = new GetStreamResponder(cache, maxMessageBytes, (results, from, to, size) => {
    if (finished) return true;
    const slot = responseFrames.take(5 + size);
    const ok =
      slot === undefined
        ? response.write(encodeResponseFrame(results, from, to, size))
        : response.write(encodeResponseFrame(results, from, to, size, slot), () => responseFrames.release(slot));
    if (!ok && !backedUp) {
      backedUp = true;
      request.pause();
      response.once("drain", onDrain);
    }
    return ok;
  });
  const reader = new GrpcFrameReader(options.readMaxBytes);
  let timer: ReturnType<typeof setTimeout> | undefined;

  const finish = (code: number, message: string) => {
    if (finished) return;
    finished = true;
    cleanup();
    const trailers: Record<string, string> = { "grpc-status": String(code) };
    if (message !== "") trailers["grpc-message"] = encodeURIComponent(message);
    response.addTrailers(trailers);
    response.end();
  };
  const fail = (code: Code, message: string, reason: unknown) => {
    session.close(reason, true);
    finish(code, message);
  };
  const onShutdown = () => {
    const reason = options.shutdownSignal?.reason;
    const status = toGrpcStatus(reason);
    fail(status.code, status.message, reason);
  };
  const onGone = () => {
    if (finished) return;
    finished = true;
    cleanup();
    session.close(new GroupCacheError("canceled", "the caller closed the stream"), false);
  };
  const cleanup = () => {
    clearTimeout(timer);
    options.shutdownSignal?.removeEventListener("abort", onShutdown);
    request.off("data", onData);
    response.off("drain", onDrain);
  };
  const onMessage = (buf: Buffer, start: number, end: number) => decodeRequest(buf, start, end, session);
  const onData = (chunk: Buffer) => {
    try {
      reader.push(chunk, onMessage);
    } catch (error) {
      if (error instanceof FrameError) {
        const code = error.kind === "resource-exhausted" ? Code.ResourceExhausted : Code.Internal;
        fail(code, error.message, new GroupCacheError(error.kind, error.message));
      } else if (error instanceof DecodeError) {
        fail(Code.Internal, `parse binary: ${error.message}`, new GroupCacheError("internal", error.message));
      } else {
        throw error;
      }
    }
  };

  if (options.shutdownSignal?.aborted) {
    const status = toGrpcStatus(options.shutdownSignal.reason);
    statusOnly(response, status.code, status.message);
    return;
  }
  options.shutdownSignal?.addEventListener("abort", onShutdown, { once: true });
  const timeoutMs = parseGrpcTimeout(request.headers["grpc-timeout"]);
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      const reason = new GroupCacheError("deadline-exceeded", `the stream's grpc-timeout of ${timeoutMs} ms ran out`);
      fail(Code.DeadlineExceeded, reason.message, reason);
    }, timeoutMs);
  }
  response.on("close", onGone);
  response.on("error", () => {});
  response.writeHead(200, { "content-type": "application/grpc" });
  request.on("data", onData);
  request.on("end", () => {
    if (finished) return;
    if (reader.partial) {
      fail(Code.Internal, "parse binary: premature EOF", new GroupCacheError("internal", "premature EOF"));
      return;
    }
    // The caller sent its last key: answer what is in flight, then end OK.
    void session.drained().then(() => finish(0, ""));
  });
}

/**
 * A response with no messages, only a status. Sent as headers, then
 * trailers: a "trailers-only" response (the status in the headers) that
 * ends while the caller is still sending makes Node reset the stream, and
 * grpc-js then reports the reset rather than the status.
 */
function statusOnly(response: http2.Http2ServerResponse, code: number, message: string): void {
  response.writeHead(200, { "content-type": "application/grpc" });
  response.addTrailers({
    "grpc-status": String(code),
    ...(message === "" ? {} : { "grpc-message": encodeURIComponent(message) }),
  });
  response.end();
}

const timeoutUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/** A `grpc-timeout` header (`100m`, `5S`, ...) in milliseconds, or `undefined`. */
function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * (timeoutUnits[match[2] as string] as number);
}
