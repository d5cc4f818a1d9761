/**
 * groupcache: a distributed cache-filling library. This entry is the
 * runtime-neutral core as applications use it: a `GroupCache` and its
 * groups, codecs, hot policies, membership, peer ids, errors, and the seam
 * types a custom transport implements. The gRPC transport and `startPeer`
 * come from the runtime entries (`groupcache/node`, `/bun`, `/deno`); its
 * building blocks from `groupcache/transport`; Go's stand-alone packages as
 * `groupcache/ring` and `groupcache/singleflight`; test clusters from
 * `groupcache/testing`. Anything not exported is internal, with no semver
 * promise.
 */

export { ByteView } from "./core/byteview.ts";
export type { CacheStats, CacheType } from "./core/caches.ts";
export { type Clock, CoarseClock, ManualClock } from "./core/clock.ts";
export type { HealthProblem, HealthProblemKind } from "./core/cluster-health.ts";
export type { PeerWriteResult, SetOptions, WriteOptions, WriteResult } from "./core/cluster-write.ts";
export { bytesCodec, byteViewCodec, type Codec, jsonCodec, protobufCodec, stringCodec } from "./core/codec.ts";
export { type ErrorCode, GroupCacheError, NotFoundError } from "./core/errors.ts";
export type { EventLevel, EventListener, GroupCacheEvent, GroupCacheEventType } from "./core/events.ts";
export type { GetManyResult } from "./core/get-many.ts";
export { Group } from "./core/group.ts";
export type { GetOptions, Getter, GetterContext, GroupOptions } from "./core/group-options.ts";
export type { GroupStats } from "./core/group-stats.ts";
export { GroupCache } from "./core/groupcache.ts";
export type { GroupCacheOptions } from "./core/groupcache-options.ts";
export type { HandoffOptions, HandoffReport } from "./core/handoff.ts";
export { type HotCandidate, type HotPolicy, neverHot, qpsHotPolicy, randomHotPolicy } from "./core/hot-policy.ts";
export {
  type ConnectDiscoveryOptions,
  connectDiscovery,
  type Membership,
  type PeerDiscovery,
  type PeerSetListener,
  staticDiscovery,
  type WatchOptions,
} from "./core/membership.ts";
export type { PeerLiveness, PeerState, PeerStateChange, PeerStatus } from "./core/peer-health.ts";
export { formatPeerId, type PeerAddress, parsePeerId } from "./core/peer-id.ts";
export type {
  HandoffEntry,
  HandoffResult,
  PeekResult,
  PeerClient,
  PeerClientContext,
  PeerClientFactory,
  PeerGetOptions,
  PeerGetResult,
  PeerGetter,
  PeerServable,
  RemainingTtl,
  ServeOptions,
  ServeResult,
} from "./core/peers.ts";
export type { RingHash } from "./core/ring.ts";
export type {
  GroupTelemetry,
  ObservedGroup,
  Telemetry,
  TelemetrySource,
  TelemetrySpan,
  TraceCarrier,
} from "./core/telemetry.ts";
