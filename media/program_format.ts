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
