import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetRequest,
  GetRequestSchema,
  type GetResponse,
  GetResponseSchema,
  type GetStreamRequest,
  GetStreamRequestSchema,
  type GetStreamResponse,
  GetStreamResponseSchema,
} from "../../src/gen/groupcachepb/groupcache_pb.ts";

/** The RPC path every groupcache peer serves (Go's gRPC fork included). */
export const getPath = "/groupcachepb.GroupCache/Get";
/** The RPC path of GetStream, which only this implementation serves. */
export const getStreamPath = "/groupcachepb.GroupCache/GetStream";

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

/** GetStream for `@grpc/grpc-js`, as above. */
export const getStreamDefinition = {
  GetStream: {
    path: getStreamPath,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: GetStreamRequest) => Buffer.from(toBinary(GetStreamRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(GetStreamRequestSchema, b),
    responseSerialize: (m: GetStreamResponse) => Buffer.from(toBinary(GetStreamResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(GetStreamResponseSchema, b),
  },
} satisfies grpc.ServiceDefinition;

/** A grpc-js client of one server, plus a way to send raw request bytes. */
export interface GrpcJsClient {
  get(group: string, key: string, options?: { deadlineMs?: number }): Promise<GetResponse>;
  /** Sends `bytes` as the request message as is (not necessarily valid protobuf). */
  getRaw(bytes: Uint8Array): Promise<GetResponse>;
  /** Opens a GetStream call. */
  getStream(options?: { metadata?: Record<string, string> }): GrpcJsStream<GetStreamRequest>;
  /** Opens a GetStream call whose request messages are sent as the given bytes. */
  getStreamRaw(): GrpcJsStream<Uint8Array>;
  close(): void;
}

/** One GetStream call of a grpc-js client: send, read answers as they come, see how it ended. */
export interface GrpcJsStream<Req> {
  send(message: Req): void;
  /** Half-closes the call (no more requests). */
  end(): void;
  /** The next answer, or `undefined` once the call has ended. */
  next(): Promise<GetStreamResponse | undefined>;
  /** The call's final status: code 0 (OK) or the error's code and details. */
  status: Promise<{ code: number; details: string }>;
  cancel(): void;
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
  const stream = <Req>(serialize: (r: Req) => Buffer, metadata: Record<string, string> = {}): GrpcJsStream<Req> => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    const call = client.makeBidiStreamRequest(
      getStreamPath,
      serialize,
      getStreamDefinition.GetStream.responseDeserialize,
      md,
      {},
    );
    const answers: GetStreamResponse[] = [];
    const waiting: ((m: GetStreamResponse | undefined) => void)[] = [];
    let ended = false;
    const finish = () => {
      ended = true;
      for (const w of waiting.splice(0)) w(undefined);
    };
    call.on("data", (m: GetStreamResponse) => {
      const w = waiting.shift();
      if (w === undefined) answers.push(m);
      else w(m);
    });
    const status = new Promise<{ code: number; details: string }>((resolve) => {
      call.on("status", (s: grpc.StatusObject) => {
        finish();
        resolve({ code: s.code, details: decodeURIComponent(s.details) });
      });
    });
    call.on("error", () => {}); // reported through status
    return {
      send: (m) => call.write(m),
      end: () => call.end(),
      next: () => {
        const m = answers.shift();
        if (m !== undefined || ended) return Promise.resolve(m);
        return new Promise((resolve) => waiting.push(resolve));
      },
      status,
      cancel: () => call.cancel(),
    };
  };
  return {
    get: (group, key, o) =>
      unary(groupCacheDefinition.Get.requestSerialize, create(GetRequestSchema, { group, key }), o?.deadlineMs),
    getRaw: (bytes) => unary((b: Uint8Array) => Buffer.from(b), bytes),
    getStream: (o) => stream(getStreamDefinition.GetStream.requestSerialize, o?.metadata),
    getStreamRaw: () => stream((b: Uint8Array) => Buffer.from(b)),
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

/**
 * Starts a grpc-js server on 127.0.0.1:0 implementing Get with `handler`,
 * and GetStream with `streamHandler` if given (otherwise it answers
 * UNIMPLEMENTED, as Go's gRPC fork does).
 */
export async function startGrpcJsServer(
  handler: grpc.handleUnaryCall<GetRequest, GetResponse>,
  streamHandler?: grpc.handleBidiStreamingCall<GetStreamRequest, GetStreamResponse>,
): Promise<{ id: string; close: () => Promise<void> }> {
  const server = new grpc.Server();
  server.addService(groupCacheDefinition, { Get: handler });
  if (streamHandler !== undefined) server.addService(getStreamDefinition, { GetStream: streamHandler });
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
