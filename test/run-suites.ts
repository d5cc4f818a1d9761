/**
 * `npm test`: runs the whole suite under Node, then the shared behaviour
 * suite (test/shared/, see vitest.config.ts) under Deno and Bun, with the binaries from
 * node_modules/.bin. Prints one row per runtime and a closing
 * "N passed, N failed" line; exits non-zero if any runtime failed.
 *
 *   npm test                      # all three runtimes
 *   npm test -- --runtime node    # one runtime (repeatable)
 *   npm test -- test/shared/ring.test.ts# extra arguments go to vitest
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface Run {
  runtime: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

const root = join(import.meta.dirname, "..");
const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

const all: Run[] = [
  { runtime: "node", command: process.execPath, args: [vitest, "run"], env: {} },
  {
    runtime: "deno",
    command: bin("deno"),
    args: ["run", "-A", vitest, "run"],
    env: { GROUPCACHE_SUITE: "shared" },
  },
  {
    runtime: "bun",
    command: bin("bun"),
    // Bun crashes in vitest's default forks pool; threads work.
    args: ["--bun", vitest, "run", "--pool=threads"],
    env: { GROUPCACHE_SUITE: "shared" },
  },
];

const argv = process.argv.slice(2);
const wanted = new Set<string>();
const extra: string[] = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--runtime") wanted.add(argv[++i] ?? "");
  else extra.push(argv[i] as string);
}
const runs = all.filter((r) => wanted.size === 0 || wanted.has(r.runtime));

const dir = mkdtempSync(join(tmpdir(), "groupcache-tests-"));
const rows: { runtime: string; passed: number; failed: number; skipped: number; exit: string }[] = [];
for (const run of runs) {
  console.log(`\n=== ${run.runtime}: ${[run.command, ...run.args].join(" ")}`);
  const report = join(dir, `${run.runtime}.json`);
  const result = spawnSync(
    run.command,
    [...run.args, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...extra],
    { cwd: root, stdio: "inherit", env: { ...process.env, ...run.env } },
  );
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    const json = JSON.parse(readFileSync(report, "utf8")) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
    };
    passed = json.numPassedTests;
    failed = json.numFailedTests;
    skipped = json.numPendingTests + json.numTodoTests;
  } catch {
    failed = Math.max(failed, 1); // no report: the run itself failed
  }
  const exit = result.status === null ? String(result.signal) : String(result.status);
  if (result.status !== 0 && failed === 0) failed = 1;
  rows.push({ runtime: run.runtime, passed, failed, skipped, exit });
}
rmSync(dir, { recursive: true, force: true });

console.log("\nruntime  passed  failed  skipped  exit");
for (const r of rows) {
  console.log(
    `${r.runtime.padEnd(7)}  ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.skipped).padStart(7)}  ${r.exit.padStart(4)}`,
  );
}
const passed = rows.reduce((n, r) => n + r.passed, 0);
const failed = rows.reduce((n, r) => n + r.failed, 0);
const skipped = rows.reduce((n, r) => n + r.skipped, 0);
console.log(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 && rows.length > 0 ? 0 : 1);
