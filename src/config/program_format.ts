/**
 * Conversion of a validated channel's `[channels.format]` table to the engine's
 * {@link ProgramFormat}.
 *
 * @module
 */

import { parseRational } from "../../media/rational.ts";
import type { ProgramFormat } from "../../media/program_format.ts";
import type { ChannelConfig } from "./schema.ts";

/** A frame rate that is not an "N/D" rational (only reachable by bypassing the schema). */
export class FrameRateError extends Error {
  override name = "FrameRateError";
  constructor(readonly value: string) {
    super(`frame_rate must be "N/D" like "30000/1001", got ${JSON.stringify(value)}`);
  }
}

/** The {@link ProgramFormat} of a validated channel. Throws {@link FrameRateError}. */
export function toProgramFormat(format: ChannelConfig["format"]): ProgramFormat {
  const frameRate = parseRational(format.frame_rate);
  if (frameRate === undefined) throw new FrameRateError(format.frame_rate);
  return {
    width: format.width,
    height: format.height,
    frameRate,
    sampleRate: format.sample_rate,
    channels: format.channels,
    aspectPolicy: format.aspect_policy,
  };
}
