/**
 * The program format of a channel: the one raster, frame rate and audio layout that every
 * producer is converted to and that the encoder and frame sinks receive. Fixed for the life
 * of a channel.
 *
 * @module
 */

import type { Rational } from "./rational.ts";

/** How a source whose display aspect differs from the program's is fitted. */
export type AspectPolicy = "preserve" | "stretch" | "crop";

/** A channel's program format. Width and height are even (YUV 4:2:0). */
export interface ProgramFormat {
  width: number;
  height: number;
  frameRate: Rational;
  sampleRate: number;
  channels: number;
  aspectPolicy: AspectPolicy;
}

/** The embedded default: 1280x720 at 30000/1001, 48 kHz stereo. */
export const DEFAULT_PROGRAM_FORMAT: Readonly<ProgramFormat> = Object.freeze({
  width: 1280,
  height: 720,
  frameRate: Object.freeze({ num: 30000, den: 1001 }),
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve" as const,
});

/** Number of frames a span of `ms` milliseconds covers: round(ms · fps / 1000). */
export function framesForMs(ms: number, fps: Rational): number {
  return Math.round((ms * fps.num) / (fps.den * 1000));
}

/** Wall-clock milliseconds from frame 0 to the start of frame `k` (fractional). */
export function msForFrames(k: number, fps: Rational): number {
  return (k * 1000 * fps.den) / fps.num;
}

/** PTS of frame `k` in 90 kHz units, rounded down to an integer. */
export function pts90kForFrame(k: number, fps: Rational): number {
  return Math.floor((k * 90000 * fps.den) / fps.num);
}

/**
 * Audio samples (per channel) in the span of output frame `k`. Summed over frames 0..k-1 the
 * counts equal `samplesBeforeFrame(k)` exactly, so audio never drifts from video.
 */
export function samplesForFrame(k: number, fmt: Pick<ProgramFormat, "frameRate" | "sampleRate">) {
  return samplesBeforeFrame(k + 1, fmt) - samplesBeforeFrame(k, fmt);
}

/** Audio samples (per channel) from frame 0 up to the start of frame `k`. */
export function samplesBeforeFrame(
  k: number,
  fmt: Pick<ProgramFormat, "frameRate" | "sampleRate">,
): number {
  // BigInt keeps this exact for any run length (k · rate · den exceeds 2^53 after months).
  const n = BigInt(k) * BigInt(fmt.sampleRate) * BigInt(fmt.frameRate.den);
  return Number(n / BigInt(fmt.frameRate.num));
}

/**
 * What a program format may be: the ranges the encoders (libx264/mpeg2video, FFmpeg's aac/mp2)
 * and the mpegts muxer really take, checked by {@link programFormatProblems} for the config file
 * and for gRPC's `program_format_json` alike. Codec-specific limits (mp2, mpeg2video) are in
 * `encoder_settings.ts`.
 */
export const PROGRAM_FORMAT_LIMITS = Object.freeze({
  /** Smallest raster side, pixels. */
  minSide: 16,
  /** Largest raster width (8K UHD). */
  maxWidth: 7680,
  /** Largest raster height (8K UHD). */
  maxHeight: 4320,
  /** Frame rates, frames per second (inclusive): x264 and the mpegts muxer take 1..240. */
  frameRate: Object.freeze({ min: 1, max: 240 }),
  /** Largest numerator or denominator of a frame rate (FFmpeg's AVRational is int32). */
  maxRationalTerm: 2_147_483_647,
  /** Sample rates, Hz: FFmpeg's AAC encoder's table from 8 to 96 kHz. */
  sampleRates: Object.freeze(
    [
      8000,
      11025,
      12000,
      16000,
      22050,
      24000,
      32000,
      44100,
      48000,
      64000,
      88200,
      96000,
    ] as const,
  ),
  /** Audio channels (FFmpeg's default layout for the count; AAC takes up to 7.1). */
  channels: Object.freeze({ min: 1, max: 8 }),
});

/** The fields of a {@link ProgramFormat} a problem can name. */
export type ProgramFormatField = "width" | "height" | "frameRate" | "sampleRate" | "channels";

/** One thing wrong with a program format: the field, its value and what was expected. */
export interface ProgramFormatProblem {
  field: ProgramFormatField;
  value: unknown;
  /** What the field must be, e.g. `"an even integer 16..7680"`. */
  expected: string;
}

/** The phrase naming the accepted frame rates. */
export const FRAME_RATE_EXPECTED =
  `a frame rate of ${PROGRAM_FORMAT_LIMITS.frameRate.min}..${PROGRAM_FORMAT_LIMITS.frameRate.max} fps`;

/**
 * Everything wrong with `format`, in field order (empty = valid). The one validator of program
 * formats: the config schema and gRPC's `program_format_json` both call it.
 */
export function programFormatProblems(format: ProgramFormat): ProgramFormatProblem[] {
  const L = PROGRAM_FORMAT_LIMITS;
  const problems: ProgramFormatProblem[] = [];
  const side = (field: "width" | "height", max: number) => {
    const v = format[field];
    if (!Number.isInteger(v) || v < L.minSide || v > max || v % 2 !== 0) {
      problems.push({ field, value: v, expected: `an even integer ${L.minSide}..${max}` });
    }
  };
  side("width", L.maxWidth);
  side("height", L.maxHeight);
  const r = format.frameRate;
  const terms = [r.num, r.den];
  if (!terms.every((t) => Number.isInteger(t) && t >= 1 && t <= L.maxRationalTerm)) {
    problems.push({
      field: "frameRate",
      value: r,
      expected: `"N/D" with N and D integers 1..${L.maxRationalTerm}`,
    });
  } else if (r.num < L.frameRate.min * r.den || r.num > L.frameRate.max * r.den) {
    problems.push({ field: "frameRate", value: r, expected: FRAME_RATE_EXPECTED });
  }
  if (!(L.sampleRates as readonly number[]).includes(format.sampleRate)) {
    problems.push({
      field: "sampleRate",
      value: format.sampleRate,
      expected: `one of ${L.sampleRates.join(", ")}`,
    });
  }
  const ch = format.channels;
  if (!Number.isInteger(ch) || ch < L.channels.min || ch > L.channels.max) {
    problems.push({
      field: "channels",
      value: ch,
      expected: `an integer ${L.channels.min}..${L.channels.max}`,
    });
  }
  return problems;
}
