/**
 * The Go baseline of the benchmarks: `bench/go/main.go`, a small program on
 * Debian's Go groupcache (`golang-github-golang-groupcache-dev`, HTTP
 * transport), measured in the same run as the TypeScript port. The machine
 * is shared and noisy, so only ratios measured together mean anything.
 * When Go is missing, Go groupcache's figures measured earlier on this
 * machine kind stand in: local hit ~102 ns/op; remote hits at c=64 ~20k
 * gets/s with its default HTTP client, ~50k tuned; the herd, 100 getter
 * calls in ~72 ms; ~385 bytes of RSS per entry.
 *
 * The binary is built once into a temp directory named after the source and
 * the Go version, and reused by the next bench process. Peer processes are
 * started and stopped by the process harness of `src/testing/` (by PID,
 * only those it started), whose JSON-lines protocol the Go peer speaks; the
 * other modes are one process per measurement. Every wait has a timeout.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Cluster, type ClusterOptions, startCluster } from "../../src/testing/cluster.ts";

/** Where Debian's Go packages put their sources (a GOPATH). */
const debianGopath = "/usr/share/gocode";
const sourceDir = join(import.meta.dirname, "..", "go");
const buildTimeoutMs = 180_000;

/**
 * The HTTP client of Go peers: `default` is `http.DefaultTransport` (2 idle
 * connections per host, so under concurrency most gets dial anew); `tuned`
 * keeps 256 idle connections per host. Measured earlier on this machine
 * kind at c=64: ~20k gets/s default, ~50k tuned.
 */
export type GoTransport = "default" | "tuned";

/**
 * The sink of Go's local-hit loop: `byteview` (`ByteViewSink`, the cached
 * bytes without a copy, like our ByteView) or `allocating`
 * (`AllocatingByteSliceSink`, a copy per get, like our `bytesCodec`).
 */
export type GoSink = "byteview" | "allocating";

/** Bytes per entry beyond the value: RSS, and Go's live heap. */
export interface GoMemory {
  rss: number;
  heap: number;
}

/** The built Go program and its three modes. */
export class GoBaseline {
  readonly binary: string;

  constructor(binary: string) {
    this.binary = binary;
  }

  /**
   * Starts Go peer processes through `src/testing/`'s harness, connected to
   * each other; their configuration is a `PeerConfig` (Go honours a group's
   * `cacheBytes`, `valueBytes` and `getterDelayMs`).
   */
  startCluster(transport: GoTransport, options: Omit<ClusterOptions, "command">): Promise<Cluster> {
    return startCluster({ ...options, command: [this.binary, "peer", `-transport=${transport}`] });
  }

  /** ns per `group.Get` hit over 1,000 keys of 100 bytes, `ops` gets timed after one untimed pass. */
  localHit(sink: GoSink, ops: number): number {
    return this.#run<{ nsPerOp: number }>(["local-hit", `-ops=${ops}`, `-sink=${sink}`]).nsPerOp;
  }

  /** Bytes per entry beyond its 100-byte value, `entries` entries, in a fresh process. */
  memory(entries: number): GoMemory {
    return this.#run<GoMemory>(["memory", `-entries=${entries}`]);
  }

  /** Runs one process of a one-shot mode and parses the JSON line it prints last. */
  #run<T>(args: readonly string[]): T {
    const out = spawnSync(this.binary, args, { encoding: "utf8", timeout: 120_000 });
    if (out.status !== 0) {
      throw new Error(`${this.binary} ${args.join(" ")}: ${out.error?.message ?? out.signal ?? out.stderr.trim()}`);
    }
    return JSON.parse(out.stdout.trim().split("\n").at(-1) as string) as T;
  }
}

export type GoBuild = { go: GoBaseline; reason?: undefined } | { go: undefined; reason: string };

let build: GoBuild | undefined;

/**
 * Builds the Go baseline (once per process; a binary built earlier from the
 * same source with the same Go is reused), or says in one line why it
 * cannot: no `go` on PATH, or no groupcache package, or another build error.
 */
export function buildGoBaseline(): GoBuild {
  build ??= buildOnce();
  return build;
}

function buildOnce(): GoBuild {
  const version = spawnSync("go", ["version"], { encoding: "utf8", timeout: 10_000 });
  if (version.status !== 0) {
    const why =
      (version.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT" ? "no go on PATH" : version.stderr;
    return { go: undefined, reason: `go is not installed (${why.trim()})` };
  }
  const hash = createHash("sha256")
    .update(version.stdout)
    .update(readFileSync(join(sourceDir, "main.go")))
    .digest("hex")
    .slice(0, 16);
  const dir = join(tmpdir(), `groupcache-gcbench-${hash}`);
  const binary = join(dir, "gcbench");
  if (existsSync(binary)) return { go: new GoBaseline(binary) };
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}`;
  const env = {
    ...process.env,
    // Debian installs packages in a GOPATH, not as modules.
    GO111MODULE: "off",
    GOPATH: debianGopath,
    GOFLAGS: "",
    // Go's default cache is under HOME, which may not be writable.
    GOCACHE: process.env.GOCACHE ?? join(tmpdir(), "groupcache-gcbench-gocache"),
  };
  const out = spawnSync("go", ["build", "-o", partial, "."], {
    cwd: sourceDir,
    env,
    encoding: "utf8",
    timeout: buildTimeoutMs,
  });
  if (out.status !== 0) {
    const missing = /cannot find package "([^"]+)"/.exec(out.stderr)?.[1];
    if (missing !== undefined) return { go: undefined, reason: `Go package ${missing} is not installed` };
    const line = out.stderr.split("\n").find((l) => l.trim() !== "" && !l.startsWith("#"));
    return { go: undefined, reason: `go build failed: ${line?.trim() ?? out.error?.message ?? out.signal}` };
  }
  renameSync(partial, binary); // atomic: a concurrent bench never runs half a binary
  return { go: new GoBaseline(binary) };
}

/** The line a benchmark prints when it compares with Go's figures measured earlier instead. */
export function skippedLine(reason: string): string {
  return `Go baseline skipped: ${reason}; showing Go groupcache's figures measured earlier on this machine kind instead`;
}
