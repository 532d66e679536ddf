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
}

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
  /** Frees native resources. Idempotent. */
  close(): void;
}

/** Fresh zeroed counters. */
export function newProducerCounters(): ProducerCounters {
  return { decoded: 0, dropped: 0, duplicated: 0, decodeErrors: 0, latencySamples: [] };
}
