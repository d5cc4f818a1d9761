import { afterEach, expect, test } from "vitest";
import { countingGetter, type InProcessPeer, keysOwnedBy, startPeerPair, text } from "../support/in-process-peer.ts";

// An owner whose server allows few streams per connection
// (`maxConcurrentStreams`), and a caller with one unary Get per key: a
// burst on a fresh connection goes out before the owner's SETTINGS say
// how many streams it takes, and the owner refuses the excess with
// RST_STREAM REFUSED_STREAM, which HTTP/2 says the client may retry (the
// server did not process them). The caller retries them: every key is
// fetched from the owner, none loaded twice. Real HTTP/2 servers.

const open: InProcessPeer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

test("a burst of unary Gets past the owner's maxConcurrentStreams: refused streams are retried, each key loaded once, by its owner", async () => {
  const [a, b] = await startPeerPair(open, { client: { stream: false } }, { server: { maxConcurrentStreams: 4 } });
  const local = countingGetter();
  const remote = countingGetter();
  const groupA = a.cache.newGroup({ name: "g", getter: local.getter, hotPolicy: () => false });
  b.cache.newGroup({ name: "g", getter: remote.getter });
  const keys = keysOwnedBy(a.cache, b.id, 60);
  const values = await Promise.all(keys.map((key) => groupA.get(key)));
  expect(values.map(text)).toEqual(keys.map((key) => `v:${key}`));
  expect(local.total()).toBe(0);
  expect([remote.total(), remote.calls.size]).toEqual([keys.length, keys.length]);
  expect(groupA.stats.peerErrors).toBe(0);
});
