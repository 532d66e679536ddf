/**
 * {@link DecodedFrame}: one decoded picture or block of audio samples, owning its native
 * `AVFrame` until {@link DecodedFrame.free}.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegClosedError } from "./errors.ts";
import { ffmpeg } from "./library.ts";
import { layout, PointerCell, type Ptr, StructView } from "./native.ts";

/** A decoded video picture or audio frame. Owned by the caller: call `free()` when done. */
export interface DecodedFrame {
  /** Media kind. */
  readonly kind: "video" | "audio";
  /** Presentation time in seconds (best-effort timestamp); undefined when unknown. */
  readonly ptsSeconds?: number;
  /** Video: width in pixels (0 for audio). */
  readonly width: number;
  /** Video: height in pixels (0 for audio). */
  readonly height: number;
  /** Video: sample aspect ratio, when known. */
  readonly sar?: Rational;
  /** Video: the picture is two interlaced fields (the decoder says so); false for audio. */
  readonly interlaced: boolean;
  /** Video: of an interlaced picture, the top field is the first in time. */
  readonly topFieldFirst: boolean;
  /** Audio: sample rate in Hz (0 for video). */
  readonly sampleRate: number;
  /** Audio: channel count (0 for video). */
  readonly channels: number;
  /** Audio: samples per channel (0 for video). */
  readonly samples: number;
  /** Frees the native frame. Safe to call twice. */
  free(): void;
}

const AV_FRAME_FLAG_INTERLACED = 1 << 3;
const AV_FRAME_FLAG_TOP_FIELD_FIRST = 1 << 4;

const leaked = new FinalizationRegistry<bigint>((address) => {
  ffmpeg().avutil.av_frame_free(new BigUint64Array([address]));
});

let pointerOf: (f: NativeFrame) => Ptr;

/** The implementation of {@link DecodedFrame} over a native `AVFrame`. */
export class NativeFrame implements DecodedFrame {
  #ptr: Ptr | null;
  readonly kind: "video" | "audio";
  readonly ptsSeconds?: number;
  readonly width: number;
  readonly height: number;
  readonly sar?: Rational;
  readonly interlaced: boolean;
  readonly topFieldFirst: boolean;
  readonly sampleRate: number;
  readonly channels: number;
  readonly samples: number;
  /** Pixel format (video) or sample format (audio), as FFmpeg's enum value. */
  readonly format: number;

  static {
    pointerOf = (f) => {
      if (f.#ptr === null) throw new FfmpegClosedError("DecodedFrame");
      return f.#ptr;
    };
  }

  /** @internal Takes ownership of `ptr` (an `AVFrame*` holding a decoded frame). */
  constructor(ptr: Ptr, kind: "video" | "audio", timeBase: Rational) {
    this.#ptr = ptr;
    this.kind = kind;
    const v = new StructView(ptr, "AVFrame");
    const ts = v.i64("best_effort_timestamp") ?? v.i64("pts");
    if (ts !== undefined) this.ptsSeconds = (ts * timeBase.num) / timeBase.den;
    this.format = v.i32("format");
    if (kind === "video") {
      this.width = v.i32("width");
      this.height = v.i32("height");
      const sar = v.rational("sample_aspect_ratio");
      if (sar && sar.num > 0) this.sar = sar;
      if (layout().AVFrame.interlaced_frame !== undefined) {
        // FFmpeg 5.1: the flags below do not exist yet.
        this.interlaced = v.i32("interlaced_frame") !== 0;
        this.topFieldFirst = v.i32("top_field_first") !== 0;
      } else {
        const flags = v.i32("flags");
        this.interlaced = (flags & AV_FRAME_FLAG_INTERLACED) !== 0;
        this.topFieldFirst = (flags & AV_FRAME_FLAG_TOP_FIELD_FIRST) !== 0;
      }
      this.sampleRate = this.channels = this.samples = 0;
    } else {
      this.width = this.height = 0;
      this.interlaced = this.topFieldFirst = false;
      this.sampleRate = v.i32("sample_rate");
      this.channels = v.i32("ch_layout", layout().AVChannelLayout.nb_channels);
      this.samples = v.i32("nb_samples");
    }
    leaked.register(this, Deno.UnsafePointer.value(ptr), this);
  }

  /** True after `free()`. */
  get freed(): boolean {
    return this.#ptr === null;
  }

  free(): void {
    if (this.#ptr === null) return;
    leaked.unregister(this);
    ffmpeg().avutil.av_frame_free(new PointerCell(this.#ptr).buf);
    this.#ptr = null;
  }

  /** Same as `free()`. */
  [Symbol.dispose](): void {
    this.free();
  }
}

/** @internal The native `AVFrame*` of a decoded frame. Not exported by mod.ts. */
export function nativeFrame(f: DecodedFrame): Ptr {
  if (!(f instanceof NativeFrame)) {
    throw new FfmpegArgumentError("not a frame produced by Decoder.receive()", typeof f);
  }
  return pointerOf(f);
}
