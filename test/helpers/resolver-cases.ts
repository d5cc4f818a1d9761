import type { DnsResolver } from "../../src/discovery/resolver.ts";

/** Names the resolver cases query; the test DNS server is filled to match (see `resolverZone`). */
export const caseNames = {
  srv: "_groupcache._tcp.fib.default.svc.cluster.local",
  v4: "10-0-0-1.fib.default.svc.cluster.local",
  v6: "fd00--1.fib.default.svc.cluster.local",
  missing: "_groupcache._tcp.none.default.svc.cluster.local",
  servfail: "servfail.example.test",
  refused: "refused.example.test",
  drop: "drop.example.test",
  /** Always resolves: a good `probeName` for the Deno resolver. */
  alive: "kubernetes.default.svc.cluster.local",
  /** Answers SERVFAIL, as a broken server would: a probe that fails. */
  broken: "broken.example.test",
};

/** What one case gave: the answer, or the error's code. */
export type CaseResult = unknown[] | { error: string };

/**
 * Runs the same queries against any resolver, on any runtime: the results are
 * compared by a test, so every adapter maps DNS outcomes the same way.
 */
export async function runResolverCases(resolver: DnsResolver): Promise<Record<string, CaseResult>> {
  const run = async (query: () => Promise<unknown[]>): Promise<CaseResult> => {
    try {
      return await query();
    } catch (error) {
      return { error: String((error as { code?: unknown }).code ?? error) };
    }
  };
  const signal = () => AbortSignal.timeout(3000);
  return {
    srv: await run(() => resolver.resolveSrv(caseNames.srv, { signal: signal() })),
    a: await run(() => resolver.resolveIp(caseNames.v4, 4, { signal: signal() })),
    aaaa: await run(() => resolver.resolveIp(caseNames.v6, 6, { signal: signal() })),
    nxdomain: await run(() => resolver.resolveSrv(caseNames.missing, { signal: signal() })),
    nodata: await run(() => resolver.resolveIp(caseNames.v4, 6, { signal: signal() })),
    servfail: await run(() => resolver.resolveSrv(caseNames.servfail, { signal: signal() })),
    refused: await run(() => resolver.resolveIp(caseNames.refused, 4, { signal: signal() })),
    timeout: await run(() => resolver.resolveIp(caseNames.drop, 4, { signal: AbortSignal.timeout(700) })),
    aborted: await run(() => resolver.resolveSrv(caseNames.srv, { signal: AbortSignal.abort() })),
  };
}
