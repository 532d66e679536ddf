/**
 * Test media made at test time with the `ffmpeg` CLI and cached under `tests/.fixtures/`
 * (git-ignored). Shared by every engineer's tests:
 *
 * ```ts
 * import { fixture, frameNumberFromI420 } from "./fixtures.ts";
 * const path = await fixture("h264_aac_mp4");
 * ```
 *
 * Each fixture is small (320x240-ish, 2-3 s). Files are written to a temporary name and renamed,
 * so parallel test files can ask for the same fixture safely.
 *
 * @module
 */

/** Where fixtures are cached. */
export const FIXTURE_DIR = new URL("./.fixtures/", import.meta.url).pathname;

const FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/** Width of one bit block of the frame-number band in the `frame_counter*` fixtures. */
const BAND_BITS = 16;
/** Height of the band, in pixels of the 320x240 source. */
const BAND_HEIGHT = 16;

/**
 * Video filter that burns the frame number into the top 16 rows as 16 blocks (bit 0 leftmost,
 * white = 1, black = 0), plus the number as text when a font is installed. Readable back with
 * {@link frameNumberFromI420}.
 */
export function frameNumberBand(width: number): string {
  const block = width / BAND_BITS;
  const boxes = [`drawbox=x=0:y=0:w=${width}:h=${BAND_HEIGHT}:color=black:t=fill`];
  for (let bit = 0; bit < BAND_BITS; bit++) {
    boxes.push(
      `drawbox=x=${bit * block}:y=0:w=${block}:h=${BAND_HEIGHT}:color=white:t=fill:` +
        `enable='bitand(n\\,${2 ** bit})'`,
    );
  }
  if (fontInstalled()) {
    boxes.push(
      `drawtext=fontfile=${FONT}:text='%{frame_num}':x=8:y=24:fontsize=32:fontcolor=white:` +
        `box=1:boxcolor=black`,
    );
  }
  return boxes.join(",");
}

function fontInstalled(): boolean {
  try {
    return Deno.statSync(FONT).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Reads the frame number burned in by the `frame_counter*` fixtures from an I420 (or any
 * planar 8-bit) luma plane of `width`x`height`, scaled from the 320x240 source without
 * cropping (same aspect or stretched). Returns -1 when the band is unreadable.
 */
export function frameNumberFromI420(
  luma: Uint8Array,
  width: number,
  height: number,
  region: { x: number; y: number; width: number; height: number } = {
    x: 0,
    y: 0,
    width,
    height,
  },
): number {
  const y = region.y + Math.floor(((BAND_HEIGHT / 2) / 240) * region.height);
  let n = 0;
  for (let bit = 0; bit < BAND_BITS; bit++) {
    const x = region.x + Math.floor(((bit + 0.5) / BAND_BITS) * region.width);
    const v = luma[y * width + x];
    if (v > 160) n |= 1 << bit;
    else if (v > 80) return -1;
  }
  return n;
}

const SINE = "sine=frequency=440:sample_rate=48000:duration=3";
const TESTSRC = (size: string, rate: string, d: number) =>
  `testsrc2=size=${size}:rate=${rate}:duration=${d}`;

/** Every fixture name and how it is made (ffmpeg arguments after `-y -hide_banner`). */
const RECIPES: Record<string, { ext: string; args: () => string[] }> = {
  /** H.264 High + AAC-LC stereo 48 kHz, 320x240, 25 fps, 2 s (50 frames). */
  h264_aac_mp4: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 2)),
      ...lavfi("sine=frequency=440:sample_rate=48000:duration=2"),
      ...x264(),
      ...["-c:a", "aac", "-b:a", "96k", "-ac", "2"],
    ],
  },
  /** MPEG-2 video + MP2 audio in MPEG-TS, 320x240, 25 fps, 2 s. */
  mpeg2_ts: {
    ext: "ts",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 2)),
      ...lavfi("sine=frequency=440:sample_rate=48000:duration=2"),
      ...["-c:v", "mpeg2video", "-b:v", "1M", "-g", "12", "-c:a", "mp2", "-b:a", "128k"],
      ...["-f", "mpegts"],
    ],
  },
  /** VP9 + Opus in WebM, 320x240, 25 fps, 2 s. */
  vp9_opus_webm: {
    ext: "webm",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 2)),
      ...lavfi("sine=frequency=440:sample_rate=48000:duration=2"),
      ...["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k"],
      ...["-c:a", "libopus", "-b:a", "64k"],
    ],
  },
  /** AAC mono at 44.1 kHz in M4A, 2 s (no video). */
  audio_only_m4a: {
    ext: "m4a",
    args: () => [
      ...lavfi("sine=frequency=1000:sample_rate=44100:duration=2"),
      ...["-c:a", "aac", "-b:a", "64k", "-ac", "1"],
    ],
  },
  /** H.264 only (no audio), 320x240, 25 fps, 1 s, tagged BT.709 limited (the program's colour). */
  h264_bt709_tagged: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 1)),
      ...x264(),
      ...["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
      ...["-color_range", "tv"],
    ],
  },
  /** H.264 only (no audio), 320x240, 25 fps, 2 s. */
  video_only_mp4: {
    ext: "mp4",
    args: () => [...lavfi(TESTSRC("320x240", "25", 2)), ...x264()],
  },
  /** Odd frame size 853x480 (VP9 allows odd sizes in 4:2:0), 25 fps, 1 s. */
  odd_853x480: {
    ext: "webm",
    args: () => [
      ...lavfi(TESTSRC("854x480", "25", 1)),
      ...["-vf", "scale=853:480", "-pix_fmt", "yuv420p"],
      ...["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k"],
    ],
  },
  /** Anamorphic 720x480 with SAR 32:27 (16:9 display), H.264, 30000/1001 fps, 1 s. */
  anamorphic_sar: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("720x480", "30000/1001", 1)),
      ...["-vf", "setsar=32/27"],
      ...x264(),
    ],
  },
  /** H.264 + AAC at 30000/1001 fps, 320x240, 2 s (60 frames). */
  fps_30000_1001: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "30000/1001", 2)),
      ...lavfi("sine=frequency=440:sample_rate=48000:duration=2"),
      ...x264(),
      ...["-c:a", "aac", "-b:a", "96k"],
    ],
  },
  /**
   * H.264 + AAC at 25 fps, 320x240, 3 s (75 frames) with the frame number burned in (see
   * {@link frameNumberFromI420}); a keyframe every 25 frames.
   */
  frame_counter: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 3)),
      ...lavfi(SINE),
      ...["-vf", frameNumberBand(320)],
      ...x264(),
      ...["-x264-params", "keyint=25:min-keyint=25:scenecut=0"],
      ...["-c:a", "aac", "-b:a", "96k"],
    ],
  },
  /** Like `frame_counter` at 30000/1001 fps (90 frames, 3 s). */
  frame_counter_2997: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "30000/1001", 3)),
      ...lavfi(SINE),
      ...["-vf", frameNumberBand(320)],
      ...x264(),
      ...["-x264-params", "keyint=25:min-keyint=25:scenecut=0"],
      ...["-c:a", "aac", "-b:a", "96k"],
    ],
  },
  /**
   * Like `frame_counter` at 60 fps (180 frames, 3 s), with x264's B-frames (some of them
   * non-reference): the source of 60 → 30 conversion and decode skipping.
   */
  frame_counter_60: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "60", 3)),
      ...lavfi(SINE),
      ...["-vf", frameNumberBand(320)],
      ...x264(),
      ...["-x264-params", "keyint=60:min-keyint=60:scenecut=0:bframes=3:b-pyramid=normal"],
      ...["-c:a", "aac", "-b:a", "96k"],
    ],
  },
  /** Like `frame_counter_60` at 60000/1001 in Matroska (millisecond timestamps, rounded). */
  frame_counter_5994_mkv: {
    ext: "mkv",
    args: () => [
      ...lavfi(TESTSRC("320x240", "60000/1001", 3)),
      ...lavfi(SINE),
      ...["-vf", frameNumberBand(320)],
      ...x264(),
      ...["-x264-params", "keyint=60:min-keyint=60:scenecut=0:bframes=3:b-pyramid=normal"],
      ...["-c:a", "aac", "-b:a", "96k"],
    ],
  },
  /** 640x360 H.264 + AAC, 30 fps, 10 s: a "larger clip" for worker/event-loop tests. */
  h264_aac_640x360_10s: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("640x360", "30", 10)),
      ...lavfi("sine=frequency=440:sample_rate=48000:duration=10"),
      ...x264(),
      ...["-c:a", "aac", "-b:a", "96k"],
    ],
  },
  /**
   * Interlaced 576i25 (720x576, top field first, BT.601 "bt470bg" tags): 50 fps motion woven
   * into 25 frames/s of two fields each (`tinterlace=interleave_top`), H.264 coded interlaced
   * (`+ildct+ilme`), 2 s (50 frames), with AAC.
   */
  interlaced_576i25: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("720x576", "50", 2)),
      ...lavfi(SINE),
      ...["-vf", "tinterlace=interleave_top,setfield=tff"],
      ...x264(),
      ...["-flags", "+ildct+ilme", "-x264-params", "tff=1"],
      ...["-colorspace", "bt470bg", "-color_primaries", "bt470bg", "-color_trc", "gamma28"],
      ...["-c:a", "aac", "-b:a", "96k", "-shortest"],
    ],
  },
  /** Interlaced MPEG-2 in MPEG-TS, 720x576 TFF, 25 frames/s of fields, 2 s, MP2 audio. */
  interlaced_mpeg2_ts: {
    ext: "ts",
    args: () => [
      ...lavfi(TESTSRC("720x576", "50", 2)),
      ...lavfi(SINE),
      ...["-vf", "tinterlace=interleave_top,setfield=tff"],
      ...["-c:v", "mpeg2video", "-b:v", "4M", "-g", "12", "-flags", "+ildct+ilme"],
      ...["-top", "1", "-c:a", "mp2", "-b:a", "128k", "-shortest", "-f", "mpegts"],
    ],
  },
  /** 10-bit 4:2:0 (yuv420p10le) H.264 High 10, BT.709 tags, 320x240, 25 fps, 1 s, with AAC. */
  h264_10bit: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 1)),
      ...lavfi(SINE),
      ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p10le"],
      ...["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
      ...["-c:a", "aac", "-b:a", "96k", "-shortest"],
    ],
  },
  /** 10-bit HEVC (yuv420p10le, libx265 Main 10), BT.709 tags, 320x240, 25 fps, 1 s. */
  hevc_10bit: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 1)),
      ...["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"],
      ...["-x265-params", "log-level=error"],
      ...["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
    ],
  },
  /** 4:2:2 (yuv422p) H.264 High 4:2:2, BT.709 tags, 320x240, 25 fps, 1 s, with AAC. */
  h264_422: {
    ext: "mp4",
    args: () => [
      ...lavfi(TESTSRC("320x240", "25", 1)),
      ...lavfi(SINE),
      ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv422p"],
      ...["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
      ...["-c:a", "aac", "-b:a", "96k", "-shortest"],
    ],
  },
  /**
   * Variable frame rate in Matroska, frame number burned in: frames 0-24 at 25 fps (0-1 s),
   * frames 25-74 at 50 fps (1-2 s), no audio.
   */
  vfr_counter_mkv: {
    ext: "mkv",
    args: () => [
      ...lavfi(TESTSRC("320x240", "50", 2)),
      // Every other picture of the first second, all of the second; numbered after selection.
      ...["-vf", `select='lt(n\\,50)*not(mod(n\\,2))+gte(n\\,50)',${frameNumberBand(320)}`],
      ...["-fps_mode", "vfr"],
      ...x264(),
    ],
  },
  /**
   * One flat colour in full range (yuvj420p, "pc"), BT.709 tags, 320x240, 25 fps, 1 s: Y 200,
   * Cb 138, Cr 121 set on the limited scale (geq works on yuv420p) and expanded to full range
   * by ffmpeg (about 220, 139, 120), H.264 with the full-range VUI flag.
   */
  flat_fullrange_709: {
    ext: "mp4",
    args: () => [
      ...lavfi("color=c=black:size=320x240:rate=25:duration=1"),
      ...["-vf", "format=yuvj420p,geq=lum=205:cb=138:cr=121"],
      ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "10", "-pix_fmt", "yuvj420p"],
      ...["-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709"],
      ...["-color_trc", "bt709"],
    ],
  },
  /**
   * Like `flat_fullrange_709` in 10 bits (yuv420p10le, "pc"; there is no 10-bit `yuvj`, so the
   * range is only in the frame's tag): Y about 880, Cb 556, Cr 480 on 0-1023, H.264 High 10.
   */
  flat_fullrange_10bit: {
    ext: "mp4",
    args: () => [
      ...lavfi("color=c=black:size=320x240:rate=25:duration=1"),
      ...["-vf", "format=yuv420p,geq=lum=205:cb=138:cr=121,scale=out_range=full"],
      ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "10", "-pix_fmt", "yuv420p10le"],
      ...["-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709"],
      ...["-color_trc", "bt709"],
    ],
  },
  /**
   * One flat colour in limited range with BT.601 tags (smpte170m), 640x480, 30000/1001 fps,
   * 1 s: planes set directly (Y 100, Cb 100, Cr 200: a red), H.264.
   */
  flat_bt601: {
    ext: "mp4",
    args: () => [
      ...lavfi("color=c=black:size=640x480:rate=30000/1001:duration=1"),
      ...["-vf", "format=yuv420p,geq=lum=100:cb=100:cr=200"],
      ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "10", "-pix_fmt", "yuv420p"],
      ...["-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries", "smpte170m"],
      ...["-color_trc", "smpte170m"],
    ],
  },
  /** 1920x1080 H.264 at 30 fps, 5 s, no audio: the benchmark clip (not for unit tests). */
  h264_1080p_5s: {
    ext: "mp4",
    args: () => [...lavfi(TESTSRC("1920x1080", "30", 5)), ...x264()],
  },
};

/** Fixtures derived from another fixture's bytes rather than encoded. */
const DERIVED: Record<string, { ext: string; make: () => Promise<Uint8Array> }> = {
  /** The first half of a faststart MP4: the index is complete, the media data is cut. */
  truncated_mp4: {
    ext: "mp4",
    make: async () => {
      const full = await Deno.readFile(await fixture("faststart_mp4"));
      return full.subarray(0, Math.floor(full.length / 2));
    },
  },
  /** 64 KiB of deterministic pseudo-random bytes named .mp4. */
  random_bytes_mp4: {
    ext: "mp4",
    make: () => {
      const out = new Uint8Array(64 * 1024);
      let x = 0x12345678;
      for (let i = 0; i < out.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        out[i] = x & 0xff;
      }
      return Promise.resolve(out);
    },
  },
  /** A zero-length file named .mp4. */
  empty_mp4: { ext: "mp4", make: () => Promise.resolve(new Uint8Array(0)) },
};

RECIPES.faststart_mp4 = {
  ext: "mp4",
  args: () => [...RECIPES.h264_aac_mp4.args(), "-movflags", "+faststart"],
};

/** Names of all fixtures. */
export type FixtureName =
  | "h264_aac_mp4"
  | "mpeg2_ts"
  | "vp9_opus_webm"
  | "audio_only_m4a"
  | "video_only_mp4"
  | "h264_bt709_tagged"
  | "odd_853x480"
  | "anamorphic_sar"
  | "fps_30000_1001"
  | "frame_counter"
  | "frame_counter_2997"
  | "frame_counter_60"
  | "frame_counter_5994_mkv"
  | "h264_aac_640x360_10s"
  | "h264_1080p_5s"
  | "interlaced_576i25"
  | "interlaced_mpeg2_ts"
  | "h264_10bit"
  | "hevc_10bit"
  | "h264_422"
  | "vfr_counter_mkv"
  | "flat_fullrange_709"
  | "flat_bt601"
  | "flat_fullrange_10bit"
  | "faststart_mp4"
  | "truncated_mp4"
  | "random_bytes_mp4"
  | "empty_mp4";

/** All fixture names. */
export const FIXTURE_NAMES: readonly FixtureName[] = Object.freeze(
  [...Object.keys(RECIPES), ...Object.keys(DERIVED)] as FixtureName[],
);

const inFlight = new Map<string, Promise<string>>();

/** Path of fixture `name`, making it first if it is not cached. */
export function fixture(name: FixtureName): Promise<string> {
  let p = inFlight.get(name);
  if (!p) {
    p = make(name);
    inFlight.set(name, p);
    p.catch(() => inFlight.delete(name));
  }
  return p;
}

async function make(name: string): Promise<string> {
  const recipe = RECIPES[name];
  const derived = DERIVED[name];
  if (!recipe && !derived) throw new Error(`unknown fixture ${JSON.stringify(name)}`);
  // The recipe's hash is part of the name, so a changed recipe never reuses a stale file.
  const tag = recipe ? `-${hash(JSON.stringify(recipe.args()))}` : "";
  const path = `${FIXTURE_DIR}${name}${tag}.${(recipe ?? derived).ext}`;
  if (await exists(path)) return path;
  await Deno.mkdir(FIXTURE_DIR, { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID()}.tmp.${(recipe ?? derived).ext}`;
  if (recipe) {
    await ffmpegCli(["-y", "-hide_banner", "-loglevel", "error", ...recipe.args(), tmp]);
  } else {
    await Deno.writeFile(tmp, await derived.make());
  }
  await Deno.rename(tmp, path);
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

function lavfi(graph: string): string[] {
  return ["-f", "lavfi", "-i", graph];
}

function x264(): string[] {
  return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"];
}

/** Runs the `ffmpeg` CLI; throws with its stderr on failure. */
export async function ffmpegCli(args: string[]): Promise<void> {
  const out = await new Deno.Command("ffmpeg", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`ffmpeg ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Runs `ffprobe -of json` with `args` on `path` and returns the parsed JSON. */
export async function ffprobe(path: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command("ffprobe", {
    args: ["-v", "error", "-of", "json", ...args, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`ffprobe ${args.join(" ")} ${path}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Presentation timestamps (seconds) of every decoded frame of a stream, per ffprobe. */
export async function ffprobeFrameTimes(path: string, streamIndex: number): Promise<number[]> {
  const json = await ffprobe(path, [
    "-select_streams",
    String(streamIndex),
    "-show_entries",
    "frame=best_effort_timestamp_time,pts_time",
    "-show_frames",
  ]);
  const frames = json.frames as Array<Record<string, string>>;
  return frames.map((f) => Number(f.best_effort_timestamp_time ?? f.pts_time));
}

/** Total decoded audio samples of a stream, per ffprobe. */
export async function ffprobeAudioSamples(path: string, streamIndex: number): Promise<number> {
  const json = await ffprobe(path, [
    "-select_streams",
    String(streamIndex),
    "-show_entries",
    "frame=nb_samples",
    "-show_frames",
  ]);
  return (json.frames as Array<{ nb_samples: number }>).reduce((s, f) => s + f.nb_samples, 0);
}
