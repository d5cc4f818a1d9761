import { Buffer } from "node:buffer";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type PeerProcess, startPeerProcess } from "../src/testing/peer-process.ts";
import {
  type CallOutcome,
  call,
  clientPreface,
  connect,
  dripping,
  frame,
  getRequest,
  getStreamFrame,
  getStreamPath,
  tally,
  trickle,
} from "./support/attacks.ts";

// Hostile and careless input against a peer running as its own process,
// sent from raw node:http2 and node:net sockets: each attack class gets
// its exact answer, the peer stays up and keeps answering correctly. The
// server's limits are set small so the timeouts take a fraction of a second.

const limits = {
  messageTimeoutMs: 500,
  handshakeTimeoutMs: 300,
  idleTimeoutMs: 600,
  maxConcurrentStreams: 8,
  maxOpenStreams: 20,
  maxKeysPerMessage: 100,
  maxStreamKeysInFlight: 10,
  maxConnectionKeysInFlight: 15,
  readMaxBytes: 2 << 20,
};

let peer: PeerProcess;
let target: { host: string; port: number };
beforeAll(async () => {
  peer = await startPeerProcess({
    groups: [
      { name: "g", hot: "never" },
      { name: "hang", hang: true },
    ],
    server: limits,
  });
  const [host, port] = peer.id.split(":") as [string, string];
  target = { host, port: Number(port) };
});
afterAll(async () => {
  await peer?.kill();
});

const getterTotal = async (group: string) => (await peer.request("stats", { group })).getterTotal;

/**
 * `count` calls at once on one new connection, once the server's SETTINGS
 * are in (so Node's client keeps to its stream cap rather than having
 * streams refused).
 */
async function onOneConnection(
  count: number,
  make: (session: ReturnType<typeof connect>, i: number) => Promise<CallOutcome>,
) {
  const session = connect(peer.id);
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  try {
    return await Promise.all(Array.from({ length: count }, (_, i) => make(session, i)));
  } finally {
    session.destroy();
  }
}

async function expectStillServing(): Promise<void> {
  expect(await peer.request("get", { group: "g", key: "alive" })).toEqual({ ok: true, value: "v:alive" });
  const [outcome] = await onOneConnection(1, (s) => call(s, { body: [frame(getRequest("g", "raw-alive"))] }));
  expect(outcome).toMatchObject({ code: 0, rstCode: 0 });
}

/**
 * What the pseudo-random bodies below get, by kind: RESOURCE_EXHAUSTED for
 * a prefix declaring more than readMaxBytes, INTERNAL for bytes that are
 * not a message; one Get's bytes happen to parse as a GetRequest of an
 * unknown group (FAILED_PRECONDITION), and one GetStream's as a message
 * asking for nothing (OK).
 */
const RANDOM_TALLY = {
  "Get, status 8": 20,
  "Get, status 9": 1,
  "Get, status 13": 19,
  "GetStream, status 13": 39,
  "GetStream, status 0": 1,
};

/** Bytes from a fixed seed (xorshift), the same on every run. */
function pseudoRandom(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

test("random bodies are refused, each with its status; no load", async () => {
  const before = await getterTotal("g");
  const body = (i: number) => (i % 2 === 0 ? pseudoRandom(i + 1, 40 + i) : frame(pseudoRandom(i + 1, 40 + i)));
  const gets = await onOneConnection(40, (s, i) => call(s, { body: [body(i)] }));
  const streams = await onOneConnection(40, (s, i) => call(s, { path: getStreamPath, body: [body(i)] }));
  expect({ ...tally("Get", gets), ...tally("GetStream", streams) }).toEqual(RANDOM_TALLY);
  expect(await getterTotal("g")).toBe(before);
  await expectStillServing();
});

test("a prefix declaring 2 GiB is refused at once with RESOURCE_EXHAUSTED, and its stream closed while the caller still sends", async () => {
  const huge = Buffer.from([0, 0x80, 0, 0, 0, 1, 2, 3]);
  for (const path of ["/groupcachepb.GroupCache/Get", getStreamPath]) {
    const [outcome] = await onOneConnection(1, (s) => call(s, { path, body: [huge], end: false, timeoutMs: 5_000 }));
    expect(outcome).toMatchObject({
      code: 8,
      message: `message size 2147483648 is larger than configured readMaxBytes ${limits.readMaxBytes}`,
      rstCode: 0,
    });
    expect(outcome?.ms).toBeLessThan(2_000);
  }
  // Under the limit, declared but not sent: nothing is held for it beyond what arrived, and the timeout ends it.
  const declared = frame(Buffer.alloc(10), 2 << 20);
  const [slow] = await onOneConnection(1, (s) => call(s, { path: getStreamPath, body: [declared], end: false }));
  expect(slow).toMatchObject({ code: 4, rstCode: 0 });
  await expectStillServing();
});

test("truncated frames and truncated protobuf", async () => {
  const whole = frame(getRequest("g", "k"));
  const cut = whole.subarray(0, whole.byteLength - 2);
  const badProto = frame(getRequest("g", "k").subarray(0, 4));
  const answers = await onOneConnection(4, (s, i) =>
    call(s, { path: i < 2 ? "/groupcachepb.GroupCache/Get" : getStreamPath, body: [i % 2 === 0 ? cut : badProto] }),
  );
  expect(answers.map((o) => [o.code, o.message, o.rstCode])).toEqual([
    [3, "protocol error: incomplete envelope", 0],
    [13, "parse binary: premature EOF", 0],
    [13, "parse binary: premature EOF", 0],
    [13, "parse binary: cannot skip wire type 7", 0],
  ]);
  await expectStillServing();
});

test("wrong content-types: HTTP 415 for what is not gRPC or Connect; GetStream in JSON is UNIMPLEMENTED", async () => {
  const body = [frame(getRequest("g", "k"))];
  const types = ["text/plain", "application/x-www-form-urlencoded", "application/grpc+json"];
  const gets = await onOneConnection(3, (s, i) => call(s, { headers: { "content-type": types[i] }, body }));
  const streams = await onOneConnection(3, (s, i) =>
    call(s, { path: getStreamPath, headers: { "content-type": types[i] }, body }),
  );
  expect({ ...tally("Get", gets), ...tally("GetStream", streams) }).toEqual({
    "Get, http 415, no status": 2,
    "Get, status 3": 1,
    "GetStream, http 415, no status": 2,
    "GetStream, status 12": 1,
  });
  await expectStillServing();
});

test("an unknown group is FAILED_PRECONDITION, on Get and per key on GetStream", async () => {
  const [get] = await onOneConnection(1, (s) => call(s, { body: [frame(getRequest("nope", "k"))] }));
  expect(get).toMatchObject({ code: 9, message: `no group named "nope" on peer "${peer.id}"` });
  const [stream] = await onOneConnection(1, (s) =>
    call(s, { path: getStreamPath, body: [getStreamFrame("nope", ["a", "b", "c"])] }),
  );
  expect(stream).toMatchObject({ code: 0, keyCodes: { 9: 3 } });
});

test("a 1 MiB key is served like any other", async () => {
  const key = "k".repeat(1 << 20);
  const [get] = await onOneConnection(1, (s) => call(s, { body: [frame(getRequest("g", key))] }));
  expect(get).toMatchObject({ code: 0, rstCode: 0 });
  const [stream] = await onOneConnection(1, (s) =>
    call(s, { path: getStreamPath, body: [getStreamFrame("g", [`s${key}`])] }),
  );
  expect(stream).toMatchObject({ code: 0, keyCodes: { 0: 1 } });
});

test("key bytes that are not UTF-8: INTERNAL on Get, INVALID_ARGUMENT for the key on GetStream, no load", async () => {
  const before = await getterTotal("g");
  const lone = Buffer.from([0x61, 0xed, 0xa0, 0x80]);
  const [get] = await onOneConnection(1, (s) => call(s, { body: [frame(getRequest("g", lone))] }));
  expect(get).toMatchObject({ code: 13 });
  const item = Buffer.from([0x08, 0x01, 0x12, 0x01, 0x67, 0x1a, 0x04, ...lone]);
  const [stream] = await onOneConnection(1, (s) =>
    call(s, { path: getStreamPath, body: [frame(Buffer.concat([Buffer.from([0x0a, item.byteLength]), item]))] }),
  );
  expect(stream).toMatchObject({ code: 0, keyCodes: { 3: 1 } });
  expect(await getterTotal("g")).toBe(before);
});

test("1,000 streams opened and reset on one connection: no load, the connection and the peer go on", async () => {
  const before = await getterTotal("g");
  const session = connect(peer.id);
  try {
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    // The server advertises its stream cap.
    expect(session.remoteSettings.maxConcurrentStreams).toBe(limits.maxConcurrentStreams);
    const outcomes = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        call(session, { end: false, onStream: (stream) => setImmediate(() => stream.close(0x8)) }),
      ),
    );
    expect(tally("Get", outcomes)).toEqual({ "Get, no status, reset 8": 1_000 });
  } finally {
    session.destroy();
  }
  expect(await getterTotal("g")).toBe(before);
  await expectStillServing();
});

describe("GetStream key caps", () => {
  test("a message of 20,000 hanging keys is refused (maxKeysPerMessage) before any load", async () => {
    const before = await getterTotal("hang");
    const keys = Array.from({ length: 20_000 }, (_, i) => `h${i}`);
    const [outcome] = await onOneConnection(1, (s) =>
      call(s, { path: getStreamPath, body: [getStreamFrame("hang", keys)], end: false }),
    );
    expect(outcome).toMatchObject({
      code: 8,
      message: "a request message names more than 100 keys (maxKeysPerMessage); send fewer per message",
      rstCode: 0,
    });
    expect(await getterTotal("hang")).toBe(before);
  });

  test("20,000 hanging keys in messages of 100 start maxStreamKeysInFlight loads; two streams, maxConnectionKeysInFlight", async () => {
    const before = await getterTotal("hang");
    const session = connect(peer.id);
    const messages = (prefix: string) =>
      Array.from({ length: 200 }, (_, m) =>
        getStreamFrame(
          "hang",
          Array.from({ length: 100 }, (_, i) => `${prefix}${m}-${i}`),
          1 + m * 100,
        ),
      );
    const streams: Array<ReturnType<typeof call>> = [];
    try {
      streams.push(call(session, { path: getStreamPath, body: messages("x"), end: false }));
      await peer.request("waitGetterCalls", { group: "hang", total: before + limits.maxStreamKeysInFlight });
      // The chunk that started them is decoded: what was not started waits, and nothing more is read.
      expect(await getterTotal("hang")).toBe(before + limits.maxStreamKeysInFlight);

      streams.push(call(session, { path: getStreamPath, body: messages("y"), end: false }));
      await peer.request("waitGetterCalls", { group: "hang", total: before + limits.maxConnectionKeysInFlight });
      expect(await getterTotal("hang")).toBe(before + limits.maxConnectionKeysInFlight);
    } finally {
      session.destroy();
    }
    expect(tally("GetStream", await Promise.all(streams))).toEqual({ "GetStream, no status": 2 });
    await expectStillServing();
  });
});

describe("slow and idle clients", () => {
  /** A stream that sends `body` one byte per `everyMs`, never finishing in time. */
  const drip = (session: ReturnType<typeof connect>, path: string, body: Buffer, everyMs: number) =>
    call(session, { path, end: false, onStream: dripping(body, everyMs) });

  test("one byte per 100 ms: the Get and the GetStream end with DEADLINE_EXCEEDED after messageTimeoutMs", async () => {
    const body = frame(getRequest("g", "slow".repeat(20)));
    const [get] = await onOneConnection(1, (s) => drip(s, "/groupcachepb.GroupCache/Get", body, 100));
    expect(get).toMatchObject({
      code: 4,
      message: "the request did not arrive within messageTimeoutMs (500 ms) of its headers",
      rstCode: 0,
    });
    const [stream] = await onOneConnection(1, (s) => drip(s, getStreamPath, getStreamFrame("g", ["slow"]), 100));
    expect(stream).toMatchObject({
      code: 4,
      message: "a request message did not arrive within messageTimeoutMs (500 ms) of its first byte",
      rstCode: 0,
    });
    expect(get?.ms).toBeLessThan(3_000);
    expect(stream?.ms).toBeLessThan(3_000);
  });

  test("10 connections of slow streams: maxOpenStreams of them end with DEADLINE_EXCEEDED, the rest are refused UNAVAILABLE at once", async () => {
    const body = frame(getRequest("g", "slow".repeat(20)));
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        onOneConnection(limits.maxConcurrentStreams, (s) => drip(s, "/groupcachepb.GroupCache/Get", body, 200)),
      ),
    );
    expect(tally("slow", outcomes.flat())).toEqual({
      "slow, status 4": limits.maxOpenStreams,
      "slow, status 14": 10 * limits.maxConcurrentStreams - limits.maxOpenStreams,
    });
    await expectStillServing();
  });

  test("connections feeding the preface slowly are dropped after handshakeTimeoutMs", async () => {
    // 33 bytes at one per 100 ms would take 3.3 s.
    const results = await Promise.all(Array.from({ length: 20 }, () => trickle(target, clientPreface, 100, 5_000)));
    for (const r of results) {
      expect(r.closedByServer).toBe(true);
      expect(r.sent).toBeLessThan(clientPreface.byteLength);
    }
    await expectStillServing();
  });

  test("a connection silent for idleTimeoutMs is closed with GOAWAY", async () => {
    const session = connect(peer.id);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    const started = performance.now();
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    expect(await goaway).toBe(0);
    await closed;
    expect(performance.now() - started).toBeGreaterThanOrEqual(limits.idleTimeoutMs - 50);
  });
});
