import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

// Every ```ts block of README.md is typechecked, as its own module, against
// the sources, with this repository's strict tsconfig: the README cannot
// drift from the API. Imports of "groupcache" and its subpaths resolve to the
// .ts files deno.json maps them to. A block that is deliberately partial is
// preceded by `<!-- not typechecked: why -->`. Names the snippets use
// without defining (an app's own functions) are declared in `prelude` below.
// Unused names are allowed: a snippet may stop at what it shows.

const root = fileURLToPath(new URL("..", import.meta.url));
// Under node_modules, so the blocks resolve packages (vitest, @types/node) as the repository does.
const dir = join(root, "node_modules", ".cache", "readme-snippets");

const prelude = `
/** The README's example backend: the n-th Fibonacci number, slowly. */
declare function slowFibonacci(n: number, signal: AbortSignal): Promise<bigint>;
/** What the README's fragments take as given: a logger, an app's group and row, this pod's id and IP. */
declare const log: { warn(message: string): void };
declare const users: import("groupcache").Group<string, string>;
declare const row: { id: string; name: string };
declare const self: string;
declare const podIp: string;
`;

interface Block {
  line: number; // README line of the block's first code line
  code: string;
}

function tsBlocks(markdown: string): { blocks: Block[]; skipped: number } {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  let skipped = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\b/.test(lines[i] as string)) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    const previous = lines.slice(0, i).findLast((l) => l.trim() !== "") ?? "";
    if (previous.startsWith("<!-- not typechecked:")) skipped++;
    else blocks.push({ line: i + 2, code: lines.slice(i + 1, end).join("\n") });
    i = end;
  }
  return { blocks, skipped };
}

test("every TypeScript block of the README typechecks against the sources", () => {
  const { blocks } = tsBlocks(readFileSync(join(root, "README.md"), "utf8"));
  expect(blocks.length).toBeGreaterThanOrEqual(6);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const exportsOf = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports as Record<string, string>;
  const paths = Object.fromEntries(
    Object.entries(exportsOf).map(([sub, file]) => [`groupcache${sub.slice(1)}`, [join(root, file)]]),
  );
  writeFileSync(join(dir, "prelude.d.ts"), prelude);
  for (const [i, block] of blocks.entries()) writeFileSync(join(dir, `block-${i}.ts`), `${block.code}\nexport {};\n`);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: join(root, "tsconfig.json"),
      compilerOptions: { paths, noUnusedLocals: false, noUnusedParameters: false },
      include: ["*.ts"],
    }),
  );
  let output = "";
  try {
    execFileSync(join(root, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", dir], { encoding: "utf8" });
  } catch (error) {
    output = (error as { stdout: string }).stdout;
  }
  // Point each error at its README line.
  const errors = output
    .split("\n")
    .filter((l) => l.includes("error TS"))
    .map((l) => {
      const m = /block-(\d+)\.ts\((\d+),(\d+)\): (.*)/.exec(l);
      if (m === null) return l;
      const block = blocks[Number(m[1])] as Block;
      return `README.md:${block.line + Number(m[2]) - 1}:${m[3]}: ${m[4]}`;
    });
  expect(errors).toEqual([]);
}, 180_000);
