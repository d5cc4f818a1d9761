import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, expect, test } from "vitest";

// The README's hand-run cluster (examples/cluster/peer.ts): two processes,
// keys typed into one of them, its input closed while gets are in flight.

const root = fileURLToPath(new URL("..", import.meta.url));
// Fixed ports below the ephemeral range (32768–60999, where lingering client
// connections cause EADDRINUSE), offset per run.
const base = 24_000 + Math.floor(Math.random() * 400) * 10;
const ids = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];

interface Peer {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves once stdout contains `text`; rejects if the process exits first. */
  waitFor(text: string): Promise<void>;
  exited: Promise<number | null>;
}

const started: Peer[] = [];
afterEach(() => {
  for (const peer of started.splice(0)) if (peer.child.exitCode === null) peer.child.kill();
});

function startPeer(self: string): Peer {
  const child = spawn(process.execPath, ["examples/cluster/peer.ts", self, ids.join(",")], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const waiter of waiters) waiter();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const peer: Peer = {
    child,
    out: () => out,
    err: () => err,
    exited,
    waitFor: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!out.includes(text)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
        void exited.then((code) => reject(new Error(`peer exited (${code}) before printing ${text}: ${err}`)));
      }),
  };
  started.push(peer);
  return peer;
}

test("keys typed into one peer are loaded by their owners; closing input mid-get answers them, then exits 0", async () => {
  const [a, b] = ids.map(startPeer) as [Peer, Peer];
  await Promise.all([a.waitFor(`peer ${ids[0]} serving`), b.waitFor(`peer ${ids[1]} serving`)]);
  const keys = Array.from({ length: 8 }, (_, i) => `user-${i}`);
  // Every get is still in flight (each load takes 100 ms) when input ends.
  a.child.stdin?.end(`${keys.join("\n")}\n`);
  expect(await a.exited).toBe(0);
  expect(a.err()).toBe("");
  for (const key of keys)
    expect(a.out()).toMatch(new RegExp(`hello ${key}, from 127\\.0\\.0\\.1:(${base}|${base + 1}) at `));
  // The keys the other peer owns were loaded there, once each.
  const loadedByB = keys.filter((key) => b.out().includes(`(loading "${key}" here`));
  const loadedByA = keys.filter((key) => a.out().includes(`(loading "${key}" here`));
  expect(loadedByA.length + loadedByB.length).toBe(keys.length);
  expect(loadedByB.length).toBeGreaterThan(0);
  for (const key of loadedByB) expect(a.out()).toContain(`hello ${key}, from ${ids[1]} at `);
  b.child.stdin?.end();
  expect(await b.exited).toBe(0);
});
