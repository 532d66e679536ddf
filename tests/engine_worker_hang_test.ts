/**
 * A channel worker hung inside FFmpeg (here: reading a FIFO nobody writes to, as a read from a
 * dead network mount would) sends nothing any more — no TS, no stats, no answers. The handle
 * notices the silence and fails the worker (the channel is in error, its block session ended),
 * instead of the hang going unseen until someone stops the channel; the next session runs on a
 * new worker. (A configured channel is restarted by itself, as for any failure.)
 */

import { assert, assertEquals } from "./assert.ts";
import { coreSocketStandIn, mkfifo, TEST_FORMAT, testManager } from "./manager_fixtures.ts";
import { Logger } from "../src/log/log.ts";
import { until } from "./egress_fixtures.ts";
import { block, segment } from "./plan_builders.ts";

const CHANNEL = 7;

Deno.test("a worker hung in FFmpeg is noticed by its silence, failed, and the next session airs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "worker_hang_" });
  const fifo = `${dir}/hung.ts`;
  await mkfifo(fifo);
  const logs: Record<string, unknown>[] = [];
  const log = new Logger({ level: "info", write: (l) => logs.push(JSON.parse(l)) });
  const manager = testManager({
    log,
    leadMs: 200,
    stopGraceMs: 300,
    workerSilenceTimeoutMs: 1500,
  });
  const core = coreSocketStandIn(`${dir}/core.sock`);
  let writer: Deno.FsFile | undefined;
  try {
    await manager.attachStream(CHANNEL, "unix", core.path, true);
    let bytes = 0;
    const viewer = manager.outputs(CHANNEL)!.fanout.subscribe({ label: "test" });
    (async () => {
      for await (const chunk of viewer) bytes += chunk.length;
    })();
    const t0 = Date.now() + 500;
    // 2 s of pad airs; the FIFO segment's open (its pre-roll, before the pad ends) hangs.
    const a = block("A", t0, [segment(0, "", 2000), segment(1, fifo, 2000)], CHANNEL);
    const b = block("B", a.endUtcMs, [segment(0, "", 60_000)], CHANNEL);
    await manager.startBlockSession(CHANNEL, [a, b], 0, TEST_FORMAT, 2);
    // Resolves once the worker opened the FIFO to read it: from then on it blocks in FFmpeg.
    writer = await Deno.open(fifo, { write: true });
    await until(
      () => logs.some((l) => l.event === "channel_worker_unresponsive"),
      "the silent worker noticed",
    );
    const unresponsive = logs.find((l) => l.event === "channel_worker_unresponsive")!;
    assertEquals(unresponsive.channel, CHANNEL);
    assert(Number(unresponsive.silent_ms) >= 1500, JSON.stringify(unresponsive));
    const failed = logs.find((l) => l.event === "channel_failed" && l.channel === CHANNEL);
    assert(String(failed?.reason).includes("worker unresponsive"), JSON.stringify(failed));
    // Health says so: the channel is in error with the reason (Core is told its session
    // ended, and decides what comes next).
    await until(() => manager.get(CHANNEL)?.state === "error", "the channel in error");
    assert(manager.get(CHANNEL)!.stateReason.includes("worker unresponsive"));
    assertEquals(manager.stats(CHANNEL)?.restarts, 1);
    // Core's next session runs on a new worker: TS flows again.
    const atFailure = bytes;
    const c = block("C", Date.now() + 500, [segment(0, "", 60_000)], CHANNEL);
    await manager.startBlockSession(CHANNEL, [c], 0, TEST_FORMAT, 2);
    await until(() => bytes > atFailure + 188 * 50, "TS from the new worker");
    assertEquals(manager.get(CHANNEL)!.mode, "block");
    viewer.close();
  } finally {
    // EOF ends the hung read, so that every worker thread can end.
    writer?.close();
    await manager.close();
    await core.close();
    await Deno.remove(dir, { recursive: true });
  }
});
