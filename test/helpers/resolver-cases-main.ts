// Runs the resolver cases on the runtime that runs this file (Bun, Deno) and
// prints the results as JSON. Arguments: node|deno, the DNS server address,
// and for deno an optional probe name.
import { runResolverCases } from "./resolver-cases.ts";

const [kind, server, probeName] = process.argv.slice(2);
if (server === undefined) throw new Error("usage: resolver-cases-main.ts node|deno <server> [probeName]");
let resolver: import("../../src/discovery/resolver.ts").DnsResolver;
if (kind === "deno") {
  const { createDenoResolver } = await import("../../src/discovery/deno-resolver.ts");
  resolver = createDenoResolver(probeName === undefined ? { server } : { server, probeName });
} else {
  const { createNodeResolver } = await import("../../src/discovery/node-resolver.ts");
  resolver = createNodeResolver({ server, timeoutMs: 200, tries: 1 });
}
console.log(JSON.stringify(await runResolverCases(resolver)));
