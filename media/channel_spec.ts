/**
 * What the engine needs to run one channel, independent of where it came from (config file
 * or gRPC).
 *
 * @module
 */

import type { ProgramFormat } from "./program_format.ts";

/** Video encoder settings. */
export interface VideoEncoderSettings {
  codec: "libx264" | "mpeg2video";
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
  codec: "aac" | "mp2";
  bitrateKbps: number;
}

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

/** Everything the engine needs to run a channel. */
export interface ChannelSpec {
  id: number;
  name: string;
  format: ProgramFormat;
  video: VideoEncoderSettings;
  audio: AudioEncoderSettings;
  source: StandaloneSource;
}

/** Encoder defaults: H.264 veryfast CRF 23, 2 s GOP; AAC 128 kb/s. */
export function defaultEncoders(format: ProgramFormat): {
  video: VideoEncoderSettings;
  audio: AudioEncoderSettings;
} {
  const fps = format.frameRate.num / format.frameRate.den;
  return {
    video: { codec: "libx264", preset: "veryfast", crf: 23, keyintFrames: Math.round(fps * 2) },
    audio: { codec: "aac", bitrateKbps: 128 },
  };
}
