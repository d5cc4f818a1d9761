import { expect, test } from "vitest";
import { GroupCache } from "../src/index.ts";

test("a standalone group loads once and then serves from cache", async () => {
  let loads = 0;
  const cache = new GroupCache();
  const g = cache.newGroup({ name: "g", getter: (key) => { loads++; return `v:${key}`; } });
  expect(new TextDecoder().decode(await g.get("a"))).toBe("v:a");
  expect(new TextDecoder().decode(await g.get("a"))).toBe("v:a");
  expect(loads).toBe(1);
});
