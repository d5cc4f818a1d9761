import { GroupCacheError } from "./errors.ts";
import type { GetOptions } from "./group-options.ts";
import { stringList } from "./options.ts";

/**
 * One key's outcome in {@link Group.getMany}: its value, or the error its
 * `get` would have rejected with. `ok` tells them apart.
 */
export type GetManyResult<T> = { key: string; ok: true; value: T } | { key: string; ok: false; error: GroupCacheError };

/**
 * Gets every key of `keys` at once through `get` and settles each on its
 * own: one failing key fails only its result. All the gets start in the
 * same turn, so the peer transport packs the keys each owner is asked for
 * into one message (GetStream batches what is asked in one round).
 */
export function getMany<T>(
  get: (key: string, options?: GetOptions) => Promise<T>,
  keys: Iterable<string>,
  options?: GetOptions,
): Promise<GetManyResult<T>[]> {
  let list: string[];
  try {
    list = stringList("getMany: keys", keys);
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.all(
    list.map((key) =>
      get(key, options).then(
        (value): GetManyResult<T> => ({ key, ok: true, value }),
        (error: unknown): GetManyResult<T> => ({ key, ok: false, error: GroupCacheError.from(error) }),
      ),
    ),
  );
}
