/**
 * FFI benchmark: decode + scale + encode of the same 1080p clip to 720p H.264 (veryfast, CRF 23,
 * keyint 60, closed GOP, no scene-cut) muxed to MPEG-TS, by this project's ffi/ code and by the
 * `ffmpeg` CLI with the same settings. Each runs as a child process under `/usr/bin/time`, so
 * both CPU figures are the child's user+system seconds (ffi/ side includes Deno's start-up,
 * reported separately as `denoStartupCpuSeconds`).
 *
 * Run on its own: `deno run --allow-all bench/ffi_bench.ts`; the bench runner calls
 * {@link runFfiBench}.
 *
 * @module
 */

import { fixture } from "../tests/fixtures.ts";

const WIDTH = 1280;
const HEIGHT = 720;
const KEYINT = 60;
const CRF = 23;

/** CPU and wall time of one child process. */
interface ChildTimes {
  wallSeconds: number;
  cpuSeconds: number;
}

async function timed(cmd: string, args: string[]): Promise<ChildTimes> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIMES %e %U %S", cmd, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${err}`);
  const m = /TIMES ([\d.]+) ([\d.]+) ([\d.]+)/.exec(err);
  if (!m) throw new Error(`no timing from /usr/bin/time:\n${err}`);
  return { wallSeconds: Number(m[1]), cpuSeconds: round(Number(m[2]) + Number(m[3])) };
}

/** The transcode by ffi/, in this process (child mode). Returns the frame count. */
async function transcodeWithFfi(input: string, output: string): Promise<number> {
  const { Decoder, Demuxer, Muxer, Scaler, VideoEncoder } = await import("../ffi/mod.ts");
  using d = Demuxer.open(input);
  const vi = d.bestStream("video");
  const rate = d.streams[vi].frameRate ?? { num: 30, den: 1 };
  using dec = Decoder.open(d, vi);
  using scaler = new Scaler({ width: WIDTH, height: HEIGHT, policy: "preserve" });
  using enc = new VideoEncoder({
    codec: "libx264",
    width: WIDTH,
    height: HEIGHT,
    frameRate: rate,
    preset: "veryfast",
    crf: CRF,
    keyint: KEYINT,
  });
  using mux = new Muxer({ format: "mpegts", file: output });
  const vs = mux.addStream(enc);
  mux.writeHeader();
  const picture = new Uint8Array(scaler.frameSize);
  let frames = 0;
  const pump = () => {
    for (let f = dec.receive(); f; f = dec.receive()) {
      for (const p of enc.encode(scaler.scale(f, picture), frames++)) mux.write(vs, p);
      f.free();
    }
  };
  for (let p = d.read(); p; p = d.read()) {
    if (p.streamIndex === vi) {
      dec.send(p);
      pump();
    }
    p.free();
  }
  dec.send(null);
  pump();
  for (const p of enc.encode(null, 0)) mux.write(vs, p);
  mux.finish();
  return frames;
}

function ffmpegArgs(input: string, output: string): string[] {
  return [
    "-y",
    "-v",
    "error",
    "-i",
    input,
    "-an",
    "-vf",
    `scale=${WIDTH}:${HEIGHT}`,
    "-sws_flags",
    "bicubic",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    String(CRF),
    "-g",
    String(KEYINT),
    "-keyint_min",
    String(KEYINT),
    "-flags",
    "+cgop",
    "-x264-params",
    `scenecut=0:open-gop=0:keyint=${KEYINT}:min-keyint=${KEYINT}`,
    "-f",
    "mpegts",
    output,
  ];
}

async function frameCount(path: string): Promise<number> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v",
      "-show_entries",
      "stream=nb_read_frames",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
  }).output();
  return parseInt(new TextDecoder().decode(out.stdout));
}

/**
 * Runs both transcodes (best of `runs` each, by CPU) and returns CPU seconds, the ratio
 * ffi/ffmpeg (target ≤ 1.10) and frame counts.
 */
export async function runFfiBench(runs = 2): Promise<Record<string, unknown>> {
  const input = await fixture("h264_1080p_5s");
  const dir = await Deno.makeTempDir();
  try {
    const self = new URL(import.meta.url).pathname;
    const deno = Deno.execPath();
    const best = async (cmd: string, args: string[]) => {
      let result: ChildTimes | undefined;
      for (let i = 0; i < runs; i++) {
        const t = await timed(cmd, args);
        if (!result || t.cpuSeconds < result.cpuSeconds) result = t;
      }
      return result!;
    };
    const ffmpeg = await best("ffmpeg", ffmpegArgs(input, `${dir}/cli.ts`));
    const ffi = await best(deno, ["run", "--allow-all", self, "--child", input, `${dir}/ffi.ts`]);
    const startup = await best(deno, ["run", "--allow-all", self, "--noop"]);
    const ffiNet = ffi.cpuSeconds - startup.cpuSeconds;
    const result = {
      clip: "1920x1080 H.264 30 fps 5 s → 1280x720 libx264 veryfast crf 23, mpegts",
      ffmpegCpuSeconds: ffmpeg.cpuSeconds,
      ffmpegWallSeconds: ffmpeg.wallSeconds,
      ffiCpuSeconds: ffi.cpuSeconds,
      ffiWallSeconds: ffi.wallSeconds,
      denoStartupCpuSeconds: startup.cpuSeconds,
      ffiCpuSecondsExcludingStartup: round(ffiNet),
      ratio: round(ffi.cpuSeconds / ffmpeg.cpuSeconds),
      ratioExcludingDenoStartup: round(ffiNet / ffmpeg.cpuSeconds),
      target: 1.1,
      ffmpegFrames: await frameCount(`${dir}/cli.ts`),
      ffiFrames: await frameCount(`${dir}/ffi.ts`),
    };
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await transcodeWithFfi(Deno.args[1], Deno.args[2]);
  } else if (Deno.args[0] !== "--noop") {
    const r = await runFfiBench();
    console.log(JSON.stringify(r, null, 2));
    console.log(
      `ffmpeg CLI ${r.ffmpegCpuSeconds} s CPU | ffi ${r.ffiCpuSeconds} s CPU | ratio ${r.ratio} ` +
        `(${r.ratioExcludingDenoStartup} without Deno start-up; target ≤ ${r.target})`,
    );
  }
}
