import { assert, assertEquals } from "./assert.ts";
import { ChannelTimeline, type ProducerFactory } from "../src/engine/channel_timeline.ts";
import { MasterClock, VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { BlockEvent, BlockPlan } from "../src/engine/plan.ts";
import { block, segment } from "./plan_builders.ts";
import { FrameFlags } from "../media/program_frame.ts";
import {
  DEFAULT_PROGRAM_FORMAT,
  type ProgramFormat,
  samplesBeforeFrame,
} from "../media/program_format.ts";
import { PadProducer } from "../src/engine/producers/pad_producer.ts";
import {
  readFrameStrip,
  TestPatternProducer,
} from "../src/engine/producers/test_pattern_producer.ts";
import { BlockSchedule, IdleSchedule, type TimelineEvent } from "../src/engine/schedule.ts";

const FMT: ProgramFormat = { ...DEFAULT_PROGRAM_FORMAT, width: 64, height: 36 };
const EPOCH = Date.UTC(2026, 10, 24, 12, 0, 0);

/** Pad for "pad"; test pattern for everything else except paths under /missing/, which fail. */
const factory: ProducerFactory = (source) => {
  if (source.kind === "file" && source.path.startsWith("/missing/")) {
    throw new Error(`no such file ${source.path}`);
  }
  return source.kind === "pad" ? new PadProducer(FMT) : new TestPatternProducer(FMT);
};

function setup(blocks: BlockPlan[], joinFrame = 0) {
  const clock = new MasterClock(EPOCH, FMT.frameRate, new VirtualTimeSource(EPOCH));
  const schedule = new BlockSchedule(clock, FMT.frameRate, joinFrame, blocks);
  const events: { frame: number; event: BlockEvent }[] = [];
  const failures: string[] = [];
  const timeline = new ChannelTimeline(FMT, clock, schedule, factory, {
    onAssetFailure: (f) => failures.push(f.source),
  });
  let released = -1;
  schedule.onEvent = (event) => events.push({ frame: released, event });
  const segmentStarts: TimelineEvent[] = [];
  const run = (n: number) => {
    const frames = [];
    for (let i = 0; i < n; i++) {
      const f = timeline.next();
      released = f.frameNumber;
      schedule.released(f.frameNumber);
      segmentStarts.push(...f.events.filter((e) => e.kind === "segment_start"));
      frames.push(f);
    }
    return frames;
  };
  return { clock, schedule, timeline, events, failures, segmentStarts, run };
}

Deno.test("block of 1001 ms + 2002 ms + PAD 997 ms at 30000/1001 is frame-exact", () => {
  const b = block("A", EPOCH, [
    segment(0, "/media/a.mp4", 1001),
    segment(1, "/media/b.mp4", 2002),
    segment(2, "", 997),
  ]);
  const { run, events, segmentStarts } = setup([b]);
  const frames = run(130);
  const starts = segmentStarts.map((e) => (e.kind === "segment_start" ? e.frame : -1));
  assertEquals(starts.slice(0, 3), [0, 30, 90]);
  const counts = segmentStarts.slice(0, 3).map((e) => e.kind === "segment_start" && e.frameCount);
  assertEquals(counts, [30, 60, 30]);
  // PAD frames are black and flagged PAD; content frames are not.
  assert(frames[95].flags & FrameFlags.PAD);
  assertEquals(frames[95].video[0], 16);
  assertEquals(frames[10].flags & FrameFlags.PAD, 0);
  // Block events at the right output frames: start at 0; the fence (120 frames later) is
  // reached when frame 120 goes on air, at the block's end time.
  assertEquals(events.map((e) => [e.event.kind, e.frame]), [
    ["block_started", 0],
    ["block_completed", 120],
    ["session_ended", 120],
  ]);
  const done = events[1].event;
  assert(done.kind === "block_completed");
  assertEquals(done.finalCtMs, Math.round((120 * 1001) / 30));
});

Deno.test("two contiguous blocks: boundary on the frame the wall clock says", () => {
  // Block B starts at EPOCH + 5 s: frame round(5 * 30000/1001) = 150.
  const a = block("A", EPOCH, [segment(0, "/media/a.mp4", 5000)]);
  const b = block("B", EPOCH + 5000, [segment(0, "/media/b.mp4", 3000)]);
  const { run, events } = setup([a, b]);
  run(300);
  const kinds = events.map((e) => `${e.event.kind}@${e.frame}`);
  assertEquals(kinds, [
    "block_started@0",
    "block_completed@150",
    "block_started@150",
    "block_completed@240",
    "session_ended@240",
  ]);
});

Deno.test("missing asset plays pad of the exact duration and the channel continues", () => {
  const b = block("A", EPOCH, [
    segment(0, "/missing/gone.mp4", 1000),
    segment(1, "/media/ok.mp4", 1000),
  ]);
  const { run, failures } = setup([b]);
  const frames = run(60);
  assertEquals(failures, ["/missing/gone.mp4"]);
  const fallback = frames.filter((f) => f.flags & FrameFlags.FALLBACK).length;
  assertEquals(fallback, 30); // round(1000 * 30000/1001 / 1000) = 30
  assertEquals(frames[29].video[0], 16); // black
  assertEquals(frames[30].flags & FrameFlags.FALLBACK, 0);
  // The test pattern (standing in for a file here) burns the output frame number in.
  assertEquals(readFrameStrip(frames[45].video, FMT.width, FMT.height), 45);
});

Deno.test("mid-block join starts inside the right segment at the right offset", () => {
  const b = block("A", EPOCH, [segment(0, "/media/a.mp4", 2000), segment(1, "", 2000)]);
  // Join 1.5 s into the block: frame 45 of 119 (round(1500 * 0.03) = 45).
  const clock = new MasterClock(EPOCH, FMT.frameRate, new VirtualTimeSource(EPOCH));
  const join = clock.frameAt(EPOCH + 1500);
  assertEquals(join, 45);
  const { timeline, run, events } = setup([b], join);
  run(join); // pre-join frames play idle
  const first = timeline.next();
  assertEquals(first.frameNumber, 45);
  assert(first.flags & FrameFlags.SEGMENT_START);
  const startEvent = first.events.find((e) => e.kind === "segment_start");
  assert(startEvent?.kind === "segment_start");
  assertEquals(startEvent.frame, 45);
  assertEquals(startEvent.segmentIndex, 0);
  assertEquals(events.length, 0);
});

Deno.test("output PTS steps by exactly one frame and audio never drifts (6 simulated hours)", () => {
  const fmt = { ...FMT, width: 16, height: 16 };
  const clock = new MasterClock(EPOCH, fmt.frameRate, new VirtualTimeSource(EPOCH));
  const timeline = new ChannelTimeline(fmt, clock, new IdleSchedule(), () => new PadProducer(fmt));
  const frames = Math.round(6 * 3600 * 30000 / 1001);
  let samples = 0;
  let lastPts = -1;
  let badSteps = 0;
  for (let k = 0; k < frames; k++) {
    const f = timeline.next();
    if (lastPts >= 0) {
      const step = f.pts90k - lastPts;
      if (step !== 3003) badSteps++;
    }
    lastPts = f.pts90k;
    samples += f.samples;
  }
  assertEquals(badSteps, 0);
  assertEquals(samples, samplesBeforeFrame(frames, fmt));
  const videoEnd = frames * 1001 / 30000;
  const audioEnd = samples / fmt.sampleRate;
  assert(Math.abs(videoEnd - audioEnd) < 1001 / 30000, `A/V end differ by ${videoEnd - audioEnd}s`);
});

Deno.test("recycled picture buffers are reused and every frame still carries its own picture", () => {
  const b = block("R", EPOCH, [segment(0, "/media/a.mp4", 2000), segment(1, "", 1000)]);
  const { timeline, run } = setup([b, block("S", EPOCH + 3000, [segment(0, "", 1000)])]);
  const seen = new Set<ArrayBuffer>();
  const strips: number[] = [];
  const pad: Uint8Array[] = [];
  for (let i = 0; i < 80; i++) {
    const [f] = run(1);
    seen.add(f.video.buffer as ArrayBuffer);
    if (f.flags & FrameFlags.PAD) pad.push(f.video.slice());
    else strips.push(readFrameStrip(f.video, FMT.width, FMT.height));
    timeline.recycle(f.video);
  }
  // One buffer goes round: no picture per frame.
  assertEquals(seen.size, 1);
  // The test pattern numbers its pictures: each recycled buffer was overwritten with the next.
  assertEquals(strips, strips.map((_, i) => i));
  // Pad after the pattern is black again, not the last pattern picture left in the buffer.
  assert(pad.length > 0);
  const black = pad[0];
  assertEquals(black.subarray(0, FMT.width * FMT.height).every((v) => v === 16), true);
  timeline.recycle(new Uint8Array(10)); // wrong size: ignored, the next frame is still right
  assertEquals(run(1)[0].video.length, (FMT.width * FMT.height * 3) / 2);
});
