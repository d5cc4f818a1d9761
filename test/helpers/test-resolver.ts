import { createDenoResolver } from "../../src/discovery/deno-resolver.ts";
import { createNodeResolver } from "../../src/discovery/node-resolver.ts";
import type { DnsResolver } from "../../src/discovery/resolver.ts";

/** The runtime running the tests. */
export const runtime: "node" | "bun" | "deno" = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** A name that exists in every Kubernetes cluster, and in the test zone (see `emptyZone`). */
export const probeName = "kubernetes.default.svc.cluster.local";

/**
 * The resolver of the running runtime, pointed at the test server: Deno's
 * (with a probe name, since Deno reports SERVFAIL as NotFound) on Deno,
 * `node:dns` on Node and Bun. `timeoutMs` is the per-try timeout of
 * `node:dns`; Deno's own timeout is longer, and discovery's
 * `lookupTimeoutMs` bounds both.
 */
export function testResolver(server: string, timeoutMs = 200): DnsResolver {
  if (runtime === "deno") return createDenoResolver({ server, probeName });
  return createNodeResolver({ server, timeoutMs, tries: 1 });
}
