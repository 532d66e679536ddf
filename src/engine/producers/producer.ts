/**
 * What every producer offers the timeline: decoded pictures at the program raster and audio
 * at the program rate, one output frame at a time. Producers know their source; they know
 * nothing of output time beyond the frame context the timeline hands them.
 *
 * @module
 */

/** Per-frame context the timeline passes (for generators that burn in time or counters). */
export interface FrameContext {
  /** Output frame number of the channel. */
  frameNumber: number;
  /** UTC ms at which the frame is due. */
  dueUtcMs: number;
  /**
   * The picture will not be used (the channel sheds work): keep the source's place, skip
   * converting it; any return value is fine.
   */
  skipPicture?: boolean;
}

/** Counters a producer keeps (cumulative for its life). */
export interface ProducerCounters {
  /** Source frames decoded (video). */
  decoded: number;
  /** Source frames dropped by frame-rate conversion. */
  dropped: number;
  /** Output frames that repeated the previous source frame. */
  duplicated: number;
  /** Decode errors skipped. */
  decodeErrors: number;
  /** Seconds spent decoding+scaling per produced picture (recent samples, drained by the reader). */
  latencySamples: number[];
  /** Output frames copied from another channel's decode (a shared source's follower). */
  shared?: number;
}

/** Decoding work a producer may skip while its channel cannot keep up. */
export type ShedLevel = "none" | "nonref" | "nonkey";

/** A source of program frames. */
export interface Producer {
  /** Human description for logs (path, "pad", "test pattern"). */
  readonly description: string;
  /** The source's own title tag, when it has one (files). */
  readonly title?: string;
  /**
   * Picture for the next output frame (I420 packed at the program raster), or undefined when
   * the source has no (more) video. Called once per output frame, in order. The returned
   * buffer may be reused by the producer on the next call: copy it to keep it.
   */
  nextVideo(ctx: FrameContext): Uint8Array | undefined;
  /**
   * The next `samples` audio samples per channel, S16 interleaved. Returns fewer when the
   * source's audio ended (zero-length when it has none).
   */
  nextAudio(samples: number): Int16Array;
  /** Counters for metrics. */
  readonly counters: ProducerCounters;
  /**
   * How much decoding work to skip for pictures the timeline is likely to drop: none,
   * non-reference frames, or all but keyframes (the channel is far behind). Optional: sources
   * with nothing to shed ignore it.
   */
  setShedding?(level: ShedLevel): void;
  /** Frees native resources. Idempotent. */
  close(): void;
}

/** Fresh zeroed counters. */
export function newProducerCounters(): ProducerCounters {
  return { decoded: 0, dropped: 0, duplicated: 0, decodeErrors: 0, latencySamples: [] };
}
