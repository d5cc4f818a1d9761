import { GroupCacheError } from "./errors.ts";
import type { PeerGetter } from "./peers.ts";
import { raceSignal, throwIfAborted } from "./signals.ts";

/** Options of `Group.remove` and `Group.removeKeys`. */
export interface WriteOptions {
  /** Stops waiting: rejects with `canceled`/`deadline-exceeded`, and cancels the calls to peers still running. Default: none. */
  signal?: AbortSignal;
}

/** Options of `Group.set`. */
export interface SetOptions extends WriteOptions {
  /**
   * How long the value lives on its owner, in ms from when the owner stores
   * it. Default: the group's own setting.
   */
  ttlMs?: number;
}

/** A group's write, as it travels: keys to drop, or one key's new value. */
export type ClusterWrite =
  | { kind: "remove"; keys: readonly string[] }
  | { kind: "set"; key: string; value: Uint8Array; ttlMs?: number | undefined };

/** How a group applies a write to its own caches (see `Group`'s server half). */
export interface LocalWriter {
  /** Drops `keys`, stops loads of them in flight from caching; returns how many were held. */
  remove(keys: readonly string[]): number;
  /** Stores `value` as `key`'s in the main cache; returns whether it is cached. */
  set(key: string, value: Uint8Array, ttlMs: number | undefined): boolean;
}

/** What `Group` asks its picker (`GroupCache.write`) to run. */
export interface ClusterWriteRequest {
  group: string;
  write: ClusterWrite;
  local: LocalWriter;
  signal: AbortSignal | undefined;
}

/** One process a write goes to: this one (`client` undefined) or a peer. */
export interface WriteTarget {
  id: string;
  self: boolean;
  /** A peer that left the ring within the peek window: new owners may still peek its memory. */
  former: boolean;
  client: PeerGetter | undefined;
}

/** How one peer took a write. */
export interface PeerWriteResult {
  /** The peer's id (this process's own row too). */
  peer: string;
  /** Whether the row is this process. */
  self: boolean;
  /**
   * A peer that left the ring within `peekWindowMs`: it is told too, as a
   * new owner may still peek its memory, but it does not count for
   * `complete` (it may be gone).
   */
  former: boolean;
  /** How many of the keys it owns, so it was told first (a set: 1 on the key's owner). */
  owned: number;
  /** Whether every request to it succeeded. */
  reached: boolean;
  /** How many of the keys it held and dropped. */
  removed: number;
  /** A set: whether the owner now caches the value (false when it does not fit its budget). */
  stored: boolean;
  /**
   * Why it was not reached (its first failure): `unimplemented` (a peer
   * without Set and Remove: a Go peer, an older version), `permission-denied`
   * (writes are off there, or it does not trust this process), `unavailable`,
   * `deadline-exceeded`...
   */
  error?: GroupCacheError;
}

/** What a cluster-wide write did, peer by peer. */
export interface WriteResult {
  /** Whether every peer of the current ring (this process included) was reached. */
  complete: boolean;
  /** One row per process told: this one, the ring's peers and recent former peers; owners first. */
  peers: PeerWriteResult[];
}

/**
 * Runs `write` on `targets`: first on the keys' owners (`ownerOf`), then,
 * once each owner answered, a remove of the keys to every other target, so
 * a copy dropped from a hot cache cannot be fetched again from an owner
 * that still holds the old value. Each process applies what it receives
 * itself and never forwards it (as a get's loop guard). A failed target is
 * reported in its row, never counted as a success; the others go on.
 * Rejects only when `signal` fires.
 */
export async function clusterWrite(
  group: string,
  write: ClusterWrite,
  targets: readonly WriteTarget[],
  ownerOf: (key: string) => string,
  local: LocalWriter,
  signal: AbortSignal | undefined,
): Promise<WriteResult> {
  const context = `group "${group}": ${write.kind}`;
  throwIfAborted(signal, context);
  const callSignal = signal ?? new AbortController().signal;
  const keys = write.kind === "set" ? [write.key] : write.keys;
  const rows = new Map<string, PeerWriteResult>();
  const owned = new Map<string, string[]>();
  for (const key of keys) {
    const owner = ownerOf(key);
    const list = owned.get(owner);
    if (list === undefined) owned.set(owner, [key]);
    else list.push(key);
  }
  for (const t of targets) {
    const n = owned.get(t.id)?.length ?? 0;
    rows.set(t.id, { peer: t.id, self: t.self, former: t.former, owned: n, reached: true, removed: 0, stored: false });
  }

  const send = async (target: WriteTarget, op: ClusterWrite): Promise<void> => {
    const row = rows.get(target.id) as PeerWriteResult;
    try {
      if (op.kind === "set") row.stored = await setOn(target, group, op, local, callSignal);
      else row.removed += await removeOn(target, group, op.keys, local, callSignal);
    } catch (error) {
      row.reached = false;
      row.error ??= GroupCacheError.from(error, "internal", `peer ${target.id}`);
    }
  };
  const ownerOps = targets.flatMap((t) => {
    const mine = owned.get(t.id);
    if (mine === undefined) return [];
    const op: ClusterWrite = write.kind === "set" ? write : { kind: "remove", keys: mine };
    return [send(t, op)];
  });
  // Raced with the signal: a peer that ignores its cancel must not hold the caller.
  await raceSignal(Promise.all(ownerOps), signal, context);
  await raceSignal(
    Promise.all(
      targets.flatMap((t) => {
        // An owner that failed is reported already; asking again would only
        // wait for a second failure (a whole timeout for a peer that is gone).
        if (!(rows.get(t.id) as PeerWriteResult).reached) return [];
        const mine = owned.get(t.id);
        const others = mine === undefined ? keys : keys.filter((key) => !mine.includes(key));
        return others.length === 0 ? [] : [send(t, { kind: "remove", keys: others })];
      }),
    ),
    signal,
    context,
  );
  const peers = [...rows.values()].sort((a, b) => (b.owned > 0 ? 1 : 0) - (a.owned > 0 ? 1 : 0));
  return { complete: peers.every((row) => row.reached || row.former), peers };
}

function removeOn(
  target: WriteTarget,
  group: string,
  keys: readonly string[],
  local: LocalWriter,
  signal: AbortSignal,
): Promise<number> {
  if (target.self) return Promise.resolve(local.remove(keys));
  const client = reachable(target, "remove");
  return client.remove?.(group, keys, { signal }) ?? Promise.reject(cannot(target, "Remove"));
}

function setOn(
  target: WriteTarget,
  group: string,
  write: { key: string; value: Uint8Array; ttlMs?: number | undefined },
  local: LocalWriter,
  signal: AbortSignal,
): Promise<boolean> {
  if (target.self) return Promise.resolve(local.set(write.key, write.value, write.ttlMs));
  const client = reachable(target, "set");
  return (
    client.set?.(group, write.key, write.value, { signal, ttlMs: write.ttlMs }) ?? Promise.reject(cannot(target, "Set"))
  );
}

function reachable(target: WriteTarget, what: string): PeerGetter {
  if (target.client === undefined) {
    throw new GroupCacheError("unavailable", `peer ${target.id}: no client to send the ${what} to`);
  }
  return target.client;
}

function cannot(target: WriteTarget, rpc: string): GroupCacheError {
  return new GroupCacheError(
    "unimplemented",
    `peer ${target.id}: its client cannot send ${rpc} (no ${rpc.toLowerCase()} method)`,
  );
}
