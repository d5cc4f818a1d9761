/**
 * groupcache: a distributed cache-filling library. The core (this entry)
 * runs anywhere; transports and discovery plug in through `PeerClient` and
 * `GroupCache.setPeers`.
 */

export { ByteView } from "./core/byteview.ts";
export { bytesCodec, byteViewCodec, type Codec, jsonCodec, protobufCodec, stringCodec } from "./core/codec.ts";
export { crc32, crc32String } from "./core/crc32.ts";
export { type ErrorCode, GroupCacheError, NotFoundError } from "./core/errors.ts";
export {
  type CacheType,
  type GetOptions,
  type Getter,
  type GetterContext,
  Group,
  type GroupOptions,
  type GroupStats,
  validateKey,
} from "./core/group.ts";
export { GroupCache, type GroupCacheOptions } from "./core/groupcache.ts";
export { type HotCandidate, type HotPolicy, neverHot, qpsHotPolicy, randomHotPolicy } from "./core/hot-policy.ts";
export { KeyRate, type KeyRateOptions } from "./core/key-rate.ts";
export { type CacheStats, LRU, type LRUOptions } from "./core/lru.ts";
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
