/**
 * {@link Muxer}: muxes encoded packets into MPEG-TS with libavformat, into memory or into a
 * file. In memory, one AVIO context and buffer serve the muxer's whole life: its write
 * callback copies what FFmpeg flushes into JavaScript once, for {@link Muxer.takeOutput}.
 * Packets reach the muxer either as JS copies ({@link Muxer.write}) or straight from their
 * encoder in native memory ({@link MuxerInput}).
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import {
  type EncodedPacket,
  encoderContext,
  type PacketTiming,
  registerDestination,
} from "./encoded_packet.ts";
import type { AudioEncoder } from "./audio_encoder.ts";
import type { VideoEncoder } from "./video_encoder.ts";
import { cString, ffmpeg } from "./library.ts";
import {
  AV_NOPTS_VALUE,
  check,
  nonNull,
  PointerCell,
  type Ptr,
  readCString,
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
/** Bytes of the memory muxer's AVIO buffer: a frame's TS at 480p–1080p fits in one flush. */
const IO_BUFFER = 256 * 1024;

interface MuxStream {
  encoder: VideoEncoder | AudioEncoder;
  encoderTimeBase: Rational;
  streamTimeBase: Rational;
  /** Encoder → stream time base, once the header set the latter. */
  toStream: (v: bigint) => bigint;
  stream: Ptr;
}

/** The memory muxer's I/O: an AVIO context whose write callback collects chunks in JS. */
interface MemoryIo {
  pb: Ptr;
  callback: Deno.UnsafeCallback<typeof WRITE_PACKET>;
  chunks: Uint8Array[];
}

const WRITE_PACKET = {
  parameters: ["pointer", "pointer", "i32"],
  result: "i32",
} as const satisfies Deno.UnsafeCallbackDefinition;

/**
 * One stream of a {@link Muxer} as the destination of its encoder's packets
 * (`VideoEncoder.encodeInto`, `AudioEncoder.encodeInto`): each packet goes from the encoder into
 * the muxer in native memory, its timestamps moved by {@link MuxerInput.offset}. Made by
 * {@link Muxer.input}.
 */
export class MuxerInput {
  /** The stream's index in the muxer. */
  readonly streamIndex: number;
  /** Added to every timestamp, in the encoder's time base. */
  readonly offset: number;

  /** @internal Use {@link Muxer.input}. */
  constructor(streamIndex: number, offset: number) {
    this.streamIndex = streamIndex;
    this.offset = offset;
  }
}

/** An MPEG-TS muxer. Synchronous; owns its format context and I/O until `close()`. */
export class Muxer {
  #ctx: Ptr | null;
  readonly #file?: string;
  readonly #options: Record<string, string>;
  readonly #streams: MuxStream[] = [];
  #pkt: Ptr | null;
  #pktView: StructView | null = null;
  #io: MemoryIo | null = null;
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
      this.#pktView = new StructView(this.#pkt, "AVPacket");
      const pb = new PointerCell();
      if (o.file) {
        check(avformat.avio_open(pb.buf, cString(o.file), AVIO_FLAG_WRITE), "avio_open", o.file);
      } else {
        this.#io = openMemoryIo();
        pb.buf[0] = Deno.UnsafePointer.value(this.#io.pb);
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
    this.#streams.push({
      encoder,
      encoderTimeBase: timeBase,
      streamTimeBase: timeBase,
      toStream: (v) => v,
      stream: st,
    });
    return this.#streams.length - 1;
  }

  /**
   * Stream `streamIndex` as the destination of its encoder's packets, timestamps moved by
   * `offset` (encoder time base): pass it to the encoder's `encodeInto`.
   */
  input(streamIndex: number, opts: { offset?: number } = {}): MuxerInput {
    this.#open();
    const s = this.#streams[streamIndex];
    if (s === undefined) throw new FfmpegArgumentError("no such stream", streamIndex);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset)) {
      throw new FfmpegArgumentError("offset must be an integer", offset);
    }
    const input = new MuxerInput(streamIndex, offset);
    const big = BigInt(offset);
    registerDestination(
      input,
      s.encoder,
      (pkt, view, timing) => this.#writeNative(streamIndex, s, pkt, view, big, timing),
    );
    return input;
  }

  /**
   * Hands `input`'s stream to another encoder of the same codec and time base (a channel's
   * video encoder replaced mid-stream, its first packet a keyframe with its parameter sets in
   * band): `input` then takes that encoder's packets, and no longer the old one's.
   */
  rebindInput(input: MuxerInput, encoder: VideoEncoder | AudioEncoder): void {
    this.#open();
    const s = this.#streams[input.streamIndex];
    if (s === undefined) throw new FfmpegArgumentError("no such stream", input.streamIndex);
    const { timeBase } = encoderContext(encoder);
    if (
      timeBase.num * s.encoderTimeBase.den !== s.encoderTimeBase.num * timeBase.den ||
      encoder.options.codec !== s.encoder.options.codec
    ) {
      throw new FfmpegArgumentError(
        "the new encoder's codec and time base must be the stream's",
        `${encoder.options.codec} ${timeBase.num}/${timeBase.den}`,
      );
    }
    s.encoder = encoder;
    const big = BigInt(input.offset);
    const streamIndex = input.streamIndex;
    registerDestination(
      input,
      encoder,
      (pkt, view, timing) => this.#writeNative(streamIndex, s, pkt, view, big, timing),
    );
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
      s.toStream = rescaler(s.encoderTimeBase, s.streamTimeBase);
    }
  }

  #writable(streamIndex: number): { ctx: Ptr; s: MuxStream } {
    const ctx = this.#open();
    if (!this.#headerWritten || this.#finished) {
      throw new FfmpegArgumentError(
        "write() needs writeHeader() first and no finish()",
        streamIndex,
      );
    }
    const s = this.#streams[streamIndex];
    if (s === undefined) throw new FfmpegArgumentError("no such stream", streamIndex);
    return { ctx, s };
  }

  /** Sets stream, timestamps (moved by `offset`, rescaled) of `v`'s packet and muxes it. */
  #mux(ctx: Ptr, streamIndex: number, s: MuxStream, p: Ptr, v: StructView, offset: bigint): void {
    for (const field of ["pts", "dts"] as const) {
      const ts = v.big(field);
      if (ts !== AV_NOPTS_VALUE) v.setI64(field, s.toStream(ts + offset));
    }
    v.setI64("duration", s.toStream(v.big("duration")));
    v.setI32("stream_index", streamIndex);
    // Takes the packet's reference whether it succeeds or not.
    const ret = ffmpeg().avformat.av_interleaved_write_frame(ctx, p);
    if (ret < 0) {
      ffmpeg().avcodec.av_packet_unref(p);
      check(ret, "av_interleaved_write_frame", { streamIndex, pts: v.i64("pts") });
    }
  }

  #writeNative(
    streamIndex: number,
    stream: MuxStream,
    pkt: Ptr,
    view: StructView,
    offset: bigint,
    timing: PacketTiming,
  ): void {
    const { ctx, s } = this.#writable(streamIndex);
    if (s !== stream) throw new FfmpegArgumentError("stale muxer input", { streamIndex, timing });
    this.#mux(ctx, streamIndex, s, pkt, view, offset);
  }

  /** Writes one packet of stream `streamIndex` (timestamps in its encoder's time base). */
  write(streamIndex: number, pkt: EncodedPacket): void {
    const { ctx, s } = this.#writable(streamIndex);
    const { avcodec } = ffmpeg();
    const p = this.#pkt!;
    const v = this.#pktView!;
    check(avcodec.av_new_packet(p, pkt.data.length), "av_new_packet", pkt.data.length);
    const data = v.ptr("data");
    if (data !== null && pkt.data.length > 0) {
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(data, pkt.data.length)).set(pkt.data);
    }
    v.setI64("pts", pkt.pts);
    v.setI64("dts", pkt.dts);
    v.setI64("duration", pkt.duration);
    v.setI32("flags", pkt.isKey ? AV_PKT_FLAG_KEY : 0);
    this.#mux(ctx, streamIndex, s, p, v, 0n);
  }

  /** Memory mode: the bytes muxed since the last call, as whole 188-byte TS packets. */
  takeOutput(): Uint8Array {
    this.#open();
    if (this.#io === null || this.#finished) return new Uint8Array(0);
    return this.#whole(this.#drain());
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
    const rest = this.#drain();
    const out = new Uint8Array(this.#carry.length + rest.length);
    out.set(this.#carry);
    out.set(rest, this.#carry.length);
    this.#carry = new Uint8Array(0);
    return out;
  }

  /** Flushes the memory I/O and returns (in one piece) what its callback collected. */
  #drain(): Uint8Array {
    const io = this.#io;
    if (io === null) return new Uint8Array(0);
    ffmpeg().avformat.avio_flush(io.pb);
    const { chunks } = io;
    if (chunks.length === 0) return new Uint8Array(0);
    const first = chunks[0];
    if (chunks.length === 1) {
      chunks.length = 0;
      return first;
    }
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    chunks.length = 0;
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
    const { avformat, avcodec } = ffmpeg();
    if (this.#pkt !== null) avcodec.av_packet_free(new PointerCell(this.#pkt).buf);
    this.#pkt = null;
    this.#pktView = null;
    const ctx = this.#ctx;
    if (ctx !== null) {
      this.#ctx = null;
      const view = new StructView(ctx, "AVFormatContext");
      const pb = view.ptr("pb");
      view.setPtr("pb", null);
      if (pb !== null && this.#file !== undefined) avformat.avio_closep(new PointerCell(pb).buf);
      avformat.avformat_free_context(ctx);
    }
    if (this.#io !== null) closeMemoryIo(this.#io);
    this.#io = null;
  }

  /** Same as {@link Muxer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** An AVIO context for writing whose callback copies every flushed block into `chunks`. */
function openMemoryIo(): MemoryIo {
  const { avformat, avutil } = ffmpeg();
  const buffer = nonNull(avutil.av_malloc(BigInt(IO_BUFFER)), "av_malloc", IO_BUFFER);
  const chunks: Uint8Array[] = [];
  // Called synchronously by FFmpeg on this thread, inside the muxer's calls.
  const callback = new Deno.UnsafeCallback(WRITE_PACKET, (_opaque, buf, size) => {
    if (buf !== null && size > 0) {
      const chunk = new Uint8Array(size);
      Deno.UnsafePointerView.copyInto(buf, chunk);
      chunks.push(chunk);
    }
    return size;
  });
  const pb = avformat.avio_alloc_context(buffer, IO_BUFFER, 1, null, null, callback.pointer, null);
  if (pb === null) {
    avutil.av_free(buffer);
    callback.close();
    throw new FfmpegError("avio_alloc_context", 0, "returned NULL", IO_BUFFER);
  }
  return { pb, callback, chunks };
}

/** Frees the context, the buffer it holds now (FFmpeg may replace it) and the callback. */
function closeMemoryIo(io: MemoryIo): void {
  const { avformat, avutil } = ffmpeg();
  const buffer = new StructView(io.pb, "AVIOContext").ptr("buffer");
  if (buffer !== null) avutil.av_free(buffer);
  avformat.avio_context_free(new PointerCell(io.pb).buf);
  io.callback.close();
}

/**
 * `v · from / to` for timestamps, rounded to the nearest (halves away from zero, as
 * `av_rescale_q`), exact for every 64-bit value.
 */
function rescaler(from: Rational, to: Rational): (v: bigint) => bigint {
  let a = BigInt(from.num) * BigInt(to.den);
  let b = BigInt(from.den) * BigInt(to.num);
  const g = gcd(a, b);
  a /= g;
  b /= g;
  if (b === 1n) return a === 1n ? (v) => v : (v) => v * a;
  const r = b / 2n;
  return (v) => (v < 0n ? -((-v * a + r) / b) : (v * a + r) / b);
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
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
