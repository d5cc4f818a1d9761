import { type ByteView, GroupCache, type GroupOptions, type ServeResult } from "../../src/index.ts";
import {
  type GrpcPeerClientOptions,
  grpcPeerClient,
  type PeerServer,
  type PeerServerOptions,
  startPeerServer,
} from "../../src/transport/index.ts";

/** A GroupCache with its own gRPC server on loopback, in the test process. */
export interface InProcessPeer {
  readonly id: string;
  readonly cache: GroupCache;
  readonly server: PeerServer;
  /** Every `serve` outcome seen by the server, in order: "ok" or the error code. */
  readonly served: string[];
  /** Resolves once `served` holds `count` outcomes (rejects after `timeoutMs`, default 5 000). */
  waitServed(count: number, timeoutMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Starts a peer on `host`:0. The cache is created once the port is known
 * (its `self` is the bound id); the server forwards to it.
 */
export async function startInProcessPeer(
  options: { host?: string; client?: GrpcPeerClientOptions; server?: PeerServerOptions } = {},
): Promise<InProcessPeer> {
  let cache: GroupCache | undefined;
  const served: string[] = [];
  const listeners = new Set<() => void>();
  const record = (outcome: string) => {
    served.push(outcome);
    for (const listener of listeners) listener();
  };
  const server = await startPeerServer(
    {
      serve: (group, key, o): Promise<ServeResult> => {
        if (cache === undefined) return Promise.reject(new Error("not ready"));
        return cache.serve(group, key, o).then(
          (result) => {
            record("ok");
            return result;
          },
          (error: unknown) => {
            record((error as { code?: string }).code ?? "?");
            throw error;
          },
        );
      },
      peek: (group, key) => cache?.peek(group, key),
      serveCached: (group, key) => {
        const result = cache?.serveCached(group, key);
        if (result !== undefined) record("ok");
        return result;
      },
    },
    { host: options.host ?? "127.0.0.1", closeTimeoutMs: 0, ...options.server },
  );
  const created = new GroupCache({ self: server.id, peerClient: grpcPeerClient(options.client) });
  cache = created;
  return {
    id: server.id,
    cache: created,
    server,
    served,
    waitServed(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (served.length < count) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(served);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`served ${JSON.stringify(served)}, not ${count} outcomes, after ${timeoutMs} ms`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async close() {
      await created.close();
      await server.close();
    },
  };
}

/**
 * Two in-process peers in one ring, started with `a`'s and `b`'s options
 * (`b` defaults to `a`'s), pushed to `open` for the test file to close.
 */
export async function startPeerPair(
  open: InProcessPeer[],
  a: Parameters<typeof startInProcessPeer>[0] = {},
  b: Parameters<typeof startInProcessPeer>[0] = a,
): Promise<readonly [InProcessPeer, InProcessPeer]> {
  const first = await startInProcessPeer(a);
  const second = await startInProcessPeer(b);
  open.push(first, second);
  for (const p of [first, second]) p.cache.setPeers([first.id, second.id]);
  return [first, second] as const;
}
/** A getter that returns `v:<key>` and counts its calls per key. */
export function countingGetter(): {
  calls: Map<string, number>;
  total: () => number;
  getter: GroupOptions<Uint8Array, string>["getter"];
} {
  const calls = new Map<string, number>();
  return {
    calls,
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
    getter: (key) => {
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return `v:${key}`;
    },
  };
}

/** Resolves with `{ promise, resolve, reject }`. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The UTF-8 text of a value (`ByteView` or bytes). */
export const text = (value: ByteView | Uint8Array): string =>
  value instanceof Uint8Array ? new TextDecoder().decode(value) : value.toString();

/** A key owned by `owner` on the ring of `peers` (the first of `key-0`, `key-1`, ...). */
export function keysOwnedBy(cache: GroupCache, owner: string, count: number, prefix = "key"): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count && i < 100_000; i++) {
    const key = `${prefix}-${i}`;
    if (cache.ownerOf(key) === owner) keys.push(key);
  }
  if (keys.length < count) throw new Error(`found only ${keys.length} keys owned by ${owner}`);
  return keys;
}
