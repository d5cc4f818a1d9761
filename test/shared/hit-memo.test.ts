import { describe, expect, test } from "vitest";
import { HitMemo } from "../../src/core/hit-memo.ts";

const p = (value: string) => Promise.resolve(value);

describe("HitMemo", () => {
  test("remembers one promise per slot; a newer id in the same slot replaces it unless told not to", () => {
    const memo = new HitMemo<string>(4, 1000);
    const a = p("a");
    memo.set(1, a, 10, true);
    expect(memo.get(1)).toBe(a);
    expect(memo.get(5)).toBeUndefined(); // same slot, other id
    memo.set(5, p("b"), 10, false); // a load does not push out a hit's promise
    expect(memo.get(1)).toBe(a);
    const c = p("c");
    memo.set(5, c, 10, true);
    expect(memo.get(5)).toBe(c);
    expect(memo.get(1)).toBeUndefined();
    expect(memo.bytes).toBe(10);
  });

  test("keeps at most maxBytes of values", () => {
    const memo = new HitMemo<string>(8, 25);
    memo.set(0, p("a"), 10, true);
    memo.set(1, p("b"), 10, true);
    memo.set(2, p("c"), 10, true); // would make 30
    expect(memo.get(2)).toBeUndefined();
    memo.set(1, p("b2"), 15, true); // replaces 10 with 15: 25 fits
    expect(memo.bytes).toBe(25);
    memo.delete(0);
    memo.delete(7); // not there: nothing happens
    expect(memo.bytes).toBe(15);
    expect(memo.get(0)).toBeUndefined();
  });

  test("admits an id whose previous miss in its slot was its own", () => {
    const memo = new HitMemo<string>(4, 1000);
    expect(memo.admit(3)).toBe(false);
    expect(memo.admit(3)).toBe(true);
    expect(memo.admit(7)).toBe(false); // same slot: 7 replaces 3 as the candidate
    expect(memo.admit(3)).toBe(false);
    expect(memo.admit(3)).toBe(true);
  });
});
