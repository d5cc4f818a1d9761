import * as net from "node:net";
import { afterEach, expect, test } from "vitest";
import { GroupCache, neverHot, stringCodec } from "../src/index.ts";
import { grpcPeerClient } from "../src/transport/index.ts";

// A peer that accepts connections and then says nothing, as a stopped
// process does (its kernel completes the TCP handshake): on either client
// path, its silence is noticed by an unanswered HTTP/2 PING, the gets in
// flight to it are loaded locally (once per key), and so are its keys from
// then on, without waiting for any deadline. Node only (raw sockets).

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

/** A TCP server on 127.0.0.1:0 that never writes a byte. */
async function silentPeer(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  open.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

test.each([
  ["GetStream", true],
  ["unary Get", false],
])("%s: gets of a silent peer's keys are loaded locally once the PING goes unanswered", async (_, stream) => {
  const silent = await silentPeer();
  const self = "127.0.0.1:1";
  const cache = new GroupCache({ self, peerClient: grpcPeerClient({ stream }) });
  open.push(() => cache.close());
  cache.setPeers([self, silent]);
  const loads: string[] = [];
  const group = cache.newGroup<string, string>({
    name: "g",
    codec: stringCodec,
    hotPolicy: neverHot,
    getter: (key) => {
      loads.push(key);
      return `local ${key}`;
    },
  });
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`).filter((k) => cache.ownerOf(k) === silent);
  const [later, ...first] = keys.slice(0, 6) as [string, ...string[]];

  const started = performance.now();
  const values = await Promise.all(first.flatMap((k) => [group.get(k), group.get(k), group.get(k)]));
  // No deadline anywhere but the client's 35 s: the PING decided (5 × 1 s on a connection that never answered).
  expect(performance.now() - started).toBeLessThan(15_000);
  expect(values).toEqual(first.flatMap((k) => Array(3).fill(`local ${k}`)));
  expect(loads).toEqual(first);
  expect(group.stats).toMatchObject({ peerErrors: first.length, localLoads: first.length, peerLoads: 0 });
  expect(cache.peerStates().map(({ peer, state, reason }) => ({ peer, state, reason }))).toEqual([
    {
      peer: silent,
      state: "down",
      reason: `peer ${silent}: no answer to an HTTP/2 PING within 5000 ms (5 × pingTimeoutMs on a connection that never answered)`,
    },
  ]);

  // Out of routing: a key it owns is loaded here without asking it.
  expect(await group.get(later)).toBe(`local ${later}`);
  expect(group.stats).toMatchObject({ peerErrors: first.length, localLoads: first.length + 1 });
});
