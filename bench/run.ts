/**
 * Runs every benchmark in its own process, one after the other, so one's
 * garbage and JIT state do not skew the next.
 *
 *   npm run bench              # full runs (a few minutes)
 *   npm run bench -- --quick   # tiny inputs: checks they run, not their speed
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const benches = [
  "local-hit.ts",
  "remote.ts",
  "memory.ts",
  "memory-churn.ts",
  "soak.ts",
  "membership.ts",
  "startup.ts",
  "hung-peer.ts",
  "attack.ts",
];
const args = process.argv.slice(2);
let failed = 0;
for (const bench of benches) {
  const file = join(import.meta.dirname, bench);
  if (!existsSync(file)) continue;
  console.log(`\n=== ${bench} ${args.join(" ")}`);
  const result = spawnSync(process.execPath, ["--expose-gc", file, ...args], { stdio: "inherit" });
  if (result.status !== 0) {
    failed++;
    console.error(`${bench} failed with ${result.status ?? result.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
