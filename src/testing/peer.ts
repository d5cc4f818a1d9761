/**
 * One peer of a test cluster, as its own OS process: a GroupCache with a
 * gRPC peer server on `host`:0, controlled by the harness through the
 * line-delimited JSON protocol of `protocol.ts` on stdin/stdout. Announces
 * `{"event":"ready","id":...,"pid":...}` once it listens; exits when stdin
 * closes, so a crashed harness cannot leave it behind. A script, not a
 * module to import: `startPeerProcess` runs it (built, as `peer.js`). Its
 * ring comes from `setPeers`, or, configured with `dns`, from the SRV
 * records of a headless Service, polled by the runtime's own resolver as
 * `startPeer` does in production.
 *
 *   node src/testing/peer.ts '{"groups":[{"name":"g"}]}'
 *
 * Only `node:` modules that Bun and Deno also provide are used.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { linkedSignal } from "../core/signals.ts";
import { createDenoResolver } from "../discovery/deno-resolver.ts";
import { createNodeResolver } from "../discovery/node-resolver.ts";
import type { DnsResolver } from "../discovery/resolver.ts";
import {
  type Group,
  GroupCacheError,
  type HotPolicy,
  NotFoundError,
  neverHot,
  qpsHotPolicy,
  randomHotPolicy,
  stringCodec,
  type WriteResult,
} from "../index.ts";
import { type DnsPeersOptions, startPeerWith } from "../runtime/start-peer.ts";
import { runPacedLoad } from "./paced-load.ts";
import {
  type BenchResult,
  type CommandName,
  type Commands,
  expectedValue,
  type GetOutcome,
  type GroupSpec,
  type HotSpec,
  type PeerConfig,
  type WriteReply,
} from "./protocol.ts";

interface LiveGroup {
  group: Group<string, string>;
  spec: GroupSpec;
  calls: Map<string, number>;
  total: number;
  waiters: Set<() => void>;
  /** What the getter appends to its values (`configure` `version`; 0: nothing). */
  version: number;
  /** Whether getter calls that start wait for `release`. */
  hold: boolean;
  /** Releases of the getter calls held now. */
  held: (() => void)[];
}

const config = JSON.parse(process.argv[2] ?? "{}") as PeerConfig;
const groups = new Map<string, LiveGroup>();

/** The runtime's own resolver, as `startPeer` of `groupcache/node`, `/bun` or `/deno` makes it; used only with `dns`. */
function runtimeResolver(server: string | undefined): DnsResolver {
  const options = server === undefined ? {} : { server };
  return (globalThis as { Deno?: unknown }).Deno === undefined
    ? createNodeResolver(options)
    : createDenoResolver(options);
}

/** `startPeer`'s `peers: { dns }` from the configuration; none without `dns` (then `setPeers` drives the ring). */
function dnsPeers(): { dns: DnsPeersOptions } | undefined {
  const dns = config.dns;
  if (dns === undefined) return undefined;
  return {
    dns: {
      server: dns.server,
      service: dns.service,
      namespace: dns.namespace,
      ...(dns.portName === undefined ? {} : { portName: dns.portName }),
      ...(dns.intervalMs === undefined ? {} : { intervalMs: dns.intervalMs }),
      ...(dns.jitter === undefined ? {} : { jitter: dns.jitter }),
    },
  };
}

/** Answers every RPC but Get with UNIMPLEMENTED, as a peer that predates the others (Go's gRPC fork serves only Get). */
const onlyGet: Interceptor = (next) => (request) => {
  if (request.method.name !== "Get")
    throw new ConnectError(`${request.method.name} is not served here`, Code.Unimplemented);
  return next(request);
};

const peers = dnsPeers();
const peer = await startPeerWith(
  { resolver: runtimeResolver },
  {
    host: config.host ?? "127.0.0.1",
    port: config.port ?? 0,
    client: {
      ...(config.clientTimeoutMs === undefined ? {} : { timeoutMs: config.clientTimeoutMs }),
      ...(config.clientStream === undefined ? {} : { stream: config.clientStream }),
      ...(config.clientToken === undefined ? {} : { token: config.clientToken }),
      pingTimeoutMs: config.clientPingTimeoutMs ?? 2_000,
    },
    server: { closeTimeoutMs: 0, ...config.server, ...(config.onlyGet === true ? { interceptors: [onlyGet] } : {}) },
    ...(peers === undefined ? {} : { peers }),
    drainMs: config.drainMs ?? 0,
    ...(config.handoff === undefined ? {} : { handoff: config.handoff }),
    ...(config.handoffOnJoin === undefined ? {} : { handoffOnJoin: config.handoffOnJoin }),
    ...(config.peekWindowMs === undefined ? {} : { peekWindowMs: config.peekWindowMs }),
    ...(config.peekTimeoutMs === undefined ? {} : { peekTimeoutMs: config.peekTimeoutMs }),
    ...(config.writes === undefined ? {} : { writes: config.writes }),
  },
);
// A client that is not listed in DNS must not own keys, or it would load
// some itself while every other peer sends them to their owners.
if (config.dns?.member === false) peer.membership?.leave();
const cache = peer.cache;
/** Stops the running `load`, if any. */
let loadController: AbortController | undefined;
for (const spec of config.groups ?? []) newGroup(spec);

function hotPolicy(hot: HotSpec | undefined): HotPolicy | undefined {
  if (hot === undefined || hot === "default") return undefined;
  if (hot === "never") return neverHot;
  if (hot === "always") return randomHotPolicy(1);
  return qpsHotPolicy(hot.qps);
}

function newGroup(spec: GroupSpec): void {
  const live: LiveGroup = {
    spec: { ...spec },
    calls: new Map(),
    total: 0,
    waiters: new Set(),
    version: 0,
    hold: false,
    held: [],
    group: undefined as never,
  };
  const policy = hotPolicy(spec.hot);
  live.group = cache.newGroup<string, string>({
    name: spec.name,
    codec: stringCodec,
    ...(policy === undefined ? {} : { hotPolicy: policy }),
    ...(spec.cacheBytes === undefined ? {} : { cacheBytes: spec.cacheBytes }),
    ...(spec.ttlMs === undefined ? {} : { ttlMs: spec.ttlMs }),
    ...(spec.ttlJitter === undefined ? {} : { ttlJitter: spec.ttlJitter }),
    ...(spec.staleMs === undefined ? {} : { staleMs: spec.staleMs }),
    ...(spec.notFoundTtlMs === undefined ? {} : { notFoundTtlMs: spec.notFoundTtlMs }),
    getter: async (key, { signal }) => {
      // Read "the backend row" when the call starts, as a real getter would.
      const version = live.version;
      live.calls.set(key, (live.calls.get(key) ?? 0) + 1);
      live.total++;
      for (const wake of live.waiters) wake();
      if (spec.missingPrefix !== undefined && key.startsWith(spec.missingPrefix)) {
        throw new NotFoundError(`no such key: ${key}`);
      }
      if (live.hold) await new Promise<void>((resolve) => live.held.push(resolve));
      const { hang = false, getterDelayMs = 0 } = live.spec;
      if (hang || getterDelayMs > 0) {
        await new Promise<void>((resolve, reject) => {
          const timer = hang ? undefined : setTimeout(done, getterDelayMs);
          function done() {
            signal.removeEventListener("abort", onAbort);
            resolve();
          }
          function onAbort() {
            clearTimeout(timer);
            reject(signal.reason);
          }
          signal.addEventListener("abort", onAbort, { once: true });
        });
      }
      const value = expectedValue(key, live.spec.valueBytes);
      return version === 0 ? value : `${value}@${version}`;
    },
  });
  groups.set(spec.name, live);
}

function liveGroup(name: string): LiveGroup {
  const live = groups.get(name);
  if (live === undefined) throw new GroupCacheError("unknown-group", `no group ${JSON.stringify(name)} in this peer`);
  return live;
}

async function get(group: string, key: string, timeoutMs: number | undefined): Promise<GetOutcome> {
  // One controller and a timer cleared when done, not AbortSignal.timeout:
  // a load's thousands of pending timeouts would hold their memory.
  const deadline = timeoutMs === undefined ? undefined : linkedSignal(undefined, timeoutMs);
  try {
    const options = deadline === undefined || timeoutMs === undefined ? {} : { signal: deadline.signal, timeoutMs };
    return { ok: true, value: await liveGroup(group).group.get(key, options) };
  } catch (error) {
    const e = GroupCacheError.from(error);
    return { ok: false, code: e.code, message: e.message };
  } finally {
    deadline?.cleanup();
  }
}

/** A `WriteResult` as JSON: errors as their code and message. */
function writeReply(result: WriteResult): WriteReply {
  return {
    complete: result.complete,
    peers: result.peers.map(({ error, ...row }) => ({
      ...row,
      ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
    })),
  };
}

async function bench(args: Commands["bench"]["args"]): Promise<BenchResult> {
  const { group } = liveGroup(args.group);
  const latencies = new Float64Array(args.maxOps);
  let ops = 0;
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const end = start + args.durationMs;
  const worker = async () => {
    while (ops < args.maxOps && performance.now() < end) {
      const key = args.keys[next++ % args.keys.length] as string;
      const t = performance.now();
      try {
        await group.get(key);
      } catch {
        errors++;
      }
      if (ops < args.maxOps) latencies[ops++] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  const elapsedMs = performance.now() - start;
  const sorted = latencies.subarray(0, ops).sort();
  const at = (q: number) => (sorted[Math.min(ops - 1, Math.max(0, Math.ceil(q * ops) - 1))] ?? Number.NaN) * 1000;
  return { ops, errors, elapsedMs, p50Us: at(0.5), p99Us: at(0.99) };
}

const handlers: { [C in CommandName]: (args: Commands[C]["args"]) => Promise<Commands[C]["reply"]> } = {
  get: (a) => get(a.group, a.key, a.timeoutMs),
  getMany: async (a) => ({ results: await Promise.all(a.keys.map((key) => get(a.group, key, a.timeoutMs))) }),
  stats: async (a) => {
    const live = liveGroup(a.group);
    return {
      stats: { ...live.group.stats },
      main: { ...live.group.cacheStats("main") },
      hot: { ...live.group.cacheStats("hot") },
      getterCalls: Object.fromEntries(live.calls),
      getterTotal: live.total,
    };
  },
  setPeers: async (a) => ({ changed: cache.setPeers(a.peers) }),
  newGroup: async (a) => {
    newGroup(a);
    return {};
  },
  configure: async (a) => {
    const live = liveGroup(a.group);
    if (a.getterDelayMs !== undefined) live.spec.getterDelayMs = a.getterDelayMs;
    if (a.hang !== undefined) live.spec.hang = a.hang;
    if (a.version !== undefined) live.version = a.version;
    if (a.hold !== undefined) live.hold = a.hold;
    return {};
  },
  release: async (a) => {
    const live = liveGroup(a.group);
    const held = live.held.splice(0);
    for (const release of held) release();
    return { released: held.length };
  },
  remove: async (a) => writeReply(await liveGroup(a.group).group.removeKeys(a.keys)),
  set: async (a) =>
    writeReply(await liveGroup(a.group).group.set(a.key, a.value, a.ttlMs === undefined ? {} : { ttlMs: a.ttlMs })),
  waitGetterCalls: (a) => {
    const live = liveGroup(a.group);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (live.total < a.total) return;
        live.waiters.delete(check);
        clearTimeout(timer);
        resolve({ total: live.total });
      };
      const timer = setTimeout(() => {
        live.waiters.delete(check);
        reject(
          new GroupCacheError(
            "deadline-exceeded",
            `waitGetterCalls: ${live.total} of ${a.total} calls after ${a.timeoutMs ?? 10_000} ms`,
          ),
        );
      }, a.timeoutMs ?? 10_000);
      live.waiters.add(check);
      check();
    });
  },
  bench,
  peers: async () => ({ peers: [...cache.peers] }),
  leave: async () => {
    await peer.close();
    return peer.handoff === undefined ? {} : { handoff: peer.handoff };
  },
  load: async (a) => {
    if (loadController !== undefined) throw new GroupCacheError("invalid-argument", "a load is already running");
    const live = liveGroup(a.group);
    loadController = new AbortController();
    try {
      return await runPacedLoad(
        a,
        (key) => get(a.group, key, a.timeoutMs),
        (key) => expectedValue(key, live.spec.valueBytes),
        loadController.signal,
      );
    } finally {
      loadController = undefined;
    }
  },
  loadStop: async () => {
    const running = loadController;
    running?.abort();
    return { stopped: running !== undefined };
  },
  memory: async (a) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const collected = a.gc === true && gc !== undefined;
    if (collected) {
      // A few rounds, with I/O between them, so finalizers and freed buffers are collected too.
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    const m = process.memoryUsage();
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, collected };
  },
  peerStates: async () => ({
    states: cache.peerStates().map(({ peer, state, since, reason }) => ({
      peer,
      state,
      sinceMs: performance.timeOrigin + since,
      reason,
    })),
  }),
  close: async () => {
    await peer.close();
    setTimeout(() => process.exit(0), 0);
    return {};
  },
};

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "") return;
  let id: unknown;
  try {
    const message = JSON.parse(line) as { id: unknown; cmd: CommandName; args?: unknown };
    id = message.id;
    const handler = handlers[message.cmd] as ((args: unknown) => Promise<unknown>) | undefined;
    if (handler === undefined) {
      throw new GroupCacheError("invalid-argument", `unknown command ${JSON.stringify(message.cmd)}`);
    }
    handler(message.args ?? {}).then(
      (reply) => send({ id, reply }),
      (error: unknown) => send({ id, error: error instanceof Error ? error.message : String(error) }),
    );
  } catch (error) {
    send({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
// The harness is gone (or closed our stdin): leave with it.
lines.on("close", () => process.exit(0));

send({ event: "ready", id: peer.self, pid: process.pid });
