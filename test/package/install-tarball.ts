/**
 * The install recipe of the README, run as a new user would: packs the
 * package (`npm pack`), installs the tarball into an empty project with
 * `npm ci --offline` (dependencies from npm's local cache, which our own
 * `npm ci` filled), then on Node, Bun and Deno imports every entry point of
 * the installed package, starts a peer with `await using` and gets a key
 * through it. Part of `npm run check:package`; exits non-zero on any failure.
 *
 *   node test/package/install-tarball.ts            # pack with the current dist/ (built by check:package)
 *   node test/package/install-tarball.ts --build    # build first
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });

// What a program written against the README does, per runtime entry.
const smoke = (entry: string) => `
import { GroupCache, stringCodec } from "groupcache";
import { startPeer } from "groupcache/${entry}";
import { GetRequestSchema, GroupCache as GroupCacheService } from "groupcache/proto";
import { Ring } from "groupcache/ring";
import { SingleFlight } from "groupcache/singleflight";
import { createMemoryCluster } from "groupcache/testing";
import { peerBaseUrl } from "groupcache/transport";

if (GetRequestSchema.typeName !== "groupcachepb.GetRequest") throw new Error("groupcache/proto: wrong schema");
if (GroupCacheService.method.get.name !== "Get") throw new Error("groupcache/proto: no Get method");
for (const value of [GroupCache, Ring, SingleFlight, createMemoryCluster, peerBaseUrl]) {
  if (typeof value !== "function") throw new Error("an export is missing");
}
{
  await using peer = await startPeer({ host: "127.0.0.1" });
  const group = peer.cache.newGroup({ name: "g", codec: stringCodec, getter: (key) => "value of " + key });
  const [one] = await group.getMany(["k"]);
  if (!one?.ok || one.value !== "value of k") throw new Error("unexpected result " + JSON.stringify(one));
}
console.log("ok");
`;

interface LockEntry {
  version: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/**
 * The app's lock file: the tarball plus our runtime dependencies at the
 * versions of our own lock file. npm resolves ranges through the registry's
 * package metadata, which `npm ci` does not cache; with every version and
 * integrity given, `npm ci --offline` takes the tarballs from the cache.
 */
function appLock(spec: string): object {
  const ours = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    version: string;
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
  };
  const packages: Record<string, object> = {
    "": { name: "app", dependencies: { groupcache: spec } },
    "node_modules/groupcache": {
      version: manifest.version,
      resolved: spec,
      dependencies: manifest.dependencies,
      peerDependencies: manifest.peerDependencies,
      peerDependenciesMeta: manifest.peerDependenciesMeta,
    },
  };
  const queue = Object.keys(manifest.dependencies);
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const key = `node_modules/${name}`;
    if (key in packages) continue;
    const entry = ours.packages[key];
    if (entry === undefined) throw new Error(`${name} is not hoisted in package-lock.json`);
    packages[key] = entry;
    queue.push(...Object.keys(entry.dependencies ?? {}));
  }
  return { name: "app", lockfileVersion: 3, requires: true, packages };
}

/** The versions npm and JSR publish are one, and the changelog has an entry for it. */
function checkVersions(): void {
  const read = (file: string) => readFileSync(join(root, file), "utf8");
  const npm = (JSON.parse(read("package.json")) as { version: string }).version;
  const jsr = (JSON.parse(read("deno.json")) as { version: string }).version;
  if (npm !== jsr) throw new Error(`package.json has version ${npm}, deno.json ${jsr}: set both to the same`);
  if (!read("CHANGELOG.md").includes(`## [${npm}]`)) throw new Error(`CHANGELOG.md has no "## [${npm}]" entry`);
}

function main(): void {
  checkVersions();
  const work = mkdtempSync(join(tmpdir(), "groupcache-install-"));
  try {
    if (process.argv.includes("--build") || !existsSync(join(root, "dist", "index.js"))) {
      run("npm", ["run", "--silent", "build"], root);
    }
    // dist/ is fresh (check:package builds it first): skip prepack's rebuild.
    run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", work], root);
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    if (tarball === undefined) throw new Error(`npm pack wrote no tarball into ${work}`);
    const app = join(work, "app");
    mkdirSync(app);
    const spec = `file:../${tarball}`;
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module", dependencies: { groupcache: spec } }),
    );
    writeFileSync(join(app, "package-lock.json"), JSON.stringify(appLock(spec)));
    run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], app);
    const rows: string[] = [];
    let failed = 0;
    for (const [runtime, command, args] of [
      ["node", bin("node"), []],
      ["bun", bin("bun"), []],
      ["deno", bin("deno"), ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys"]],
    ] as const) {
      const file = join(app, `smoke-${runtime}.mjs`);
      writeFileSync(file, smoke(runtime));
      try {
        const out = run(command, [...args, file], app).trim();
        rows.push(`${runtime.padEnd(5)} ${out}`);
        if (out !== "ok") failed++;
      } catch (error) {
        failed++;
        const e = error as { stderr?: string; message: string };
        rows.push(
          `${runtime.padEnd(5)} FAILED: ${(e.stderr ?? e.message).trim().split("\n").slice(0, 8).join("\n      ")}`,
        );
      }
    }
    console.log(`installed ${tarball} offline; every entry point imported, a peer started and a key got:`);
    for (const row of rows) console.log(`  ${row}`);
    if (failed > 0) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
