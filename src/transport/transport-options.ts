import { defaultMaxMessageBytes } from "../core/defaults.ts";
import { integerInRange } from "../core/options.ts";

/**
 * The option checks the transport's options need beyond `core/options.ts`,
 * refusing a bad value the same way: `invalid-argument`, naming the option
 * and quoting the value.
 */

/**
 * A message size limit (`readMaxBytes`, `writeMaxBytes`): an integer from 1
 * to 2^32-1, the largest length a gRPC message prefix can hold, or
 * `defaultMaxMessageBytes` when unset. Connect's own default (~4 GiB) would
 * let one bad peer make us buffer gigabytes.
 */
export function messageBytesOption(name: string, value: unknown): number {
  return integerInRange(name, value, 1, 0xffffffff, defaultMaxMessageBytes);
}

/** The longest `setTimeout` can wait (2^31-1 ms, ~24.8 days); it fires at once for anything longer. */
export const maxTimerMs = 0x7fffffff;
