/**
 * Start-up cost: how long `await import(...)` of each entry point takes in
 * a fresh process, on Node, Bun and Deno, beside what mnemonist costs (the
 * LRU's package: its root import, which loads every structure it has, and
 * its LRU module alone through `require`, the only way its package exports
 * it). Medians of several fresh processes per cell; the built package
 * (`dist/`, built first if missing) is what applications import.
 *
 *   node bench/startup.ts            # 9 processes per cell, all runtimes
 *   node bench/startup.ts --quick    # 3 per cell, Node only: checks it runs
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const quick = process.argv.includes("--quick");
const runs = quick ? 3 : 9;
const root = join(import.meta.dirname, "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
// Under node_modules, so the probes resolve packages as the repository does.
const dir = join(root, "node_modules", ".cache", "startup-bench");
mkdirSync(dir, { recursive: true });
if (!existsSync(join(root, "dist", "index.js"))) {
  spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
}

const dist = (file: string) => pathToFileURL(join(root, "dist", file)).href;
const probes: { name: string; code: string }[] = [
  { name: "groupcache (the core)", code: `await import(${JSON.stringify(dist("index.js"))});` },
  {
    name: "groupcache (the core), mnemonist loaded before",
    code: `await import("mnemonist");\nconst start = performance.now();\nawait import(${JSON.stringify(dist("index.js"))});`,
  },
  { name: "groupcache/node", code: `await import(${JSON.stringify(dist("runtime/node.js"))});` },
  { name: 'mnemonist root (import "mnemonist")', code: 'await import("mnemonist");' },
  {
    name: "mnemonist LRU alone (require)",
    code: 'require("mnemonist/lru-map-with-delete.js");',
  },
];
const runtimes = [
  { name: "node", argv: [process.execPath] },
  ...(quick
    ? []
    : [
        { name: "bun", argv: [bin("bun")] },
        { name: "deno", argv: [bin("deno"), "run", "-A"] },
      ]),
];

function probeFile(index: number, code: string): string {
  const file = join(dir, `probe-${index}.mjs`);
  writeFileSync(
    file,
    [
      'import { createRequire } from "node:module";',
      "const require = createRequire(import.meta.url);",
      "let start = performance.now();",
      code.replace("const start =", "start ="),
      "console.log(performance.now() - start);",
    ].join("\n"),
  );
  return file;
}

const median = (values: number[]) => {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

const table: string[][] = [];
const medians = new Map<string, number>();
for (const [i, probe] of probes.entries()) {
  const file = probeFile(i, probe.code);
  const row = [probe.name];
  for (const runtime of runtimes) {
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const [command, ...args] = runtime.argv as [string, ...string[]];
      const result = spawnSync(command, [...args, file], { cwd: root, encoding: "utf8" });
      const ms = Number(result.stdout.trim());
      if (result.status !== 0 || !Number.isFinite(ms)) {
        throw new Error(`${runtime.name} ${probe.name} failed: ${result.stderr}`);
      }
      times.push(ms);
    }
    medians.set(`${runtime.name}:${i}`, median(times));
    row.push(`${median(times).toFixed(1)} (${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)})`);
  }
  table.push(row);
}

console.log(`\nimport time in a fresh process, ms: median (min–max) of ${runs} processes`);
const header = ["entry", ...runtimes.map((r) => r.name)];
const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => (row[c] as string).length)));
const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c] as number)).join("  ");
console.log(line(header));
for (const row of table) console.log(line(row));
for (const runtime of runtimes) {
  const core = medians.get(`${runtime.name}:0`) as number;
  const withoutMnemonist = medians.get(`${runtime.name}:1`) as number;
  const root_ = medians.get(`${runtime.name}:3`) as number;
  const alone = medians.get(`${runtime.name}:4`) as number;
  console.log(
    `${runtime.name}: mnemonist accounts for ${(core - withoutMnemonist).toFixed(1)} ms ` +
      `(${(((core - withoutMnemonist) / core) * 100).toFixed(0)}%) of the core's import; ` +
      `its LRU module alone costs ${alone.toFixed(1)} ms (${(alone / root_).toFixed(2)}× its root import)`,
  );
}
