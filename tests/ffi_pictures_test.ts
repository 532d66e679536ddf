/**
 * The ffi layer's pictures: the decoder's interlaced flag, the {@link Deinterlacer} (one
 * progressive picture per interlaced one, same timestamps, the same pixels as ffmpeg's own
 * bwdif), and the {@link Scaler}'s colour conversion to BT.709 limited range. Run by the
 * FFmpeg matrix (ci/) on every release line, where libavfilter's colour negotiation differs.
 */

import { assert, assertEquals } from "./assert.ts";
import { fixture, type FixtureName } from "./fixtures.ts";
import { type DecodedFrame, Decoder, Deinterlacer, Demuxer, Scaler } from "../ffi/mod.ts";

/** Every decoded picture of `name`'s video, handed to `each` (which frees it). */
async function decodeAll(name: FixtureName, each: (f: DecodedFrame, d: Decoder) => void) {
  using demuxer = Demuxer.open(await fixture(name));
  const index = demuxer.bestStream("video");
  using decoder = Decoder.open(demuxer, index, { threads: 1 });
  const drain = () => {
    for (let f = decoder.receive(); f !== null; f = decoder.receive()) each(f, decoder);
  };
  for (let p = demuxer.read(); p !== null; p = demuxer.read()) {
    try {
      if (p.streamIndex === index) {
        decoder.send(p);
        drain();
      }
    } finally {
      p.free();
    }
  }
  decoder.send(null);
  drain();
}

/** Raw 8-bit 4:2:0 frames of `path` through ffmpeg's `vf`, `width`x`height`. */
async function ffmpegFrames(path: string, vf: string, width: number, height: number) {
  const out = await new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-vf", `${vf},format=yuv420p`, "-f", "rawvideo", "-"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const size = (width * height * 3) / 2;
  assertEquals(out.stdout.length % size, 0);
  return Array.from(
    { length: out.stdout.length / size },
    (_, i) => out.stdout.subarray(i * size, (i + 1) * size),
  );
}

Deno.test("interlaced sources: decoder flags them; progressive ones never", async () => {
  for (const name of ["interlaced_576i25", "interlaced_mpeg2_ts"] as const) {
    let frames = 0;
    let interlaced = 0;
    let tff = 0;
    await decodeAll(name, (f) => {
      frames++;
      if (f.interlaced) interlaced++;
      if (f.topFieldFirst) tff++;
      f.free();
    });
    assertEquals([frames, interlaced, tff], [50, 50, 50], name);
  }
  let frames = 0;
  await decodeAll("h264_aac_mp4", (f) => {
    assert(!f.interlaced, `progressive frame ${frames} flagged interlaced`);
    frames++;
    f.free();
  });
  assertEquals(frames, 50);
});

Deno.test("Deinterlacer: one progressive picture per interlaced one, as ffmpeg's bwdif, combing gone", async () => {
  const name = "interlaced_576i25"; // 720x576 TFF, BT.601 tags
  const inPts: number[] = [];
  const outPts: number[] = [];
  const pictures: Uint8Array[] = [];
  let interlacedOut = 0;
  // Same raster: the Scaler only converts BT.601 → BT.709, as ffmpeg's scale does below.
  using scaler = new Scaler({ width: 720, height: 576, policy: "preserve" });
  let deinterlacer: Deinterlacer | undefined;
  const take = (frames: DecodedFrame[]) => {
    for (const f of frames) {
      outPts.push(f.ptsSeconds!);
      if (f.interlaced) interlacedOut++;
      assertEquals([f.width, f.height], [720, 576]);
      pictures.push(scaler.scale(f));
      f.free();
    }
  };
  try {
    await decodeAll(name, (f, decoder) => {
      inPts.push(f.ptsSeconds!);
      deinterlacer ??= new Deinterlacer(decoder.timeBase);
      take(deinterlacer.push(f));
    });
    take(deinterlacer!.flush());
  } finally {
    deinterlacer?.close();
  }
  assertEquals(inPts.length, 50);
  assertEquals(interlacedOut, 0);
  assertEquals(outPts, inPts);
  const reference = await ffmpegFrames(
    await fixture(name),
    "bwdif=mode=send_frame:parity=auto:deint=interlaced," +
      "scale=in_color_matrix=bt601:out_color_matrix=bt709:in_range=tv:out_range=tv",
    720,
    576,
  );
  const woven = await ffmpegFrames(
    await fixture(name),
    "scale=in_color_matrix=bt601:out_color_matrix=bt709:in_range=tv:out_range=tv",
    720,
    576,
  );
  assertEquals(reference.length, 50);
  const mad = (a: Uint8Array, b: Uint8Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
    return s / a.length;
  };
  /**
   * Combing: how much each luma row differs from the mean of its neighbours, where the rows
   * above and below agree with each other (edges of real detail are left out): two fields of
   * different instants woven together make every moving edge a comb.
   */
  const comb = (p: Uint8Array) => {
    let sum = 0;
    for (let y = 1; y < 575; y++) {
      for (let x = 0; x < 720; x++) {
        const up = p[(y - 1) * 720 + x];
        const down = p[(y + 1) * 720 + x];
        if (Math.abs(up - down) < 16) sum += Math.abs(p[y * 720 + x] - (up + down) / 2);
      }
    }
    return sum / (720 * 574);
  };
  let worst = 0;
  let combOurs = 0;
  let combWoven = 0;
  for (let i = 1; i < 50; i++) {
    worst = Math.max(worst, mad(pictures[i], reference[i]));
    combOurs += comb(pictures[i]) / 49;
    combWoven += comb(woven[i]) / 49;
  }
  console.log(
    `mean |ours - ffmpeg bwdif| worst frame ${worst.toFixed(3)}; combing ours ` +
      `${combOurs.toFixed(3)}, woven source ${combWoven.toFixed(3)}`,
  );
  // Same filter, same result (a margin for another FFmpeg's CLI in the matrix's 8.1 root).
  assert(worst < 0.5, `differs from ffmpeg's bwdif by ${worst} per pixel`);
  assert(combOurs < combWoven / 2, `combing ${combOurs}, woven ${combWoven}`);
});

Deno.test("Deinterlacer: a size change mid-stream flushes the old graph, frees, and goes on", async () => {
  const frames: DecodedFrame[] = [];
  let timeBase = { num: 1, den: 1 };
  await decodeAll("interlaced_576i25", (f, d) => {
    timeBase = d.timeBase;
    if (frames.length < 4) frames.push(f);
    else f.free();
  });
  const small: DecodedFrame[] = [];
  await decodeAll("interlaced_mpeg2_ts", (f) => {
    if (small.length < 3) small.push(f);
    else f.free();
  });
  using deinterlacer = new Deinterlacer(timeBase);
  let out = 0;
  for (const f of [...frames, ...small]) {
    for (const g of deinterlacer.push(f)) {
      out++;
      g.free();
    }
  }
  for (const g of deinterlacer.flush()) {
    out++;
    g.free();
  }
  assertEquals(out, 7);
  deinterlacer.close();
  deinterlacer.close(); // twice is fine
});

/** Y'CbCr (8-bit) in `range`/`matrix` → BT.709 limited, from the BT.601/BT.709 equations. */
function toBt709Limited(
  src: { y: number; cb: number; cr: number },
  full: boolean,
  kr: number,
  kb: number,
) {
  const [ys, cs, yo] = full ? [255, 255, 0] : [219, 224, 16];
  const y = (src.y - yo) / ys;
  const r = y + 2 * (1 - kr) * ((src.cr - 128) / cs);
  const b = y + 2 * (1 - kb) * ((src.cb - 128) / cs);
  const g = (y - kr * r - kb * b) / (1 - kr - kb);
  const [kr2, kb2] = [0.2126, 0.0722];
  const y2 = kr2 * r + (1 - kr2 - kb2) * g + kb2 * b;
  return {
    y: 16 + 219 * y2,
    cb: 128 + 224 * ((b - y2) / (2 * (1 - kb2))),
    cr: 128 + 224 * ((r - y2) / (2 * (1 - kr2))),
  };
}

Deno.test("Scaler: full-range and BT.601 flat colours land on BT.709 limited values", async () => {
  const cases = [
    { name: "flat_fullrange_709", full: true, kr: 0.2126, kb: 0.0722, bits: 8 },
    // swscale converts no range of >8-bit YUV directly: the Scaler has it go through RGB.
    { name: "flat_fullrange_10bit", full: true, kr: 0.2126, kb: 0.0722, bits: 10 },
    { name: "flat_bt601", full: false, kr: 0.299, kb: 0.114, bits: 8 },
  ] as const;
  for (const c of cases) {
    // The source's own values (ffmpeg decodes it, no conversion).
    const raw = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", await fixture(c.name), "-frames:v", "1", "-f", "rawvideo", "-"],
      stdout: "piped",
    }).output();
    const w = c.name === "flat_bt601" ? 640 : 320;
    const h = c.name === "flat_bt601" ? 480 : 240;
    // Sample `i` of the decoded planes, 8 or 16 bits wide, as an 8-bit-scale value (a full
    // range code of n bits maps to 0-255 by 255 / (2^n - 1), chroma about 2^(n-1)).
    const bytes = c.bits > 8 ? 2 : 1;
    const sample = (i: number) =>
      bytes === 1 ? raw.stdout[i] : raw.stdout[2 * i] | (raw.stdout[2 * i + 1] << 8);
    const max = 2 ** c.bits - 1;
    const at = (plane: number) => {
      const v = sample(
        plane === 0 ? (h / 2) * w + w / 2 : w * h + (plane - 1) * (w * h / 4) + w * h / 8,
      );
      return plane === 0 ? (v * 255) / max : 128 + ((v - 2 ** (c.bits - 1)) * 255) / max;
    };
    const source = { y: at(0), cb: at(1), cr: at(2) };
    const expected = toBt709Limited(source, c.full, c.kr, c.kb);
    using scaler = new Scaler({ width: 320, height: 240, policy: "stretch" });
    let got: { y: number; cb: number; cr: number } | undefined;
    await decodeAll(c.name, (f) => {
      if (!got) {
        const p = scaler.scale(f);
        got = {
          y: p[120 * 320 + 160],
          cb: p[320 * 240 + 60 * 160 + 80],
          cr: p[320 * 240 * 5 / 4 + 60 * 160 + 80],
        };
      }
      f.free();
    });
    console.log(
      `${c.name}: source ${JSON.stringify(source)} → ${JSON.stringify(got)}, ` +
        `equations ${JSON.stringify(expected)}`,
    );
    for (const k of ["y", "cb", "cr"] as const) {
      assert(Math.abs(got![k] - expected[k]) <= 3, `${c.name} ${k}: ${got![k]} vs ${expected[k]}`);
      // Untouched, the value would be visibly off for at least luma.
    }
    assert(Math.abs(source.y - expected.y) > 6, `${c.name}: conversion too small to see`);
  }
});
