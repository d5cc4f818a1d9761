import { describe, expect, test } from "vitest";
import { SlabStore } from "../src/core/slab-store.ts";
import { ByteView } from "../src/index.ts";

const recordBytes = (length: number) => 8 + Math.ceil(length / 4) * 4;

/** Bytes `0, 1, 2, …` shifted by `seed`, so every value is distinguishable. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i) & 0xff;
  return bytes;
}

/**
 * The store's invariants, checked against what the test put in: every live
 * id holds exactly its bytes; the counters are the sums over live entries and
 * slabs; no slab but the current one is dead or, for shared slabs, below
 * the compaction threshold.
 */
function checkInvariants(store: SlabStore, live: Map<number, Uint8Array>, compactBelow: number): void {
  // Violations are collected and compared once: an expect() per value and
  // per slab would make thousands of steps take seconds.
  const violations: string[] = [];
  let valueBytes = 0;
  let liveBytes = 0;
  for (const [id, bytes] of live) {
    if (!store.has(id) || !sameBytes(store.view(id), bytes)) violations.push(`id ${id} lost its bytes`);
    valueBytes += bytes.byteLength;
    liveBytes += recordBytes(bytes.byteLength);
  }
  const threshold = Math.floor(compactBelow * store.slabBytes);
  const slabs = store.slabs();
  for (const [i, slab] of slabs.entries()) {
    if (slab.used > slab.capacity || slab.live > slab.used)
      violations.push(`slab ${i} overfull: ${JSON.stringify(slab)}`);
    if (slab.current) continue;
    if (slab.live === 0) violations.push(`slab ${i} is dead but held`);
    const dedicated = slab.live === slab.capacity && slab.used === slab.capacity;
    if (!dedicated && slab.live < threshold) violations.push(`slab ${i} below threshold: ${JSON.stringify(slab)}`);
  }
  expect(violations).toEqual([]);
  expect(slabs.filter((s) => s.current).length).toBeLessThanOrEqual(1);
  expect(store.stats()).toEqual({
    entries: live.size,
    valueBytes,
    liveBytes,
    slabs: slabs.length,
    allocatedBytes: slabs.reduce((n, s) => n + s.capacity, 0),
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
    const id = store.put(value);
    value.fill(0);
    expect(store.view(id)).toEqual(pattern(10, 1));
    expect(store.length(id)).toBe(10);
    expect(store.buffer(id).subarray(store.start(id), store.start(id) + 10)).toEqual(pattern(10, 1));
  });

  test("accounting holds after every step of a mixed sequence of puts and frees", () => {
    for (const compactBelow of [0, 0.25, 0.5, 0.9]) {
      const store = new SlabStore({ slabBytes: 512, compactBelow });
      const live = new Map<number, Uint8Array>();
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
          const id = store.put(bytes);
          expect(live.has(id)).toBe(false);
          live.set(id, bytes);
        } else {
          const ids = [...live.keys()];
          const id = ids[next(ids.length)] as number;
          store.free(id);
          live.delete(id);
          expect(store.has(id)).toBe(false);
        }
        checkInvariants(store, live, compactBelow);
      }
      if (compactBelow > 0) expect(store.stats().compactions).toBeGreaterThan(0);
      for (const id of [...live.keys()]) {
        store.free(id);
        live.delete(id);
        checkInvariants(store, live, compactBelow);
      }
      expect(store.stats()).toMatchObject({ entries: 0, valueBytes: 0, liveBytes: 0 });
      expect(store.slabs().every((s) => s.current)).toBe(true);
    }
  });

  test("compaction moves every live value with its exact bytes, keeps its id, and reports the move", () => {
    const moved: number[] = [];
    const store = new SlabStore({ slabBytes: 1024, compactBelow: 0.5, onMove: (id) => moved.push(id) });
    // 36-byte records: 28 per 1024-byte slab (1008 bytes live), three slabs.
    const ids = Array.from({ length: 28 * 3 }, (_, i) => store.put(pattern(28, i)));
    expect(store.stats().slabs).toBe(3);
    const firstSlab = store.buffer(ids[0] as number);
    // Freeing 13 of the first slab's records leaves 540 bytes live: no compaction yet.
    for (const id of ids.slice(1, 14)) store.free(id);
    expect(store.stats().compactions).toBe(0);
    expect(moved).toEqual([]);
    // The 14th leaves 504 < 512 live: the 14 survivors move to the current slab.
    store.free(ids[14] as number);
    expect(store.stats().compactions).toBe(1);
    const survivors = [ids[0], ...ids.slice(15, 28)] as number[];
    expect(moved.sort((a, b) => a - b)).toEqual(survivors.sort((a, b) => a - b));
    expect(store.stats().movedBytes).toBe(14 * 36);
    for (const [i, id] of ids.entries()) {
      if (i >= 1 && i <= 14) expect(store.has(id)).toBe(false);
      else expect(store.view(id)).toEqual(pattern(28, i));
    }
    for (const id of survivors) expect(store.buffer(id)).not.toBe(firstSlab);
    expect(store.stats().slabs).toBe(3); // the first was dropped, the current one took the survivors
  });

  test("a view handed out stays valid, byte for byte, after its entry is freed and its slab compacted", () => {
    const store = new SlabStore({ slabBytes: 256, compactBelow: 0.5 });
    const ids = Array.from({ length: 12 }, (_, i) => store.put(pattern(20, i)));
    const views = ids.map((id) => ByteView.unsafeWrapRange(store.buffer(id), store.start(id), store.length(id)));
    const firstSlab = store.buffer(ids[0] as number);
    // Free everything but one value of the first slab, then write a lot more.
    for (const id of ids.slice(1)) store.free(id);
    for (let i = 0; i < 200; i++) store.free(store.put(pattern(20, 1000 + i)));
    expect(store.buffer(ids[0] as number)).not.toBe(firstSlab); // moved out by compaction
    expect(store.stats().compactions).toBeGreaterThan(0);
    for (const [i, view] of views.entries()) {
      expect(view.toBytes()).toEqual(pattern(20, i));
      expect(view.equals(pattern(20, i))).toBe(true);
    }
    expect(store.view(ids[0] as number)).toEqual(pattern(20, 0));
  });

  test("a value larger than a quarter slab gets its own buffer, dropped when it is freed", () => {
    const store = new SlabStore({ slabBytes: 256 });
    const small = store.put(pattern(10, 1));
    const big = store.put(pattern(1000, 2));
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
    const a = store.put(pattern(4, 1));
    store.free(a);
    expect(() => store.free(a)).toThrow(expect.objectContaining({ code: "internal" }));
    expect(store.put(pattern(4, 2))).toBe(a);
    expect(() => store.free(12345)).toThrow(/free of id 12345, which holds no entry/);
  });

  test("grows its id table past its initial size", () => {
    const store = new SlabStore({ slabBytes: 64 * 1024 });
    const ids = Array.from({ length: 5000 }, (_, i) => store.put(pattern(i % 17, i)));
    expect(new Set(ids).size).toBe(5000);
    for (const [i, id] of ids.entries()) expect(store.view(id)).toEqual(pattern(i % 17, i));
  });

  test("bad options fail with invalid-argument naming the value", () => {
    expect(() => new SlabStore({ slabBytes: 100 })).toThrow(
      "slabBytes must be a multiple of 8 from 64 to 2^31, got 100",
    );
    expect(() => new SlabStore({ compactBelow: 1 })).toThrow("compactBelow must be at least 0 and below 1, got 1");
  });
});
