/**
 * A cluster of peer processes whose membership comes from a real DNS
 * server playing a Kubernetes headless Service, as deployed peers find
 * each other: a peer joins the ring when its pod is listed and leaves it
 * when its pod is not, each at its own next poll. One more process, the
 * driver, follows the same records without being listed (a client), so
 * its gets go where a client's would. Every process it starts is stopped
 * by PID (the harness's `kill`); the counters of a peer that leaves are
 * read before it exits, so no backend load goes uncounted.
 */

import { samePeerIds } from "../../src/core/peer-id.ts";
import { srvName } from "../../src/discovery/srv-name.ts";
import { setPods, startDnsServer, type TestDnsServer } from "../../src/testing/dns-server.ts";
import { type PeerProcess, startPeerProcess } from "../../src/testing/peer-process.ts";
import type { HandoffSummary, PeerConfig, PeerStats } from "../../src/testing/protocol.ts";

/** Options of {@link DnsCluster.start}. */
export interface DnsClusterOptions {
  /** Peers listed at the start. */
  size: number;
  /** The listed peers' configuration (groups, `drainMs`...); the `dns` setting is added here. */
  config: PeerConfig;
  /** The driver's configuration, likewise. */
  driverConfig: PeerConfig;
  /** The group whose counters are read. */
  group: string;
  /** Milliseconds between two DNS lookups of each process. */
  intervalMs: number;
  /** Longest wait for every process to see a new member list. */
  convergeTimeoutMs: number;
  /** Longest wait for a process to start. Default: the harness's (20 000 ms). */
  startTimeoutMs?: number;
}

const service = { service: "bench", namespace: "default" };

export class DnsCluster {
  readonly #dns: TestDnsServer;
  readonly #options: DnsClusterOptions;
  readonly #srv = srvName(service);
  /** The peers DNS lists, in the order they joined. */
  #members: PeerProcess[] = [];
  /** Counters of the peers that left, read just before they exited. */
  readonly #retired = new Map<PeerProcess, PeerStats>();
  /** Every member list DNS gave, the first included. */
  readonly #lists: string[][] = [];
  /** Every process started, to stop them all at the end. */
  readonly #started: PeerProcess[] = [];
  /** The client process: follows DNS, is not listed, owns no key. */
  driver!: PeerProcess;

  private constructor(dns: TestDnsServer, options: DnsClusterOptions) {
    this.#dns = dns;
    this.#options = options;
  }

  /** Starts the DNS server, `size` listed peers and the driver, and waits until all of them agree. */
  static async start(options: DnsClusterOptions): Promise<DnsCluster> {
    const cluster = new DnsCluster(await startDnsServer(), options);
    try {
      // Settled, not raced: a start that fails must not leave the others running unseen.
      const started = await Promise.allSettled([
        cluster.#start(options.driverConfig, { member: false }, undefined),
        ...Array.from({ length: options.size }, () => cluster.startPeer()),
      ]);
      const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (failed !== undefined) throw failed.reason;
      const [driver, ...peers] = started.map((s) => (s as PromiseFulfilledResult<PeerProcess>).value);
      cluster.driver = driver as PeerProcess;
      cluster.list(peers);
      await cluster.converge();
      return cluster;
    } catch (error) {
      await cluster.close();
      throw error;
    }
  }

  /** The peers DNS lists now. */
  get members(): readonly PeerProcess[] {
    return this.#members;
  }

  /** Every member list DNS gave, in order, the first included. */
  get lists(): readonly (readonly string[])[] {
    return this.#lists;
  }

  /**
   * Starts a peer that finds the others through DNS; nobody sees it until
   * {@link list} names it. `config` overrides the listed peers' settings
   * for this one (e.g. an older peer that serves only Get).
   */
  startPeer(port?: number, config?: Partial<PeerConfig>): Promise<PeerProcess> {
    return this.#start({ ...this.#options.config, ...config }, {}, port);
  }

  async #start(config: PeerConfig, dns: { member?: boolean }, port: number | undefined): Promise<PeerProcess> {
    const { intervalMs, startTimeoutMs } = this.#options;
    const process = await startPeerProcess(
      {
        ...config,
        ...(port === undefined ? {} : { port }),
        dns: { server: this.#dns.address, ...service, intervalMs, ...dns },
      },
      startTimeoutMs === undefined ? {} : { startTimeoutMs },
    );
    this.#started.push(process);
    return process;
  }

  /** Makes DNS list exactly `peers` (as the endpoints of ready pods); each process sees it at its next poll. */
  list(peers: readonly PeerProcess[]): void {
    this.#members = [...peers];
    this.#lists.push(peers.map((p) => p.id));
    setPods(
      this.#dns.zone,
      this.#srv,
      peers.map((p) => p.id),
    );
  }

  /**
   * Resolves once every listed peer and the driver have exactly the listed
   * ids as their ring; polls their rings, and fails past `convergeTimeoutMs`
   * with what each one had.
   */
  async converge(): Promise<void> {
    const want = this.#members.map((p) => p.id).sort();
    const watched = [...this.#members, this.driver];
    const deadline = performance.now() + this.#options.convergeTimeoutMs;
    let views: string[][] = [];
    // Bounded by the deadline; each turn waits for one round of answers and 20 ms.
    while (performance.now() < deadline) {
      views = await Promise.all(watched.map(async (p) => (await p.request("peers", {})).peers));
      if (views.every((v) => samePeerIds(v, want))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seen = watched.map((p, i) => `${p.id}: ${views[i]?.join(",")}`).join("; ");
    throw new Error(
      `rings did not converge on ${want.join(",")} within ${this.#options.convergeTimeoutMs} ms (${seen})`,
    );
  }

  /**
   * Shuts `peer` down gracefully (leave its ring, serve for `drainMs`, close),
   * reads its counters, then lets it exit; returns what it handed off.
   * Unlisting it is the caller's business, as in Kubernetes where the
   * endpoint goes as SIGTERM arrives.
   */
  async retire(peer: PeerProcess): Promise<HandoffSummary | undefined> {
    const { handoff } = await peer.request("leave", {});
    this.#retired.set(peer, await peer.request("stats", { group: this.#options.group }));
    await peer.request("close", {});
    await peer.exited;
    return handoff;
  }

  /** The counters of every process started, those that left included. */
  async stats(): Promise<PeerStats[]> {
    const live = this.#started.filter((p) => !this.#retired.has(p));
    const now = await Promise.all(live.map((p) => p.request("stats", { group: this.#options.group })));
    return [...now, ...this.#retired.values()];
  }

  /** Kills every process still running, by PID, and stops the DNS server. */
  async close(): Promise<void> {
    await Promise.all(this.#started.map((p) => p.kill("SIGKILL")));
    await this.#dns.stop();
  }
}
