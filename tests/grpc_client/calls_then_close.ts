/**
 * A gRPC client process: `deno run -A calls_then_close.ts HOST:PORT CALLS GAP_MS` makes CALLS
 * GetVersion calls on one connection, GAP_MS apart, closes the client (grpc-js sends GOAWAY)
 * and exits. Prints the version it got.
 */

import { playoutClient, unary } from "./grpc_js_client.ts";

const [address, calls, gapMs] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
const client = playoutClient(address);
let version = "";
for (let i = 0; i < calls; i++) {
  version = String((await unary(client, "GetVersion", {})).version);
  if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
}
client.close();
console.log(version);
