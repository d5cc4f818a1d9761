import { execFile, execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NotFoundError, stringCodec } from "../src/index.ts";
import { type InProcessPeer, keysOwnedBy, startInProcessPeer } from "./support/in-process-peer.ts";

// The README's recipe for other languages, run as written: code generated
// from proto/ with local plugins only (Debian's protoc-gen-go and
// protoc-gen-go-grpc through `buf generate`, Python's grpc_tools), a Go and
// a Python client built from it, each calling running peers. Without the
// tools the test is skipped, saying what to install; under CI=true (where
// .ci/run installs them) it is required.

const root = fileURLToPath(new URL("..", import.meta.url));
const here = join(root, "test", "other-languages");
const work = join(root, "node_modules", ".cache", "other-languages");
const python = "/usr/bin/python3"; // Debian's, where python3-grpc-tools installs
const gopath = join(work, "go");

function missingTools(): string[] {
  const missing: string[] = [];
  const has = (command: string, args: string[]) => spawnSync(command, args, { stdio: "ignore" }).status === 0;
  if (!has("go", ["version"])) missing.push("golang-go");
  for (const plugin of ["protoc-gen-go", "protoc-gen-go-grpc"]) {
    if (!has("sh", ["-c", `command -v ${plugin}`])) missing.push(plugin);
  }
  for (const [dir, pkg] of [
    ["google.golang.org/grpc", "golang-google-grpc-dev"],
    ["google.golang.org/protobuf", "golang-google-protobuf-dev"],
  ] as const) {
    if (!existsSync(join("/usr/share/gocode/src", dir))) missing.push(pkg);
  }
  if (!has(python, ["-c", "import grpc, grpc_tools.protoc"])) missing.push("python3-grpc-tools python3-grpcio");
  return missing;
}

const missing = missingTools();
const required = process.env.CI === "true";
if (missing.length > 0 && !required) {
  console.warn(
    `skipping the other-language recipe: missing ${missing.join(", ")} (apt-get install ${missing.join(" ")})`,
  );
}

const run = (command: string, args: string[], env: Record<string, string> = {}) =>
  execFileSync(command, args, { cwd: root, encoding: "utf8", env: { ...process.env, ...env }, timeout: 540_000 });

describe.skipIf(missing.length > 0 && !required)("generated Go and Python clients call a running peer", () => {
  let owner: InProcessPeer;
  let other: InProcessPeer;
  const loads: Record<string, string[]> = {};

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`CI=true but ${missing.join(", ")} are missing: .ci/run installs them with apt-get`);
    }
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, "py"), { recursive: true });
    // Go: buf generate with the README's template (out: gen), then GOPATH mode
    // against Debian's Go packages, offline.
    run("npx", ["buf", "generate", "proto", "--template", join(here, "buf.gen.yaml"), "-o", gopath]);
    renameSync(join(gopath, "gen"), join(gopath, "src"));
    cpSync(join(here, "go-client"), join(gopath, "src", "client"), { recursive: true });
    run("go", ["build", "-o", join(work, "go-client"), "client"], {
      GO111MODULE: "off",
      GOPATH: `${gopath}:/usr/share/gocode`,
      GOPROXY: "off",
      GOFLAGS: "",
    });
    // Python: grpc_tools' protoc.
    run(python, [
      "-m",
      "grpc_tools.protoc",
      "-I",
      "proto",
      `--python_out=${work}/py`,
      `--grpc_python_out=${work}/py`,
      "groupcachepb/groupcache.proto",
    ]);

    [owner, other] = [await startInProcessPeer(), await startInProcessPeer()];
    for (const peer of [owner, other]) {
      loads[peer.id] = [];
      peer.cache.newGroup({
        name: "g",
        codec: stringCodec,
        getter: (key) => {
          loads[peer.id]?.push(key);
          if (key.startsWith("missing")) throw new NotFoundError(`no row ${key}`);
          return `v:${key}`;
        },
      });
      peer.cache.setPeers([owner.id, other.id]);
    }
  }, 600_000);

  afterAll(async () => {
    await owner?.close();
    await other?.close();
  });

  // Asynchronous: the peers answer from this process's event loop.
  const call = async (command: string, args: string[]) =>
    (await promisify(execFile)(command, args, { cwd: root, encoding: "utf8", timeout: 60_000 })).stdout;
  const clients = {
    go: (addr: string, group: string, keys: string[]) => call(join(work, "go-client"), [addr, group, ...keys]),
    python: (addr: string, group: string, keys: string[]) =>
      call(python, [join(here, "python_client.py"), join(work, "py"), addr, group, ...keys]),
  };
  const codes = {
    go: { notFound: "NotFound", failedPrecondition: "FailedPrecondition" },
    python: { notFound: "NOT_FOUND", failedPrecondition: "FAILED_PRECONDITION" },
  };

  for (const language of ["go", "python"] as const) {
    test(`${language}: the owner answers its keys; a peer that does not own a key loads it itself, without forwarding`, async () => {
      const [mine, notMine, missingKey] = [
        keysOwnedBy(owner.cache, owner.id, 2, `${language}-own`),
        keysOwnedBy(owner.cache, other.id, 1, `${language}-other`),
        keysOwnedBy(owner.cache, owner.id, 1, `missing-${language}`),
      ] as [string[], string[], string[]];
      for (const id of [owner.id, other.id]) (loads[id] as string[]).length = 0;
      const out = await clients[language](owner.id, "g", [...mine, ...notMine, ...missingKey]);
      expect(out.trim().split("\n")).toEqual([
        ...[...mine, ...notMine].map((key) => `${key} ok v:${key}`),
        `${missingKey[0]} error ${codes[language].notFound} no row ${missingKey[0]}`,
      ]);
      expect(loads[owner.id]).toEqual([...mine, ...notMine, ...missingKey]);
      expect(loads[other.id]).toEqual([]);
      expect((await clients[language](owner.id, "nope", ["k"])).trim()).toBe(
        `k error ${codes[language].failedPrecondition} no group named "nope" on peer "${owner.id}"`,
      );
    });
  }
});
