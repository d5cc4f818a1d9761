import { integerInRange, invalidOption } from "../core/options.ts";
import { Ring } from "../core/ring.ts";
import { GroupCacheError } from "../index.ts";
import { type PeerProcess, type PeerProcessOptions, startPeerProcess } from "./peer-process.ts";
import type { PeerConfig } from "./protocol.ts";

/** Options of {@link startCluster}. */
export interface ClusterOptions extends PeerProcessOptions {
  /** Number of peer processes, 1 to 100. Required. */
  size: number;
  /** Configuration of peer `index` (its groups, its client). Default: `{}`, no groups. */
  config?: PeerConfig | ((index: number) => PeerConfig);
  /** Tell every peer about every other (`setPeers` with all ids). Default: true. */
  connect?: boolean;
}

/**
 * Peer processes started together: a real cluster on 127.0.0.1, each peer
 * with its own gRPC server and clients, as in production.
 */
export class Cluster {
  readonly peers: readonly PeerProcess[];

  /** Use {@link startCluster}, or pass processes from {@link startPeerProcess}. */
  constructor(peers: readonly PeerProcess[]) {
    this.peers = peers;
  }

  /** Every peer id, in start order. */
  get ids(): string[] {
    return this.peers.map((p) => p.id);
  }

  /** Peer number `index`; `invalid-argument` when there is none. */
  peer(index: number): PeerProcess {
    const peer = this.peers[index];
    if (peer === undefined) {
      throw new GroupCacheError("invalid-argument", `no peer ${index} in a cluster of ${this.peers.length}`);
    }
    return peer;
  }

  /**
   * The peer that owns `key` when every peer lists all of them (as
   * `setPeers()` without arguments does), with the default ring: what Go's
   * test cluster calls `FindOwningDaemon`.
   */
  ownerOf(key: string): PeerProcess {
    const id = new Ring(this.ids).get(key);
    return this.peers.find((p) => p.id === id) ?? this.peer(0);
  }

  /** Gives every running peer the member list `ids` (default: all peers). */
  async setPeers(ids: readonly string[] = this.ids): Promise<void> {
    await Promise.all(this.peers.filter((p) => p.alive).map((p) => p.request("setPeers", { peers: [...ids] })));
  }

  /** Kills every peer still running (SIGKILL, by PID) and waits for them to exit. */
  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.kill("SIGKILL")));
  }
}

/**
 * Starts `size` peer processes in parallel, each listening on a free port
 * of 127.0.0.1, and (unless `connect: false`) gives each the list of all.
 * If one fails to start, the others are killed and the error is thrown.
 *
 * ```ts
 * const cluster = await startCluster({ size: 3, config: { groups: [{ name: "g" }] } });
 * const reply = await cluster.peer(0).request("get", { group: "g", key: "k" }); // { ok: true, value: "v:k" }
 * await cluster.close();
 * ```
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  if (options?.size === undefined) throw invalidOption("startCluster size", "an integer from 1 to 100", undefined);
  const size = integerInRange("startCluster size", options.size, 1, 100, 1);
  const config = options.config ?? {};
  const started = await Promise.allSettled(
    Array.from({ length: size }, (_, i) =>
      startPeerProcess(typeof config === "function" ? config(i) : config, options),
    ),
  );
  const peers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(peers.map((p) => p.kill()));
    throw failed.reason;
  }
  const cluster = new Cluster(peers);
  if (options.connect ?? true) await cluster.setPeers();
  return cluster;
}
