/**
 * One peer of a hand-run cluster. Start three, in three terminals:
 *
 *   npx node examples/cluster/peer.ts 127.0.0.1:8001 127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003
 *   npx node examples/cluster/peer.ts 127.0.0.1:8002 127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003
 *   npx node examples/cluster/peer.ts 127.0.0.1:8003 127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003
 *
 * then type keys into any of them: each key is loaded once, by its owner,
 * whichever peer you ask. `stats` prints the group's counters; Ctrl-D quits
 * (after the gets still in flight have answered, so `echo key | node ...`
 * works too).
 *
 * It needs Node ≥ 22.6 (TypeScript type stripping, and what
 * `@connectrpc/connect-node` needs). Where the system's Node is older, use
 * the one this repository installs: `npx node examples/cluster/peer.ts ...`.
 */
import { createInterface } from "node:readline";
import { GroupCache, stringCodec } from "../../src/index.ts";
import { grpcPeerClient, parsePeerId, startPeerServer } from "../../src/transport/index.ts";

const [self, list] = process.argv.slice(2);
if (self === undefined || list === undefined) {
  console.error("usage: npx node examples/cluster/peer.ts <self host:port> <all peers, comma-separated>");
  process.exit(2);
}

const cache = new GroupCache({ self, peerClient: grpcPeerClient() });
const { host, port } = parsePeerId(self);
const server = await startPeerServer(cache, { host, port });
cache.setPeers(list.split(","));

const greetings = cache.newGroup({
  name: "greetings",
  codec: stringCodec,
  getter: async (key) => {
    console.log(`  (loading ${JSON.stringify(key)} here, on ${self})`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // a slow database
    return `hello ${key}, from ${self} at ${new Date().toISOString()}`;
  },
});

console.log(`peer ${server.id} serving /groupcachepb.GroupCache/Get; peers: ${cache.peers.join(" ")}`);
const lines = createInterface({ input: process.stdin, output: process.stdout, prompt: "key> " });
// Gets still answering: when input ends, they finish before the peer stops.
const inFlight = new Set<Promise<void>>();
let inputClosed = false;
lines.prompt();
lines.on("line", (line) => {
  const key = line.trim();
  if (key === "stats") console.log(greetings.stats);
  if (key === "stats" || key === "") return lines.prompt();
  const answered = greetings.get(key).then(
    (value) => console.log(`${value}   (owner: ${cache.ownerOf(key)})`),
    (error: unknown) => console.log(`error: ${(error as Error).message}`),
  );
  inFlight.add(answered);
  void answered.finally(() => {
    inFlight.delete(answered);
    // A closed readline throws on prompt (ERR_USE_AFTER_CLOSE).
    if (!inputClosed) lines.prompt();
  });
});
lines.on("close", async () => {
  inputClosed = true;
  await Promise.allSettled(inFlight);
  await cache.close();
  await server.close();
});
