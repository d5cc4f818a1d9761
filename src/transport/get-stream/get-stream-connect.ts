import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { GroupCacheError } from "../../core/errors.ts";
import type { PeerServable } from "../../core/peers.ts";
import {
  type GetStreamRequest,
  type GetStreamResponse,
  GetStreamResponseSchema,
} from "../../gen/groupcachepb/groupcache_pb.ts";
import { toConnectError } from "../grpc/grpc-status.ts";
import { readMaxBytesHeader } from "./get-stream-codec.ts";
import { GetStreamResponder } from "./get-stream-responder.ts";

const noBytes = new Uint8Array(0);

/** Messages waiting for Connect to take them before the session stops serving new keys. */
const maxWaitingMessages = 8;

/**
 * GetStream as a Connect handler, for the routes mounted through Connect
 * (`groupCacheRoutes` on your own server, the Connect protocol, calls that
 * must pass interceptors). Same session and semantics as the hand-written
 * gRPC handler `peerRequestHandler` uses; slower per message, since every
 * message goes through Connect's generic streaming.
 */
export function connectGetStream(
  cache: PeerServable,
  writeMaxBytes: number,
): (requests: AsyncIterable<GetStreamRequest>, context: HandlerContext) => AsyncIterable<GetStreamResponse> {
  return async function* getStream(requests, context) {
    const readLimit = Number(context.requestHeader.get(readMaxBytesHeader));
    const max = Number.isInteger(readLimit) && readLimit > 0 ? Math.min(readLimit, writeMaxBytes) : writeMaxBytes;
    const ready: GetStreamResponse[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    let failure: unknown;
    const session = new GetStreamResponder(cache, max, (results, from, to) => {
      const batch = [];
      for (let i = from; i < to; i++) {
        const r = results[i];
        if (r !== undefined) batch.push({ ...r, value: r.value ?? noBytes });
      }
      ready.push(create(GetStreamResponseSchema, { results: batch }));
      wake?.();
      // Connect pulls the next message once it has written the last: more
      // than a few waiting means the caller is not reading (back-pressure).
      return ready.length < maxWaitingMessages;
    });
    const stop = () => {
      done = true;
      wake?.();
    };
    const onAbort = () => {
      session.close(context.signal.reason, true);
      stop();
    };
    context.signal.addEventListener("abort", onAbort, { once: true });
    void (async () => {
      try {
        for await (const request of requests) {
          for (const get of request.gets) session.get(get.id, get.group, get.key);
          for (const id of request.cancels) session.cancel(id);
        }
        await session.drained();
      } catch (error) {
        failure = error;
        session.close(error, false);
      }
      stop();
    })();
    try {
      for (;;) {
        while (ready.length > 0) {
          yield ready.shift() as GetStreamResponse;
          if (ready.length === 0) session.resume();
        }
        if (done) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      if (failure !== undefined) throw toConnectError(failure);
      if (context.signal.aborted) throw toConnectError(context.signal.reason);
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      session.close(new GroupCacheError("canceled", "the stream ended"), false);
    }
  };
}
