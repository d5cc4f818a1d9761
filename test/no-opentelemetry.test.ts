import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

// @opentelemetry/api is an optional peer dependency: with it missing,
// startPeer (which uses it by default when present) must start, serve and
// fetch as before. A real process whose module resolution cannot find any
// @opentelemetry package. Node only.

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/no-otel/${name}`, import.meta.url));

test("without @opentelemetry/api installed, peers start and fetch keys from their owners; events still flow", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", fixture("hide-opentelemetry.ts"), fixture("two-peers.ts")],
    { timeout: 60_000 },
  );
  const result = JSON.parse(stdout.trim().split("\n").at(-1) as string);
  expect(result.api).toContain("Cannot find package '@opentelemetry/api'");
  expect(result.value).toBe(`value of ${result.key}`);
  expect(result.stats).toMatchObject({ gets: 1, peerLoads: 1, peerErrors: 0, localLoads: 0 });
  expect(result.events).toContain("ring-change");
  expect(result.health).toBe("ok");
});
