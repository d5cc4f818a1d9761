import { afterEach, expect, test } from "vitest";
import { DnsCluster } from "../bench/support/dns-cluster.ts";
import { backendLoads } from "../bench/support/membership-measure.ts";
import { Ring } from "../src/core/ring.ts";
import type { PeerProcess } from "../src/testing/peer-process.ts";
import { expectedValue, type PeerConfig } from "../src/testing/protocol.ts";

// Handoff on leave across real peer processes over gRPC, membership from a
// real DNS server playing the headless Service (as bench/membership.ts):
// a peer that leaves pushes its entries to their new owners, and a peer that
// joins or comes back with the same id is pushed its keys by the members
// (or peeks them). A client process (listed
// nowhere, caching nothing) reads every key after each change; the counting
// getter of every process says how many keys were loaded again. Node only.

const group = "g";
const keys = Array.from({ length: 200 }, (_, i) => `handoff-${i}`);
const values = keys.map((key) => ({ ok: true, value: expectedValue(key) }));
// Peeks get 5 s (a loaded test machine must not turn a slow peek into a
// getter call); the drain is short, as every change here waits for the
// rings to agree before the next step.
const config: PeerConfig = { drainMs: 200, peekTimeoutMs: 5_000, groups: [{ name: group, hot: "never" }] };
const driverConfig: PeerConfig = { groups: [{ name: group, hot: "never", cacheBytes: 0 }] };

let cluster: DnsCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function start(size: number, peerConfig = config): Promise<DnsCluster> {
  cluster = await DnsCluster.start({
    size,
    config: peerConfig,
    driverConfig,
    group,
    intervalMs: 100,
    convergeTimeoutMs: 15_000,
    // Five processes start at once; on a shared 2-core machine that took over 20 s.
    startTimeoutMs: 60_000,
  });
  await expectEveryValue(cluster);
  return cluster;
}

/** The client reads every key; each value byte-exact. */
async function expectEveryValue(c: DnsCluster): Promise<void> {
  const { results } = await c.driver.request("getMany", { group, keys, timeoutMs: 20_000 });
  expect(results).toEqual(values);
}

/** Unlists `peer`, waits until every ring agrees, then shuts it down as on SIGTERM; returns its handoff. */
async function remove(c: DnsCluster, peer: PeerProcess) {
  c.list(c.members.filter((p) => p !== peer));
  await c.converge();
  return c.retire(peer);
}

async function add(c: DnsCluster, port?: number): Promise<PeerProcess> {
  const peer = await c.startPeer(port);
  c.list([...c.members, peer]);
  await c.converge();
  return peer;
}

const portOf = (id: string) => Number(id.slice(id.lastIndexOf(":") + 1));
const ownedBy = (ids: readonly string[], id: string) => keys.filter((key) => new Ring(ids).get(key) === id);

test("graceful scale-down 4 → 3: the leaver hands its keys to their new owners; no key is loaded again", async () => {
  const c = await start(4, { ...config, peekWindowMs: 0 });
  const leaver = c.members[3] as PeerProcess;
  const owned = ownedBy(
    c.members.map((p) => p.id),
    leaver.id,
  );
  expect(owned.length).toBeGreaterThan(0);
  const handoff = await remove(c, leaver);
  expect(handoff).toMatchObject({ sent: owned.length, stored: owned.length, complete: true, failedCalls: 0 });
  await expectEveryValue(c);
  // Peeks are off here: the handoff alone kept every key.
  expect(backendLoads(keys, await c.stats())).toEqual({ loads: 0, keys: 0, peerErrors: 0 });
}, 120_000);

test("rolling restart of 4 with the same ids: each leaver hands off, each returning peer gets its keys back (pushed on join, or peeked); no key is loaded again", async () => {
  const c = await start(4);
  for (const old of [...c.members]) {
    const handoff = await remove(c, old);
    expect(handoff?.complete).toBe(true);
    await expectEveryValue(c);
    await add(c, portOf(old.id));
    await expectEveryValue(c);
  }
  expect(backendLoads(keys, await c.stats())).toEqual({ loads: 0, keys: 0, peerErrors: 0 });
}, 300_000);

test("rolling restart of 4 with new ids (surge: replacement first, then the old peer leaves): no key is loaded again", async () => {
  const c = await start(4);
  for (const old of [...c.members]) {
    await add(c);
    await expectEveryValue(c);
    expect((await remove(c, old))?.complete).toBe(true);
    await expectEveryValue(c);
  }
  expect(backendLoads(keys, await c.stats())).toEqual({ loads: 0, keys: 0, peerErrors: 0 });
}, 300_000);

test("a handoff to a peer without the RPC (it serves only Get, as Go's fork) is skipped: every get byte-exact, its keys loaded once", async () => {
  const c = await start(2);
  const old = await c.startPeer(undefined, { onlyGet: true });
  c.list([...c.members, old]);
  await c.converge();
  await expectEveryValue(c);
  const before = backendLoads(keys, await c.stats()).loads;
  const ids = c.members.map((p) => p.id);
  const leaver = c.members[0] as PeerProcess;
  const rest = ids.filter((id) => id !== leaver.id);
  const toOld = ownedBy(ids, leaver.id).filter((key) => new Ring(rest).get(key) === old.id);
  const toNew = ownedBy(ids, leaver.id).length - toOld.length;
  expect(toOld.length).toBeGreaterThan(0);

  const handoff = await remove(c, leaver);
  expect(handoff).toMatchObject({ unsupportedPeers: [old.id], stored: toNew, failedCalls: 0 });
  await expectEveryValue(c);
  // The old peer cannot take the handoff (nor answer peeks): it loads the keys it gained, once each.
  const after = backendLoads(keys, await c.stats());
  expect(after.loads - before).toBe(toOld.length);
  expect(after.peerErrors).toBe(0);
}, 120_000);
