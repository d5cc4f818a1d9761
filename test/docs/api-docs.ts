/**
 * `npm run docs`: the API reference, generated from the TSDoc of every entry
 * point deno.json exports (the same subpaths as package.json), with
 * `deno doc --html` into api-docs/ (not committed). Fails on any warning
 * about this package's sources; Deno's warnings about the triple-slash
 * references inside node_modules/@types/node (which it cannot resolve as
 * packages, and which do not change our pages) are counted, not fatal.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const out = join(root, "api-docs");
const entries = Object.values(
  (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as { exports: Record<string, string> }).exports,
);
const result = spawnSync(
  join(root, "node_modules", ".bin", "deno"),
  ["doc", "--html", "--name=groupcache", `--output=${out}`, ...entries],
  { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
);
const log = `${result.stdout}\n${result.stderr}`;
// One warning is a "Warning ..." line followed by its "at <file>" line.
const lines = log.split("\n");
const warnings = lines.flatMap((line, i) =>
  line.startsWith("Warning") ? [`${line.trim()} ${(lines[i + 1] ?? "").trim()}`] : [],
);
const ours = warnings.filter((w) => !w.includes("/node_modules/@types/node/"));
const written = /Written (\d+) files/.exec(log)?.[1];
console.log(
  `api reference: ${written ?? "no"} files in api-docs/ from ${entries.length} entry points; ` +
    `${ours.length} warnings about our sources, ${warnings.length - ours.length} about @types/node's own references`,
);
for (const w of ours) console.error(w);
if (result.status !== 0 || written === undefined || ours.length > 0) {
  if (result.status !== 0) console.error(log);
  process.exit(1);
}
