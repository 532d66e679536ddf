/**
 * Frame-sink benchmark: 1080p at 30000/1001 fps (48 kHz stereo) pushed for ~10 s per
 * transport to the reference reader (`src/cli/frames.ts`, a separate process, so this
 * process's CPU time is the sink's plus a trivial pacer). Reports frames the reader lost
 * (sequence gaps), frames the sink dropped, throughput and CPU seconds per second of stream.
 *
 * Run alone: `deno run -A bench/frame_sink_bench.ts [seconds]`.
 *
 * @module
 */

import process from "node:process";
import { i420Size } from "../media/program_frame.ts";
import { type ProgramFormat, pts90kForFrame, samplesForFrame } from "../media/program_format.ts";
import type { ProgramFrame } from "../media/program_frame.ts";
import {
  formatFrameSinkEndpoint,
  FrameSink,
  type FrameSinkEndpoint,
} from "../src/outputs/frame_sink.ts";

/** The benchmark's program format: 1920x1080 at 29.97 fps, 48 kHz stereo. */
export const BENCH_FORMAT: ProgramFormat = Object.freeze({
  width: 1920,
  height: 1080,
  frameRate: Object.freeze({ num: 30000, den: 1001 }),
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve" as const,
});

/** Result of one transport's run. */
export interface FrameSinkBenchResult {
  transport: FrameSinkEndpoint["transport"];
  seconds: number;
  framesPushed: number;
  framesSent: number;
  /** Frames the sink dropped for the reader (queue full). */
  sinkDropped: number;
  /** Frames the reader saw missing (sequence gaps). */
  readerDropped: number;
  readerFrames: number;
  /** Payload and header bytes written per second, MB/s (10^6). */
  throughputMBps: number;
  /** Process CPU seconds (user + system) per second of stream: the sink's cost per channel. */
  cpuPerStreamSecond: number;
  /** Longest synchronous `push` call, ms. */
  maxPushMs: number;
  /** Most the pacer ran behind schedule, ms. */
  maxPacerLagMs: number;
}

/** A thrown bench failure carrying the reader's output. */
export class FrameSinkBenchError extends Error {
  override name = "FrameSinkBenchError";
  constructor(message: string, readonly detail: unknown) {
    super(message);
  }
}

/** Distinct pictures cycled through (contents differ so nothing can be cached by accident). */
const DISTINCT_PICTURES = 8;

function makePictures(fmt: ProgramFormat): Uint8Array[] {
  const size = i420Size(fmt.width, fmt.height);
  return Array.from({ length: DISTINCT_PICTURES }, (_, p) => {
    const v = new Uint8Array(size);
    for (let i = 0; i < fmt.width * fmt.height; i++) v[i] = 16 + ((i + p * 29) % 220);
    v.fill(128, fmt.width * fmt.height);
    return v;
  });
}

async function runOne(
  endpoint: FrameSinkEndpoint,
  seconds: number,
  pictures: Uint8Array[],
  audio: Int16Array,
): Promise<FrameSinkBenchResult> {
  const fmt = BENCH_FORMAT;
  const sink = await FrameSink.open({ channelId: 1, format: fmt, endpoints: [endpoint] });
  const fps = fmt.frameRate.num / fmt.frameRate.den;
  const count = Math.round(seconds * fps);
  const readerPath = new URL("../src/cli/frames.ts", import.meta.url).pathname;
  const reader = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      readerPath,
      "--endpoint",
      formatFrameSinkEndpoint(sink.endpoints[0]),
      "--count",
      String(count),
      "--json",
    ],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = reader.output();
  try {
    const deadline = Date.now() + 20_000;
    while (!sink.hasReaders) {
      if (Date.now() > deadline) throw new FrameSinkBenchError("reader never connected", null);
      await new Promise((r) => setTimeout(r, 10));
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let maxPushMs = 0;
    let maxPacerLagMs = 0;
    let k = 0;
    while (sink.hasReaders && k < count + Math.ceil(fps)) {
      const due = t0 + (k * 1000) / fps;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      maxPacerLagMs = Math.max(maxPacerLagMs, performance.now() - due);
      const samples = samplesForFrame(k, fmt);
      const frame: ProgramFrame = {
        frameNumber: k,
        pts90k: pts90kForFrame(k, fmt.frameRate),
        wallClockUtcUs: Date.now() * 1000,
        video: pictures[k % pictures.length],
        audio: audio.subarray(0, samples * fmt.channels),
        samples,
        flags: 0,
      };
      const p0 = performance.now();
      sink.push(frame);
      maxPushMs = Math.max(maxPushMs, performance.now() - p0);
      k++;
    }
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const out = await output;
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const summary = JSON.parse(lines.at(-1) ?? "{}");
    if (!out.success) {
      throw new FrameSinkBenchError(
        `reader failed: ${new TextDecoder().decode(out.stderr)}`,
        lines,
      );
    }
    const stats = sink.stats;
    return {
      transport: endpoint.transport,
      seconds: elapsed,
      framesPushed: stats.framesPushed,
      framesSent: stats.framesSent,
      sinkDropped: stats.framesDropped,
      readerDropped: summary.dropped,
      readerFrames: summary.frames,
      throughputMBps: stats.bytesSent / elapsed / 1e6,
      cpuPerStreamSecond: (cpu.user + cpu.system) / 1e6 / elapsed,
      maxPushMs,
      maxPacerLagMs,
    };
  } finally {
    await sink.close();
  }
}

/**
 * Runs the benchmark over a unix socket and over loopback TCP, `seconds` each (default 10),
 * and returns one result per transport.
 */
export async function runFrameSinkBench(seconds = 10): Promise<FrameSinkBenchResult[]> {
  const pictures = makePictures(BENCH_FORMAT);
  const audio = new Int16Array(2 * BENCH_FORMAT.sampleRate / 10).map((_, i) => (i * 97) % 8000);
  const dir = await Deno.makeTempDir({ prefix: "rv-sink-bench-" });
  try {
    return [
      await runOne({ transport: "unix", path: `${dir}/playout-1` }, seconds, pictures, audio),
      await runOne({ transport: "tcp", hostname: "127.0.0.1", port: 0 }, seconds, pictures, audio),
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const seconds = Deno.args[0] === undefined ? 10 : Number(Deno.args[0]);
  const results = await runFrameSinkBench(seconds);
  for (const r of results) {
    console.log(
      `frame_sink ${r.transport}: 1080p29.97 ${r.seconds.toFixed(1)} s, ` +
        `${r.readerFrames} frames read, dropped sink=${r.sinkDropped} reader=${r.readerDropped}, ` +
        `${r.throughputMBps.toFixed(1)} MB/s, CPU ${
          (r.cpuPerStreamSecond * 100).toFixed(1)
        }% of a core per channel, max push ${r.maxPushMs.toFixed(2)} ms, ` +
        `pacer lag max ${r.maxPacerLagMs.toFixed(1)} ms`,
    );
  }
  console.log(JSON.stringify(results));
}
