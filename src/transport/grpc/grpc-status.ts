import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorCode, GroupCacheError, NotFoundError } from "../../core/errors.ts";

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
 * The gRPC status code and message an owner answers one key of a GetStream
 * with, for what `GroupCache.serve` threw: the same as Get would end with
 * (see `toConnectError`).
 */
export function toGrpcStatus(reason: unknown): { code: Code; message: string } {
  if (reason instanceof ConnectError) return { code: reason.code, message: reason.rawMessage };
  const error = GroupCacheError.from(reason, "internal");
  return { code: toGrpc[error.code] ?? Code.Internal, message: error.message };
}

/**
 * The `GroupCacheError` for a gRPC status `code` with `message` from peer
 * `peer` (a key's status on a GetStream, or the stream's own): as
 * {@link fromConnectError}, NOT_FOUND becomes a {@link NotFoundError}.
 */
export function fromGrpcStatus(code: number, message: string, peer: string, cause?: unknown): GroupCacheError {
  const text = `peer ${peer}: ${message === "" ? (Code[code] ?? `status ${code}`) : message}`;
  const errorCode = fromGrpc[code as Code] ?? "internal";
  const options = cause === undefined ? undefined : { cause };
  if (errorCode === "not-found") return new NotFoundError(text, options);
  return new GroupCacheError(errorCode, text, options);
}

/**
 * Turns a failed call to peer `peer` into the `GroupCacheError` the core
 * expects: NOT_FOUND becomes a {@link NotFoundError} (the caller returns it
 * without loading the key itself), the other statuses the codes above.
 */
export function fromConnectError(reason: unknown, peer: string): GroupCacheError {
  if (reason instanceof GroupCacheError) return reason;
  const error = ConnectError.from(reason);
  return fromGrpcStatus(error.code, error.rawMessage, peer, error);
}

/** The `grpc-status` and (percent-decoded) `grpc-message` of response headers or trailers. */
export function grpcStatusOf(headers: Record<string, string | string[] | number | undefined>): {
  code: number;
  message: string;
} {
  const code = Number(headers["grpc-status"]);
  const raw = headers["grpc-message"];
  let message = typeof raw === "string" ? raw : "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // not percent-encoded after all: keep it as sent
  }
  return Number.isInteger(code) && code >= 0
    ? { code, message }
    : { code: Code.Unknown, message: `bad grpc-status ${JSON.stringify(headers["grpc-status"])}` };
}

/**
 * The gRPC status for an HTTP response status other than 200, as the gRPC
 * spec maps them: 404 (a server without the method, or a proxy) is
 * UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE.
 */
export function grpcCodeOfHttpStatus(status: number | undefined): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}
