import { defineConfig } from "vitest/config";

/**
 * `test/shared/` holds the behaviour suite every runtime must pass: the
 * core, the transport round trip and GetStream over real loopback HTTP/2,
 * and discovery against a real DNS server. `test/run-suites.ts` runs it
 * under Deno and Bun (GROUPCACHE_SUITE=shared); Node runs every test,
 * including the multi-process cluster tests. A test joins the shared suite
 * by living in that folder.
 */
const shared = ["test/shared/**/*.test.ts"];

export default defineConfig({
  test: {
    include: process.env.GROUPCACHE_SUITE === "shared" ? shared : ["test/**/*.test.ts"],
    // Cluster tests start real processes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
