import type { PeerClientContext } from "../core/peers.ts";
import type { TraceCarrier } from "../core/telemetry.ts";

/**
 * Request header with the caller's ring fingerprint (`GroupCache.ringFingerprint`):
 * an owner that has another one knows the two disagree on membership.
 */
export const ringHeader = "groupcache-ring";

/** Request header with the caller's peer id, so an owner can name it in events. */
export const peerHeader = "groupcache-peer";

/**
 * The metadata that carries trace context on a unary Get, as the W3C
 * Trace Context and Baggage specifications name it (what OpenTelemetry's
 * default propagators write). On GetStream each key carries its own, in
 * `KeyRequest.trace_context`.
 */
const traceHeaders = ["traceparent", "tracestate", "baggage"] as const;

/** The caller's identity headers: its ring fingerprint and id, when it has them. */
export function callerHeaders(context: PeerClientContext | undefined): Record<string, string> {
  if (context === undefined) return {};
  const headers: Record<string, string> = { [ringHeader]: context.ringFingerprint() };
  if (context.self !== "") headers[peerHeader] = context.self;
  return headers;
}

/** The trace context in a request's headers, `undefined` when it carries none (the usual case: no allocation). */
export function traceFromHeaders(header: (name: string) => string | null | undefined): TraceCarrier | undefined {
  if (typeof header("traceparent") !== "string") return undefined;
  const carrier: TraceCarrier = {};
  for (const name of traceHeaders) {
    const value = header(name);
    if (typeof value === "string") carrier[name] = value;
  }
  return carrier;
}

/**
 * What a server learnt of a request's caller from its headers: compares
 * its ring fingerprint with `cache`'s (when both have one) and returns
 * its id.
 */
export function checkCaller(
  cache: { checkRing?(fingerprint: string, from: string | undefined): void },
  header: (name: string) => string | null | undefined,
): string | undefined {
  const from = header(peerHeader) ?? undefined;
  const ring = header(ringHeader);
  if (typeof ring === "string") cache.checkRing?.(ring, from);
  return from;
}
