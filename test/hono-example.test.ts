import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";

// The Hono example (examples/hono/server.ts) as three processes, one per
// runtime (Node, Bun, Deno), in one ring: every process answers every
// number over HTTP, and each number is computed once in the cluster.

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);
// Fixed peer ports below the ephemeral range (32768–60999), offset per run;
// the HTTP fronts listen on port 0 and print theirs.
const base = 26_000 + Math.floor(Math.random() * 400) * 10;
const runtimes = [
  { name: "node", command: process.execPath, args: [] as string[] },
  { name: "bun", command: bin("bun"), args: [] as string[] },
  { name: "deno", command: bin("deno"), args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys"] },
];
const peers = runtimes.map((_, i) => `127.0.0.1:${base + i}`);

interface Front {
  name: string;
  child: ChildProcess;
  url: string;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | string | null>;
}
const fronts: Front[] = [];

function start(runtime: (typeof runtimes)[number], i: number): Promise<Front> {
  const child = spawn(runtime.command, [...runtime.args, "examples/hono/server.ts"], {
    cwd: root,
    env: { ...process.env, HTTP_PORT: "0", PEER_PORT: String(base + i), PEERS: peers.join(",") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal)),
  );
  let out = "";
  let err = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url !== undefined) resolve({ name: runtime.name, child, url, exited });
    });
    void exited.then((code) => reject(new Error(`${runtime.name} exited (${code}) before listening: ${err}`)));
  });
}

beforeAll(async () => {
  fronts.push(...(await Promise.all(runtimes.map(start))));
}, 120_000);

afterAll(async () => {
  for (const front of fronts) front.child.kill("SIGTERM");
  await Promise.all(fronts.map((f) => f.exited));
});

const fibonacci = (n: number) => {
  let [a, b] = [0n, 1n];
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return String(a);
};

test("Node, Bun and Deno fronts answer every number; each is computed once in the cluster", async () => {
  const numbers = Array.from({ length: 12 }, (_, i) => 80 + i);
  for (const front of fronts) {
    const bodies = await Promise.all(numbers.map(async (n) => (await fetch(`${front.url}/fib/${n}`)).text()));
    expect(bodies).toEqual(numbers.map(fibonacci));
  }
  const missing = await fetch(`${fronts[0]?.url}/fib/not-a-number`);
  expect(missing.status).toBe(404);
  // From the key's owner, which may be another process (then the message names it).
  expect(await missing.text()).toMatch(/^(peer 127\.0\.0\.1:\d+: )?no Fibonacci number not-a-number$/);
  const stats = await Promise.all(
    fronts.map(
      async (f) =>
        (await (await fetch(`${f.url}/stats`)).json()) as { self: string; localLoads: number; localLoadErrs: number },
    ),
  );
  expect(stats.map((s) => s.self)).toEqual(peers);
  expect(stats.reduce((sum, s) => sum + s.localLoads, 0)).toBe(numbers.length);
  expect(stats.reduce((sum, s) => sum + s.localLoadErrs, 0)).toBe(1); // not-a-number, on its owner
  for (const front of fronts) front.child.kill("SIGTERM");
  expect(await Promise.all(fronts.map((f) => f.exited))).toEqual([0, 0, 0]);
}, 120_000);
