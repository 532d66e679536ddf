/**
 * The channel engine with real files, real decoders and the real encoder + mpegts muxer, on a
 * virtual clock: frame-exact segments across many boundaries of mixed sources, continuity of
 * video PTS and audio, TS correctness judged by our analyzer and by ffprobe/ffmpeg.
 */

import { assert, assertEquals } from "./assert.ts";
import { ffmpegCli, fixture, FIXTURE_DIR, frameNumberFromI420 } from "./fixtures.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { BlockEvent } from "../src/engine/plan.ts";
import { block as blockOf, segment as seg } from "./plan_builders.ts";
import { FrameFlags } from "../media/program_frame.ts";
import { framesForMs, type ProgramFormat } from "../media/program_format.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";
import { concatBytes } from "./egress_fixtures.ts";
import { readFrameStrip } from "../src/engine/producers/test_pattern_producer.ts";

const FMT: ProgramFormat = {
  width: 320,
  height: 240,
  frameRate: { num: 30000, den: 1001 },
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve",
};

const SPEC: ChannelSpec = {
  id: 7,
  name: "test",
  format: FMT,
  video: { codec: "libx264", preset: "ultrafast", crf: 32, keyintFrames: 30 },
  audio: { codec: "aac", bitrateKbps: 96 },
  source: { kind: "none" },
};

/** Extra rates the shared fixtures lack: 24 and 60 fps clips with audio. */
async function rateClip(fps: number): Promise<string> {
  const path = `${FIXTURE_DIR}engine_${fps}fps.mp4`;
  try {
    await Deno.stat(path);
    return path;
  } catch {
    await Deno.mkdir(FIXTURE_DIR, { recursive: true });
    const tmp = `${path}.${Deno.pid}.tmp.mp4`;
    await ffmpegCli([
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=256x144:rate=${fps}:duration=2`,
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=660:sample_rate=44100:duration=2",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-pix_fmt",
      "yuv420p",
      "-c:a",
      "aac",
      "-shortest",
      tmp,
    ]); // deno-fmt-ignore
    await Deno.rename(tmp, path);
    return path;
  }
}

async function mixedSources(): Promise<string[]> {
  return [
    await fixture("h264_aac_mp4"),
    await rateClip(24),
    await fixture("mpeg2_ts"),
    await rateClip(60),
    await fixture("vp9_opus_webm"),
    await fixture("audio_only_m4a"),
    await fixture("video_only_mp4"),
    await fixture("odd_853x480"),
    await fixture("anamorphic_sar"),
    await fixture("fps_30000_1001"),
    "/nonexistent/missing.mp4",
    await fixture("random_bytes_mp4"),
    await fixture("truncated_mp4"),
  ];
}

function runner(encode: boolean, spec: ChannelSpec = SPEC) {
  const epoch = Date.UTC(2026, 10, 24, 18, 0, 0);
  const ts: Uint8Array[] = [];
  const events: BlockEvent[] = [];
  const errors: string[] = [];
  const infos: string[] = [];
  const r = new ChannelRunner(
    { spec, time: new VirtualTimeSource(epoch), epochUtcMs: epoch, encode },
    {
      ts: (d) => ts.push(d),
      frame: () => {},
      blockEvent: (e) => events.push(e),
      log: (level, event, fields) => {
        if (level === "error") errors.push(`${event} ${JSON.stringify(fields)}`);
        else infos.push(`${event} ${JSON.stringify(fields)}`);
      },
    },
  );
  return { r, epoch, ts, events, errors, infos };
}

Deno.test("200 boundaries of mixed sources: PTS steps one frame, audio tracks wall time", async () => {
  const sources = await mixedSources();
  const { r, epoch, errors } = runner(false);
  // Segment lengths vary 200..533 ms so boundaries fall at odd frame positions.
  const segments = Array.from(
    { length: 200 },
    (_, i) => seg(i, i % 13 === 12 ? "" : sources[i % sources.length], 200 + ((i * 37) % 334)),
  );
  const block = blockOf("mix", epoch, segments);
  r.startBlockSession([block], 0);
  const total = framesForMs(block.endUtcMs - block.startUtcMs, FMT.frameRate);
  let samples = 0;
  let lastPts = -1;
  let badSteps = 0;
  let starts = 0;
  let fallback = 0;
  for (let k = 0; k < total; k++) {
    const f = r.step();
    assertEquals(f.frameNumber, k);
    if (lastPts >= 0 && f.pts90k - lastPts !== 3003) badSteps++;
    lastPts = f.pts90k;
    samples += f.samples;
    assertEquals(f.audio.length, f.samples * FMT.channels);
    assertEquals(f.video.length, 320 * 240 * 3 / 2);
    if (f.flags & FrameFlags.SEGMENT_START) starts++;
    if (f.flags & FrameFlags.FALLBACK) fallback++;
  }
  r.stop();
  assertEquals(badSteps, 0);
  assertEquals(starts, 200);
  const wall = (total * 1001) / 30000;
  const audioFrame = 1024 / FMT.sampleRate;
  assert(Math.abs(samples / FMT.sampleRate - wall) < audioFrame, `audio ${samples} vs ${wall}s`);
  // The missing and the random-bytes assets were reported and played as fallback.
  assert(errors.some((e) => e.includes("missing.mp4")), errors.join("\n"));
  assert(errors.some((e) => e.includes("random_bytes")), errors.join("\n"));
  assert(fallback > 0);
});

Deno.test("50 boundaries encoded: 0 CC errors, PCR <= 40 ms, PTS steps one frame, ffmpeg decodes clean", async () => {
  const sources = await mixedSources();
  const { r, epoch, ts, events } = runner(true);
  const segments = Array.from(
    { length: 50 },
    (_, i) => seg(i, i % 7 === 6 ? "" : sources[i % sources.length], 300 + ((i * 53) % 400)),
  );
  const a = blockOf("A", epoch, segments.slice(0, 25));
  const b = blockOf("B", a.endUtcMs, segments.slice(25));
  r.startBlockSession([a, b], 0);
  const total = framesForMs(b.endUtcMs - a.startUtcMs, FMT.frameRate);
  for (let k = 0; k < total + 10; k++) r.step();
  r.stop();
  assertEquals(events.map((e) => e.kind), [
    "block_started",
    "block_completed",
    "block_started",
    "block_completed",
    "session_ended",
  ]);
  const bytes = concatBytes(ts);
  const summary = analyzeTs(bytes);
  assertEquals(summary.ccErrors, 0);
  assert(summary.pcr.intervalMaxMs <= 40, `PCR interval ${summary.pcr.intervalMaxMs} ms`);
  const video = summary.pids.find((p) => p.streamType === 0x1b)!;
  assertEquals(video.pts.count, total + 10);
  assertEquals(video.pts.minStep, 3003);
  assertEquals(video.pts.maxStep, 3003);
  const audio = summary.pids.find((p) => p.streamType === 0x0f)!;
  assertEquals(audio.pts.nonMonotonic, 0);

  const dir = await Deno.makeTempDir();
  try {
    const capture = `${dir}/capture.ts`;
    await Deno.writeFile(capture, bytes);
    const decode = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", capture, "-f", "null", "-"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(decode.stderr), "");
    assert(decode.success);
    const probe = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,width,height,nb_read_frames",
        "-of",
        "json",
        capture,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output(); // deno-fmt-ignore
    assertEquals(new TextDecoder().decode(probe.stderr), "");
    const stream = JSON.parse(new TextDecoder().decode(probe.stdout)).streams[0];
    assertEquals(stream.codec_name, "h264");
    assertEquals([stream.width, stream.height], [320, 240]);
    assertEquals(Number(stream.nb_read_frames), total + 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mid-block join lands on the right source frame (burned-in frame number)", async () => {
  const clip = await fixture("frame_counter_2997"); // 90 frames at 30000/1001, number burned in
  const { r, epoch } = runner(false);
  // The block started 1.5 s ago on the channel's clock: join lands 45 frames into the clip.
  const block = blockOf("A", epoch, [seg(0, clip, 2500), seg(1, "", 500)]);
  r.startBlockSession([block], epoch + 1500);
  // Frames before the join are idle; the first frame at the join shows source frame 45.
  let first;
  for (let k = 0; k < 60; k++) {
    const f = r.step();
    if (f.frameNumber === 45) first = f;
  }
  r.stop();
  assert(first);
  assert(first.flags & FrameFlags.SEGMENT_START);
  assertEquals(frameNumberFromI420(first.video, FMT.width, FMT.height), 45);
});

Deno.test("segment in-point and frame-rate conversion pick the right source frames", async () => {
  const clip = await fixture("frame_counter"); // 75 frames at 25 fps
  const { r, epoch } = runner(false);
  // In-point 1000 ms = source frame 25; 30000/1001 output shows source frame floor(t·25).
  r.startBlockSession([blockOf("A", epoch, [seg(0, clip, 1001, 1000)])], 0);
  const seen: number[] = [];
  for (let k = 0; k < 30; k++) {
    seen.push(frameNumberFromI420(r.step().video, FMT.width, FMT.height));
  }
  r.stop();
  const expected = Array.from(
    { length: 30 },
    (_, k) => 25 + Math.floor(((k + 0.5) * 1001 / 30000) * 25),
  );
  assertEquals(seen, expected);
});

Deno.test("fade in/out and gain shape audio and video", async () => {
  const clip = await fixture("fps_30000_1001");
  const { r, epoch } = runner(false);
  const s = seg(0, clip, 1001);
  s.transitionIn = { type: "fade", durationMs: 334 }; // 10 frames
  s.transitionOut = { type: "fade", durationMs: 334 };
  s.gainDb = -6;
  r.startBlockSession([blockOf("A", epoch, [s])], 0);
  const frames = Array.from({ length: 30 }, () => r.step());
  r.stop();
  const peak = (a: Int16Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const luma = (v: Uint8Array) => v.subarray(0, 320 * 240).reduce((n, x) => n + x, 0) / (320 * 240);
  assertEquals(peak(frames[0].audio), 0); // fully faded at the first frame
  assert(luma(frames[0].video) < 17, `first frame luma ${luma(frames[0].video)}`);
  assert(luma(frames[15].video) > luma(frames[2].video));
  assert(peak(frames[15].audio) > peak(frames[2].audio));
  // -6 dB: the 440 Hz sine of the fixture (amplitude ~ 1/8 FS) at about half.
  assert(peak(frames[15].audio) < 0.6 * 32768 / 8 + 200, `peak ${peak(frames[15].audio)}`);
  assertEquals(peak(frames[29].audio), 0);
});

Deno.test("block queue: depth, contiguity and session state are enforced", async () => {
  const clip = await fixture("h264_aac_mp4");
  const { r, epoch } = runner(false);
  const a = blockOf("A", epoch, [seg(0, clip, 1000)]);
  const b = blockOf("B", a.endUtcMs, [seg(0, "", 1000)]);
  const c = blockOf("C", b.endUtcMs, [seg(0, clip, 1000)]);
  const codeOf = (fn: () => void) => {
    try {
      fn();
      return "OK";
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };
  assertEquals(codeOf(() => r.feedBlock(c, 2)), "NO_SESSION");
  r.startBlockSession([a, b], 0);
  assertEquals(codeOf(() => r.startBlockSession([a, b], 0)), "ALREADY_ACTIVE");
  assertEquals(codeOf(() => r.feedBlock(c, 2)), "QUEUE_FULL");
  assertEquals(
    codeOf(() => r.feedBlock(blockOf("X", c.startUtcMs + 1, [seg(0, "", 500)]), 3)),
    "NOT_CONTIGUOUS",
  );
  // After A's fence (frame 30 on air) a slot frees and C can be fed.
  for (let k = 0; k < 30; k++) r.step();
  assertEquals(codeOf(() => r.feedBlock(c, 2)), "QUEUE_FULL");
  r.step();
  assertEquals(codeOf(() => r.feedBlock(c, 2)), "OK");
  const stopped = r.stopBlockSession();
  assertEquals(stopped.blocksExecuted, 1);
  // Content time counts output frames on air: A's 30 and B's first, 31 × 1001/30 ms.
  assertEquals(stopped.finalCtMs, 1034);
  r.stop();
});

Deno.test("standalone playlist loops forever, segment after segment", async () => {
  const a = await fixture("h264_aac_mp4"); // 2 s at 25 fps -> 60 frames at 30000/1001
  const b = await fixture("fps_30000_1001"); // 2 s -> 60 frames
  const { r, infos } = runner(false, { ...SPEC, source: { kind: "playlist", paths: [a, b] } });
  let fallback = 0;
  for (let k = 0; k < 300; k++) if (r.step().flags & FrameFlags.FALLBACK) fallback++;
  r.stop();
  const starts = infos.filter((l) => l.startsWith("segment_started"));
  assertEquals(starts.length, 5); // 0, 60, 120, 180, 240
  assert(starts[2].includes("h264_aac_mp4") && starts[3].includes("fps_30000_1001"));
  assertEquals(fallback, 0);
});

Deno.test("directory source: picks files by extension in name order; loop = false ends in black", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(await fixture("fps_30000_1001"), `${dir}/b.mp4`);
    await Deno.copyFile(await fixture("h264_aac_mp4"), `${dir}/a.MP4`);
    await Deno.writeTextFile(`${dir}/notes.txt`, "not media");
    const { r, infos } = runner(false, {
      ...SPEC,
      source: { kind: "directory", path: dir, loop: false, extensions: [".mp4"] },
    });
    const frames = Array.from({ length: 150 }, () => r.step());
    r.stop();
    const starts = infos.filter((l) => l.startsWith("segment_started"));
    assertEquals(starts.length, 2);
    assert(starts[0].includes("a.MP4") && starts[1].includes("b.mp4"), starts.join("\n"));
    // 60 + 60 frames of files, then black.
    assert(frames[130].flags & FrameFlags.PAD);
    assertEquals(frames[130].video[0], 16);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a configured test-pattern channel returns to its pattern after a block session", () => {
  const { r, epoch } = runner(false, { ...SPEC, source: { kind: "test_pattern" } });
  r.step();
  r.startBlockSession([blockOf("A", epoch + 1000, [seg(0, "", 10_000)])], 0);
  const during = Array.from({ length: 60 }, () => r.step());
  r.stopBlockSession();
  const after = Array.from({ length: 60 }, () => r.step());
  r.stop();
  // Frames inside the session's PAD block are black; after the stop the pattern is back with
  // the output frame number burned in.
  const padFrame = during.find((f) => f.frameNumber === 45)!;
  assert(padFrame.flags & FrameFlags.PAD);
  const last = after[after.length - 1];
  assertEquals(readFrameStrip(last.video, FMT.width, FMT.height), last.frameNumber);
  assertEquals(last.flags & FrameFlags.PAD, 0);
});
