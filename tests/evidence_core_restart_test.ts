/**
 * Core's evidence server restarting, again and again, while several sessions stream to it must
 * never take the engine down nor lose an event. The receiver is the spec-written Python grpcio
 * one (tests/grpc_client/evidence_receiver.py), stopped with SIGTERM (grpcio sends GOAWAY and
 * closes) and started again on the same port and store, six times, while six senders in this
 * process stream live events to it. (On grpc-js's `node:http2` client, Deno 2.9 could die
 * inside nghttp2 on such a GOAWAY — denoland/deno#36788 — which ended this test's process.)
 */

import { assertEquals } from "./assert.ts";
import { CLIENT_DIR, generateStubs, PYTHON } from "./grpc_client/python_runner.ts";
import { EvidenceSender } from "../src/evidence/sender.ts";
import { EvidenceSpool } from "../src/evidence/spool.ts";
import { Logger } from "../src/log/log.ts";
import { freePort } from "./core_managed_fixtures.ts";

const SESSIONS = 6;
const RESTARTS = 6;
/** How long the receiver may take to exit on SIGTERM before the test kills it and fails. */
const STOP_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Receiver {
  #child: Deno.ChildProcess | undefined;
  constructor(readonly stubs: string, readonly port: number, readonly store: string) {}

  async start(): Promise<void> {
    const child = new Deno.Command(PYTHON, {
      args: [`${CLIENT_DIR}evidence_receiver.py`, this.stubs, String(this.port), this.store],
      cwd: CLIENT_DIR,
      env: { PYTHONDONTWRITEBYTECODE: "1" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("listening")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`evidence receiver exited before listening: ${seen}`);
      seen += value;
    }
    reader.releaseLock();
    void child.stdout.cancel().catch(() => {}); // nothing more is printed
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), STOP_MS)),
    ]);
    clearTimeout(timer);
    if (exited) return;
    child.kill("SIGKILL");
    await child.status;
    throw new Error(
      `evidence receiver (pid ${child.pid}) still running ${STOP_MS} ms after SIGTERM`,
    );
  }
}

Deno.test("Core's evidence server restarted 6 times under 6 live sessions: every event arrives once", async () => {
  const stubs = await generateStubs();
  const dir = await Deno.makeTempDir({ prefix: "evidence_core_restart_" });
  const port = freePort();
  const receiver = new Receiver(stubs, port, `${dir}/core`);
  const spools: EvidenceSpool[] = [];
  const senders: EvidenceSender[] = [];
  const done = new Set<number>();
  const problems: string[] = [];
  const log = new Logger({
    format: "json",
    write: (line: string) => {
      if (line.includes('"level":"error"')) problems.push(line);
    },
  });
  try {
    await receiver.start();
    for (let i = 0; i < SESSIONS; i++) {
      const spool = await EvidenceSpool.create(`${dir}/spool`, {
        kind: "retrovue-playout-evidence-session",
        channel_id: `restart-${i}`,
        channel: i + 1,
        playout_session_id: `session-${i}`,
        endpoint: `127.0.0.1:${port}`,
        created_utc: "2026-12-01T00:00:00.000Z",
      });
      spools.push(spool);
      const sender = new EvidenceSender({
        spool,
        endpoint: `127.0.0.1:${port}`,
        log,
        counters: { sent: 0, acked: 0 },
        onDone: () => done.add(i),
        minBackoffMs: 20,
        maxBackoffMs: 200,
      });
      senders.push(sender);
      sender.start();
    }
    let n = 0;
    const appendRound = () => {
      n++;
      for (const spool of spools) {
        spool.append({
          type: "block_start",
          emittedUtcMs: Date.now(),
          final: false,
          body: { block_id: `B${n}` },
        });
      }
    };
    for (let r = 0; r < RESTARTS; r++) {
      for (let k = 0; k < 5; k++) {
        appendRound();
        await sleep(60);
      }
      await receiver.stop();
      appendRound(); // spooled while Core is down
      await sleep(100);
      await receiver.start();
    }
    for (const spool of spools) {
      spool.append({
        type: "channel_terminated",
        emittedUtcMs: Date.now(),
        final: true,
        body: { reason: "CHANNEL_STOPPED" },
      });
    }
    for (let i = 0; i < 1200 && done.size < SESSIONS; i++) await sleep(50);
    assertEquals([...done].sort(), [...Array(SESSIONS).keys()], "sessions Core holds entirely");

    const stored = (await Deno.readTextFile(`${dir}/core/asrun.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l) as { playout_session_id: string; sequence: number });
    const events = RESTARTS * 6 + 1;
    for (let i = 0; i < SESSIONS; i++) {
      const seqs = stored.filter((r) => r.playout_session_id === `session-${i}`)
        .map((r) => Number(r.sequence)).sort((a, b) => a - b);
      assertEquals(seqs, Array.from({ length: events }, (_, k) => k + 1), `session-${i}`);
    }
    assertEquals(problems, []);
  } finally {
    for (const s of senders) s.stop();
    for (const s of spools) await s.close();
    await receiver.stop();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(stubs, { recursive: true });
  }
});
