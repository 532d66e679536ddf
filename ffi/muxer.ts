/**
 * {@link Muxer}: muxes encoded packets into MPEG-TS with libavformat, into memory (through
 * `avio_open_dyn_buf`/`avio_close_dyn_buf`, no callbacks from FFmpeg) or into a file.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import { type EncodedPacket, encoderContext } from "./encoded_packet.ts";
import type { AudioEncoder } from "./audio_encoder.ts";
import type { VideoEncoder } from "./video_encoder.ts";
import { cString, ffmpeg } from "./library.ts";
import {
  AVERROR_EINVAL,
  check,
  nonNull,
  PointerCell,
  type Ptr,
  readCString,
  rescale,
  StructView,
} from "./native.ts";

/** Options of a {@link Muxer}. */
export interface MuxerOptions {
  /** Container format. */
  format: "mpegts";
  /**
   * Muxer and format options passed to `avformat_write_header`, e.g. `{ pcr_period: "20",
   * pat_period: "0.05", sdt_period: "0.5", muxdelay: "0", muxpreload: "0" }`. Unknown names
   * are an error. `muxdelay` (seconds, as on the ffmpeg command line) becomes libavformat's
   * `max_delay` (µs); `muxpreload` must be 0.
   */
  options?: Record<string, string>;
  /** Write to this file; without it, output is kept in memory for {@link Muxer.takeOutput}. */
  file?: string;
}

const AVIO_FLAG_WRITE = 2;
const AV_PKT_FLAG_KEY = 1;
const AV_DICT_IGNORE_SUFFIX = 2;
const TS_PACKET = 188;

interface MuxStream {
  encoderTimeBase: Rational;
  streamTimeBase: Rational;
  stream: Ptr;
}

/** An MPEG-TS muxer. Synchronous; owns its format context and I/O until `close()`. */
export class Muxer {
  #ctx: Ptr | null;
  readonly #file?: string;
  readonly #options: Record<string, string>;
  readonly #streams: MuxStream[] = [];
  #pkt: Ptr | null;
  #headerWritten = false;
  #finished = false;
  #carry = new Uint8Array(0);

  constructor(o: MuxerOptions) {
    if (o.format !== "mpegts") throw new FfmpegArgumentError("unsupported format", o.format);
    const { avformat, avcodec } = ffmpeg();
    const cell = new PointerCell();
    check(
      avformat.avformat_alloc_output_context2(
        cell.buf,
        null,
        cString(o.format),
        o.file ? cString(o.file) : null,
      ),
      "avformat_alloc_output_context2",
      o.file ?? o.format,
    );
    const ctx = nonNull(cell.get(), "avformat_alloc_output_context2", o.format);
    this.#ctx = ctx;
    this.#file = o.file;
    this.#options = translateCliOptions(o.options ?? {});
    this.#pkt = avcodec.av_packet_alloc();
    try {
      if (this.#pkt === null) throw new FfmpegError("av_packet_alloc", 0, "returned NULL");
      const pb = new PointerCell();
      if (o.file) {
        check(avformat.avio_open(pb.buf, cString(o.file), AVIO_FLAG_WRITE), "avio_open", o.file);
      } else {
        check(avformat.avio_open_dyn_buf(pb.buf), "avio_open_dyn_buf");
      }
      new StructView(ctx, "AVFormatContext").setPtr("pb", pb.get());
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #open(): Ptr {
    if (this.#ctx === null) throw new FfmpegClosedError("Muxer");
    return this.#ctx;
  }

  /** Adds a stream carrying `encoder`'s output (codec parameters copied). Returns its index. */
  addStream(encoder: VideoEncoder | AudioEncoder): number {
    const ctx = this.#open();
    if (this.#headerWritten) {
      throw new FfmpegArgumentError(
        "streams must be added before writeHeader()",
        this.#streams.length,
      );
    }
    const { avformat, avcodec } = ffmpeg();
    const { ctx: codecCtx, timeBase } = encoderContext(encoder);
    const st = nonNull(avformat.avformat_new_stream(ctx, null), "avformat_new_stream");
    const sv = new StructView(st, "AVStream");
    const par = nonNull(sv.ptr("codecpar"), "AVStream.codecpar");
    check(
      avcodec.avcodec_parameters_from_context(par, codecCtx),
      "avcodec_parameters_from_context",
    );
    // No time base is set on the stream: libavformat picks one (mpegts: 1/90000, read back
    // after writeHeader), so AVStream.time_base is only ever read through the layout table.
    this.#streams.push({ encoderTimeBase: timeBase, streamTimeBase: timeBase, stream: st });
    return this.#streams.length - 1;
  }

  /** Writes the container header with the muxer options. Unknown options are an error. */
  writeHeader(): void {
    const ctx = this.#open();
    if (this.#headerWritten) {
      throw new FfmpegArgumentError("header already written", this.#file ?? "memory");
    }
    if (this.#streams.length === 0) throw new FfmpegArgumentError("no streams added", 0);
    const { avformat, avutil } = ffmpeg();
    const dict = new PointerCell();
    try {
      for (const [key, value] of Object.entries(this.#options)) {
        check(
          avutil.av_dict_set(dict.buf, cString(key), cString(String(value)), 0),
          "av_dict_set",
          key,
        );
      }
      check(avformat.avformat_write_header(ctx, dict.buf), "avformat_write_header", this.#options);
      const unused: string[] = [];
      let entry: Deno.PointerValue = null;
      while ((entry = avutil.av_dict_get(dict.get(), cString(""), entry, AV_DICT_IGNORE_SUFFIX))) {
        unused.push(readCString(new Deno.UnsafePointerView(entry).getPointer(0)));
      }
      if (unused.length > 0) throw new FfmpegArgumentError("unknown muxer options", unused);
    } finally {
      avutil.av_dict_free(dict.buf);
    }
    this.#headerWritten = true;
    for (const s of this.#streams) {
      const tb = new StructView(s.stream, "AVStream").rational("time_base");
      if (tb) s.streamTimeBase = tb;
    }
  }

  /** Writes one packet of stream `streamIndex` (timestamps in its encoder's time base). */
  write(streamIndex: number, pkt: EncodedPacket): void {
    const ctx = this.#open();
    if (!this.#headerWritten || this.#finished) {
      throw new FfmpegArgumentError(
        "write() needs writeHeader() first and no finish()",
        streamIndex,
      );
    }
    const s = this.#streams[streamIndex];
    if (s === undefined) throw new FfmpegArgumentError("no such stream", streamIndex);
    const { avcodec, avformat } = ffmpeg();
    const p = this.#pkt!;
    check(avcodec.av_new_packet(p, pkt.data.length), "av_new_packet", pkt.data.length);
    const v = new StructView(p, "AVPacket");
    const data = v.ptr("data");
    if (data !== null && pkt.data.length > 0) {
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(data, pkt.data.length)).set(pkt.data);
    }
    v.setI64("pts", rescale(pkt.pts, s.encoderTimeBase, s.streamTimeBase));
    v.setI64("dts", rescale(pkt.dts, s.encoderTimeBase, s.streamTimeBase));
    v.setI64("duration", rescale(pkt.duration, s.encoderTimeBase, s.streamTimeBase));
    v.setI32("flags", pkt.isKey ? AV_PKT_FLAG_KEY : 0);
    v.setI32("stream_index", streamIndex);
    // Takes the packet's reference whether it succeeds or not.
    const ret = avformat.av_interleaved_write_frame(ctx, p);
    if (ret < 0) {
      avcodec.av_packet_unref(p);
      check(ret, "av_interleaved_write_frame", { streamIndex, pts: pkt.pts, dts: pkt.dts });
    }
  }

  /** Memory mode: the bytes muxed since the last call, as whole 188-byte TS packets. */
  takeOutput(): Uint8Array {
    const ctx = this.#open();
    if (this.#file !== undefined || this.#finished) return new Uint8Array(0);
    const bytes = this.#closeDynBuf(ctx);
    const pb = new PointerCell();
    check(ffmpeg().avformat.avio_open_dyn_buf(pb.buf), "avio_open_dyn_buf");
    new StructView(ctx, "AVFormatContext").setPtr("pb", pb.get());
    return this.#whole(bytes);
  }

  /** Writes the trailer (flushing interleaving queues) and returns the remaining bytes. */
  finish(): Uint8Array {
    const ctx = this.#open();
    if (this.#finished) return new Uint8Array(0);
    if (!this.#headerWritten) throw new FfmpegArgumentError("finish() before writeHeader()", 0);
    const { avformat } = ffmpeg();
    check(avformat.av_write_trailer(ctx), "av_write_trailer", this.#file ?? "memory");
    this.#finished = true;
    const view = new StructView(ctx, "AVFormatContext");
    if (this.#file !== undefined) {
      const pb = new PointerCell(view.ptr("pb"));
      view.setPtr("pb", null);
      check(avformat.avio_closep(pb.buf), "avio_closep", this.#file);
      return new Uint8Array(0);
    }
    const rest = this.#closeDynBuf(ctx);
    const out = new Uint8Array(this.#carry.length + rest.length);
    out.set(this.#carry);
    out.set(rest, this.#carry.length);
    this.#carry = new Uint8Array(0);
    return out;
  }

  /** Closes the memory I/O context of `ctx` and returns its bytes (pb is left null). */
  #closeDynBuf(ctx: Ptr): Uint8Array {
    const { avformat, avutil } = ffmpeg();
    const view = new StructView(ctx, "AVFormatContext");
    const pb = view.ptr("pb");
    if (pb === null) return new Uint8Array(0);
    view.setPtr("pb", null);
    const bufCell = new PointerCell();
    const size = avformat.avio_close_dyn_buf(pb, bufCell.buf);
    const buf = bufCell.get();
    if (size < 0) {
      if (buf !== null) avutil.av_free(buf);
      throw new FfmpegError("avio_close_dyn_buf", size < 0 ? size : AVERROR_EINVAL, "failed");
    }
    const out = new Uint8Array(size);
    if (buf !== null && size > 0) Deno.UnsafePointerView.copyInto(buf, out);
    if (buf !== null) avutil.av_free(buf);
    return out;
  }

  /** Prepends carried bytes and keeps back a trailing partial TS packet. */
  #whole(bytes: Uint8Array): Uint8Array {
    let all = bytes;
    if (this.#carry.length > 0) {
      all = new Uint8Array(this.#carry.length + bytes.length);
      all.set(this.#carry);
      all.set(bytes, this.#carry.length);
    }
    const whole = all.length - (all.length % TS_PACKET);
    this.#carry = all.slice(whole);
    return whole === all.length ? all : all.subarray(0, whole);
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#ctx === null;
  }

  /** Frees everything; a file is closed without a trailer unless `finish()` ran. */
  close(): void {
    const { avformat, avcodec, avutil } = ffmpeg();
    if (this.#pkt !== null) avcodec.av_packet_free(new PointerCell(this.#pkt).buf);
    this.#pkt = null;
    const ctx = this.#ctx;
    if (ctx === null) return;
    this.#ctx = null;
    const view = new StructView(ctx, "AVFormatContext");
    const pb = view.ptr("pb");
    if (pb !== null) {
      view.setPtr("pb", null);
      if (this.#file !== undefined) {
        avformat.avio_closep(new PointerCell(pb).buf);
      } else {
        const bufCell = new PointerCell();
        avformat.avio_close_dyn_buf(pb, bufCell.buf);
        const buf = bufCell.get();
        if (buf !== null) avutil.av_free(buf);
      }
    }
    avformat.avformat_free_context(ctx);
  }

  /** Same as {@link Muxer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Maps the ffmpeg CLI's `muxdelay` (seconds) to libavformat's `max_delay` (µs). `muxpreload`
 * has no libavformat option for MPEG-TS (its start offset is `max_delay`): only 0 is accepted.
 */
function translateCliOptions(options: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key !== "muxdelay" && key !== "muxpreload") {
      out[key] = String(value);
      continue;
    }
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new FfmpegArgumentError(`${key} must be a non-negative number of seconds`, value);
    }
    if (key === "muxdelay") out.max_delay = String(Math.round(seconds * 1_000_000));
    else if (seconds !== 0) {
      throw new FfmpegArgumentError("muxpreload is not supported for mpegts (use muxdelay)", value);
    }
  }
  return out;
}
