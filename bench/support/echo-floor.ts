/**
 * The floor under a remote hit at concurrency 1: round trips of one small
 * message over one HTTP/2 stream to an echo server in another process,
 * with nothing else around them (no gRPC framing, no cache, no promises
 * beyond one per round trip). Measured in the same runs as the remote
 * hits, so the ratio says how much of a hit's latency is ours.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import * as http2 from "node:http2";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { quantile } from "./stats.ts";

export interface EchoRun {
  ops: number;
  p50Us: number;
  p99Us: number;
}

export interface EchoFloor {
  /** Round trips one after the other for `durationMs` (at most `maxOps`). */
  run(durationMs: number, maxOps: number): Promise<EchoRun>;
  close(): Promise<void>;
}

/** Starts the echo process and opens the stream; rejects after `timeoutMs` (default 10 s). */
export async function startEchoFloor(messageBytes: number, timeoutMs = 10_000): Promise<EchoFloor> {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(
    process.execPath,
    [join(import.meta.dirname, "echo-server.ts")],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const port = await Promise.race([
      new Promise<number>((resolve, reject) => {
        child.stdout.setEncoding("utf8");
        child.stdout.once("data", (line: string) => resolve(Number(line.trim())));
        child.once("exit", (code) => reject(new Error(`echo server exited with ${code} before listening`)));
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`echo server not listening within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({ ":method": "POST", ":path": "/echo" }, { endStream: false });
    stream.on("error", () => {});
    const message = Buffer.alloc(messageBytes, 0x61);
    let received = 0;
    let wake: (() => void) | undefined;
    stream.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received >= messageBytes && wake !== undefined) {
        received -= messageBytes;
        const w = wake;
        wake = undefined;
        w();
      }
    });
    const roundTrip = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        stream.write(message);
      });
    return {
      async run(durationMs, maxOps) {
        const latencies: number[] = [];
        const end = performance.now() + durationMs;
        while (latencies.length < maxOps && performance.now() < end) {
          const t = performance.now();
          await roundTrip();
          latencies.push((performance.now() - t) * 1000);
        }
        return { ops: latencies.length, p50Us: quantile(latencies, 0.5), p99Us: quantile(latencies, 0.99) };
      },
      async close() {
        session.destroy();
        child.stdin.end();
        await exited;
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
