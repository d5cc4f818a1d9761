import { afterEach, expect, test } from "vitest";
import { type Group, neverHot } from "../../src/index.ts";
import type { Peer, StartPeerOptions } from "../../src/runtime/start-peer.ts";

// Set and Remove over gRPC between two peers started by this runtime's
// entrypoint: the server must see the caller's address (its trust rule
// needs it) on Node's, Bun's and Deno's node:http2 alike.

async function runtimeStartPeer(): Promise<(options?: StartPeerOptions) => Promise<Peer>> {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return (await import("../../src/runtime/deno.ts")).startPeer;
  if (g.Bun !== undefined) return (await import("../../src/runtime/bun.ts")).startPeer;
  return (await import("../../src/runtime/node.ts")).startPeer;
}

const started: Peer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.close()));
});

async function pair(options: StartPeerOptions) {
  const startPeer = await runtimeStartPeer();
  const peers = [
    await startPeer({ host: "127.0.0.1", ...options }),
    await startPeer({ host: "127.0.0.1", ...options }),
  ];
  started.push(...peers);
  const ids = peers.map((p) => p.self);
  for (const p of peers) p.cache.setPeers(ids);
  let n = 0;
  const groups = peers.map((p) =>
    p.cache.newGroup({ name: "g", hotPolicy: neverHot, getter: (k: string) => `${k}#${++n}` }),
  ) as Group[];
  const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find(
    (k) => peers[0]?.cache.ownerOf(k) === ids[1],
  ) as string;
  return { groups: groups as [Group, Group], key };
}

test("remove and set reach the other peer, trusted as a host of the ring", async () => {
  const { groups, key } = await pair({ writes: { invalidation: true, token: "t0ken" } });
  expect((await groups[0].get(key)).toString()).toBe(`${key}#1`);
  const removed = await groups[0].remove(key);
  expect(removed.peers.map((p) => [p.owned, p.reached, p.removed, p.error?.message])).toEqual([
    [1, true, 1, undefined],
    [0, true, 0, undefined],
  ]);
  const bytes = Uint8Array.from([0, 255, 1, 254, 2]);
  const set = await groups[0].set(key, bytes, { ttlMs: 1_000 });
  expect(set.complete).toBe(true);
  expect(set.peers[0]).toMatchObject({ owned: 1, reached: true, stored: true });
  for (const g of groups) expect([...(await g.get(key)).toBytes()]).toEqual([...bytes]);
});

test("writes off: the other peer refuses with permission-denied", async () => {
  const { groups, key } = await pair({});
  const result = await groups[0].remove(key);
  expect(result.complete).toBe(false);
  expect(result.peers[0]?.error?.code).toBe("permission-denied");
});
