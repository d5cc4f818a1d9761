import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetRequest,
  GetRequestSchema,
  type GetResponse,
  GetResponseSchema,
} from "../../src/gen/groupcachepb/groupcache_pb.ts";

/** The RPC path every groupcache peer serves (Go's gRPC fork included). */
export const getPath = "/groupcachepb.GroupCache/Get";

/**
 * The `groupcachepb.GroupCache` service for `@grpc/grpc-js`, an independent
 * gRPC implementation, with (de)serializers built from the generated
 * protobuf-es schemas.
 */
export const groupCacheDefinition = {
  Get: {
    path: getPath,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: GetRequest) => Buffer.from(toBinary(GetRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(GetRequestSchema, b),
    responseSerialize: (m: GetResponse) => Buffer.from(toBinary(GetResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(GetResponseSchema, b),
  },
} satisfies grpc.ServiceDefinition;

/** A grpc-js client of one server, plus a way to send raw request bytes. */
export interface GrpcJsClient {
  get(group: string, key: string, options?: { deadlineMs?: number }): Promise<GetResponse>;
  /** Sends `bytes` as the request message as is (not necessarily valid protobuf). */
  getRaw(bytes: Uint8Array): Promise<GetResponse>;
  close(): void;
}

const Client = grpc.makeGenericClientConstructor(groupCacheDefinition, "GroupCache");

/** Connects a grpc-js client to `address` (`host:port`, `[::1]:port`) without TLS. */
export function grpcJsClient(address: string, options: grpc.ChannelOptions = {}): GrpcJsClient {
  const client = new Client(address, grpc.credentials.createInsecure(), options);
  const unary = <Req>(serialize: (r: Req) => Buffer, request: Req, deadlineMs?: number) =>
    new Promise<GetResponse>((resolve, reject) => {
      const callOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
      client.makeUnaryRequest(
        getPath,
        serialize,
        groupCacheDefinition.Get.responseDeserialize,
        request,
        new grpc.Metadata(),
        callOptions,
        (error, response) => (error ? reject(error) : resolve(response as GetResponse)),
      );
    });
  return {
    get: (group, key, o) =>
      unary(groupCacheDefinition.Get.requestSerialize, create(GetRequestSchema, { group, key }), o?.deadlineMs),
    getRaw: (bytes) => unary((b: Uint8Array) => Buffer.from(b), bytes),
    close: () => client.close(),
  };
}

/**
 * A grpc-js status error's code and details. `grpc-message` is
 * percent-encoded on the wire; Connect escapes `:` as `%3A` (allowed by the
 * gRPC spec, and Go decodes it), but grpc-js decodes with `decodeURI`, which
 * leaves `%3A` alone: finish the decoding here.
 */
export function statusOf(error: unknown): { code: number; details: string } {
  const e = error as grpc.ServiceError;
  return { code: e.code, details: decodeURIComponent(e.details) };
}

/** Starts a grpc-js server on 127.0.0.1:0 implementing Get with `handler`. */
export async function startGrpcJsServer(
  handler: grpc.handleUnaryCall<GetRequest, GetResponse>,
): Promise<{ id: string; close: () => Promise<void> }> {
  const server = new grpc.Server();
  server.addService(groupCacheDefinition, { Get: handler });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    id: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
