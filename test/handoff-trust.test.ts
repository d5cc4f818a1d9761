import type * as http2 from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, test } from "vitest";
import { GroupCache as GroupCacheService } from "../src/gen/groupcachepb/groupcache_pb.ts";
import { type Peer, type StartPeerOptions, startPeer, stringCodec } from "../src/runtime/node.ts";
import { grpcPeerClient } from "../src/transport/grpc-peer-client.ts";
import { type WriteCaller, writeRefusal } from "../src/transport/write-trust.ts";

// Who may write into a peer's caches: a real HTTP/2 peer server on
// 127.0.0.1, whose ring holds only peers on 127.0.0.1, called from
// 127.0.0.1 (a ring peer's address) and from 127.0.0.9 (another loopback
// address, so not a peer). Node only (the client binds its local address).

const value = new TextEncoder().encode("handed-off value");
const entries = [{ group: "g", key: "k", value }];
const started: Peer[] = [];
const sessions: Http2SessionManager[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.abort();
  await Promise.all(started.splice(0).map((p) => p.close()));
});

/** A peer with group "g" whose getter counts its calls; alone in its ring (its own 127.0.0.1 id). */
async function peerWith(options: StartPeerOptions = {}) {
  const peer = await startPeer({ host: "127.0.0.1", peers: [], drainMs: 0, ...options });
  started.push(peer);
  let getterCalls = 0;
  const group = peer.cache.newGroup({
    name: "g",
    codec: stringCodec,
    getter: (key) => {
      getterCalls++;
      return `loaded ${key}`;
    },
  });
  return { peer, group, getterCalls: () => getterCalls };
}

/** A raw Connect client of `peer`'s service whose connection leaves from `localAddress`. */
function clientFrom(peer: Peer, localAddress: string) {
  const baseUrl = `http://${peer.self}`;
  // http2.connect passes socket options such as localAddress on to net.connect; its types do not list them.
  const sessionManager = new Http2SessionManager(baseUrl, undefined, { localAddress } as http2.ClientSessionOptions);
  sessions.push(sessionManager);
  return createClient(GroupCacheService, createGrpcTransport({ baseUrl, sessionManager }));
}

async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (error === undefined) throw new Error("the write was accepted");
  return error;
}

describe("Handoff over HTTP/2", () => {
  test("a caller that is not a ring peer (127.0.0.9) is refused with PERMISSION_DENIED and nothing is stored", async () => {
    const { peer, group, getterCalls } = await peerWith();
    const error = await refusal(clientFrom(peer, "127.0.0.9").handoff({ entries }));
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toBe(
      "write refused: the caller 127.0.0.9 is not the host of a peer in this peer's ring, and presented no client certificate",
    );
    expect(peer.cache.peek("g", "k")).toBeUndefined();
    expect(group.stats.handoffsStored).toBe(0);
    // The same call from a ring peer's address is stored, as if loaded: the get costs no getter call.
    const accepted = await clientFrom(peer, "127.0.0.1").handoff({ entries });
    expect({ stored: accepted.stored, skipped: accepted.skipped }).toEqual({ stored: 1, skipped: 0 });
    expect(await group.get("k")).toBe("handed-off value");
    expect(getterCalls()).toBe(0);
    expect(group.stats.handoffsStored).toBe(1);
  });

  test("our client: a held key and an unknown group are skipped, not errors", async () => {
    const { peer, group } = await peerWith();
    expect(await group.get("held")).toBe("loaded held");
    const client = grpcPeerClient()(peer.self);
    try {
      const result = await client.handoff?.(
        [
          { group: "g", key: "held", value },
          { group: "other", key: "k", value },
          { group: "g", key: "new", value },
        ],
        { signal: new AbortController().signal },
      );
      expect(result).toEqual({ stored: 1, skipped: 2 });
      expect(await group.get("held")).toBe("loaded held");
      expect(await group.get("new")).toBe("handed-off value");
    } finally {
      await client.close();
    }
  });

  test("with writes.token, a ring peer needs the token too; writes.handoff false refuses everyone", async () => {
    const { peer, group } = await peerWith({ writes: { token: "s3cret" } });
    const signal = new AbortController().signal;
    const without = grpcPeerClient()(peer.self);
    const wrong = grpcPeerClient({ token: "guess" })(peer.self);
    const right = grpcPeerClient({ token: "s3cret" })(peer.self);
    try {
      // Refused: our client reads PERMISSION_DENIED as "this peer takes no handoff", not as an error.
      expect(await without.handoff?.(entries, { signal })).toBeUndefined();
      expect(await wrong.handoff?.(entries, { signal })).toBeUndefined();
      expect(group.stats.handoffsStored).toBe(0);
      expect(await right.handoff?.(entries, { signal })).toEqual({ stored: 1, skipped: 0 });
      const error = await refusal(clientFrom(peer, "127.0.0.1").handoff({ entries }));
      expect([error.code, error.rawMessage]).toEqual([
        Code.PermissionDenied,
        "write refused: the write carries no groupcache-token header, and this peer requires one",
      ]);
    } finally {
      await Promise.all([without.close(), wrong.close(), right.close()]);
    }

    const closed = await peerWith({ writes: { handoff: false } });
    const off = await refusal(clientFrom(closed.peer, "127.0.0.1").handoff({ entries }));
    expect([off.code, off.rawMessage]).toEqual([
      Code.PermissionDenied,
      "write refused: this peer does not accept Handoff (writes.handoff is false)",
    ]);
  });
});

describe("writeRefusal", () => {
  const ringPeer = (ip: string) => ip === "10.0.0.1";
  const caller = (over: Partial<WriteCaller>): WriteCaller => ({
    remoteAddress: "10.0.0.1",
    tlsAuthorized: false,
    token: null,
    ...over,
  });

  test("the order: kind off, then token, then mTLS, then ring address", () => {
    expect(writeRefusal("handoff", caller({}), {}, ringPeer)).toBeUndefined();
    expect(writeRefusal("handoff", caller({ remoteAddress: "10.0.0.9" }), {}, ringPeer)).toMatch(
      /10\.0\.0\.9 is not the host of a peer/,
    );
    expect(
      writeRefusal("handoff", caller({ remoteAddress: "10.0.0.9", tlsAuthorized: true }), {}, ringPeer),
    ).toBeUndefined();
    expect(writeRefusal("handoff", caller({ tlsAuthorized: true }), { token: "t" }, ringPeer)).toMatch(
      /no groupcache-token header/,
    );
    expect(writeRefusal("handoff", caller({ token: "t" }), { token: "t" }, ringPeer)).toBeUndefined();
    expect(writeRefusal("handoff", caller({ token: "tt" }), { token: "t" }, ringPeer)).toMatch(
      /groupcache-token is wrong/,
    );
    expect(writeRefusal("handoff", caller({ token: "t" }), { handoff: false, token: "t" }, ringPeer)).toMatch(
      /writes\.handoff is false/,
    );
    // Invalidation is off unless turned on.
    expect(writeRefusal("invalidation", caller({}), {}, ringPeer)).toMatch(/writes\.invalidation is off/);
    expect(writeRefusal("invalidation", caller({}), { invalidation: true }, ringPeer)).toBeUndefined();
    expect(writeRefusal("handoff", caller({ remoteAddress: undefined }), {}, ringPeer)).toMatch(/address is unknown/);
  });
});
