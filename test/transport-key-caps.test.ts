import { setImmediate } from "node:timers";
import { afterEach, expect, test } from "vitest";
import { GroupCache } from "../src/index.ts";
import { keysPerMessage } from "../src/transport/get-stream/get-stream-client.ts";
import { grpcPeerClient, type PeerServerOptions, startPeerServer } from "../src/transport/index.ts";
import { call, connect, getStreamFrame, getStreamPath } from "./support/attacks.ts";
import { text } from "./support/in-process-peer.ts";

// The owner's caps on GetStream keys, on a real server: its getter's loads
// settle only when the test says, so the loads in flight can be counted
// exactly.

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** An owner whose getter's loads wait until `settle` (or `settleAll`); `started` lists the keys in order. */
async function owner(options: PeerServerOptions) {
  const cache = new GroupCache({ self: "owner:1" });
  const waiting = new Map<string, () => void>();
  const started: string[] = [];
  const calledTimes: Array<{ count: number; resolve: () => void }> = [];
  cache.newGroup({
    name: "g",
    getter: (key) => {
      started.push(key);
      for (const w of calledTimes) if (started.length >= w.count) w.resolve();
      return new Promise<string>((resolve) => waiting.set(key, () => resolve(`v:${key}`)));
    },
  });
  const server = await startPeerServer(cache, { closeTimeoutMs: 0, ...options });
  open.push(cache, server);
  return {
    server,
    started,
    /** Resolves once the getter has been called `count` times. */
    called: (count: number) =>
      new Promise<void>((resolve) => {
        if (started.length >= count) resolve();
        else calledTimes.push({ count, resolve });
      }),
    /** Lets the `n` oldest waiting loads finish. */
    settle(n: number) {
      for (const [key, done] of [...waiting].slice(0, n)) {
        waiting.delete(key);
        done();
      }
    },
    get inFlight() {
      return waiting.size;
    },
  };
}

/** A round of I/O: whatever the server would do with bytes it already has, it has done. */
const ioRound = () => new Promise((resolve) => setImmediate(resolve));

test("a stream has exactly maxStreamKeysInFlight loads at once; the rest start, in order, as loads finish", async () => {
  const o = await owner({ maxStreamKeysInFlight: 50 });
  const client = grpcPeerClient()(o.server.id);
  open.push(client);
  const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
  const signal = new AbortController().signal;
  const all = Promise.all(keys.map((k) => client.get("g", k, { signal })));

  await o.called(50);
  await ioRound();
  expect(o.started).toEqual(keys.slice(0, 50));
  expect(o.inFlight).toBe(50);

  o.settle(10);
  await o.called(60);
  await ioRound();
  expect(o.started).toEqual(keys.slice(0, 60));
  expect(o.inFlight).toBe(50);

  for (let round = 0; round < 10 && o.started.length < 300; round++) {
    o.settle(50);
    await o.called(Math.min(300, o.started.length + 50));
  }
  o.settle(50);
  const values = (await all).map((r) => text(r.value));
  expect(values).toEqual(keys.map((k) => `v:${k}`));
  expect(o.started).toEqual(keys); // each key loaded once
});

test("the streams of one connection share maxConnectionKeysInFlight", async () => {
  const o = await owner({ maxStreamKeysInFlight: 80, maxConnectionKeysInFlight: 100 });
  const session = connect(o.server.id);
  open.push({ close: async () => void session.destroy() });
  const a = Array.from({ length: 100 }, (_, i) => `a${i}`);
  const b = Array.from({ length: 100 }, (_, i) => `b${i}`);
  const first = call(session, { path: getStreamPath, body: [getStreamFrame("g", a)] });
  await o.called(80);
  const second = call(session, { path: getStreamPath, body: [getStreamFrame("g", b)] });
  await o.called(100);
  await ioRound();
  expect(o.started).toEqual([...a.slice(0, 80), ...b.slice(0, 20)]);
  expect(o.inFlight).toBe(100);

  // Slots given back start waiting keys of either stream, each in its order; never more than 100 at once.
  o.settle(5);
  await o.called(105);
  await ioRound();
  expect(o.started).toHaveLength(105);
  expect(o.inFlight).toBe(100);
  const next = o.started.slice(100);
  const fromA = next.filter((k) => k.startsWith("a"));
  const fromB = next.filter((k) => k.startsWith("b"));
  expect(fromA).toEqual(a.slice(80, 80 + fromA.length));
  expect(fromB).toEqual(b.slice(20, 20 + fromB.length));
  expect(fromB.length).toBeGreaterThan(0); // the waiting stream got slots

  for (let round = 0; round < 20 && o.started.length < 200; round++) {
    o.settle(100);
    await o.called(Math.min(200, o.started.length + 1));
  }
  o.settle(100);
  expect(await first).toMatchObject({ code: 0, rstCode: 0, keyCodes: { 0: 100 } });
  expect(await second).toMatchObject({ code: 0, rstCode: 0, keyCodes: { 0: 100 } });
});

test("a message naming more than maxKeysPerMessage keys ends the stream with RESOURCE_EXHAUSTED before any load", async () => {
  const o = await owner({ maxKeysPerMessage: 1_000 });
  const session = connect(o.server.id);
  open.push({ close: async () => void session.destroy() });
  const keys = Array.from({ length: 1_001 }, (_, i) => `k${i}`);
  expect(await call(session, { path: getStreamPath, body: [getStreamFrame("g", keys)] })).toMatchObject({
    code: 8,
    message: "a request message names more than 1000 keys (maxKeysPerMessage); send fewer per message",
    rstCode: 0,
    keyCodes: {},
  });
  expect(o.started).toEqual([]);

  const ok = call(session, { path: getStreamPath, body: [getStreamFrame("g", keys.slice(0, 1_000))] });
  await o.called(1_000);
  o.settle(1_000);
  expect(await ok).toMatchObject({ code: 0, keyCodes: { 0: 1_000 } });
});

test("our client sends at most keysPerMessage keys per message: 2,500 keys at once reach an owner that takes no more", async () => {
  expect(keysPerMessage).toBe(1_000);
  const o = await owner({ maxKeysPerMessage: keysPerMessage });
  const client = grpcPeerClient()(o.server.id);
  open.push(client);
  const keys = Array.from({ length: 2_500 }, (_, i) => `k${i}`);
  const signal = new AbortController().signal;
  const all = Promise.all(keys.map((k) => client.get("g", k, { signal })));
  for (let round = 0; round < 10 && o.started.length < 2_500; round++) {
    await o.called(Math.min(2_500, o.started.length + 1));
    o.settle(1_000);
  }
  o.settle(2_500);
  expect((await all).map((r) => text(r.value))).toEqual(keys.map((k) => `v:${k}`));
  expect(o.started).toHaveLength(2_500);
});
