/**
 * The clock paces by the monotonic clock and watches UTC: a step of the system's UTC clock is
 * detected, logged and absorbed at the next block fence, which lands on the right UTC again
 * (the block before it shorter or longer by the step), with no jump in the TS. The UTC source
 * is the virtual clock's, stepped by the test.
 */

import { assert, assertEquals } from "./assert.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { BlockEvent } from "../src/engine/plan.ts";
import { analyzeTs, isVideoStreamType } from "../media/ts_analyzer.ts";
import { concatBytes } from "./egress_fixtures.ts";
import { block, segment } from "./plan_builders.ts";

const EPOCH = Date.UTC(2026, 0, 1, 12);
const SPEC: ChannelSpec = {
  id: 1,
  name: "clock",
  format: {
    width: 160,
    height: 96,
    frameRate: { num: 25, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  },
  video: { codec: "libx264", preset: "ultrafast", crf: 35, keyintFrames: 25 },
  audio: { codec: "aac", bitrateKbps: 64 },
  source: { kind: "none" },
};

/** Plays six 10 s PAD blocks from EPOCH; UTC steps by `stepMs` when frame `atFrame` airs. */
async function playWithStep(stepMs: number, atFrame: number) {
  const time = new VirtualTimeSource(EPOCH);
  const ts: Uint8Array[] = [];
  const logs: { event: string; fields: Record<string, unknown> }[] = [];
  const events: { event: BlockEvent; frame: number }[] = [];
  const utcOfFrame = new Map<number, number>();
  let lastFrame = -1;
  const runner = new ChannelRunner({ spec: SPEC, time, epochUtcMs: EPOCH }, {
    ts: (d) => ts.push(d),
    frame: (f) => {
      lastFrame = f.frameNumber;
      utcOfFrame.set(f.frameNumber, f.wallClockUtcUs / 1000);
      if (f.frameNumber === atFrame) time.stepUtc(stepMs);
    },
    blockEvent: (event) => events.push({ event, frame: lastFrame + 1 }),
    log: (_level, event, fields) => logs.push({ event, fields }),
  });
  runner.wantFrames = true;
  const blocks = Array.from(
    { length: 6 },
    (_, i) => block(`b${i}`, EPOCH + i * 10_000, [segment(0, "", 10_000)]),
  );
  runner.startBlockSession(blocks, 0);
  const done = runner.run();
  while (!events.some((e) => e.event.kind === "session_ended")) {
    await new Promise((r) => setTimeout(r, 0));
  }
  runner.stop();
  await done;
  return { ts: concatBytes(ts), logs, events, utcOfFrame };
}

function starts(events: { event: BlockEvent; frame: number }[]) {
  return events.filter((e) => e.event.kind === "block_started").map((e) => ({
    id: (e.event as { blockId: string }).blockId,
    frame: e.frame,
  }));
}

function assertTsContinuous(ts: Uint8Array): void {
  const s = analyzeTs(ts);
  assertEquals(s.ccErrors, 0);
  const vPid = s.programs[0].streams.find((x) => isVideoStreamType(x.streamType))!.pid;
  const v = s.pids.find((p) => p.pid === vPid)!.pts;
  assertEquals([v.minStep, v.maxStep], [3600, 3600], "video PTS jumped");
  const pcr = s.pids.find((p) => p.pcr.count > 0)!.pcr;
  assertEquals(pcr.gaps, 0);
}

Deno.test("UTC steps 2 s ahead mid-block: logged, the next fence lands on its UTC, that block is 2 s short, no PTS jump", async () => {
  const { ts, logs, events, utcOfFrame } = await playWithStep(2000, 600);
  const detected = logs.find((l) => l.event === "utc_step_detected");
  assert(detected, "step not logged");
  assertEquals(detected.fields.step_ms, 2000);
  const absorbed = logs.find((l) => l.event === "utc_step_absorbed")!;
  assertEquals([absorbed.fields.block_id, absorbed.fields.fence_from, absorbed.fields.fence_to], [
    "b2",
    750,
    700,
  ]);
  // Fences at 250, 500, then 700 (block b2 50 frames = 2 s short), then every 250 again.
  assertEquals(starts(events), [
    { id: "b0", frame: 0 },
    { id: "b1", frame: 250 },
    { id: "b2", frame: 500 },
    { id: "b3", frame: 700 },
    { id: "b4", frame: 950 },
    { id: "b5", frame: 1200 },
  ]);
  // Each block after the step starts on air at its own UTC.
  for (const { id, frame } of starts(events).slice(3)) {
    const i = Number(id.slice(1));
    assertEquals(utcOfFrame.get(frame), EPOCH + i * 10_000, `block ${id} off its UTC`);
  }
  assertTsContinuous(ts);
});

Deno.test("UTC steps 1.5 s back: the next fence comes 1.5 s later on the pacing clock, the block is longer", async () => {
  const { ts, events, utcOfFrame } = await playWithStep(-1500, 300);
  // b1 (10–20 s UTC) ends 37.5 frames later: round → 538.
  assertEquals(starts(events).map((s) => s.frame), [0, 250, 538, 788, 1038, 1288]);
  for (const { id, frame } of starts(events).slice(2)) {
    const i = Number(id.slice(1));
    const utc = utcOfFrame.get(frame)!;
    assert(Math.abs(utc - (EPOCH + i * 10_000)) <= 20, `block ${id} at ${utc - EPOCH}`);
  }
  assertTsContinuous(ts);
});
