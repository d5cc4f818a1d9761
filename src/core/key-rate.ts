import { functionOption, positiveInteger, positiveNumber } from "./options.ts";

/** Options of {@link KeyRate}. */
export interface KeyRateOptions {
  /**
   * Length of one counting window, in milliseconds. Rates are averaged over
   * the current window and the one before it. Default: 60 000 (one minute,
   * the "minute" of the proto's `minute_qps`).
   */
  windowMs?: number;
  /**
   * Most distinct keys counted per window. When a window has counted this
   * many keys and a new one arrives, the window ends early, so memory stays
   * bounded (about two windows' worth) however many keys are requested.
   * Default: 10 000.
   */
  maxKeys?: number;
  /** Clock, in milliseconds. Injectable for tests. Default: `Date.now`. */
  now?: () => number;
}

/**
 * Estimates how often each key is requested, in requests per minute: what an
 * owner reports in a response's `minute_qps` field, so that a peer can tell a
 * popular key (worth mirroring in its hot cache) from a rare one.
 *
 * Two fixed windows instead of a timestamp per request: counting is one map
 * update, and memory is bounded by `maxKeys` per window, without timers. The
 * estimate is the count in the previous and current windows divided by the
 * time they span; while the tracker is younger than one window, that time is
 * taken as a full window, so the first minute reports plain counts.
 */
export class KeyRate {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  #current = new Map<string, number>();
  #previous = new Map<string, number>();
  /** When the current window started. */
  #start: number;
  /** How long the previous window lasted (0 when it holds nothing). */
  #previousMs = 0;
  /** Whether a window has ever ended: before that, no earlier requests exist. */
  #rotated = false;

  constructor(options: KeyRateOptions = {}) {
    this.#windowMs = positiveNumber("KeyRate: windowMs", options.windowMs, 60_000);
    this.#maxKeys = positiveInteger("KeyRate: maxKeys", options.maxKeys, 10_000);
    this.#now = functionOption("KeyRate: now", options.now, Date.now);
    this.#start = this.#now();
  }

  /** Counts one request for `key` and returns the key's rate, per minute, including it. */
  record(key: string): number {
    const now = this.#now();
    this.#advance(now);
    let count = this.#current.get(key);
    if (count === undefined && this.#current.size >= this.#maxKeys) {
      this.#rotate(now);
    }
    count = (count ?? 0) + 1;
    this.#current.set(key, count);
    return this.#rateOf(count + (this.#previous.get(key) ?? 0), now);
  }

  /** The rate of `key`, per minute, without counting a request. */
  rate(key: string): number {
    const now = this.#now();
    this.#advance(now);
    return this.#rate(key, now);
  }

  /** Distinct keys currently counted (both windows). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  #advance(now: number): void {
    if (now - this.#start >= this.#windowMs) this.#rotate(now);
  }

  #rotate(now: number): void {
    const elapsed = Math.max(0, now - this.#start);
    // Counts older than two windows say nothing about the current rate.
    if (elapsed >= 2 * this.#windowMs) {
      this.#previous = new Map();
      this.#previousMs = 0;
    } else {
      this.#previous = this.#current;
      this.#previousMs = elapsed;
    }
    this.#current = new Map();
    this.#start = now;
    this.#rotated = true;
  }

  #rate(key: string, now: number): number {
    return this.#rateOf((this.#previous.get(key) ?? 0) + (this.#current.get(key) ?? 0), now);
  }

  /** `count` requests over both windows, per minute. */
  #rateOf(count: number, now: number): number {
    if (count === 0) return 0;
    const spanMs = this.#previousMs + Math.max(0, now - this.#start);
    // Before the first window ends there were no requests earlier, so the
    // count so far is the count of the last minute. Later, a window ended
    // early by maxKeys may be short: divide by what it really spans.
    const divisor = this.#rotated ? Math.max(spanMs, 1) : this.#windowMs;
    return (count * 60_000) / divisor;
  }
}
