/**
 * groupcache: a distributed cache-filling library. The core (this entry)
 * runs anywhere; transports and discovery plug in through `PeerClient` and
 * `GroupCache.setPeers`.
 */

export { ByteView } from "./core/byteview.ts";
export type { CacheStats, CacheType } from "./core/caches.ts";
export { bytesCodec, byteViewCodec, type Codec, jsonCodec, protobufCodec, stringCodec } from "./core/codec.ts";
export { crc32, crc32String } from "./core/crc32.ts";
export { type ErrorCode, GroupCacheError, NotFoundError } from "./core/errors.ts";
export { Group, validateKey } from "./core/group.ts";
export type { GetOptions, Getter, GetterContext, GroupOptions } from "./core/group-options.ts";
export type { GroupStats } from "./core/group-stats.ts";
export { GroupCache } from "./core/groupcache.ts";
export type { GroupCacheOptions } from "./core/groupcache-options.ts";
export { type HotCandidate, type HotPolicy, neverHot, qpsHotPolicy, randomHotPolicy } from "./core/hot-policy.ts";
export { KeyRate, type KeyRateOptions } from "./core/key-rate.ts";
export { LRU, type LRUOptions, type LRUStats } from "./core/lru.ts";
export {
  type ConnectDiscoveryOptions,
  connectDiscovery,
  type Membership,
  type PeerDiscovery,
  type PeerSetListener,
  staticDiscovery,
  type WatchOptions,
} from "./core/membership.ts";
export { formatPeerId, normalizePeerIds } from "./core/peer-id.ts";
export {
  noPeers,
  type PeerClient,
  type PeerClientFactory,
  type PeerGetResult,
  type PeerGetter,
  type PeerPicker,
  type ServeResult,
} from "./core/peers.ts";
export { Ring, type RingHash, type RingOptions } from "./core/ring.ts";
export { SingleFlight } from "./core/singleflight.ts";
