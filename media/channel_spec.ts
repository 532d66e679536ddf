/**
 * What the engine needs to run one channel, independent of where it came from (config file
 * or gRPC).
 *
 * @module
 */

import type { AudioEncoderSettings, VideoEncoderSettings } from "./encoder_settings.ts";
import type { ProgramFormat } from "./program_format.ts";

/** A standalone source played when no control plan drives the channel. */
export type StandaloneSource =
  | { kind: "test_pattern" }
  | { kind: "playlist"; paths: string[]; loop?: boolean }
  | {
    kind: "directory";
    path: string;
    loop?: boolean;
    /** File extensions to pick up, with the dot, case-insensitive (the config supplies defaults). */
    extensions: string[];
  }
  | { kind: "none" };

/**
 * Which source pictures skip H.264/HEVC deblocking (the decoder's `skip_loop_filter`):
 * "none" deblocks everything; "nonref" skips it on pictures no other picture is predicted from
 * (the error cannot spread); "bidir" on every B-picture (a referenced B-picture's error reaches
 * only the B-pictures between its references, never a P- or I-picture); "all" on every picture (cheaper, and the error spreads until the
 * next keyframe); "auto" (default) is "nonref" where the program picture is at most two thirds
 * of the source's width and height, to the pixel (1080p → 720p or 480p, 720p → 480p), where
 * the downscale hides it, else "none".
 */
export type LoopFilterSkip = typeof LOOP_FILTER_SKIPS[number];

/** The loop-filter skip settings, for validation (see {@link LoopFilterSkip}). */
export const LOOP_FILTER_SKIPS = ["auto", "none", "nonref", "bidir", "all"] as const;

/** Everything the engine needs to run a channel. */
export interface ChannelSpec {
  id: number;
  name: string;
  format: ProgramFormat;
  video: VideoEncoderSettings;
  audio: AudioEncoderSettings;
  source: StandaloneSource;
  /**
   * Source decoding; absent: defaults. `share` (default true): a file this channel airs from
   * the same in-point, in the same program format, as another channel of the engine is decoded
   * once for both (src/engine/producers/shared_source.ts).
   */
  decode?: { skipLoopFilter: LoopFilterSkip; share?: boolean };
}

/**
 * What `setting` skips for a source of `source` size decoded for a program of `program` size
 * ("auto" resolved).
 */
export function loopFilterSkipFor(
  setting: LoopFilterSkip,
  source: { width: number; height: number },
  program: { width: number; height: number },
): "none" | "nonref" | "bidir" | "all" {
  if (setting !== "auto") return setting;
  // 1080p → 1280x720: SSIM 0.99985 (worst picture 0.9993), PSNR of the worst picture 58 dB.
  const small = program.width <= Math.ceil((source.width * 2) / 3) &&
    program.height <= Math.ceil((source.height * 2) / 3);
  return small ? "nonref" : "none";
}
