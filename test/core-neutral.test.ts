import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";

const coreDir = join(import.meta.dirname, "..", "src", "core");

test("the core imports no runtime module and touches no runtime global", () => {
  const files = readdirSync(coreDir).filter((f) => f.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(5);
  const forbidden = [
    /from\s+["']node:/,
    /from\s+["'](fs|path|http2?|net|dns|os|crypto|child_process)["']/,
    /\bDeno\./,
    /\bBun\./,
    /\bprocess\./,
    /\bBuffer\b/,
    /\brequire\(/,
  ];
  const offenders: string[] = [];
  for (const file of files) {
    const code = readFileSync(join(coreDir, file), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    for (const pattern of forbidden) if (pattern.test(code)) offenders.push(`${file}: ${pattern}`);
  }
  expect(offenders).toEqual([]);
});
