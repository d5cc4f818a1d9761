import { expect, test } from "vitest";
import { GroupCacheError } from "../../src/index.ts";
import { optionalDependency } from "../../src/testing/optional-dependency.ts";

test("a missing optional dependency fails with unavailable, saying what to install; a present one loads", async () => {
  const missing = new Error("Cannot find package 'dns2'");
  const error = await optionalDependency(() => Promise.reject(missing), "dns2", "startDnsServer").catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GroupCacheError);
  expect((error as GroupCacheError).code).toBe("unavailable");
  expect((error as GroupCacheError).message).toBe(
    "install dns2 to use startDnsServer: it is an optional peer dependency of groupcache (npm install --save-dev dns2)",
  );
  expect((error as GroupCacheError).cause).toBe(missing);
  const dns2 = await optionalDependency(() => import("dns2"), "dns2", "startDnsServer");
  expect(typeof dns2.default.createServer).toBe("function");
});
