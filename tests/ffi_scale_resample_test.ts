/**
 * Scaler and Resampler: output sizes, letterbox/pillarbox bars, SAR handling, crop, odd sizes,
 * format changes; resampled sample counts and levels.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  type DecodedFrame,
  Decoder,
  Demuxer,
  FfmpegArgumentError,
  Resampler,
  scaleGeometry,
  Scaler,
} from "../ffi/mod.ts";
import { fixture, type FixtureName } from "./fixtures.ts";

/** Calls `fn` with the first decoded frame of `kind` in fixture `name`. */
async function withFirstFrame<T>(
  name: FixtureName,
  kind: "video" | "audio",
  fn: (f: DecodedFrame) => T,
): Promise<T> {
  using d = Demuxer.open(await fixture(name));
  const index = d.bestStream(kind);
  using dec = Decoder.open(d, index);
  for (let p = d.read(); p; p = d.read()) {
    if (p.streamIndex === index) dec.send(p);
    p.free();
    const f = dec.receive();
    if (f) {
      try {
        return fn(f);
      } finally {
        f.free();
      }
    }
  }
  throw new Error(`no ${kind} frame in ${name}`);
}

/** Y/U/V values of output pixel (x, y) of a packed I420 picture. */
function pixel(buf: Uint8Array, w: number, h: number, x: number, y: number): number[] {
  const cw = w >> 1;
  const c = (y >> 1) * cw + (x >> 1);
  return [buf[y * w + x], buf[w * h + c], buf[w * h + cw * (h >> 1) + c]];
}

/** True when every pixel of `rect` is black (Y 16, U/V 128). */
function isBlack(buf: Uint8Array, w: number, h: number, rect: number[]): boolean {
  const [x0, y0, rw, rh] = rect;
  for (let y = y0; y < y0 + rh; y++) {
    for (let x = x0; x < x0 + rw; x++) {
      const [Y, U, V] = pixel(buf, w, h, x, y);
      if (Y !== 16 || U !== 128 || V !== 128) return false;
    }
  }
  return true;
}

/** The first video frame of fixture `name` as the ffmpeg CLI decodes it (after `vf`), I420. */
async function ffmpegFirstFrameI420(name: FixtureName, vf?: string): Promise<Uint8Array> {
  const filter = vf === undefined ? [] : ["-vf", vf];
  const cli = await new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-i",
      await fixture(name),
      ...filter,
      "-frames:v",
      "1",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "yuv420p",
      "-",
    ],
    stdout: "piped",
  }).output();
  assert(cli.success, `ffmpeg could not decode ${name}`);
  return cli.stdout;
}

Deno.test("preserve pillarboxes 4:3 into 16:9 with black bars and picture between", async () => {
  await withFirstFrame("h264_aac_mp4", "video", (f) => {
    using s = new Scaler({ width: 640, height: 360, policy: "preserve" });
    const out = new Uint8Array(640 * 360 * 3 / 2).fill(99); // garbage in the bars must go
    assertEquals(s.scale(f, out), out);
    assertEquals(s.geometry!.target, { x: 80, y: 0, width: 480, height: 360 });
    assert(isBlack(out, 640, 360, [0, 0, 80, 360]), "left bar black");
    assert(isBlack(out, 640, 360, [560, 0, 80, 360]), "right bar black");
    assert(!isBlack(out, 640, 360, [80, 0, 480, 360]), "picture is not black");
    // testsrc2's leftmost column is not black: the picture starts right at the bar.
    assert(pixel(out, 640, 360, 84, 180)[0] !== 16, "picture starts at x=80");
  });
});

Deno.test("preserve letterboxes 16:9 into 4:3", async () => {
  await withFirstFrame("odd_853x480", "video", (f) => {
    using s = new Scaler({ width: 320, height: 240, policy: "preserve" });
    const out = s.scale(f);
    assertEquals(out.length, 320 * 240 * 3 / 2);
    const t = s.geometry!.target;
    assertEquals([t.x, t.width, t.height], [0, 320, 180]);
    assertEquals(t.y, 30);
    assert(isBlack(out, 320, 240, [0, 0, 320, 30]), "top bar");
    assert(isBlack(out, 320, 240, [0, 210, 320, 30]), "bottom bar");
    assert(!isBlack(out, 320, 240, [0, 30, 320, 180]));
  });
});

Deno.test("anamorphic SAR 32:27 720x480 fills a 16:9 raster without bars", async () => {
  await withFirstFrame("anamorphic_sar", "video", (f) => {
    assertEquals(f.sar, { num: 32, den: 27 });
    using s = new Scaler({ width: 640, height: 360, policy: "preserve" });
    s.scale(f);
    assertEquals(s.geometry!.target, { x: 0, y: 0, width: 640, height: 360 });
    // Into a 4:3 raster it letterboxes instead.
    using s43 = new Scaler({ width: 640, height: 480, policy: "preserve" });
    const out = s43.scale(f);
    assertEquals(s43.geometry!.target, { x: 0, y: 60, width: 640, height: 360 });
    assert(isBlack(out, 640, 480, [0, 0, 640, 60]));
  });
});

Deno.test("crop fills the raster by cutting the source; stretch uses everything", async () => {
  await withFirstFrame("h264_aac_mp4", "video", (f) => {
    using crop = new Scaler({ width: 640, height: 360, policy: "crop" });
    const out = crop.scale(f);
    assertEquals(crop.geometry!.source, { x: 0, y: 30, width: 320, height: 180 });
    assertEquals(crop.geometry!.target, { x: 0, y: 0, width: 640, height: 360 });
    assert(!isBlack(out, 640, 360, [0, 0, 640, 8]), "no bars when cropping");
    using stretch = new Scaler({ width: 640, height: 360, policy: "stretch" });
    stretch.scale(f);
    assertEquals(stretch.geometry!.source, { x: 0, y: 0, width: 320, height: 240 });
  });
});

Deno.test("crop picks the centre: scaled crop equals the centre of a full-size scale", async () => {
  await withFirstFrame("frame_counter", "video", (f) => {
    // 320x240 → 320x180 crop keeps rows 30..209 unscaled (same width): compare luma rows.
    using crop = new Scaler({ width: 320, height: 180, policy: "crop" });
    using full = new Scaler({ width: 320, height: 240, policy: "stretch" });
    const a = crop.scale(f);
    const b = full.scale(f);
    let diff = 0;
    for (let y = 0; y < 180; y++) {
      for (let x = 0; x < 320; x++) diff += Math.abs(a[y * 320 + x] - b[(y + 30) * 320 + x]);
    }
    assert(diff / (320 * 180) < 1, `mean luma difference ${diff / (320 * 180)}`);
  });
});

Deno.test("same-size BT.709 limited I420 input is copied byte-exact (vs ffmpeg rawvideo)", async () => {
  // Tagged as the program's colour: nothing to convert. (An untagged 320x240 source is SD,
  // hence BT.601, and is converted: tests/ffi_pictures_test.ts.)
  const cli = await ffmpegFirstFrameI420("h264_bt709_tagged");
  await withFirstFrame("h264_bt709_tagged", "video", (f) => {
    using s = new Scaler({ width: 320, height: 240, policy: "preserve" });
    assertEquals(s.scale(f), cli);
  });
});

Deno.test("one scaler per raster; each frame scales consistently with the others", async () => {
  using d = Demuxer.open(await fixture("h264_aac_mp4"));
  using dec = Decoder.open(d, d.bestStream("video"));
  using s = new Scaler({ width: 320, height: 240, policy: "preserve" });
  using s2 = new Scaler({ width: 160, height: 120, policy: "preserve" });
  let frames = 0;
  for (let p = d.read(); p && frames < 3; p = d.read()) {
    if (p.streamIndex === dec.streamIndex) dec.send(p);
    p.free();
    for (let f = dec.receive(); f; f = dec.receive()) {
      const a = s.scale(f);
      const b = s2.scale(f);
      assertEquals(b.length, 160 * 120 * 3 / 2);
      // Downscaled picture ≈ the full-size copy subsampled.
      let diff = 0;
      for (let y = 8; y < 112; y += 8) {
        for (let x = 8; x < 152; x += 8) {
          diff += Math.abs(b[y * 160 + x] - a[(2 * y) * 320 + 2 * x]);
        }
      }
      assert(diff / 247 < 40, `mean difference ${diff / 247}`);
      frames++;
      f.free();
    }
  }
  assert(frames >= 3);
});

Deno.test("odd source sizes scale to every policy", async () => {
  await withFirstFrame("odd_853x480", "video", (f) => {
    assertEquals([f.width, f.height], [853, 480]);
    for (const policy of ["preserve", "stretch", "crop"] as const) {
      using s = new Scaler({ width: 1280, height: 720, policy });
      assertEquals(s.scale(f).length, 1280 * 720 * 3 / 2);
    }
  });
});

Deno.test("scaleGeometry keeps everything even and inside the raster", () => {
  for (
    const [w, h, sar] of [[853, 480, 1], [720, 576, 16 / 11], [1440, 1080, 4 / 3], [
      101,
      999,
      1,
    ]] as const
  ) {
    for (const policy of ["preserve", "crop", "stretch"] as const) {
      const g = scaleGeometry(w, h, { num: Math.round(sar * 1000), den: 1000 }, {
        width: 1280,
        height: 720,
        policy,
      });
      const t = g.target;
      for (const v of [t.x, t.y, t.width, t.height]) assertEquals(v % 2, 0, `${policy} ${w}x${h}`);
      assert(t.x + t.width <= 1280 && t.y + t.height <= 720);
      assert(g.source.x + g.source.width <= w && g.source.y + g.source.height <= h);
    }
  }
});

Deno.test("bad scaler and resampler arguments are typed errors", async () => {
  await assertRejects(
    () => new Scaler({ width: 641, height: 360, policy: "preserve" }),
    FfmpegArgumentError,
  );
  await assertRejects(
    () => new Scaler({ width: 640, height: 360, policy: "zoom" as "crop" }),
    FfmpegArgumentError,
  );
  await assertRejects(() => new Resampler({ sampleRate: 0, channels: 2 }), FfmpegArgumentError);
  await withFirstFrame("h264_aac_mp4", "video", async (f) => {
    using s = new Scaler({ width: 320, height: 240, policy: "preserve" });
    await assertRejects(() => s.scale(f, new Uint8Array(10)), FfmpegArgumentError);
    using r = new Resampler({ sampleRate: 48000, channels: 2 });
    await assertRejects(() => r.convert(f), FfmpegArgumentError);
  });
});

/** Decodes and resamples all audio of a fixture; returns the S16 output. */
async function resampleAll(name: FixtureName, sampleRate: number, channels: number) {
  using d = Demuxer.open(await fixture(name));
  const ai = d.bestStream("audio");
  using dec = Decoder.open(d, ai);
  using r = new Resampler({ sampleRate, channels });
  const parts: Int16Array[] = [];
  let inSamples = 0;
  const take = () => {
    for (let f = dec.receive(); f; f = dec.receive()) {
      inSamples += f.samples;
      parts.push(r.convert(f));
      f.free();
    }
  };
  for (let p = d.read(); p; p = d.read()) {
    if (p.streamIndex === ai) {
      dec.send(p);
      take();
    }
    p.free();
  }
  dec.send(null);
  take();
  parts.push(r.convert(null));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    assertEquals(p.length % channels, 0);
    out.set(p, o);
    o += p.length;
  }
  return { out, inSamples, inRate: d.streams[ai].sampleRate! };
}

Deno.test("resampling 44.1 kHz mono AAC to 48 kHz stereo keeps duration and signal", async () => {
  const { out, inSamples, inRate } = await resampleAll("audio_only_m4a", 48000, 2);
  const samples = out.length / 2;
  const expected = Math.round((inSamples * 48000) / inRate);
  assert(Math.abs(samples - expected) <= 2, `${samples} vs ${expected}`);
  // Mono is duplicated to both channels, and a 1 kHz sine is loud, not silence.
  let peak = 0;
  for (let i = 0; i < out.length; i += 2) {
    assertEquals(out[i], out[i + 1]);
    peak = Math.max(peak, Math.abs(out[i]));
  }
  assert(peak > 3000, `peak ${peak}`);
  // Zero crossings of a 1 kHz tone in the middle second: ~2000.
  let crossings = 0;
  for (let i = 48000 * 2 * 0.5; i < 48000 * 2 * 1.5; i += 2) {
    if ((out[i] >= 0) !== (out[i + 2] >= 0)) crossings++;
  }
  assert(Math.abs(crossings - 2000) < 20, `crossings ${crossings}`);
});

Deno.test("resampling at the same rate is sample exact in count", async () => {
  const { out, inSamples } = await resampleAll("h264_aac_mp4", 48000, 2);
  assertEquals(out.length / 2, inSamples);
  const mono = await resampleAll("mpeg2_ts", 48000, 1);
  assertEquals(mono.out.length, mono.inSamples);
});

Deno.test("rows that are not 16-byte aligned (854x480) scale like ffmpeg's bicubic scale filter", async () => {
  // Tagged with the program's colour (BT.709, limited): no conversion, so the same job as ffmpeg's.
  const name: FixtureName = "h264_bt709_tagged";
  for (const [w, h] of [[854, 480], [426, 240], [1280, 720]]) {
    const ours = await withFirstFrame(name, "video", (f) => {
      using s = new Scaler({ width: w, height: h, policy: "stretch" });
      return s.scale(f);
    });
    const cli = await ffmpegFirstFrameI420(name, `scale=${w}:${h}:flags=bicubic`);
    assertEquals(cli.length, ours.length);
    const off = ours.reduce((n, v, i) => n + (v === cli[i] ? 0 : 1), 0);
    assertEquals(off, 0, `${w}x${h}: ${off} of ${ours.length} bytes differ from ffmpeg's`);
  }
});
