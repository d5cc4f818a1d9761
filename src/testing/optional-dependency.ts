import { GroupCacheError } from "../index.ts";

/**
 * Loads an optional peer dependency through `load` (a literal
 * `() => import("name")`, so bundlers and `deno publish` still see it).
 * When it cannot be loaded, fails with `unavailable` and says what to
 * install, the loader's error as `cause`.
 *
 * Why: the testing harness needs some packages (such as `dns2`) that only
 * some of its users want; importing them lazily keeps them out of
 * everyone's dependencies, and a missing one fails where it is used.
 */
export async function optionalDependency<T>(load: () => Promise<T>, name: string, feature: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new GroupCacheError(
      "unavailable",
      `install ${name} to use ${feature}: it is an optional peer dependency of groupcache (npm install --save-dev ${name})`,
      { cause: error },
    );
  }
}
