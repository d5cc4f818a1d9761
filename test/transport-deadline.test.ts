import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GroupCache, GroupCacheError } from "../src/index.ts";
import { grpcPeerClient, type PeerServer, startPeerServer } from "../src/transport/index.ts";
import { frame, getPath, getRequest, rawStatus } from "./support/attacks.ts";

// A unary Get whose grpc-timeout runs out on the server is answered with
// DEADLINE_EXCEEDED, as gRPC says, not CANCELLED: Connect aborts the
// handler's signal with a ConnectError, which the core now reads as a
// deadline. Real HTTP/2 server, raw HTTP/2 client (no deadline of its own).

let cache: GroupCache;
let server: PeerServer;
/** The same cache behind Connect's Get handler (an interceptor turns the hand-written one off). */
let viaConnect: PeerServer;
const aborted: string[] = [];

beforeAll(async () => {
  cache = new GroupCache({ self: "self:1" });
  cache.newGroup({
    name: "g",
    // Never returns: released only by its signal, whose reason it records.
    getter: (_key, { signal }) =>
      new Promise<string>((_, reject) =>
        signal.addEventListener("abort", () => {
          aborted.push(GroupCacheError.from(signal.reason).code);
          reject(signal.reason);
        }),
      ),
  });
  server = await startPeerServer(cache, { closeTimeoutMs: 0 });
  viaConnect = await startPeerServer(cache, { closeTimeoutMs: 0, interceptors: [(next) => next] });
});
afterAll(async () => {
  await server?.close();
  await viaConnect?.close();
  await cache?.close();
});

/** A unary Get of `key` with `headers`; resolves with the status it ends with. */
function rawGet(key: string, headers: http2.OutgoingHttpHeaders, to = server) {
  return rawStatus(to.id, getPath, headers, frame(getRequest("g", key)));
}

test("a Get whose grpc-timeout runs out on the server ends with DEADLINE_EXCEEDED (4), not CANCELLED", async () => {
  expect(await rawGet("slow", { "grpc-timeout": "100m" })).toEqual({
    code: String(Code.DeadlineExceeded),
    message: "the request's grpc-timeout of 100 ms ran out",
  });
  // Nobody waits for the load any more: the getter's signal fired with the deadline too.
  expect(aborted).toEqual(["deadline-exceeded"]);
  // The same through Connect's handler, in its words.
  expect(await rawGet("slower", { "grpc-timeout": "100m" }, viaConnect)).toEqual({
    code: String(Code.DeadlineExceeded),
    message: "timed out",
  });
  expect(aborted).toEqual(["deadline-exceeded", "deadline-exceeded"]);
});

test("GroupCacheError.from reads Connect's abort reasons: DEADLINE_EXCEEDED and CANCELLED; other codes keep the fallback", () => {
  const timedOut = GroupCacheError.from(new ConnectError("the operation timed out", Code.DeadlineExceeded), "internal");
  expect([timedOut.code, timedOut.message]).toEqual(["deadline-exceeded", "timed out"]);
  expect(GroupCacheError.from(new ConnectError("stop", Code.Canceled), "internal", "ctx").message).toBe(
    "ctx: canceled",
  );
  expect(GroupCacheError.from(new ConnectError("stop", Code.Canceled)).code).toBe("canceled");
  expect(GroupCacheError.from(new ConnectError("down", Code.Unavailable), "unavailable").code).toBe("unavailable");
  expect(GroupCacheError.from(new ConnectError("odd", Code.Internal)).code).toBe("internal");
});

test("grpcPeerClient refuses bad health-check options, naming them", () => {
  expect(() => grpcPeerClient({ pingAfterMs: 0 })).toThrow(
    "grpcPeerClient: pingAfterMs must be a finite number > 0, got 0",
  );
  expect(() => grpcPeerClient({ pingTimeoutMs: -1 })).toThrow(
    "grpcPeerClient: pingTimeoutMs must be a finite number >= 0, got -1",
  );
  expect(typeof grpcPeerClient({ pingTimeoutMs: 0 })).toBe("function"); // 0: checks off
});
