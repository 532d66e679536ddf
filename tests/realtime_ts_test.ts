/**
 * PCR and PAT/PMT cadence of the channel's TS at every frame rate, 23.976 and 5 fps included,
 * with every frame's picture and with repeated pictures (no video for those frames): judged
 * by our analyzer on the bytes and by ffmpeg decoding them.
 */

import { assert, assertEquals } from "./assert.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { Rational } from "../media/rational.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";
import { ProgramTsEncoder } from "../src/engine/program_ts_encoder.ts";
import { TestPatternProducer } from "../src/engine/producers/test_pattern_producer.ts";
import { concatBytes } from "./egress_fixtures.ts";
import { FIXTURE_DIR } from "./fixtures.ts";

function spec(frameRate: Rational): ChannelSpec {
  return {
    id: 1,
    name: "cadence",
    format: {
      width: 320,
      height: 180,
      frameRate,
      sampleRate: 48000,
      channels: 2,
      aspectPolicy: "preserve",
    },
    video: { codec: "libx264", preset: "ultrafast", crf: 32, keyintFrames: 24 },
    audio: { codec: "aac", bitrateKbps: 96 },
    source: { kind: "test_pattern" },
  };
}

/** ffmpeg's complaints decoding `ts` (empty when clean), and the video frames it decoded. */
async function ffmpegDecode(
  ts: Uint8Array,
  name: string,
): Promise<{ errors: string; frames: number }> {
  await Deno.mkdir(FIXTURE_DIR, { recursive: true });
  const path = `${FIXTURE_DIR}rt_cadence_${name}_${Deno.pid}.ts`;
  await Deno.writeFile(path, ts);
  try {
    const out = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const frames = new TextDecoder().decode(out.stdout).split("\n")
      .filter((l) => /^0,/.test(l)).length;
    return { errors: new TextDecoder().decode(out.stderr).trim(), frames };
  } finally {
    await Deno.remove(path);
  }
}

function judge(ts: Uint8Array) {
  const s = analyzeTs(ts);
  const pcr = s.pids.find((p) => p.pcr.count > 0)!.pcr;
  return { s, pcr };
}

for (const rate of [{ num: 24000, den: 1001 }, { num: 5, den: 1 }, { num: 25, den: 1 }]) {
  const name = `${rate.num}/${rate.den}`;
  Deno.test(`${name} fps: PCR <= 40 ms, PAT/PMT <= 100 ms, no CC errors, ffmpeg decodes clean`, async () => {
    const chunks: Uint8Array[] = [];
    const r = new ChannelRunner(
      { spec: spec(rate), time: new VirtualTimeSource(1e12), epochUtcMs: 1e12 },
      { ts: (d) => chunks.push(d), frame: () => {}, blockEvent: () => {}, log: () => {} },
    );
    const frames = Math.round((8 * rate.num) / rate.den);
    for (let k = 0; k < frames; k++) r.step();
    const selfCheck = r.stats();
    r.stop();
    const ts = concatBytes(chunks);
    const { s, pcr } = judge(ts);
    assertEquals(s.ccErrors, 0);
    assert(pcr.intervalMaxMs <= 40, `PCR interval ${pcr.intervalMaxMs} ms`);
    assertEquals(pcr.gaps, 0);
    assert(s.pat.intervalMaxMs <= 100, `PAT interval ${s.pat.intervalMaxMs} ms`);
    assert(s.pmt.intervalMaxMs <= 100, `PMT interval ${s.pmt.intervalMaxMs} ms`);
    // The channel's own self-check (40 ms) agrees.
    assertEquals(selfCheck.tsSelfCheckPcrErrors, 0);
    assertEquals(selfCheck.tsSelfCheckCcErrors, 0);
    const decoded = await ffmpegDecode(ts, name.replace("/", "_"));
    assertEquals(decoded.errors, "");
    assertEquals(decoded.frames, frames);
  });
}

Deno.test("23.976 fps with two pictures in three repeated: PCR still <= 40 ms and strictly increasing, ffmpeg decodes clean", async () => {
  const s0 = spec({ num: 24000, den: 1001 });
  const enc = new ProgramTsEncoder(s0.format, s0.video, s0.audio);
  const pattern = new TestPatternProducer(s0.format);
  const chunks: Uint8Array[] = [];
  let pictures = 0;
  for (let k = 0; k < 240; k++) {
    const video = pattern.nextVideo({ frameNumber: k, dueUtcMs: k * 41.7 }).slice();
    const samples = k % 5 === 4 ? 2003 : 2002; // 48000 · 1001 / 24000 = 2002.0 a frame
    const audio = pattern.nextAudio(samples);
    const hold = k % 3 !== 0;
    if (!hold) pictures++;
    chunks.push(
      enc.encode(
        { frameNumber: k, pts90k: 0, wallClockUtcUs: 0, video, audio, samples, flags: 0 },
        hold,
      ),
    );
  }
  chunks.push(enc.finish());
  const ts = concatBytes(chunks);
  const { s, pcr } = judge(ts);
  assertEquals(s.ccErrors, 0);
  assert(pcr.intervalMaxMs <= 40, `PCR interval ${pcr.intervalMaxMs} ms`);
  assertEquals(pcr.gaps, 0, "PCR gap or PCR going backwards");
  assert(s.pat.intervalMaxMs <= 100, `PAT interval ${s.pat.intervalMaxMs} ms`);
  const decoded = await ffmpegDecode(ts, "held");
  assertEquals(decoded.errors, "");
  // Every new picture, and the picture on air again where the encoder's delay needed it.
  assertEquals(decoded.frames, pictures + enc.framesReencoded);
  assert(enc.framesReencoded < 10, `${enc.framesReencoded} re-encoded`);
  // Keyframes stay a GOP (24 frames) apart in time, not 24 pictures (72 frames) apart:
  // 240 frames hold 10 of them.
  const video = s.pids.find((p) => p.pcr.count > 0)!;
  assert(video.randomAccessCount >= 10, `${video.randomAccessCount} keyframes in 240 frames`);
});

Deno.test("nine pictures in ten held with a lookahead encoder: the video never falls more than 3 s behind (2 s limit plus B-frame and mux delay)", async () => {
  // x264 veryfast holds ~15 pictures (lookahead + B-frames): 150 frames at one picture in ten.
  const s0 = {
    ...spec({ num: 25, den: 1 }),
    video: { ...spec({ num: 25, den: 1 }).video, preset: "veryfast" },
  };
  const enc = new ProgramTsEncoder(s0.format, s0.video, s0.audio, { maxPictureLatencyMs: 2000 });
  const pattern = new TestPatternProducer(s0.format);
  const chunks: Uint8Array[] = [];
  const lagFrames: number[] = [];
  let videoPid = -1;
  let newestPts = -1;
  for (let k = 0; k < 300; k++) {
    const video = pattern.nextVideo({ frameNumber: k, dueUtcMs: k * 40 }).slice();
    const audio = pattern.nextAudio(1920);
    const frame = {
      frameNumber: k,
      pts90k: 0,
      wallClockUtcUs: 0,
      video,
      audio,
      samples: 1920,
      flags: 0,
    };
    chunks.push(enc.encode(frame, k % 10 !== 0));
    const ts = concatBytes(chunks);
    if (videoPid < 0) {
      videoPid = analyzeTs(ts).programs[0]?.streams.find((x) => x.streamType === 0x1b)?.pid ?? -1;
    }
    const v = analyzeTs(ts, { recordValues: true }).pids.find((p) => p.pid === videoPid);
    if (v && v.pts.values.length > 0) newestPts = Math.max(...v.pts.values);
    // TS timestamps run one second (25 frames) ahead of the frame numbers.
    if (newestPts >= 0) lagFrames.push(k + 25 - newestPts / 3600);
  }
  chunks.push(enc.finish());
  assert(enc.framesReencoded > 0, "nothing re-encoded");
  const worst = Math.max(...lagFrames);
  assert(worst <= 75, `the newest picture out is ${worst} frames behind`);
  const decoded = await ffmpegDecode(concatBytes(chunks), "reencoded");
  assertEquals(decoded.errors, "");
});
