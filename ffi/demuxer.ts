/**
 * {@link Demuxer}: opens a media file with libavformat, describes its streams and reads
 * compressed {@link Packet}s.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegClosedError, FfmpegError } from "./errors.ts";
import { cString, ffmpeg } from "./library.ts";
import {
  AV_TIME_BASE,
  AVERROR_EOF,
  check,
  errorText,
  layout,
  nonNull,
  PointerCell,
  type Ptr,
  readCString,
  StructView,
} from "./native.ts";
import { withOpenLock } from "./open_lock.ts";
import { Packet } from "./packet.ts";

/** Media kind of a stream. */
export type StreamKind = "video" | "audio" | "other";

/** What a stream carries, read from its codec parameters after probing. */
export interface StreamInfo {
  /** Stream index in the container. */
  index: number;
  /** Media kind. */
  kind: StreamKind;
  /** FFmpeg codec name, e.g. "h264", "aac". */
  codecName: string;
  /** Time base of the stream's packet timestamps. */
  timeBase: Rational;
  /** First timestamp in seconds, when known. */
  startTime?: number;
  /** Duration in seconds, when known. */
  duration?: number;
  /** Number of frames when the container says so. */
  frames?: number;
  /** Video: coded width. */
  width?: number;
  /** Video: coded height. */
  height?: number;
  /** Video: sample (pixel) aspect ratio, when known and not 1:1-unknown. */
  sar?: Rational;
  /** Video: average frame rate, else the real base frame rate. */
  frameRate?: Rational;
  /** Audio: sample rate in Hz. */
  sampleRate?: number;
  /** Audio: channel count. */
  channels?: number;
}

const AVMEDIA_TYPE_VIDEO = 0;
const AVMEDIA_TYPE_AUDIO = 1;
const INT64_MIN = -0x8000000000000000n;

/** Internal view of a stream for decoders: codec parameters and time base. */
export interface DemuxerStream {
  readonly codecpar: Ptr;
  readonly info: StreamInfo;
}

let streamOf: (d: Demuxer, index: number) => DemuxerStream;

/** A demuxer over one media file. Synchronous; owns its native context until `close()`. */
export class Demuxer {
  #ctx: Ptr | null;
  readonly #codecpars: Ptr[];
  /** The path given to {@link Demuxer.open}. */
  readonly path: string;
  /** Stream descriptions, indexed by stream index. */
  readonly streams: StreamInfo[];
  /** Container duration in seconds, when known. */
  readonly durationSeconds?: number;
  /** Container start time in seconds (the timestamp of the first frame), when known. */
  readonly startTimeSeconds?: number;
  /** Container format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "mpegts". */
  readonly formatName: string;

  static {
    streamOf = (d, index) => {
      d.#open();
      const info = d.streams[index];
      if (info === undefined) {
        throw new FfmpegError("Demuxer.stream", 0, "no such stream", { path: d.path, index });
      }
      return { codecpar: d.#codecpars[index], info };
    };
  }

  private constructor(ctx: Ptr, path: string) {
    this.#ctx = ctx;
    this.path = path;
    const fmt = new StructView(ctx, "AVFormatContext");
    this.durationSeconds = secondsOf(fmt.i64("duration"));
    this.startTimeSeconds = secondsOf(fmt.i64("start_time"));
    const iformat = fmt.ptr("iformat");
    this.formatName = iformat === null ? "" : readCString(new Deno.UnsafePointerView(iformat)
      .getPointer(0));
    const count = fmt.u32("nb_streams");
    const array = fmt.ptr("streams");
    this.streams = [];
    this.#codecpars = [];
    for (let i = 0; i < count; i++) {
      const st = nonNull(
        array === null ? null : new Deno.UnsafePointerView(array).getPointer(i * 8),
        "AVFormatContext.streams",
        { path, index: i },
      );
      const sv = new StructView(st, "AVStream");
      const par = nonNull(sv.ptr("codecpar"), "AVStream.codecpar", { path, index: i });
      this.#codecpars.push(par);
      this.streams.push(describeStream(i, sv, new StructView(par, "AVCodecParameters")));
    }
  }

  /**
   * Opens and probes `path`. Throws {@link FfmpegError} naming the path when the file is
   * missing, empty, not media, or cannot be probed.
   */
  static open(path: string): Demuxer {
    const { avformat } = ffmpeg();
    const ctx = withOpenLock(() => {
      const cell = new PointerCell();
      check(
        avformat.avformat_open_input(cell.buf, cString(path), null, null),
        "avformat_open_input",
        path,
      );
      const ctx = nonNull(cell.get(), "avformat_open_input", path);
      const ret = avformat.avformat_find_stream_info(ctx, null);
      if (ret < 0) {
        avformat.avformat_close_input(new PointerCell(ctx).buf);
        throw new FfmpegError("avformat_find_stream_info", ret, errorText(ret), path);
      }
      return ctx;
    });
    return new Demuxer(ctx, path);
  }

  #open(): Ptr {
    if (this.#ctx === null) throw new FfmpegClosedError("Demuxer");
    return this.#ctx;
  }

  /** Index of the best stream of `kind` (FFmpeg's choice), or -1 when there is none. */
  bestStream(kind: "video" | "audio"): number {
    const type = kind === "video" ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO;
    const ret = ffmpeg().avformat.av_find_best_stream(this.#open(), type, -1, -1, null, 0);
    return ret < 0 ? -1 : ret;
  }

  /**
   * Seeks to the keyframe at or before `seconds`, on the container's timeline (the same scale
   * as {@link DecodedFrame.ptsSeconds}; add {@link Demuxer.startTimeSeconds} to seek to an
   * offset into the media). Flush decoders afterwards.
   */
  seek(seconds: number): void {
    const ctx = this.#open();
    if (!Number.isFinite(seconds)) {
      throw new FfmpegError("avformat_seek_file", 0, "seek target is not finite", seconds);
    }
    const ts = BigInt(Math.round(seconds * AV_TIME_BASE));
    const ret = ffmpeg().avformat.avformat_seek_file(ctx, -1, INT64_MIN, ts, ts, 0);
    check(ret, "avformat_seek_file", { path: this.path, seconds });
  }

  /**
   * The container-level metadata tag `key` (e.g. `"title"`; matched case-insensitively, as
   * FFmpeg does), or undefined when the file has no such tag or it is empty.
   */
  tag(key: string): string | undefined {
    const dict = new StructView(this.#open(), "AVFormatContext").ptr("metadata");
    if (dict === null) return undefined;
    const entry = ffmpeg().avutil.av_dict_get(dict, cString(key), null, 0);
    if (entry === null) return undefined;
    const value = readCString(new StructView(entry, "AVDictionaryEntry").ptr("value"));
    return value === "" ? undefined : value;
  }

  /** Reads the next packet of any stream; null at end of file. The caller frees the packet. */
  read(): Packet | null {
    const ctx = this.#open();
    const { avcodec, avformat } = ffmpeg();
    const pkt = nonNull(avcodec.av_packet_alloc(), "av_packet_alloc", this.path);
    const ret = avformat.av_read_frame(ctx, pkt);
    if (ret < 0) {
      avcodec.av_packet_free(new PointerCell(pkt).buf);
      if (ret === AVERROR_EOF) return null;
      throw new FfmpegError("av_read_frame", ret, errorText(ret), this.path);
    }
    const index = new StructView(pkt, "AVPacket").i32("stream_index");
    const info = this.streams[index];
    return new Packet(pkt, info ? info.timeBase : { num: 1, den: AV_TIME_BASE });
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#ctx === null;
  }

  /** Closes the file and frees the context. Safe to call twice. */
  close(): void {
    if (this.#ctx === null) return;
    ffmpeg().avformat.avformat_close_input(new PointerCell(this.#ctx).buf);
    this.#ctx = null;
  }

  /** Same as {@link Demuxer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal Codec parameters and info of one stream, for decoders. Not exported by mod.ts. */
export function demuxerStream(d: Demuxer, index: number): DemuxerStream {
  return streamOf(d, index);
}

function secondsOf(us: number | undefined): number | undefined {
  return us === undefined ? undefined : us / AV_TIME_BASE;
}

function ticksToSeconds(ticks: number | undefined, tb: Rational): number | undefined {
  return ticks === undefined ? undefined : (ticks * tb.num) / tb.den;
}

function positive(r: Rational | undefined): Rational | undefined {
  return r !== undefined && r.num > 0 && r.den > 0 ? r : undefined;
}

function describeStream(index: number, st: StructView, par: StructView): StreamInfo {
  const type = par.i32("codec_type");
  const kind: StreamKind = type === AVMEDIA_TYPE_VIDEO
    ? "video"
    : type === AVMEDIA_TYPE_AUDIO
    ? "audio"
    : "other";
  const timeBase = positive(st.rational("time_base")) ?? { num: 1, den: AV_TIME_BASE };
  const info: StreamInfo = {
    index,
    kind,
    codecName: readCString(ffmpeg().avcodec.avcodec_get_name(par.i32("codec_id"))),
    timeBase,
  };
  const start = ticksToSeconds(st.i64("start_time"), timeBase);
  if (start !== undefined) info.startTime = start;
  const duration = ticksToSeconds(st.i64("duration"), timeBase);
  if (duration !== undefined) info.duration = duration;
  const frames = st.i64("nb_frames");
  if (frames) info.frames = frames;
  if (kind === "video") {
    info.width = par.i32("width");
    info.height = par.i32("height");
    const sar = positive(par.rational("sample_aspect_ratio")) ??
      positive(st.rational("sample_aspect_ratio"));
    if (sar) info.sar = sar;
    const rate = positive(st.rational("avg_frame_rate")) ?? positive(st.rational("r_frame_rate"));
    if (rate) info.frameRate = rate;
  } else if (kind === "audio") {
    info.sampleRate = par.i32("sample_rate");
    info.channels = par.i32("ch_layout", layout().AVChannelLayout.nb_channels);
  }
  return info;
}
