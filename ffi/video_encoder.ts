/**
 * {@link VideoEncoder}: encodes I420 program frames with libx264 or mpeg2video at a fixed GOP
 * (closed, fixed keyframe interval, no scene-cut keyframes), for MPEG-TS output.
 *
 * @module
 */

import { i420Size } from "../media/program_frame.ts";
import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import {
  destinationOf,
  type EncodedPacket,
  EncoderCore,
  type PacketTiming,
  registerCore,
  setOption,
} from "./encoded_packet.ts";
import type { MuxerInput } from "./muxer.ts";
import { ffmpeg } from "./library.ts";
import { check, nonNull, PointerCell, type Ptr, StructView } from "./native.ts";

/** Options of a {@link VideoEncoder}. */
export interface VideoEncoderOptions {
  /** Encoder. */
  codec: "libx264" | "mpeg2video";
  /** Picture width (even). */
  width: number;
  /** Picture height (even). */
  height: number;
  /** Frame rate; the time base is its inverse. */
  frameRate: Rational;
  /** libx264 preset, e.g. "veryfast" (default "veryfast"). */
  preset?: string;
  /** libx264 constant rate factor (used when no bitrate is given; default 23). */
  crf?: number;
  /** Target bitrate in kbit/s (capped VBR: maxrate = bitrate, 1 s buffer). */
  bitrateKbps?: number;
  /** Keyframe interval in frames (every GOP is closed and exactly this long). */
  keyint: number;
  /** Encoder threads; 0 = automatic (default). */
  threads?: number;
  /** libx264 tune, e.g. "zerolatency". */
  tune?: string;
}

const AV_PIX_FMT_YUV420P = 0;
const AV_PICTURE_TYPE_NONE = 0;
const AV_PICTURE_TYPE_I = 1;
/** mpeg2video needs a bitrate; used when none is given: ~0.1 bit per pixel per frame. */
function defaultMpeg2Kbps(o: VideoEncoderOptions): number {
  return Math.max(
    500,
    Math.round((o.width * o.height * o.frameRate.num) / o.frameRate.den / 10000),
  );
}

/**
 * Encodes I420 pictures. Time base = 1/frameRate; the caller passes the output frame number as
 * pts. Synchronous; owns its codec context until `close()`.
 */
export class VideoEncoder {
  readonly #core: EncoderCore;
  #frame: Ptr | null;
  #frameView: StructView | null = null;
  /** Whether the native frame holds a picture (for {@link VideoEncoder.repeatInto}). */
  #filled = false;
  /** Time base of packet timestamps (1/frameRate). */
  readonly timeBase: Rational;
  /** The options this encoder was opened with. */
  readonly options: Readonly<VideoEncoderOptions>;
  /** Bytes of one input picture. */
  readonly frameSize: number;

  constructor(o: VideoEncoderOptions) {
    validate(o);
    this.options = { ...o };
    this.timeBase = { num: o.frameRate.den, den: o.frameRate.num };
    this.frameSize = i420Size(o.width, o.height);
    this.#core = new EncoderCore(o.codec, this.timeBase, (ctx) => configure(ctx, o, this.timeBase));
    registerCore(this, this.#core);
    const frame = ffmpeg().avutil.av_frame_alloc();
    if (frame === null) {
      this.#core.close();
      throw new FfmpegError("av_frame_alloc", 0, "returned NULL", o.codec);
    }
    this.#frame = frame;
    const fv = new StructView(frame, "AVFrame");
    this.#frameView = fv;
    fv.setI32("width", o.width);
    fv.setI32("height", o.height);
    fv.setI32("format", AV_PIX_FMT_YUV420P);
    // One reference-counted picture, reused: libavcodec then takes a reference instead of
    // allocating and copying a picture per frame, and x264 copies it into its own frames.
    // Alignment 1: the planes are tightly packed, so each is one copy.
    const ret = ffmpeg().avutil.av_frame_get_buffer(frame, 1);
    if (ret < 0) {
      this.close();
      check(ret, "av_frame_get_buffer", { width: o.width, height: o.height });
    }
  }

  /**
   * Encodes one tightly packed I420 picture with presentation time `pts` (frame number) and
   * returns the packets that became ready (often none at first: the encoder has a delay).
   * `keyframe` forces it to be a keyframe (IDR).
   * `null` drains the encoder and returns the rest.
   */
  encode(i420: Uint8Array | null, pts: number, keyframe = false): EncodedPacket[] {
    if (i420 === null) return this.#core.sendAndCollect(null);
    return this.#core.sendAndCollect(this.#fill(i420, pts, keyframe));
  }

  /**
   * {@link VideoEncoder.encode}, the packets going straight into `input` (this encoder's stream
   * of a muxer) in native memory; returns their timing.
   */
  encodeInto(
    input: MuxerInput,
    i420: Uint8Array | null,
    pts: number,
    keyframe = false,
  ): PacketTiming[] {
    const deliver = destinationOf(input, this);
    const frame = i420 === null ? null : this.#fill(i420, pts, keyframe);
    return this.#core.sendAndDeliver(frame, deliver);
  }

  /**
   * Encodes the picture last given to {@link VideoEncoder.encodeInto} (or `encode`) again, as
   * frame `pts`, into `input`: no copy of the picture is made.
   */
  repeatInto(input: MuxerInput, pts: number, keyframe = false): PacketTiming[] {
    const deliver = destinationOf(input, this);
    if (!this.#filled) throw new FfmpegArgumentError("no picture encoded yet", pts);
    const frame = this.#frameFor(pts, keyframe);
    return this.#core.sendAndDeliver(frame, deliver);
  }

  /** The native frame, writable, stamped `pts` and `keyframe`; its picture is kept. */
  #frameFor(pts: number, keyframe: boolean): Ptr {
    const frame = this.#frame;
    if (frame === null) throw new FfmpegClosedError(this.options.codec);
    if (!Number.isSafeInteger(pts)) throw new FfmpegArgumentError("pts must be an integer", pts);
    // Still referenced by the encoder (it never is with libx264, which copies at once):
    // make_writable gives the frame a fresh buffer (with a copy of the picture) instead of
    // writing under the encoder.
    check(ffmpeg().avutil.av_frame_make_writable(frame), "av_frame_make_writable");
    const fv = this.#frameView!;
    fv.setI64("pts", pts);
    // A forced keyframe is an IDR with the closed GOPs configured here.
    fv.setI32("pict_type", keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE);
    return frame;
  }

  /** Copies `i420` into the native frame; returns it, stamped. */
  #fill(i420: Uint8Array, pts: number, keyframe: boolean): Ptr {
    if (i420.length < this.frameSize) {
      throw new FfmpegArgumentError("I420 buffer too small", {
        length: i420.length,
        need: this.frameSize,
      });
    }
    const frame = this.#frameFor(pts, keyframe);
    const { width, height } = this.options;
    const fv = this.#frameView!;
    let offset = 0;
    for (let plane = 0; plane < 3; plane++) {
      const w = plane === 0 ? width : width >> 1;
      const h = plane === 0 ? height : height >> 1;
      const stride = fv.i32("linesize", plane * 4);
      const data = nonNull(fv.ptr("data", plane), "AVFrame.data");
      const dst = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(data, stride * (h - 1) + w));
      if (stride === w) dst.set(i420.subarray(offset, offset + w * h));
      else {
        for (let y = 0; y < h; y++) {
          dst.set(i420.subarray(offset + y * w, offset + (y + 1) * w), y * stride);
        }
      }
      offset += w * h;
    }
    this.#filled = true;
    return frame;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** Frees the encoder. Safe to call twice. Undrained packets are discarded. */
  close(): void {
    if (this.#frame !== null) ffmpeg().avutil.av_frame_free(new PointerCell(this.#frame).buf);
    this.#frame = null;
    this.#frameView = null;
    this.#core.close();
  }

  /** Same as {@link VideoEncoder.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function validate(o: VideoEncoderOptions): void {
  if (o.codec !== "libx264" && o.codec !== "mpeg2video") {
    throw new FfmpegArgumentError("unsupported video codec", o.codec);
  }
  if (
    !Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 2 || o.height < 2 ||
    o.width % 2 || o.height % 2
  ) {
    throw new FfmpegArgumentError("picture size must be even", {
      width: o.width,
      height: o.height,
    });
  }
  const r = o.frameRate;
  if (!r || !Number.isInteger(r.num) || !Number.isInteger(r.den) || r.num <= 0 || r.den <= 0) {
    throw new FfmpegArgumentError("bad frame rate", r);
  }
  if (!Number.isInteger(o.keyint) || o.keyint < 1) {
    throw new FfmpegArgumentError("bad keyint", o.keyint);
  }
  if (o.bitrateKbps !== undefined && !(o.bitrateKbps > 0)) {
    throw new FfmpegArgumentError("bad bitrate", o.bitrateKbps);
  }
}

function configure(ctx: Ptr, o: VideoEncoderOptions, timeBase: Rational): void {
  setOption(ctx, "video_size", `${o.width}x${o.height}`);
  setOption(ctx, "pixel_format", "yuv420p");
  setOption(ctx, "time_base", `${timeBase.num}/${timeBase.den}`);
  // The Scaler delivers BT.709 limited range: say so in the stream (H.264 VUI, MPEG-2
  // sequence display extension), so players and ffprobe do not guess.
  setOption(ctx, "color_primaries", "bt709");
  setOption(ctx, "color_trc", "bt709");
  setOption(ctx, "colorspace", "bt709");
  setOption(ctx, "color_range", "tv");
  // framerate has no AVOption: written through the layout table.
  new StructView(ctx, "AVCodecContext").setRational("framerate", o.frameRate);
  setOption(ctx, "g", o.keyint);
  setOption(ctx, "keyint_min", o.keyint);
  setOption(ctx, "flags", "+cgop");
  setOption(ctx, "threads", o.threads ?? 0);
  if (o.codec === "libx264") {
    setOption(ctx, "preset", o.preset ?? "veryfast");
    if (o.tune) setOption(ctx, "tune", o.tune);
    if (o.bitrateKbps !== undefined) {
      const bps = Math.round(o.bitrateKbps * 1000);
      setOption(ctx, "b", bps);
      setOption(ctx, "maxrate", bps);
      setOption(ctx, "bufsize", bps);
    } else {
      setOption(ctx, "crf", o.crf ?? 23);
    }
    // Fixed GOP: no scene-cut keyframes, closed GOPs, every keyframe an IDR.
    setOption(
      ctx,
      "x264-params",
      `scenecut=0:open-gop=0:keyint=${o.keyint}:min-keyint=${o.keyint}`,
    );
  } else {
    const bps = Math.round((o.bitrateKbps ?? defaultMpeg2Kbps(o)) * 1000);
    setOption(ctx, "b", bps);
    setOption(ctx, "maxrate", bps);
    setOption(ctx, "bufsize", bps);
    // With closed GOPs the mpeg2video GOP is I + n·(B…B P): 1 + n·(bf + 1) frames, rounded down
    // to fit `g`. Pick the most B-frames for which keyint fits exactly.
    setOption(ctx, "bf", [2, 1, 0].find((bf) => (o.keyint - 1) % (bf + 1) === 0) ?? 0);
    setOption(ctx, "sc_threshold", 1_000_000_000);
  }
}
