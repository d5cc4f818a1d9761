import type * as http2 from "node:http2";
import { closeAfterAnswer } from "../close-after-answer.ts";

/** A request header as Connect's helpers take it: a string, or `null` when absent (or repeated). */
export function requestHeader(request: http2.Http2ServerRequest, name: string): string | null {
  const value = request.headers[name];
  return typeof value === "string" ? value : null;
}

/**
 * Ends a gRPC response with no messages, only `trailers` (a status, as
 * `grpcTrailers` or `errorTrailers` write it). Sent as headers, then
 * trailers: a "trailers-only" response (the status in the headers) that
 * ends while the caller is still sending makes Node reset the stream, and
 * grpc-js then reports the reset rather than the status. A caller still
 * sending has its stream closed once the status is out (see
 * `closeAfterAnswer`).
 */
export function statusOnly(
  request: http2.Http2ServerRequest,
  response: http2.Http2ServerResponse,
  trailers: Record<string, string>,
): void {
  if (!request.complete) closeAfterAnswer(request, response);
  if (!response.headersSent) response.writeHead(200, { "content-type": "application/grpc+proto" });
  response.addTrailers(trailers);
  response.end();
}
