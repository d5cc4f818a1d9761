import { readFileSync } from "node:fs";
import type * as http2 from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, expect, test } from "vitest";
import { GroupCache as GroupCacheService } from "../src/gen/groupcachepb/groupcache_pb.ts";
import { type Group, GroupCache, neverHot, stringCodec } from "../src/index.ts";
import { startPeer } from "../src/runtime/node.ts";
import type { Peer, StartPeerOptions } from "../src/runtime/start-peer.ts";
import { grpcPeerClient, startPeerServer } from "../src/transport/index.ts";
import { type WriteCaller, writeRefusal } from "../src/transport/write-trust.ts";

// Who may write into a peer's caches, over real HTTP/2 servers on
// loopback: Set and Remove are refused (PERMISSION_DENIED) unless the
// receiver enables them, and then accepted only from its ring's hosts or
// mTLS-authorized callers, with the token when one is configured. The
// ring lives on 127.0.0.1; a stranger connects from 127.0.0.9. Node only
// (it binds a client socket to a second loopback address).

const fixtures = new URL("./fixtures/tls/", import.meta.url);
const cert = readFileSync(new URL("cert.pem", fixtures));
const key = readFileSync(new URL("key.pem", fixtures));

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((close) => close()));
});

/** Two started peers in one ring, each with group "g" whose getter answers `<key>#<n>` (n counts its calls there). */
async function pair(a: StartPeerOptions, b: StartPeerOptions = a) {
  const peers = [await startPeer({ host: "127.0.0.1", ...a }), await startPeer({ host: "127.0.0.1", ...b })];
  closing.push(...peers.map((p) => () => p.close()));
  const ids = peers.map((p) => p.self);
  for (const p of peers) p.cache.setPeers(ids);
  let n = 0;
  const groups = peers.map((p) =>
    p.cache.newGroup({ name: "g", codec: stringCodec, hotPolicy: neverHot, getter: (k: string) => `${k}#${++n}` }),
  ) as [Group<string, string>, Group<string, string>];
  /** A key owned by peer `i`. */
  const ownedBy = (i: number) => {
    for (let k = 0; k < 1000; k++) if (peers[0]?.cache.ownerOf(`k${k}`) === ids[i]) return `k${k}`;
    throw new Error("no key");
  };
  return { peers: peers as [Peer, Peer], groups, ownedBy };
}

/** A raw client of `peer` whose connection leaves from `localAddress`, with `headers` on every call. */
function stranger(
  peer: Peer,
  localAddress: string,
  options: { headers?: Record<string, string>; tls?: http2.SecureClientSessionOptions } = {},
) {
  const baseUrl = `${options.tls === undefined ? "http" : "https"}://${peer.self}`;
  // net.connect's localAddress, which http2.connect passes on.
  const connect = { ...options.tls, localAddress } as http2.SecureClientSessionOptions;
  const sessionManager = new Http2SessionManager(baseUrl, undefined, connect);
  closing.push(async () => sessionManager.abort());
  const client = createClient(GroupCacheService, createGrpcTransport({ baseUrl, sessionManager }));
  const call = { headers: options.headers ?? {} };
  return {
    remove: (keys: string[]) => client.remove({ group: "g", keys }, call),
    set: (k: string, value: string) => client.set({ group: "g", key: k, value: new TextEncoder().encode(value) }, call),
  };
}

/** The ConnectError a call rejected with. */
async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call was accepted");
}

test("writes enabled on both peers: a remove from one reaches the other, which drops its copy", async () => {
  const { groups, ownedBy } = await pair({ writes: { invalidation: true } });
  const k = ownedBy(1);
  expect(await groups[0].get(k)).toBe(`${k}#1`);
  const result = await groups[0].remove(k);
  expect(result.complete).toBe(true);
  expect(result.peers.map((p) => [p.owned, p.reached, p.removed])).toEqual([
    [1, true, 1],
    [0, true, 0],
  ]);
  expect(await groups[0].get(k)).toBe(`${k}#2`);
  const set = await groups[0].set(k, "mine", { ttlMs: 60_000 });
  expect(set.peers[0]).toMatchObject({ owned: 1, reached: true, stored: true });
  expect(await groups[1].get(k)).toBe("mine");
  expect(await groups[0].get(k)).toBe("mine");
});

test("writes off (the default): the other peer refuses with permission-denied, reported, its copy kept", async () => {
  const { groups, ownedBy } = await pair({});
  const k = ownedBy(1);
  expect(await groups[0].get(k)).toBe(`${k}#1`);
  const result = await groups[0].remove(k);
  expect(result.complete).toBe(false);
  const owner = result.peers[0];
  expect(owner).toMatchObject({ owned: 1, reached: false, removed: 0 });
  expect(owner?.error?.code).toBe("permission-denied");
  expect(owner?.error?.message).toMatch(
    /write refused: this peer does not accept Set or Remove \(writes.invalidation is off/,
  );
  expect(result.peers[1]).toMatchObject({ self: true, reached: true });
  expect(await groups[1].get(k)).toBe(`${k}#1`); // still cached on its owner
});

test("a caller that is not a ring host is refused, even with writes on; a ring host is not", async () => {
  const { peers, groups, ownedBy } = await pair({ writes: { invalidation: true } });
  const k = ownedBy(1);
  expect(await groups[1].get(k)).toBe(`${k}#1`);
  const far = stranger(peers[1], "127.0.0.9");
  for (const call of [far.remove([k]), far.set(k, "poison")]) {
    const error = await refusal(call);
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toBe(
      "write refused: the caller 127.0.0.9 is not the host of a peer in this peer's ring, and presented no client certificate",
    );
  }
  expect(await groups[1].get(k)).toBe(`${k}#1`);
  const near = stranger(peers[1], "127.0.0.1");
  expect((await near.remove([k])).removed).toBe(1);
});

test("token: a write without it or with a wrong one is refused; with it, from a ring host, accepted", async () => {
  const { peers, groups, ownedBy } = await pair({ writes: { invalidation: true, token: "s3cret" } });
  const k = ownedBy(1);
  await groups[1].get(k);
  const none = await refusal(stranger(peers[1], "127.0.0.1").remove([k]));
  expect([none.code, none.rawMessage]).toEqual([
    Code.PermissionDenied,
    "write refused: the write carries no groupcache-token header, and this peer requires one",
  ]);
  const wrong = await refusal(
    stranger(peers[1], "127.0.0.1", { headers: { "groupcache-token": "s3cre7" } }).remove([k]),
  );
  expect(wrong.rawMessage).toBe("write refused: the write's groupcache-token is wrong");
  // The right token does not make a stranger a peer.
  const far = await refusal(stranger(peers[1], "127.0.0.9", { headers: { "groupcache-token": "s3cret" } }).remove([k]));
  expect(far.rawMessage).toMatch(/the caller 127.0.0.9 is not the host of a peer/);
  expect(await groups[1].get(k)).toBe(`${k}#1`);
  // Peers send writes.token themselves.
  const result = await groups[0].remove(k);
  expect(result.complete).toBe(true);
  expect(result.peers[0]).toMatchObject({ reached: true, removed: 1 });
});

test("a peer whose client sends the wrong token is reported as refused by the others", async () => {
  const { groups, ownedBy } = await pair(
    { writes: { invalidation: true, token: "s3cret" }, client: { token: "other" } },
    { writes: { invalidation: true, token: "s3cret" } },
  );
  const result = await groups[0].remove(ownedBy(1));
  expect(result.peers[0]?.error?.code).toBe("permission-denied");
  expect(result.peers[0]?.error?.message).toMatch(/groupcache-token is wrong/);
});

test("mTLS: a caller whose certificate the server verified is trusted from any address", async () => {
  const tlsServer = { cert, key, ca: cert, requestCert: true, rejectUnauthorized: false };
  const options: StartPeerOptions = {
    writes: { invalidation: true },
    server: { tls: tlsServer },
    client: { tls: { ca: cert, cert, key } },
  };
  const { peers, groups, ownedBy } = await pair(options);
  const k = ownedBy(1);
  await groups[1].get(k);
  const anonymous = await refusal(stranger(peers[1], "127.0.0.9", { tls: { ca: cert } }).remove([k]));
  expect(anonymous.rawMessage).toMatch(
    /the caller 127.0.0.9 is not the host of a peer in this peer's ring, and presented no client certificate/,
  );
  const authorized = stranger(peers[1], "127.0.0.9", { tls: { ca: cert, cert, key } });
  expect((await authorized.remove([k])).removed).toBe(1);
  expect((await authorized.set(k, "from a certified caller")).stored).toBe(true);
  expect(await groups[1].get(k)).toBe("from a certified caller");
});

test("partial failures over gRPC: a dead peer unavailable, a peer without Set/Remove (as Go's) unimplemented", async () => {
  const old = new GroupCache();
  old.newGroup({ name: "g", getter: () => "old" });
  // A peer that serves Get only, as Go's gRPC fork and older versions do.
  const goLike = await startPeerServer({ serve: (g, k, o) => old.serve(g, k, o) }, { host: "127.0.0.1" });
  const dead = await startPeerServer({ serve: (g, k, o) => old.serve(g, k, o) }, { host: "127.0.0.1" });
  await dead.close();
  closing.push(
    () => goLike.close(),
    () => old.close(),
  );
  const cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient({ timeoutMs: 5_000 }) });
  closing.push(() => cache.close());
  const g = cache.newGroup({ name: "g", codec: stringCodec, getter: (k) => k });
  cache.setPeers(["127.0.0.1:1", goLike.id, dead.id]);
  const result = await g.removeKeys(["a", "b", "c", "d"]);
  expect(result.complete).toBe(false);
  const rows = Object.fromEntries(result.peers.map((p) => [p.peer, p]));
  expect(rows[goLike.id]?.reached).toBe(false);
  expect(rows[goLike.id]?.error?.code).toBe("unimplemented");
  expect(rows[dead.id]?.reached).toBe(false);
  expect(rows[dead.id]?.error?.code).toBe("unavailable");
  expect(rows["127.0.0.1:1"]).toMatchObject({ self: true, reached: true });
});

test("writeRefusal follows the documented order", () => {
  const caller = (c: Partial<WriteCaller>): WriteCaller => ({
    remoteAddress: "10.0.0.1",
    tlsAuthorized: false,
    token: null,
    ...c,
  });
  const ring = (ip: string) => ip === "10.0.0.1";
  expect(writeRefusal("invalidation", caller({}), {}, ring)).toMatch(/writes.invalidation is off/);
  expect(writeRefusal("handoff", caller({}), {}, ring)).toBeUndefined();
  expect(writeRefusal("handoff", caller({}), { handoff: false }, ring)).toMatch(/does not accept Handoff/);
  const on = { invalidation: true };
  expect(writeRefusal("invalidation", caller({}), on, ring)).toBeUndefined();
  expect(writeRefusal("invalidation", caller({ remoteAddress: "10.0.0.2" }), on, ring)).toMatch(
    /not the host of a peer/,
  );
  expect(writeRefusal("invalidation", caller({ remoteAddress: undefined }), on, ring)).toMatch(/address is unknown/);
  expect(
    writeRefusal("invalidation", caller({ remoteAddress: "10.0.0.2", tlsAuthorized: true }), on, ring),
  ).toBeUndefined();
  const token = { invalidation: true, token: "t" };
  expect(writeRefusal("invalidation", caller({ tlsAuthorized: true }), token, ring)).toMatch(/no groupcache-token/);
  expect(writeRefusal("invalidation", caller({ token: "x" }), token, ring)).toMatch(/token is wrong/);
  expect(writeRefusal("invalidation", caller({ token: "t" }), token, ring)).toBeUndefined();
});

test("writes options are checked at start", async () => {
  await expect(startPeer({ writes: { invalidation: "yes" as unknown as boolean } })).rejects.toThrow(
    /startPeerServer: writes.invalidation must be true or false, got "yes"/,
  );
  await expect(startPeer({ writes: { token: "" } })).rejects.toThrow(/writes.token must be a non-empty string/);
  expect(() => grpcPeerClient({ token: 7 as unknown as string })).toThrow(
    /grpcPeerClient: token must be a non-empty string, got 7/,
  );
});
