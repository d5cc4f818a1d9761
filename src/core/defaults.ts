/**
 * Defaults that more than one module depends on, written once so that the
 * ones derived from others stay derived when those change: a transport's
 * message limit follows a group's `maxValueBytes`, a peer call's deadline
 * follows `getterTimeoutMs`.
 */

/** A group's `cacheBytes`: 64 MiB. */
export const defaultCacheBytes = 64 << 20;

/**
 * A group's `entryOverheadBytes`: 64, what an entry costs in memory beyond
 * its key and value bytes, measured (bench/memory.ts, bench/memory-churn.ts):
 * its record header and padding in the slab (~14 bytes), and its slots in
 * the id table, the key index and the recency links (~21 bytes, in tables
 * that double as they grow, so up to twice that, plus 8-16 in the index).
 * Counting it keeps a budget of small values near what they really take.
 */
export const defaultEntryOverheadBytes = 64;

/** A group's `maxValueBytes`: 8 MiB. */
export const defaultMaxValueBytes = 8 << 20;

/**
 * A group's `ttlJitter`: 0.1, so keys loaded together expire over the last
 * tenth of their TTL rather than at one instant, and a TTL is never
 * exceeded.
 */
export const defaultTtlJitter = 0.1;

/** A group's `getterTimeoutMs`: 30 s. */
export const defaultGetterTimeoutMs = 30_000;

/**
 * How long a ring change is remembered for peeks (`peekWindowMs`): 60 s.
 * Cluster DNS answers are cached up to ~30 s and discovery polls every 5 s,
 * so every peer has seen a change within ~35 s; the rest is margin.
 */
export const defaultPeekWindowMs = 60_000;

/**
 * A peek's deadline (`peekTimeoutMs`): 200 ms. A peek only spares a backend
 * load, and the get that triggered it waits for it, so it stays short; but
 * not shorter than a peek really takes right after a ring change: a joining
 * process's loads all peek at once, and over gRPC (unary Peek calls, on a
 * 2-core box with 4 peer processes) such a burst of ~40 was measured at
 * 110-150 ms per call, so 20 ms missed every one and each moved key was
 * loaded again. The deadline only costs when a previous owner is hung or
 * unreachable; one that does not hold the key answers at once.
 */
export const defaultPeekTimeoutMs = 200;

/**
 * How often a peer marked down (alive but silent: it left an HTTP/2 PING
 * unanswered) is probed, in ms (`probeIntervalMs`): 250. A probe is one
 * small call, so this is cheap; it bounds how long a peer that came back
 * stays out of routing.
 */
export const defaultProbeIntervalMs = 250;

/**
 * The share of a get's `timeoutMs` that its owner may take before the key
 * is loaded locally instead (`peerShare`): half, so a silent owner leaves
 * the other half of the caller's budget for the getter.
 */
export const defaultPeerShare = 0.5;

/**
 * Most bytes a leaving peer hands off (`HandoffOptions.maxBytes`): 256 MiB,
 * four groups of the default `cacheBytes`. Over a LAN that is a second or
 * two; a budget cut drops the least recently used entries.
 */
export const defaultHandoffMaxBytes = 256 << 20;

/**
 * Longest a leaving peer spends handing off (`HandoffOptions.timeoutMs`):
 * 10 s, well inside Kubernetes' default 30 s grace period and the default
 * drain, which it overlaps.
 */
export const defaultHandoffTimeoutMs = 10_000;

/**
 * How long a peer that leaves keeps serving (`startPeer`'s `drainMs`): 20 s.
 * After SIGTERM, Kubernetes drops the pod from the Service's endpoints at
 * once, but the other peers learn it only at their next DNS poll (every
 * 5 s, +20% jitter) of an answer the cluster DNS may cache (CoreDNS:
 * up to its `ttl`, 5 s by default, 30 s in many clusters). Until then they
 * route some keys here; a peer that is gone makes each of them load those
 * keys itself. 20 s covers a poll of an answer cached up to ~14 s, and
 * with the handoff and the server's close (5 s at most) it stays inside
 * Kubernetes' default `terminationGracePeriodSeconds` of 30 s; with
 * CoreDNS `ttl 30`, raise both (a 40 s drain, a 50 s grace period).
 */
export const defaultDrainMs = 20_000;

/** Ring points per peer: 50, as Go's gRPC fork. Every node must use the same value. */
export const defaultReplicas = 50;

/**
 * Room for the key, the group name and protobuf framing in a message that
 * also carries a value: a message limit is `maxValueBytes` plus this.
 */
export const messageOverheadBytes = 64 << 10;

/** The largest gRPC message peers send or accept by default: a default-sized value with its framing. */
export const defaultMaxMessageBytes = defaultMaxValueBytes + messageOverheadBytes;

/**
 * A peer call's default deadline: the owner's getter timeout plus 5 s, so
 * the caller does not give up on a load the owner is still allowed to
 * finish and then load the key a second time itself.
 */
export const defaultPeerTimeoutMs = defaultGetterTimeoutMs + 5_000;

/**
 * The address a peer server listens on by default: this machine only. A
 * cache is reachable from other hosts only when asked for (a pod IP, or
 * `0.0.0.0` with the address peers use as `advertiseHost`).
 */
export const defaultPeerHost = "127.0.0.1";

/**
 * Keys one GetStream request message may name, on the owner
 * (`maxKeysPerMessage`): 10 000. Our callers send at most a tenth of it per
 * message, so the owner can refuse a message that names more before it
 * serves any of its keys, without ever refusing one of ours.
 */
export const defaultMaxKeysPerMessage = 10_000;

/**
 * Fetches from one peer that must fail in a row before it is reported down
 * (`peer-down` event, health): one failure is often a blip (a restart, a
 * connection reset), three in a row rarely are.
 */
export const defaultPeerDownAfterErrors = 3;

/**
 * How long after start-up a discovery that has listed no peer but this
 * process is reported (`discovery-alone` event, health): longer than
 * cluster DNS caching (~30 s) plus a few polls, so a pod that starts
 * first in an empty Service is not reported.
 */
export const defaultAloneAfterMs = 60_000;
