/**
 * A channel's encoder settings, their defaults (the one place they live: the config file and
 * gRPC-started channels both take them from here) and the limits each codec puts on the program
 * format.
 *
 * @module
 */

import type { ProgramFormat, ProgramFormatProblem } from "./program_format.ts";
import type { Rational } from "./rational.ts";

/** Video codecs the encoder offers. */
export const VIDEO_CODECS = ["libx264", "mpeg2video"] as const;
/** A video codec. */
export type VideoCodec = typeof VIDEO_CODECS[number];
/** Audio codecs the encoder offers. */
export const AUDIO_CODECS = ["aac", "mp2"] as const;
/** An audio codec. */
export type AudioCodec = typeof AUDIO_CODECS[number];

/** x264 presets, fastest first. */
export const X264_PRESETS = [
  "ultrafast",
  "superfast",
  "veryfast",
  "faster",
  "fast",
  "medium",
  "slow",
  "slower",
  "veryslow",
  "placebo",
] as const;

/** Video encoder settings. */
export interface VideoEncoderSettings {
  codec: VideoCodec;
  /** x264 preset (ignored by mpeg2video). */
  preset: string;
  /** Constant quality (x264 CRF); when unset, `bitrateKbps` is used. */
  crf?: number;
  bitrateKbps?: number;
  /** GOP length in frames (fixed, closed). */
  keyintFrames: number;
  threads?: number;
}

/** Audio encoder settings. */
export interface AudioEncoderSettings {
  codec: AudioCodec;
  bitrateKbps: number;
}

/** Default video codec. */
export const DEFAULT_VIDEO_CODEC: VideoCodec = "libx264";
/** Default x264 preset. */
export const DEFAULT_X264_PRESET = "veryfast";
/** Default rate control of libx264 when neither CRF nor a bitrate is given. */
export const DEFAULT_X264_CRF = 23;
/** Default mpeg2video bitrate (it has no CRF mode), kbit/s. */
export const DEFAULT_MPEG2_BITRATE_KBPS = 6000;
/** Default audio codec. */
export const DEFAULT_AUDIO_CODEC: AudioCodec = "aac";
/** Default audio bitrate per codec, kbit/s. */
export const DEFAULT_AUDIO_KBPS: Readonly<Record<AudioCodec, number>> = Object.freeze({
  aac: 128,
  mp2: 192,
});

/** Default GOP length: two seconds of the frame rate, at least one frame. */
export function defaultKeyintFrames(frameRate: Rational): number {
  return Math.max(1, Math.round((2 * frameRate.num) / frameRate.den));
}

/** Encoder defaults: H.264 veryfast CRF 23, 2 s GOP; AAC 128 kb/s. */
export function defaultEncoders(format: ProgramFormat): {
  video: VideoEncoderSettings;
  audio: AudioEncoderSettings;
} {
  return {
    video: {
      codec: DEFAULT_VIDEO_CODEC,
      preset: DEFAULT_X264_PRESET,
      crf: DEFAULT_X264_CRF,
      keyintFrames: defaultKeyintFrames(format.frameRate),
    },
    audio: { codec: DEFAULT_AUDIO_CODEC, bitrateKbps: DEFAULT_AUDIO_KBPS[DEFAULT_AUDIO_CODEC] },
  };
}

/** Sample rates FFmpeg's mp2 (MPEG-1/2 Layer II) encoder takes, Hz. */
export const MP2_SAMPLE_RATES: readonly number[] = Object.freeze([
  16000,
  22050,
  24000,
  32000,
  44100,
  48000,
]);
/** Most channels the mp2 encoder takes (mono or stereo). */
export const MP2_MAX_CHANNELS = 2;

/** MPEG-2's frame_rate_code rates (ISO 13818-2 table 6-4), as FFmpeg's mpeg2video has them. */
const MPEG2_BASE_RATES: readonly Rational[] = Object.freeze([
  { num: 24000, den: 1001 },
  { num: 24, den: 1 },
  { num: 25, den: 1 },
  { num: 30000, den: 1001 },
  { num: 30, den: 1 },
  { num: 50, den: 1 },
  { num: 60000, den: 1001 },
  { num: 60, den: 1 },
]);

/**
 * Whether mpeg2video can code `rate` exactly: a frame_rate_code rate times n/d with the
 * extension's n in 1..4 and d in 1..32 (what FFmpeg's encoder accepts; it refuses the rest).
 */
export function mpeg2FrameRateSupported(rate: Rational): boolean {
  const num = BigInt(rate.num);
  const den = BigInt(rate.den);
  for (const base of MPEG2_BASE_RATES) {
    for (let n = 1n; n <= 4n; n++) {
      for (let d = 1n; d <= 32n; d++) {
        if (num * BigInt(base.den) * d === BigInt(base.num) * n * den) return true;
      }
    }
  }
  return false;
}

/** What the chosen codecs add to {@link programFormatProblems}: empty when they take `format`. */
export function codecFormatProblems(
  format: ProgramFormat,
  codecs: { video: VideoCodec; audio: AudioCodec },
): ProgramFormatProblem[] {
  const problems: ProgramFormatProblem[] = [];
  if (codecs.video === "mpeg2video" && !mpeg2FrameRateSupported(format.frameRate)) {
    problems.push({
      field: "frameRate",
      value: format.frameRate,
      expected: 'a frame rate mpeg2video can code (like "25", "30000/1001", "50" or "60")',
    });
  }
  if (codecs.audio === "mp2") {
    if (!MP2_SAMPLE_RATES.includes(format.sampleRate)) {
      problems.push({
        field: "sampleRate",
        value: format.sampleRate,
        expected: `with codec "mp2" one of ${MP2_SAMPLE_RATES.join(", ")}`,
      });
    }
    if (format.channels > MP2_MAX_CHANNELS) {
      problems.push({
        field: "channels",
        value: format.channels,
        expected: `with codec "mp2" 1 or ${MP2_MAX_CHANNELS}`,
      });
    }
  }
  return problems;
}
