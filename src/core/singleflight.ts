import { ChurnMap } from "./churn-map.ts";
import { GroupCacheError } from "./errors.ts";
import { raceSignal } from "./signals.ts";

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Callers that passed a signal and are still waiting. */
  abortable: number;
  /** Callers that passed no signal: they can never leave. */
  steadfast: number;
}

/**
 * Runs at most one call per key at a time; callers that ask for a key while
 * its call is in flight wait for that call and share its result or its
 * error, as Go groupcache's `singleflight.Group`.
 *
 * Unlike Go's, a caller can stop waiting: its `AbortSignal` rejects that
 * caller alone, and the shared call goes on for the others. Only when every
 * caller has left does the call's own signal fire, so the work can stop if
 * nobody wants it; the key is then free for a new call at once. A call that
 * throws, synchronously or not, releases every waiter with its error.
 */
export class SingleFlight<T> {
  /** Not a `Map`: a key comes and goes on every miss (see `ChurnMap`). */
  readonly #flights = new ChurnMap<string, Flight<T>>();

  /** Keys with a call in flight. */
  get size(): number {
    return this.#flights.size;
  }

  /** Whether a call for `key` is in flight. */
  has(key: string): boolean {
    return this.#flights.has(key);
  }

  /**
   * Returns the result of `fn(signal, flight)` for `key`, calling `fn` only
   * if no call for `key` is in flight. `signal` releases this caller only.
   * `fn` gets the call's signal, which fires once every caller has left,
   * and its controller, to fire it itself (a deadline of the call's own).
   */
  do(
    key: string,
    fn: (signal: AbortSignal, flight: AbortController) => Promise<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    const flight = this.#flights.get(key);
    if (flight !== undefined) return this.#wait(key, flight, signal);
    if (signal?.aborted) return Promise.reject(GroupCacheError.from(signal.reason, "canceled"));
    return this.#wait(key, this.#start(key, fn), signal);
  }

  /**
   * Waits for the call in flight for `key`, as {@link do} would, or
   * returns `undefined` (nothing started) when there is none.
   */
  join(key: string, signal?: AbortSignal): Promise<T> | undefined {
    const flight = this.#flights.get(key);
    return flight === undefined ? undefined : this.#wait(key, flight, signal);
  }

  #wait(key: string, flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    if (signal === undefined) {
      flight.steadfast++;
      return flight.promise;
    }
    flight.abortable++;
    const f = flight;
    return raceSignal(f.promise, signal, "").catch((error: unknown) => {
      if (signal.aborted) this.#leave(key, f, signal.reason);
      throw error;
    });
  }

  /**
   * Detaches the call in flight for `key`, if any: its callers still get
   * its result, but callers from now on start a new call. For a write of
   * the key: a get that starts after it must not share a load that
   * started before it, and may return the older value.
   */
  forget(key: string): void {
    this.#flights.delete(key);
  }

  #start(key: string, fn: (signal: AbortSignal, flight: AbortController) => Promise<T> | T): Flight<T> {
    const controller = new AbortController();
    const flight: Flight<T> = {
      controller,
      abortable: 0,
      steadfast: 0,
      promise: new Promise<T>((resolve) => resolve(fn(controller.signal, controller))),
    };
    this.#flights.set(key, flight);
    const done = () => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    // Also keeps a rejection nobody waits for any more from being unhandled.
    flight.promise.then(done, done);
    return flight;
  }

  #leave(key: string, flight: Flight<T>, reason: unknown): void {
    flight.abortable--;
    if (flight.abortable > 0 || flight.steadfast > 0) return;
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
    flight.controller.abort(reason);
  }
}
