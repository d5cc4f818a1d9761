import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorCode, GroupCacheError, NotFoundError } from "../../core/errors.ts";

/** A gRPC status: a code (`0`, OK, or a {@link Code}) and a message. */
export interface GrpcStatus {
  code: number;
  message: string;
}

/**
 * The one table between the core's error codes and gRPC statuses, so peers
 * of any implementation (the Go gRPC fork included) see standard codes.
 * Most rows hold both ways; `send` rows only map what an owner answers,
 * `receive` rows only what a caller reads:
 *
 * | core code            | gRPC status         | way     |
 * | -------------------- | ------------------- | ------- |
 * | `not-found`          | NOT_FOUND           | both    |
 * | `invalid-argument`   | INVALID_ARGUMENT    | both    |
 * | `unknown-group`      | FAILED_PRECONDITION | both    |
 * | `resource-exhausted` | RESOURCE_EXHAUSTED  | both    |
 * | `deadline-exceeded`  | DEADLINE_EXCEEDED   | both    |
 * | `canceled`           | CANCELLED           | both    |
 * | `unavailable`        | UNAVAILABLE         | both    |
 * | `load-failed`        | UNKNOWN             | both    |
 * | `internal`           | INTERNAL            | both    |
 * | `permission-denied`  | PERMISSION_DENIED   | both    |
 * | `unimplemented`      | UNIMPLEMENTED       | both    |
 * | `closed`             | UNAVAILABLE         | send    |
 * | `invalid-argument`   | OUT_OF_RANGE        | receive |
 * | `unavailable`        | ABORTED             | receive |
 *
 * A core code without a row (`already-exists`) is sent as INTERNAL. A
 * status without one (UNAUTHENTICATED from a proxy, ...) is read as
 * `internal`. For a get, the core treats every code but `not-found` as a
 * failed peer and loads the key itself; a write reports it in the peer's
 * row (UNIMPLEMENTED: a peer without Set and Remove).
 */
const statusTable: readonly (readonly [ErrorCode, Code, "both" | "send" | "receive"])[] = [
  ["not-found", Code.NotFound, "both"],
  ["invalid-argument", Code.InvalidArgument, "both"],
  ["unknown-group", Code.FailedPrecondition, "both"],
  ["resource-exhausted", Code.ResourceExhausted, "both"],
  ["deadline-exceeded", Code.DeadlineExceeded, "both"],
  ["canceled", Code.Canceled, "both"],
  ["unavailable", Code.Unavailable, "both"],
  ["load-failed", Code.Unknown, "both"],
  ["internal", Code.Internal, "both"],
  ["permission-denied", Code.PermissionDenied, "both"],
  ["unimplemented", Code.Unimplemented, "both"],
  ["closed", Code.Unavailable, "send"],
  ["invalid-argument", Code.OutOfRange, "receive"],
  ["unavailable", Code.Aborted, "receive"],
];
const toGrpc = new Map(statusTable.filter((row) => row[2] !== "receive").map(([core, grpc]) => [core, grpc]));
const fromGrpc = new Map<number, ErrorCode>(
  statusTable.filter((row) => row[2] !== "send").map(([core, grpc]) => [grpc, core]),
);

/**
 * The gRPC status an owner answers with for what `GroupCache.serve` threw
 * (a key of a GetStream, or a whole stream), its message kept so the caller
 * learns what went wrong. A `ConnectError` keeps its own status.
 */
export function toGrpcStatus(reason: unknown): GrpcStatus {
  if (reason instanceof ConnectError) return { code: reason.code, message: reason.rawMessage };
  const error = GroupCacheError.from(reason, "internal");
  return { code: toGrpc.get(error.code) ?? Code.Internal, message: error.message };
}

/**
 * Trailer that marks a NOT_FOUND as the owner's getter saying the key does
 * not exist. Go's gRPC fork answers an unknown group with NOT_FOUND too
 * (`group <name> not found`); without the mark, a caller would take that
 * for a missing key and fail the get instead of loading it itself, so every
 * key of a group that a Go peer does not have yet would fail during a
 * deploy that adds the group.
 */
export const notFoundTrailer = "groupcache-not-found";

/**
 * Trailer of a NOT_FOUND from a getter that the owner caches
 * (`notFoundTtlMs`): for how many more milliseconds, so the caller may
 * cache it as long. The GetStream answer carries it as `not_found_ttl_ms`.
 */
export const notFoundTtlTrailer = "groupcache-not-found-ttl-ms";

/** How long the owner caches `error`, if it is a cached not-found; else 0. */
export function notFoundTtlOf(error: unknown): number {
  const ttlMs = error instanceof NotFoundError ? error.ttlMs : undefined;
  return ttlMs !== undefined && ttlMs > 0 ? ttlMs : 0;
}

/** `error` with the owner's `ttlMs` for a cached not-found (a positive finite number), else as it is. */
export function withNotFoundTtl(error: GroupCacheError, ttlMs: number): GroupCacheError {
  if (error.code !== "not-found" || !(ttlMs > 0 && Number.isFinite(ttlMs))) return error;
  return new NotFoundError(error.message, { cause: error.cause, ttlMs });
}

/**
 * {@link toGrpcStatus} as the `ConnectError` a Connect handler throws, with
 * the `GroupCacheError` as its cause; a genuine not-found carries
 * {@link notFoundTrailer}.
 */
export function toConnectError(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  const error = GroupCacheError.from(reason, "internal");
  const metadata = notFoundMarks(error);
  return new ConnectError(error.message, toGrpc.get(error.code) ?? Code.Internal, metadata, undefined, error);
}

/** The trailers that mark `error` as a genuine not-found (with its TTL when cached); none for other errors. */
function notFoundMarks(error: GroupCacheError): Record<string, string> | undefined {
  if (error.code !== "not-found") return undefined;
  const ttlMs = notFoundTtlOf(error);
  return ttlMs > 0
    ? { [notFoundTrailer]: "getter", [notFoundTtlTrailer]: String(ttlMs) }
    : { [notFoundTrailer]: "getter" };
}

/**
 * The trailers a unary call that failed with `reason` ends with: its
 * status, as {@link toGrpcStatus}, and for a genuine not-found the marks
 * {@link toConnectError} adds (what Connect writes for that error).
 */
export function errorTrailers(reason: unknown): Record<string, string> {
  const trailers = grpcTrailers(toGrpcStatus(reason));
  if (reason instanceof ConnectError) return trailers;
  const marks = notFoundMarks(GroupCacheError.from(reason, "internal"));
  return marks === undefined ? trailers : { ...trailers, ...marks };
}

/**
 * The `GroupCacheError` for a gRPC status `code` with `message` from peer
 * `peer` (a key's status on a GetStream, or a call's): NOT_FOUND becomes a
 * {@link NotFoundError}, which the caller returns without loading the key
 * itself; the other statuses the codes of the table above.
 */
export function fromGrpcStatus(code: number, message: string, peer: string, cause?: unknown): GroupCacheError {
  const text = `peer ${peer}: ${message === "" ? (Code[code] ?? `status ${code}`) : message}`;
  const errorCode = fromGrpc.get(code) ?? "internal";
  const options = cause === undefined ? undefined : { cause };
  if (errorCode === "not-found") return new NotFoundError(text, options);
  return new GroupCacheError(errorCode, text, options);
}

/**
 * {@link fromGrpcStatus} for a failed unary call to peer `peer` (a
 * `GroupCacheError` is returned as it is). A NOT_FOUND without
 * {@link notFoundTrailer} did not come from a getter of ours: it is read
 * as `unknown-group` (what Go's gRPC fork means by it), so the caller
 * counts a peer error and loads the key itself.
 */
export function fromConnectError(reason: unknown, peer: string): GroupCacheError {
  if (reason instanceof GroupCacheError) return reason;
  const error = ConnectError.from(reason);
  if (error.code === Code.NotFound && error.metadata.get(notFoundTrailer) !== "getter") {
    return new GroupCacheError(
      "unknown-group",
      `peer ${peer}: NOT_FOUND without a ${notFoundTrailer} trailer, taken as a peer without the group (as Go's gRPC fork answers one): ${error.rawMessage}`,
      { cause: error },
    );
  }
  const ttl = error.code === Code.NotFound ? Number(error.metadata.get(notFoundTtlTrailer) ?? 0) : 0;
  return withNotFoundTtl(fromGrpcStatus(error.code, error.rawMessage, peer, error), ttl);
}

/**
 * The status in response headers or trailers as `node:http2` hands them
 * over: `grpc-status` and the percent-decoded `grpc-message`, read as
 * Connect's `findTrailerError` and `validateTrailer` read them for unary
 * calls (an unknown code or none is INTERNAL, with their messages). Not
 * those helpers themselves: they take a fetch `Headers`, and
 * `findTrailerError` throws on a `grpc-message` that is not valid
 * percent-encoding, which the gRPC spec says to keep as sent; this is read
 * in a stream's event listener, where a throw would be uncaught.
 */
export function grpcStatusOf(headers: Record<string, string | string[] | number | undefined>): GrpcStatus {
  const status = headers["grpc-status"];
  if (status === undefined) return { code: Code.Internal, message: "protocol error: missing status" };
  const code = status === "0" ? 0 : Number.parseInt(String(status), 10);
  if (status !== "0" && !(code in Code))
    return { code: Code.Internal, message: `invalid grpc-status: ${String(status)}` };
  const raw = headers["grpc-message"];
  let message = typeof raw === "string" ? raw : "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // not percent-encoded after all: keep it as sent
  }
  return { code, message };
}

/**
 * The trailers that end a gRPC response with `status`. Connect's
 * `setTrailerStatus` writes the same fields, into a fetch `Headers`;
 * `node:http2` takes a plain object.
 */
export function grpcTrailers({ code, message }: GrpcStatus): Record<string, string> {
  return message === ""
    ? { "grpc-status": String(code) }
    : { "grpc-status": String(code), "grpc-message": encodeURIComponent(message) };
}
