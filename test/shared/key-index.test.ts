import { describe, expect, test } from "vitest";
import { hashKey, KeyIndex } from "../../src/core/key-index.ts";
import { SlabStore } from "../../src/core/slab-store.ts";

const utf8 = new TextEncoder();
const empty = new Uint8Array(0);

/** A store and its index, with `add` storing a key (under `hash`, its own by default) and indexing it. */
function setup() {
  const store = new SlabStore({ slabBytes: 4096 });
  const index = new KeyIndex(store);
  const add = (key: string, hash = hashKey(key)) => {
    const id = store.put(key, utf8.encode(key).byteLength, empty);
    index.insert(id, hash);
    return id;
  };
  const remove = (id: number) => {
    index.delete(id);
    store.free(id);
  };
  return { store, index, add, remove };
}

describe("KeyIndex", () => {
  test("finds every key it holds and no other, across growth of its table", () => {
    const { index, add } = setup();
    const ids = new Map<string, number>();
    for (let i = 0; i < 5000; i++) ids.set(`key-${i}`, add(`key-${i}`));
    expect(index.size).toBe(5000);
    for (const [key, id] of ids) expect(index.find(key, hashKey(key))).toBe(id);
    for (let i = 5000; i < 5100; i++) expect(index.find(`key-${i}`, hashKey(`key-${i}`))).toBe(-1);
  });

  test("keys that share a hash are told apart by their bytes, and deleting any of them keeps the others found", () => {
    // Every key under one hash: one probe run of 40 slots, deleted from in every position.
    const { index, add, remove } = setup();
    const keys = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? `ключ-${i}` : `k${i}`));
    const ids = new Map(keys.map((key) => [key, add(key, 7)]));
    for (const [key, id] of ids) expect(index.find(key, 7)).toBe(id);
    expect(index.find("k1", hashKey("k1"))).toBe(-1); // its own hash was not the one stored
    for (const [i, key] of [...keys].entries()) {
      if (i % 2 === 1) continue;
      remove(ids.get(key) as number);
      ids.delete(key);
      for (const [k, id] of ids) expect(index.find(k, 7)).toBe(id);
      expect(index.find(key, 7)).toBe(-1);
    }
    expect(index.size).toBe(20);
  });

  test("wrapping probe runs survive deletions (hashes at the end of the table)", () => {
    const { index, add, remove } = setup();
    // The table starts with 1024 slots: hashes 1022 and 1023 wrap into slots 0, 1, ...
    const keys = ["a", "b", "c", "d", "e", "f"];
    const ids = keys.map((key, i) => add(key, 1022 + (i % 2)));
    remove(ids[0] as number);
    remove(ids[3] as number);
    for (const [i, key] of keys.entries()) {
      const expected = i === 0 || i === 3 ? -1 : ids[i];
      expect(index.find(key, 1022 + (i % 2))).toBe(expected);
    }
  });

  test("clear forgets every key", () => {
    const { index, add } = setup();
    add("x");
    index.clear();
    expect(index.size).toBe(0);
    expect(index.find("x", hashKey("x"))).toBe(-1);
  });

  test("hashKey is deterministic and spreads keys that differ in one character", () => {
    expect(hashKey("key-1")).toBe(hashKey("key-1"));
    const low = new Set(Array.from({ length: 1024 }, (_, i) => hashKey(`key-${i}`) & 1023));
    expect(low.size).toBeGreaterThan(600); // a uniform hash fills ~647 of 1,024 slots
  });
});
