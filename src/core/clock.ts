import { invalidOption, nonNegativeNumber } from "./options.ts";

/**
 * A source of time in milliseconds, for expiry: TTLs, grace and cached
 * not-founds. Only differences between its readings matter (a remaining
 * TTL travels to peers as a duration), so any monotonic origin will do and
 * peers need no synchronised clocks. Give a group a {@link ManualClock} in
 * tests to expire entries exactly when the test says.
 */
export interface Clock {
  /** The current time, in milliseconds, never going backwards. */
  now(): number;
}

/** Readings a {@link CoarseClock} hands out again before it reads the time anew. */
const readsPerReading = 32;
/** Milliseconds after which a {@link CoarseClock} reads the time anew, at the latest once the task yields. */
const refreshMs = 1;

/**
 * The default clock: `performance.now()` (monotonic: a wall-clock change
 * does not expire or revive entries), read at most once per 32 readings and
 * per millisecond. A clock read costs about half of a whole cache hit here,
 * and with a TTL every hit needs the time; reused readings make a hit with
 * a TTL cost about what one without costs (see bench/README.md).
 *
 * The price: a reading lags the time by up to ~1 ms while the process
 * yields to its event loop, and by up to the 32 readings in between when it
 * does not. An entry may so be served for that long past its expiry: time
 * on the scale of a TTL's rounding. A task that runs for long between two
 * gets without reading the clock can stretch it; give such a group a clock
 * of its own (`{ now: () => performance.now() }`) for exact readings.
 */
export class CoarseClock implements Clock {
  #reading = 0;
  /** Readings left before the time is read anew; 0 once the timer fired. */
  #left = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #expire = () => {
    this.#timer = undefined;
    this.#left = 0;
  };

  now(): number {
    if (this.#left > 0) {
      this.#left--;
      return this.#reading;
    }
    return this.#read();
  }

  #read(): number {
    this.#reading = performance.now();
    this.#left = readsPerReading - 1;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#expire, refreshMs);
      // Not to hold the process open for it, where the runtime allows (Node, Bun).
      (this.#timer as { unref?: () => void }).unref?.();
    }
    return this.#reading;
  }
}

/**
 * A clock that moves only when told: for tests of expiry, so an entry
 * expires at the exact millisecond a test advances to, without sleeping.
 */
export class ManualClock implements Clock {
  #now: number;

  /** Starts at `start` ms (>= 0: expiry times are never negative). Default: 0. */
  constructor(start = 0) {
    this.#now = nonNegativeNumber("ManualClock: start", start, 0);
  }

  now(): number {
    return this.#now;
  }

  /** Moves the time forward by `ms` (>= 0). */
  advance(ms: number): void {
    this.#now += nonNegativeNumber("ManualClock.advance: ms", ms, 0);
  }

  /** Sets the time to `ms`, which must not be earlier than the current time. */
  set(ms: number): void {
    if (!(ms >= this.#now)) throw invalidOption("ManualClock.set: ms", `a time from ${this.#now} on`, ms);
    this.#now = ms;
  }
}
