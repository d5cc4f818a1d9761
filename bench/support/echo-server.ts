/**
 * A bare `node:http2` echo server for the c=1 floor of `bench/remote.ts`:
 * every DATA chunk of every stream is written back as it is. Prints its
 * port on stdout; exits when stdin closes.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";

const server = http2.createServer();
server.on("stream", (stream) => {
  stream.respond({ ":status": 200 });
  stream.on("data", (chunk: Buffer) => stream.write(chunk));
  stream.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => {
  console.log((server.address() as AddressInfo).port);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
