import { Buffer } from "node:buffer";
import type * as http2 from "node:http2";
import { clearTimeout, setTimeout } from "node:timers";
import { fromBinary } from "@bufbuild/protobuf";
// Connect marks its protocol helpers private (no semver guarantee):
// package.json pins @connectrpc/connect to exactly 2.2.0 for them.
import { parseContentType, parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { GroupCacheError } from "../core/errors.ts";
import type { PeerServable, ServeResult } from "../core/peers.ts";
import { linkedSignal } from "../core/signals.ts";
import { type GetRequest, GetRequestSchema } from "../gen/groupcachepb/groupcache_pb.ts";
import { GrpcFrameReader } from "./grpc/grpc-frame-reader.ts";
import { requestHeader as header, statusOnly } from "./grpc/grpc-response.ts";
import { errorTrailers, grpcTrailers } from "./grpc/grpc-status.ts";
import { varintSize, writePrefix, writeVarint } from "./grpc/proto-wire.ts";
import { checkCaller, traceFromHeaders } from "./trace-propagation.ts";
import { maxTimerMs } from "./transport-options.ts";

/** The RPC path of the unary Get. */
export const getPath = "/groupcachepb.GroupCache/Get";

/**
 * Whether {@link serveGet} answers `request`: a gRPC Get with protobuf
 * messages and no compression. Anything else (the Connect protocol,
 * gRPC-web, JSON, a compressed request) is left to Connect, which also
 * answers it when routes have interceptors or accept compression.
 */
export function isPlainGrpcGet(request: http2.Http2ServerRequest): boolean {
  if (request.method !== "POST" || request.url !== getPath) return false;
  const encoding = header(request, "grpc-encoding");
  return (
    (encoding === null || encoding === "identity") && parseContentType(header(request, "content-type"))?.binary === true
  );
}

/** Options of {@link serveGet}: its routes' options, resolved. */
export interface ServeGetOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  /** Longest the request may take to arrive after its headers; 0: no limit. */
  messageTimeoutMs: number;
  shutdownSignal?: AbortSignal | undefined;
}

/**
 * Serves one gRPC Get straight on `node:http2`'s compatibility API, with
 * the same answers as Connect's handler (statuses, messages, headers and
 * trailers: `test/shared/transport-get-parity.test.ts` compares the two), but
 * at a fraction of its cost per call: Connect turns each call into web
 * streams, async iterables and envelope objects, about 80 KB of garbage a
 * Get, which a burst of a thousand Gets turned into ~190 MiB of RSS. Go's
 * gRPC fork and `grpcPeerClient({ stream: false })` send every key this way.
 *
 * Order of checks, as Connect's: an invalid `grpc-timeout`; a message over
 * `readMaxBytes` as soon as its prefix is read (RESOURCE_EXHAUSTED); a
 * compressed message (INTERNAL); bytes that are not a GetRequest (INTERNAL,
 * `parse binary: ...`); a second message (UNIMPLEMENTED); at the end, an
 * incomplete message (INVALID_ARGUMENT) or none (UNIMPLEMENTED). Then the
 * key is served with a signal that fires when the caller goes away, the
 * `grpc-timeout` runs out (DEADLINE_EXCEEDED) or the server shuts down.
 */
export function serveGet(
  cache: PeerServable,
  request: http2.Http2ServerRequest,
  response: http2.Http2ServerResponse,
  options: ServeGetOptions,
): void {
  const timeout = parseTimeout(header(request, "grpc-timeout"), Number.MAX_SAFE_INTEGER);
  if (timeout.error !== undefined) {
    statusOnly(request, response, grpcTrailers({ code: timeout.error.code, message: timeout.error.rawMessage }));
    return;
  }
  const timeoutMs = timeout.timeoutMs ?? 0;
  const call = linkedSignal(
    options.shutdownSignal,
    timeoutMs <= maxTimerMs ? timeoutMs : 0,
    () => new GroupCacheError("deadline-exceeded", `the request's grpc-timeout of ${timeoutMs} ms ran out`),
  );
  let finished = false;
  let received: GetRequest | undefined;
  let messageTimer: ReturnType<typeof setTimeout> | undefined;

  const finish = (trailers: Record<string, string>, frame?: Buffer) => {
    if (finished) return;
    finished = true;
    cleanup();
    if (frame === undefined) {
      statusOnly(request, response, trailers);
      return;
    }
    response.writeHead(200, { "content-type": "application/grpc+proto" });
    response.write(frame);
    response.addTrailers(trailers);
    response.end();
  };
  const fail = (reason: unknown) => finish(errorTrailers(reason));
  const onEnded = () => fail(call.signal.reason);
  const onGone = () => {
    if (finished) return;
    finished = true;
    cleanup();
    call.abort(new GroupCacheError("canceled", "the caller closed the stream"));
  };
  const cleanup = () => {
    if (messageTimer !== undefined) clearTimeout(messageTimer);
    call.cleanup();
    call.signal.removeEventListener("abort", onEnded);
    request.off("data", onData);
    request.off("end", onEnd);
    response.off("close", onGone);
  };

  const reader = new GrpcFrameReader(options.readMaxBytes, { flags: "pass" });
  const onMessage = (buf: Buffer, start: number, end: number, _own: boolean, flags: number) => {
    if ((flags & 1) === 1) {
      throw new GroupCacheError("internal", "received compressed envelope, but do not know how to decompress");
    }
    let message: GetRequest;
    try {
      message = fromBinary(GetRequestSchema, buf.subarray(start, end));
    } catch (error) {
      throw new GroupCacheError("internal", `parse binary: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (received !== undefined) {
      throw new GroupCacheError("unimplemented", "protocol error: received extra input message for unary method");
    }
    received = message;
  };
  const onData = (chunk: Buffer) => {
    try {
      reader.push(chunk, onMessage);
    } catch (error) {
      fail(error);
    }
  };
  const onEnd = () => {
    if (finished) return;
    if (messageTimer !== undefined) clearTimeout(messageTimer);
    if (reader.buffered > 0) {
      fail(new GroupCacheError("invalid-argument", "protocol error: incomplete envelope"));
    } else if (received === undefined) {
      fail(new GroupCacheError("unimplemented", "protocol error: missing input message for unary method"));
    } else {
      serveKey(received);
    }
  };
  const serveKey = ({ group, key }: GetRequest) => {
    let result: ServeResult | Promise<ServeResult>;
    try {
      const from = checkCaller(cache, (name) => header(request, name));
      result =
        cache.serveCached?.(group, key) ??
        cache.serve(group, key, {
          signal: call.signal,
          trace: traceFromHeaders((name) => header(request, name)),
          from,
        });
    } catch (error) {
      // A PeerServable of one's own may throw rather than reject.
      fail(error);
      return;
    }
    if ("then" in result) result.then(answer, fail);
    else answer(result);
  };
  const answer = (result: ServeResult) => {
    if (finished) return;
    const size = getResponseSize(result);
    if (size > options.writeMaxBytes) {
      fail(
        new GroupCacheError(
          "resource-exhausted",
          `message size ${size} is larger than configured writeMaxBytes ${options.writeMaxBytes}`,
        ),
      );
      return;
    }
    finish(grpcTrailers({ code: 0, message: "" }), encodeGetResponseFrame(result, size));
  };

  if (call.signal.aborted) {
    onEnded();
    return;
  }
  call.signal.addEventListener("abort", onEnded, { once: true });
  response.once("close", onGone);
  response.on("error", () => {});
  request.on("data", onData);
  request.on("end", onEnd);
  if (!request.complete && options.messageTimeoutMs > 0) {
    messageTimer = setTimeout(() => {
      messageTimer = undefined;
      fail(
        new GroupCacheError(
          "deadline-exceeded",
          `the request did not arrive within messageTimeoutMs (${options.messageTimeoutMs} ms) of its headers`,
        ),
      );
    }, options.messageTimeoutMs);
  }
}

/** The encoded size of a GetResponse (proto3: zero values omitted, as protobuf-es writes it). */
function getResponseSize({ value, minuteQps, ttlMs, staleMs }: ServeResult): number {
  const n = value.byteLength;
  return (n === 0 ? 0 : 1 + varintSize(n) + n) + (minuteQps ? 9 : 0) + (ttlMs ? 9 : 0) + (staleMs ? 9 : 0);
}

/** A GetResponse of `size` bytes as one gRPC frame: one allocation, one copy of the value. */
function encodeGetResponseFrame({ value, minuteQps, ttlMs, staleMs }: ServeResult, size: number): Buffer {
  const buf = Buffer.allocUnsafe(5 + size);
  writePrefix(buf, size);
  let pos = 5;
  if (value.byteLength > 0) {
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, value.byteLength);
    buf.set(value, pos);
    pos += value.byteLength;
  }
  if (minuteQps) {
    buf[pos++] = 0x11;
    pos = buf.writeDoubleLE(minuteQps, pos);
  }
  if (ttlMs) {
    buf[pos++] = 0x21;
    pos = buf.writeDoubleLE(ttlMs, pos);
  }
  if (staleMs) {
    buf[pos++] = 0x29;
    buf.writeDoubleLE(staleMs, pos);
  }
  return buf;
}
