/**
 * A cluster of peers as separate OS processes on 127.0.0.1, for tests and
 * benchmarks. Each runs `peer.ts` (by default with the Node 24 of
 * `node_modules/.bin/node`, which strips TypeScript types itself), listens on
 * a port the system picks, and is driven through the JSON-lines protocol of
 * `protocol.ts`. Processes are stopped by PID, and only those started here:
 * `close()` kills what is still running, and a process-exit hook does the
 * same if the harness dies first; the peers also exit when their stdin
 * closes.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { CommandName, Commands, PeerConfig } from "./protocol.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/** The peer script. */
export const peerScript = fileURLToPath(new URL("./peer.ts", import.meta.url));
/** The Node 24 shipped as a devDependency. */
export const nodeBinary = `${repoRoot}node_modules/.bin/node`;

/** Every child still running, so a dying harness can kill them. */
const running = new Set<ChildProcessByStdio<Writable, Readable, Readable>>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

/** Options of {@link startPeerProcess}. */
export interface PeerProcessOptions {
  /**
   * The command that runs the peer script, which is appended to it with the
   * JSON configuration. Default: `[nodeBinary]`. (Bun: `["bun"]`; Deno:
   * `["deno", "run", "-A"]`.)
   */
  command?: readonly string[];
  /** How long to wait for the `ready` line. Default: 20 000 ms. */
  startTimeoutMs?: number;
}

/** How a peer process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One peer process. */
export class PeerProcess {
  readonly id: string;
  readonly pid: number;
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #stderr: string[];
  #nextId = 1;
  #exit: ExitInfo | undefined;

  /** Use {@link startPeerProcess}. */
  constructor(
    child: ChildProcessByStdio<Writable, Readable, Readable>,
    id: string,
    lines: AsyncIterator<string>,
    stderr: string[],
    exited: Promise<ExitInfo>,
  ) {
    this.#child = child;
    this.id = id;
    this.pid = child.pid as number;
    this.#stderr = stderr;
    this.exited = exited.then((info) => {
      this.#exit = info;
      for (const { reject } of this.#pending.values()) reject(this.#error(`exited (${info.signal ?? info.code})`));
      this.#pending.clear();
      return info;
    });
    void this.#readReplies(lines);
  }

  /** Whether the process has exited. */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines the process wrote to stderr (for failure messages). */
  get stderr(): string {
    return this.#stderr.join("");
  }

  /** Sends a command; resolves with its reply, rejects if none comes within `timeoutMs` (default 20 000). */
  request<C extends CommandName>(cmd: C, args: Commands[C]["args"], timeoutMs = 20_000): Promise<Commands[C]["reply"]> {
    if (!this.alive) return Promise.reject(this.#error(`is not running; cannot ${cmd}`));
    const id = this.#nextId++;
    return new Promise<Commands[C]["reply"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(this.#error(`did not answer ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as Commands[C]["reply"]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.stdin.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  /** Sends `signal` (default SIGKILL) to this process's PID and waits until it has exited. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    if (this.alive) this.#child.kill(signal);
    return this.exited;
  }

  async #readReplies(lines: AsyncIterator<string>): Promise<void> {
    for (;;) {
      const next = await lines.next().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) return;
      let message: { id?: number; reply?: unknown; error?: string };
      try {
        message = JSON.parse(next.value) as typeof message;
      } catch {
        continue; // Not ours: a stray log line.
      }
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (waiter === undefined || message.id === undefined) continue;
      this.#pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(this.#error(message.error));
      else waiter.resolve(message.reply);
    }
  }

  #error(message: string): Error {
    const tail = this.stderr.slice(-2000);
    return new Error(`peer ${this.id} (pid ${this.pid}) ${message}${tail === "" ? "" : `\nstderr:\n${tail}`}`);
  }
}

/** Starts one peer process and resolves once it listens. */
export async function startPeerProcess(
  config: PeerConfig = {},
  options: PeerProcessOptions = {},
): Promise<PeerProcess> {
  installExitHook();
  const [bin, ...args] = options.command ?? [nodeBinary];
  const child = spawn(bin as string, [...args, peerScript, JSON.stringify(config)], {
    stdio: ["pipe", "pipe", "pipe"],
    cwd: repoRoot,
  });
  running.add(child);
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  child.once("error", () => {}); // reported through "exit" / the ready timeout
  const stderr: string[] = [];
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr.push(chunk);
    while (stderr.length > 50) stderr.shift();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const ready = await Promise.race([
      (async () => {
        for (;;) {
          const next = await lines.next();
          if (next.done) throw new Error("exited before it was ready");
          try {
            const message = JSON.parse(next.value) as { event?: string; id?: string };
            if (message.event === "ready" && typeof message.id === "string") return message.id;
          } catch {
            // not a protocol line
          }
        }
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return new PeerProcess(child, ready, lines, stderr, exited);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`peer process (pid ${child.pid}): ${(error as Error).message}\nstderr:\n${stderr.join("")}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link startCluster}. */
export interface ClusterOptions extends PeerProcessOptions {
  /** Number of peer processes. */
  size: number;
  /** Configuration of peer `index`. Default: `{}`. */
  config?: PeerConfig | ((index: number) => PeerConfig);
  /** Tell every peer about every other (`setPeers` with all ids). Default: true. */
  connect?: boolean;
}

/** Peer processes started together. */
export class Cluster {
  readonly peers: readonly PeerProcess[];

  constructor(peers: readonly PeerProcess[]) {
    this.peers = peers;
  }

  /** Every peer id, in start order. */
  get ids(): string[] {
    return this.peers.map((p) => p.id);
  }

  /** Peer number `index`. */
  peer(index: number): PeerProcess {
    const peer = this.peers[index];
    if (peer === undefined) throw new Error(`no peer ${index} in a cluster of ${this.peers.length}`);
    return peer;
  }

  /** Gives every running peer the member list `ids` (default: all peers). */
  async setPeers(ids: readonly string[] = this.ids): Promise<void> {
    await Promise.all(this.peers.filter((p) => p.alive).map((p) => p.request("setPeers", { peers: [...ids] })));
  }

  /** Kills every peer still running (SIGKILL, by PID) and waits for them to exit. */
  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.kill("SIGKILL")));
  }
}

/** Starts `size` peer processes in parallel; if one fails, the others are killed. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const config = options.config ?? {};
  const started = await Promise.allSettled(
    Array.from({ length: options.size }, (_, i) =>
      startPeerProcess(typeof config === "function" ? config(i) : config, options),
    ),
  );
  const peers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(peers.map((p) => p.kill()));
    throw failed.reason;
  }
  const cluster = new Cluster(peers);
  if (options.connect ?? true) await cluster.setPeers();
  return cluster;
}
