import { afterAll, beforeAll, expect, test } from "vitest";
import { defaultEntryOverheadBytes } from "../src/core/defaults.ts";
import { Ring } from "../src/core/ring.ts";
import { type Cluster, startCluster } from "../src/testing/cluster.ts";
import type { PeerProcess } from "../src/testing/peer-process.ts";
import { expectedValue } from "../src/testing/protocol.ts";

// Peer 0 asks, peer 1 owns. Peer 0's groups mirror differently:
// "always" mirrors every fetched value, "qps" those whose owner reports
// at least 5 requests per minute in minute_qps.
let cluster: Cluster;
let asker: PeerProcess;
let owner: PeerProcess;
let ownedKeys: string[];
beforeAll(async () => {
  cluster = await startCluster({
    size: 2,
    config: (i) => ({
      groups: [
        { name: "always", hot: i === 0 ? "always" : "never" },
        { name: "qps", hot: i === 0 ? { qps: 5 } : "never" },
      ],
    }),
  });
  asker = cluster.peer(0);
  owner = cluster.peer(1);
  const ring = new Ring(cluster.ids);
  ownedKeys = Array.from({ length: 200 }, (_, i) => `hot-${i}`).filter((k) => ring.get(k) === owner.id);
});
afterAll(async () => {
  await cluster?.close();
});

async function getTimes(group: string, key: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    expect(await asker.request("get", { group, key })).toEqual({ ok: true, value: expectedValue(key) });
  }
}

test("hot cache: after one fetch, repeated gets of a peer-owned key are served locally", async () => {
  const key = ownedKeys[0] as string;
  await getTimes("always", key, 10);
  let s = await asker.request("stats", { group: "always" });
  expect(s.stats).toMatchObject({ gets: 10, cacheHits: 9, peerLoads: 1, localLoads: 0 });
  expect(s.hot).toMatchObject({
    items: 1,
    hits: 9,
    bytes: key.length + expectedValue(key).length + defaultEntryOverheadBytes,
  });
  expect(s.main).toMatchObject({ items: 0 });
  expect(s.getterTotal).toBe(0);

  await getTimes("always", key, 10);
  s = await asker.request("stats", { group: "always" });
  expect(s.stats).toMatchObject({ gets: 20, cacheHits: 19, peerLoads: 1 });
  const o = await owner.request("stats", { group: "always" });
  expect(o.stats).toMatchObject({ serverRequests: 1, localLoads: 1 });
  expect(o.getterCalls).toEqual({ [key]: 1 });
});

test("minute_qps drives mirroring: the key is mirrored once its owner reports 5 requests per minute", async () => {
  const key = ownedKeys[1] as string;
  await getTimes("qps", key, 8);
  const s = await asker.request("stats", { group: "qps" });
  // Fetches 1-4 report 1..4 requests per minute: not mirrored. Fetch 5
  // reports 5: mirrored, and gets 6-8 are local hits.
  expect(s.stats).toMatchObject({ gets: 8, peerLoads: 5, cacheHits: 3 });
  expect(s.hot).toMatchObject({ items: 1, hits: 3 });
  const o = await owner.request("stats", { group: "qps" });
  expect(o.stats).toMatchObject({ serverRequests: 5, cacheHits: 4, localLoads: 1 });
});
