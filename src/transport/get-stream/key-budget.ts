/**
 * Slots for keys in flight, shared by the GetStreams of one HTTP/2
 * connection: each key a stream starts serving takes one, and gives it
 * back when it is answered or released. A stream that finds none left
 * waits (its keys queue, and it stops reading its requests) until another
 * stream of the connection gives one back. Without it, the streams of one
 * connection could each start their own cap of loads.
 */
export class KeyBudget {
  /** Slots in all. */
  readonly max: number;
  #used = 0;
  /** Streams waiting for a slot, first come first served. */
  readonly #waiting = new Set<() => void>();

  constructor(max: number) {
    this.max = max;
  }

  /** Slots taken. */
  get used(): number {
    return this.#used;
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.#used >= this.max) return false;
    this.#used++;
    return true;
  }

  /**
   * Gives a slot back and wakes the streams waiting, in order, until the
   * slots are gone again. A woken stream takes what it needs and calls
   * {@link wait} again if it still needs more.
   */
  release(): void {
    this.#used--;
    for (const wake of this.#waiting) {
      if (this.#used >= this.max) return;
      this.#waiting.delete(wake);
      wake();
    }
  }

  /** Calls `wake` once a slot is given back (once per call; again if it waits again). */
  wait(wake: () => void): void {
    this.#waiting.add(wake);
  }

  /** Stops waiting (the stream ended). */
  cancelWait(wake: () => void): void {
    this.#waiting.delete(wake);
  }
}
