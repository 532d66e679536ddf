/**
 * Deadline discipline on the virtual clock: a deliberately slow producer stands in for a
 * channel the machine cannot keep up with. One frame goes out per tick, output time stays on
 * the clock, frames whose picture is not made repeat the picture on air with their own audio,
 * the channel says it is degraded and becomes ready again by itself. Judged on the TS bytes.
 */

import { assert, assertEquals } from "./assert.ts";
import { ChannelRunner, type RealtimeHealth } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import { FrameFlags } from "../media/program_frame.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import type { FrameContext, Producer } from "../src/engine/producers/producer.ts";
import { TestPatternProducer } from "../src/engine/producers/test_pattern_producer.ts";
import { analyzeTs, isVideoStreamType } from "../media/ts_analyzer.ts";
import { concatBytes } from "./egress_fixtures.ts";
import { block, segment } from "./plan_builders.ts";

const EPOCH = Date.UTC(2026, 0, 1);

function spec(frameRate = { num: 25, den: 1 }): ChannelSpec {
  const format: ProgramFormat = {
    width: 160,
    height: 96,
    frameRate,
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  };
  return {
    id: 1,
    name: "slow",
    format,
    video: { codec: "libx264", preset: "ultrafast", crf: 35, keyintFrames: 25 },
    audio: { codec: "aac", bitrateKbps: 64 },
    source: { kind: "test_pattern" },
  };
}

/** The test pattern, but making a picture costs `costMs(frame)` of (virtual) time. */
class SlowPattern implements Producer {
  readonly description = "slow test pattern";
  readonly #inner: TestPatternProducer;
  readonly counters;
  constructor(
    format: ProgramFormat,
    readonly time: VirtualTimeSource,
    readonly costMs: (frame: number) => number,
  ) {
    this.#inner = new TestPatternProducer(format);
    this.counters = this.#inner.counters;
  }
  nextVideo(ctx: FrameContext): Uint8Array {
    if (!ctx.skipPicture) this.time.advance(this.costMs(ctx.frameNumber));
    return this.#inner.nextVideo(ctx);
  }
  nextAudio(samples: number): Int16Array {
    return this.#inner.nextAudio(samples);
  }
  close(): void {}
}

interface Aired {
  frame: number;
  flags: number;
  lateMs: number;
  strip: number;
}

/**
 * Airs `frames` frames; making frame k's picture costs `costMs(k)` of virtual time, and
 * releasing it (encoding, muxing, handing it out) `releaseMs(k)`.
 */
async function air(
  costMs: (frame: number) => number,
  frames: number,
  s = spec(),
  releaseMs: (frame: number) => number = () => 0,
) {
  const time = new VirtualTimeSource(EPOCH);
  const ts: Uint8Array[] = [];
  const aired: Aired[] = [];
  const health: (RealtimeHealth & { frame: number })[] = [];
  const runner = new ChannelRunner(
    {
      spec: s,
      time,
      epochUtcMs: EPOCH,
      openProducer: (source, skip, open) =>
        source.kind === "test_pattern"
          ? new SlowPattern(s.format, time, costMs)
          : open(source, skip),
    },
    {
      ts: (d) => ts.push(d),
      frame: (f) => {
        aired.push({
          frame: f.frameNumber,
          flags: f.flags,
          lateMs: time.now() - f.wallClockUtcUs / 1000,
          strip: f.video[0],
        });
        time.advance(releaseMs(f.frameNumber));
      },
      blockEvent: () => {},
      log: () => {},
      health: (h) => health.push({ ...h, frame: aired.length }),
    },
  );
  runner.wantFrames = true;
  const done = runner.run();
  while (aired.length < frames) await new Promise((r) => setTimeout(r, 0));
  const stats = runner.stats();
  runner.stop();
  await done;
  return { ts: concatBytes(ts), aired, health, stats, runner };
}

const FRAME_90K = 3600;

Deno.test("a channel that cannot make its pictures in time repeats them: one frame per tick, TS locked to the clock, degraded (encoder stepped down), then ready", async () => {
  // 25 fps (40 ms a frame); pictures cost 90 ms for the first 250 frames, then 2 ms. Stepped
  // down, the encoder stays so for 60 s (1500 frames) before the configured one is tried.
  const { ts, aired, health, stats } = await air((k) => (k < 250 ? 90 : 2), 2100);

  // One frame per tick, in order, none skipped, each released at most lead + one frame late.
  assertEquals(aired.map((a) => a.frame), aired.map((_, i) => i));
  const worst = Math.max(...aired.map((a) => a.lateMs));
  assert(worst <= 500 + 40, `released ${worst} ms late`);

  // Repeats are flagged and counted; they are what the counter says.
  const repeats = aired.filter((a) => a.flags & FrameFlags.DUPLICATED);
  assert(repeats.length > 100, `only ${repeats.length} repeats while overloaded`);
  assertEquals(stats.framesRepeated, repeats.length);
  assert(stats.pictureDecimation >= 1);

  // Degraded with a reason, its encoder stepped down (the reason says so), then ready again by
  // itself once the configured encoder is back; no repeats once recovered.
  assertEquals(health.map((h) => h.degraded), [true, true, false]);
  assert(/cannot keep up/.test(health[0].reason), health[0].reason);
  assert(/veryfast zerolatency instead of ultrafast/.test(health[1].reason), health[1].reason);
  const recoveredAt = health[2].frame;
  assert(recoveredAt > 1500 && recoveredAt < 2000, `recovered at frame ${recoveredAt}`);
  assertEquals(aired.slice(recoveredAt).filter((a) => a.flags & FrameFlags.DUPLICATED), []);

  // The TS: every video PTS on the frame grid, increasing; audio continuous; PCR <= 40 ms.
  const s = analyzeTs(ts, { recordValues: true });
  assertEquals(s.ccErrors, 0);
  const program = s.programs[0];
  const vPid = program.streams.find((x) => isVideoStreamType(x.streamType))!.pid;
  const aPid = program.streams.find((x) => !isVideoStreamType(x.streamType))!.pid;
  const v = s.pids.find((p) => p.pid === vPid)!.pts;
  const a = s.pids.find((p) => p.pid === aPid)!.pts;
  const first = v.values[0] - (v.values[0] % FRAME_90K);
  const off = v.values.filter((x) => (x - first) % FRAME_90K !== 0);
  assertEquals(off, [], "video PTS off the frame grid");
  // Repeats carry no new picture: fewer video PES than frames, by the repeats and the few
  // pictures lost where the encoder was swapped (inside the old one, or held at the swap back),
  // which the channel counts.
  const lost = aired.length - repeats.length - v.count;
  assert(lost > 0 && lost <= 8, `${lost} pictures neither repeated nor in the TS`);
  assertEquals(stats.tsPicturesLost, lost, "pictures lost at the encoder swaps, as counted");
  assertEquals(a.nonMonotonic, 0);
  assertEquals(a.maxStep, 1920, "audio PTS gap"); // 1024 samples at 48 kHz, every AAC frame
  const pcr = s.pids.find((p) => p.pcr.count > 0)!.pcr;
  assert(pcr.intervalMaxMs <= 40, `PCR interval ${pcr.intervalMaxMs} ms`);
  assertEquals(pcr.gaps, 0);
  assert(s.pat.intervalMaxMs <= 100, `PAT interval ${s.pat.intervalMaxMs} ms`);
});

Deno.test("a channel that keeps up never repeats and never degrades", async () => {
  const { aired, health, stats } = await air(() => 10, 200);
  assertEquals(aired.filter((a) => a.flags & FrameFlags.DUPLICATED), []);
  assertEquals(health, []);
  assertEquals(stats.framesRepeated, 0);
  assertEquals(stats.pictureDecimation, 1);
});

Deno.test("a channel whose frames take 90 % of its time keeps up: pictures are made into the next frame's slot, never repeated", async () => {
  // 40 ms frames: releasing takes 6 or 22 ms (an encoder's keyframes and the rest, say),
  // making a picture 22 ms; 36 ms a frame on average. After a 22 ms release the next picture
  // does not fit before the next frame is due: made anyway, it is released a few ms late
  // (before, production waited for a tick with room, the lead drained and pictures were shed
  // with the CPU idle for the rest of the tick).
  const { aired, health, stats } = await air(() => 22, 600, spec(), (k) => (k % 2 ? 22 : 6));
  assertEquals(aired.map((a) => a.frame), aired.map((_, i) => i));
  assertEquals(aired.filter((a) => a.flags & FrameFlags.DUPLICATED).map((a) => a.frame), []);
  assertEquals(health, []);
  assertEquals(stats.pictureDecimation, 1);
  const worst = Math.max(...aired.slice(50).map((a) => a.lateMs));
  assert(worst <= 40, `released ${worst} ms late`);
});

Deno.test("a channel a little short of time sheds a little: most frames keep their own picture", async () => {
  // 40 ms frames, pictures cost 44 ms (released for free): the channel can make about four
  // pictures in five frames' time, not one in two.
  const { aired, health, stats } = await air(() => 44, 750);
  const late = aired.slice(250);
  const repeats = late.filter((a) => a.flags & FrameFlags.DUPLICATED).length;
  assert(repeats > 0, "a channel that cannot make every picture repeats some");
  assert(
    repeats / late.length <= 0.35,
    `${repeats} of ${late.length} frames repeated (1 in 2 would be ${late.length / 2})`,
  );
  assert(stats.pictureDecimation > 1 && stats.pictureDecimation < 2, `${stats.pictureDecimation}`);
  assert(health.length > 0 && /airing \d+ % of pictures|cannot keep up/.test(health[0].reason));
  // Output time stays on the clock.
  assert(late.every((a) => a.lateMs <= 540), "released more than the lead late");
});

Deno.test("a short stall is caught up with its own pictures: no repeats, not degraded", async () => {
  // Frame 100's picture takes 200 ms (5 frames), all others 1 ms; the lead absorbs it.
  const { aired, health } = await air((k) => (k === 100 ? 200 : 1), 300);
  assertEquals(aired.filter((a) => a.flags & FrameFlags.DUPLICATED), []);
  assertEquals(health, []);
  assertEquals(aired.map((a) => a.frame), aired.map((_, i) => i));
});

Deno.test("a long stall is not caught up with a burst of pictures: the late frames repeat, audio goes on", async () => {
  // Frame 100's picture takes 1 s (25 frames).
  const { ts, aired } = await air((k) => (k === 100 ? 1000 : 1), 300);
  const repeats = aired.filter((a) => a.flags & FrameFlags.DUPLICATED).map((a) => a.frame);
  assert(repeats.length > 0 && repeats.length < 25, `repeats ${repeats}`);
  // Only frames released more than the hold threshold late repeat; then pictures on time.
  assert(aired.filter((a) => a.lateMs > 260 && !(a.flags & FrameFlags.DUPLICATED)).length === 0);
  assert(aired.slice(200).every((a) => a.lateMs <= 40), "still late 4 s after the stall");
  const s = analyzeTs(ts);
  const aPid = s.programs[0].streams.find((x) => !isVideoStreamType(x.streamType))!.pid;
  assertEquals(s.pids.find((p) => p.pid === aPid)!.pts.maxStep, 1920, "audio PTS gap");
  assertEquals(s.ccErrors, 0);
});

/** A flat picture (every byte `luma`) whose making costs `costMs` of virtual time. */
class FlatPicture implements Producer {
  readonly description = "flat picture";
  readonly counters = {
    decoded: 0,
    dropped: 0,
    duplicated: 0,
    decodeErrors: 0,
    latencySamples: [],
  };
  readonly #picture: Uint8Array;
  constructor(format: ProgramFormat, readonly luma: number, readonly time: VirtualTimeSource) {
    this.#picture = new Uint8Array(format.width * format.height * 3 / 2).fill(luma);
  }
  nextVideo(ctx: FrameContext): Uint8Array {
    if (!ctx.skipPicture) this.time.advance(90); // 90 ms a picture at 40 ms a frame
    return this.#picture;
  }
  nextAudio(samples: number): Int16Array {
    return new Int16Array(samples * 2);
  }
  close(): void {}
}

Deno.test("while it sheds pictures, every segment's first frame still shows that segment", async () => {
  const s = spec();
  const time = new VirtualTimeSource(EPOCH);
  const aired: Aired[] = [];
  const runner = new ChannelRunner(
    {
      spec: s,
      time,
      epochUtcMs: EPOCH,
      openProducer: (source, skip, open) =>
        source.kind === "file" && source.path.startsWith("flat:")
          ? new FlatPicture(s.format, Number(source.path.slice(5)), time)
          : open(source, skip),
    },
    {
      ts: () => {},
      frame: (f) =>
        aired.push({ frame: f.frameNumber, flags: f.flags, lateMs: 0, strip: f.video[0] }),
      blockEvent: () => {},
      log: () => {},
      health: () => {},
    },
  );
  runner.wantFrames = true;
  // Twelve segments of 7 frames (280 ms), each its own grey; pictures cost 90 ms, so the
  // channel cannot make more than one picture in two or three frames.
  const lumas = Array.from({ length: 12 }, (_, i) => 40 + i * 15);
  runner.startBlockSession(
    [block("G", EPOCH + 1000, lumas.map((l, i) => segment(i, `flat:${l}`, 280)))],
    0,
  );
  const done = runner.run();
  const end = 25 + lumas.length * 7; // block starts at frame 25
  while (aired.length < end) await new Promise((r) => setTimeout(r, 0));
  runner.stop();
  await done;
  const repeats = aired.filter((a) => a.flags & FrameFlags.DUPLICATED).length;
  assert(repeats > 20, `the channel shed pictures (${repeats} repeats)`);
  const firsts = lumas.map((_, i) => aired[25 + i * 7]);
  assertEquals(
    firsts.map((a) => [a.frame, a.strip, (a.flags & FrameFlags.DUPLICATED) !== 0]),
    lumas.map((l, i) => [25 + i * 7, l, false]),
    "each segment's first frame: its own picture, not a repeat of the segment before",
  );
  // Every frame shows its own segment's grey (repeats repeat within the segment).
  const wrong = aired.slice(25, end).filter((a, j) => a.strip !== lumas[Math.floor(j / 7)]);
  assertEquals(wrong.map((a) => a.frame), []);
});
