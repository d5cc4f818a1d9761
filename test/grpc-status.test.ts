import { Code, ConnectError } from "@connectrpc/connect";
import { expect, test } from "vitest";
import { type ErrorCode, GroupCacheError, NotFoundError } from "../src/index.ts";
import { fromGrpcStatus, grpcStatusOf, grpcTrailers, toGrpcStatus } from "../src/transport/grpc/grpc-status.ts";
import { fromConnectError, toConnectError } from "../src/transport/index.ts";

test("server side: every core error code has its documented gRPC status, message kept", () => {
  const expected: Record<ErrorCode, Code> = {
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
    "permission-denied": Code.PermissionDenied,
    unimplemented: Code.Unimplemented,
  };
  for (const [code, status] of Object.entries(expected)) {
    const error = toConnectError(new GroupCacheError(code as ErrorCode, `m ${code}`));
    expect([error.code, error.rawMessage]).toEqual([status, `m ${code}`]);
  }
  expect(toConnectError(new Error("oops"))).toMatchObject({ code: Code.Internal, rawMessage: "oops" });
  expect(toConnectError(new DOMException("gone", "AbortError")).code).toBe(Code.Canceled);
});

test("client side: gRPC statuses become core codes; a NOT_FOUND marked by a getter is a NotFoundError naming the peer", () => {
  const expected: [Code, ErrorCode][] = [
    [Code.NotFound, "not-found"],
    [Code.InvalidArgument, "invalid-argument"],
    [Code.OutOfRange, "invalid-argument"],
    [Code.FailedPrecondition, "unknown-group"],
    [Code.ResourceExhausted, "resource-exhausted"],
    [Code.DeadlineExceeded, "deadline-exceeded"],
    [Code.Canceled, "canceled"],
    [Code.Unavailable, "unavailable"],
    [Code.Aborted, "unavailable"],
    [Code.Unknown, "load-failed"],
    [Code.Internal, "internal"],
    [Code.Unimplemented, "unimplemented"],
    [Code.PermissionDenied, "permission-denied"],
    [Code.Unauthenticated, "internal"],
    [Code.DataLoss, "internal"],
    [Code.AlreadyExists, "internal"],
  ];
  for (const [status, code] of expected) {
    const mark = status === Code.NotFound ? { "groupcache-not-found": "getter" } : undefined;
    const error = fromConnectError(new ConnectError("why", status, mark), "10.0.0.1:80");
    expect([error.code, error.message]).toEqual([code, "peer 10.0.0.1:80: why"]);
    expect(error.cause).toBeInstanceOf(ConnectError);
  }
  const marked = new ConnectError("", Code.NotFound, { "groupcache-not-found": "getter" });
  expect(fromConnectError(marked, "p:1")).toBeInstanceOf(NotFoundError);
  // Unmarked: Go's gRPC fork for an unknown group, not a getter's not-found.
  expect(fromConnectError(new ConnectError("group g not found", Code.NotFound), "p:1")).toMatchObject({
    code: "unknown-group",
  });
  expect(toConnectError(new NotFoundError("no row")).metadata.get("groupcache-not-found")).toBe("getter");
  expect(toConnectError(new GroupCacheError("unknown-group", "no g")).metadata.get("groupcache-not-found")).toBeNull();
  expect(fromConnectError(new ConnectError("", Code.Unavailable), "p:1").message).toBe("peer p:1: Unavailable");
});

test("GetStream statuses: per-key codes map like Get's; headers and trailers are read as Connect reads them for Get", () => {
  expect(toGrpcStatus(new NotFoundError("no row"))).toEqual({ code: Code.NotFound, message: "no row" });
  expect(toGrpcStatus(new ConnectError("raw", Code.Aborted))).toEqual({ code: Code.Aborted, message: "raw" });
  expect(fromGrpcStatus(Code.NotFound, "gone", "p:1")).toBeInstanceOf(NotFoundError);
  expect(fromGrpcStatus(Code.FailedPrecondition, "", "p:1")).toMatchObject({
    code: "unknown-group",
    message: "peer p:1: FailedPrecondition",
  });
  expect(grpcStatusOf({ "grpc-status": "0" })).toEqual({ code: 0, message: "" });
  expect(grpcStatusOf({ "grpc-status": "8", "grpc-message": "too%20big%3A%201" })).toEqual({
    code: 8,
    message: "too big: 1",
  });
  // Not valid percent-encoding: kept as sent, as the gRPC spec asks (Connect's findTrailerError throws).
  expect(grpcStatusOf({ "grpc-status": "13", "grpc-message": "100%" })).toEqual({ code: 13, message: "100%" });
  // What Connect's findTrailerError and validateTrailer say for the same fields.
  expect(grpcStatusOf({ "grpc-status": "x" })).toEqual({ code: Code.Internal, message: "invalid grpc-status: x" });
  expect(grpcStatusOf({ "grpc-status": "17" })).toEqual({ code: Code.Internal, message: "invalid grpc-status: 17" });
  expect(grpcStatusOf({})).toEqual({ code: Code.Internal, message: "protocol error: missing status" });
});

test("trailers written round-trip through grpcStatusOf; an empty message is left out", () => {
  expect(grpcTrailers({ code: 0, message: "" })).toEqual({ "grpc-status": "0" });
  const trailers = grpcTrailers({ code: Code.ResourceExhausted, message: "size 5 > 4: 100% \u2713" });
  expect(trailers).toEqual({ "grpc-status": "8", "grpc-message": "size%205%20%3E%204%3A%20100%25%20%E2%9C%93" });
  expect(grpcStatusOf(trailers)).toEqual({ code: Code.ResourceExhausted, message: "size 5 > 4: 100% \u2713" });
});
