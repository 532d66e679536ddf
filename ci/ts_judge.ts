/**
 * Judges an MPEG-TS capture from outside the root that made it: the host's `ffprobe` (streams,
 * frames decoded), the host's `ffmpeg` decoding everything to null (any error line counts), and
 * the project's TS analyzer (continuity-counter, CRC and sync errors).
 *
 * @module
 */

import { analyzeTs } from "../media/ts_analyzer.ts";

/** What a capture was found to hold. */
export interface TsVerdict {
  bytes: number;
  video: { codec: string; width: number; height: number; frames: number } | undefined;
  audio: { codec: string; channels: number; frames: number } | undefined;
  /** ffprobe's format duration, s. */
  durationS: number;
  /** Lines ffmpeg printed at `-v error` while decoding every stream. */
  decodeErrors: string[];
  ccErrors: number;
  crcErrors: number;
  syncLosses: number;
  transportErrors: number;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  channels?: number;
  nb_read_frames?: string;
}

async function run(argv: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    ok: out.success,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Reads `path` with ffprobe, ffmpeg and the TS analyzer. */
export async function judgeTs(path: string): Promise<TsVerdict> {
  const bytes = await Deno.readFile(path);
  const probe = await run([
    "ffprobe",
    "-v",
    "error",
    "-count_frames",
    "-show_entries",
    "stream=codec_type,codec_name,width,height,channels,nb_read_frames:format=duration",
    "-of",
    "json",
    path,
  ]);
  if (!probe.ok) throw new Error(`ffprobe cannot read ${path}: ${probe.stderr}`);
  const info = JSON.parse(probe.stdout) as {
    streams?: ProbeStream[];
    format?: { duration?: string };
  };
  const streams = info.streams ?? [];
  const v = streams.find((s) => s.codec_type === "video");
  const a = streams.find((s) => s.codec_type === "audio");
  const decode = await run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"]);
  const summary = analyzeTs(bytes);
  return {
    bytes: bytes.length,
    video: v && {
      codec: v.codec_name ?? "?",
      width: v.width ?? 0,
      height: v.height ?? 0,
      frames: Number(v.nb_read_frames ?? 0),
    },
    audio: a && {
      codec: a.codec_name ?? "?",
      channels: a.channels ?? 0,
      frames: Number(a.nb_read_frames ?? 0),
    },
    durationS: Number(info.format?.duration ?? 0),
    decodeErrors: [
      ...decode.stderr.split("\n").filter((l) => l.trim() !== ""),
      ...(decode.ok ? [] : ["ffmpeg exited with an error"]),
    ],
    ccErrors: summary.ccErrors,
    crcErrors: summary.crcErrors,
    syncLosses: summary.syncLosses,
    transportErrors: summary.transportErrors,
  };
}

/** One line saying what was judged, with the numbers. */
export function describe(v: TsVerdict): string {
  const video = v.video
    ? `video ${v.video.codec} ${v.video.width}x${v.video.height} ${v.video.frames} frames decoded`
    : "no video";
  const audio = v.audio
    ? `audio ${v.audio.codec} ${v.audio.channels} ch ${v.audio.frames} frames decoded`
    : "no audio";
  return `${(v.bytes / 1e6).toFixed(2)} MB, ${v.durationS.toFixed(2)} s: ${video}; ${audio}; ` +
    `decode errors ${v.decodeErrors.length}, CC errors ${v.ccErrors}, CRC errors ` +
    `${v.crcErrors}, sync losses ${v.syncLosses}`;
}

/** The problems of a verdict, against at least `minVideoFrames` and `minAudioFrames`. */
export function problems(v: TsVerdict, minVideoFrames: number, minAudioFrames: number): string[] {
  const p: string[] = [];
  if (!v.video) p.push("no video stream");
  else if (v.video.frames < minVideoFrames) {
    p.push(`${v.video.frames} video frames decoded, want >= ${minVideoFrames}`);
  }
  if (!v.audio) p.push("no audio stream");
  else if (v.audio.frames < minAudioFrames) {
    p.push(`${v.audio.frames} audio frames decoded, want >= ${minAudioFrames}`);
  }
  if (v.decodeErrors.length > 0) p.push(`decode errors: ${v.decodeErrors.slice(0, 5).join(" | ")}`);
  if (v.ccErrors > 0) p.push(`${v.ccErrors} CC errors`);
  if (v.crcErrors > 0) p.push(`${v.crcErrors} CRC errors`);
  if (v.syncLosses > 0) p.push(`${v.syncLosses} sync losses`);
  if (v.transportErrors > 0) p.push(`${v.transportErrors} transport errors`);
  return p;
}
