/**
 * Defaults that more than one module depends on, written once so that the
 * ones derived from others stay derived when those change: a transport's
 * message limit follows a group's `maxValueBytes`, a peer call's deadline
 * follows `getterTimeoutMs`.
 */

/** A group's `cacheBytes`: 64 MiB. */
export const defaultCacheBytes = 64 << 20;

/** A group's `maxValueBytes`: 8 MiB. */
export const defaultMaxValueBytes = 8 << 20;

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
