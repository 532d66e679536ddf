/**
 * What the main thread can count on from a channel worker (issue 16, item 2), with real
 * Workers and no product code failing on purpose:
 *
 * - a control call to a worker that hangs (blocked inside FFmpeg opening a FIFO nobody writes)
 *   is refused on the main side once the call timeout passes, with FAILED naming the channel,
 *   the call and the timeout, and a `control_call_timeout` log line; the channel still stops;
 * - restarting a channel frees what it had: after each of 20 start/stop rounds no thread of
 *   the channel (its worker's, FFmpeg's decoder and x264 threads, all named `rv-ch-<id>`) is
 *   left.
 */

import { assert, assertEquals } from "./assert.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import { Logger } from "../src/log/log.ts";
import { mkfifo, quietLog, TEST_FORMAT, testManager } from "./manager_fixtures.ts";
import { fixture } from "./fixtures.ts";
import { until } from "./egress_fixtures.ts";

const FMT: ProgramFormat = TEST_FORMAT;

/** Names of this process's threads now, with how many carry each. */
function threadNames(): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    let comm: string;
    try {
      comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trimEnd();
    } catch {
      continue; // ended while listed
    }
    out.set(comm, (out.get(comm) ?? 0) + 1);
  }
  return out;
}

Deno.test("a control call to a hung worker is refused at the call timeout with a clear FAILED; the channel still stops", async () => {
  const dir = await Deno.makeTempDir({ prefix: "worker_bounds_" });
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({
    level: "warn",
    write: (line: string) => lines.push(JSON.parse(line)),
  });
  const manager = testManager({
    log,
    leadMs: 200,
    callTimeoutMs: 800,
    stopGraceMs: 300,
  });
  const fifo = `${dir}/hung.ts`;
  await mkfifo(fifo);
  let writer: Deno.FsFile | undefined;
  try {
    await manager.startChannel(3, await fixture("h264_aac_mp4"), FMT);
    // The worker opens the FIFO for its preview: it blocks in FFmpeg and answers nothing.
    const preview = manager.loadPreview(3, {
      assetPath: fifo,
      startFrame: 0,
      frameCount: -1,
      fps: FMT.frameRate,
    });
    const opened = Deno.open(fifo, { write: true }).then((f) => (writer = f));
    // Bounded here too (not a timing judgement: without the main side's timeout it never ends).
    let bound: ReturnType<typeof setTimeout> | undefined;
    const err = await Promise.race([
      preview.then(() => undefined, (e) => e),
      new Promise((r) => (bound = setTimeout(() => r("no answer within 20 s"), 20_000))),
    ]);
    clearTimeout(bound);
    assert(err instanceof ControlError, `loadPreview: ${err}`);
    assertEquals(err.code, "FAILED");
    assertEquals(err.message, "channel 3 did not answer loadPreview within 800 ms");
    // Every further call is bounded the same way while the worker stays hung.
    const guide = await manager.guide(3, Date.now(), Date.now() + 60_000).then(
      () => undefined,
      (e) => e,
    );
    assert(guide instanceof ControlError && guide.code === "FAILED", `guide: ${guide}`);
    assertEquals(guide.message, "channel 3 did not answer guide within 800 ms");
    const timeouts = lines.filter((l) => l.event === "control_call_timeout");
    assertEquals(timeouts.map((l) => [l.channel, l.method, l.timeout_ms]), [
      [3, "loadPreview", 800],
      [3, "guide", 800],
    ]);
    await opened;
    await manager.stopChannel(3);
    assertEquals(manager.get(3)?.state ?? "stopped", "stopped");
  } finally {
    writer?.close();
    await manager.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("20 restarts of a transcoding channel leave none of its threads behind", async () => {
  const manager = testManager({ log: quietLog(), leadMs: 200 });
  const clip = await fixture("h264_aac_mp4");
  const spec: ChannelSpec = {
    id: 9,
    name: "restarts",
    format: FMT,
    // Two x264 threads and two decoder threads: FFmpeg threads to leak if anything does.
    video: { codec: "libx264", preset: "ultrafast", crf: 35, keyintFrames: 25, threads: 2 },
    audio: { codec: "aac", bitrateKbps: 64 },
    source: { kind: "playlist", paths: [clip] },
  };
  try {
    const before = threadNames();
    const during: number[] = [];
    for (let round = 0; round < 20; round++) {
      await manager.applyConfig([spec]);
      const v = manager.outputs(9)!.fanout.subscribe({ label: "restart" });
      let bytes = 0;
      const reading = (async () => {
        for await (const c of v) bytes += c.length;
      })();
      await until(() => bytes > 188 * 50, `round ${round}: TS`, 60_000);
      during.push(threadNames().get("rv-ch-9") ?? 0);
      v.close();
      await reading;
      await manager.applyConfig([]);
      await until(
        () => !threadNames().has("rv-ch-9"),
        `round ${round}: channel threads gone`,
        60_000,
      );
    }
    // While on air the channel ran its worker thread plus FFmpeg's.
    assert(during.every((n) => n >= 3), `channel threads on air: ${during}`);
    // Every thread the channel started (its worker's and FFmpeg's, which inherit the name)
    // is gone. The process's total is not judged: tests in other files of a parallel run
    // start and end threads of their own meanwhile.
    assertEquals(threadNames().get("rv-ch-9"), undefined);
    assertEquals(before.get("rv-ch-9"), undefined);
  } finally {
    await manager.close();
  }
});
