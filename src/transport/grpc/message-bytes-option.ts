import { GroupCacheError } from "../../core/errors.ts";

/**
 * Default largest gRPC message, in bytes, that clients and servers of this
 * transport send or accept: a group's default `maxValueBytes` (8 MiB) plus
 * 64 KiB for the key, the group name and protobuf framing. Connect's own
 * default (~4 GiB) would let one bad peer make us buffer gigabytes.
 */
export const defaultMaxMessageBytes = (8 << 20) + (64 << 10);

/** Checks a message size limit; returns it, or the default when unset. Throws `invalid-argument` naming it. */
export function checkMaxBytes(name: string, value: number | undefined): number {
  if (value === undefined) return defaultMaxMessageBytes;
  if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) {
    throw new GroupCacheError(
      "invalid-argument",
      `${name} must be an integer between 1 and 4294967295, got ${String(value)}`,
    );
  }
  return value;
}

/** Checks a duration in milliseconds (`0` meaning none); returns it, or `fallback` when unset. */
export function checkMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new GroupCacheError("invalid-argument", `${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}
