/**
 * Load-time cross-check of the layout table against the loaded libraries themselves: every
 * struct this layer reads or writes by offset is exercised through FFmpeg's own functions and
 * AVOptions, and what FFmpeg wrote (or reports) is read back through the table. A table that
 * does not fit the libraries fails the load instead of corrupting memory later.
 *
 * Only allocations and setters run here (no codec is opened, no I/O): a few microseconds at
 * the first FFmpeg call of each thread.
 *
 * @module
 */

import type { FfmpegLibraries } from "./library.ts";
import type { LayoutTable } from "./layout.ts";

const AV_NOPTS_VALUE = -0x8000000000000000n;
const AV_CODEC_ID_MPEG2VIDEO = 2;
const AV_CODEC_ID_MP2 = 0x15000;
const AVMEDIA_TYPE_UNKNOWN = -1;
const AVMEDIA_TYPE_VIDEO = 0;
const AVMEDIA_TYPE_AUDIO = 1;
const AV_PIX_FMT_YUV420P = 0;
const AV_PIX_FMT_YUV444P = 5;
const AV_PIX_FMT_NV12 = 23;
const AV_SAMPLE_FMT_FLTP = 8;
const AV_CHANNEL_ORDER_NATIVE = 1;
const AV_CH_LAYOUT_STEREO = 3n;
const AV_PIX_FMT_FLAG_PLANAR = 16n;
const AV_PKT_FLAG_KEY = 1;
const AV_PICTURE_TYPE_P = 2;
const AVCOL_RANGE_JPEG = 2;
const AVCOL_SPC_BT709 = 1;
const AVCOL_SPC_UNSPECIFIED = 2;
/** AV_FRAME_FLAG_INTERLACED | AV_FRAME_FLAG_TOP_FIELD_FIRST (FFmpeg 6.1+; copied as-is by 5.1). */
const FRAME_FLAGS_TFF = (1 << 3) | (1 << 4);

type Field = readonly [struct: keyof Omit<LayoutTable, "release" | "majors">, field: string];

/** Thrown to end one check early: a write or dereference through a table not yet trusted. */
const STOP = Symbol("stop");

/**
 * Reads and writes struct fields at the table's offsets, recording what did not match. Writes
 * through the table (and following a pointer read through it) happen only in the second pass
 * and only while everything compared so far matched, so a wrong table is reported, not used to
 * corrupt memory.
 */
class Checker {
  readonly mismatches: string[] = [];
  constructor(readonly layout: LayoutTable, readonly allowWrites: boolean) {}

  /** Ends the current check unless writing through the table is safe now. */
  #writable(): void {
    if (!this.allowWrites || this.mismatches.length > 0) throw STOP;
  }
  /** A pointer read through the table, to be dereferenced: only while nothing mismatched. */
  deref(p: bigint): Deno.PointerValue {
    if (this.mismatches.length > 0) throw STOP;
    return Deno.UnsafePointer.create(p);
  }

  #at(p: Deno.PointerObject, [struct, field]: Field, extra = 0): DataView {
    const offset = this.layout[struct][field];
    if (offset === undefined) throw new TypeError(`${struct}.${field} is not in the layout`);
    return new DataView(Deno.UnsafePointerView.getArrayBuffer(p, 16, offset + extra));
  }
  i32(p: Deno.PointerObject, f: Field, extra = 0): number {
    return this.#at(p, f, extra).getInt32(0, true);
  }
  setI32(p: Deno.PointerObject, f: Field, v: number, extra = 0): void {
    this.#writable();
    this.#at(p, f, extra).setInt32(0, v, true);
  }
  i64(p: Deno.PointerObject, f: Field, extra = 0): bigint {
    return this.#at(p, f, extra).getBigInt64(0, true);
  }
  setI64(p: Deno.PointerObject, f: Field, v: bigint): void {
    this.#writable();
    this.#at(p, f).setBigInt64(0, v, true);
  }
  ptr(p: Deno.PointerObject, f: Field, index = 0): bigint {
    return this.#at(p, f, index * 8).getBigUint64(0, true);
  }
  address(p: Deno.PointerObject, f: Field): bigint {
    return Deno.UnsafePointer.value(p) + BigInt(this.layout[f[0]][f[1]]);
  }
  expect(what: Field | string, actual: unknown, expected: unknown): void {
    if (actual !== expected) {
      const name = typeof what === "string" ? what : `${what[0]}.${what[1]}`;
      this.mismatches.push(`${name}: ${String(actual)}, FFmpeg says ${String(expected)}`);
    }
  }
  expectTrue(what: string, ok: boolean): void {
    if (!ok) this.mismatches.push(what);
  }
}

const encoder = new TextEncoder();
function c(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, bytes);
  return bytes;
}
function cell(p: Deno.PointerValue = null): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array([Deno.UnsafePointer.value(p)]);
}
function rational(num: number, den: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new Int32Array([num, den]).buffer);
}

/**
 * Checks `libs.layout` against the loaded libraries; returns one entry per field that does not
 * match (empty when the table fits).
 */
export function checkLayout(libs: FfmpegLibraries): string[] {
  // First pass: reads only (each check ends at its first write through the table); second
  // pass, only when the first found nothing wrong: everything.
  const pass = (allowWrites: boolean) => {
    const k = new Checker(libs.layout, allowWrites);
    for (const check of CHECKS) {
      try {
        check(libs, k);
      } catch (err) {
        if (err !== STOP) throw err;
      }
    }
    return k.mismatches;
  };
  const reads = pass(false);
  return reads.length > 0 ? reads : pass(true);
}

/**
 * AVCodecContext and AVCodecParameters: values set through AVOptions are read back through the
 * table, then copied by `avcodec_parameters_from_context` and read back from the parameters,
 * then copied into a second context by `avcodec_parameters_to_context`.
 */
function checkCodecContexts(libs: FfmpegLibraries, k: Checker): void {
  const { avcodec, avutil } = libs;
  const par = avcodec.avcodec_parameters_alloc();
  if (par === null) throw new Error("avcodec_parameters_alloc returned NULL");
  const contexts: Deno.PointerObject[] = [];
  const context = (codecId: number) => {
    const codec = avcodec.avcodec_find_decoder(codecId);
    const ctx = avcodec.avcodec_alloc_context3(codec);
    if (ctx === null) throw new Error("avcodec_alloc_context3 returned NULL");
    contexts.push(ctx);
    return ctx;
  };
  const set = (ctx: Deno.PointerObject, name: string, value: string) => {
    const ret = avutil.av_opt_set(ctx, c(name), c(value), 0);
    k.expectTrue(`av_opt_set(${name}=${value}) failed (${ret})`, ret >= 0);
  };
  try {
    // Defaults of fresh parameters.
    k.expect(
      ["AVCodecParameters", "codec_type"],
      k.i32(par, ["AVCodecParameters", "codec_type"]),
      AVMEDIA_TYPE_UNKNOWN,
    );
    k.expect(["AVCodecParameters", "format"], k.i32(par, ["AVCodecParameters", "format"]), -1);
    k.expect(
      ["AVCodecParameters", "sample_aspect_ratio"],
      k.i32(par, ["AVCodecParameters", "sample_aspect_ratio"], 4),
      1,
    );

    const video = context(AV_CODEC_ID_MPEG2VIDEO);
    k.expect(
      ["AVCodecContext", "codec_type"],
      k.i32(video, ["AVCodecContext", "codec_type"]),
      AVMEDIA_TYPE_VIDEO,
    );
    set(video, "video_size", "352x288");
    set(video, "pixel_format", "yuv444p");
    set(video, "time_base", "7/25");
    set(video, "pkt_timebase", "3/90000");
    set(video, "aspect", "16/11");
    set(video, "b", "1234567");
    k.expect(["AVCodecContext", "width"], k.i32(video, ["AVCodecContext", "width"]), 352);
    k.expect(["AVCodecContext", "height"], k.i32(video, ["AVCodecContext", "height"]), 288);
    k.expect(
      ["AVCodecContext", "pix_fmt"],
      k.i32(video, ["AVCodecContext", "pix_fmt"]),
      AV_PIX_FMT_YUV444P,
    );
    k.expect(
      ["AVRational", "num"],
      k.i32(video, ["AVCodecContext", "time_base"], k.layout.AVRational.num),
      7,
    );
    k.expect(
      ["AVCodecContext", "time_base"],
      k.i32(video, ["AVCodecContext", "time_base"], k.layout.AVRational.den),
      25,
    );
    k.expect(
      ["AVCodecContext", "pkt_timebase"],
      k.i32(video, ["AVCodecContext", "pkt_timebase"], 4),
      90000,
    );
    // framerate has no AVOption: written through the table, it must not land on a field an
    // AVOption owns (time_base, pkt_timebase, sizes are re-read below).
    k.setI64(video, ["AVCodecContext", "framerate"], 0x0000_03e9_0000_7530n); // 30000/1001
    check(avcodec.avcodec_parameters_from_context(par, video), "avcodec_parameters_from_context");
    k.expect(
      ["AVCodecParameters", "codec_type"],
      k.i32(par, ["AVCodecParameters", "codec_type"]),
      AVMEDIA_TYPE_VIDEO,
    );
    k.expect(
      ["AVCodecParameters", "codec_id"],
      k.i32(par, ["AVCodecParameters", "codec_id"]),
      AV_CODEC_ID_MPEG2VIDEO,
    );
    k.expect(["AVCodecParameters", "width"], k.i32(par, ["AVCodecParameters", "width"]), 352);
    k.expect(["AVCodecParameters", "height"], k.i32(par, ["AVCodecParameters", "height"]), 288);
    k.expect(
      ["AVCodecParameters", "format"],
      k.i32(par, ["AVCodecParameters", "format"]),
      AV_PIX_FMT_YUV444P,
    );
    k.expect(
      ["AVCodecParameters", "bit_rate"],
      k.i64(par, ["AVCodecParameters", "bit_rate"]),
      1234567n,
    );
    k.expect(
      ["AVCodecParameters", "sample_aspect_ratio"],
      k.i32(par, ["AVCodecParameters", "sample_aspect_ratio"]),
      16,
    );
    k.expect(
      ["AVCodecParameters", "sample_aspect_ratio"],
      k.i32(par, ["AVCodecParameters", "sample_aspect_ratio"], 4),
      11,
    );
    if (k.layout.AVCodecParameters.framerate !== undefined) {
      // FFmpeg 6.1 and later copy framerate into the parameters.
      const framerate: Field = ["AVCodecParameters", "framerate"];
      k.expect(["AVCodecContext", "framerate"], k.i32(par, framerate), 30000);
      k.expect(["AVCodecContext", "framerate"], k.i32(par, framerate, 4), 1001);
    }
    k.expect(["AVCodecContext", "time_base"], k.i32(video, ["AVCodecContext", "time_base"], 4), 25);
    k.expect(["AVCodecContext", "width"], k.i32(video, ["AVCodecContext", "width"]), 352);

    const audio = context(AV_CODEC_ID_MP2);
    k.expect(
      ["AVCodecContext", "codec_type"],
      k.i32(audio, ["AVCodecContext", "codec_type"]),
      AVMEDIA_TYPE_AUDIO,
    );
    set(audio, "ar", "44100");
    set(audio, "frame_size", "1152");
    const layout = new Uint8Array(k.layout.AVChannelLayout.sizeof);
    avutil.av_channel_layout_default(layout, 2);
    const lv = new DataView(layout.buffer);
    k.expect(
      ["AVChannelLayout", "order"],
      lv.getInt32(k.layout.AVChannelLayout.order, true),
      AV_CHANNEL_ORDER_NATIVE,
    );
    k.expect(
      ["AVChannelLayout", "nb_channels"],
      lv.getInt32(k.layout.AVChannelLayout.nb_channels, true),
      2,
    );
    k.expect("AVChannelLayout.u.mask", lv.getBigUint64(8, true), AV_CH_LAYOUT_STEREO);
    const ret = avutil.av_opt_set_chlayout(audio, c("ch_layout"), layout, 0);
    k.expectTrue(`av_opt_set_chlayout failed (${ret})`, ret >= 0);
    avutil.av_channel_layout_uninit(layout);
    // sample_fmt and initial_padding have no AVOption: written through the table.
    k.setI32(audio, ["AVCodecContext", "sample_fmt"], AV_SAMPLE_FMT_FLTP);
    k.setI32(audio, ["AVCodecContext", "initial_padding"], 321);
    k.expect(
      ["AVCodecContext", "sample_rate"],
      k.i32(audio, ["AVCodecContext", "sample_rate"]),
      44100,
    );
    k.expect(
      ["AVCodecContext", "frame_size"],
      k.i32(audio, ["AVCodecContext", "frame_size"]),
      1152,
    );
    k.expect(
      ["AVCodecContext", "ch_layout"],
      k.i32(audio, ["AVCodecContext", "ch_layout"], k.layout.AVChannelLayout.nb_channels),
      2,
    );
    check(avcodec.avcodec_parameters_from_context(par, audio), "avcodec_parameters_from_context");
    k.expect(
      ["AVCodecParameters", "codec_type"],
      k.i32(par, ["AVCodecParameters", "codec_type"]),
      AVMEDIA_TYPE_AUDIO,
    );
    k.expect(
      ["AVCodecParameters", "codec_id"],
      k.i32(par, ["AVCodecParameters", "codec_id"]),
      AV_CODEC_ID_MP2,
    );
    k.expect(
      ["AVCodecParameters", "sample_rate"],
      k.i32(par, ["AVCodecParameters", "sample_rate"]),
      44100,
    );
    k.expect(
      ["AVCodecParameters", "format"],
      k.i32(par, ["AVCodecParameters", "format"]),
      AV_SAMPLE_FMT_FLTP,
    );
    k.expect(
      ["AVCodecParameters", "ch_layout"],
      k.i32(par, ["AVCodecParameters", "ch_layout"], k.layout.AVChannelLayout.nb_channels),
      2,
    );
    const copy = context(0);
    check(avcodec.avcodec_parameters_to_context(copy, par), "avcodec_parameters_to_context");
    k.expect(
      ["AVCodecContext", "sample_fmt"],
      k.i32(copy, ["AVCodecContext", "sample_fmt"]),
      AV_SAMPLE_FMT_FLTP,
    );
    k.expect(
      ["AVCodecContext", "initial_padding"],
      k.i32(copy, ["AVCodecContext", "initial_padding"]),
      321,
    );
    k.expect(
      ["AVCodecContext", "sample_rate"],
      k.i32(copy, ["AVCodecContext", "sample_rate"]),
      44100,
    );
  } finally {
    for (const ctx of contexts) avcodec.avcodec_free_context(cell(ctx));
    avcodec.avcodec_parameters_free(cell(par));
  }
}

/**
 * AVFormatContext and AVStream: an mpegts output context (no I/O) with two new streams; the
 * context's format, stream count and array, and each stream's index, parameters and defaults
 * are read back through the table.
 */
function checkFormatContext(libs: FfmpegLibraries, k: Checker): void {
  const { avformat } = libs;
  const out = cell();
  check(
    avformat.avformat_alloc_output_context2(out, null, c("mpegts"), null),
    "avformat_alloc_output_context2",
  );
  const ctx = Deno.UnsafePointer.create(out[0]);
  if (ctx === null) throw new Error("avformat_alloc_output_context2 returned NULL");
  try {
    const oformat = Deno.UnsafePointer.value(avformat.av_guess_format(c("mpegts"), null, null));
    k.expect(["AVFormatContext", "oformat"], k.ptr(ctx, ["AVFormatContext", "oformat"]), oformat);
    k.expect(["AVFormatContext", "iformat"], k.ptr(ctx, ["AVFormatContext", "iformat"]), 0n);
    k.expect(["AVFormatContext", "pb"], k.ptr(ctx, ["AVFormatContext", "pb"]), 0n);
    const streams = [
      avformat.avformat_new_stream(ctx, null),
      avformat.avformat_new_stream(ctx, null),
    ];
    k.expect(["AVFormatContext", "nb_streams"], k.i32(ctx, ["AVFormatContext", "nb_streams"]), 2);
    const array = k.deref(k.ptr(ctx, ["AVFormatContext", "streams"]));
    streams.forEach((st, i) => {
      if (st === null) throw new Error("avformat_new_stream returned NULL");
      const listed = array === null ? 0n : new Deno.UnsafePointerView(array).getBigUint64(i * 8);
      k.expect(["AVFormatContext", "streams"], listed, Deno.UnsafePointer.value(st));
      k.expect(["AVStream", "index"], k.i32(st, ["AVStream", "index"]), i);
      k.expect(["AVStream", "start_time"], k.i64(st, ["AVStream", "start_time"]), AV_NOPTS_VALUE);
      k.expect(["AVStream", "duration"], k.i64(st, ["AVStream", "duration"]), AV_NOPTS_VALUE);
      k.expect(
        ["AVStream", "sample_aspect_ratio"],
        k.i32(st, ["AVStream", "sample_aspect_ratio"], 4),
        1,
      );
      const par = k.deref(k.ptr(st, ["AVStream", "codecpar"]));
      k.expectTrue("AVStream.codecpar: NULL", par !== null);
      if (par !== null) {
        k.expect(
          ["AVStream", "codecpar"],
          k.i32(par, ["AVCodecParameters", "codec_type"]),
          AVMEDIA_TYPE_UNKNOWN,
        );
        k.expect(["AVStream", "codecpar"], k.i32(par, ["AVCodecParameters", "format"]), -1);
      }
    });
  } finally {
    avformat.avformat_free_context(ctx);
  }
}

/**
 * AVFrame: defaults of a fresh frame, then a video and an audio buffer allocated by
 * `av_frame_get_buffer` from size/format/layout fields written through the table.
 */
function checkFrame(libs: FfmpegLibraries, k: Checker): void {
  const { avutil } = libs;
  const frame = avutil.av_frame_alloc();
  if (frame === null) throw new Error("av_frame_alloc returned NULL");
  const F = (field: string): Field => ["AVFrame", field];
  try {
    k.expect(F("extended_data"), k.ptr(frame, F("extended_data")), k.address(frame, F("data")));
    k.expect(F("format"), k.i32(frame, F("format")), -1);
    k.expect(F("pts"), k.i64(frame, F("pts")), AV_NOPTS_VALUE);
    k.expect(F("best_effort_timestamp"), k.i64(frame, F("best_effort_timestamp")), AV_NOPTS_VALUE);
    k.expect(F("sample_aspect_ratio"), k.i32(frame, F("sample_aspect_ratio"), 4), 1);
    k.expect(F("colorspace"), k.i32(frame, F("colorspace")), AVCOL_SPC_UNSPECIFIED);
    k.expect(F("flags"), k.i32(frame, F("flags")), 0);
    k.setI32(frame, F("width"), 64);
    k.setI32(frame, F("height"), 48);
    k.setI32(frame, F("format"), AV_PIX_FMT_YUV420P);
    let ret = avutil.av_frame_get_buffer(frame, 0);
    k.expectTrue(`AVFrame.width/height/format: av_frame_get_buffer failed (${ret})`, ret >= 0);
    if (ret >= 0) {
      for (let p = 0; p < 3; p++) {
        k.expectTrue(`AVFrame.data[${p}]: NULL`, k.ptr(frame, F("data"), p) !== 0n);
        k.expectTrue(
          `AVFrame.linesize[${p}] too small`,
          k.i32(frame, F("linesize"), p * 4) >= (p ? 32 : 64),
        );
      }
      k.expect(F("data"), k.ptr(frame, F("data"), 3), 0n);
    }
    avutil.av_frame_unref(frame);
    k.setI32(frame, F("nb_samples"), 100);
    k.setI32(frame, F("format"), AV_SAMPLE_FMT_FLTP);
    k.setI32(frame, F("sample_rate"), 48000);
    const layout = Deno.UnsafePointer.offset(frame, k.layout.AVFrame.ch_layout);
    avutil.av_channel_layout_default(
      new Uint8Array(
        Deno.UnsafePointerView.getArrayBuffer(layout!, k.layout.AVChannelLayout.sizeof),
      ),
      2,
    );
    ret = avutil.av_frame_get_buffer(frame, 0);
    k.expectTrue(
      `AVFrame.nb_samples/format/ch_layout: av_frame_get_buffer failed (${ret})`,
      ret >= 0,
    );
    if (ret >= 0) {
      k.expectTrue(
        "AVFrame.data[1]: NULL for 2 planar channels",
        k.ptr(frame, F("data"), 1) !== 0n,
      );
      k.expect(F("data"), k.ptr(frame, F("data"), 2), 0n);
      k.expectTrue("AVFrame.linesize[0] too small", k.i32(frame, F("linesize")) >= 400);
      k.expect(F("extended_data"), k.ptr(frame, F("extended_data")), k.address(frame, F("data")));
    }
    // Properties written through the table, copied by av_frame_copy_props, read back from the
    // copy: a field that FFmpeg does not copy as that property shows up as a mismatch.
    const copy = avutil.av_frame_alloc();
    if (copy === null) throw new Error("av_frame_alloc returned NULL");
    try {
      k.setI64(frame, F("pts"), 111_111n);
      k.setI64(frame, F("best_effort_timestamp"), 222_222n);
      k.setI32(frame, F("pict_type"), AV_PICTURE_TYPE_P);
      k.setI32(frame, F("color_range"), AVCOL_RANGE_JPEG);
      k.setI32(frame, F("colorspace"), AVCOL_SPC_BT709);
      k.setI32(frame, F("flags"), FRAME_FLAGS_TFF);
      if ("interlaced_frame" in k.layout.AVFrame) {
        k.setI32(frame, F("interlaced_frame"), 1);
        k.setI32(frame, F("top_field_first"), 1);
      }
      k.setI32(frame, F("sample_aspect_ratio"), 5);
      k.setI32(frame, F("sample_aspect_ratio"), 7, 4);
      ret = avutil.av_frame_copy_props(copy, frame);
      k.expectTrue(`av_frame_copy_props failed (${ret})`, ret >= 0);
      k.expect(F("pts"), k.i64(copy, F("pts")), 111_111n);
      k.expect(F("best_effort_timestamp"), k.i64(copy, F("best_effort_timestamp")), 222_222n);
      k.expect(F("pict_type"), k.i32(copy, F("pict_type")), AV_PICTURE_TYPE_P);
      k.expect(F("color_range"), k.i32(copy, F("color_range")), AVCOL_RANGE_JPEG);
      k.expect(F("colorspace"), k.i32(copy, F("colorspace")), AVCOL_SPC_BT709);
      k.expect(F("flags"), k.i32(copy, F("flags")), FRAME_FLAGS_TFF);
      if ("interlaced_frame" in k.layout.AVFrame) {
        k.expect(F("interlaced_frame"), k.i32(copy, F("interlaced_frame")), 1);
        k.expect(F("top_field_first"), k.i32(copy, F("top_field_first")), 1);
      }
      k.expect(F("sample_rate"), k.i32(copy, F("sample_rate")), 48000);
      k.expect(F("sample_aspect_ratio"), k.i32(copy, F("sample_aspect_ratio")), 5);
      k.expect(F("sample_aspect_ratio"), k.i32(copy, F("sample_aspect_ratio"), 4), 7);
      // Not properties: not copied.
      k.expect(F("nb_samples"), k.i32(copy, F("nb_samples")), 0);
      k.expect(F("format"), k.i32(copy, F("format")), -1);
    } finally {
      avutil.av_frame_free(cell(copy));
    }
  } finally {
    avutil.av_frame_free(cell(frame));
  }
}

/**
 * AVPacket: defaults, a payload from `av_new_packet`, timestamps rescaled by
 * `av_packet_rescale_ts` and properties copied by `av_packet_ref`, all through the table.
 */
function checkPacket(libs: FfmpegLibraries, k: Checker): void {
  const { avcodec } = libs;
  const P = (field: string): Field => ["AVPacket", field];
  const src = avcodec.av_packet_alloc();
  const dst = avcodec.av_packet_alloc();
  try {
    if (src === null || dst === null) throw new Error("av_packet_alloc returned NULL");
    k.expect(P("pts"), k.i64(src, P("pts")), AV_NOPTS_VALUE);
    k.expect(P("dts"), k.i64(src, P("dts")), AV_NOPTS_VALUE);
    k.expect(P("pos"), k.i64(src, P("pos")), -1n);
    check(avcodec.av_new_packet(src, 100), "av_new_packet");
    k.expect(P("size"), k.i32(src, P("size")), 100);
    const data = k.ptr(src, P("data"));
    const buf = k.deref(k.ptr(src, P("buf")));
    // AVBufferRef { AVBuffer *buffer; uint8_t *data; size_t size; } in every version.
    k.expect(
      P("buf"),
      buf === null ? 0n : new Deno.UnsafePointerView(buf).getBigUint64(8),
      data,
    );
    k.setI64(src, P("pts"), 1000n);
    k.setI64(src, P("dts"), 900n);
    k.setI64(src, P("duration"), 10n);
    avcodec.av_packet_rescale_ts(src, rational(1, 1000), rational(1, 90000));
    k.expect(P("pts"), k.i64(src, P("pts")), 90000n);
    k.expect(P("dts"), k.i64(src, P("dts")), 81000n);
    k.expect(P("duration"), k.i64(src, P("duration")), 900n);
    k.setI32(src, P("stream_index"), 3);
    k.setI32(src, P("flags"), AV_PKT_FLAG_KEY);
    check(avcodec.av_packet_ref(dst, src), "av_packet_ref");
    k.expect(P("stream_index"), k.i32(dst, P("stream_index")), 3);
    k.expect(P("flags"), k.i32(dst, P("flags")), AV_PKT_FLAG_KEY);
    k.expect(P("size"), k.i32(dst, P("size")), 100);
    k.expect(P("pts"), k.i64(dst, P("pts")), 90000n);
  } finally {
    avcodec.av_packet_free(cell(src));
    avcodec.av_packet_free(cell(dst));
  }
}

/** AVPixFmtDescriptor/AVComponentDescriptor: yuv420p and nv12 as FFmpeg describes them. */
function checkPixFmtDescriptors(libs: FfmpegLibraries, k: Checker): void {
  const { avutil } = libs;
  const d = k.layout.AVPixFmtDescriptor;
  const comp = k.layout.AVComponentDescriptor;
  const expectFormat = (format: number, planes: number[], steps: number[], offsets: number[]) => {
    const desc = avutil.av_pix_fmt_desc_get(format);
    if (desc === null) throw new Error(`av_pix_fmt_desc_get(${format}) returned NULL`);
    const v = new Deno.UnsafePointerView(desc);
    k.expect(
      ["AVPixFmtDescriptor", "name"],
      v.getBigUint64(d.name),
      Deno.UnsafePointer.value(avutil.av_get_pix_fmt_name(format)),
    );
    k.expect(["AVPixFmtDescriptor", "nb_components"], v.getUint8(d.nb_components), 3);
    k.expect(["AVPixFmtDescriptor", "log2_chroma_w"], v.getUint8(d.log2_chroma_w), 1);
    k.expect(["AVPixFmtDescriptor", "log2_chroma_h"], v.getUint8(d.log2_chroma_h), 1);
    k.expect(
      ["AVPixFmtDescriptor", "flags"],
      (v.getBigUint64(d.flags) & AV_PIX_FMT_FLAG_PLANAR) !== 0n,
      true,
    );
    for (let i = 0; i < 3; i++) {
      const at = d.comp + i * comp.sizeof;
      k.expect(["AVComponentDescriptor", "plane"], v.getInt32(at + comp.plane), planes[i]);
      k.expect(["AVComponentDescriptor", "step"], v.getInt32(at + comp.step), steps[i]);
      k.expect(["AVComponentDescriptor", "offset"], v.getInt32(at + comp.offset), offsets[i]);
      k.expect(["AVComponentDescriptor", "depth"], v.getInt32(at + comp.depth), 8);
    }
  };
  expectFormat(AV_PIX_FMT_YUV420P, [0, 1, 2], [1, 1, 1], [0, 0, 0]);
  expectFormat(AV_PIX_FMT_NV12, [0, 1, 1], [1, 2, 2], [0, 0, 1]);
}

/** AVDictionaryEntry: an entry made by `av_dict_set` and found by `av_dict_get`. */
function checkDictionary(libs: FfmpegLibraries, k: Checker): void {
  const { avutil } = libs;
  const dict = cell();
  try {
    check(avutil.av_dict_set(dict, c("title"), c("retrovue"), 0), "av_dict_set");
    const entry = avutil.av_dict_get(Deno.UnsafePointer.create(dict[0]), c("title"), null, 0);
    if (entry === null) throw new Error("av_dict_get found nothing");
    const view = new Deno.UnsafePointerView(entry);
    const text = (field: string) => {
      const p = k.deref(view.getBigUint64(k.layout.AVDictionaryEntry[field]));
      return p === null ? "" : Deno.UnsafePointerView.getCString(p);
    };
    k.expect(["AVDictionaryEntry", "key"], text("key"), "title");
    k.expect(["AVDictionaryEntry", "value"], text("value"), "retrovue");
  } finally {
    avutil.av_dict_free(dict);
  }
}

/** AVIOContext: the buffer `avio_alloc_context` was given is the one the table finds. */
function checkIoContext(libs: FfmpegLibraries, k: Checker): void {
  const { avutil, avformat } = libs;
  const buf = avutil.av_malloc(4096n);
  if (buf === null) throw new Error("av_malloc returned NULL");
  const pb = avformat.avio_alloc_context(buf, 4096, 1, null, null, null, null);
  try {
    if (pb === null) throw new Error("avio_alloc_context returned NULL");
    k.expect(
      ["AVIOContext", "buffer"],
      k.ptr(pb, ["AVIOContext", "buffer"]),
      Deno.UnsafePointer.value(buf),
    );
  } finally {
    avutil.av_free(buf);
    if (pb !== null) avformat.avio_context_free(cell(pb));
  }
}

const CHECKS = [
  checkDictionary,
  checkIoContext,
  checkCodecContexts,
  checkFormatContext,
  checkFrame,
  checkPacket,
  checkPixFmtDescriptors,
];

function check(ret: number, call: string): void {
  if (ret < 0) throw new Error(`${call} failed during the layout check (${ret})`);
}
