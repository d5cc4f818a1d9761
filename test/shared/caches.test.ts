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

describe("Caches: keys and values stored in the slabs", () => {
  test("a key is in one cache at a time: storing it again, in either, replaces it and its bytes", () => {
    const c = caches(1000);
    c.populateCache("k", enc.encode("main value"), "main"); // 1 + 10
    c.populateCache("k", enc.encode("hot"), "hot"); // replaces it: 1 + 3 in hot, nothing in main
    expect(counts(c)).toMatchObject({ main: { items: 0, bytes: 0, evictions: 0 }, hot: { items: 1, bytes: 4 } });
    expect(dec.decode(c.view(c.lookupCache("k", false) as number))).toBe("hot");
    c.populateCache("k", enc.encode("back in main"), "main");
    expect(counts(c)).toMatchObject({ main: { items: 1, bytes: 13 }, hot: { items: 0, bytes: 0, evictions: 0 } });
    expect(dec.decode(c.view(c.lookupCache("k", false) as number))).toBe("back in main");
  });

  test("keys count their UTF-8 bytes and are found exactly, whatever their characters", () => {
    const c = caches(10_000, 3);
    const keys = ["", "a", "ab", "ключ", "鍵", "🔑", "a🔑b", "x".repeat(300), "é", "e\u0301", "k\u0000"];
    for (const [i, key] of keys.entries()) c.populateCache(key, enc.encode(`v${i}`), "main");
    const keyBytes = keys.reduce((n, k) => n + enc.encode(k).byteLength, 0);
    const valueBytes = keys.reduce((n, _, i) => n + enc.encode(`v${i}`).byteLength, 0);
    expect(c.stats("main")).toMatchObject({ items: keys.length, bytes: keyBytes + valueBytes + 3 * keys.length });
    for (const [i, key] of keys.entries())
      expect(dec.decode(c.view(c.lookupCache(key, false) as number))).toBe(`v${i}`);
    // Near misses: prefixes, extensions, the same UTF-16 length with other bytes.
    for (const key of ["abc", "ключи", "鍵鍵", "🔒", "x".repeat(299), "e", "k", "f"]) {
      expect(c.lookupCache(key, false)).toBeUndefined();
    }
  });

  test("under churn, entries are evicted exactly at the budget and every value stays byte-exact", () => {
    // 4 KiB slabs, so compaction and slab reuse both happen; 40 bytes of overhead per entry.
    const cacheBytes = 20_000;
    const c = caches(cacheBytes, 40);
    const live = new Map<string, Uint8Array>();
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const size = (key: string, value: Uint8Array) => enc.encode(key).byteLength + value.byteLength + 40;
    for (let step = 0; step < 3000; step++) {
      const key = `key-${next(400)}`;
      if (next(3) === 0) {
        const id = c.lookupCache(key, false);
        expect(id === undefined ? undefined : c.view(id)).toEqual(live.get(key));
        continue;
      }
      const value = new Uint8Array(next(300)).map((_, i) => (step + i) & 0xff);
      c.populateCache(key, value, next(4) === 0 ? "hot" : "main");
      live.set(key, value);
      // What the caches evicted: the keys they no longer find (peek-free: a
      // lookup marks a key used, which only reorders what goes next).
      let largestEvicted = 0;
      for (const [k, v] of [...live]) {
        if (c.lookupCache(k, false) !== undefined) continue;
        live.delete(k);
        largestEvicted = Math.max(largestEvicted, size(k, v));
      }
      const held = [...live].reduce((n, [k, v]) => n + size(k, v), 0);
      const { main, hot } = counts(c);
      expect(main.bytes + hot.bytes).toBe(held);
      expect(main.items + hot.items).toBe(live.size);
      expect(held).toBeLessThanOrEqual(cacheBytes);
      // Nothing was evicted that fit: the last one out left the caches over budget with it.
      if (largestEvicted > 0) expect(held + largestEvicted).toBeGreaterThan(cacheBytes);
    }
    for (const [k, v] of live) expect(c.view(c.lookupCache(k, false) as number)).toEqual(v);
  });
});
