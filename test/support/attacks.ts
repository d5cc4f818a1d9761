/**
 * Malformed and abusive requests against a peer server, from raw
 * `node:http2` and `node:net` clients (no gRPC library in between, so
 * nothing is fixed up on the way): the attack set of `bench/attack.ts` and
 * of `test/transport-attacks.test.ts`. Each attack resolves with what the
 * server answered, counted by kind (`"Get 13 (INTERNAL)"`, `"GetStream
 * reset 8"`, ...), so a test can assert the exact answers and the bench can
 * print them.
 */
import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import * as net from "node:net";
import { encodeRequestFrame, type OutgoingKey } from "../../src/transport/get-stream/get-stream-codec.ts";

export const getPath = "/groupcachepb.GroupCache/Get";
export const getStreamPath = "/groupcachepb.GroupCache/GetStream";

/** What one call ended with: a gRPC status (from headers or trailers), or a reset without one. */
export interface CallOutcome {
  /** The grpc-status, when the server sent one. */
  code?: number;
  message?: string;
  /** The HTTP status, when not 200. */
  httpStatus?: number;
  /** The RST_STREAM code the stream closed with (0: a clean end). */
  rstCode: number;
  /** Answers in GetStream response messages, by code. */
  keyCodes: Record<number, number>;
  /** Milliseconds from the request to the stream's close. */
  ms: number;
}

/** Protobuf bytes of a field: tag, length, bytes. */
function field(tag: number, bytes: Uint8Array): Buffer {
  const len: number[] = [];
  let n = bytes.byteLength;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([tag, ...len]), bytes]);
}

/** A gRPC frame: the 5-byte prefix (uncompressed, `declared` or the body's length) and `body`. */
export function frame(body: Uint8Array, declared = body.byteLength): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declared, 1);
  return Buffer.concat([prefix, body]);
}

/** A GetRequest's bytes with the raw `group` and `key` bytes. */
export function getRequest(group: Uint8Array | string, key: Uint8Array | string): Buffer {
  const bytes = (s: Uint8Array | string) => (typeof s === "string" ? Buffer.from(s, "utf8") : s);
  return Buffer.concat([field(0x0a, bytes(group)), field(0x12, bytes(key))]);
}

/** A GetStream request frame asking for `keys` of `group`, ids from `firstId`. */
export function getStreamFrame(group: string, keys: readonly string[], firstId = 1): Buffer {
  const outgoing: OutgoingKey[] = keys.map((key, i) => ({
    id: firstId + i,
    trace: undefined,
    group,
    key,
    groupBytes: Buffer.byteLength(group),
    keyBytes: Buffer.byteLength(key),
  }));
  let size = 0;
  for (const k of outgoing) {
    const body =
      1 +
      varintLength(k.id) +
      1 +
      varintLength(k.groupBytes) +
      k.groupBytes +
      1 +
      varintLength(k.keyBytes) +
      k.keyBytes;
    size += 1 + varintLength(body) + body;
  }
  return encodeRequestFrame(outgoing, 0, outgoing.length, size, []);
}

function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Counts the KeyResponse codes in GetStream response bytes (whole frames only). */
class AnswerCounter {
  readonly codes: Record<number, number> = {};
  #pending = Buffer.alloc(0);
  #parts: Buffer[] = [];
  #partBytes = 0;
  push(chunk: Buffer): void {
    // Gather the chunks of a large message, and join them once it is whole.
    if (this.#pending.byteLength > 0 || this.#parts.length > 0) {
      this.#parts.push(chunk);
      this.#partBytes += chunk.byteLength;
      const head = this.#pending.byteLength >= 5 ? this.#pending : Buffer.concat([this.#pending, ...this.#parts]);
      if (head.byteLength >= 5 && this.#pending.byteLength + this.#partBytes < 5 + head.readUInt32BE(1)) return;
      chunk = Buffer.concat([this.#pending, ...this.#parts]);
      this.#pending = Buffer.alloc(0);
      this.#parts = [];
      this.#partBytes = 0;
    }
    let buf = chunk;
    while (buf.byteLength >= 5) {
      const length = buf.readUInt32BE(1);
      if (buf.byteLength < 5 + length) break;
      this.#message(buf.subarray(5, 5 + length));
      buf = buf.subarray(5 + length);
    }
    this.#pending = Buffer.from(buf);
  }
  #message(m: Buffer): void {
    let pos = 0;
    const varint = () => {
      let n = 0;
      let shift = 0;
      for (;;) {
        const b = m[pos++] as number;
        n += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) return n;
        shift += 7;
      }
    };
    while (pos < m.byteLength) {
      const tag = varint();
      const len = varint();
      if (tag !== 0x0a) {
        pos += len;
        continue;
      }
      const end = pos + len;
      let code = 0;
      while (pos < end) {
        const t = varint();
        if (t === 0x10) code = varint();
        else if ((t & 7) === 0) varint();
        else if ((t & 7) === 1) pos += 8;
        else {
          const length = varint(); // before adding: varint() moves pos
          pos += length;
        }
      }
      this.codes[code] = (this.codes[code] ?? 0) + 1;
    }
  }
}

/** Options of {@link call}. */
export interface CallOptions {
  path?: string;
  headers?: http2.OutgoingHttpHeaders;
  /** Written in order; `end` closes the request side after them (default true). */
  body?: readonly Uint8Array[];
  end?: boolean;
  /** Read the response (default true); false never reads it, as a caller that stops reading. */
  read?: boolean;
  /** Give up (reset the stream with CANCEL) after this many ms. Default: 20 000. */
  timeoutMs?: number;
  /** Resolves with the stream as soon as it is open, for callers that write more themselves. */
  onStream?: (stream: http2.ClientHttp2Stream) => void;
}

/** One gRPC call on `session` with raw bytes; resolves when its stream closes. */
export function call(session: http2.ClientHttp2Session, options: CallOptions = {}): Promise<CallOutcome> {
  const started = performance.now();
  const stream = session.request({
    ":method": "POST",
    ":path": options.path ?? getPath,
    "content-type": "application/grpc",
    te: "trailers",
    ...options.headers,
  });
  const outcome: CallOutcome = { rstCode: 0, keyCodes: {}, ms: 0 };
  const answers = new AnswerCounter();
  const settle = (fields: http2.IncomingHttpHeaders) => {
    const status = fields[":status"];
    if (status !== undefined && Number(status) !== 200) outcome.httpStatus = Number(status);
    if (fields["grpc-status"] !== undefined) {
      outcome.code = Number(fields["grpc-status"]);
      outcome.message = decodeURIComponent(String(fields["grpc-message"] ?? ""));
    }
  };
  stream.on("response", settle);
  stream.on("trailers", settle);
  stream.on("error", () => {});
  if (options.read !== false) stream.on("data", (chunk: Buffer) => answers.push(chunk));
  const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), options.timeoutMs ?? 20_000);
  const closed = new Promise<CallOutcome>((resolve) => {
    stream.once("close", () => {
      clearTimeout(timer);
      outcome.rstCode = stream.rstCode ?? 0;
      outcome.keyCodes = answers.codes;
      outcome.ms = performance.now() - started;
      resolve(outcome);
    });
  });
  for (const chunk of options.body ?? []) stream.write(chunk);
  if (options.end !== false) stream.end();
  options.onStream?.(stream);
  return closed;
}

/**
 * Sends `headers` (and `body`, then ends) on a raw HTTP/2 call of `path` to
 * `target`; resolves with the gRPC status it ends with, as soon as it arrives.
 */
export async function rawStatus(
  target: string,
  path: string,
  headers: http2.OutgoingHttpHeaders,
  body?: Uint8Array,
): Promise<{ code: string; message: string }> {
  const session = http2.connect(`http://${target}`);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const status = new Promise<{ code: string; message: string }>((resolve) => {
      const settle = (fields: http2.IncomingHttpHeaders) => {
        if (fields["grpc-status"] === undefined) return;
        resolve({
          code: String(fields["grpc-status"]),
          message: decodeURIComponent(String(fields["grpc-message"] ?? "")),
        });
      };
      stream.on("response", settle);
      stream.on("trailers", settle);
    });
    stream.resume();
    if (body !== undefined) stream.end(body);
    return await status;
  } finally {
    session.close();
  }
}

/** A session to `target`, its errors swallowed (an attack expects the server to drop it). */
export function connect(target: string, options: http2.ClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(`http://${target}`, options);
  session.on("error", () => {});
  return session;
}

/** `"Get 13 (INTERNAL)"`-style labels of outcomes, counted. */
export function tally(label: string, outcomes: readonly CallOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const parts = [label];
    if (o.httpStatus !== undefined) parts.push(`http ${o.httpStatus}`);
    parts.push(o.code === undefined ? "no status" : `status ${o.code}`);
    if (o.rstCode !== 0) parts.push(`reset ${o.rstCode}`);
    const name = parts.join(", ");
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/**
 * An `onStream` for {@link call}: writes `body` to the stream one byte per
 * `everyMs` (a slowloris request), until it is all sent or the stream closes.
 */
export function dripping(body: Uint8Array, everyMs: number): (stream: http2.ClientHttp2Stream) => void {
  return (stream) => {
    let sent = 0;
    const timer = setInterval(() => {
      if (stream.closed || sent >= body.byteLength) return clearInterval(timer);
      stream.write(body.subarray(sent, ++sent));
    }, everyMs);
    stream.once("close", () => clearInterval(timer));
  };
}

/** Sends `bytes` to `target` over a bare TCP socket at one byte per `intervalMs`, for `durationMs`; resolves with whether the server closed it first. */
export function trickle(target: { host: string; port: number }, bytes: Buffer, intervalMs: number, durationMs: number) {
  return new Promise<{ closedByServer: boolean; sent: number }>((resolve) => {
    const socket = net.connect(target.port, target.host);
    let sent = 0;
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearInterval(ticker);
      clearTimeout(stop);
      socket.destroy();
      resolve({ closedByServer, sent });
    };
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("data", () => {});
    const ticker = setInterval(() => {
      if (sent < bytes.byteLength) socket.write(bytes.subarray(sent, ++sent));
    }, intervalMs);
    const stop = setTimeout(() => finish(false), durationMs);
  });
}

/** The bytes a client sends first: the HTTP/2 connection preface and an empty SETTINGS frame. */
export const clientPreface = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);
