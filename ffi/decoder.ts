/**
 * {@link Decoder}: decodes the packets of one demuxed stream (video or audio) with libavcodec,
 * using FFmpeg's own frame/slice threads for video.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
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
import { withOpenLock } from "./open_lock.ts";
import { nativePacket, type Packet } from "./packet.ts";

/** Options of {@link Decoder.open}. */
export interface DecoderOptions {
  /** Decoder threads; 0 = FFmpeg picks from the CPU count. Default 0 for video, 1 for audio. */
  threads?: number;
}

/** Most packets kept while the decoder refuses input (the caller is not calling receive()). */
const MAX_PENDING = 64;

/** A decoder for one stream of a {@link Demuxer}. Synchronous; owns native state until `close()`. */
export class Decoder {
  #ctx: Ptr | null;
  #scratch: Ptr | null;
  /** Packets the decoder would not take yet (EAGAIN), oldest first; sent by receive(). */
  readonly #pending: Ptr[] = [];
  #drained = false;
  #drainRequested = false;
  #drainSent = false;
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
      check(
        withOpenLock(() => avcodec.avcodec_open2(ctx, codec, null)),
        "avcodec_open2",
        value,
      );
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
   * owned by the caller. When the decoder's input queue is full the packet is kept (up to 64)
   * and sent again by {@link Decoder.receive} or the next `send`, so callers may alternate
   * send/receive freely, and a decode error thrown by `receive()` loses nothing.
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
    // Packets still queued (receive() stopped early, e.g. on a decode error) go first.
    this.#sendPending(ctx);
    if (packet === null) {
      // With packets still queued, receive() starts the drain once they are in.
      this.#drainRequested = true;
      if (this.#pending.length === 0) this.#sendDrain(ctx);
      return;
    }
    const p = nativePacket(packet);
    const ret = this.#pending.length > 0 ? AVERROR_EAGAIN : avcodec.avcodec_send_packet(ctx, p);
    if (ret === AVERROR_EAGAIN) {
      if (this.#pending.length >= MAX_PENDING) {
        throw new FfmpegError("avcodec_send_packet", ret, errorText(ret), {
          streamIndex: this.streamIndex,
          reason: `receive() frames: ${MAX_PENDING} packets are queued already`,
        });
      }
      const copy = nonNull(avcodec.av_packet_alloc(), "av_packet_alloc");
      const refRet = avcodec.av_packet_ref(copy, p);
      if (refRet < 0) {
        avcodec.av_packet_free(new PointerCell(copy).buf);
        check(refRet, "av_packet_ref");
      }
      this.#pending.push(copy);
      return;
    }
    check(ret, "avcodec_send_packet", { streamIndex: this.streamIndex, pts: packet.pts });
  }

  #sendDrain(ctx: Ptr): void {
    if (this.#drained || this.#drainSent) return;
    const ret = ffmpeg().avcodec.avcodec_send_packet(ctx, null);
    this.#drainSent = true;
    if (ret === AVERROR_EOF) return; // already draining
    check(ret, "avcodec_send_packet", { streamIndex: this.streamIndex, flush: true });
  }

  /** Sends queued packets until the decoder says EAGAIN; true when the queue is empty. */
  #sendPending(ctx: Ptr): boolean {
    const { avcodec } = ffmpeg();
    while (this.#pending.length > 0) {
      const ret = avcodec.avcodec_send_packet(ctx, this.#pending[0]);
      if (ret === AVERROR_EAGAIN) return false;
      avcodec.av_packet_free(new PointerCell(this.#pending.shift()!).buf);
      check(ret, "avcodec_send_packet", { streamIndex: this.streamIndex });
    }
    return true;
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
        if (this.#pending.length === 0) {
          if (!this.#drainRequested || this.#drainSent) return null;
          this.#sendDrain(ctx);
          continue;
        }
        this.#sendPending(ctx);
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

  /**
   * Which frames the decoder may skip (`skip_frame`), changeable between packets: "none"
   * skips nothing (the default), "nonref" skips frames nothing references (such frames are
   * only shown, never predicted from), "nonkey" decodes keyframes only. Cheap load shedding.
   */
  setSkipFrames(level: "none" | "nonref" | "nonkey"): void {
    const ctx = this.#open();
    const value = level === "nonref" ? "noref" : level === "nonkey" ? "nokey" : "default";
    check(
      ffmpeg().avutil.av_opt_set(ctx, cString("skip_frame"), cString(value), 0),
      "av_opt_set(skip_frame)",
      value,
    );
  }

  /**
   * Which pictures skip the deblocking (loop) filter (`skip_loop_filter`, H.264 and HEVC),
   * changeable between packets: "none" (the default), "nonref" (pictures nothing is predicted
   * from: the difference stays in that picture), "bidir" (every B-picture: a difference in a
   * referenced B-picture reaches only the B-pictures predicted from it) or "all".
   */
  setSkipLoopFilter(level: "none" | "nonref" | "bidir" | "all"): void {
    const ctx = this.#open();
    const value = level === "nonref" ? "noref" : level === "none" ? "default" : level;
    check(
      ffmpeg().avutil.av_opt_set(ctx, cString("skip_loop_filter"), cString(value), 0),
      "av_opt_set(skip_loop_filter)",
      value,
    );
  }

  /** Discards buffered packets and frames (after a seek, or to reuse a drained decoder). */
  flush(): void {
    const ctx = this.#open();
    const { avcodec } = ffmpeg();
    this.#freePending();
    avcodec.avcodec_flush_buffers(ctx);
    this.#drained = this.#drainRequested = this.#drainSent = false;
  }

  #freePending(): void {
    for (const p of this.#pending.splice(0)) {
      ffmpeg().avcodec.av_packet_free(new PointerCell(p).buf);
    }
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#ctx === null;
  }

  /** Frees the codec context and buffers. Safe to call twice. */
  close(): void {
    if (this.#ctx === null) return;
    const { avcodec, avutil } = ffmpeg();
    this.#freePending();
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
