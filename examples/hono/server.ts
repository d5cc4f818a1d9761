/**
 * A Hono service in front of groupcache, on Node, Bun or Deno unchanged:
 * `GET /fib/:n` answers the n-th Fibonacci number, computed once in the
 * whole cluster by the number's owner; `GET /stats` shows the group's
 * counters. The peers are a fixed list; see `examples/kubernetes/` for DNS
 * discovery.
 *
 *   npx node examples/hono/server.ts
 *   npx bun examples/hono/server.ts
 *   npx deno run --allow-net --allow-env --allow-read --allow-sys examples/hono/server.ts
 *
 * | variable    | default                | meaning                                         |
 * | ----------- | ---------------------- | ----------------------------------------------- |
 * | `HTTP_PORT` | `8080`                 | the HTTP front (`0`: any free port)             |
 * | `PEER_PORT` | `8081`                 | gRPC between peers, on 127.0.0.1                |
 * | `PEERS`     | this peer alone        | every peer's `host:port`, comma-separated       |
 *
 * An application imports `groupcache/node`, `/bun` or `/deno` (whichever
 * runtime it runs on) instead of `../../src`.
 */
import process from "node:process";
import { Hono } from "hono";

const g = globalThis as { Deno?: unknown; Bun?: unknown };
const { GroupCacheError, NotFoundError, startPeer, stringCodec } =
  g.Deno !== undefined
    ? await import("../../src/runtime/deno.ts")
    : g.Bun !== undefined
      ? await import("../../src/runtime/bun.ts")
      : await import("../../src/runtime/node.ts");

const httpPort = Number(process.env.HTTP_PORT ?? 8080);
const peer = await startPeer({
  host: "127.0.0.1",
  port: Number(process.env.PEER_PORT ?? 8081),
  ...(process.env.PEERS === undefined ? {} : { peers: process.env.PEERS.split(",") }),
});

const fib = peer.cache.newGroup({
  name: "fib",
  codec: stringCodec,
  getter: (key) => {
    const n = Number(key);
    if (!Number.isInteger(n) || n < 0 || n > 10_000) throw new NotFoundError(`no Fibonacci number ${key}`);
    let [a, b] = [0n, 1n];
    for (let i = 0; i < n; i++) [a, b] = [b, a + b];
    return String(a);
  },
});

const app = new Hono();
app.get("/fib/:n", async (c) => {
  try {
    // The request's signal: a client that hangs up stops waiting (the load goes on for others).
    return c.text(await fib.get(c.req.param("n"), { signal: c.req.raw.signal }));
  } catch (error) {
    if (error instanceof GroupCacheError && error.code === "not-found") return c.text(error.message, 404);
    throw error;
  }
});
app.get("/stats", (c) => c.json({ self: peer.self, ...fib.stats }));

// Each runtime's own HTTP server; Hono's `fetch` is the same everywhere.
type Listening = { port: number; stop: () => Promise<void> | void };
async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<Listening> {
  const options = { hostname: "127.0.0.1", port: httpPort };
  if (g.Deno !== undefined) {
    const deno = g.Deno as { serve(o: object, f: typeof fetch): { addr: { port: number }; shutdown(): Promise<void> } };
    const server = deno.serve({ ...options, onListen: () => {} }, fetch);
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  if (g.Bun !== undefined) {
    const bun = g.Bun as { serve(o: object): { port: number; stop(): Promise<void> } };
    const server = bun.serve({ ...options, fetch });
    return { port: server.port, stop: () => server.stop() };
  }
  const { serve } = await import("@hono/node-server");
  return new Promise((resolve) => {
    const server = serve({ ...options, fetch }, (info) =>
      resolve({ port: info.port, stop: () => new Promise<void>((done) => server.close(() => done())) }),
    );
  });
}

const http = await listen(app.fetch);
const stop = async () => {
  await http.stop();
  await peer.close(); // leaves the ring, then closes
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
console.log(`listening on http://127.0.0.1:${http.port}, peer ${peer.self}`);
