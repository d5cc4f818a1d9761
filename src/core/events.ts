import type { GroupCacheError } from "./errors.ts";

/**
 * How much an event matters, named as loggers name their methods, so
 * `onEvent: (e) => logger[e.level](e.message)` logs every event.
 */
export type EventLevel = "info" | "warn" | "error";

interface BaseEvent<Type extends string> {
  type: Type;
  level: EventLevel;
  /** One line for a log, naming what happened and, for a problem, what to check. */
  message: string;
}

/**
 * Something an operator may want to know, given to `onEvent` (of
 * `GroupCache`, `startPeer`). Keys are never part of an event (they may be
 * personal data). The library itself never logs: events are the only
 * channel, and they are off (dropped) until `onEvent` is set.
 */
export type GroupCacheEvent =
  /** A fetch from a key's owner failed; the key was loaded here instead (counted in `peerErrors`). */
  | (BaseEvent<"peer-error"> & { peer: string; group: string; code: string; cause: GroupCacheError })
  /**
   * A peer is considered down: `consecutiveErrors` fetches in a row could not reach it or timed out.
   * Its keys are loaded by each asking peer itself until it answers again.
   */
  | (BaseEvent<"peer-down"> & { peer: string; reason: string; consecutiveErrors: number })
  /** A peer considered down answered again. */
  | (BaseEvent<"peer-up"> & { peer: string })
  /**
   * A peer answered that it has no such group: the group is missing on it
   * (a deployment with different groups, a misspelled name). Every key it
   * owns is then loaded by each asking peer itself.
   */
  | (BaseEvent<"peer-missing-group"> & { peer: string; group: string })
  /** A peer asked this process for a group it does not have. `from`: the asking peer, when it said. */
  | (BaseEvent<"unknown-group"> & { group: string; from: string | undefined })
  /** This process's ring changed (`setPeers`). */
  | (BaseEvent<"ring-change"> & {
      peers: readonly string[];
      added: readonly string[];
      removed: readonly string[];
      fingerprint: string;
    })
  /**
   * A peer's request carried another ring fingerprint than this process's:
   * the two disagree on who the members are (normal for a few seconds
   * during a rollout; a lasting one means different peer lists or options).
   * Reported once per peer and fingerprint pair.
   */
  | (BaseEvent<"ring-mismatch"> & { from: string | undefined; ours: string; theirs: string })
  /** Discovery listed a new peer set. */
  | (BaseEvent<"discovery-change"> & { peers: readonly string[] })
  /** A discovery lookup failed; the last good peer set stays. */
  | (BaseEvent<"discovery-error"> & { error: GroupCacheError })
  /**
   * Discovery has listed no peer but this one since start-up, for
   * `afterMs`: a misspelled service name, a wrong namespace or port name,
   * or a Service selecting no pod. The process works, alone.
   */
  | (BaseEvent<"discovery-alone"> & { afterMs: number })
  /** A value over `maxValueBytes`: from the getter (not cached, the get fails) or from a peer (loaded here instead). */
  | (BaseEvent<"value-too-large"> & { group: string; source: "getter" | "peer" })
  /** The getter did not finish within `getterTimeoutMs`; its waiters got `deadline-exceeded`. */
  | (BaseEvent<"getter-timeout"> & { group: string; timeoutMs: number });

/** The `type`s of {@link GroupCacheEvent}. */
export type GroupCacheEventType = GroupCacheEvent["type"];

/** Receives events; see {@link GroupCacheEvent}. */
export type EventListener = (event: GroupCacheEvent) => void;

/** Calls `listener` with `event`; a listener that throws must not break the get or poll that reported it. */
export function emitTo(listener: EventListener | undefined, event: GroupCacheEvent): void {
  if (listener === undefined) return;
  try {
    listener(event);
  } catch {
    // An event hook's failure is its own business.
  }
}
