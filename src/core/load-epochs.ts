import { ChurnMap } from "./churn-map.ts";

/** One key with loads in flight: how many, and how many writes happened during them. */
interface Loading {
  epoch: number;
  loads: number;
}

/**
 * Keeps a load that started before a write (a `remove` or a `set`) of its
 * key from caching its older value after the write. Every load that may
 * cache what it brings (a getter call, a fetch from the owner, a peek) takes
 * the key's current epoch when it starts; a write bumps the epoch of the
 * keys it touches; the load caches its value only if the epoch is still the
 * one it took. Without it, a remove that lands while a getter reads the old
 * row is undone when the getter returns, and the old value stays cached
 * until evicted: the race no Go implementation handles.
 *
 * Only keys with a load in flight are tracked (the record goes with the
 * last of them), so the map is bounded by the loads in flight, a write to
 * a key nobody is loading costs one map lookup, and the hit path never
 * touches it.
 */
export class LoadEpochs {
  /** Not a `Map`: a key comes and goes on every load (see `ChurnMap`). */
  readonly #loading = new ChurnMap<string, Loading>();

  /** A load of `key` starts: returns the epoch to check at insert. Pair with {@link end}. */
  begin(key: string): number {
    let loading = this.#loading.get(key);
    if (loading === undefined) {
      loading = { epoch: 0, loads: 0 };
      this.#loading.set(key, loading);
    }
    loading.loads++;
    return loading.epoch;
  }

  /** Whether a load of `key` that began at `epoch` may still cache its value: no write since. */
  current(key: string, epoch: number): boolean {
    return this.#loading.get(key)?.epoch === epoch;
  }

  /** A load of `key` is over (cached, refused or failed). */
  end(key: string): void {
    const loading = this.#loading.get(key);
    if (loading !== undefined && --loading.loads === 0) this.#loading.delete(key);
  }

  /** A write of `key`: the loads of it in flight may no longer cache what they bring. */
  bump(key: string): void {
    const loading = this.#loading.get(key);
    if (loading !== undefined) loading.epoch++;
  }

  /** Keys with a load in flight (for tests: it must drop back to 0). */
  get size(): number {
    return this.#loading.size;
  }
}
