import type { TLSSocket } from "node:tls";
import { type ContextValues, createContextKey, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { booleanOption, invalidOption, optionsObject } from "../core/options.ts";
import type { PeerWriteOptions, WriteCaller } from "./write-trust.ts";

/** The header a write's shared secret travels in (`PeerWriteOptions.token`). */
export const tokenHeader = "groupcache-token";

/** The connection a request came on, as `node:http2` gives it; read only by write handlers. */
type Connection = Pick<TLSSocket, "remoteAddress" | "authorized"> | undefined;

const connectionKey = createContextKey<Connection>(undefined, { description: "groupcache: the request's connection" });

/**
 * Connect's `contextValues` hook for a peer server: remembers each
 * request's connection, so a write handler can tell who is calling. Reading
 * it costs only write RPCs anything.
 */
export function connectionContextValues(request: { socket: unknown }): ContextValues {
  return createContextValues().set(connectionKey, request.socket as Connection);
}

/**
 * The caller of a write handled in `context`: its address and mTLS status
 * from the connection (unknown when the routes are mounted without
 * {@link connectionContextValues}), its token from the request header.
 */
export function writeCallerOf(context: HandlerContext): WriteCaller {
  const connection = context.values.get(connectionKey);
  const address = connection?.remoteAddress;
  return {
    remoteAddress: address?.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address,
    tlsAuthorized: connection?.authorized === true,
    token: context.requestHeader.get(tokenHeader),
  };
}

/** `writes` options checked, with their defaults; throws `invalid-argument` naming a bad value. */
export function resolveWriteOptions(
  name: string,
  options: PeerWriteOptions | undefined,
): Required<Omit<PeerWriteOptions, "token">> & Pick<PeerWriteOptions, "token"> {
  const o = optionsObject(name, options);
  const token = tokenOption(`${name}.token`, o.token);
  return {
    handoff: booleanOption(`${name}.handoff`, o.handoff, true),
    invalidation: booleanOption(`${name}.invalidation`, o.invalidation, false),
    ...(token === undefined ? {} : { token }),
  };
}

/** A write token: a non-empty string, or `undefined` when unset. */
export function tokenOption(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw invalidOption(name, "a non-empty string", value);
  return value;
}
