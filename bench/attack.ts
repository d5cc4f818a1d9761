/**
 * Hostile and careless input against one peer process with default
 * options: what each attack costs it in memory, and that it still answers
 * correctly afterwards. The peer runs as its own process (with
 * `--expose-gc`); the attacks come from raw `node:http2` and `node:net`
 * clients in this one (`test/support/attacks.ts`): random bodies, a prefix
 * declaring 2 GiB, truncated frames and protobuf, wrong content-types, an
 * unknown group, a 1 MiB key, key bytes that are not UTF-8, 1,000 streams
 * opened and reset on one connection, 1,000 concurrent Gets, GetStream
 * messages of 20,000 hanging keys and of 100,000 keys from a caller that
 * never reads (in one message, and in messages of 1,000), and slowloris
 * (one byte per 100 ms on a Get and a GetStream; 50 connections of slow
 * streams; 200 connections feeding the preface slowly), the three at once.
 *
 * For each attack: the peer's peak RSS while it ran (`VmHWM`, reset
 * before each through `/proc/<pid>/clear_refs`) above its RSS at the start,
 * the getter calls it started, and the answers, counted by kind. Then the
 * peak over the whole set and the heap after full collections at the end
 * against the start. Goals: peak ≤ +128 MiB, heap back within 16 MiB.
 *
 *   node --expose-gc bench/attack.ts            # ~1 minute
 *   node --expose-gc bench/attack.ts --quick    # tiny runs: checks it works
 *   node --expose-gc bench/attack.ts --only=slowloris   # the attacks whose name has this
 */
import { Buffer } from "node:buffer";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { defaultPeerCommand, type PeerProcess, startPeerProcess } from "../src/testing/peer-process.ts";
import { expectedValue } from "../src/testing/protocol.ts";
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
} from "../test/support/attacks.ts";
import { fmt, printTable, quick } from "./support/stats.ts";

const MiB = 1 << 20;
/** How long the slowloris attacks go on: past the server's default 10 s limits, unless quick. */
const slowMs = quick ? 300 : 12_000;

const peer = await startPeerProcess(
  {
    groups: [
      { name: "g", hot: "never" },
      { name: "hang", hang: true },
    ],
  },
  { command: [...defaultPeerCommand(), "--expose-gc"] },
);
const [host, portText] = peer.id.split(":") as [string, string];
const target = { host, port: Number(portText) };

function status(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN) * 1024;
}
/** Resets the peak RSS the kernel reports for `pid` (VmHWM) to its current RSS. */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not Linux, or not allowed: the peak is then since the start.
  }
}

/** A swamped peer may take long to answer its harness: wait up to 2 minutes. */
const harnessTimeoutMs = 120_000;

async function getterCalls(p: PeerProcess, group: string): Promise<number> {
  return (await p.request("stats", { group }, harnessTimeoutMs)).getterTotal;
}

/** A correct answer to a fresh key, over a new connection. */
async function stillServing(n: number): Promise<boolean> {
  const session = connect(peer.id);
  try {
    const key = `check-${n}`;
    const outcome = await call(session, { body: [frame(getRequest("g", key))] });
    return outcome.code === 0 && outcome.rstCode === 0;
  } finally {
    session.close();
  }
}

type Attack = { name: string; run: () => Promise<Record<string, number>> };

/** Runs `count` calls on one connection at once. */
async function onOneConnection(
  count: number,
  make: (session: ReturnType<typeof connect>, i: number) => Promise<CallOutcome>,
): Promise<CallOutcome[]> {
  const session = connect(peer.id, { peerMaxConcurrentStreams: 100_000 });
  // Once the server's SETTINGS are in, Node's client keeps to its stream cap (the rest wait on the client).
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  try {
    return await Promise.all(Array.from({ length: count }, (_, i) => make(session, i)));
  } finally {
    session.destroy();
  }
}

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));

const attacks: Attack[] = [
  {
    name: "random bodies (100 Get, 100 GetStream)",
    run: async () => {
      const body = (i: number) => (i % 2 === 0 ? random(64 + i) : frame(random(64 + i)));
      const gets = await onOneConnection(100, (s, i) => call(s, { body: [body(i)] }));
      const streams = await onOneConnection(100, (s, i) => call(s, { path: getStreamPath, body: [body(i)] }));
      return { ...tally("Get", gets), ...tally("GetStream", streams) };
    },
  },
  {
    name: "prefix declaring 2 GiB",
    run: async () => {
      const huge = Buffer.from([0, 0x80, 0, 0, 0, 1, 2, 3]);
      const gets = await onOneConnection(10, (s) => call(s, { body: [huge], end: false, timeoutMs: 5_000 }));
      const streams = await onOneConnection(10, (s) =>
        call(s, { path: getStreamPath, body: [huge], end: false, timeoutMs: 5_000 }),
      );
      return { ...tally("Get", gets), ...tally("GetStream", streams) };
    },
  },
  {
    name: "truncated frames and protobuf",
    run: async () => {
      const whole = frame(getRequest("g", "k"));
      const cut = whole.subarray(0, whole.byteLength - 2);
      const bad = frame(getRequest("g", "k").subarray(0, 4));
      const gets = await onOneConnection(20, (s, i) => call(s, { body: [i % 2 === 0 ? cut : bad] }));
      const streams = await onOneConnection(20, (s, i) =>
        call(s, { path: getStreamPath, body: [i % 2 === 0 ? cut : bad] }),
      );
      return { ...tally("Get", gets), ...tally("GetStream", streams) };
    },
  },
  {
    name: "wrong content-types",
    run: async () => {
      const types = ["text/plain", "application/json", "application/grpc+json", "application/x-www-form-urlencoded"];
      const body = [frame(getRequest("g", "k"))];
      const gets = await onOneConnection(types.length, (s, i) =>
        call(s, { headers: { "content-type": types[i] }, body }),
      );
      const streams = await onOneConnection(types.length, (s, i) =>
        call(s, { path: getStreamPath, headers: { "content-type": types[i] }, body }),
      );
      return { ...tally("Get", gets), ...tally("GetStream", streams) };
    },
  },
  {
    name: "unknown group",
    run: async () => {
      const gets = await onOneConnection(10, (s, i) => call(s, { body: [frame(getRequest("nope", `k${i}`))] }));
      const streams = await onOneConnection(1, (s) =>
        call(s, { path: getStreamPath, body: [getStreamFrame("nope", keys("k", 10))] }),
      );
      return { ...tally("Get", gets), ...tally("GetStream", streams), ...keyTally(streams) };
    },
  },
  {
    name: "1 MiB key",
    run: async () => {
      const key = "k".repeat(MiB);
      const gets = await onOneConnection(4, (s, i) => call(s, { body: [frame(getRequest("g", `${i}${key}`))] }));
      const streams = await onOneConnection(1, (s) =>
        call(s, { path: getStreamPath, body: [getStreamFrame("g", [`s${key}`])] }),
      );
      return { ...tally("Get", gets), ...tally("GetStream", streams), ...keyTally(streams) };
    },
  },
  {
    name: "key bytes not UTF-8",
    run: async () => {
      const lone = Buffer.from([0x61, 0xed, 0xa0, 0x80]);
      const gets = await onOneConnection(10, (s) => call(s, { body: [frame(getRequest("g", lone))] }));
      // id 1, group "g", key "a" + U+D800 (WTF-8)
      const item = Buffer.from([0x08, 0x01, 0x12, 0x01, 0x67, 0x1a, 0x04, 0x61, 0xed, 0xa0, 0x80]);
      const streams = await onOneConnection(1, (s) =>
        call(s, { path: getStreamPath, body: [frame(Buffer.concat([Buffer.from([0x0a, item.byteLength]), item]))] }),
      );
      return { ...tally("Get", gets), ...tally("GetStream", streams), ...keyTally(streams) };
    },
  },
  {
    name: "1,000 streams opened and reset",
    run: async () => {
      const outcomes = await onOneConnection(1_000, (s) =>
        call(s, { end: false, onStream: (stream) => setImmediate(() => stream.close(0x8)) }),
      );
      return tally("Get", outcomes);
    },
  },
  {
    name: "1,000 concurrent Gets",
    run: async () => {
      const outcomes = await onOneConnection(quick ? 100 : 1_000, (s, i) =>
        call(s, { body: [frame(getRequest("g", `burst${i}`))] }),
      );
      return tally("Get", outcomes);
    },
  },
  {
    name: "GetStream: 20,000 hanging keys in 1 message",
    run: () => hangingKeys([keys("h", quick ? 2_000 : 20_000)]),
  },
  {
    name: "GetStream: 20,000 hanging keys in 20 messages",
    run: () => hangingKeys(Array.from({ length: 20 }, (_, m) => keys(`m${m}-`, quick ? 100 : 1_000))),
  },
  {
    name: "GetStream: 100,000 keys in 1 message, never read",
    run: () => neverReads([keys("n", quick ? 5_000 : 100_000)]),
  },
  {
    name: "GetStream: 100,000 keys in 100 messages, never read",
    run: () => neverReads(Array.from({ length: 100 }, (_, m) => keys(`r${m}-`, quick ? 50 : 1_000))),
  },
  {
    name: `slowloris (${slowMs / 1000} s, all at once)`,
    run: async () => {
      const counts: Record<string, number> = {};
      const add = (name: string) => {
        counts[name] = (counts[name] ?? 0) + 1;
      };
      const getBody = frame(getRequest("g", "slow".repeat(50)));
      // One byte per 100 ms on a Get and on a GetStream.
      const drip = async (path: string, body: Buffer) => {
        const session = connect(peer.id);
        const outcome = await call(session, {
          path,
          end: false,
          timeoutMs: slowMs,
          onStream: dripping(body, 100),
        });
        session.destroy();
        for (const [k, v] of Object.entries(tally(`drip ${path === getStreamPath ? "GetStream" : "Get"}`, [outcome])))
          counts[k] = (counts[k] ?? 0) + v;
      };
      // 50 connections of 40 streams each sending one byte a second.
      const slowStreams = async () => {
        const connections = quick ? 5 : 50;
        const per = quick ? 4 : 40;
        const outcomes = await Promise.all(
          Array.from({ length: connections }, async () => {
            const session = connect(peer.id, { peerMaxConcurrentStreams: 100_000 });
            const all = await Promise.all(
              Array.from({ length: per }, () =>
                call(session, {
                  end: false,
                  timeoutMs: slowMs,
                  onStream: dripping(getBody, 1_000),
                }),
              ),
            );
            session.destroy();
            return all;
          }),
        );
        for (const [k, v] of Object.entries(tally("slow streams", outcomes.flat()))) counts[k] = (counts[k] ?? 0) + v;
      };
      // 200 connections feeding the preface at one byte per 500 ms.
      const slowPrefaces = async () => {
        const results = await Promise.all(
          Array.from({ length: quick ? 20 : 200 }, () => trickle(target, clientPreface, 500, slowMs)),
        );
        for (const r of results) add(r.closedByServer ? "slow preface: closed by server" : "slow preface: still open");
      };
      await Promise.all([
        drip("/groupcachepb.GroupCache/Get", getBody),
        drip(getStreamPath, getStreamFrame("g", ["slow"])),
        slowStreams(),
        slowPrefaces(),
      ]);
      return counts;
    },
  },
];

function keyTally(outcomes: readonly CallOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes)
    for (const [code, n] of Object.entries(o.keyCodes)) counts[`key ${code}`] = (counts[`key ${code}`] ?? 0) + n;
  return counts;
}

/**
 * One GetStream with `messages` of keys of `group` (ids numbered on from
 * 1), reset after a while: for `hang`, every key's load hangs; with `read`
 * false, the answers are never read.
 */
async function manyKeys(group: string, messages: string[][], read: boolean): Promise<Record<string, number>> {
  const session = connect(peer.id);
  let id = 1;
  const body = messages.map((m) => {
    const f = getStreamFrame(group, m, id);
    id += m.length;
    return f;
  });
  const outcome = await call(session, { path: getStreamPath, body, end: false, read, timeoutMs: quick ? 300 : 3_000 });
  session.destroy();
  return { ...tally("GetStream", [outcome]), ...keyTally([outcome]) };
}
const hangingKeys = (messages: string[][]) => manyKeys("hang", messages, true);
const neverReads = (messages: string[][]) => manyKeys("g", messages, false);

console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
const start = await peer.request("memory", { gc: true });
if (!start.collected) console.log("(the peer process has no gc(): heap figures are without a full collection)");
const rows: string[][] = [];
let worstPeak = 0;
let n = 0;
let allServing = true;
/** `--only=<text>`: run the attacks whose name contains it (to measure one alone). */
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
for (const attack of attacks.filter((a) => only === undefined || a.name.includes(only))) {
  const before = { g: await getterCalls(peer, "g"), hang: await getterCalls(peer, "hang") };
  // Collect what the attack before left, so each is measured from a clean heap.
  await peer.request("memory", { gc: true }, harnessTimeoutMs);
  resetPeak(peer.pid);
  const began = performance.now();
  const answers = await attack.run();
  const ms = performance.now() - began;
  const peak = status(peer.pid, "VmHWM") - start.rssBytes;
  worstPeak = Math.max(worstPeak, peak);
  const calls = (await getterCalls(peer, "g")) - before.g + (await getterCalls(peer, "hang")) - before.hang;
  const serving = await stillServing(n++);
  allServing &&= serving;
  console.log(`${attack.name}: peak +${fmt(peak / MiB, 1)} MiB, ${calls} getter calls, ${fmt(ms)} ms`);
  rows.push([
    attack.name,
    fmt(peak / MiB, 1),
    fmt(calls),
    fmt(ms),
    serving ? "yes" : "NO",
    Object.entries(answers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("; "),
  ]);
}
// Hanging loads end at the getter timeout at the latest; released ones at once.
const end = await peer.request("memory", { gc: true }, harnessTimeoutMs);
const correct = await peer.request("get", { group: "g", key: "final" }, harnessTimeoutMs);
printTable(
  `Attacks on one peer process (RSS at start ${fmt(start.rssBytes / MiB, 1)} MiB, heap after GC ${fmt(start.heapUsedBytes / MiB, 1)} MiB)`,
  ["attack", "peak RSS +MiB", "getter calls", "ms", "serving after", "answers"],
  rows,
);
console.log(
  `\npeak RSS over the set: +${fmt(worstPeak / MiB, 1)} MiB (goal ≤ 128); heap after GC: ${fmt(start.heapUsedBytes / MiB, 1)} → ${fmt(end.heapUsedBytes / MiB, 1)} MiB (+${fmt((end.heapUsedBytes - start.heapUsedBytes) / MiB, 1)}, goal ≤ 16); RSS ${fmt(start.rssBytes / MiB, 1)} → ${fmt(end.rssBytes / MiB, 1)} MiB`,
);
console.log(
  `load average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
await peer.kill();
const ok = allServing && correct.ok && correct.value === expectedValue("final");
if (!ok) {
  console.error("the peer stopped answering correctly");
  process.exit(1);
}
process.exit(0);
