/**
 * The as-run record made from the frames that go on air (ChannelRunner on a virtual clock,
 * real decoders): block/segment events in order, statuses and reasons, frame counts and times
 * worked out by hand from the spec's frame rules (25 fps: 40 ms per frame).
 */

import { assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { AsRunEvent } from "../src/engine/as_run.ts";
import type { BlockSegment } from "../src/engine/plan.ts";
import { block, segment } from "./plan_builders.ts";

const SPEC: ChannelSpec = {
  id: 3,
  name: "as-run",
  format: {
    width: 160,
    height: 120,
    frameRate: { num: 25, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  },
  video: { codec: "libx264", preset: "ultrafast", crf: 35, keyintFrames: 25 },
  audio: { codec: "aac", bitrateKbps: 64 },
  source: { kind: "none" },
};

const EPOCH = Date.UTC(2026, 11, 1, 20, 0, 0);

function harness() {
  const events: AsRunEvent[] = [];
  const sessions: string[] = [];
  const closed: string[] = [];
  const r = new ChannelRunner(
    { spec: SPEC, time: new VirtualTimeSource(EPOCH), epochUtcMs: EPOCH, encode: false },
    {
      ts: () => {},
      frame: () => {},
      blockEvent: () => {},
      log: () => {},
      asRun: (id, e) => {
        sessions.push(id);
        events.push(e);
      },
      asRunClosed: (id) => closed.push(id),
    },
  );
  return { r, events, sessions, closed };
}

function typed(s: BlockSegment, type: BlockSegment["type"]): BlockSegment {
  return { ...s, type };
}

/** A compact view of an event: kind, block, segment and the fields a test asks for. */
function brief(e: AsRunEvent): string {
  switch (e.kind) {
    case "block_start":
      return `BS ${e.blockId} swap=${e.swapTick} fence=${e.fenceTick} t=${
        e.actualStartUtcMs - EPOCH
      } primed=${e.primedSuccess}`;
    case "segment_start":
      return `SS ${e.blockId}/${e.eventId} t=${
        e.actualStartUtcMs - EPOCH
      } af=${e.assetStartFrame} ` +
        `type=${e.segmentTypeName} jip=${e.joinInProgress ?? "-"} uri=${
          e.assetUri === "" ? "-" : "file"
        }`;
    case "segment_end":
      return `SE ${e.blockId}/${e.eventIdRef} ${e.status}${e.reason ? "/" + e.reason : ""} ` +
        `t=${e.actualStartUtcMs - EPOCH}..${
          e.actualEndUtcMs - EPOCH
        } n=${e.computedDurationFrames} ` +
        `ms=${e.computedDurationMs} af=${e.assetStartFrame}..${e.assetEndFrame} fb=${e.fallbackFramesUsed}`;
    case "block_fence":
      return `BF ${e.blockId} swap=${e.swapTick} fence=${e.fenceTick} t=${
        e.actualEndUtcMs - EPOCH
      } ct=${e.ctAtFenceMs} n=${e.totalFramesEmitted} trunc=${e.truncatedByFence} ` +
        `early=${e.earlyExhaustion} primed=${e.primedSuccess} final=${e.final}`;
  }
}

Deno.test("as-run of a mixed session: content, missing file, filler, pad, early exhaustion, a fence cut, a zero-length segment", async () => {
  const clip = await fixture("h264_aac_mp4"); // 2 s, 50 frames at 25 fps
  const { r, events, sessions, closed } = harness();
  const a = block("A", EPOCH + 1000, [
    segment(0, clip, 1520),
    segment(1, "/nonexistent/evidence-missing.mp4", 1000),
    typed(segment(2, clip, 1000, 520), "filler"),
    segment(3, "", 480),
  ]);
  const b = block("B", a.endUtcMs, [segment(0, clip, 3000)]);
  const c = block("C", b.endUtcMs, [
    segment(0, clip, 1020),
    segment(1, "", 1020),
    segment(2, clip, 1020),
    segment(3, "", 1020),
    segment(4, "", 10),
    segment(5, clip, 110),
  ]);
  r.startBlockSession([a, b], 0, { sessionId: "s1" });
  r.feedBlock(c, 3);
  // Frames 0..24 idle before A; A 25..124, B 125..199, C 200..304; fence of C at 305.
  for (let i = 0; i < 320; i++) r.step();
  r.stop();
  assertEquals(new Set(sessions), new Set(["s1"]));
  assertEquals(closed, ["s1"]);
  assertEquals(events.map(brief), [
    "BS A swap=25 fence=125 t=1000 primed=true",
    "SS A/ev0 t=1000 af=0 type=content jip=false uri=file",
    "SE A/ev0 AIRED t=1000..2520 n=38 ms=1520 af=0..37 fb=0",
    "SE A/ev1 ERROR/ASSET_MISSING t=2520..3520 n=25 ms=1000 af=0..0 fb=25",
    "SS A/ev2 t=3520 af=13 type=filler jip=- uri=file",
    "SE A/ev2 AIRED t=3520..4520 n=25 ms=1000 af=13..37 fb=0",
    "SS A/ev3 t=4520 af=0 type=pad jip=- uri=-",
    "SE A/ev3 AIRED t=4520..5000 n=12 ms=480 af=0..11 fb=0",
    "BF A swap=25 fence=125 t=5000 ct=4000 n=100 trunc=false early=false primed=true final=false",
    "BS B swap=125 fence=200 t=5000 primed=true",
    "SS B/ev0 t=5000 af=0 type=content jip=- uri=file",
    // 50 frames of the clip, then its last picture held for 25 frames.
    "SE B/ev0 AIRED t=5000..8000 n=75 ms=3000 af=0..49 fb=25",
    "BF B swap=125 fence=200 t=8000 ct=7000 n=75 trunc=false early=true primed=true final=false",
    "BS C swap=200 fence=305 t=8000 primed=true",
    "SS C/ev0 t=8000 af=0 type=content jip=- uri=file",
    "SE C/ev0 AIRED t=8000..9040 n=26 ms=1040 af=0..25 fb=0",
    "SS C/ev1 t=9040 af=0 type=pad jip=- uri=-",
    "SE C/ev1 AIRED t=9040..10080 n=26 ms=1040 af=0..25 fb=0",
    "SS C/ev2 t=10080 af=0 type=content jip=- uri=file",
    "SE C/ev2 AIRED t=10080..11120 n=26 ms=1040 af=0..25 fb=0",
    "SS C/ev3 t=11120 af=0 type=pad jip=- uri=-",
    "SE C/ev3 AIRED t=11120..12160 n=26 ms=1040 af=0..25 fb=0",
    // 10 ms is round(0.25) = 0 frames; the 110 ms segment gets the one frame left.
    "SE C/ev4 SKIPPED/ZERO_DURATION t=12160..12160 n=0 ms=0 af=0..0 fb=0",
    "SS C/ev5 t=12160 af=0 type=content jip=- uri=file",
    "SE C/ev5 TRUNCATED/FENCE_TERMINATION t=12160..12200 n=1 ms=40 af=0..0 fb=0",
    "BF C swap=200 fence=305 t=12200 ct=11200 n=105 trunc=true early=false primed=true final=true",
  ]);
});

Deno.test("as-run of a mid-block join and a stop: skipped before the join, join_in_progress, cut at the stop", async () => {
  const clip = await fixture("h264_aac_mp4");
  const { r, events, closed } = harness();
  const a = block("J", EPOCH + 1000, [
    segment(0, clip, 1520),
    typed(segment(1, clip, 1000), "filler"),
    segment(2, "", 1480),
  ]);
  const b = block("K", a.endUtcMs, [segment(0, "", 4000)]);
  // Join 1600 ms into J: frame 25 + 40 = 65, 2 frames into segment 1 (frames 63..87).
  r.startBlockSession([a, b], a.startUtcMs + 1600, { sessionId: "s2" });
  let released = -1;
  while (released < 100) released = r.step().frameNumber;
  // The frames already produced (the lead) still air; the session ends after them.
  const end = r.timeline.nextFrameNumber;
  r.stopBlockSession();
  for (let i = 0; i < 30; i++) r.step();
  const cut = end - 88;
  assertEquals(events.map(brief), [
    "BS J swap=65 fence=125 t=2600 primed=true",
    "SE J/ev0 SKIPPED/JOIN_IN_PROGRESS t=2600..2600 n=0 ms=0 af=0..0 fb=0",
    "SS J/ev1 t=2600 af=2 type=filler jip=true uri=file",
    "SE J/ev1 AIRED t=2600..3520 n=23 ms=920 af=2..24 fb=0",
    "SS J/ev2 t=3520 af=0 type=pad jip=- uri=-",
    `SE J/ev2 TRUNCATED/SESSION_STOPPED t=3520..${3520 + cut * 40} n=${cut} ms=${cut * 40} af=0..${
      cut - 1
    } fb=0`,
    `BF J swap=65 fence=${end} t=${end * 40} ct=${(end - 65) * 40} n=${
      end - 65
    } trunc=true early=false primed=true final=true`,
  ]);
  assertEquals(closed, ["s2"]);
  r.stop();
});

Deno.test("a session without evidence makes no as-run events; a stop before the block airs makes none", () => {
  const { r, events, closed } = harness();
  r.startBlockSession([block("N", EPOCH + 2000, [segment(0, "", 1000)])], 0);
  for (let i = 0; i < 80; i++) r.step();
  assertEquals(events.length, 0);
  const h = harness();
  h.r.startBlockSession([block("P", EPOCH + 5000, [segment(0, "", 1000)])], 0, {
    sessionId: "s3",
  });
  for (let i = 0; i < 20; i++) h.r.step();
  h.r.stopBlockSession();
  for (let i = 0; i < 40; i++) h.r.step();
  assertEquals(h.events.length, 0);
  assertEquals(h.closed, ["s3"]);
  assertEquals(closed, []);
  r.stop();
  h.r.stop();
});

Deno.test("segment_title is the asset's own title tag, else empty", async () => {
  const dir = await Deno.makeTempDir({ prefix: "as_run_title_" });
  try {
    const titled = `${dir}/titled.mp4`;
    const cmd = await new Deno.Command("ffmpeg", {
      args: [
        ...["-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=160x120:r=25:d=1"],
        ...["-c:v", "libx264", "-preset", "ultrafast", "-metadata", "title=Cheers S01E01"],
        titled,
      ],
    }).output();
    assertEquals(cmd.success, true);
    const plain = await fixture("h264_aac_mp4");
    const { r, events } = harness();
    r.startBlockSession(
      [block("T", EPOCH + 400, [segment(0, titled, 400), segment(1, plain, 400)])],
      0,
      { sessionId: "s4" },
    );
    for (let i = 0; i < 40; i++) r.step();
    r.stop();
    const titles = events.flatMap((e) => e.kind === "segment_start" ? [e.segmentTitle] : []);
    assertEquals(titles, ["Cheers S01E01", ""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
