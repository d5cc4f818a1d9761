import type { Buffer } from "node:buffer";
import type * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { afterEach, expect, test } from "vitest";
import { GetStreamRequestSchema } from "../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCache, NotFoundError, neverHot, stringCodec } from "../src/index.ts";
import { GrpcFrameReader } from "../src/transport/grpc/grpc-frame-reader.ts";
import { grpcPeerClient } from "../src/transport/index.ts";
import { keysOwnedBy, startInProcessPeer } from "./support/in-process-peer.ts";

// Group.getMany against two real owners over HTTP/2: the keys each owner is
// asked for travel in one GetStream message, and every key has its own result.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The keys of every GetStream request message the server receives, one array per message. */
function watchMessages(server: http2.Http2Server | http2.Http2SecureServer): string[][] {
  const messages: string[][] = [];
  server.on("stream", (stream, headers) => {
    if (headers[":path"] !== "/groupcachepb.GroupCache/GetStream") return;
    const reader = new GrpcFrameReader(8 << 20);
    stream.on("data", (chunk: Buffer) =>
      reader.push(chunk, (buf, start, end) => {
        messages.push(fromBinary(GetStreamRequestSchema, buf.subarray(start, end)).gets.map((g) => g.key));
      }),
    );
  });
  return messages;
}

/** Every process's getter: `missing*` is not found, `boom*` fails, the rest is `v:<key>`. */
function getterOf(calls: string[]) {
  return (key: string) => {
    calls.push(key);
    if (key.startsWith("missing")) throw new NotFoundError(`no row ${key}`);
    if (key.startsWith("boom")) throw new Error("database down");
    return `v:${key}`;
  };
}

test("getMany asks each owner once, in one message, and settles every key on its own, in order", async () => {
  const owners = [await startInProcessPeer(), await startInProcessPeer()] as const;
  const ownerCalls: string[][] = [[], []];
  const messages = owners.map((owner, i) => {
    cleanups.push(() => owner.close());
    owner.cache.newGroup({ name: "g", codec: stringCodec, hotPolicy: neverHot, getter: getterOf(ownerCalls[i] ?? []) });
    return watchMessages(owner.server.server);
  });
  const self = "127.0.0.1:1"; // this process serves nobody in this test: its id is never dialled
  const cache = new GroupCache({ self, peerClient: grpcPeerClient() });
  cleanups.push(() => cache.close());
  const localCalls: string[] = [];
  const group = cache.newGroup({ name: "g", codec: stringCodec, hotPolicy: neverHot, getter: getterOf(localCalls) });
  cache.setPeers([self, owners[0].id, owners[1].id]);

  const [b, c] = owners.map((o) => keysOwnedBy(cache, o.id, 4, "k")) as [string[], string[]];
  const local = keysOwnedBy(cache, self, 2, "k");
  const [missing] = keysOwnedBy(cache, owners[0].id, 1, "missing");
  const [boom] = keysOwnedBy(cache, owners[1].id, 1, "boom");
  const keys = [...(b.slice(0, 2) as string[]), ...local, missing, ...c, boom, ...b.slice(2)] as string[];

  const results = await group.getMany(keys);

  expect(results).toEqual(
    keys.map((key) => {
      if (key === missing) return { key, ok: false, error: expect.objectContaining({ code: "not-found" }) };
      if (key === boom) return { key, ok: false, error: expect.objectContaining({ code: "load-failed" }) };
      return { key, ok: true, value: `v:${key}` };
    }),
  );
  // One message per owner, holding exactly the keys it owns.
  expect(messages[0]?.map((m) => m.toSorted())).toEqual([[...b, missing].toSorted()]);
  expect(messages[1]?.map((m) => m.toSorted())).toEqual([[...c, boom].toSorted()]);
  // Each key loaded once by its owner; the failed one again here (a peer error
  // falls back to the local getter), the not-found one not (it is an answer).
  expect(ownerCalls[0]?.toSorted()).toEqual([...b, missing].toSorted());
  expect(ownerCalls[1]?.toSorted()).toEqual([...c, boom].toSorted());
  expect(localCalls.toSorted()).toEqual([...local, boom].toSorted());
});

test("getMany of no keys is empty; a string or a non-string key is a bad call, not a per-key result", async () => {
  const cache = new GroupCache();
  cleanups.push(() => cache.close());
  const group = cache.newGroup({ name: "g", codec: stringCodec, getter: (key) => key });
  expect(await group.getMany([])).toEqual([]);
  await expect(group.getMany("ab" as unknown as string[])).rejects.toMatchObject({
    code: "invalid-argument",
    message: expect.stringContaining(
      'getMany: keys must be an array (or other iterable) of strings, got the string "ab"',
    ),
  });
  await expect(group.getMany(["a", 1 as unknown as string])).rejects.toMatchObject({ code: "invalid-argument" });
  // A key the group refuses (a lone surrogate) fails alone.
  const results = await group.getMany(["a", "\uD800"]);
  expect(results[0]).toEqual({ key: "a", ok: true, value: "a" });
  expect(results[1]).toMatchObject({ key: "\uD800", ok: false, error: { code: "invalid-argument" } });
});
