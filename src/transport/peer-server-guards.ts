import type * as http2 from "node:http2";
import { setTimeout } from "node:timers";
import { closeAfterAnswer } from "./close-after-answer.ts";
import { grpcTrailers } from "./grpc/grpc-status.ts";
import type { PeerRequestHandler } from "./peer-request-handler.ts";

/**
 * What `startPeerServer` puts around its handler and its connections so
 * that careless or hostile clients cannot hold its memory: a cap on the
 * requests open at once, and deadlines for a connection's first bytes and
 * for its silence.
 */

/** `handler`, answering UNAVAILABLE at once while `max` requests are open. */
export function capOpenStreams(handler: PeerRequestHandler, max: number): PeerRequestHandler {
  let open = 0;
  const release = () => {
    open--;
  };
  return (request, response) => {
    if (open >= max) {
      const message = `peer server has maxOpenStreams (${max}) requests open; try another peer or later`;
      if (String(request.headers["content-type"]).startsWith("application/grpc")) {
        closeAfterAnswer(request, response);
        response.writeHead(200, { "content-type": "application/grpc" });
        response.addTrailers(grpcTrailers({ code: 14, message })); // UNAVAILABLE
        response.end();
      } else {
        response.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
        response.end(message);
      }
      return;
    }
    open++;
    response.once("close", release);
    handler(request, response);
  };
}

/**
 * Drops a connection that has not sent its preface and SETTINGS within
 * `handshakeTimeoutMs` (a client trickling its first bytes), and closes
 * one silent in both directions for `idleTimeoutMs` (a client gone
 * without closing, or idle): GOAWAY, then dropped a second later.
 */
export function watchSession(
  session: http2.ServerHttp2Session,
  handshakeTimeoutMs: number,
  idleTimeoutMs: number,
): void {
  if (handshakeTimeoutMs > 0) {
    const timer = setTimeout(() => session.destroy(), handshakeTimeoutMs);
    timer.unref();
    const settled = () => clearTimeout(timer);
    session.once("remoteSettings", settled);
    session.once("close", settled);
  }
  if (idleTimeoutMs > 0 && typeof session.setTimeout === "function") {
    session.setTimeout(idleTimeoutMs, () => {
      session.close();
      setTimeout(() => session.destroy(), 1_000).unref();
    });
  }
}
