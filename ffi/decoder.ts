/**
 * {@link Decoder}: decodes the packets of one demuxed stream (video or audio) with libavcodec,
 * using FFmpeg's own frame/slice threads for video.
 *
 * @module
 */

import type { Rational } from "../src/engine/program_format.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import { type DecodedFrame, NativeFrame } from "./decoded_frame.ts";
import { type Demuxer, demuxerStream } from "./demuxer.ts";
import { cString, ffmpeg } from "./library.ts";
import {
  AVERROR_DECODER_NOT_FOUND,
  AVERROR_EAGAIN,
  AVERROR_EOF,
  check,
  errorText,
  nonNull,
  PointerCell,
  type Ptr,
  StructView,
} from "./native.ts";
import { nativePacket, type Packet } from "./packet.ts";

/** Options of {@link Decoder.open}. */
export interface DecoderOptions {
  /** Decoder threads; 0 = FFmpeg picks from the CPU count. Default 0 for video, 1 for audio. */
  threads?: number;
}

/** A decoder for one stream of a {@link Demuxer}. Synchronous; owns native state until `close()`. */
export class Decoder {
  #ctx: Ptr | null;
  #scratch: Ptr | null;
  #pending: Ptr | null = null;
  #drained = false;
  /** Media kind of the stream. */
  readonly kind: "video" | "audio";
  /** Index of the decoded stream in its demuxer. */
  readonly streamIndex: number;
  /** Time base of the stream (frame timestamps are converted with it). */
  readonly timeBase: Rational;
  /** Codec name, e.g. "h264". */
  readonly codecName: string;

  private constructor(
    ctx: Ptr,
    scratch: Ptr,
    kind: "video" | "audio",
    index: number,
    tb: Rational,
    name: string,
  ) {
    this.#ctx = ctx;
    this.#scratch = scratch;
    this.kind = kind;
    this.streamIndex = index;
    this.timeBase = tb;
    this.codecName = name;
  }

  /**
   * Opens a decoder for stream `streamIndex` of `demuxer`. Throws {@link FfmpegError} when the
   * stream is not audio/video, no decoder exists for its codec, or the codec fails to open.
   */
  static open(demuxer: Demuxer, streamIndex: number, opts: DecoderOptions = {}): Decoder {
    const { codecpar, info } = demuxerStream(demuxer, streamIndex);
    if (info.kind === "other") {
      throw new FfmpegArgumentError("stream is neither video nor audio", {
        path: demuxer.path,
        streamIndex,
        codec: info.codecName,
      });
    }
    const { avcodec, avutil } = ffmpeg();
    const value = { path: demuxer.path, streamIndex, codec: info.codecName };
    const codecId = new StructView(codecpar, "AVCodecParameters").i32("codec_id");
    const codec = avcodec.avcodec_find_decoder(codecId);
    if (codec === null) {
      throw new FfmpegError(
        "avcodec_find_decoder",
        AVERROR_DECODER_NOT_FOUND,
        errorText(AVERROR_DECODER_NOT_FOUND),
        value,
      );
    }
    const ctx = nonNull(avcodec.avcodec_alloc_context3(codec), "avcodec_alloc_context3", value);
    const free = () => avcodec.avcodec_free_context(new PointerCell(ctx).buf);
    try {
      check(
        avcodec.avcodec_parameters_to_context(ctx, codecpar),
        "avcodec_parameters_to_context",
        value,
      );
      const tb = info.timeBase;
      check(
        avutil.av_opt_set(ctx, cString("pkt_timebase"), cString(`${tb.num}/${tb.den}`), 0),
        "av_opt_set(pkt_timebase)",
        value,
      );
      const threads = opts.threads ?? (info.kind === "video" ? 0 : 1);
      if (!Number.isInteger(threads) || threads < 0) {
        throw new FfmpegArgumentError("threads must be a non-negative integer", threads);
      }
      check(
        avutil.av_opt_set_int(ctx, cString("threads"), BigInt(threads), 0),
        "av_opt_set_int(threads)",
        threads,
      );
      check(avcodec.avcodec_open2(ctx, codec, null), "avcodec_open2", value);
    } catch (err) {
      free();
      throw err;
    }
    const scratch = avutil.av_frame_alloc();
    if (scratch === null) {
      free();
      throw new FfmpegError("av_frame_alloc", 0, "returned NULL", value);
    }
    return new Decoder(ctx, scratch, info.kind, streamIndex, info.timeBase, info.codecName);
  }

  #open(): Ptr {
    if (this.#ctx === null) throw new FfmpegClosedError("Decoder");
    return this.#ctx;
  }

  /**
   * Sends a packet of this decoder's stream; `null` starts draining (flush). The packet stays
   * owned by the caller. When the decoder's input queue is full the packet is kept and sent
   * again by {@link Decoder.receive}, so callers may alternate send/receive freely.
   */
  send(packet: Packet | null): void {
    const ctx = this.#open();
    const { avcodec } = ffmpeg();
    if (packet !== null && packet.streamIndex !== this.streamIndex) {
      throw new FfmpegArgumentError("packet is from another stream", {
        packetStream: packet.streamIndex,
        decoderStream: this.streamIndex,
      });
    }
    if (this.#pending !== null) {
      // The previous packet is still waiting: make room by keeping this one queued too would
      // reorder; instead require the caller to receive first.
      throw new FfmpegError("avcodec_send_packet", AVERROR_EAGAIN, errorText(AVERROR_EAGAIN), {
        streamIndex: this.streamIndex,
        reason: "receive() frames before sending more packets",
      });
    }
    if (packet === null) {
      if (this.#drained) return;
      const ret = avcodec.avcodec_send_packet(ctx, null);
      if (ret === AVERROR_EOF) return; // already draining
      check(ret, "avcodec_send_packet", { streamIndex: this.streamIndex, flush: true });
      return;
    }
    const p = nativePacket(packet);
    const ret = avcodec.avcodec_send_packet(ctx, p);
    if (ret === AVERROR_EAGAIN) {
      const copy = nonNull(avcodec.av_packet_alloc(), "av_packet_alloc");
      const refRet = avcodec.av_packet_ref(copy, p);
      if (refRet < 0) {
        avcodec.av_packet_free(new PointerCell(copy).buf);
        check(refRet, "av_packet_ref");
      }
      this.#pending = copy;
      return;
    }
    check(ret, "avcodec_send_packet", { streamIndex: this.streamIndex, pts: packet.pts });
  }

  /**
   * Returns the next decoded frame, or null when the decoder needs more input (or, after
   * `send(null)`, when it is fully drained). The frame is owned by the caller.
   */
  receive(): DecodedFrame | null {
    const ctx = this.#open();
    const scratch = this.#scratch!;
    const { avcodec, avutil } = ffmpeg();
    for (;;) {
      const ret = avcodec.avcodec_receive_frame(ctx, scratch);
      if (ret === AVERROR_EAGAIN) {
        if (this.#pending === null) return null;
        const pending = this.#pending;
        this.#pending = null;
        const sent = avcodec.avcodec_send_packet(ctx, pending);
        avcodec.av_packet_free(new PointerCell(pending).buf);
        check(sent, "avcodec_send_packet", { streamIndex: this.streamIndex });
        continue;
      }
      if (ret === AVERROR_EOF) {
        this.#drained = true;
        return null;
      }
      check(ret, "avcodec_receive_frame", { streamIndex: this.streamIndex });
      const out = nonNull(avutil.av_frame_alloc(), "av_frame_alloc");
      avutil.av_frame_move_ref(out, scratch);
      return new NativeFrame(out, this.kind, this.timeBase);
    }
  }

  /** Discards buffered packets and frames (after a seek, or to reuse a drained decoder). */
  flush(): void {
    const ctx = this.#open();
    const { avcodec } = ffmpeg();
    if (this.#pending !== null) {
      avcodec.av_packet_free(new PointerCell(this.#pending).buf);
      this.#pending = null;
    }
    avcodec.avcodec_flush_buffers(ctx);
    this.#drained = false;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#ctx === null;
  }

  /** Frees the codec context and buffers. Safe to call twice. */
  close(): void {
    if (this.#ctx === null) return;
    const { avcodec, avutil } = ffmpeg();
    if (this.#pending !== null) avcodec.av_packet_free(new PointerCell(this.#pending).buf);
    this.#pending = null;
    avutil.av_frame_free(new PointerCell(this.#scratch).buf);
    this.#scratch = null;
    avcodec.avcodec_free_context(new PointerCell(this.#ctx).buf);
    this.#ctx = null;
  }

  /** Same as {@link Decoder.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
