/**
 * One groupcache peer as its own OS process on 127.0.0.1, for integration
 * tests and benchmarks: it runs `peer.ts` (or the `peer.js` built from it),
 * listens on a port the system picks, and is driven through the JSON-lines
 * protocol of `protocol.ts`. Processes are stopped by PID, and only those
 * started here: a process-exit hook kills the ones still running if the
 * harness dies first, and the peers also exit when their stdin closes.
 *
 * Uses `node:child_process`, which Node, Bun and Deno all provide.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { GroupCacheError } from "../index.ts";
import type { CommandName, Commands, PeerConfig } from "./protocol.ts";

/**
 * The peer script beside this module: `peer.ts` next to the sources,
 * `peer.js` next to the build (whichever exists, this module's own
 * extension first), or the `peer.ts` URL when this module was loaded from
 * a remote URL (Deno from JSR; Deno runs it from there).
 */
export const peerScript: string = findPeerScript(new URL(import.meta.url));

function findPeerScript(here: URL): string {
  if (here.protocol !== "file:") return new URL("./peer.ts", here).href;
  const own = here.pathname.endsWith(".js") ? ".js" : ".ts";
  const candidates = [own, own === ".js" ? ".ts" : ".js"].map((ext) => fileURLToPath(new URL(`./peer${ext}`, here)));
  return candidates.find((path) => existsSync(path)) ?? (candidates[0] as string);
}

/**
 * The command that runs {@link peerScript} by default: the runtime running
 * this harness (`process.execPath`), with `run -A` under Deno. Node must be
 * one that runs TypeScript (≥ 22.18) when the script is `peer.ts`.
 */
export function defaultPeerCommand(): string[] {
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  return deno ? [process.execPath, "run", "-A"] : [process.execPath];
}

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
   * JSON configuration; any program speaking the protocol of `protocol.ts`
   * can stand in. Default: {@link defaultPeerCommand} (the current runtime).
   * Bun: `["bun"]`; Deno: `["deno", "run", "-A"]`; Node: `["node"]`.
   */
  command?: readonly string[];
  /** Working directory of the process. Default: this process's. */
  cwd?: string;
  /** How long to wait for the `ready` line. Default: 20 000 ms. */
  startTimeoutMs?: number;
}

/** How a peer process ended: its exit code, or the signal that killed it. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One peer process: send it commands with {@link request}, stop it with {@link kill}. */
export class PeerProcess {
  /** Its peer id, `127.0.0.1:<port>`, as the others list it. */
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
      for (const { reject } of this.#pending.values()) {
        reject(this.#error("unavailable", `exited (${info.signal ?? info.code})`));
      }
      this.#pending.clear();
      return info;
    });
    void this.#readReplies(lines);
  }

  /** Whether the process has not exited yet. */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines the process wrote to stderr (for failure messages). */
  get stderr(): string {
    return this.#stderr.join("");
  }

  /**
   * Sends a command; resolves with its reply. Rejects with `unavailable`
   * when the process is not running or exits first, `deadline-exceeded`
   * when no reply comes within `timeoutMs` (default 20 000), and
   * `invalid-argument` with the peer's message when it refused the command.
   */
  request<C extends CommandName>(cmd: C, args: Commands[C]["args"], timeoutMs = 20_000): Promise<Commands[C]["reply"]> {
    if (!this.alive) return Promise.reject(this.#error("unavailable", `is not running; cannot ${cmd}`));
    const id = this.#nextId++;
    return new Promise<Commands[C]["reply"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(this.#error("deadline-exceeded", `did not answer ${cmd} within ${timeoutMs} ms`));
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
      if (message.error !== undefined) waiter.reject(this.#error("invalid-argument", message.error));
      else waiter.resolve(message.reply);
    }
  }

  #error(code: "unavailable" | "deadline-exceeded" | "invalid-argument", message: string): GroupCacheError {
    const tail = this.stderr.slice(-2000);
    return new GroupCacheError(
      code,
      `peer ${this.id} (pid ${this.pid}) ${message}${tail === "" ? "" : `\nstderr:\n${tail}`}`,
    );
  }
}

/**
 * Starts one peer process and resolves once it listens. Rejects with
 * `unavailable` (its stderr in the message) when it exits or does not say
 * it is ready within `startTimeoutMs`; it is killed then.
 */
export async function startPeerProcess(
  config: PeerConfig = {},
  options: PeerProcessOptions = {},
): Promise<PeerProcess> {
  installExitHook();
  const [bin, ...args] = options.command ?? defaultPeerCommand();
  const child = spawn(bin as string, [...args, peerScript, JSON.stringify(config)], {
    stdio: ["pipe", "pipe", "pipe"],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  running.add(child);
  const exited = new Promise<ExitInfo>((resolve) => {
    const done = (info: ExitInfo) => {
      running.delete(child);
      resolve(info);
    };
    child.once("exit", (code, signal) => done({ code, signal }));
    // A command that could not be started has no PID and never exits.
    child.once("error", () => child.pid === undefined && done({ code: null, signal: null }));
  });
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
    throw new GroupCacheError(
      "unavailable",
      `peer process ${[bin, ...args, peerScript].join(" ")} (pid ${child.pid}): ${(error as Error).message}\nstderr:\n${stderr.join("")}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
