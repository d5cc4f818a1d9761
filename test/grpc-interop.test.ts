import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, test } from "vitest";
import {
  GetResponseSchema,
  type GetStreamRequest,
  GetStreamRequestSchema,
  type GetStreamResponse,
  GetStreamResponseSchema,
} from "../src/gen/groupcachepb/groupcache_pb.ts";
import { GroupCache, GroupCacheError, NotFoundError } from "../src/index.ts";
import { grpcPeerClient } from "../src/transport/index.ts";
import { grpcJsClient, startGrpcJsServer, statusOf } from "./support/grpc-js-service.ts";
import { deferred, type InProcessPeer, keysOwnedBy, startInProcessPeer, text } from "./support/in-process-peer.ts";

// @grpc/grpc-js is an independent gRPC implementation: if it and our
// Connect-based peers understand each other on /groupcachepb.GroupCache/Get,
// so does the Go gRPC fork, which uses the same contract.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("a grpc-js client calls our server", () => {
  async function ourServer(): Promise<InProcessPeer> {
    const peer = await startInProcessPeer();
    cleanups.push(() => peer.close());
    peer.cache.newGroup({
      name: "g",
      getter: (key) => {
        if (key.startsWith("missing")) throw new NotFoundError(`no such row: ${key}`);
        if (key === "boom") throw new Error("database down");
        return `v:${key}`;
      },
    });
    return peer;
  }

  test("Get returns the value bytes and the key's minute_qps", async () => {
    const peer = await ourServer();
    const client = grpcJsClient(peer.id);
    cleanups.push(() => client.close());
    const first = await client.get("g", "k");
    expect(text(first.value)).toBe("v:k");
    expect(first.minuteQps).toBe(1);
    expect((await client.get("g", "k")).minuteQps).toBe(2);
    expect(peer.served).toEqual(["ok", "ok"]);
  });

  test("errors come back as the documented gRPC codes, with the message", async () => {
    const peer = await ourServer();
    const client = grpcJsClient(peer.id);
    cleanups.push(() => client.close());
    const fail = (group: string, key: string) => client.get(group, key).then(() => undefined, statusOf);
    expect(await fail("g", "missing-1")).toEqual({ code: grpc.status.NOT_FOUND, details: "no such row: missing-1" });
    // A genuine not-found is marked, so callers tell it from a peer without the group.
    const marked = await client.get("g", "missing-2").then(
      () => undefined,
      (e: grpc.ServiceError) => e.metadata.get("groupcache-not-found"),
    );
    expect(marked).toEqual(["getter"]);
    expect(await fail("nope", "k")).toEqual({
      code: grpc.status.FAILED_PRECONDITION,
      details: `no group named "nope" on peer "${peer.id}"`,
    });
    expect(await fail("g", "boom")).toEqual({
      code: grpc.status.UNKNOWN,
      details: 'group "g": getter failed for key "boom": database down',
    });
  });
});

describe("our client calls a grpc-js server that serves only Get (as Go's gRPC fork does)", () => {
  const seen: { key: string; deadline: number }[] = [];
  let hangReceived = deferred<void>();
  let hangCancelled = deferred<void>();
  async function grpcJsOwner() {
    seen.length = 0;
    hangReceived = deferred<void>();
    hangCancelled = deferred<void>();
    const server = await startGrpcJsServer((call, callback) => {
      const key = call.request.key;
      const deadline = call.getDeadline();
      const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
      seen.push({ key, deadline: at - Date.now() });
      // As Go's gRPC fork answers an unknown group: NOT_FOUND, no mark.
      if (key === "missing") return callback({ code: grpc.status.NOT_FOUND, details: "group g not found" });
      if (key === "marked-missing") {
        const metadata = new grpc.Metadata();
        metadata.set("groupcache-not-found", "getter");
        return callback({ code: grpc.status.NOT_FOUND, details: "not here", metadata });
      }
      if (key === "down") return callback({ code: grpc.status.UNAVAILABLE, details: "backend down" });
      if (key === "hang") {
        call.on("cancelled", () => hangCancelled.resolve());
        hangReceived.resolve();
        return;
      }
      callback(
        null,
        create(GetResponseSchema, { value: new TextEncoder().encode(`grpc-js:${call.request.group}/${key}`) }),
      );
    });
    cleanups.push(() => server.close());
    const client = grpcPeerClient()(server.id);
    cleanups.push(() => client.close());
    return { id: server.id, client };
  }
  const signal = () => new AbortController().signal;

  test("GetStream is answered UNIMPLEMENTED: keys asked together all fall back to Get, and later keys go straight to Get", async () => {
    const { client } = await grpcJsOwner();
    const keys = ["a", "b", "c", "d"];
    const values = await Promise.all(keys.map((k) => client.get("g", k, { signal: signal() })));
    expect(values.map((v) => text(v.value))).toEqual(keys.map((k) => `grpc-js:g/${k}`));
    expect(text((await client.get("g", "e", { signal: signal() })).value)).toBe("grpc-js:g/e");
    expect(seen.map((s) => s.key).toSorted()).toEqual(["a", "b", "c", "d", "e"]);
  });

  test("Get: value copied out, minute_qps 0 means not reported, the deadline is sent", async () => {
    const { client } = await grpcJsOwner();
    const result = await client.get("g", "k", { signal: signal() });
    expect(text(result.value)).toBe("grpc-js:g/k");
    expect(result).not.toHaveProperty("minuteQps");
    expect(seen).toHaveLength(1);
    // grpcPeerClient's default timeoutMs (35 s) travels as grpc-timeout.
    expect(seen[0]?.deadline).toBeGreaterThan(30_000);
    expect(seen[0]?.deadline).toBeLessThanOrEqual(35_000);
  });

  test("NOT_FOUND marked by a getter becomes NotFoundError; unmarked (Go's unknown group) unknown-group; UNAVAILABLE unavailable", async () => {
    const { id, client } = await grpcJsOwner();
    const marked = await client.get("g", "marked-missing", { signal: signal() }).catch((e: unknown) => e);
    expect(marked).toBeInstanceOf(NotFoundError);
    expect((marked as NotFoundError).message).toBe(`peer ${id}: not here`);
    const unmarked = await client.get("g", "missing", { signal: signal() }).catch((e: unknown) => e);
    expect(unmarked).not.toBeInstanceOf(NotFoundError);
    expect(unmarked).toMatchObject({
      code: "unknown-group",
      message: `peer ${id}: NOT_FOUND without a groupcache-not-found trailer, taken as a peer without the group (as Go's gRPC fork answers one): group g not found`,
    });
    const down = await client.get("g", "down", { signal: signal() }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(GroupCacheError);
    expect(down).toMatchObject({ code: "unavailable", message: `peer ${id}: backend down` });
  });

  test("a key whose owner answers like Go's fork for a group it lacks is loaded locally, once", async () => {
    const { id } = await grpcJsOwner();
    const cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient() });
    cleanups.push(() => cache.close());
    let calls = 0;
    const group = cache.newGroup({
      name: "g",
      getter: (key) => {
        calls++;
        return `local:${key}`;
      },
    });
    cache.setPeers([id]); // the grpc-js owner owns every key
    expect((await group.get("missing")).toString()).toBe("local:missing");
    expect(calls).toBe(1);
    expect(group.stats).toMatchObject({ peerErrors: 1, peerLoads: 0, localLoads: 1 });
  });

  test("aborting the caller cancels the call on the grpc-js server", async () => {
    const { client } = await grpcJsOwner();
    const controller = new AbortController();
    const pending = client.get("g", "hang", { signal: controller.signal });
    await hangReceived.promise; // the server has the call
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: "canceled" });
    await hangCancelled.promise; // and saw it cancelled (the test times out otherwise)
    expect(seen.map((s) => s.key)).toEqual(["hang"]);
  });

  test("a GroupCache fetches the keys a grpc-js peer owns from it", async () => {
    const { id } = await grpcJsOwner();
    const cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient() });
    cleanups.push(() => cache.close());
    cache.setPeers(["127.0.0.1:1", id]);
    let local = 0;
    const group = cache.newGroup({ name: "g", getter: () => `local ${++local}`, hotPolicy: () => false });
    const [key] = keysOwnedBy(cache, id, 1);
    if (key === undefined) throw new Error("no key");
    expect(text(await group.get(key))).toBe(`grpc-js:g/${key}`);
    expect(group.stats).toMatchObject({ peerLoads: 1, peerErrors: 0, localLoads: 0 });
    expect(local).toBe(0);
  });
});

describe("Peek with a peer that lacks it", () => {
  test("a grpc-js peer (Get only) as a key's previous owner: the peek is refused, the key is loaded, values byte-exact", async () => {
    const server = await startGrpcJsServer((call, callback) =>
      callback(null, create(GetResponseSchema, { value: new TextEncoder().encode(`grpc-js:${call.request.key}`) })),
    );
    cleanups.push(() => server.close());
    const cache = new GroupCache({ self: "127.0.0.1:1", peerClient: grpcPeerClient() });
    cleanups.push(() => cache.close());
    let local = 0;
    const group = cache.newGroup({ name: "g", getter: (key) => `local:${key} ${++local}`, hotPolicy: () => false });
    // This cache joins a ring where the grpc-js peer held every key: it is the previous owner of this cache's keys.
    cache.setPeers(["127.0.0.1:1", server.id]);
    const [theirs] = keysOwnedBy(cache, server.id, 1);
    const [mine, mine2] = keysOwnedBy(cache, "127.0.0.1:1", 2);
    if (theirs === undefined || mine === undefined || mine2 === undefined) throw new Error("no key");
    expect(text(await group.get(mine))).toBe(`local:${mine} 1`);
    expect(text(await group.get(mine2))).toBe(`local:${mine2} 2`);
    expect(text(await group.get(theirs))).toBe(`grpc-js:${theirs}`);
    // Both peeks were asked of it (the second answered at once: UNIMPLEMENTED is remembered), neither hit.
    expect(group.stats).toMatchObject({ peeks: 2, peekHits: 0, localLoads: 2, peerLoads: 1, peerErrors: 0 });
  });
});

describe("GetStream between a grpc-js peer and ours", () => {
  const signal = () => new AbortController().signal;
  async function ourServer(): Promise<InProcessPeer> {
    const peer = await startInProcessPeer();
    cleanups.push(() => peer.close());
    const gate = deferred<string>();
    cleanups.push(() => gate.resolve("late"));
    peer.cache.newGroup({
      name: "g",
      getter: (key) => {
        if (key.startsWith("missing")) throw new NotFoundError(`no such row: ${key}`);
        if (key === "hang") return gate.promise;
        return `v:${key}`;
      },
    });
    return peer;
  }

  test("a grpc-js client sends one message of keys: each is answered with its own status; a cancel releases a key; OK at the end", async () => {
    const peer = await ourServer();
    const client = grpcJsClient(peer.id);
    cleanups.push(() => client.close());
    const call = client.getStream();
    call.send(
      create(GetStreamRequestSchema, {
        gets: [
          { id: 1, group: "g", key: "k1" },
          { id: 2, group: "g", key: "missing-2" },
          { id: 3, group: "nope", key: "k3" },
          { id: 4, group: "g", key: "hang" },
          { id: 5, group: "g", key: "k5" },
        ],
        cancels: [],
      }),
    );
    const answers: GetStreamResponse["results"] = [];
    while (answers.length < 4) answers.push(...((await call.next())?.results ?? []));
    const byId = Object.fromEntries(
      answers.map((r) => [r.id, { code: r.code, message: r.message, value: text(r.value), minuteQps: r.minuteQps }]),
    );
    expect(byId).toEqual({
      1: { code: 0, message: "", value: "v:k1", minuteQps: 1 },
      2: { code: grpc.status.NOT_FOUND, message: "no such row: missing-2", value: "", minuteQps: 0 },
      3: {
        code: grpc.status.FAILED_PRECONDITION,
        message: `no group named "nope" on peer "${peer.id}"`,
        value: "",
        minuteQps: 0,
      },
      5: { code: 0, message: "", value: "v:k5", minuteQps: 1 },
    });
    call.send(create(GetStreamRequestSchema, { gets: [], cancels: [4] }));
    expect(await peer.waitServed(5)).toContain("canceled");
    call.end();
    expect(await call.next()).toBeUndefined();
    expect(await call.status).toEqual({ code: grpc.status.OK, details: "" });
  });

  test("our client on a grpc-js server that implements GetStream: answers out of order, per-key statuses, cancels sent", async () => {
    const received: number[] = [];
    const cancelled = deferred<number[]>();
    const server = await startGrpcJsServer(
      (_call, callback) => callback({ code: grpc.status.INTERNAL, details: "Get must not be used" }),
      (call) => {
        const held: { id: number; key: string }[] = [];
        call.on("data", (request: GetStreamRequest) => {
          if (request.cancels.length > 0) cancelled.resolve([...request.cancels]);
          for (const get of request.gets) {
            received.push(get.id);
            if (get.key === "hang") continue;
            held.push({ id: get.id, key: get.key });
          }
          if (held.length === 3) {
            // Answer in reverse order, in two messages.
            const [a, b, c] = held.splice(0).reverse() as [
              { id: number; key: string },
              { id: number; key: string },
              { id: number; key: string },
            ];
            call.write(
              create(GetStreamResponseSchema, {
                results: [{ id: a.id, value: new TextEncoder().encode(`grpc-js:${a.key}`), minuteQps: 7 }],
              }),
            );
            call.write(
              create(GetStreamResponseSchema, {
                results: [
                  { id: b.id, code: grpc.status.NOT_FOUND, message: "not here" },
                  { id: c.id, value: new TextEncoder().encode(`grpc-js:${c.key}`) },
                ],
              }),
            );
          }
        });
        call.on("end", () => call.end());
      },
    );
    cleanups.push(() => server.close());
    const client = grpcPeerClient()(server.id);
    cleanups.push(() => client.close());
    const controller = new AbortController();
    const hang = client.get("g", "hang", { signal: controller.signal });
    const [first, missing, last] = await Promise.allSettled([
      client.get("g", "first", { signal: signal() }),
      client.get("g", "missing", { signal: signal() }),
      client.get("g", "last", { signal: signal() }),
    ]);
    expect(first.status === "fulfilled" && text(first.value.value)).toBe("grpc-js:first");
    expect(first.status === "fulfilled" && first.value.minuteQps).toBe(undefined);
    expect(last.status === "fulfilled" && last.value).toMatchObject({ minuteQps: 7 });
    expect(last.status === "fulfilled" && text(last.value.value)).toBe("grpc-js:last");
    expect(missing.status === "rejected" && missing.reason).toBeInstanceOf(NotFoundError);
    controller.abort();
    await expect(hang).rejects.toMatchObject({ code: "canceled" });
    expect(await cancelled.promise).toEqual([1]);
    expect(received).toEqual([1, 2, 3, 4]);
  });
});
