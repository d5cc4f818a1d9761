import { describe, expect, test } from "vitest";
import { groupServer } from "../../src/core/group.ts";
import { GroupCache } from "../../src/index.ts";
import { deferred } from "../support/deferred.ts";

const closed = (message: string) => expect.objectContaining({ code: "closed", message });

/** A cache with one group whose getter counts its calls; "k" is cached. */
async function cacheWithGroup() {
  const cache = new GroupCache({ self: "10.0.0.1:8080" });
  let calls = 0;
  const group = cache.newGroup({
    name: "g",
    getter: (key) => {
      calls++;
      return `v:${key}`;
    },
  });
  await group.get("k");
  return { cache, group, calls: () => calls };
}

describe("after GroupCache.close", () => {
  test("every get is refused with closed, a cached key's as a missing one's, and nothing is loaded or counted", async () => {
    const { cache, group, calls } = await cacheWithGroup();
    const before = group.stats;
    await cache.close();
    for (const key of ["k", "missing"]) {
      await expect(group.get(key)).rejects.toThrowError(closed('group "g" is closed'));
      await expect(group.get(key, { signal: new AbortController().signal })).rejects.toThrowError(
        closed('group "g" is closed'),
      );
    }
    expect(calls()).toBe(1);
    expect(group.stats).toEqual(before);
    expect(group.cacheStats("main")).toMatchObject({ items: 0, bytes: 0 });
  });

  test("serve is refused with closed and serveCached answers nothing, so a transport calls serve", async () => {
    const { cache, group } = await cacheWithGroup();
    expect(cache.serveCached("g", "k")).toBeDefined();
    await cache.close();
    expect(cache.serveCached("g", "k")).toBeUndefined();
    expect(groupServer(group).serveCached("k")).toBeUndefined();
    await expect(cache.serve("g", "k")).rejects.toThrowError(closed("this GroupCache instance is closed"));
    await expect(cache.serve("nope", "k")).rejects.toThrowError(closed("this GroupCache instance is closed"));
    await expect(groupServer(group).serve("k")).rejects.toThrowError(closed('group "g" is closed'));
  });

  test("a load in flight finishes for its waiters but is not cached", async () => {
    const cache = new GroupCache();
    const gate = deferred<string>();
    const group = cache.newGroup({ name: "g", getter: () => gate.promise });
    const waiting = group.get("k");
    await cache.close();
    gate.resolve("late");
    expect(String(await waiting)).toBe("late");
    expect(group.cacheStats("main")).toMatchObject({ items: 0, bytes: 0 });
    await expect(group.get("k")).rejects.toThrowError(closed('group "g" is closed'));
  });
});
