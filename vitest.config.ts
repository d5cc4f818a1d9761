import { defineConfig } from "vitest/config";

/**
 * The behaviour suite every runtime must pass: the core, the transport round
 * trip and GetStream over real loopback HTTP/2, and discovery against a real
 * DNS server.
 * `test/run-suites.ts` runs it under Deno and Bun (GROUPCACHE_SUITE=shared);
 * Node runs every test, including the multi-process cluster tests.
 */
const shared = [
  "test/ring.test.ts",
  "test/lru.test.ts",
  "test/slab-store.test.ts",
  "test/hit-memo.test.ts",
  "test/singleflight.test.ts",
  "test/group.test.ts",
  "test/key-rate.test.ts",
  "test/transport-roundtrip.test.ts",
  "test/transport-stream.test.ts",
  "test/stream-codec.test.ts",
  "test/frame-pool.test.ts",
  "test/get-stream-session.test.ts",
  "test/dns-srv.test.ts",
  "test/start-peer.test.ts",
];

export default defineConfig({
  test: {
    include: process.env.GROUPCACHE_SUITE === "shared" ? shared : ["test/**/*.test.ts"],
    // Cluster tests start real processes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
