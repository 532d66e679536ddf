/**
 * {@link Deinterlacer}: turns interlaced decoded pictures into progressive ones with
 * libavfilter's `bwdif` (`buffer → bwdif → buffersink`), one output picture per input picture
 * (`mode=send_frame`), so frame rates are unchanged. Pictures the decoder marks progressive
 * pass through the graph untouched (`deint=interlaced`). The graph is built from opaque
 * pointers and AVOptions only; it is rebuilt when the picture size, format, aspect or colour
 * changes, and freed by {@link Deinterlacer.close}.
 *
 * `bwdif` looks one picture ahead: the picture pushed first comes out when the second is
 * pushed, and {@link Deinterlacer.flush} returns the last one at the end of the stream.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import { type DecodedFrame, NativeFrame, nativeFrame } from "./decoded_frame.ts";
import { cString, ffmpeg } from "./library.ts";
import {
  AVERROR_EAGAIN,
  AVERROR_EOF,
  check,
  nonNull,
  PointerCell,
  type Ptr,
  StructView,
} from "./native.ts";
import { pixelFormatName } from "./scaler.ts";

/** Options of a {@link Deinterlacer}. */
export interface DeinterlacerOptions {
  /** Slice threads of the filter graph (0: FFmpeg picks from the CPU count). Default 1. */
  threads?: number;
}

/** `AV_OPT_SEARCH_CHILDREN`: a filter's own options live in its private context. */
const AV_OPT_SEARCH_CHILDREN = 1;
/** `AVERROR_OPTION_NOT_FOUND`: `FFERRTAG(0xF8,'O','P','T')`. */
const AVERROR_OPTION_NOT_FOUND = -0x54504ff8;

/** One configured `buffer → bwdif → buffersink` graph. */
interface Graph {
  key: string;
  graph: Ptr;
  source: Ptr;
  sink: Ptr;
}

/** Deinterlaces the pictures of one video stream. Synchronous; owns its filter graph. */
export class Deinterlacer {
  readonly #timeBase: Rational;
  readonly #threads: number;
  #graph: Graph | undefined;
  #scratch: Ptr | null;
  #closed = false;

  /** `timeBase`: of the frames' timestamps (the decoder's stream time base). */
  constructor(timeBase: Rational, opts: DeinterlacerOptions = {}) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 0) {
      throw new FfmpegArgumentError("threads must be a non-negative integer", threads);
    }
    if (!(timeBase.num > 0 && timeBase.den > 0)) {
      throw new FfmpegArgumentError("time base must be positive", timeBase);
    }
    this.#timeBase = { ...timeBase };
    this.#threads = threads;
    this.#scratch = nonNull(ffmpeg().avutil.av_frame_alloc(), "av_frame_alloc");
  }

  /**
   * Takes `frame` (it is freed, whatever happens) and returns the progressive pictures that
   * are ready: usually one, none for the very first picture of a stream or after a change of
   * size/format (then also the last picture of the old graph). Caller frees the results.
   */
  push(frame: DecodedFrame): DecodedFrame[] {
    try {
      if (this.#closed) throw new FfmpegClosedError("Deinterlacer");
      if (frame.kind !== "video") {
        throw new FfmpegArgumentError("Deinterlacer needs a video frame", frame.kind);
      }
      const ptr = nativeFrame(frame);
      const v = new StructView(ptr, "AVFrame");
      const key = [
        v.i32("width"),
        v.i32("height"),
        v.i32("format"),
        frame.sar?.num ?? 0,
        frame.sar?.den ?? 1,
        v.i32("colorspace"),
        v.i32("color_range"),
      ].join("/");
      const out = this.#graph !== undefined && this.#graph.key !== key ? this.flush() : [];
      const graph = this.#graph ??= this.#build(key, v, frame);
      // bwdif times its output by `pts`; the decoder's best guess is in best_effort_timestamp.
      const best = v.i64("best_effort_timestamp");
      if (best !== undefined) v.setI64("pts", best);
      // Flags 0: the graph takes the frame's references; the emptied AVFrame is freed below.
      check(
        ffmpeg().avfilter.av_buffersrc_add_frame_flags(graph.source, ptr, 0),
        "av_buffersrc_add_frame_flags",
        { key },
      );
      this.#pull(graph, out);
      return out;
    } finally {
      frame.free();
    }
  }

  /**
   * Ends the stream: returns the pictures the filter still holds and frees the graph (the
   * next {@link Deinterlacer.push} starts a new one). Caller frees the results.
   */
  flush(): DecodedFrame[] {
    if (this.#closed) throw new FfmpegClosedError("Deinterlacer");
    const graph = this.#graph;
    if (graph === undefined) return [];
    const out: DecodedFrame[] = [];
    try {
      check(
        ffmpeg().avfilter.av_buffersrc_add_frame_flags(graph.source, null, 0),
        "av_buffersrc_add_frame_flags(EOF)",
        { key: graph.key },
      );
      this.#pull(graph, out);
    } finally {
      this.#freeGraph();
    }
    return out;
  }

  /** Moves every picture the sink has into `out`. */
  #pull(graph: Graph, out: DecodedFrame[]): void {
    const { avfilter, avutil } = ffmpeg();
    const scratch = this.#scratch!;
    for (;;) {
      const ret = avfilter.av_buffersink_get_frame(graph.sink, scratch);
      if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return;
      check(ret, "av_buffersink_get_frame", { key: graph.key });
      const frame = nonNull(avutil.av_frame_alloc(), "av_frame_alloc");
      avutil.av_frame_move_ref(frame, scratch);
      out.push(new NativeFrame(frame, "video", this.#timeBase));
    }
  }

  #build(key: string, v: StructView, frame: DecodedFrame): Graph {
    const { avfilter, avutil } = ffmpeg();
    const value = { key };
    const graph = nonNull(avfilter.avfilter_graph_alloc(), "avfilter_graph_alloc", value);
    try {
      check(
        avutil.av_opt_set_int(graph, cString("threads"), BigInt(this.#threads), 0),
        "av_opt_set_int(threads)",
        this.#threads,
      );
      const tb = this.#timeBase;
      const sar = frame.sar ?? { num: 0, den: 1 };
      const source = this.#filter(graph, "buffer", "in", {
        video_size: `${v.i32("width")}x${v.i32("height")}`,
        pix_fmt: pixelFormatName(v.i32("format")),
        time_base: `${tb.num}/${tb.den}`,
        pixel_aspect: `${sar.num}/${sar.den}`,
      }, {
        // FFmpeg 7.1 and later negotiate colour along the graph: tell the source what it is.
        // Older buffer sources have no such options, and pass the frames' colour through.
        colorspace: v.i32("colorspace"),
        range: v.i32("color_range"),
      });
      const bwdif = this.#filter(graph, "bwdif", "deinterlace", {
        mode: "send_frame",
        parity: "auto",
        deint: "interlaced",
      });
      const sink = this.#filter(graph, "buffersink", "out", {});
      check(avfilter.avfilter_link(source, 0, bwdif, 0), "avfilter_link(buffer, bwdif)", value);
      check(avfilter.avfilter_link(bwdif, 0, sink, 0), "avfilter_link(bwdif, buffersink)", value);
      check(avfilter.avfilter_graph_config(graph, null), "avfilter_graph_config", value);
      return { key, graph, source, sink };
    } catch (err) {
      avfilter.avfilter_graph_free(new PointerCell(graph).buf);
      throw err;
    }
  }

  /**
   * Adds filter `name` to `graph` with string `options` and, where this FFmpeg has them,
   * integer `optional` options, and initialises it.
   */
  #filter(
    graph: Ptr,
    name: string,
    label: string,
    options: Record<string, string>,
    optional: Record<string, number> = {},
  ): Ptr {
    const { avfilter, avutil } = ffmpeg();
    const filter = avfilter.avfilter_get_by_name(cString(name));
    if (filter === null) {
      throw new FfmpegError("avfilter_get_by_name", AVERROR_OPTION_NOT_FOUND, "no such filter", {
        filter: name,
      });
    }
    const ctx = nonNull(
      avfilter.avfilter_graph_alloc_filter(graph, filter, cString(label)),
      "avfilter_graph_alloc_filter",
      name,
    );
    for (const [option, value] of Object.entries(options)) {
      check(
        avutil.av_opt_set(ctx, cString(option), cString(value), AV_OPT_SEARCH_CHILDREN),
        `av_opt_set(${name}.${option})`,
        value,
      );
    }
    for (const [option, value] of Object.entries(optional)) {
      const ret = avutil.av_opt_set_int(
        ctx,
        cString(option),
        BigInt(value),
        AV_OPT_SEARCH_CHILDREN,
      );
      if (ret !== AVERROR_OPTION_NOT_FOUND) check(ret, `av_opt_set_int(${name}.${option})`, value);
    }
    check(avfilter.avfilter_init_str(ctx, null), `avfilter_init_str(${name})`, options);
    return ctx;
  }

  #freeGraph(): void {
    if (this.#graph === undefined) return;
    ffmpeg().avfilter.avfilter_graph_free(new PointerCell(this.#graph.graph).buf);
    this.#graph = undefined;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Frees the filter graph and its pictures. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#freeGraph();
    ffmpeg().avutil.av_frame_free(new PointerCell(this.#scratch).buf);
    this.#scratch = null;
  }

  /** Same as {@link Deinterlacer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
