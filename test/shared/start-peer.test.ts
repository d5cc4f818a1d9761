import { afterEach, describe, expect, test } from "vitest";
import { neverHot } from "../../src/index.ts";
import type { Peer, StartPeerOptions } from "../../src/runtime/start-peer.ts";

/** The entrypoint of the runtime this suite runs under: each must start a working peer. */
async function runtimeEntry(): Promise<{ name: string; startPeer: (options?: StartPeerOptions) => Promise<Peer> }> {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return { name: "deno", ...(await import("../../src/runtime/deno.ts")) };
  if (g.Bun !== undefined) return { name: "bun", ...(await import("../../src/runtime/bun.ts")) };
  return { name: "node", ...(await import("../../src/runtime/node.ts")) };
}

const started: Peer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.close()));
});

describe("startPeer (this runtime's entrypoint)", () => {
  test("two peers share keys by owner: each key is loaded once, by its owner", async () => {
    const { startPeer } = await runtimeEntry();
    // No drain: nobody routes to them after the test (the default, 20 s, is for Kubernetes).
    const a = await startPeer({ host: "127.0.0.1", drainMs: 0 });
    const b = await startPeer({ host: "127.0.0.1", drainMs: 0 });
    started.push(a, b);
    expect(a.self).toBe(`127.0.0.1:${a.server.port}`);
    const loads = new Map<string, string[]>();
    for (const peer of [a, b]) {
      peer.cache.newGroup({
        name: "g",
        getter: (key) => {
          loads.set(key, [...(loads.get(key) ?? []), peer.self]);
          return `value of ${key}`;
        },
      });
      peer.cache.setPeers([a.self, b.self]);
    }
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const ga = a.cache.getGroup("g");
    const gb = b.cache.getGroup("g");
    const values = await Promise.all(keys.flatMap((k) => [ga?.get(k), gb?.get(k), ga?.get(k)]));
    expect(values.map(String)).toEqual(keys.flatMap((k) => [`value of ${k}`, `value of ${k}`, `value of ${k}`]));
    for (const key of keys) expect(loads.get(key)).toEqual([a.cache.ownerOf(key)]);
    const remote = keys.filter((k) => a.cache.ownerOf(k) === b.self).length;
    expect(remote).toBeGreaterThan(0);
    expect(remote).toBeLessThan(keys.length);
    expect(ga?.stats.peerLoads).toBeGreaterThanOrEqual(remote);
    expect(gb?.stats.serverRequests).toBeGreaterThanOrEqual(remote);
  });

  test("close leaves the ring first, then stops serving; a closed owner means local loads, not errors", async () => {
    const { startPeer } = await runtimeEntry();
    const a = await startPeer({ host: "127.0.0.1", peers: [], drainMs: 0 });
    const b = await startPeer({ host: "127.0.0.1", drainMs: 0 });
    started.push(a);
    let bLoads = 0;
    let aLoads = 0;
    a.cache.newGroup({
      name: "g",
      // No mirror in a's hot cache: the handoff below would find the key held and skip it.
      hotPolicy: neverHot,
      getter: (k) => {
        aLoads++;
        return `a:${k}`;
      },
    });
    b.cache.newGroup({
      name: "g",
      getter: (k) => {
        bLoads++;
        return `b:${k}`;
      },
    });
    a.cache.setPeers([a.self, b.self]);
    b.cache.setPeers([a.self, b.self]);
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => a.cache.ownerOf(k) === b.self) as string;
    expect(String(await a.cache.getGroup("g")?.get(key))).toBe(`b:${key}`);
    await b.close();
    expect(b.cache.peers).toEqual([]);
    // Before closing, b handed the key it held to its new owner, a: a has it without a load.
    expect(b.handoff).toMatchObject({ sent: 1, stored: 1, complete: true, unsupportedPeers: [] });
    expect(String(await a.cache.getGroup("g")?.get(key))).toBe(`b:${key}`);
    // a still lists b: the fetch fails (connection refused), a loads the key itself.
    const other = Array.from({ length: 200 }, (_, i) => `x${i}`).find((k) => a.cache.ownerOf(k) === b.self) as string;
    expect(String(await a.cache.getGroup("g")?.get(other))).toBe(`a:${other}`);
    expect(a.cache.getGroup("g")?.stats.peerErrors).toBe(1);
    expect([aLoads, bLoads]).toEqual([1, 1]);
  });

  test("a wildcard listen address without advertiseHost or self is refused with a clear error", async () => {
    const { startPeer } = await runtimeEntry();
    await expect(startPeer({ host: "0.0.0.0" })).rejects.toThrow(/set advertiseHost \(e\.g\. the pod IP\) or self/);
  });

  test("without a host it listens on 127.0.0.1, as startPeerServer does, and is its own id there", async () => {
    const { startPeer } = await runtimeEntry();
    const peer = await startPeer();
    started.push(peer);
    expect(peer.server.host).toBe("127.0.0.1");
    expect(peer.self).toBe(`127.0.0.1:${peer.server.port}`);
  });
});
