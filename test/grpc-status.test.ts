import { Code, ConnectError } from "@connectrpc/connect";
import { expect, test } from "vitest";
import { type ErrorCode, GroupCacheError, NotFoundError } from "../src/index.ts";
import { fromGrpcStatus, grpcCodeOfHttpStatus, grpcStatusOf, toGrpcStatus } from "../src/transport/grpc/grpc-status.ts";
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
  };
  for (const [code, status] of Object.entries(expected)) {
    const error = toConnectError(new GroupCacheError(code as ErrorCode, `m ${code}`));
    expect([error.code, error.rawMessage]).toEqual([status, `m ${code}`]);
  }
  expect(toConnectError(new Error("oops"))).toMatchObject({ code: Code.Internal, rawMessage: "oops" });
  expect(toConnectError(new DOMException("gone", "AbortError")).code).toBe(Code.Canceled);
});

test("client side: gRPC statuses become core codes; NOT_FOUND is a NotFoundError naming the peer", () => {
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
    [Code.Unimplemented, "internal"],
    [Code.PermissionDenied, "internal"],
    [Code.Unauthenticated, "internal"],
    [Code.DataLoss, "internal"],
    [Code.AlreadyExists, "internal"],
  ];
  for (const [status, code] of expected) {
    const error = fromConnectError(new ConnectError("why", status), "10.0.0.1:80");
    expect([error.code, error.message]).toEqual([code, "peer 10.0.0.1:80: why"]);
    expect(error.cause).toBeInstanceOf(ConnectError);
  }
  expect(fromConnectError(new ConnectError("", Code.NotFound), "p:1")).toBeInstanceOf(NotFoundError);
  expect(fromConnectError(new ConnectError("", Code.Unavailable), "p:1").message).toBe("peer p:1: Unavailable");
});

test("GetStream statuses: per-key codes map like Get's; headers, trailers and HTTP statuses are read as gRPC specifies", () => {
  expect(toGrpcStatus(new NotFoundError("no row"))).toEqual({ code: Code.NotFound, message: "no row" });
  expect(toGrpcStatus(new ConnectError("raw", Code.Aborted))).toEqual({ code: Code.Aborted, message: "raw" });
  expect(fromGrpcStatus(Code.NotFound, "gone", "p:1")).toBeInstanceOf(NotFoundError);
  expect(fromGrpcStatus(Code.FailedPrecondition, "", "p:1")).toMatchObject({
    code: "unknown-group",
    message: "peer p:1: FailedPrecondition",
  });
  expect(grpcStatusOf({ "grpc-status": "8", "grpc-message": "too%20big%3A%201" })).toEqual({
    code: 8,
    message: "too big: 1",
  });
  expect(grpcStatusOf({ "grpc-status": "13", "grpc-message": "100%" })).toEqual({ code: 13, message: "100%" });
  expect(grpcStatusOf({ "grpc-status": "x" })).toEqual({ code: Code.Unknown, message: 'bad grpc-status "x"' });
  expect([400, 401, 403, 404, 429, 502, 503, 504, 500].map(grpcCodeOfHttpStatus)).toEqual([
    Code.Internal,
    Code.Unauthenticated,
    Code.PermissionDenied,
    Code.Unimplemented,
    Code.Unavailable,
    Code.Unavailable,
    Code.Unavailable,
    Code.Unavailable,
    Code.Unknown,
  ]);
});
