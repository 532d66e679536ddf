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

/** Everything the engine needs to run a channel. */
export interface ChannelSpec {
  id: number;
  name: string;
  format: ProgramFormat;
  video: VideoEncoderSettings;
  audio: AudioEncoderSettings;
  source: StandaloneSource;
}
