/**
 * LoadPreview decodes the preview's first picture for real (shadow decode) and says so only
 * when it worked; SwitchToLive's pts_contiguous comes from the TS the encoder muxed: the
 * switch frame's video packet one frame after the previous one, false when there is no
 * previous frame or the channel stopped before the switch aired. ChannelRunner on a virtual
 * clock with the real encoder and muxer.
 */

import { assertEquals } from "./assert.ts";
import { fixture, frameNumberFromI420 } from "./fixtures.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";

const SPEC: ChannelSpec = {
  id: 4,
  name: "preview",
  format: {
    width: 320,
    height: 240,
    frameRate: { num: 25, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  },
  video: { codec: "libx264", preset: "ultrafast", crf: 30, keyintFrames: 25 },
  audio: { codec: "aac", bitrateKbps: 64 },
  source: { kind: "none" },
};
const EPOCH = Date.UTC(2026, 11, 1, 21, 0, 0);
const FPS = { num: 25, den: 1 };

function runner() {
  const ts: Uint8Array[] = [];
  const r = new ChannelRunner(
    { spec: SPEC, time: new VirtualTimeSource(EPOCH), epochUtcMs: EPOCH },
    { ts: (d) => ts.push(d), frame: () => {}, blockEvent: () => {}, log: () => {} },
  );
  return { r, ts };
}

Deno.test("LoadPreview primes the first frame: the switch airs the in-point frame, PTS contiguous in the TS", async () => {
  const clip = await fixture("frame_counter"); // 75 frames at 25 fps, number burned in
  const { r, ts } = runner();
  r.playSegments([{ assetPath: clip, startFrame: 0, frameCount: -1, fps: FPS }]);
  for (let i = 0; i < 20; i++) r.step();
  const preview = r.loadPreview({ assetPath: clip, startFrame: 40, frameCount: 20, fps: FPS });
  assertEquals(preview, { shadowDecodeStarted: true, reason: "" });
  const switched = r.switchToLive(0);
  let result: { ptsContiguous: boolean; livePts90k: number } | undefined;
  switched.then((v) => result = v);
  const firstNumbers: number[] = [];
  let sawSwitch = false;
  for (let i = 0; i < 60 && result === undefined; i++) {
    const f = r.step();
    if (f.events.some((e) => e.kind === "switched")) sawSwitch = true;
    if (sawSwitch && firstNumbers.length < 3) {
      firstNumbers.push(frameNumberFromI420(f.video, SPEC.format.width, SPEC.format.height));
    }
    await Promise.resolve();
  }
  assertEquals(firstNumbers, [40, 41, 42]);
  assertEquals(result?.ptsContiguous, true);
  r.stop();
  // The PTS the response names is in the TS, one frame (3600) after its predecessor.
  const total = ts.reduce((n, b) => n + b.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const b of ts) all.set(b, (at += b.length) - b.length);
  const video = analyzeTs(all, { recordValues: true }).pids.find((p) => p.streamType === 0x1b);
  const pts = video?.pts.values ?? [];
  const sorted = [...pts].sort((a, b) => a - b);
  const i = sorted.indexOf(result!.livePts90k);
  assertEquals(i > 0 && sorted[i] - sorted[i - 1] === 3600, true);
});

Deno.test("LoadPreview of a missing file: shadow_decode_started false with the reason", () => {
  const { r } = runner();
  r.playSegments([]);
  const preview = r.loadPreview({
    assetPath: "/nonexistent/preview.mp4",
    startFrame: 0,
    frameCount: 10,
    fps: FPS,
  });
  assertEquals(preview.shadowDecodeStarted, false);
  assertEquals(preview.reason.includes("/nonexistent/preview.mp4"), true);
  r.stop();
});

Deno.test("pts_contiguous is false when nothing aired before the switch, and when the channel stops first", async () => {
  const clip = await fixture("frame_counter");
  const first = runner();
  first.r.playSegments([]);
  first.r.loadPreview({ assetPath: clip, startFrame: 0, frameCount: 10, fps: FPS });
  const atStart = first.r.switchToLive(0); // frame 0: no frame before it
  let a: boolean | undefined;
  atStart.then((v) => a = v.ptsContiguous);
  for (let i = 0; i < 40 && a === undefined; i++) {
    first.r.step();
    await Promise.resolve();
  }
  first.r.stop();
  await atStart;
  assertEquals(a, false);

  const second = runner();
  second.r.playSegments([]);
  for (let i = 0; i < 5; i++) second.r.step();
  second.r.loadPreview({ assetPath: clip, startFrame: 0, frameCount: 10, fps: FPS });
  const later = second.r.switchToLive(EPOCH + 60_000);
  second.r.stop();
  assertEquals((await later).ptsContiguous, false);
});

Deno.test("with B-frames (packets out of display order), switches at every GOP phase are PTS contiguous", async () => {
  const clip = await fixture("frame_counter");
  const ts: Uint8Array[] = [];
  const r = new ChannelRunner(
    {
      spec: { ...SPEC, video: { ...SPEC.video, preset: "medium", keyintFrames: 50 } },
      time: new VirtualTimeSource(EPOCH),
      epochUtcMs: EPOCH,
    },
    { ts: (d) => ts.push(d), frame: () => {}, blockEvent: () => {}, log: () => {} },
  );
  r.playSegments([{ assetPath: clip, startFrame: 0, frameCount: -1, fps: FPS }]);
  for (let i = 0; i < 10; i++) r.step();
  const results: boolean[] = [];
  for (let n = 0; n < 6; n++) {
    r.loadPreview({ assetPath: clip, startFrame: 5 * n, frameCount: 40, fps: FPS });
    let got: boolean | undefined;
    r.switchToLive(0).then((v) => got = v.ptsContiguous);
    // Each switch lands 1 + n frames later in the GOP than the one before.
    for (let i = 0; i < 80 && got === undefined; i++) {
      r.step();
      await Promise.resolve();
    }
    for (let i = 0; i < n; i++) r.step();
    results.push(got === true);
  }
  r.stop();
  assertEquals(results, [true, true, true, true, true, true]);
});
