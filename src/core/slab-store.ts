import { GroupCacheError } from "./errors.ts";

/** Options of {@link SlabStore}. */
export interface SlabStoreOptions {
  /**
   * Size of the shared slabs, in bytes: a multiple of 8, at least 64.
   * Values whose record (value plus 8 bytes of header, rounded up to 4) is
   * larger than a quarter of a slab get a buffer of their own, so a slab's
   * unusable tail stays under a quarter of it. Default: 1 MiB.
   */
  slabBytes?: number;
  /**
   * Fraction of a slab that must stay live: when a full slab's live bytes
   * fall below it, its live values are copied into the current slab and the
   * slab is dropped. Slabs then hold at most `1 / compactBelow` times the
   * live bytes, plus the current slab; moving costs at most
   * `compactBelow / (1 - compactBelow)` bytes copied per byte freed. `0`
   * only drops slabs that are entirely dead. Default: 0.5.
   */
  compactBelow?: number;
  /**
   * Called after compaction has moved entry `id` to new storage. Its old
   * range stays valid and unchanged, but whoever keeps a view of it keeps
   * the old slab alive: drop such views here.
   */
  onMove?: (id: number) => void;
}

/** A snapshot of a store's memory. */
export interface SlabStoreStats {
  /** Live entries. */
  entries: number;
  /** Bytes of the live entries' values. */
  valueBytes: number;
  /** Bytes of the live entries' records: values plus headers and padding. */
  liveBytes: number;
  /** Buffers held: shared slabs and buffers of single large values. */
  slabs: number;
  /** Their total size: what the store holds, live or not. */
  allocatedBytes: number;
  /** Slabs compacted so far. */
  compactions: number;
  /** Bytes copied by compaction so far. */
  movedBytes: number;
}

/** One buffer of a store, for tests and diagnostics. */
export interface SlabInfo {
  /** Its size in bytes. */
  capacity: number;
  /** Bytes written so far (it is append-only). */
  used: number;
  /** Bytes of its live records. */
  live: number;
  /** Whether new values are being appended to it. */
  current: boolean;
}

/** A record is [u32 value length][u32 entry id][value][padding to 4 bytes]. */
const headerBytes = 8;
/** `slabOf` of an id that holds no entry. */
const free = 0xffffffff;
const defaultSlabBytes = 1 << 20;
const defaultCompactBelow = 0.5;

const recordBytes = (length: number) => headerBytes + ((length + 3) & ~3);

/**
 * Byte values packed into large shared buffers ("slabs"), each known by a
 * small integer id. It exists for memory: a `Uint8Array` per cached value
 * costs ~830 bytes of RSS beyond a 100-byte value on Node 24 (its own
 * `ArrayBuffer` and backing-store bookkeeping); a record here costs 8 bytes
 * of header plus 8 bytes of table per id, and no object at all.
 *
 * Values are appended to the current slab and never written over: a range
 * handed out (`buffer`/`start`/`length`, a `ByteView`) keeps showing the
 * same bytes even after its entry is freed. So freed space is not reused
 * in place; instead, when a slab's live bytes fall below `compactBelow`,
 * its live values are copied into the current slab, their ids updated, and
 * the slab is dropped for the garbage collector, which frees it once no
 * view points into it any more. A dropped slab is never written again.
 */
export class SlabStore {
  /** Size of the shared slabs. */
  readonly slabBytes: number;
  /** Records larger than this get a buffer of their own. */
  readonly #dedicatedAbove: number;
  /** A retired slab whose live bytes fall below this is compacted. */
  readonly #compactBelowBytes: number;
  readonly #onMove: ((id: number) => void) | undefined;

  // Slabs, by index. Indexes of dropped slabs are reused; buffers never are.
  readonly #bytes: (Uint8Array | undefined)[] = [];
  readonly #words: (Uint32Array | undefined)[] = [];
  readonly #used: number[] = [];
  readonly #live: number[] = [];
  readonly #queued: boolean[] = [];
  readonly #freeSlabs: number[] = [];
  #current = -1;

  // The id table: where each entry's record is. A freed id's `offsetOf`
  // links it to the next freed id (a free list that costs no extra array).
  #slabOf = new Uint32Array(1024).fill(free);
  #offsetOf = new Uint32Array(1024);
  #freeIdHead = free;
  #nextId = 0;

  // Slabs to compact, and whether compaction is running (it can retire the current slab).
  readonly #pending: number[] = [];
  #compacting = false;

  #entries = 0;
  #valueBytes = 0;
  #liveBytes = 0;
  #slabCount = 0;
  #allocatedBytes = 0;
  #compactions = 0;
  #movedBytes = 0;

  constructor(options: SlabStoreOptions = {}) {
    const slabBytes = options.slabBytes ?? defaultSlabBytes;
    if (!Number.isInteger(slabBytes) || slabBytes < 64 || slabBytes % 8 !== 0 || slabBytes > 2 ** 31) {
      throw new GroupCacheError(
        "invalid-argument",
        `slabBytes must be a multiple of 8 from 64 to 2^31, got ${String(slabBytes)}`,
      );
    }
    const compactBelow = options.compactBelow ?? defaultCompactBelow;
    if (typeof compactBelow !== "number" || !(compactBelow >= 0 && compactBelow < 1)) {
      throw new GroupCacheError("invalid-argument", `compactBelow must be at least 0 and below 1, got ${compactBelow}`);
    }
    this.slabBytes = slabBytes;
    this.#dedicatedAbove = slabBytes >> 2;
    this.#compactBelowBytes = Math.floor(compactBelow * slabBytes);
    this.#onMove = options.onMove;
  }

  /** Copies `value` into the store; returns its id. */
  put(value: Uint8Array): number {
    const length = value.byteLength;
    const record = recordBytes(length);
    let slab: number;
    let offset: number;
    if (record > this.#dedicatedAbove) {
      slab = this.#newSlab(record);
      offset = 0;
    } else {
      offset = this.#reserve(record);
      slab = this.#current;
    }
    this.#used[slab] = offset + record;
    const id = this.#allocateId();
    const words = this.#words[slab] as Uint32Array;
    words[offset >> 2] = length;
    words[(offset >> 2) + 1] = id;
    (this.#bytes[slab] as Uint8Array).set(value, offset + headerBytes);
    this.#slabOf[id] = slab;
    this.#offsetOf[id] = offset;
    this.#live[slab] = (this.#live[slab] as number) + record;
    this.#entries++;
    this.#valueBytes += length;
    this.#liveBytes += record;
    this.#compactPending();
    return id;
  }

  /** Frees entry `id`. Views of its bytes stay valid. */
  free(id: number): void {
    const slab = this.#slabOf[id];
    if (slab === undefined || slab === free) {
      throw new GroupCacheError("internal", `slab store: free of id ${id}, which holds no entry`);
    }
    const length = this.length(id);
    const record = recordBytes(length);
    this.#slabOf[id] = free;
    this.#offsetOf[id] = this.#freeIdHead;
    this.#freeIdHead = id;
    this.#entries--;
    this.#valueBytes -= length;
    this.#liveBytes -= record;
    const before = this.#live[slab] as number;
    const live = before - record;
    this.#live[slab] = live;
    if (slab === this.#current) return;
    if (live === 0 && !this.#queued[slab]) this.#drop(slab);
    else if (live < this.#compactBelowBytes && before >= this.#compactBelowBytes) this.#queue(slab);
    this.#compactPending();
  }

  /** Whether `id` holds an entry. */
  has(id: number): boolean {
    const slab = this.#slabOf[id];
    return slab !== undefined && slab !== free;
  }

  /** The buffer that holds entry `id`'s bytes, at `start(id)`; never write to it. */
  buffer(id: number): Uint8Array {
    return this.#bytes[this.#slabOf[id] as number] as Uint8Array;
  }

  /** Where entry `id`'s bytes start in `buffer(id)`. */
  start(id: number): number {
    return (this.#offsetOf[id] as number) + headerBytes;
  }

  /** Number of bytes of entry `id`. */
  length(id: number): number {
    const words = this.#words[this.#slabOf[id] as number] as Uint32Array;
    return words[(this.#offsetOf[id] as number) >> 2] as number;
  }

  /** A view of entry `id`'s bytes (allocates a `Uint8Array` view, copies nothing); never write to it. */
  view(id: number): Uint8Array {
    const start = this.start(id);
    return this.buffer(id).subarray(start, start + this.length(id));
  }

  /** A snapshot of the store's counters. */
  stats(): SlabStoreStats {
    return {
      entries: this.#entries,
      valueBytes: this.#valueBytes,
      liveBytes: this.#liveBytes,
      slabs: this.#slabCount,
      allocatedBytes: this.#allocatedBytes,
      compactions: this.#compactions,
      movedBytes: this.#movedBytes,
    };
  }

  /** Every buffer held, for tests and diagnostics. */
  slabs(): SlabInfo[] {
    const out: SlabInfo[] = [];
    for (let i = 0; i < this.#bytes.length; i++) {
      const bytes = this.#bytes[i];
      if (bytes === undefined) continue;
      out.push({
        capacity: bytes.byteLength,
        used: this.#used[i] as number,
        live: this.#live[i] as number,
        current: i === this.#current,
      });
    }
    return out;
  }

  /** Room for `record` bytes in the current slab, starting a new one if needed; returns the offset. */
  #reserve(record: number): number {
    let current = this.#current;
    if (current === -1 || (this.#used[current] as number) + record > this.slabBytes) {
      const retired = current;
      current = this.#newSlab(this.slabBytes);
      this.#current = current;
      if (retired !== -1) this.#retire(retired);
    }
    const offset = this.#used[current] as number;
    this.#used[current] = offset + record;
    return offset;
  }

  /** A slab stops being current: drop it if dead, queue it if mostly dead. */
  #retire(slab: number): void {
    const live = this.#live[slab] as number;
    if (live === 0) this.#drop(slab);
    else if (live < this.#compactBelowBytes) this.#queue(slab);
  }

  #queue(slab: number): void {
    if (this.#queued[slab]) return;
    this.#queued[slab] = true;
    this.#pending.push(slab);
  }

  /** Compacts the queued slabs (compaction may retire more; they join the queue). */
  #compactPending(): void {
    if (this.#compacting || this.#pending.length === 0) return;
    this.#compacting = true;
    try {
      for (let slab = this.#pending.pop(); slab !== undefined; slab = this.#pending.pop()) this.#compact(slab);
    } finally {
      this.#compacting = false;
    }
  }

  /** Copies `slab`'s live records into the current slab, then drops it. */
  #compact(slab: number): void {
    const bytes = this.#bytes[slab] as Uint8Array;
    const words = this.#words[slab] as Uint32Array;
    const end = this.#used[slab] as number;
    for (let offset = 0; offset < end; ) {
      const record = recordBytes(words[offset >> 2] as number);
      const id = words[(offset >> 2) + 1] as number;
      // A record is live while its id still points at it: a freed id is
      // `free`, and a reused id points at a newer record elsewhere.
      if (this.#slabOf[id] === slab && this.#offsetOf[id] === offset) {
        const to = this.#reserve(record);
        const target = this.#current;
        (this.#bytes[target] as Uint8Array).set(bytes.subarray(offset, offset + record), to);
        this.#slabOf[id] = target;
        this.#offsetOf[id] = to;
        this.#live[target] = (this.#live[target] as number) + record;
        this.#live[slab] = (this.#live[slab] as number) - record;
        this.#movedBytes += record;
        this.#onMove?.(id);
      }
      offset += record;
    }
    this.#queued[slab] = false;
    this.#compactions++;
    this.#drop(slab);
  }

  #newSlab(capacity: number): number {
    const buffer = new ArrayBuffer(capacity);
    const slab = this.#freeSlabs.pop() ?? this.#bytes.length;
    this.#bytes[slab] = new Uint8Array(buffer);
    this.#words[slab] = new Uint32Array(buffer);
    this.#used[slab] = 0;
    this.#live[slab] = 0;
    this.#queued[slab] = false;
    this.#slabCount++;
    this.#allocatedBytes += capacity;
    return slab;
  }

  /** Forgets `slab`: its buffer lives on only in views that still point into it. */
  #drop(slab: number): void {
    this.#allocatedBytes -= (this.#bytes[slab] as Uint8Array).byteLength;
    this.#slabCount--;
    this.#bytes[slab] = undefined;
    this.#words[slab] = undefined;
    this.#used[slab] = 0;
    this.#live[slab] = 0;
    this.#freeSlabs.push(slab);
  }

  #allocateId(): number {
    const reused = this.#freeIdHead;
    if (reused !== free) {
      this.#freeIdHead = this.#offsetOf[reused] as number;
      return reused;
    }
    const id = this.#nextId++;
    if (id === this.#slabOf.length) {
      const capacity = id * 2;
      const slabOf = new Uint32Array(capacity).fill(free);
      slabOf.set(this.#slabOf);
      this.#slabOf = slabOf;
      const offsetOf = new Uint32Array(capacity);
      offsetOf.set(this.#offsetOf);
      this.#offsetOf = offsetOf;
    }
    return id;
  }
}
