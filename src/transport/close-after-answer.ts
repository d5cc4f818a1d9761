import * as http2 from "node:http2";
import { setImmediate } from "node:timers";

/**
 * Call before ending a response whose request the caller may still be
 * sending (refused as too large or malformed, or too slow): if it still is
 * once the trailers (the
 * status) are handed to HTTP/2, the stream is closed with RST_STREAM
 * NO_ERROR, as HTTP/2 lets a server do (RFC 9113, section 8.1), so the
 * caller reads the status and stops sending. Otherwise `node:http2` keeps
 * the stream open while the request side is, and a caller that waits for
 * its request to be sent before it reads waits for its own deadline.
 * Closing before the trailers are out would drop the status instead.
 */
export function closeAfterAnswer(request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void {
  const stream = response.stream;
  // The compatibility API sends the trailers from its own "wantTrailers"
  // listener, registered first; the close is submitted after them.
  stream.once("wantTrailers", () =>
    setImmediate(() => {
      if (!request.complete && !stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }),
  );
}
