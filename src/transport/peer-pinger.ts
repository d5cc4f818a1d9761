import type * as http2 from "node:http2";
import { clearTimeout, setImmediate, setTimeout } from "node:timers";
import { Http2SessionManager } from "@connectrpc/connect-node";
import type { PeerLiveness } from "../core/peer-health.ts";

/**
 * Connect's session manager, remembering the HTTP/2 session of the last
 * request (unary calls and GetStreams alike), which {@link PeerPinger}
 * pings: Connect's own keep-alive PINGs only close a dead connection, on
 * a timescale of seconds, and do not say so to anyone.
 */
export class WatchedSessionManager extends Http2SessionManager {
  /** The session the last request went out on. */
  session: http2.Http2Session | undefined;
  /** The session response bytes last arrived on. */
  answered: http2.Http2Session | undefined;

  override async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(method, path, headers, options);
    this.session = stream.session;
    return stream;
  }

  override notifyResponseByteRead(stream: http2.ClientHttp2Stream): void {
    super.notifyResponseByteRead(stream);
    this.answered = stream.session;
  }
}

/** Options of {@link PeerPinger}. */
export interface PeerPingerOptions {
  /** The peer's id, for the reasons reported. */
  peer: string;
  sessionManager: WatchedSessionManager;
  /** How long requests may be in flight with no answer before a PING checks the peer. */
  pingAfterMs: number;
  /** How long the PING may wait for its ack before the peer is reported down. */
  pingTimeoutMs: number;
  liveness: PeerLiveness;
  /** The peer was reported down: fail what is in flight on its connection. */
  onDown(reason: string): void;
}

/**
 * Notices a peer that is alive but silent (stopped, in a GC storm, its
 * event loop saturated) within `pingAfterMs + pingTimeoutMs`: while
 * requests are in flight and nothing has been heard from the peer for
 * `pingAfterMs`, it sends an HTTP/2 PING on the peer's connection; a PING
 * left unanswered for `pingTimeoutMs` reports the peer down. Only the
 * asking process's own requests trigger it: a busy healthy peer answers
 * something all the time and is never pinged; an idle one is not either.
 * A PING is answered by the peer's HTTP/2 layer as soon as its event loop
 * reads the socket, so a slow getter on a live peer does not count as
 * silence.
 */
export class PeerPinger {
  readonly #o: PeerPingerOptions;
  #inFlight = 0;
  #lastHeard = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The PING out, if any: its session. */
  #pinging: http2.Http2Session | undefined;
  #closed = false;
  readonly #onCheck = () => this.#check();
  /** For a request's settlement: heard from the peer. */
  readonly answered = () => this.#settled(true);
  /** For a request's failure: heard from the peer unless it failed on this side (see {@link isSilence}). */
  readonly failed = (error: unknown) => this.#settled(!isSilence(error));

  constructor(options: PeerPingerOptions) {
    this.#o = options;
  }

  /** A request to the peer went out; settle it with {@link answered} or {@link failed}. */
  started(): void {
    if (this.#inFlight++ > 0 || this.#closed) return;
    this.#lastHeard = performance.now();
    this.#arm(this.#o.pingAfterMs);
  }

  /** Stops checking (the client is closed). */
  close(): void {
    this.#closed = true;
    this.#pinging = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight = 0;
  }

  #settled(heard: boolean): void {
    this.#inFlight--;
    if (heard) this.#lastHeard = performance.now();
    if (this.#inFlight === 0 && this.#pinging === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(this.#onCheck, ms);
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#inFlight === 0 || this.#pinging !== undefined) return;
    const quietMs = performance.now() - this.#lastHeard;
    if (quietMs < this.#o.pingAfterMs) {
      this.#arm(Math.max(1, Math.ceil(this.#o.pingAfterMs - quietMs)));
      return;
    }
    const session = this.#o.sessionManager.session;
    if (session === undefined || session.destroyed || session.closed) {
      // No connection to ping: still connecting (a peer whose host drops
      // our packets never completes one), or reconnecting. Give it as long
      // as a PING would get.
      const { pingAfterMs, pingTimeoutMs } = this.#o;
      if (quietMs >= pingAfterMs + pingTimeoutMs * freshFactor) {
        this.#down(
          `peer ${this.#o.peer}: ${this.#inFlight} requests without an answer or a connection for ${Math.round(quietMs)} ms`,
        );
      } else {
        this.#arm(pingAfterMs);
      }
      return;
    }
    this.#ping(session, quietMs);
  }

  /** Reports the peer down and drops its connection; checks again while requests remain. */
  #down(reason: string): void {
    this.#o.liveness.down(reason);
    this.#o.onDown(reason);
    this.#lastHeard = performance.now();
    if (this.#inFlight > 0) this.#arm(this.#o.pingAfterMs);
  }

  #ping(session: http2.Http2Session, quietMs: number): void {
    const { peer, liveness } = this.#o;
    // A connection that has not answered yet may be to a process that is
    // just starting (its first answers are slow, more so on a crowded
    // node): it gets longer.
    const pingTimeoutMs = this.#o.pingTimeoutMs * (this.#o.sessionManager.answered === session ? 1 : freshFactor);
    this.#pinging = session;
    const half = pingTimeoutMs / 2;
    // Suspect only once the PING is late: a live peer acks at once, and a
    // slow getter must not make its peer flap between suspect and up.
    const late = () => {
      if (this.#pinging !== session) return;
      liveness.suspect(
        `${this.#inFlight} requests without an answer for ${Math.round(quietMs + half)} ms, and a PING unanswered for ${Math.round(half)} ms`,
      );
      timeout = setTimeout(expire, pingTimeoutMs - half);
      timeout.unref();
    };
    const expire = () => {
      // Let one round of I/O read an ack that is already here: when this
      // process itself was busy, its timers fire late, before the socket is read.
      setImmediate(() => {
        if (this.#pinging !== session) return;
        this.#pinging = undefined;
        this.#down(
          pingTimeoutMs === this.#o.pingTimeoutMs
            ? `peer ${peer}: no answer to an HTTP/2 PING within pingTimeoutMs (${pingTimeoutMs} ms)`
            : `peer ${peer}: no answer to an HTTP/2 PING within ${pingTimeoutMs} ms (${freshFactor} × pingTimeoutMs on a connection that never answered)`,
        );
      });
    };
    let timeout = setTimeout(late, half);
    timeout.unref();
    let sent = false;
    try {
      sent = session.ping((error) => {
        if (this.#pinging !== session) return;
        clearTimeout(timeout);
        this.#pinging = undefined;
        if (error === null) {
          this.#lastHeard = performance.now();
          liveness.up("answered a PING");
        }
        if (this.#inFlight > 0) this.#arm(this.#o.pingAfterMs);
      });
    } catch {
      // A session closing under us: its requests fail on their own.
    }
    if (!sent) {
      clearTimeout(timeout);
      this.#pinging = undefined;
      this.#arm(this.#o.pingAfterMs);
    }
  }
}

/** How many times `pingTimeoutMs` a connection that has not answered yet gets. */
const freshFactor = 5;

/**
 * Whether a request's failure says nothing about the peer being alive: it
 * ended on this side (the caller's cancel or deadline) or the connection
 * failed; any status the peer sent is proof of life.
 */
function isSilence(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "canceled" || code === "deadline-exceeded" || code === "unavailable";
}
