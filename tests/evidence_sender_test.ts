/**
 * The sender's stream discipline against a gRPC server in the test (grpc-js): Hello first on
 * every stream, replay from what the server says it holds, and a stream whose events go
 * unacked is dropped and opened again (Hello, replay) instead of hanging.
 */

import * as grpc from "@grpc/grpc-js";
import { assertEquals } from "./assert.ts";
import { loadPlayoutProto, serviceDefinition } from "../src/control/playout_proto.ts";
import { EVIDENCE_SERVICE_NAME, EvidenceSender } from "../src/evidence/sender.ts";
import { EvidenceSpool } from "../src/evidence/spool.ts";
import { Logger } from "../src/log/log.ts";

type Msg = Record<string, unknown> & { sequence: string; hello?: Record<string, string> };

Deno.test("unacked events: the stream is dropped and reopened with Hello and a replay", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sender_test_" });
  const streams: Msg[][] = [];
  const server = new grpc.Server();
  server.addService(serviceDefinition(loadPlayoutProto(), EVIDENCE_SERVICE_NAME), {
    EvidenceStream: (call: grpc.ServerDuplexStream<Msg, unknown>) => {
      const seen: Msg[] = [];
      streams.push(seen);
      call.on("data", (m: Msg) => {
        seen.push(m);
        // Answers Hello on the first stream (holding nothing) but never acks its events;
        // acks everything on later streams.
        const acked = streams.length === 1 ? 0 : Number(m.sequence);
        if (m.hello || streams.length > 1) {
          call.write({
            channel_id: m.channel_id,
            playout_session_id: m.playout_session_id,
            acked_sequence: acked,
          });
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (e, p) => e ? reject(e) : resolve(p),
    )
  );
  const spool = await EvidenceSpool.create(dir, {
    kind: "retrovue-playout-evidence-session",
    channel_id: "sender-test",
    channel: 1,
    playout_session_id: "sess",
    endpoint: `127.0.0.1:${port}`,
    created_utc: "2026-12-01T00:00:00.000Z",
  });
  let done = false;
  const sender = new EvidenceSender({
    spool,
    endpoint: `127.0.0.1:${port}`,
    log: new Logger({ write: () => {} }),
    counters: { sent: 0, acked: 0 },
    onDone: () => done = true,
    ackTimeoutMs: 300,
    minBackoffMs: 10,
  });
  try {
    for (const b of ["a", "b"]) {
      spool.append({ type: "block_start", emittedUtcMs: 0, final: false, body: { block_id: b } });
    }
    spool.append({
      type: "channel_terminated",
      emittedUtcMs: 0,
      final: true,
      body: { reason: "X" },
    });
    await spool.flush();
    sender.start();
    for (let i = 0; i < 300 && !done; i++) await new Promise((r) => setTimeout(r, 50));
    assertEquals(done, true);
    assertEquals(streams.length >= 2, true);
    for (const s of streams) assertEquals(s[0].hello !== undefined && s[0].sequence === "0", true);
    const last = streams.at(-1)!;
    assertEquals(last.slice(1).map((m) => m.sequence), ["1", "2", "3"]);
    assertEquals(last[0].hello?.last_sequence_emitted, "3");
  } finally {
    sender.stop();
    await spool.close();
    server.forceShutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
