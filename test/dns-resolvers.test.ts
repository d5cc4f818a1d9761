import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createNodeResolver } from "../src/discovery/node-resolver.ts";
import { startDnsServer, type TestDnsServer } from "../src/testing/dns-server.ts";
import { type CaseResult, caseNames, runResolverCases } from "./helpers/resolver-cases.ts";
import { runtime } from "./helpers/test-resolver.ts";

// Every resolver adapter, on its runtime, against the same real DNS server
// on 127.0.0.1 (UDP): the Node resolver in this process and under Bun, the
// Deno resolver under Deno. Both outcomes must stay apart: "no such name"
// answers [], a DNS failure rejects.

const root = fileURLToPath(new URL("..", import.meta.url));
const main = fileURLToPath(new URL("./helpers/resolver-cases-main.ts", import.meta.url));
const bun = `${root}node_modules/.bin/bun`;
const deno = `${root}node_modules/.bin/deno`;

const expected: Record<string, CaseResult> = {
  srv: [{ target: caseNames.v4, port: 8080, priority: 0, weight: 10 }],
  a: ["10.0.0.1"],
  aaaa: ["fd00::1"],
  nxdomain: [],
  nodata: [],
  servfail: { error: "unavailable" },
  refused: { error: "unavailable" },
  timeout: { error: "deadline-exceeded" },
  aborted: { error: "canceled" },
};

let dns: TestDnsServer;

beforeAll(async () => {
  dns = await startDnsServer();
  const zone = dns.zone;
  zone.srv.set(caseNames.srv, [{ target: caseNames.v4, port: 8080 }]);
  zone.a.set(caseNames.v4, ["10.0.0.1"]);
  zone.aaaa.set(caseNames.v6, ["fd00::1"]);
  zone.a.set(caseNames.alive, ["10.96.0.1"]);
  zone.modes.set(caseNames.servfail, "servfail");
  zone.modes.set(caseNames.refused, "refused");
  zone.modes.set(caseNames.drop, "drop");
  zone.modes.set(caseNames.broken, "servfail");
});

afterAll(async () => {
  await dns.stop();
});

/** Runs the cases under another runtime; the child is killed if it outlives 20 s. */
function runUnder(command: string, args: string[]): Promise<Record<string, CaseResult>> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, timeout: 20_000, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? "null"));
    });
  });
}

const denoArgs = ["run", "--no-config", "--no-lock", "--allow-net", main, "deno"];

// Deno runs node:dns on its own resolver, which has the NotFound ambiguity below.
test.skipIf(runtime === "deno")(
  "node:dns resolver on Node maps NXDOMAIN/NODATA to [] and failures to codes",
  async () => {
    expect(await runResolverCases(createNodeResolver({ server: dns.address, timeoutMs: 200, tries: 1 }))).toEqual(
      expected,
    );
  },
);

test.skipIf(!existsSync(bun))("node:dns resolver on Bun gives the same results", async () => {
  expect(await runUnder(bun, [main, "node", dns.address])).toEqual(expected);
});

test.skipIf(!existsSync(deno))(
  "Deno resolver strips trailing dots and maps NotFound/TimedOut; SERVFAIL and REFUSED look like NotFound",
  async () => {
    // Deno.resolveDns reports SERVFAIL and REFUSED with the same NotFound
    // error as NXDOMAIN, so without a probe they read as "no records".
    expect(await runUnder(deno, [...denoArgs, dns.address])).toEqual({ ...expected, servfail: [], refused: [] });
  },
);

test.skipIf(!existsSync(deno))("Deno resolver with a probe name tells a failing server from NXDOMAIN", async () => {
  // The probe resolves: "not found" answers are genuine.
  const healthy = await runUnder(deno, [...denoArgs, dns.address, caseNames.alive]);
  expect(healthy).toEqual({ ...expected, servfail: [], refused: [] });
  // The probe fails too, as when the server itself is broken: a failure, not "no pods".
  const broken = await runUnder(deno, [...denoArgs, dns.address, caseNames.broken]);
  expect(broken).toMatchObject({
    srv: expected.srv,
    servfail: { error: "unavailable" },
    refused: { error: "unavailable" },
    timeout: expected.timeout,
  });
});
