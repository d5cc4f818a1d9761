import { defaultPeerDownAfterErrors } from "./defaults.ts";
import type { GroupCacheError } from "./errors.ts";
import type { EventListener } from "./events.ts";

/** Kinds of {@link HealthProblem}: each a misconfiguration or failure the cluster keeps working through, degraded. */
export type HealthProblemKind = "peer-down" | "peer-missing-group" | "ring-mismatch" | "discovery-alone";

/** One thing wrong, as `health()` lists it. */
export interface HealthProblem {
  kind: HealthProblemKind;
  /** The peer concerned, if any. */
  peer?: string;
  /** The group concerned, for `peer-missing-group`. */
  group?: string;
  message: string;
  /** When it was first seen (ms since the epoch). */
  since: number;
}

/**
 * What a process knows of its cluster's health, from its own traffic:
 * peers whose fetches keep failing (down), peers that lack a group,
 * peers whose ring differs from this one, and (through `startPeer`) a
 * discovery that never found anyone. Each problem is reported once as an
 * event when it appears, and listed until it clears.
 */
export class ClusterHealth {
  readonly #emit: EventListener;
  readonly #downAfter: number;
  /** Consecutive failed fetches per peer (peers that answered last are absent). */
  readonly #failures = new Map<string, number>();
  readonly #problems = new Map<string, HealthProblem>();
  /** The last fingerprint ("theirs") reported per ring-mismatch problem key. */
  readonly #mismatches = new Map<string, string>();

  constructor(emit: EventListener, downAfter = defaultPeerDownAfterErrors) {
    this.#emit = emit;
    this.#downAfter = downAfter;
  }

  /** A fetch from `peer` for `group` succeeded. Costs a map lookup only while something is wrong with a peer. */
  peerOk(peer: string, group: string): void {
    if (this.#failures.size !== 0) {
      this.#failures.delete(peer);
      this.markUp(peer);
    }
    if (this.#problems.size !== 0) this.#problems.delete(`peer-missing-group ${peer} ${group}`);
  }

  /**
   * A fetch from `peer` for `group` failed with `error` (not a cancel, not
   * a not-found): `unknown-group` is a missing group; `unavailable` and
   * `deadline-exceeded` count towards the peer being down.
   */
  peerFailed(peer: string, group: string, error: GroupCacheError): void {
    if (error.code === "unknown-group") {
      // Alive, but without the group: a configuration problem, not a down peer.
      const added = this.#add({
        kind: "peer-missing-group",
        peer,
        group,
        message: `peer ${peer} has no group ${JSON.stringify(group)}: each process loads the keys it owns itself; deploy the same groups on every peer`,
      });
      if (added !== undefined)
        this.#emit({ type: "peer-missing-group", level: "error", peer, group, message: added.message });
      return;
    }
    // Only failures to reach the peer or to hear back from it count
    // towards down: an owner whose getter failed, or whose value was too
    // large, answered.
    if (error.code !== "unavailable" && error.code !== "deadline-exceeded") return;
    const failures = (this.#failures.get(peer) ?? 0) + 1;
    this.#failures.set(peer, failures);
    if (failures >= this.#downAfter) this.markDown(peer, error.message, failures);
  }

  /**
   * Marks `peer` down (once until it is marked up): the one place a peer
   * goes down, whatever noticed it (failed fetches here, or a detector of
   * hung peers).
   */
  markDown(peer: string, reason: string, consecutiveErrors: number = this.#failures.get(peer) ?? 0): void {
    const added = this.#add({
      kind: "peer-down",
      peer,
      message: `peer ${peer} is down after ${consecutiveErrors} failed fetches in a row (last: ${reason}); its keys are loaded by each asking peer itself`,
    });
    if (added !== undefined) {
      this.#emit({ type: "peer-down", level: "warn", peer, reason, consecutiveErrors, message: added.message });
    }
  }

  /** Marks `peer` up again if it was down: the one place a peer comes back. */
  markUp(peer: string): void {
    if (this.#problems.delete(`peer-down ${peer}`)) {
      this.#emit({ type: "peer-up", level: "info", peer, message: `peer ${peer} answers again` });
    }
  }

  /**
   * The ring changed to `peers`, of fingerprint `ours`: forgets what it
   * knew of peers that left, and clears the mismatches of peers whose last
   * fingerprint is now this process's.
   */
  ringChanged(peers: readonly string[], ours: string): void {
    for (const [key, theirs] of this.#mismatches) {
      if (theirs !== ours) continue;
      this.#mismatches.delete(key);
      this.#problems.delete(key);
    }
    const members = new Set(peers);
    for (const peer of this.#failures.keys()) if (!members.has(peer)) this.#failures.delete(peer);
    for (const [key, problem] of this.#problems) {
      if (problem.peer !== undefined && problem.kind !== "ring-mismatch" && !members.has(problem.peer)) {
        this.#problems.delete(key);
      }
    }
  }

  /** A request from `from` carried ring fingerprint `theirs`, and this process's is `ours`. */
  ringSeen(from: string | undefined, ours: string, theirs: string): void {
    const key = `ring-mismatch ${from ?? "?"}`;
    if (ours === theirs) {
      if (this.#problems.size !== 0 && this.#problems.delete(key)) this.#mismatches.delete(key);
      return;
    }
    if (this.#problems.has(key) && this.#mismatches.get(key) === theirs) return;
    this.#problems.delete(key);
    this.#mismatches.set(key, theirs);
    const problem = this.#add({
      kind: "ring-mismatch",
      ...(from === undefined ? {} : { peer: from }),
      message: `peer ${from ?? "(unnamed)"} has another ring than this process (fingerprint ${theirs} there, ${ours} here): their peer lists or ring options differ`,
    });
    if (problem !== undefined) {
      this.#emit({ type: "ring-mismatch", level: "warn", from, ours, theirs, message: problem.message });
    }
  }

  /** Sets or clears (`undefined`) a problem the runtime found (such as `discovery-alone`); returns whether it is new. */
  setProblem(kind: HealthProblemKind, message: string | undefined): boolean {
    if (message === undefined) {
      this.#problems.delete(kind);
      return false;
    }
    return this.#add({ kind, message }, kind) !== undefined;
  }

  /** The problems now, oldest first. */
  problems(): HealthProblem[] {
    return [...this.#problems.values()].map((p) => ({ ...p }));
  }

  /** Adds a problem unless one of its key is listed; returns it when new. */
  #add(problem: Omit<HealthProblem, "since">, key = problemKey(problem)): HealthProblem | undefined {
    if (this.#problems.has(key)) return undefined;
    const full = { ...problem, since: Date.now() };
    this.#problems.set(key, full);
    return full;
  }
}

function problemKey(problem: Omit<HealthProblem, "since">): string {
  if (problem.kind === "peer-missing-group") return `${problem.kind} ${problem.peer} ${problem.group}`;
  if (problem.kind === "ring-mismatch") return `${problem.kind} ${problem.peer ?? "?"}`;
  return problem.peer === undefined ? problem.kind : `${problem.kind} ${problem.peer}`;
}
