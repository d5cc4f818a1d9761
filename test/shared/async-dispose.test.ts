import * as net from "node:net";
import { expect, test } from "vitest";
import { type Group, GroupCache, stringCodec } from "../../src/index.ts";
import type { Peer, StartPeerOptions } from "../../src/runtime/start-peer.ts";

// `await using` closes a GroupCache or a Peer when its scope ends, on every runtime.

async function runtimeStartPeer(): Promise<(options?: StartPeerOptions) => Promise<Peer>> {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return (await import("../../src/runtime/deno.ts")).startPeer;
  if (g.Bun !== undefined) return (await import("../../src/runtime/bun.ts")).startPeer;
  return (await import("../../src/runtime/node.ts")).startPeer;
}

test("await using closes a GroupCache at the end of its scope: later gets fail with closed", async () => {
  let group: Group<string, string> | undefined;
  {
    await using cache = new GroupCache();
    group = cache.newGroup({ name: "g", codec: stringCodec, getter: (k) => k });
    expect(await group.get("a")).toBe("a");
  }
  await expect(group.get("b")).rejects.toMatchObject({ code: "closed" });
});

/** Resolves with the error code of a TCP connection to `port` on loopback ("connected" if it succeeds). */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

test("await using stops a peer at the end of its scope: its cache is closed, its port refuses connections", async () => {
  const startPeer = await runtimeStartPeer();
  let outside: Peer | undefined;
  {
    await using peer = await startPeer({ host: "127.0.0.1" });
    outside = peer;
    const group = peer.cache.newGroup({ name: "g", codec: stringCodec, getter: (k) => k });
    expect(await group.get("x")).toBe("x");
    expect(await connectOutcome(peer.server.port)).toBe("connected");
  }
  await expect(outside.cache.getGroup("g")?.get("y")).rejects.toMatchObject({ code: "closed" });
  expect(await connectOutcome(outside.server.port)).toBe("ECONNREFUSED");
});
