/**
 * Pictures of every kind through a real channel (decoder, deinterlacer, scaler, libx264, mpegts
 * muxer) on a virtual clock, judged on the channel's TS by the ffmpeg/ffprobe CLIs: interlaced
 * sources come out progressive (ffmpeg's `idet`), colour lands on its BT.709 limited-range
 * values (expected values from the BT.601/BT.709 equations applied to the source's own decoded
 * values), 10-bit and 4:2:2 sources match ffmpeg's own conversion, VFR and anamorphic sources
 * play, and the stream is tagged progressive BT.709/tv. The ffi-level checks (one picture out
 * per picture in, the scaler's colour) are in `ffi_pictures_test.ts`.
 */

import { assert, assertEquals } from "./assert.ts";
import { fixture, type FixtureName, frameNumberFromI420 } from "./fixtures.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import { block, segment } from "./plan_builders.ts";
import { framesForMs, type ProgramFormat } from "../media/program_format.ts";
import { concatBytes } from "./egress_fixtures.ts";

const EPOCH = Date.UTC(2026, 11, 1, 18, 0, 0);

function spec(format: ProgramFormat, crf = 18): ChannelSpec {
  return {
    id: 16,
    name: "pictures",
    format,
    video: { codec: "libx264", preset: "ultrafast", crf, keyintFrames: 25 },
    audio: { codec: "aac", bitrateKbps: 96 },
    source: { kind: "none" },
  };
}

function format(width: number, height: number, fps: number): ProgramFormat {
  return {
    width,
    height,
    frameRate: { num: fps, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  };
}

/**
 * Plays `path` for `ms` on a channel of `fmt` (libx264 at `crf`; 0 is lossless); returns the
 * TS written to a temp file.
 */
async function playToTs(path: string, fmt: ProgramFormat, ms: number, dir: string, crf = 18) {
  const ts: Uint8Array[] = [];
  const errors: string[] = [];
  const r = new ChannelRunner(
    { spec: spec(fmt, crf), time: new VirtualTimeSource(EPOCH), epochUtcMs: EPOCH, encode: true },
    {
      ts: (d) => ts.push(d),
      frame: () => {},
      blockEvent: () => {},
      log: (level, event, fields) => {
        if (level === "error") errors.push(`${event} ${JSON.stringify(fields)}`);
      },
    },
  );
  r.startBlockSession([block("A", EPOCH, [segment(0, path, ms)])], 0);
  const frames = framesForMs(ms, fmt.frameRate);
  for (let k = 0; k < frames; k++) r.step();
  r.stop();
  assertEquals(errors, []);
  const out = `${dir}/${crypto.randomUUID()}.ts`;
  await Deno.writeFile(out, concatBytes(ts));
  return { out, frames };
}

async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, `${cmd} ${args.join(" ")}: ${stderr}`);
  return { stdout: out.stdout, stderr };
}

/** What ffprobe says about the first video stream of `path`. */
async function probeVideo(path: string): Promise<Record<string, string | number>> {
  const { stdout } = await run("ffprobe", [
    "-v",
    "error",
    "-select_streams",
    "v:0",
    "-count_frames",
    "-show_entries",
    "stream=codec_name,width,height,field_order,color_space,color_primaries,color_transfer," +
    "color_range,nb_read_frames",
    "-of",
    "json",
    path,
  ]);
  return JSON.parse(new TextDecoder().decode(stdout)).streams[0];
}

/** The channel's promise for every stream: progressive BT.709, limited range. */
function assertBt709Progressive(stream: Record<string, string | number>, frames: number) {
  assertEquals(stream.codec_name, "h264");
  assertEquals(stream.field_order, "progressive");
  assertEquals(stream.color_space, "bt709");
  assertEquals(stream.color_primaries, "bt709");
  assertEquals(stream.color_transfer, "bt709");
  assertEquals(stream.color_range, "tv");
  assertEquals(Number(stream.nb_read_frames), frames);
}

/** Decodes frame `index` of `path` as 8-bit 4:2:0 planes at `width`x`height` (ffmpeg CLI). */
async function decodeI420(path: string, index: number, width: number, height: number, vf = "") {
  const filters = [`select=eq(n\\,${index})`, ...(vf ? [vf] : []), "format=yuv420p"];
  const { stdout } = await run("ffmpeg", [
    "-v",
    "error",
    "-i",
    path,
    "-vf",
    filters.join(","),
    "-frames:v",
    "1",
    "-f",
    "rawvideo",
    "-",
  ]);
  assertEquals(stdout.length, width * height * 3 / 2, `decoded frame ${index} of ${path}`);
  const y = stdout.subarray(0, width * height);
  const u = stdout.subarray(width * height, width * height * 5 / 4);
  const v = stdout.subarray(width * height * 5 / 4);
  return { y, u, v };
}

/** Mean of the centre quarter of a plane. */
function centreMean(plane: Uint8Array, width: number, height: number): number {
  let sum = 0;
  let n = 0;
  for (let row = Math.floor(height / 4); row < Math.floor((3 * height) / 4); row++) {
    for (let col = Math.floor(width / 4); col < Math.floor((3 * width) / 4); col++) {
      sum += plane[row * width + col];
      n++;
    }
  }
  return sum / n;
}

/** The source's own decoded pixel values in its own range, as ffmpeg decodes them. */
async function sourceYuv(path: string, width: number, height: number) {
  // `-pix_fmt` of the decoded frames unchanged (yuv420p or yuvj420p): no conversion at all.
  const { stdout } = await run("ffmpeg", [
    "-v",
    "error",
    "-i",
    path,
    "-frames:v",
    "1",
    "-f",
    "rawvideo",
    "-",
  ]);
  assertEquals(stdout.length, width * height * 3 / 2);
  const cw = width / 2;
  const ch = height / 2;
  return {
    y: centreMean(stdout.subarray(0, width * height), width, height),
    cb: centreMean(stdout.subarray(width * height, width * height + cw * ch), cw, ch),
    cr: centreMean(stdout.subarray(width * height + cw * ch), cw, ch),
  };
}

const MATRIX = {
  bt601: { kr: 0.299, kb: 0.114 },
  bt709: { kr: 0.2126, kb: 0.0722 },
} as const;

/**
 * Y'CbCr (8-bit, `range`, `matrix`) → R'G'B' → BT.709 limited-range Y'CbCr, straight from
 * the equations of ITU-R BT.601 / BT.709 (and the "full range" scaling of JFIF / H.273).
 */
function toBt709Limited(
  src: { y: number; cb: number; cr: number },
  range: "full" | "limited",
  matrix: keyof typeof MATRIX,
) {
  const [ys, cs, yo] = range === "full" ? [255, 255, 0] : [219, 224, 16];
  const y = (src.y - yo) / ys;
  const pb = (src.cb - 128) / cs;
  const pr = (src.cr - 128) / cs;
  const { kr, kb } = MATRIX[matrix];
  const r = y + 2 * (1 - kr) * pr;
  const b = y + 2 * (1 - kb) * pb;
  const g = (y - kr * r - kb * b) / (1 - kr - kb);
  for (const c of [r, g, b]) assert(c >= 0 && c <= 1, `test colour out of gamut: ${[r, g, b]}`);
  const { kr: kr2, kb: kb2 } = MATRIX.bt709;
  const y2 = kr2 * r + (1 - kr2 - kb2) * g + kb2 * b;
  return {
    y: 16 + 219 * y2,
    cb: 128 + 224 * ((b - y2) / (2 * (1 - kb2))),
    cr: 128 + 224 * ((r - y2) / (2 * (1 - kr2))),
  };
}

/** Colour tolerance in 8-bit code values (rounding in swscale's RGB step and the encoder). */
const COLOUR_TOLERANCE = 3;

async function colourCase(
  name: FixtureName,
  source: { width: number; height: number; range: "full" | "limited"; matrix: "bt601" | "bt709" },
) {
  const path = await fixture(name);
  const measured = await sourceYuv(path, source.width, source.height);
  const expected = toBt709Limited(measured, source.range, source.matrix);
  // The test can fail: untouched source values would be off by more than the tolerance.
  const distance = Math.max(
    Math.abs(expected.y - measured.y),
    Math.abs(expected.cb - measured.cb),
    Math.abs(expected.cr - measured.cr),
  );
  assert(distance > 2 * COLOUR_TOLERANCE, `conversion too small to see: ${distance}`);
  const fmt = format(320, 240, 25);
  const dir = await Deno.makeTempDir();
  try {
    const { out, frames } = await playToTs(path, fmt, 800, dir);
    assertBt709Progressive(await probeVideo(out), frames);
    const { y, u, v } = await decodeI420(out, 10, fmt.width, fmt.height);
    const got = {
      y: centreMean(y, 320, 240),
      cb: centreMean(u, 160, 120),
      cr: centreMean(v, 160, 120),
    };
    console.log(`${name}: source ${JSON.stringify(measured)}`);
    console.log(`  expected ${JSON.stringify(expected)}, channel ${JSON.stringify(got)}`);
    for (const c of ["y", "cb", "cr"] as const) {
      assert(
        Math.abs(got[c] - expected[c]) <= COLOUR_TOLERANCE,
        `${c}: channel ${got[c].toFixed(2)}, BT.709 limited ${expected[c].toFixed(2)}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("full-range BT.709 source: flat colour lands on its limited-range values", async () => {
  await colourCase("flat_fullrange_709", {
    width: 320,
    height: 240,
    range: "full",
    matrix: "bt709",
  });
});

Deno.test("BT.601 source: flat colour lands on its BT.709 values", async () => {
  await colourCase("flat_bt601", { width: 640, height: 480, range: "limited", matrix: "bt601" });
});

/** ffmpeg's `idet` verdicts over a file, one per frame ("single frame detection" counts). */
async function idetSingle(path: string) {
  const { stderr } = await run("ffmpeg", [
    "-hide_banner",
    "-i",
    path,
    "-vf",
    "idet",
    "-f",
    "null",
    "-",
  ]);
  const m =
    /Single frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+) Undetermined:\s*(\d+)/
      .exec(stderr);
  assert(m, `no idet summary in: ${stderr.slice(-500)}`);
  const [tff, bff, progressive, undetermined] = m.slice(1).map(Number);
  return { tff, bff, progressive, undetermined };
}

/** Average PSNR (dB, luma) of `path`'s video against `source` put through `vf` by ffmpeg. */
async function psnrAgainst(path: string, source: string, vf: string): Promise<number> {
  const { stderr } = await run("ffmpeg", [
    "-hide_banner",
    "-i",
    path,
    "-i",
    source,
    "-lavfi",
    // Both from their first picture (the TS starts at the muxer's offset, the file at 0).
    `[0:v]setpts=PTS-STARTPTS[out];[1:v]setpts=PTS-STARTPTS,${vf}[ref];[out][ref]psnr=shortest=1`,
    "-f",
    "null",
    "-",
  ]);
  const m = /PSNR y:([\d.]+|inf)/.exec(stderr);
  assert(m, `no PSNR in: ${stderr.slice(-500)}`);
  return m[1] === "inf" ? Infinity : Number(m[1]);
}

Deno.test("interlaced H.264 and MPEG-2 come out progressive: idet, and bwdif's own output", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["interlaced_576i25", "interlaced_mpeg2_ts"] as const) {
      const path = await fixture(name);
      const source = await idetSingle(path);
      // The fixture really is interlaced: idet sees combing in every frame.
      assert(source.tff >= 45 && source.progressive === 0, `${name}: ${JSON.stringify(source)}`);
      const fmt = format(720, 576, 25);
      // Lossless encoding (CRF 0): the pictures compared below are the deinterlacer's own.
      const { out, frames } = await playToTs(path, fmt, 1800, dir, 0);
      assertBt709Progressive(await probeVideo(out), frames);
      const result = await idetSingle(out);
      // Both SD sources are BT.601 (one tagged, one untagged at 576 lines): the reference
      // converts the matrix the same way, with ffmpeg's scale filter.
      const colour = "scale=in_color_matrix=bt601:out_color_matrix=bt709:in_range=tv:out_range=tv";
      const deinterlaced = await psnrAgainst(
        out,
        path,
        `bwdif=mode=send_frame:parity=auto:deint=interlaced,${colour}`,
      );
      const woven = await psnrAgainst(out, path, colour);
      console.log(
        `${name}: idet source ${JSON.stringify(source)}, channel ${JSON.stringify(result)}; ` +
          `PSNR vs ffmpeg bwdif ${deinterlaced.toFixed(1)} dB, vs no deinterlacing ` +
          `${woven.toFixed(1)} dB`,
      );
      // bwdif cannot fix the very first picture (nothing before it): a few frames of slack.
      const interlaced = result.tff + result.bff;
      assert(
        interlaced <= frames / 10 && result.progressive >= frames * 0.9 - 1,
        `${name}: channel output judged ${JSON.stringify(result)} of ${frames} frames`,
      );
      assert(deinterlaced >= 40, `${name}: ${deinterlaced} dB from ffmpeg's bwdif output`);
      assert(woven < deinterlaced - 6, `${name}: as close to the woven source (${woven} dB)`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * 10-bit and 4:2:2 sources (BT.709-tagged, so no matrix change is due) match ffmpeg's own
 * conversion of the same frame to 8-bit 4:2:0: mean absolute difference per plane.
 */
Deno.test("10-bit (H.264, HEVC) and 4:2:2 sources match ffmpeg's 8-bit 4:2:0 of them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["h264_10bit", "hevc_10bit", "h264_422"] as const) {
      const path = await fixture(name);
      const fmt = format(320, 240, 25);
      const { out, frames } = await playToTs(path, fmt, 800, dir);
      assertBt709Progressive(await probeVideo(out), frames);
      const k = 12; // 25 fps in, 25 fps out: channel frame k shows source frame k
      const got = await decodeI420(out, k, 320, 240);
      const ref = await decodeI420(path, k, 320, 240);
      const mad = (a: Uint8Array, b: Uint8Array) => {
        let s = 0;
        for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
        return s / a.length;
      };
      const diffs = [mad(got.y, ref.y), mad(got.u, ref.u), mad(got.v, ref.v)];
      console.log(`${name}: mean |channel - ffmpeg| Y/U/V ${diffs.map((d) => d.toFixed(2))}`);
      for (const d of diffs) assert(d < 3, `${name}: planes differ by ${diffs}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("VFR source: each output frame shows the source picture on screen at its time", async () => {
  // Frames 0-24 at 25 fps (t = i/25), 25-74 at 50 fps (t = 1 + (i-25)/50), numbers burned in.
  const path = await fixture("vfr_counter_mkv");
  const fmt = format(320, 240, 25);
  const ts: Uint8Array[] = [];
  const r = new ChannelRunner(
    { spec: spec(fmt), time: new VirtualTimeSource(EPOCH), epochUtcMs: EPOCH, encode: false },
    { ts: (d) => ts.push(d), frame: () => {}, blockEvent: () => {}, log: () => {} },
  );
  r.startBlockSession([block("A", EPOCH, [segment(0, path, 1800)])], 0);
  const seen: number[] = [];
  for (let k = 0; k < 45; k++) seen.push(frameNumberFromI420(r.step().video, 320, 240));
  r.stop();
  // Output frame k spans [k/25, (k+1)/25): the last source picture starting by its middle.
  const sourceTime = (i: number) => (i < 25 ? i / 25 : 1 + (i - 25) / 50);
  const expected = Array.from({ length: 45 }, (_, k) => {
    const mid = (k + 0.5) / 25;
    let i = 0;
    while (i + 1 < 75 && sourceTime(i + 1) <= mid + 1e-9) i++;
    return i;
  });
  assertEquals(seen, expected);
});

Deno.test("anamorphic SAR 32:27 source is pillar-/letterboxed by its display aspect", async () => {
  // 720x480 at SAR 32:27 displays 16:9: on a 4:3 raster it is letterboxed, not stretched.
  const path = await fixture("anamorphic_sar");
  const fmt = format(320, 240, 25);
  const dir = await Deno.makeTempDir();
  try {
    const { out, frames } = await playToTs(path, fmt, 800, dir);
    assertBt709Progressive(await probeVideo(out), frames);
    const { y } = await decodeI420(out, 10, 320, 240);
    // 16:9 in 320x240: a 320x180 picture, bars of 30 rows above and below.
    const rowMean = (row: number) => {
      let s = 0;
      for (let x = 0; x < 320; x++) s += y[row * 320 + x];
      return s / 320;
    };
    for (const row of [0, 10, 25, 214, 229, 239]) {
      assert(Math.abs(rowMean(row) - 16) <= 2, `row ${row} is not black bar: ${rowMean(row)}`);
    }
    const picture = [40, 120, 200].map(rowMean);
    assert(picture.every((m) => m > 30), `picture rows look black: ${picture}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
