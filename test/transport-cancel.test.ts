import { afterEach, expect, test } from "vitest";
import type { GroupCacheError } from "../src/index.ts";
import { type GrpcPeerClientOptions, grpcPeerClient } from "../src/transport/index.ts";
import {
  countingGetter,
  deferred,
  type InProcessPeer,
  keysOwnedBy,
  startInProcessPeer,
  startPeerPair,
  text,
} from "./support/in-process-peer.ts";

const open: InProcessPeer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

function pair(client: GrpcPeerClientOptions = {}) {
  return startPeerPair(open, { client }, {});
}

// Both ways a key travels: on the GetStream, and as a unary Get (each with its own server handler).
const ways = [
  ["GetStream", true],
  ["unary Get", false],
] as const;

/** A getter that signals when it is entered and returns when `release` is called, ignoring its signal. */
function gatedGetter() {
  const entered = deferred<void>();
  const gate = deferred<string>();
  let calls = 0;
  return {
    entered: entered.promise,
    release: (value: string) => gate.resolve(value),
    calls: () => calls,
    getter: () => {
      calls++;
      entered.resolve();
      return gate.promise;
    },
  };
}

test.each(ways)(
  "%s: a caller that aborts gets canceled at once; the owner's load goes on and later callers share it (one getter call)",
  async (_, stream) => {
    const [a, b] = await pair({ stream });
    const local = countingGetter();
    const groupA = a.cache.newGroup({ name: "g", getter: local.getter, hotPolicy: () => false });
    const gated = gatedGetter();
    const groupB = b.cache.newGroup({ name: "g", getter: gated.getter });
    const [key] = keysOwnedBy(a.cache, b.id, 1);
    if (key === undefined) throw new Error("no key");

    const controller = new AbortController();
    const first = groupA.get(key, { signal: controller.signal });
    await gated.entered; // the request reached the owner, whose getter now runs
    const ownersOwn = groupB.get(key); // a second waiter on the owner's load

    const abortedAt = performance.now();
    controller.abort();
    const error = (await first.catch((e: unknown) => e)) as GroupCacheError;
    expect(error.code).toBe("canceled");
    expect(performance.now() - abortedAt).toBeLessThan(1_000);
    // The cancel crossed the wire: the owner's handler was released with it.
    expect(await b.waitServed(1)).toEqual(["canceled"]);

    gated.release("shared value");
    expect(text(await ownersOwn)).toBe("shared value");
    expect(text(await groupA.get(key))).toBe("shared value");
    expect(gated.calls()).toBe(1);
    expect(local.total()).toBe(0);
    expect(groupA.stats).toMatchObject({ gets: 2, peerLoads: 1, peerErrors: 0, localLoads: 0 });
    expect(b.served).toEqual(["canceled", "ok"]);
  },
);

test("a caller's deadline gives deadline-exceeded and is not a peer error", async () => {
  const [a, b] = await pair();
  const local = countingGetter();
  const groupA = a.cache.newGroup({ name: "g", getter: local.getter });
  const gated = gatedGetter();
  b.cache.newGroup({ name: "g", getter: gated.getter });
  const [key] = keysOwnedBy(a.cache, b.id, 1);
  if (key === undefined) throw new Error("no key");

  const error = (await groupA
    .get(key, { signal: AbortSignal.timeout(100) })
    .catch((e: unknown) => e)) as GroupCacheError;
  expect(error.code).toBe("deadline-exceeded");
  expect(await b.waitServed(1)).toEqual(["canceled"]);
  expect(groupA.stats).toMatchObject({ peerErrors: 0, localLoads: 0 });
  expect(local.total()).toBe(0);
  gated.release("late");
});

test("an owner slower than the client's timeoutMs (the gRPC deadline) is a peer error: the key is loaded locally", async () => {
  const [a, b] = await pair({ timeoutMs: 200 });
  const local = countingGetter();
  const groupA = a.cache.newGroup({ name: "g", getter: local.getter });
  const gated = gatedGetter();
  b.cache.newGroup({ name: "g", getter: gated.getter });
  const [key] = keysOwnedBy(a.cache, b.id, 1);
  if (key === undefined) throw new Error("no key");

  const started = performance.now();
  expect(text(await groupA.get(key))).toBe(`v:${key}`);
  const tookMs = performance.now() - started;
  expect(tookMs).toBeGreaterThanOrEqual(190);
  expect(tookMs).toBeLessThan(2_000);
  expect(groupA.stats).toMatchObject({ peerErrors: 1, localLoads: 1, peerLoads: 0 });
  expect(local.calls.get(key)).toBe(1);
  // The owner saw the deadline too, and stopped waiting for this caller.
  expect(await b.waitServed(1)).toEqual(["canceled"]);
  gated.release("late");
});

/**
 * An owner with `closeTimeoutMs` whose getter is held, a client asking it
 * for "k" (over GetStream or unary Get), and the owner's close begun once
 * the load is running.
 */
async function closingOwner(closeTimeoutMs: number, stream: boolean) {
  const b = await startInProcessPeer({ server: { closeTimeoutMs } });
  open.push(b);
  const gated = gatedGetter();
  b.cache.newGroup({ name: "g", getter: gated.getter });
  const client = grpcPeerClient({ stream })(b.id);
  const pending = client.get("g", "k", { signal: new AbortController().signal });
  await gated.entered;
  return { b, gated, client, pending, closed: b.server.close() };
}

test.each(ways)("%s: closing a server lets requests in progress finish within closeTimeoutMs", async (_, stream) => {
  const { gated, client, pending, closed } = await closingOwner(10_000, stream);
  try {
    gated.release("finished");
    expect(text((await pending).value)).toBe("finished");
    await closed;
  } finally {
    await client.close();
  }
});

test.each(ways)(
  "%s: closing a server cancels what is still running after closeTimeoutMs with UNAVAILABLE",
  async (_, stream) => {
    const { b, gated, client, pending, closed } = await closingOwner(50, stream);
    try {
      await expect(pending).rejects.toMatchObject({ code: "unavailable" });
      await closed;
      expect(b.served).toEqual(["unavailable"]);
    } finally {
      await client.close();
      gated.release("late");
    }
  },
);
