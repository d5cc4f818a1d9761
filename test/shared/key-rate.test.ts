import { describe, expect, test } from "vitest";
import { KeyRate } from "../../src/core/key-rate.ts";
import { GroupCache } from "../../src/index.ts";

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe("KeyRate", () => {
  test("within the first window the rate is the plain count per minute", () => {
    const c = clock();
    const rate = new KeyRate({ now: c.now });
    expect(rate.record("a")).toBe(1);
    c.t += 10_000;
    expect(rate.record("a")).toBe(2);
    expect(rate.record("b")).toBe(1);
    c.t += 49_999;
    expect(rate.rate("a")).toBe(2);
    expect(rate.rate("missing")).toBe(0);
  });

  test("after a window ends the count is divided by the time both windows span", () => {
    const c = clock();
    const rate = new KeyRate({ now: c.now });
    for (let i = 0; i < 30; i++) rate.record("a");
    c.t += 60_000; // the first window ends: 30 requests over 60 s
    expect(rate.rate("a")).toBe(30);
    for (let i = 0; i < 30; i++) rate.record("a");
    c.t += 60_000; // 60 requests over 120 s, then the first window is dropped
    expect(rate.rate("a")).toBe(30);
    c.t += 30_000; // only the second window's 30 requests remain, over 90 s
    expect(rate.rate("a")).toBe(20);
  });

  test("counts older than two windows are forgotten", () => {
    const c = clock();
    const rate = new KeyRate({ now: c.now });
    rate.record("a");
    c.t += 120_000;
    expect(rate.rate("a")).toBe(0);
    expect(rate.size).toBe(0);
  });

  test("maxKeys bounds the keys counted: a full window ends early", () => {
    const c = clock();
    const rate = new KeyRate({ now: c.now, maxKeys: 3 });
    for (const key of ["a", "b", "c"]) rate.record(key);
    expect(rate.size).toBe(3);
    c.t += 1_000;
    rate.record("d"); // the window of a, b, c ends after 1 s
    expect(rate.size).toBe(4);
    for (const key of ["e", "f"]) rate.record(key);
    rate.record("g"); // a, b, c are dropped
    expect(rate.size).toBe(4);
    expect(rate.rate("a")).toBe(0);
  });

  test("rejects bad options naming the value", () => {
    expect(() => new KeyRate({ windowMs: 0 })).toThrow(/windowMs must be a finite number > 0, got 0/);
    expect(() => new KeyRate({ maxKeys: 1.5 })).toThrow(/maxKeys must be a positive integer, got 1.5/);
  });
});

test("GroupCache.serve reports the key's rate of peer requests (local gets are not counted)", async () => {
  const cache = new GroupCache();
  const g = cache.newGroup({ name: "g", getter: (key) => `v:${key}` });
  await g.get("k");
  await g.get("k");
  const first = await cache.serve("g", "k");
  expect(new TextDecoder().decode(first.value)).toBe("v:k");
  expect(first.minuteQps).toBe(1);
  expect((await cache.serve("g", "other")).minuteQps).toBe(1);
  expect((await cache.serve("g", "k")).minuteQps).toBe(2);
});
