import { describe, expect, test } from "vitest";
import { SlabStore } from "../../src/core/slab-store.ts";
import { ByteView } from "../../src/index.ts";

const utf8 = new TextEncoder();
/** A record: 12 bytes of header, then the key and the value, padded to 4 bytes. */
const recordBytes = (length: number, keyBytes = 0) => 12 + Math.ceil((keyBytes + length) / 4) * 4;

/** Stores `value` under `key` (default: the empty key). */
const put = (store: SlabStore, value: Uint8Array, key = "") => store.put(key, utf8.encode(key).byteLength, value);

/** Bytes `0, 1, 2, …` shifted by `seed`, so every value is distinguishable. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i) & 0xff;
  return bytes;
}

/**
 * The store's invariants, checked against what the test put in: every live
 * id holds exactly its bytes; the counters are the sums over live entries and
 * slabs; no slab but the current one is dead; the full shared slabs hold at
 * most `live / compactBelow` plus one slab.
 */
function checkInvariants(
  store: SlabStore,
  live: Map<number, Uint8Array>,
  compactBelow: number,
  keys = new Map<number, string>(),
): void {
  // Violations are collected and compared once: an expect() per value and
  // per slab would make thousands of steps take seconds.
  const violations: string[] = [];
  let valueBytes = 0;
  let liveBytes = 0;
  for (const [id, bytes] of live) {
    const key = keys.get(id) ?? "";
    if (!store.has(id) || !sameBytes(store.view(id), bytes)) violations.push(`id ${id} lost its bytes`);
    else if (!store.keyEquals(id, key) || store.key(id) !== key) violations.push(`id ${id} lost its key`);
    valueBytes += bytes.byteLength;
    liveBytes += recordBytes(bytes.byteLength, utf8.encode(key).byteLength);
  }
  const slabs = store.slabs();
  let fullCapacity = 0;
  let fullLive = 0;
  for (const [i, slab] of slabs.entries()) {
    if (slab.used > slab.capacity || slab.live > slab.used)
      violations.push(`slab ${i} overfull: ${JSON.stringify(slab)}`);
    if (slab.current) continue;
    if (slab.live === 0) violations.push(`slab ${i} is dead but held`);
    if (slab.dedicated && slab.live !== slab.capacity) violations.push(`dedicated slab ${i} not full`);
    if (!slab.dedicated) {
      fullCapacity += slab.capacity;
      fullLive += slab.live;
    }
  }
  // The compaction bound: full slabs hold at most live / compactBelow plus one slab.
  if (compactBelow > 0 && fullCapacity > fullLive / compactBelow + store.slabBytes) {
    violations.push(`fragmented: ${fullCapacity} bytes of full slabs for ${fullLive} live`);
  }
  expect(violations).toEqual([]);
  expect(slabs.filter((s) => s.current).length).toBeLessThanOrEqual(1);
  expect(store.stats()).toEqual({
    entries: live.size,
    valueBytes,
    liveBytes,
    slabs: slabs.length,
    allocatedBytes: slabs.reduce((n, s) => n + s.capacity, 0) + store.stats().spareSlabs * store.slabBytes,
    spareSlabs: store.stats().spareSlabs,
    reusedSlabs: store.stats().reusedSlabs,
    compactions: store.stats().compactions,
    movedBytes: store.stats().movedBytes,
  });
  expect(slabs.reduce((n, s) => n + s.live, 0)).toBe(liveBytes);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe("SlabStore", () => {
  test("put copies the value; the store's bytes do not change when the caller's do", () => {
    const store = new SlabStore({ slabBytes: 256 });
    const value = pattern(10, 1);
    const id = put(store, value);
    value.fill(0);
    expect(store.view(id)).toEqual(pattern(10, 1));
    expect(store.length(id)).toBe(10);
    expect(store.buffer(id).subarray(store.start(id), store.start(id) + 10)).toEqual(pattern(10, 1));
  });

  test("accounting holds after every step of a mixed sequence of puts and frees", () => {
    for (const compactBelow of [0, 0.25, 0.5, 0.9]) {
      const store = new SlabStore({ slabBytes: 512, compactBelow });
      const live = new Map<number, Uint8Array>();
      const keys = new Map<number, string>();
      // A fixed pseudo-random sequence (LCG) so failures reproduce.
      let seed = 2024;
      const next = (n: number) => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed % n;
      };
      for (let step = 0; step < 2000; step++) {
        if (live.size === 0 || next(100) < 55) {
          // Mostly small values, some larger than a quarter slab (own buffer), some empty.
          const r = next(20);
          const length = r === 0 ? 0 : r === 1 ? 130 + next(600) : next(60);
          const bytes = pattern(length, step);
          // Keys of every length, some not ASCII (2, 3 and 4 bytes per character).
          const key = ["", "k", `key-${step}`, `ключ-${step}`, `鍵${step}`, `🔑${step}`][step % 6] as string;
          const id = put(store, bytes, key);
          expect(live.has(id)).toBe(false);
          live.set(id, bytes);
          keys.set(id, key);
        } else {
          const ids = [...live.keys()];
          const id = ids[next(ids.length)] as number;
          store.free(id);
          live.delete(id);
          keys.delete(id);
          expect(store.has(id)).toBe(false);
        }
        checkInvariants(store, live, compactBelow, keys);
      }
      if (compactBelow > 0) expect(store.stats().compactions).toBeGreaterThan(0);
      for (const id of [...live.keys()]) {
        store.free(id);
        live.delete(id);
        keys.delete(id);
        checkInvariants(store, live, compactBelow, keys);
      }
      expect(store.stats()).toMatchObject({ entries: 0, valueBytes: 0, liveBytes: 0 });
      expect(store.slabs().every((s) => s.current)).toBe(true);
    }
  });

  test("compaction moves the emptiest slab's live values with their exact bytes and ids, and reports each move", () => {
    const moved: number[] = [];
    const store = new SlabStore({ slabBytes: 1024, compactBelow: 0.5, onMove: (id) => moved.push(id) });
    // 36-byte records (24-byte values): 28 per 1024-byte slab. Five slabs, the last one current.
    const ids = Array.from({ length: 28 * 5 }, (_, i) => put(store, pattern(24, i)));
    const slabIds = (n: number) => ids.slice(28 * n, 28 * (n + 1));
    const firstSlab = store.buffer(ids[0] as number);
    // Leave 1, 10 and 8 records in the first three slabs: 4 full slabs, 1,692 live bytes.
    for (const id of slabIds(0).slice(1)) store.free(id);
    for (const id of slabIds(1).slice(10)) store.free(id);
    for (const id of slabIds(2).slice(8)) store.free(id);
    expect(store.stats().compactions).toBe(0);
    // 4 full slabs may hold up to 2 × live + 1 slab: compaction starts below 1,536 live bytes.
    for (const id of slabIds(3).slice(0, 4)) store.free(id);
    expect(store.stats().compactions).toBe(0);
    store.free(slabIds(3)[4] as number);
    expect(store.stats()).toMatchObject({ compactions: 1, movedBytes: 36 });
    expect(moved).toEqual([ids[0]]);
    expect(store.buffer(ids[0] as number)).not.toBe(firstSlab);
    const freed = new Set([
      ...slabIds(0).slice(1),
      ...slabIds(1).slice(10),
      ...slabIds(2).slice(8),
      ...slabIds(3).slice(0, 5),
    ]);
    for (const [i, id] of ids.entries()) {
      if (freed.has(id)) expect(store.has(id)).toBe(false);
      else expect(store.view(id)).toEqual(pattern(24, i));
    }
  });

  test("first-in-first-out frees drop whole slabs without copying", () => {
    const store = new SlabStore({ slabBytes: 1024 });
    const ids: number[] = [];
    for (let i = 0; i < 28 * 50; i++) {
      ids.push(put(store, pattern(24, i)));
      if (ids.length > 28 * 4) store.free(ids.shift() as number);
    }
    expect(store.stats()).toMatchObject({ compactions: 0, movedBytes: 0, entries: 28 * 4 });
    expect(store.stats().slabs).toBeLessThanOrEqual(5);
  });

  test("a view handed out stays valid, byte for byte, after its entry is freed and its slab compacted", () => {
    const store = new SlabStore({ slabBytes: 256, compactBelow: 0.5 });
    // 28-byte records (16-byte values), 9 per slab: keep the first of each of 4 slabs, free the rest.
    const ids = Array.from({ length: 36 }, (_, i) => put(store, pattern(16, i)));
    const views = ids.map((id) => ByteView.unsafeWrapRange(store.buffer(id), store.start(id), store.length(id)));
    const kept = ids.filter((_, i) => i % 9 === 0);
    const buffers = kept.map((id) => store.buffer(id));
    for (const id of ids) if (!kept.includes(id)) store.free(id);
    // Write over and over: new values must never land on a handed-out range.
    for (let i = 0; i < 200; i++) store.free(put(store, pattern(16, 1000 + i)));
    expect(store.stats().compactions).toBeGreaterThan(0);
    expect(kept.filter((id, i) => store.buffer(id) !== buffers[i]).length).toBeGreaterThan(0);
    for (const [i, view] of views.entries()) {
      expect(view.toBytes()).toEqual(pattern(16, i));
      expect(view.equals(pattern(16, i))).toBe(true);
    }
    for (const id of kept) expect(store.view(id)).toEqual(pattern(16, ids.indexOf(id)));
  });

  test("a dropped slab that never lent a range is written over as a new slab; one that lent a range never is", () => {
    const store = new SlabStore({ slabBytes: 1024 });
    // 36-byte records (24-byte values): 28 per slab; first in, first out, 2 slabs live.
    const ids: number[] = [];
    for (let i = 0; i < 28 * 6; i++) {
      ids.push(put(store, pattern(24, i)));
      if (ids.length > 28 * 2) store.free(ids.shift() as number);
    }
    // 6 slabs filled, 3 of them into the buffers of slabs dropped before (their values all
    // freed); the 4th dropped one is the spare. 3 buffers allocated in all.
    expect(store.stats()).toMatchObject({ allocatedBytes: 3 * 1024, reusedSlabs: 3, spareSlabs: 1, slabs: 2 });
    for (const [i, id] of ids.entries()) expect(store.view(id)).toEqual(pattern(24, 28 * 4 + i));
    // Every live slab has now lent a range (view): none of them is written over again.
    const lent = ids.map((id) => ByteView.unsafeWrapRange(store.buffer(id), store.start(id), store.length(id)));
    for (let i = 0; i < 28 * 3; i++) {
      ids.push(put(store, pattern(24, 1000 + i)));
      store.free(ids.shift() as number);
    }
    // Only the spare was written over; the two lent slabs were dropped for good, and a new
    // buffer came in. Held: 2 live slabs and the spare (the slab of the spare's values).
    expect(store.stats()).toMatchObject({ reusedSlabs: 4, allocatedBytes: 3 * 1024, spareSlabs: 1, slabs: 2 });
    for (const [i, view] of lent.entries()) expect(view.toBytes()).toEqual(pattern(24, 28 * 4 + i));
  });

  test("a value larger than a quarter slab gets its own buffer, dropped when it is freed", () => {
    const store = new SlabStore({ slabBytes: 256 });
    const small = put(store, pattern(10, 1));
    const big = put(store, pattern(1000, 2));
    expect(store.buffer(big)).not.toBe(store.buffer(small));
    expect(store.buffer(big).byteLength).toBe(recordBytes(1000));
    expect(store.view(big)).toEqual(pattern(1000, 2));
    expect(store.stats()).toMatchObject({ slabs: 2, allocatedBytes: 256 + recordBytes(1000) });
    const view = ByteView.unsafeWrapRange(store.buffer(big), store.start(big), store.length(big));
    store.free(big);
    expect(store.stats()).toMatchObject({ slabs: 1, allocatedBytes: 256, entries: 1 });
    expect(view.toBytes()).toEqual(pattern(1000, 2));
  });

  test("freed ids are reused; freeing one twice is an internal error", () => {
    const store = new SlabStore({ slabBytes: 256 });
    const a = put(store, pattern(4, 1));
    store.free(a);
    expect(() => store.free(a)).toThrow(expect.objectContaining({ code: "internal" }));
    expect(put(store, pattern(4, 2))).toBe(a);
    expect(() => store.free(12345)).toThrow(/free of id 12345, which holds no entry/);
  });

  test("grows its id table past its initial size", () => {
    const store = new SlabStore({ slabBytes: 64 * 1024 });
    const ids = Array.from({ length: 5000 }, (_, i) => put(store, pattern(i % 17, i)));
    expect(new Set(ids).size).toBe(5000);
    for (const [i, id] of ids.entries()) expect(store.view(id)).toEqual(pattern(i % 17, i));
  });

  test("bad options fail with invalid-argument naming the value", () => {
    expect(() => new SlabStore({ slabBytes: 100 })).toThrow(
      "slabBytes must be a multiple of 8 from 64 to 2^31, got 100",
    );
    expect(() => new SlabStore({ compactBelow: 1 })).toThrow("compactBelow must be a number from 0 to below 1, got 1");
  });
});
