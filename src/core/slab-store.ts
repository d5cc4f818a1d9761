import { GroupCacheError } from "./errors.ts";
import { fractionOption } from "./options.ts";

/** Options of {@link SlabStore}. */
export interface SlabStoreOptions {
  /**
   * Size of the shared slabs, in bytes: a multiple of 8, at least 64.
   * Entries whose record (key and value plus 12 bytes of header, rounded up to 4) is
   * larger than a quarter of a slab get a buffer of their own, so a slab's
   * unusable tail stays under a quarter of it. Default: 1 MiB.
   */
  slabBytes?: number;
  /**
   * Share of the full slabs' bytes that must stay live. When the full
   * slabs hold more than `live / compactBelow` plus one slab, the one with
   * the fewest live bytes is compacted: its live values are copied into
   * the current slab and it is dropped. So slabs hold at most
   * `1 / compactBelow` times the live bytes plus two slabs, and compaction
   * copies at most `compactBelow / (1 - compactBelow)` bytes per byte
   * freed. Slabs whose values all died are dropped without copying, so
   * first-in-first-out eviction copies nothing. `0` never compacts.
   * Default: 0.5.
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
  /** Their total size, spares included: what the store holds, live or not. */
  allocatedBytes: number;
  /** Spare slabs held for reuse: never lent, dropped, not yet written over (in `allocatedBytes`). */
  spareSlabs: number;
  /** Slabs that reused a spare rather than allocating, so far. */
  reusedSlabs: number;
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
  /** Whether it holds one large value. */
  dedicated: boolean;
}

/**
 * A record is [u32 value length][u32 entry id][u32 key length][key, UTF-8]
 * [value][padding to 4 bytes]. The key lives beside its value so that an
 * entry is no JavaScript object at all (see `KeyIndex`).
 */
const headerBytes = 12;
/** `slabOf` of an id that holds no entry. */
const free = 0xffffffff;
const defaultSlabBytes = 1 << 20;
const defaultCompactBelow = 0.5;
/** Dropped slabs kept for reuse: under first-in-first-out churn, one dies for each one filled. */
const spareSlabs = 2;

const recordBytes = (keyBytes: number, length: number) => headerBytes + ((keyBytes + length + 3) & ~3);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Entries (a string key and a byte value) packed into large shared buffers
 * ("slabs"), each known by a small integer id. It exists for memory: a
 * `Uint8Array` per cached value brings its own `ArrayBuffer` and
 * backing-store bookkeeping, several times a small value's size, and a
 * string per key is an object the garbage collector copies and promotes
 * (see bench/README.md); a record here costs 12 bytes of header plus 8
 * bytes of table per id, and no object at all.
 *
 * Values are appended to the current slab and never written over: a range
 * handed out (`buffer`/`start`/`length`, a `ByteView`) keeps showing the
 * same bytes even after its entry is freed. So freed space is not reused
 * in place. A slab whose values all died is dropped; when the full slabs
 * hold too much dead space (see `compactBelow`), the emptiest one has its
 * live values copied into the current slab, their ids updated, and is
 * dropped too. A dropped slab is left to the garbage collector, which frees
 * it once no view points into it any more; it is never written again.
 *
 * Except a slab no range of which was ever handed out (`buffer` and
 * `view` lend ranges; nothing else does): nothing can point into it, so it
 * is kept as a spare (at most `spareSlabs` of them) and written over as the
 * next slab. Under churn of values that are loaded and evicted without
 * being read from the cache, that spares the process a slab per slab of
 * values, which the garbage collector would only free at its next full
 * collection (V8 starts one per ~64 MiB of external memory released) and
 * the allocator would keep as resident pages meanwhile.
 */
export class SlabStore {
  /** Size of the shared slabs. */
  readonly slabBytes: number;
  /** Records larger than this get a buffer of their own. */
  readonly #dedicatedAbove: number;
  readonly #compactBelow: number;
  readonly #onMove: ((id: number) => void) | undefined;

  // Slabs, by index. Indexes of dropped slabs are reused; buffers never are.
  readonly #bytes: (Uint8Array | undefined)[] = [];
  readonly #words: (Uint32Array | undefined)[] = [];
  readonly #used: number[] = [];
  readonly #live: number[] = [];
  readonly #dedicated: boolean[] = [];
  /** Whether a range of the slab was handed out (`buffer`, `view`): then it is never written over. */
  readonly #lent: boolean[] = [];
  /** Dropped slabs that were never lent, to be written over as new slabs. */
  readonly #spares: { bytes: Uint8Array; words: Uint32Array }[] = [];
  #reusedSlabs = 0;
  readonly #freeSlabs: number[] = [];
  #current = -1;
  /** Full shared slabs (neither current nor dedicated): their number and live bytes. */
  #fullSlabs = 0;
  #fullLive = 0;
  #compacting = false;

  // The id table: where each entry's record is. A freed id's `offsetOf`
  // links it to the next freed id (a free list that costs no extra array).
  #slabOf = new Uint32Array(1024).fill(free);
  #offsetOf = new Uint32Array(1024);
  #freeIdHead = free;
  #nextId = 0;

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
    this.slabBytes = slabBytes;
    this.#dedicatedAbove = slabBytes >> 2;
    this.#compactBelow = fractionOption("compactBelow", options.compactBelow, defaultCompactBelow);
    this.#onMove = options.onMove;
  }

  /**
   * Copies `key` (whose UTF-8 length is `keyBytes`) and `value` into the
   * store; returns the entry's id.
   */
  put(key: string, keyBytes: number, value: Uint8Array): number {
    const length = value.byteLength;
    const record = recordBytes(keyBytes, length);
    let slab: number;
    let offset: number;
    if (record > this.#dedicatedAbove) {
      slab = this.#newSlab(record, true);
      offset = 0;
      this.#used[slab] = record;
    } else {
      offset = this.#reserve(record);
      slab = this.#current;
    }
    const id = this.#allocateId();
    const words = this.#words[slab] as Uint32Array;
    words[offset >> 2] = length;
    words[(offset >> 2) + 1] = id;
    words[(offset >> 2) + 2] = keyBytes;
    const bytes = this.#bytes[slab] as Uint8Array;
    writeKey(bytes, offset + headerBytes, key, keyBytes);
    bytes.set(value, offset + headerBytes + keyBytes);
    this.#slabOf[id] = slab;
    this.#offsetOf[id] = offset;
    this.#live[slab] = (this.#live[slab] as number) + record;
    this.#entries++;
    this.#valueBytes += length;
    this.#liveBytes += record;
    this.#compactIfFragmented();
    return id;
  }

  /** Frees entry `id`. Views of its bytes stay valid. */
  free(id: number): void {
    const slab = this.#slabOf[id];
    if (slab === undefined || slab === free) {
      throw new GroupCacheError("internal", `slab store: free of id ${id}, which holds no entry`);
    }
    const length = this.length(id);
    const record = recordBytes(this.keyLength(id), length);
    this.#slabOf[id] = free;
    this.#offsetOf[id] = this.#freeIdHead;
    this.#freeIdHead = id;
    this.#entries--;
    this.#valueBytes -= length;
    this.#liveBytes -= record;
    const live = (this.#live[slab] as number) - record;
    this.#live[slab] = live;
    if (slab === this.#current) return;
    const full = !this.#dedicated[slab];
    if (full) this.#fullLive -= record;
    if (live === 0) this.#drop(slab);
    else if (full) this.#compactIfFragmented();
  }

  /** Ids below this have table room; per-id arrays kept beside the store grow to it. */
  get idCapacity(): number {
    return this.#slabOf.length;
  }

  /** Whether `id` holds an entry. */
  has(id: number): boolean {
    const slab = this.#slabOf[id];
    return slab !== undefined && slab !== free;
  }

  /** The buffer that holds entry `id`'s bytes, at `start(id)`; never write to it. */
  buffer(id: number): Uint8Array {
    const slab = this.#slabOf[id] as number;
    this.#lent[slab] = true;
    return this.#bytes[slab] as Uint8Array;
  }

  /** Where entry `id`'s bytes start in `buffer(id)`. */
  start(id: number): number {
    return (this.#offsetOf[id] as number) + headerBytes + this.keyLength(id);
  }

  /** Number of UTF-8 bytes of entry `id`'s key. */
  keyLength(id: number): number {
    const words = this.#words[this.#slabOf[id] as number] as Uint32Array;
    return words[((this.#offsetOf[id] as number) >> 2) + 2] as number;
  }

  /** Whether entry `id`'s key is `key`. */
  keyEquals(id: number, key: string): boolean {
    const offset = this.#offsetOf[id] as number;
    const slab = this.#slabOf[id] as number;
    const n = (this.#words[slab] as Uint32Array)[(offset >> 2) + 2] as number;
    const bytes = this.#bytes[slab] as Uint8Array;
    const at = offset + headerBytes;
    const length = key.length;
    if (length > n) return false;
    for (let i = 0; i < length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) return equalBytes(bytes, at, n, encoder.encode(key));
      if (bytes[at + i] !== c) return false;
    }
    return length === n;
  }

  /** Entry `id`'s key (decodes it: for diagnostics and tests, not for lookups). */
  key(id: number): string {
    const at = (this.#offsetOf[id] as number) + headerBytes;
    const bytes = this.#bytes[this.#slabOf[id] as number] as Uint8Array;
    return decoder.decode(bytes.subarray(at, at + this.keyLength(id)));
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
      spareSlabs: this.#spares.length,
      reusedSlabs: this.#reusedSlabs,
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
        dedicated: this.#dedicated[i] === true,
      });
    }
    return out;
  }

  /** Room for `record` bytes in the current slab, starting a new one if needed; returns the offset. */
  #reserve(record: number): number {
    let current = this.#current;
    if (current === -1 || (this.#used[current] as number) + record > this.slabBytes) {
      const retired = current;
      current = this.#newSlab(this.slabBytes, false);
      this.#current = current;
      if (retired !== -1) {
        const live = this.#live[retired] as number;
        this.#fullSlabs++;
        this.#fullLive += live;
        if (live === 0) this.#drop(retired);
      }
    }
    const offset = this.#used[current] as number;
    this.#used[current] = offset + record;
    return offset;
  }

  /**
   * Compacts the emptiest full slab while the full slabs hold more than
   * `live / compactBelow` plus one slab. The emptiest one is then at most
   * `compactBelow` live, so each compaction frees more than it copies.
   */
  #compactIfFragmented(): void {
    if (this.#compacting || this.#compactBelow === 0) return;
    this.#compacting = true;
    try {
      while (this.#fullSlabs * this.slabBytes > this.#fullLive / this.#compactBelow + this.slabBytes) {
        this.#compact(this.#emptiestFullSlab());
      }
    } finally {
      this.#compacting = false;
    }
  }

  #emptiestFullSlab(): number {
    let best = -1;
    let bestLive = Number.POSITIVE_INFINITY;
    for (let slab = 0; slab < this.#bytes.length; slab++) {
      if (this.#bytes[slab] === undefined || slab === this.#current || this.#dedicated[slab]) continue;
      const live = this.#live[slab] as number;
      if (live < bestLive) {
        best = slab;
        bestLive = live;
      }
    }
    return best;
  }

  /** Copies `slab`'s live records into the current slab, then drops it. */
  #compact(slab: number): void {
    const bytes = this.#bytes[slab] as Uint8Array;
    const words = this.#words[slab] as Uint32Array;
    const end = this.#used[slab] as number;
    for (let offset = 0; offset < end; ) {
      const record = recordBytes(words[(offset >> 2) + 2] as number, words[offset >> 2] as number);
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
        this.#fullLive -= record;
        this.#movedBytes += record;
        this.#onMove?.(id);
      }
      offset += record;
    }
    this.#compactions++;
    this.#drop(slab);
  }

  #newSlab(capacity: number, dedicated: boolean): number {
    const slab = this.#freeSlabs.pop() ?? this.#bytes.length;
    const spare = dedicated ? undefined : this.#spares.pop();
    if (spare === undefined) {
      const buffer = new ArrayBuffer(capacity);
      this.#bytes[slab] = new Uint8Array(buffer);
      this.#words[slab] = new Uint32Array(buffer);
      this.#allocatedBytes += capacity;
    } else {
      this.#bytes[slab] = spare.bytes;
      this.#words[slab] = spare.words;
      this.#reusedSlabs++;
    }
    this.#used[slab] = 0;
    this.#live[slab] = 0;
    this.#dedicated[slab] = dedicated;
    this.#lent[slab] = false;
    this.#slabCount++;
    return slab;
  }

  /**
   * Forgets a dead slab (not the current one): its buffer lives on only in
   * views that point into it, or as a spare if it was never lent.
   */
  #drop(slab: number): void {
    const bytes = this.#bytes[slab] as Uint8Array;
    const dedicated = this.#dedicated[slab] === true;
    if (!dedicated) this.#fullSlabs--;
    if (!dedicated && !this.#lent[slab] && this.#spares.length < spareSlabs) {
      this.#spares.push({ bytes, words: this.#words[slab] as Uint32Array });
    } else this.#allocatedBytes -= bytes.byteLength;
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

/** Writes `key`, whose UTF-8 length is `keyBytes`, into `bytes` at `at`. */
function writeKey(bytes: Uint8Array, at: number, key: string, keyBytes: number): void {
  if (keyBytes === key.length) {
    // All ASCII (any other character takes more than one byte).
    for (let i = 0; i < keyBytes; i++) bytes[at + i] = key.charCodeAt(i);
  } else encoder.encodeInto(key, bytes.subarray(at, at + keyBytes));
}

/** Whether `bytes[at..at+n)` equals `other`. */
function equalBytes(bytes: Uint8Array, at: number, n: number, other: Uint8Array): boolean {
  if (other.byteLength !== n) return false;
  for (let i = 0; i < n; i++) if (bytes[at + i] !== other[i]) return false;
  return true;
}
