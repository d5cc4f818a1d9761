import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorCode, GroupCacheError, NotFoundError } from "../core/errors.ts";

/**
 * The gRPC status an owner answers with, per error code of the core. Peers
 * of any implementation (the Go gRPC fork included) see standard codes:
 *
 * | core code            | gRPC status         |
 * | -------------------- | ------------------- |
 * | `not-found`          | NOT_FOUND           |
 * | `invalid-argument`   | INVALID_ARGUMENT    |
 * | `unknown-group`      | FAILED_PRECONDITION |
 * | `resource-exhausted` | RESOURCE_EXHAUSTED  |
 * | `deadline-exceeded`  | DEADLINE_EXCEEDED   |
 * | `canceled`           | CANCELLED           |
 * | `unavailable`        | UNAVAILABLE         |
 * | `closed`             | UNAVAILABLE         |
 * | `load-failed`        | UNKNOWN             |
 * | anything else        | INTERNAL            |
 */
const toGrpc: Record<ErrorCode, Code> = {
  "not-found": Code.NotFound,
  "invalid-argument": Code.InvalidArgument,
  "unknown-group": Code.FailedPrecondition,
  "resource-exhausted": Code.ResourceExhausted,
  "deadline-exceeded": Code.DeadlineExceeded,
  canceled: Code.Canceled,
  unavailable: Code.Unavailable,
  closed: Code.Unavailable,
  "load-failed": Code.Unknown,
  "already-exists": Code.Internal,
  internal: Code.Internal,
};

/**
 * The core code a caller sees for a gRPC status from a peer: the inverse of
 * the table above where it is one-to-one. A status the owner would never
 * send (UNIMPLEMENTED from a server without the service, PERMISSION_DENIED
 * from a proxy, ...) becomes `internal`; the core treats it, like every code
 * but `not-found`, as a failed peer and loads the key itself.
 */
const fromGrpc: Partial<Record<Code, ErrorCode>> = {
  [Code.NotFound]: "not-found",
  [Code.InvalidArgument]: "invalid-argument",
  [Code.OutOfRange]: "invalid-argument",
  [Code.FailedPrecondition]: "unknown-group",
  [Code.ResourceExhausted]: "resource-exhausted",
  [Code.DeadlineExceeded]: "deadline-exceeded",
  [Code.Canceled]: "canceled",
  [Code.Unavailable]: "unavailable",
  [Code.Aborted]: "unavailable",
  [Code.Unknown]: "load-failed",
};

/**
 * Turns what `GroupCache.serve` threw into the `ConnectError` the handler
 * throws, keeping the message so the caller learns what went wrong.
 */
export function toConnectError(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  const error = GroupCacheError.from(reason, "internal");
  return new ConnectError(error.message, toGrpc[error.code] ?? Code.Internal, undefined, undefined, error);
}

/**
 * Turns a failed call to peer `peer` into the `GroupCacheError` the core
 * expects: NOT_FOUND becomes a {@link NotFoundError} (the caller returns it
 * without loading the key itself), the other statuses the codes above.
 */
export function fromConnectError(reason: unknown, peer: string): GroupCacheError {
  if (reason instanceof GroupCacheError) return reason;
  const error = ConnectError.from(reason);
  const message = `peer ${peer}: ${error.rawMessage === "" ? Code[error.code] : error.rawMessage}`;
  const code = fromGrpc[error.code] ?? "internal";
  if (code === "not-found") return new NotFoundError(message, { cause: error });
  return new GroupCacheError(code, message, { cause: error });
}
