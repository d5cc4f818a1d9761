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
   * `AbortSignal` reason becomes `canceled` or `deadline-exceeded` (a
   * `TimeoutError`, or a Connect error with gRPC's DEADLINE_EXCEEDED, which
   * is what Connect aborts a handler's signal with when the request's
   * `grpc-timeout` runs out); anything else becomes `code` with the original
   * as `cause`.
   */
  static from(reason: unknown, code: ErrorCode = "internal", context = ""): GroupCacheError {
    if (reason instanceof GroupCacheError) return reason;
    const prefix = context === "" ? "" : `${context}: `;
    const aborted = abortCode(reason);
    if (aborted !== undefined) {
      const timeout = aborted === "deadline-exceeded";
      return new GroupCacheError(aborted, `${prefix}${timeout ? "timed out" : "canceled"}`, { cause: reason });
    }
    const message = reason instanceof Error ? reason.message : String(reason);
    return new GroupCacheError(code, `${prefix}${message}`, { cause: reason });
  }
}

/**
 * Thrown by a getter to say the key does not exist. It is passed to every
 * waiter as it is, and a peer that receives it from the owner returns it
 * without loading the key itself. It is cached only when the group sets
 * `notFoundTtlMs`.
 */
export class NotFoundError extends GroupCacheError {
  override name = "NotFoundError";
  /**
   * How much longer, in milliseconds, the owner answers this not-found
   * from its cache (a group's `notFoundTtlMs`), so that peers may cache it
   * as long; `undefined` when it is not cached.
   */
  readonly ttlMs: number | undefined;

  constructor(message = "not found", options?: { cause?: unknown; ttlMs?: number }) {
    super("not-found", message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.ttlMs = options?.ttlMs;
  }
}

/** gRPC's status codes for a cancel and a deadline: the same in every gRPC library. */
const grpcCanceled = 1;
const grpcDeadlineExceeded = 4;

/**
 * The code of an abort reason: a DOM `AbortError` or `TimeoutError`, or a
 * Connect `ConnectError` (recognised by its name and gRPC code, so the core
 * does not import Connect) with CANCELLED or DEADLINE_EXCEEDED; `undefined`
 * for anything else.
 */
function abortCode(reason: unknown): "canceled" | "deadline-exceeded" | undefined {
  if (typeof reason !== "object" || reason === null) return undefined;
  const { name, code } = reason as { name?: unknown; code?: unknown };
  if (name === "AbortError") return "canceled";
  if (name === "TimeoutError") return "deadline-exceeded";
  if (name !== "ConnectError") return undefined;
  if (code === grpcCanceled) return "canceled";
  return code === grpcDeadlineExceeded ? "deadline-exceeded" : undefined;
}
