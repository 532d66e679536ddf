/**
 * A channel that cannot keep up steps its x264 down (ProgramTsEncoder.setSteppedDown): a faster
 * preset without lookahead or B-frames, then back to the configured one. Judged on the TS: one
 * valid stream that ffmpeg decodes clean, video DTS strictly increasing across both swaps, an
 * IDR where each new encoder starts, x264's own settings SEI saying which encoder made what,
 * and no re-encoded pictures while stepped down.
 */

import { assert, assertEquals } from "./assert.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { ProgramTsEncoder, STEPPED_DOWN_PRESET } from "../src/engine/program_ts_encoder.ts";
import { TestPatternProducer } from "../src/engine/producers/test_pattern_producer.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";
import { concatBytes } from "./egress_fixtures.ts";
import { FIXTURE_DIR } from "./fixtures.ts";

const SPEC: ChannelSpec = {
  id: 1,
  name: "step",
  format: {
    width: 320,
    height: 180,
    frameRate: { num: 25, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  },
  video: { codec: "libx264", preset: "slow", crf: 30, keyintFrames: 50, threads: 1 },
  audio: { codec: "aac", bitrateKbps: 96 },
  source: { kind: "test_pattern" },
};

async function run(cmd: string, args: string[]): Promise<{ out: Uint8Array; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { out: r.stdout, err: new TextDecoder().decode(r.stderr).trim() };
}

Deno.test("stepping x264 down and back up mid-stream keeps one valid TS: clean decode, DTS increasing, IDR and new settings at each swap", async () => {
  const enc = new ProgramTsEncoder(SPEC.format, SPEC.video, SPEC.audio);
  assert(enc.canStepDown);
  const pattern = new TestPatternProducer(SPEC.format);
  const chunks: Uint8Array[] = [];
  const reencodedAt: number[] = [];
  const presets: string[] = [];
  let fed = 0;
  for (let k = 0; k < 450; k++) {
    if (k === 150) assert(enc.setSteppedDown(true));
    if (k === 151) assert(!enc.setSteppedDown(true), "a repeated step down changes nothing");
    if (k === 300) assert(enc.setSteppedDown(false));
    // Shedding as a degraded channel does: one picture in five, the rest held.
    const hold = k >= 100 && k % 5 !== 0;
    if (!hold) fed++;
    const video = pattern.nextVideo({ frameNumber: k, dueUtcMs: k * 40 }).slice();
    const audio = pattern.nextAudio(1920);
    const before = enc.framesReencoded;
    chunks.push(enc.encode(
      { frameNumber: k, pts90k: 0, wallClockUtcUs: 0, video, audio, samples: 1920, flags: 0 },
      hold,
    ));
    if (enc.framesReencoded > before) reencodedAt.push(k);
    presets.push(enc.videoPreset);
  }
  chunks.push(enc.finish());
  assertEquals(presets[149], "slow");
  assertEquals(presets[200], STEPPED_DOWN_PRESET);
  assertEquals(presets[449], "slow");
  // The slow encoder's lookahead holds its pictures: held frames re-encode the one on air to
  // bound their delay. The stepped-down encoder holds none: nothing to re-encode.
  assert(reencodedAt.some((k) => k < 150), `re-encodes at ${reencodedAt}`);
  assert(
    !reencodedAt.some((k) => k > 160 && k < 300),
    `re-encodes while stepped down: ${reencodedAt}`,
  );

  const ts = concatBytes(chunks);
  const s = analyzeTs(ts);
  assertEquals(s.ccErrors, 0);
  const pcr = s.pids.find((p) => p.pcr.count > 0)!.pcr;
  assert(pcr.intervalMaxMs <= 40, `PCR interval ${pcr.intervalMaxMs} ms`);
  assertEquals(pcr.gaps, 0);

  await Deno.mkdir(FIXTURE_DIR, { recursive: true });
  const path = `${FIXTURE_DIR}step_down_${Deno.pid}.ts`;
  await Deno.writeFile(path, ts);
  try {
    const decode = await run("ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"]);
    assertEquals(decode.err, "");
    const probe = await run("ffprobe", [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-show_entries",
      "packet=pts,dts,flags",
      "-of",
      "csv=p=0",
      path,
    ]);
    assertEquals(probe.err, "");
    const packets = new TextDecoder().decode(probe.out).trim().split("\n").filter((l) =>
      l.includes(",")
    ).map((l) => {
      const [pts, dts, flags = ""] = l.split(",");
      return { pts: Number(pts), dts: Number(dts), key: flags.startsWith("K") };
    });
    // Every picture given is in the TS, but for those lost at the swaps (the slow encoder's
    // lookahead when it stepped down, any held back at the step up), plus the re-encodes.
    assert(enc.picturesLost > 0 && enc.picturesLost < 60, `${enc.picturesLost} lost`);
    assertEquals(packets.length, fed + enc.framesReencoded - enc.picturesLost);
    for (let i = 1; i < packets.length; i++) {
      assert(
        packets[i].dts > packets[i - 1].dts,
        `DTS ${packets[i - 1].dts} then ${packets[i].dts}`,
      );
    }
    // TS PTS = (frame + 25) · 3600. The first picture of each new encoder is a keyframe.
    const frameOf = (pts: number) => pts / 3600 - 25;
    const firstAfter = (k: number) => packets.find((p) => frameOf(p.pts) >= k)!;
    assert(
      firstAfter(150).key,
      `first picture after the step down: ${JSON.stringify(firstAfter(150))}`,
    );
    assert(
      firstAfter(300).key,
      `first picture after the step back: ${JSON.stringify(firstAfter(300))}`,
    );
    // x264 writes its settings in the first picture of each encoder instance.
    const es = await run("ffmpeg", [
      "-v",
      "error",
      "-i",
      path,
      "-map",
      "0:v",
      "-c",
      "copy",
      "-f",
      "h264",
      "-",
    ]);
    const text = new TextDecoder("latin1").decode(es.out);
    const sei = [...text.matchAll(/x264 - core [^\0]*? options: ([^\0]*)/g)].map((m) => m[1]);
    assertEquals(sei.length, 3, `x264 settings SEI: ${sei.join("\n")}`);
    const option = (i: number, name: string) => new RegExp(` ${name}=(\\d+)`).exec(sei[i])?.[1];
    // slow: B-frames, lookahead with mb-tree; stepped down: neither; back up: slow's again.
    assert(Number(option(0, "bframes")) > 0 && option(0, "mbtree") === "1", sei[0]);
    assert(option(1, "bframes") === "0" && option(1, "mbtree") === "0", sei[1]);
    assertEquals(sei[2], sei[0]);
    // the stepped-down one is the faster preset (veryfast: one reference frame, subme 2)
    assert(Number(option(1, "ref")) < Number(option(0, "ref")), `${sei[1]} vs ${sei[0]}`);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("mpeg2video cannot step down: setSteppedDown changes nothing", () => {
  const enc = new ProgramTsEncoder(SPEC.format, {
    codec: "mpeg2video",
    preset: "",
    bitrateKbps: 1000,
    keyintFrames: 12,
  }, { codec: "mp2", bitrateKbps: 128 });
  try {
    assert(!enc.canStepDown);
    assert(!enc.setSteppedDown(true));
    assert(!enc.steppedDown);
  } finally {
    enc.close();
  }
});
