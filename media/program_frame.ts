/**
 * One output frame of a channel's program signal: a picture and the audio that spans it.
 * This is what the timeline hands to the encoder and to frame sinks.
 *
 * @module
 */

/** Bit flags on a {@link ProgramFrame}. */
export const FrameFlags = Object.freeze({
  /** First frame of a segment. */
  SEGMENT_START: 1,
  /** Frame of a PAD segment (black and silence by design). */
  PAD: 2,
  /** Fallback: the source ran short or failed; held frame/black and silence stand in. */
  FALLBACK: 4,
  /** First frame of a block (block mode). */
  BLOCK_START: 8,
  /**
   * The picture repeats the previous frame's: frame-rate conversion held a source frame, or
   * the channel could not make this frame's picture in time (a deadline repeat).
   */
  DUPLICATED: 16,
});

/** A program frame at the channel's program format. */
export interface ProgramFrame {
  /** Output frame number since the channel started (0, 1, 2, ... without gaps). */
  frameNumber: number;
  /** Presentation time in 90 kHz units, derived from `frameNumber` only. */
  pts90k: number;
  /** Wall-clock time (UTC, microseconds since the epoch) at which this frame is due. */
  wallClockUtcUs: number;
  /** I420 8-bit, tightly packed: Y (w·h), then U and V ((w/2)·(h/2) each). */
  video: Uint8Array;
  /** S16 interleaved audio, `samples × channels` values. */
  audio: Int16Array;
  /** Audio samples per channel in `audio`. */
  samples: number;
  /** {@link FrameFlags} bits. */
  flags: number;
}

/** Bytes of one tightly packed I420 picture of the program raster. */
export function i420Size(width: number, height: number): number {
  return width * height + 2 * ((width >> 1) * (height >> 1));
}
