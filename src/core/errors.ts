/**
 * What went wrong, as a stable string a program can switch on.
 *
 * - `invalid-argument`: a bad key, group name, option or getter result.
 * - `not-found`: the getter (local or on the owner) said the key does not exist.
 * - `unknown-group`: no group of that name on this instance (or on the peer asked).
 * - `already-exists`: a group of that name was already created on this instance.
 * - `canceled`: the caller's `AbortSignal` fired.
 * - `deadline-exceeded`: a timeout ran out (the caller's, or the getter's `getterTimeoutMs`).
 * - `unavailable`: a peer could not be reached.
 * - `resource-exhausted`: a value or message was larger than the configured limit.
 * - `load-failed`: the getter threw or rejected; the original error is the `cause`.
 * - `permission-denied`: a peer refused a write (writes disabled there, or the caller not trusted).
 * - `unimplemented`: a peer does not serve the request (a Go peer, an older version).
 * - `closed`: the instance was closed.
 * - `internal`: a bug or a broken invariant: please report it.
 */
export type ErrorCode =
  | "invalid-argument"
  | "not-found"
  | "unknown-group"
  | "already-exists"
  | "canceled"
  | "deadline-exceeded"
  | "unavailable"
  | "resource-exhausted"
  | "load-failed"
  | "permission-denied"
  | "unimplemented"
  | "closed"
  | "internal";

/**
 * The one error type of the library. Every failure that crosses the API is a
 * `GroupCacheError` with a `code`; the underlying error, if any, is `cause`.
 */
export class GroupCacheError extends Error {
  override name = "GroupCacheError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /**
   * Wraps any thrown value. A `GroupCacheError` is returned as it is; an
   * `AbortSignal` reason becomes `canceled` or `deadline-exceeded`; anything
   * else becomes `code` with the original as `cause`.
   */
  static from(reason: unknown, code: ErrorCode = "internal", context = ""): GroupCacheError {
    if (reason instanceof GroupCacheError) return reason;
    const prefix = context === "" ? "" : `${context}: `;
    if (isAbortReason(reason)) {
      const timeout = (reason as { name?: unknown }).name === "TimeoutError";
      return new GroupCacheError(
        timeout ? "deadline-exceeded" : "canceled",
        `${prefix}${timeout ? "timed out" : "canceled"}`,
        { cause: reason },
      );
    }
    const message = reason instanceof Error ? reason.message : String(reason);
    return new GroupCacheError(code, `${prefix}${message}`, { cause: reason });
  }
}

/**
 * Thrown by a getter to say the key does not exist. It is not cached, is
 * passed to every waiter as it is, and a peer that receives it from the owner
 * returns it without loading the key itself.
 */
export class NotFoundError extends GroupCacheError {
  override name = "NotFoundError";

  constructor(message = "not found", options?: { cause?: unknown }) {
    super("not-found", message, options);
  }
}

function isAbortReason(reason: unknown): boolean {
  if (typeof reason !== "object" || reason === null) return false;
  const name = (reason as { name?: unknown }).name;
  return name === "AbortError" || name === "TimeoutError";
}
