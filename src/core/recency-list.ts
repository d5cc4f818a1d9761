/** No id: the end of a list. */
const none = -1;

/**
 * The `prev`/`next` links of entry ids, shared by the lists they belong to
 * (an id is in at most one list at a time). Typed arrays indexed by id: a
 * list of any length is no object per entry.
 */
export class RecencyLinks {
  prev = new Int32Array(1024);
  next = new Int32Array(1024);

  /** Makes room for ids below `capacity`. */
  ensure(capacity: number): void {
    if (capacity <= this.prev.length) return;
    const prev = new Int32Array(capacity);
    prev.set(this.prev);
    this.prev = prev;
    const next = new Int32Array(capacity);
    next.set(this.next);
    this.next = next;
  }
}

/**
 * A least-recently-used order of entry ids, as Go groupcache's `lru.Cache`
 * keeps with its `container/list`, with the bytes and items it holds and the
 * evictions made from it. A doubly linked list through {@link RecencyLinks}:
 * marking an id used, adding and removing one are a few array writes.
 */
export class RecencyList {
  readonly #links: RecencyLinks;
  /** The most recently used id. */
  #head = none;
  /** The least recently used id. */
  #tail = none;
  /** Bytes held, as its owner counts them. */
  bytes = 0;
  items = 0;
  evictions = 0;

  constructor(links: RecencyLinks) {
    this.#links = links;
  }

  /** The least recently used id, or -1 when empty. */
  get oldest(): number {
    return this.#tail;
  }

  /** Adds `id`, not in any list, as the most recently used. */
  pushFront(id: number): void {
    const { prev, next } = this.#links;
    prev[id] = none;
    next[id] = this.#head;
    if (this.#head === none) this.#tail = id;
    else prev[this.#head] = id;
    this.#head = id;
    this.items++;
  }

  /** Removes `id`, which is in this list. */
  unlink(id: number): void {
    const { prev, next } = this.#links;
    const p = prev[id] as number;
    const n = next[id] as number;
    if (p === none) this.#head = n;
    else next[p] = n;
    if (n === none) this.#tail = p;
    else prev[n] = p;
    this.items--;
  }

  /** Marks `id`, which is in this list, as the most recently used. */
  touch(id: number): void {
    if (id === this.#head) return;
    this.unlink(id);
    this.pushFront(id);
  }

  /** Ids from most to least recently used. */
  *ids(): IterableIterator<number> {
    for (let id = this.#head; id !== none; id = this.#links.next[id] as number) yield id;
  }

  /** Forgets every id (their links are left as they are). */
  clear(): void {
    this.#head = none;
    this.#tail = none;
    this.items = 0;
    this.bytes = 0;
  }
}
