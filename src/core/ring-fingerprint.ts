import { crc32String } from "./crc32.ts";

/**
 * A short digest of a ring: its peer ids (sorted, as `Ring.peers`) and
 * points per peer. Peers send theirs with each request, so an owner can
 * tell that a caller disagrees on who the members are (a different peer
 * list, or other `replicas`): then keys are owned twice or not at all,
 * and each side loads what it thinks it owns. A custom ring hash is not
 * part of it.
 */
export function ringFingerprint(peers: readonly string[], replicas: number): string {
  return crc32String(`${replicas}\n${peers.join("\n")}`)
    .toString(16)
    .padStart(8, "0");
}
