import { Code, ConnectError } from "@connectrpc/connect";
import { expect, test } from "vitest";
import { type ErrorCode, GroupCacheError, NotFoundError } from "../src/index.ts";
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
