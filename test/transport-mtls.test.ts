import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GroupCache, type GroupCacheError } from "../src/index.ts";
import { grpcPeerClient, type PeerServer, startPeerServer } from "../src/transport/index.ts";
import { text } from "./support/in-process-peer.ts";

// Mutual TLS between peers, on a real HTTP/2 server over loopback: the
// owner asks every caller for a certificate signed by the cluster's CA
// (test/fixtures/mtls, made once with openssl). Only a caller that has one
// gets an answer.

const pem = (name: string) => readFileSync(new URL(`./fixtures/mtls/${name}.pem`, import.meta.url));
const ca = pem("ca");
const peerCert = { cert: pem("peer"), key: pem("peer-key") };
const strangerCert = { cert: pem("stranger"), key: pem("stranger-key") };

let cache: GroupCache;
let server: PeerServer;
let getterCalls = 0;
beforeAll(async () => {
  cache = new GroupCache({ self: "owner:1" });
  cache.newGroup({
    name: "g",
    getter: (key) => {
      getterCalls++;
      return `v:${key}`;
    },
  });
  server = await startPeerServer(cache, {
    closeTimeoutMs: 0,
    tls: { ...peerCert, ca, requestCert: true, rejectUnauthorized: true },
  });
});
afterAll(async () => {
  await server?.close();
  await cache?.close();
});

/** One get through a client with `tls` (which always trusts the cluster's CA for the server's certificate). */
async function getWith(tls: { cert?: Buffer; key?: Buffer }, key: string) {
  const client = grpcPeerClient({ tls: { ca, ...tls }, timeoutMs: 5_000 })(server.id);
  try {
    const result = await client.get("g", key, { signal: new AbortController().signal });
    return text(result.value);
  } catch (error) {
    return error as GroupCacheError;
  } finally {
    await client.close();
  }
}

test("a peer with a certificate from the cluster's CA is answered", async () => {
  expect(await getWith(peerCert, "a")).toBe("v:a");
});

test("a peer without a client certificate is refused in the TLS handshake: unavailable, no load", async () => {
  const before = getterCalls;
  const error = await getWith({}, "b");
  expect(error).toMatchObject({ code: "unavailable" });
  expect(getterCalls).toBe(before);
});

test("a peer whose certificate another CA signed is refused: unavailable, no load", async () => {
  const before = getterCalls;
  const error = await getWith(strangerCert, "c");
  expect(error).toMatchObject({ code: "unavailable" });
  expect(getterCalls).toBe(before);
});

test("rotation: setSecureContext changes what new connections are checked against, without a restart", async () => {
  // Trust both CAs during a CA rotation: the stranger's certificate now passes too.
  server.setSecureContext({ ...peerCert, ca: [ca, pem("other-ca")] });
  expect(await getWith(strangerCert, "d")).toBe("v:d");
  expect(await getWith(peerCert, "e")).toBe("v:e");
  // The old CA alone again: the stranger is refused once more.
  server.setSecureContext({ ...peerCert, ca });
  expect(await getWith(strangerCert, "f")).toMatchObject({ code: "unavailable" });
});

test("setSecureContext on a cleartext server says so", async () => {
  const plain = await startPeerServer(cache, { closeTimeoutMs: 0 });
  try {
    expect(() => plain.setSecureContext({ ...peerCert })).toThrow(
      `peer server ${plain.id} serves cleartext HTTP/2: start it with tls to set TLS credentials`,
    );
  } finally {
    await plain.close();
  }
});
