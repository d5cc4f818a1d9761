import { formatPeerId, parsePeerId } from "../core/peer-id.ts";

/** The base URL of a peer's gRPC server: `http://id` (cleartext HTTP/2) or `https://id` (TLS). */
export function peerBaseUrl(id: string, secure: boolean): string {
  const { host, port } = parsePeerId(id);
  return `${secure ? "https" : "http"}://${formatPeerId(host, port)}`;
}
