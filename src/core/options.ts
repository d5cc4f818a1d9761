import { GroupCacheError } from "./errors.ts";

/**
 * Checks for option values, shared by every options type of the library so
 * that a bad value is refused the same way everywhere: at once (at
 * construction, not at first use), with an `invalid-argument` error that
 * names the option, quotes the value and says what to pass instead.
 */

/** Names a value's type for error messages: `null`, `string`, `Uint8Array`... */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}

/** A value quoted for an error message: strings and numbers as written, other values by type. */
export function quote(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === undefined) return "undefined";
  return describe(value);
}

/** The `invalid-argument` error for option `name`: `<name> must be <expected>, got <value>`. */
export function invalidOption(name: string, expected: string, value: unknown): GroupCacheError {
  return new GroupCacheError("invalid-argument", `${name} must be ${expected}, got ${quote(value)}`);
}

/** A finite number `>= 0` (milliseconds, bytes, ...), or `fallback` when unset. */
export function nonNegativeNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidOption(name, "a finite number >= 0", value);
  }
  return value;
}

/** A finite number `> 0` (a window, an interval...), or `fallback` when unset. */
export function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(name, "a finite number > 0", value);
  }
  return value;
}

/** A number from 0 to below 1 (a share, a spread), or `fallback` when unset. */
export function fractionOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw invalidOption(name, "a number from 0 to below 1", value);
  }
  return value;
}

/** An integer `>= 1` (a count, a capacity), or `fallback` when unset. */
export function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalidOption(name, "a positive integer", value);
  }
  return value;
}

/** An integer in `[min, max]`, or `fallback` when unset. */
export function integerInRange(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** A boolean, or `fallback` when unset. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalidOption(name, "true or false", value);
  return value;
}

/**
 * A function, or `fallback` when unset (which may be `undefined` for an
 * optional hook). `expected` names what to pass, with an example where one
 * helps: "a function (such as neverHot)". Default: "a function".
 */
export function functionOption<F extends ((...args: never[]) => unknown) | undefined>(
  name: string,
  value: unknown,
  fallback: F,
  expected = "a function",
): F {
  if (value === undefined) return fallback;
  if (typeof value !== "function") throw invalidOption(name, expected, value);
  return value as F;
}

/** An `AbortSignal`, or `undefined` when unset. */
export function signalOption(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidOption(name, "an AbortSignal", value);
  return value;
}

/**
 * The elements of an iterable of strings. A string itself is refused: it is
 * iterable, and would otherwise become one element per character
 * (`"a:1,b:2"` as seven peer ids).
 */
export function stringList(name: string, value: unknown): string[] {
  if (typeof value === "string") {
    throw new GroupCacheError(
      "invalid-argument",
      `${name} must be an array (or other iterable) of strings, got the string ${JSON.stringify(value)}; pass ${JSON.stringify(value.split(",").map((s) => s.trim()))} for a list`,
    );
  }
  if (
    value === null ||
    typeof value !== "object" ||
    typeof (value as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw invalidOption(name, "an array (or other iterable) of strings", value);
  }
  const out: string[] = [];
  for (const item of value as Iterable<unknown>) {
    if (typeof item !== "string") throw invalidOption(`${name}[${out.length}]`, "a string", item);
    out.push(item);
  }
  return out;
}

/** An options object, or `{}` when unset: refuses `null`, strings, numbers... */
export function optionsObject<T extends object>(name: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object") throw invalidOption(name, "an options object", value);
  return value;
}

/** An array (interceptors, compressions), or `[]` when unset. */
export function arrayOption<T>(name: string, value: readonly T[] | undefined): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidOption(name, "an array", value);
  return value as T[];
}
