/**
 * {@link Resampler}: converts decoded audio of any rate, sample format and channel layout to
 * S16 interleaved at the program rate and channel count, with libswresample.
 *
 * @module
 */

import { FfmpegArgumentError, FfmpegClosedError } from "./errors.ts";
import { type DecodedFrame, nativeFrame } from "./decoded_frame.ts";
import { ffmpeg } from "./library.ts";
import { check, layout, nonNull, PointerCell, type Ptr, StructView } from "./native.ts";

/** Output format of a {@link Resampler}. */
export interface ResamplerTarget {
  /** Output sample rate in Hz. */
  sampleRate: number;
  /** Output channel count (FFmpeg's default layout for that count). */
  channels: number;
}

const AV_SAMPLE_FMT_S16 = 1;
const AV_CHANNEL_ORDER_NATIVE = 1;
const AV_CHANNEL_ORDER_CUSTOM = 2;

/** Converts decoded audio frames to S16 interleaved. Synchronous; owns its `SwrContext`. */
export class Resampler {
  readonly #dst: ResamplerTarget;
  #swr: Ptr | null = null;
  #key: string | undefined;
  #closed = false;
  readonly #outLayout: Uint8Array<ArrayBuffer>;
  readonly #inLayout: Uint8Array<ArrayBuffer>;
  readonly #outPtrs = new BigUint64Array(1);

  constructor(dst: ResamplerTarget) {
    if (!Number.isInteger(dst.sampleRate) || dst.sampleRate < 1000 || dst.sampleRate > 384000) {
      throw new FfmpegArgumentError("sample rate out of range", dst.sampleRate);
    }
    if (!Number.isInteger(dst.channels) || dst.channels < 1 || dst.channels > 16) {
      throw new FfmpegArgumentError("channel count out of range", dst.channels);
    }
    this.#dst = { ...dst };
    const size = layout().AVChannelLayout.sizeof;
    this.#outLayout = new Uint8Array(size);
    this.#inLayout = new Uint8Array(size);
    ffmpeg().avutil.av_channel_layout_default(this.#outLayout, dst.channels);
  }

  /**
   * Converts `frame` and returns the samples available so far (`samples × channels` values;
   * may be empty while the resampler fills its filter). `null` flushes what is buffered.
   * Reconfigures itself when the source rate, format or layout changes (flushing first).
   */
  convert(frame: DecodedFrame | null): Int16Array {
    if (this.#closed) throw new FfmpegClosedError("Resampler");
    if (frame === null) return this.#flush();
    if (frame.kind !== "audio") {
      throw new FfmpegArgumentError("Resampler needs an audio frame", frame.kind);
    }
    const ptr = nativeFrame(frame);
    const fv = new StructView(ptr, "AVFrame");
    const format = fv.i32("format");
    const rate = fv.i32("sample_rate");
    const samples = fv.i32("nb_samples");
    const chLayoutOffset = layout().AVFrame.ch_layout;
    const order = fv.i32("ch_layout");
    const channels = fv.i32("ch_layout", layout().AVChannelLayout.nb_channels);
    const mask = order === AV_CHANNEL_ORDER_NATIVE ? fv.big("ch_layout", 8) : 0n; // u.mask
    const key = `${format}/${rate}/${order}/${channels}/${mask}`;
    if (format < 0 || rate <= 0 || channels <= 0) {
      throw new FfmpegArgumentError("frame has no audio", { format, rate, channels });
    }
    let head: Int16Array | undefined;
    if (key !== this.#key) {
      if (this.#swr !== null) head = this.#flush();
      this.#configure(
        format,
        rate,
        channels,
        order === AV_CHANNEL_ORDER_NATIVE || order === AV_CHANNEL_ORDER_CUSTOM
          ? Deno.UnsafePointer.offset(ptr, chLayoutOffset)
          : null,
      );
      this.#key = key;
    }
    const input = fv.ptr("extended_data");
    if (input === null || samples <= 0) return head ?? new Int16Array(0);
    const out = this.#run(input, samples);
    if (!head || head.length === 0) return out;
    const joined = new Int16Array(head.length + out.length);
    joined.set(head);
    joined.set(out, head.length);
    return joined;
  }

  #configure(format: number, rate: number, channels: number, inLayout: Deno.PointerValue): void {
    const { avutil, swresample } = ffmpeg();
    if (this.#swr !== null) swresample.swr_free(new PointerCell(this.#swr).buf);
    this.#swr = null;
    if (inLayout === null) {
      avutil.av_channel_layout_default(this.#inLayout, channels);
      inLayout = Deno.UnsafePointer.of(this.#inLayout);
    }
    const cell = new PointerCell();
    const value = { format, rate, channels, to: this.#dst };
    check(
      swresample.swr_alloc_set_opts2(
        cell.buf,
        Deno.UnsafePointer.of(this.#outLayout),
        AV_SAMPLE_FMT_S16,
        this.#dst.sampleRate,
        inLayout,
        format,
        rate,
        0,
        null,
      ),
      "swr_alloc_set_opts2",
      value,
    );
    const swr = nonNull(cell.get(), "swr_alloc_set_opts2", value);
    const ret = swresample.swr_init(swr);
    if (ret < 0) {
      swresample.swr_free(new PointerCell(swr).buf);
      check(ret, "swr_init", value);
    }
    this.#swr = swr;
  }

  #run(input: Ptr | null, samples: number): Int16Array {
    const { swresample } = ffmpeg();
    const swr = this.#swr;
    if (swr === null) return new Int16Array(0);
    const capacity = check(swresample.swr_get_out_samples(swr, samples), "swr_get_out_samples");
    if (capacity === 0) return new Int16Array(0);
    const out = new Int16Array(capacity * this.#dst.channels);
    const base = nonNull(Deno.UnsafePointer.of(out), "UnsafePointer.of");
    this.#outPtrs[0] = Deno.UnsafePointer.value(base);
    const n = check(
      swresample.swr_convert(
        swr,
        Deno.UnsafePointer.of(this.#outPtrs),
        capacity,
        input,
        input === null ? 0 : samples,
      ),
      "swr_convert",
      { samples },
    );
    return n === capacity ? out : out.slice(0, n * this.#dst.channels);
  }

  #flush(): Int16Array {
    return this.#run(null, 0);
  }

  /** Frees the resampler. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#swr !== null) ffmpeg().swresample.swr_free(new PointerCell(this.#swr).buf);
    this.#swr = null;
  }

  /** Same as {@link Resampler.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
