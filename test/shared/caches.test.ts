import { describe, expect, test } from "vitest";
import { Caches } from "../../src/core/caches.ts";
import { stringCodec } from "../../src/index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Caches with a small budget and 4 KiB slabs; values are strings. */
function caches(cacheBytes: number, entryOverheadBytes = 0) {
  return new Caches<string>({ cacheBytes, entryOverheadBytes, slabBytes: 4096 });
}

/** Both caches' counters, for exact comparisons. */
function counts(c: Caches<string>) {
  return { main: c.stats("main"), hot: c.stats("hot") };
}

describe("Caches: counted lookups, as Go's lookupCache", () => {
  test("a main hit counts in main only; a hot hit counts a main miss and a hot hit", () => {
    const c = caches(1000);
    c.populateCache("m", enc.encode("main value"), "main");
    c.populateCache("h", enc.encode("hot value"), "hot");
    const m = c.lookupCache("m", false);
    expect(dec.decode(c.view(m as number))).toBe("main value");
    expect(counts(c)).toMatchObject({ main: { gets: 1, hits: 1 }, hot: { gets: 0, hits: 0 } });
    const h = c.lookupCache("h", false);
    expect(dec.decode(c.view(h as number))).toBe("hot value");
    expect(counts(c)).toMatchObject({ main: { gets: 2, hits: 1 }, hot: { gets: 1, hits: 1 } });
  });

  test("a miss counts in both caches only when asked to", () => {
    const c = caches(1000);
    expect(c.lookupCache("nope", false)).toBeUndefined();
    expect(counts(c)).toMatchObject({ main: { gets: 0, hits: 0 }, hot: { gets: 0, hits: 0 } });
    expect(c.lookupCache("nope", true)).toBeUndefined();
    expect(counts(c)).toMatchObject({ main: { gets: 1, hits: 0 }, hot: { gets: 1, hits: 0 } });
  });

  test("with caching off nothing is stored and no lookup is counted", () => {
    const c = caches(0);
    expect(c.populateCache("k", enc.encode("v"), "main")).toBeUndefined();
    expect(c.lookupCache("k", true)).toBeUndefined();
    expect(counts(c)).toMatchObject({ main: { gets: 0, items: 0 }, hot: { gets: 0, items: 0 } });
  });
});

describe("Caches: one budget, Go's eviction rule", () => {
  test("the hot cache is the victim while it holds more than 1/8 of main's bytes, else the main cache", () => {
    // Entries: 1 key byte + 9 value bytes = 10 bytes.
    const c = caches(100);
    const value = enc.encode("123456789");
    for (const k of ["a", "b", "c", "d", "e", "f", "g", "h"]) c.populateCache(k, value, "main"); // main 80
    c.populateCache("1", value, "hot");
    c.populateCache("2", value, "hot"); // hot 20: 100 in all, fits
    expect(counts(c)).toMatchObject({ main: { bytes: 80, evictions: 0 }, hot: { bytes: 20, evictions: 0 } });
    c.populateCache("i", value, "main"); // 110: hot 20 > 90/8, so hot's oldest ("1") goes
    expect(counts(c)).toMatchObject({ main: { bytes: 90, evictions: 0 }, hot: { bytes: 10, items: 1, evictions: 1 } });
    expect(c.lookupCache("1", false)).toBeUndefined();
    c.populateCache("j", value, "main"); // 110: hot 10 <= 100/8, so main's oldest ("a") goes
    expect(counts(c)).toMatchObject({ main: { bytes: 90, evictions: 1 }, hot: { bytes: 10, evictions: 1 } });
    expect(c.lookupCache("a", false)).toBeUndefined();
    expect(c.lookupCache("2", false)).toBeDefined();
  });

  test("a value larger than the whole budget is not stored and evicts nothing; the overhead counts", () => {
    const c = caches(50, 5);
    c.populateCache("a", enc.encode("xxxx"), "main"); // 1 + 4 + 5
    expect(c.populateCache("big", enc.encode("y".repeat(43)), "main")).toBeUndefined(); // 3 + 43 + 5 = 51
    expect(c.stats("main")).toMatchObject({ items: 1, bytes: 10, evictions: 0 });
  });
});

describe("Caches: answers and closing", () => {
  test("decode reads the stored bytes; a load's answer is remembered at once, a hit's once hit again", () => {
    const c = caches(1000);
    const id = c.populateCache("k", enc.encode("text"), "main") as number;
    expect(c.decode(id, stringCodec)).toBe("text");
    const hit = Promise.resolve("hit answer");
    c.memoizeHit(id, hit); // the first hit that misses the memo only makes it a candidate
    expect(c.memoized(id)).toBeUndefined();
    c.memoizeHit(id, hit);
    expect(c.memoized(id)).toBe(hit);
    const other = c.populateCache("o", enc.encode("other"), "main") as number;
    const loaded = Promise.resolve("load answer");
    c.memoizeLoad(other, loaded);
    expect(c.memoized(other)).toBe(loaded);
    expect(c.remove("k")).toBe(true); // leaving the cache leaves the memo
    expect(c.memoized(id)).toBeUndefined();
    expect(c.remove("k")).toBe(false);
  });

  test("close empties both caches and caches nothing more; handed-out views keep their bytes", () => {
    const c = caches(1000);
    const view = c.view(c.populateCache("m", enc.encode("kept"), "main") as number);
    c.populateCache("h", enc.encode("mirrored"), "hot");
    c.close();
    expect(counts(c)).toMatchObject({ main: { items: 0, bytes: 0 }, hot: { items: 0, bytes: 0 } });
    expect(c.lookupCache("m", true)).toBeUndefined();
    expect(c.populateCache("n", enc.encode("new"), "main")).toBeUndefined();
    expect(counts(c)).toMatchObject({ main: { items: 0, gets: 0 }, hot: { items: 0, gets: 0 } });
    expect(dec.decode(view)).toBe("kept");
  });
});
