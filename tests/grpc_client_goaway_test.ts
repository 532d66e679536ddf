/**
 * A gRPC client that closes its connection (grpc-js sends GOAWAY) must not take the engine
 * down. Deno's `node:http2` server, which grpc-js serves on, dies in nghttp2 on such a GOAWAY
 * after enough calls on the connection (denoland/deno#36788): before the engine dropped its
 * clients' GOAWAY frames, client processes making 200 calls each and closing killed 3 of 3
 * engines within 5 clients. Also the frame filter itself, on every chunking of a stream.
 */

import { assert, assertEquals } from "./assert.ts";
import { EngineProcess, freePort, processState, waitFor } from "./core_managed_fixtures.ts";
import { ClientGoawayFilter } from "../src/control/_goaway_relay.ts";
import { concatBytes } from "./egress_fixtures.ts";

const CLIENTS = 8;
const CALLS_PER_CLIENT = 200;
const CLIENT = new URL("./grpc_client/calls_then_close.ts", import.meta.url).pathname;

Deno.test("grpc: client processes closing after 200 calls each leave the engine running and answering", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_goaway_" });
  const engine = await EngineProcess.spawn({
    port: freePort(),
    logPath: `${dir}/engine.log`,
    args: ["--state-dir", `${dir}/state`],
  });
  let exitCode: number | undefined;
  try {
    // Not engine.waitVersion(): a connection from this process first made the crash rare.
    await waitFor(
      "the engine's ready line",
      async () => (await engine.logLines()).some((l) => l.event === "ready"),
    );
    let version: string | undefined;
    for (let c = 0; c < CLIENTS; c++) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLIENT, engine.address, String(CALLS_PER_CLIENT), "0"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert(out.success, `client ${c + 1} failed: ${new TextDecoder().decode(out.stderr)}`);
      version ??= text;
      assertEquals(text, version);
      // The crash came while the engine processed the GOAWAY, within milliseconds.
      await new Promise((r) => setTimeout(r, 200));
      const state = await processState(engine.pid);
      assert(
        state !== undefined && state !== "Z",
        `the engine died after client ${c + 1} closed; log:\n${await engine.logTail()}`,
      );
    }
    assertEquals(await engine.waitVersion(), version);
  } finally {
    exitCode = await engine.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(exitCode, 0, "the engine did not exit cleanly on SIGTERM");
});

/** An HTTP/2 frame: 9-byte header then payload. */
function frame(type: number, streamId: number, payload: number[]): Uint8Array {
  const n = payload.length;
  return new Uint8Array([
    n >> 16,
    (n >> 8) & 0xff,
    n & 0xff,
    type,
    0,
    (streamId >>> 24) & 0x7f,
    (streamId >> 16) & 0xff,
    (streamId >> 8) & 0xff,
    streamId & 0xff,
    ...payload,
  ]);
}

Deno.test("goaway filter: drops exactly the GOAWAY frames, whatever the chunking", () => {
  const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  assertEquals(preface.length, 24);
  const settings = frame(0x4, 0, [0, 3, 0, 0, 0, 100]);
  const headers = frame(0x1, 1, Array.from({ length: 40 }, (_, i) => i));
  // A DATA frame whose payload holds a byte 0x07 where a frame type would sit.
  const data = frame(0x0, 1, [0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7]);
  const goaway = frame(0x7, 0, [0, 0, 0, 1, 0, 0, 0, 0]);
  const ping = frame(0x6, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
  const empty = frame(0x8, 1, []);
  const stream = concatBytes([preface, settings, headers, data, goaway, ping, empty, goaway]);
  const expected = concatBytes([preface, settings, headers, data, ping, empty]);
  // Every split into two chunks, then every chunk size from 1 to 17.
  const chunkings: Uint8Array[][] = [];
  for (let cut = 0; cut <= stream.length; cut++) {
    chunkings.push([stream.subarray(0, cut), stream.subarray(cut)]);
  }
  for (let size = 1; size <= 17; size++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
    chunkings.push(chunks);
  }
  for (const chunks of chunkings) {
    const filter = new ClientGoawayFilter();
    // take()'s output is valid until its next call: copy it at once.
    const out = concatBytes(chunks.flatMap((c) => filter.take(c).map((p) => p.slice())));
    assertEquals(out, expected, `chunk sizes ${chunks.map((c) => c.length).join(",")}`);
    assertEquals(filter.dropped, 2);
  }
});
