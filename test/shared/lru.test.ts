import { describe, expect, test } from "vitest";
import { LRU } from "../../src/core/lru.ts";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;

/** The accounting invariant: `bytes` is exactly the sum of key and value bytes held. */
function checkInvariant(lru: LRU): void {
  let sum = 0;
  let items = 0;
  for (const key of lru.keys()) {
    sum += utf8(key) + (lru.peek(key) as Uint8Array).byteLength;
    items++;
  }
  expect(lru.bytes).toBe(sum);
  expect(lru.items).toBe(items);
}

describe("LRU", () => {
  test("counts key bytes in UTF-8 plus value bytes", () => {
    const lru = new LRU();
    lru.add("ab", bytes(3));
    lru.add("é", bytes(1)); // 2 bytes of key
    lru.add("😀", bytes(0)); // 4 bytes of key
    expect(lru.bytes).toBe(2 + 3 + 2 + 1 + 4);
    checkInvariant(lru);
  });

  test("replacing a key adjusts bytes by the difference and is not an eviction", () => {
    const lru = new LRU();
    lru.add("k", bytes(10));
    lru.add("k", bytes(4));
    expect(lru.bytes).toBe(5);
    expect(lru.items).toBe(1);
    lru.add("k", bytes(20));
    expect(lru.bytes).toBe(21);
    expect(lru.stats().evictions).toBe(0);
    checkInvariant(lru);
  });

  test("removeOldest evicts in least-recently-used order, get refreshes recency", () => {
    const lru = new LRU();
    for (const k of ["a", "b", "c", "d"]) lru.add(k, bytes(1));
    lru.get("a"); // a is now most recent: order b, c, d, a
    const evicted: string[] = [];
    while (lru.items > 0) {
      const before = new Set(lru.keys());
      expect(lru.removeOldest()).toBe(true);
      const after = new Set(lru.keys());
      evicted.push(...[...before].filter((k) => !after.has(k)));
      checkInvariant(lru);
    }
    expect(evicted).toEqual(["b", "c", "d", "a"]);
    expect(lru.removeOldest()).toBe(false);
    expect(lru.stats().evictions).toBe(4);
  });

  test("peek and has do not refresh recency", () => {
    const lru = new LRU();
    lru.add("a", bytes(1));
    lru.add("b", bytes(1));
    expect(lru.peek("a")).toEqual(bytes(1));
    expect(lru.has("a")).toBe(true);
    lru.removeOldest();
    expect(lru.has("a")).toBe(false);
    expect(lru.stats()).toEqual({ bytes: 2, items: 1, evictions: 1 });
  });

  test("grows past its initial capacity and keeps recency order", () => {
    const lru = new LRU({ initialCapacity: 2 });
    for (let i = 0; i < 100; i++) {
      lru.add(`k${i}`, bytes(i % 7));
      checkInvariant(lru);
    }
    expect(lru.items).toBe(100);
    lru.get("k0");
    lru.removeOldest(); // k1 is now the oldest
    expect(lru.has("k1")).toBe(false);
    expect(lru.has("k0")).toBe(true);
    expect([...lru.keys()][0]).toBe("k0");
  });

  test("accounting holds after every step of a mixed sequence of operations", () => {
    const lru = new LRU({ initialCapacity: 4 });
    // A fixed pseudo-random sequence (LCG) so failures reproduce.
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 3000; step++) {
      const key = `key-${next(50)}${step % 3 === 0 ? "é" : ""}`;
      const op = next(5);
      if (op < 2) lru.add(key, bytes(next(40)));
      else if (op === 2) lru.get(key);
      else if (op === 3) lru.delete(key);
      else lru.removeOldest();
      checkInvariant(lru);
    }
  });

  test("delete removes and is not an eviction; clear empties", () => {
    const lru = new LRU();
    lru.add("a", bytes(3));
    lru.add("b", bytes(3));
    expect(lru.delete("a")).toBe(true);
    expect(lru.delete("a")).toBe(false);
    expect(lru.bytes).toBe(4);
    lru.clear();
    expect(lru.stats()).toMatchObject({ bytes: 0, items: 0, evictions: 0 });
  });

  test("number values in a typed array; dispose sees every value that leaves, after its bytes are subtracted", () => {
    const disposed: string[] = [];
    const lru: LRU<number> = new LRU<number>({
      valueArray: Uint32Array,
      initialCapacity: 2,
      sizeOf: (v) => v,
      dispose: (v, k) => disposed.push(`${k}=${v}@${lru.bytes}`),
    });
    lru.add("a", 10);
    lru.add("b", 20);
    lru.add("c", 30); // grows past the initial capacity: nothing leaves
    expect(disposed).toEqual([]);
    lru.add("a", 5); // replaced
    lru.removeOldest(); // evicts "b"
    lru.delete("c");
    expect(disposed).toEqual(["a=10@58", "b=20@37", "c=30@6"]);
    expect(lru.peek("a")).toBe(5);
    lru.clear();
    expect(disposed.at(-1)).toBe("a=5@0");
    expect(lru.stats()).toMatchObject({ bytes: 0, items: 0, evictions: 1 });
  });

  test("a bad initial capacity fails with invalid-argument", () => {
    expect(() => new LRU({ initialCapacity: 0 })).toThrow(/initialCapacity must be a positive integer, got 0/);
  });
});
