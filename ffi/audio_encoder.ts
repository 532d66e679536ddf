/**
 * {@link AudioEncoder}: encodes S16 interleaved program audio with FFmpeg's AAC or MP2 encoder,
 * buffering input to the codec's frame size.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegError } from "./errors.ts";
import {
  destinationOf,
  type EncodedPacket,
  EncoderCore,
  getIntOption,
  type PacketTiming,
  registerCore,
  SEARCH_CHILDREN,
  setOption,
} from "./encoded_packet.ts";
import type { MuxerInput } from "./muxer.ts";
import { cString, ffmpeg } from "./library.ts";
import { check, layout, nonNull, PointerCell, type Ptr, StructView } from "./native.ts";

/** Options of an {@link AudioEncoder}. */
export interface AudioEncoderOptions {
  /** Encoder: FFmpeg's native AAC-LC or MPEG-1 Layer II. */
  codec: "aac" | "mp2";
  /** Sample rate in Hz. */
  sampleRate: number;
  /** Channel count (FFmpeg's default layout for it). */
  channels: number;
  /** Bitrate in kbit/s. */
  bitrateKbps: number;
}

const AV_SAMPLE_FMT_S16 = 1;
const AV_SAMPLE_FMT_FLTP = 8;
const CODEC_SAMPLE_FORMAT = { aac: AV_SAMPLE_FMT_FLTP, mp2: AV_SAMPLE_FMT_S16 } as const;

/**
 * Encodes S16 interleaved audio. Input of any length is buffered to the codec's frame size;
 * input frames get pts = number of samples before them (from 0, continuous). Packet timestamps
 * are the codec's: for AAC the first packet's pts is `-initialPadding` (-1024), so decoded
 * audio lines up with sample 0. The muxer shifts negative timestamps of all streams alike.
 */
export class AudioEncoder {
  readonly #core: EncoderCore;
  #frame: Ptr | null;
  #swr: Ptr | null = null;
  #pending: Int16Array;
  #pendingLength = 0;
  #samplesSent = 0;
  readonly #inPtrs = new BigUint64Array(1);
  /** The codec's channel layout (a native-order layout owns no memory: nothing to free). */
  readonly #chLayout: Uint8Array<ArrayBuffer>;
  /** Time base of packet timestamps: 1/sampleRate. */
  readonly timeBase: Rational;
  /** Samples per channel per codec frame (1024 for AAC, 1152 for MP2). */
  readonly frameSamples: number;
  /** Codec delay in samples (AAC: 1024). */
  readonly initialPadding: number;
  /** The options this encoder was opened with. */
  readonly options: Readonly<AudioEncoderOptions>;

  constructor(o: AudioEncoderOptions) {
    validate(o);
    this.options = { ...o };
    this.timeBase = { num: 1, den: o.sampleRate };
    const chLayout = new Uint8Array(layout().AVChannelLayout.sizeof);
    ffmpeg().avutil.av_channel_layout_default(chLayout, o.channels);
    this.#chLayout = chLayout;
    this.#core = new EncoderCore(o.codec, this.timeBase, (ctx) => {
      setOption(ctx, "ar", o.sampleRate);
      check(
        ffmpeg().avutil.av_opt_set_chlayout(ctx, cString("ch_layout"), chLayout, SEARCH_CHILDREN),
        "av_opt_set_chlayout",
        o.channels,
      );
      // sample_fmt has no AVOption: written through the layout table.
      new StructView(ctx, "AVCodecContext").setI32("sample_fmt", CODEC_SAMPLE_FORMAT[o.codec]);
      setOption(ctx, "time_base", `1/${o.sampleRate}`);
      setOption(ctx, "b", Math.round(o.bitrateKbps * 1000));
    });
    registerCore(this, this.#core);
    const ctx = this.#core.context();
    this.frameSamples = getIntOption(ctx, "frame_size");
    this.initialPadding = new StructView(ctx, "AVCodecContext").i32("initial_padding");
    if (this.frameSamples <= 0) {
      this.#core.close();
      throw new FfmpegError("avcodec_open2", 0, "encoder has no fixed frame size", o.codec);
    }
    this.#pending = new Int16Array(this.frameSamples * o.channels * 4);
    const frame = ffmpeg().avutil.av_frame_alloc();
    if (frame === null) {
      this.#core.close();
      throw new FfmpegError("av_frame_alloc", 0, "returned NULL", o.codec);
    }
    this.#frame = frame;
    try {
      this.#swr = this.#openConverter(chLayout);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #openConverter(chLayout: Uint8Array<ArrayBuffer>): Ptr {
    const { swresample } = ffmpeg();
    const cell = new PointerCell();
    const layoutPtr = Deno.UnsafePointer.of(chLayout);
    const rate = this.options.sampleRate;
    const fmt = CODEC_SAMPLE_FORMAT[this.options.codec];
    check(
      swresample.swr_alloc_set_opts2(
        cell.buf,
        layoutPtr,
        fmt,
        rate,
        layoutPtr,
        AV_SAMPLE_FMT_S16,
        rate,
        0,
        null,
      ),
      "swr_alloc_set_opts2",
      this.options,
    );
    const swr = nonNull(cell.get(), "swr_alloc_set_opts2");
    const ret = swresample.swr_init(swr);
    if (ret < 0) {
      swresample.swr_free(new PointerCell(swr).buf);
      check(ret, "swr_init", this.options);
    }
    return swr;
  }

  /**
   * Adds `s16` (interleaved, `samples × channels` values) and returns the packets that became
   * ready. `null` pads the last partial frame with silence, drains, and returns the rest.
   */
  encode(s16: Int16Array | null): EncodedPacket[] {
    return this.#encode(s16, (frame) => this.#core.sendAndCollect(frame));
  }

  /**
   * {@link AudioEncoder.encode}, the packets going straight into `input` (this encoder's stream
   * of a muxer) in native memory; returns their timing.
   */
  encodeInto(input: MuxerInput, s16: Int16Array | null): PacketTiming[] {
    const deliver = destinationOf(input, this);
    return this.#encode(s16, (frame) => this.#core.sendAndDeliver(frame, deliver));
  }

  #encode<T>(s16: Int16Array | null, send: (frame: Ptr | null) => T[]): T[] {
    const channels = this.options.channels;
    const out: T[] = [];
    if (s16 !== null) {
      if (s16.length % channels !== 0) {
        throw new FfmpegArgumentError(
          "sample count is not a multiple of the channel count",
          s16.length,
        );
      }
      this.#append(s16);
      const frameValues = this.frameSamples * channels;
      let offset = 0;
      while (this.#pendingLength - offset >= frameValues) {
        out.push(...this.#encodeFrame(this.#pending.subarray(offset, offset + frameValues), send));
        offset += frameValues;
      }
      this.#pending.copyWithin(0, offset, this.#pendingLength);
      this.#pendingLength -= offset;
      return out;
    }
    if (!this.#core.draining && this.#pendingLength > 0) {
      const last = new Int16Array(this.frameSamples * channels);
      last.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pendingLength = 0;
      out.push(...this.#encodeFrame(last, send));
    }
    out.push(...send(null));
    return out;
  }

  #append(s16: Int16Array): void {
    const need = this.#pendingLength + s16.length;
    if (need > this.#pending.length) {
      const grown = new Int16Array(Math.max(need, this.#pending.length * 2));
      grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    this.#pending.set(s16, this.#pendingLength);
    this.#pendingLength = need;
  }

  #encodeFrame<T>(samples: Int16Array, send: (frame: Ptr | null) => T[]): T[] {
    const frame = this.#frame;
    const swr = this.#swr;
    if (frame === null || swr === null) return send(null); // closed: throws
    const { avutil, swresample } = ffmpeg();
    const fv = new StructView(frame, "AVFrame");
    fv.setI32("nb_samples", this.frameSamples);
    fv.setI32("format", CODEC_SAMPLE_FORMAT[this.options.codec]);
    fv.setI32("sample_rate", this.options.sampleRate);
    const chOffset = layout().AVFrame.ch_layout;
    const frameLayout = nonNull(Deno.UnsafePointer.offset(frame, chOffset), "AVFrame.ch_layout");
    // The layout the context was opened with (set through its ch_layout AVOption).
    check(
      avutil.av_channel_layout_copy(frameLayout, Deno.UnsafePointer.of(this.#chLayout)),
      "av_channel_layout_copy",
    );
    check(avutil.av_frame_get_buffer(frame, 0), "av_frame_get_buffer", this.options);
    try {
      this.#inPtrs[0] = Deno.UnsafePointer.value(Deno.UnsafePointer.of(samples));
      const converted = swresample.swr_convert(
        swr,
        fv.ptr("extended_data"),
        this.frameSamples,
        Deno.UnsafePointer.of(this.#inPtrs),
        this.frameSamples,
      );
      check(converted, "swr_convert", this.options);
      if (converted !== this.frameSamples) {
        throw new FfmpegError(
          "swr_convert",
          0,
          `converted ${converted} of ${this.frameSamples} samples`,
        );
      }
      fv.setI64("pts", this.#samplesSent);
      this.#samplesSent += this.frameSamples;
      return send(frame);
    } finally {
      avutil.av_frame_unref(frame);
    }
  }

  /** Samples per channel handed to the codec so far (including drain padding). */
  get samplesEncoded(): number {
    return this.#samplesSent;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** Frees the encoder. Safe to call twice. Buffered samples are discarded. */
  close(): void {
    const { avutil, swresample } = ffmpeg();
    if (this.#frame !== null) avutil.av_frame_free(new PointerCell(this.#frame).buf);
    this.#frame = null;
    if (this.#swr !== null) swresample.swr_free(new PointerCell(this.#swr).buf);
    this.#swr = null;
    this.#core.close();
  }

  /** Same as {@link AudioEncoder.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function validate(o: AudioEncoderOptions): void {
  if (o.codec !== "aac" && o.codec !== "mp2") {
    throw new FfmpegArgumentError("unsupported audio codec", o.codec);
  }
  if (!Number.isInteger(o.sampleRate) || o.sampleRate < 8000 || o.sampleRate > 96000) {
    throw new FfmpegArgumentError("bad sample rate", o.sampleRate);
  }
  if (!Number.isInteger(o.channels) || o.channels < 1 || o.channels > 8) {
    throw new FfmpegArgumentError("bad channel count", o.channels);
  }
  if (!(o.bitrateKbps > 0)) throw new FfmpegArgumentError("bad bitrate", o.bitrateKbps);
}
