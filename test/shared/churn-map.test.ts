import { expect, test } from "vitest";
import { ChurnMap, hashNumber } from "../../src/core/churn-map.ts";

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs 20,000 random sets, deletes and lookups on `map` and on a `Map`, checking they agree after each. */
function agreesWithMap<K extends string | number>(map: ChurnMap<K, number>, keyOf: (n: number) => K, keys: number) {
  const reference = new Map<K, number>();
  const next = random(keys);
  for (let step = 0; step < 20_000; step++) {
    const key = keyOf(Math.floor(next() * keys));
    const op = next();
    if (op < 0.45) {
      map.set(key, step);
      reference.set(key, step);
    } else if (op < 0.9) {
      expect(map.delete(key)).toBe(reference.delete(key));
    } else if (op < 0.91) {
      map.clear();
      reference.clear();
    }
    expect(map.get(key)).toBe(reference.get(key));
    expect(map.has(key)).toBe(reference.has(key));
    expect(map.size).toBe(reference.size);
  }
  expect(map.values().sort((a, b) => a - b)).toEqual([...reference.values()].sort((a, b) => a - b));
  for (const [key, value] of reference) expect(map.get(key)).toBe(value);
}

test("ChurnMap: string keys behave as in a Map under random sets, deletes and clears", () => {
  agreesWithMap(new ChurnMap<string, number>(), (n) => `key-${n}`, 300);
});

test("ChurnMap: number keys with hashNumber, and keys that all collide, behave as in a Map", () => {
  agreesWithMap(new ChurnMap<number, number>(hashNumber), (n) => n * 4096, 300);
  agreesWithMap(new ChurnMap<string, number>(() => 7), (n) => String(n), 40);
});

test("ChurnMap: keys coming and going one at a time leave the table at its smallest size and every key findable", () => {
  const map = new ChurnMap<string, number>(() => 0); // every key probes from slot 0
  for (let i = 0; i < 10_000; i++) {
    map.set(`a${i}`, i);
    map.set(`b${i}`, i);
    expect(map.delete(`a${i}`)).toBe(true);
    expect(map.get(`b${i}`)).toBe(i);
    expect(map.delete(`b${i}`)).toBe(true);
    expect(map.size).toBe(0);
  }
  map.set("z", 1);
  expect(map.values()).toEqual([1]);
});
