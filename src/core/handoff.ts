import { defaultHandoffMaxBytes, defaultHandoffTimeoutMs } from "./defaults.ts";
import { nonNegativeNumber, optionsObject, signalOption } from "./options.ts";
import type { HandoffEntry, PeerGetter } from "./peers.ts";
import { linkedSignal } from "./signals.ts";
import { utf8Length } from "./utf8.ts";

/** Options of `GroupCache.handoff`. */
export interface HandoffOptions {
  /**
   * Most bytes (keys plus values) handed off in all; the most recently used
   * entries go first, so a budget cut keeps the hottest. `0` hands off
   * nothing. Default: 256 MiB (`defaultHandoffMaxBytes`).
   */
  maxBytes?: number;
  /**
   * Longest the handoff may take, in ms; what is not sent by then stays
   * behind (new owners then peek or load those keys); `0`: no limit.
   * Default: 10 000 (`defaultHandoffTimeoutMs`).
   */
  timeoutMs?: number;
  /** Stops the handoff when it fires. Default: none. */
  signal?: AbortSignal;
}

/** Checks handoff options (named `caller` in errors) and fills in their defaults. */
export function resolveHandoffOptions(
  caller: string,
  options: HandoffOptions | undefined,
): { maxBytes: number; timeoutMs: number; signal: AbortSignal | undefined } {
  const given = optionsObject(`${caller}: options`, options);
  return {
    maxBytes: nonNegativeNumber(`${caller}: maxBytes`, given.maxBytes, defaultHandoffMaxBytes),
    timeoutMs: nonNegativeNumber(`${caller}: timeoutMs`, given.timeoutMs, defaultHandoffTimeoutMs),
    signal: signalOption(`${caller}: signal`, given.signal),
  };
}

/** What a handoff did. */
export interface HandoffReport {
  /** Entries that reached a peer that takes handoffs. */
  sent: number;
  /** Their bytes (keys plus values). */
  bytes: number;
  /** Entries the receivers stored. */
  stored: number;
  /** Entries the receivers did not store (already held, group unknown...). */
  skipped: number;
  /** Peers that do not take handoffs (older or Go peers, or peers that refused this one): nothing more was sent to them. */
  unsupportedPeers: string[];
  /** Calls that failed (the peer was unreachable, closed, timed out); nothing more was sent to that peer. */
  failedCalls: number;
  /** Whether every entry within `maxBytes` went out before `timeoutMs` or the signal. */
  complete: boolean;
}

/** A group's entries to hand off, most recently used first. */
export interface HandoffSource {
  group: string;
  entries: Iterator<[key: string, value: Uint8Array, ttlMs: number]>;
}

/** Where a key goes: its owner's id and client, or `undefined` when it stays (this process owns it, or no other peer). */
export type HandoffRoute = (key: string) => { id: string; peer: PeerGetter } | undefined;

/**
 * One message's worth of entries. Big enough that a handoff of a full
 * 64 MiB cache is a few dozen calls, well under the default 8 MiB message
 * limit; a value larger than this travels alone.
 */
const batchBytes = 1 << 20;
/** Entries read between two yields to the event loop, so gets are served while a large cache is read. */
const entriesPerSlice = 512;

interface OwnerQueue {
  id: string;
  peer: PeerGetter;
  batches: { entries: HandoffEntry[]; bytes: number }[];
  current: HandoffEntry[];
  currentBytes: number;
  sending: Promise<void> | undefined;
  stopped: boolean;
}

/**
 * Pushes the entries of `sources` to the owners `route` gives them: the
 * handoff of a peer that leaves the ring. Groups are read in turn, each
 * most recently used first, into batches per owner; each owner receives
 * its batches one call at a time, all owners at once. A peer that does not
 * take handoffs, or whose call fails, is sent nothing more. Never rejects.
 */
export async function handOff(
  sources: readonly HandoffSource[],
  route: HandoffRoute,
  options?: HandoffOptions,
): Promise<HandoffReport> {
  const { maxBytes, timeoutMs, signal: outer } = resolveHandoffOptions("handoff", options);
  const linked = linkedSignal(outer, timeoutMs);
  const signal = linked.signal;
  const report: HandoffReport = {
    sent: 0,
    bytes: 0,
    stored: 0,
    skipped: 0,
    unsupportedPeers: [],
    failedCalls: 0,
    complete: false,
  };
  const owners = new Map<string, OwnerQueue>();

  const send = async (owner: OwnerQueue) => {
    for (let batch = owner.batches.shift(); batch !== undefined; batch = owner.batches.shift()) {
      if (owner.stopped || signal.aborted || owner.peer.handoff === undefined) break;
      try {
        const result = await owner.peer.handoff(batch.entries, { signal });
        if (result === undefined) {
          owner.stopped = true;
          report.unsupportedPeers.push(owner.id);
        } else {
          report.sent += batch.entries.length;
          report.bytes += batch.bytes;
          report.stored += result.stored;
          report.skipped += result.skipped;
        }
      } catch {
        owner.stopped = true;
        if (!signal.aborted) report.failedCalls++;
      }
    }
    owner.sending = undefined;
  };
  const queue = (owner: OwnerQueue) => {
    if (owner.current.length === 0) return;
    owner.batches.push({ entries: owner.current, bytes: owner.currentBytes });
    owner.current = [];
    owner.currentBytes = 0;
    owner.sending ??= send(owner);
  };

  try {
    let budget = maxBytes;
    let cut = false;
    let read = 0;
    const open = sources.map((s) => ({ ...s, done: false }));
    // Round robin over the groups, so each gets its hottest entries out first.
    while (!signal.aborted && open.some((s) => !s.done)) {
      for (const source of open) {
        if (source.done) continue;
        const next = source.entries.next();
        if (next.done === true) {
          source.done = true;
          continue;
        }
        const [key, value, ttlMs] = next.value;
        const to = route(key);
        if (to === undefined || to.peer.handoff === undefined) continue;
        const size = utf8Length(key) + value.byteLength;
        if (size > budget) {
          cut = true;
          continue;
        }
        let owner = owners.get(to.id);
        if (owner === undefined) {
          owner = { ...to, batches: [], current: [], currentBytes: 0, sending: undefined, stopped: false };
          owners.set(to.id, owner);
        }
        if (owner.stopped) continue;
        budget -= size;
        owner.current.push(
          ttlMs > 0 ? { group: source.group, key, value, ttlMs } : { group: source.group, key, value },
        );
        owner.currentBytes += size;
        if (owner.currentBytes >= batchBytes) queue(owner);
      }
      if (++read % entriesPerSlice === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    for (const owner of owners.values()) queue(owner);
    // Each turn awaits the calls in flight; a call that ends may start the next batch.
    for (;;) {
      const sending = [...owners.values()].flatMap((o) => (o.sending === undefined ? [] : [o.sending]));
      if (sending.length === 0) break;
      await Promise.all(sending);
    }
    report.complete =
      !signal.aborted && !cut && open.every((s) => s.done) && [...owners.values()].every((o) => !o.stopped);
    return report;
  } finally {
    linked.abort();
    linked.cleanup();
  }
}
