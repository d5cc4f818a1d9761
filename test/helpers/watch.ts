import type { GroupCacheError } from "../../src/index.ts";

/**
 * Records what a membership reports and lets a test wait for a condition on
 * it: each `onChange`/`onError` re-checks the waiting conditions, so tests
 * wait on events, never on sleeps. Every wait has a deadline.
 */
export class Recorder {
  readonly changes: (readonly string[])[] = [];
  readonly errors: GroupCacheError[] = [];
  #waiters = new Set<() => void>();

  readonly onChange = (peers: readonly string[]) => {
    this.changes.push(peers);
    this.#wake();
  };

  readonly onError = (error: GroupCacheError) => {
    this.errors.push(error);
    this.#wake();
  };

  /** Resolves once `check()` is true (checked now and after each event); rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Resolves with the first call's argument of the returned callback, or rejects after `timeoutMs`. */
export function nextCall<T>(timeoutMs: number, what: string): { callback: (value: T) => void; called: Promise<T> } {
  let callback: (value: T) => void = () => {};
  const called = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    callback = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
  });
  return { callback, called };
}
