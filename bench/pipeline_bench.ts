/**
 * `deno task bench pipeline`: CPU per frame of one channel's media work — the file producer
 * (demux, decode, scale, resample) and the TS encoder (x264, AAC, MPEG-TS mux) — run as fast
 * as it goes on one thread each, against the ffmpeg CLI doing the same job with one decoder
 * and one x264 thread (the engine's threads once channels ≥ cores). CPU time (user + system)
 * counts, not wall time, and the sides take turns, so a busy shared box inflates both alike.
 * Left out on the engine side: the timeline's picture copy, pacing, and the TS fan-out. The
 * engine runs with its defaults and, for exactly ffmpeg's job, with every picture deblocked.
 *
 * `RV_BENCH_ENGINE_ROOT` runs another checkout's engine code (e.g. main's, from `git archive`)
 * for a before/after in one run.
 *
 * @module
 */

import process from "node:process";
import { filmClip } from "./engine_bench.ts";

const ROOT = Deno.env.get("RV_BENCH_ENGINE_ROOT") ?? new URL("../", import.meta.url).pathname;
const FRAMES = 300;

interface Raster {
  width: number;
  height: number;
}

async function engineMsPerFrame(
  clip: string,
  raster: Raster,
  skipLoopFilter: "auto" | "none",
): Promise<number> {
  const { FileProducer } = await import(`${ROOT}/src/engine/producers/file_producer.ts`);
  const { ProgramTsEncoder } = await import(`${ROOT}/src/engine/program_ts_encoder.ts`);
  const format = {
    ...raster,
    frameRate: { num: 30, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  };
  const producer = new FileProducer(clip, format, { threads: 1, skipLoopFilter });
  const encoder = new ProgramTsEncoder(
    format,
    { codec: "libx264", preset: "ultrafast", crf: 23, keyintFrames: 60, threads: 1 },
    { codec: "aac", bitrateKbps: 128 },
  );
  try {
    let last: Uint8Array = new Uint8Array((raster.width * raster.height * 3) / 2);
    const c0 = process.cpuUsage();
    for (let k = 0; k < FRAMES; k++) {
      const video = producer.nextVideo({ frameNumber: k, dueUtcMs: 0 }) ?? last;
      last = video;
      const audio = producer.nextAudio(1600);
      encoder.encode({
        frameNumber: k,
        pts90k: k * 3000,
        wallClockUtcUs: 0,
        video,
        audio,
        samples: 1600,
        flags: 0,
      });
    }
    encoder.finish();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / FRAMES;
  } finally {
    producer.close();
    encoder.close();
  }
}

async function ffmpegMsPerFrame(clip: string, raster: Raster): Promise<number> {
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      `/usr/bin/time -f "%U %S" ffmpeg -v error -nostdin -threads 1 -i "${clip}" ` +
      `-vf scale=${raster.width}:${raster.height}:flags=bicubic -r 30 -frames:v ${FRAMES} ` +
      `-c:v libx264 -preset ultrafast -crf 23 -g 60 -keyint_min 60 -sc_threshold 0 ` +
      `-threads 1 -filter_threads 1 -c:a aac -b:a 128k -ar 48000 -ac 2 -f mpegts -y /dev/null`,
    ],
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
  const [user, sys] = text.split(" ").map(Number);
  if (!out.success || !Number.isFinite(user)) throw new Error(`ffmpeg failed: ${text}`);
  return ((user + sys) * 1000) / FRAMES;
}

/** Runs the pipeline benchmark; returns the results. */
export async function runPipelineBench(opts: { quick?: boolean } = {}) {
  const clip = await filmClip();
  const rounds = opts.quick ? 1 : 3;
  const out: Record<string, unknown> = {
    engine: ROOT,
    frames: FRAMES,
    load1_start: Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]),
  };
  for (const raster of [{ width: 854, height: 480 }, { width: 1280, height: 720 }]) {
    const e: number[] = [];
    const full: number[] = [];
    const f: number[] = [];
    for (let i = 0; i < rounds; i++) {
      e.push(await engineMsPerFrame(clip, raster, "auto"));
      full.push(await engineMsPerFrame(clip, raster, "none"));
      f.push(await ffmpegMsPerFrame(clip, raster));
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const r2 = (v: number) => Math.round(v * 100) / 100;
    out[`${raster.height}p30`] = {
      /** The engine's defaults (skip_loop_filter "auto"). */
      engine_cpu_ms_per_frame: e.map(r2),
      /** Deblocking every picture, as ffmpeg does: the same job exactly. */
      engine_full_deblock_cpu_ms_per_frame: full.map(r2),
      ffmpeg_cpu_ms_per_frame: f.map(r2),
      ratio_of_medians: Math.round((median(e) / median(f)) * 1000) / 1000,
      ratio_of_medians_full_deblock: Math.round((median(full) / median(f)) * 1000) / 1000,
      target_ratio_max: 0.95,
    };
  }
  out.load1_end = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  return out;
}

if (import.meta.main) {
  const one = Deno.args.indexOf("--one");
  if (one >= 0) {
    // One side, one raster, for `perf stat` around it:
    //   --one engine|ffmpeg <height> [auto|none]
    const [side, height, skip] = Deno.args.slice(one + 1);
    const raster = height === "720" ? { width: 1280, height: 720 } : { width: 854, height: 480 };
    const clip = await filmClip();
    const ms = side === "ffmpeg"
      ? await ffmpegMsPerFrame(clip, raster)
      : await engineMsPerFrame(clip, raster, skip === "none" ? "none" : "auto");
    console.log(JSON.stringify({ side, height, skip, cpu_ms_per_frame: ms }));
  } else {
    console.log(JSON.stringify(await runPipelineBench({ quick: Deno.args.includes("--quick") })));
  }
}
