/**
 * groupcache/testing: clusters for the tests of applications that use
 * groupcache, as Go groupcache's test `cluster` package gives Go users.
 *
 * - {@link createMemoryCluster}: N caches in one process over an in-memory
 *   network, for unit tests with exact load counts (Node, Bun and Deno).
 * - {@link startCluster}: N peer processes on 127.0.0.1 over the real gRPC
 *   transport, driven by a JSON-lines protocol, for integration tests
 *   (`node:child_process`, which Node, Bun and Deno provide).
 * - {@link startDnsServer}: a real DNS server on 127.0.0.1 over UDP playing
 *   a Kubernetes headless Service, for tests of DNS discovery (needs the
 *   optional peer dependency `dns2`).
 */

export { Cluster, type ClusterOptions, startCluster } from "./cluster.ts";
export {
  type DnsMode,
  type DnsZone,
  emptyZone,
  setPods,
  startDnsServer,
  type TestDnsServer,
  type TestPod,
  type TestSrv,
} from "./dns-server.ts";
export { createMemoryCluster, type MemoryCluster, type MemoryClusterOptions } from "./memory-cluster.ts";
export { MemoryNetwork } from "./memory-network.ts";
export {
  defaultPeerCommand,
  type ExitInfo,
  PeerProcess,
  type PeerProcessOptions,
  peerScript,
  startPeerProcess,
} from "./peer-process.ts";
export {
  type BenchResult,
  type CommandName,
  type Commands,
  type DnsPeerConfig,
  expectedValue,
  type GetOutcome,
  type GroupSpec,
  type HotSpec,
  type LoadArgs,
  type LoadResult,
  type PeerConfig,
  type PeerStats,
  type WriteReply,
} from "./protocol.ts";
