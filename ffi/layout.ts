/**
 * Per-version struct layouts: byte offsets of the FFmpeg struct fields this layer reads or
 * writes directly, and each struct's `sizeof`. Everything else goes through accessor functions
 * and AVOptions. Keys are the C names; `sizeof` is the struct size.
 *
 * One table per FFmpeg major release line (`_layout_<libavcodec major>.ts`), each printed by
 * `tests/probe/layout_probe.c` compiled against that release's real headers and re-checked by
 * `tests/ffi_layout_test.ts` on every run (see `ffi/README.md` for where each header set comes
 * from). A release line without a table here is refused at load.
 *
 * @module
 */

import { LAYOUT_59 } from "./_layout_59.ts";
import { LAYOUT_60 } from "./_layout_60.ts";
import { LAYOUT_61 } from "./_layout_61.ts";
import { LAYOUT_62 } from "./_layout_62.ts";
import { LAYOUT_63 } from "./_layout_63.ts";

/** Field offsets of one struct, plus its `sizeof`. */
export type StructLayout = { readonly sizeof: number } & Readonly<Record<string, number>>;

/** The layouts of every struct this layer touches, for one FFmpeg release line. */
export interface LayoutTable {
  /** FFmpeg release line, e.g. "5.1". */
  readonly release: string;
  /** Library major versions of that line. */
  readonly majors: Readonly<{
    avcodec: number;
    avformat: number;
    avutil: number;
    swscale: number;
    swresample: number;
    avfilter: number;
  }>;
  readonly AVRational: StructLayout;
  readonly AVChannelLayout: StructLayout;
  readonly AVFormatContext: StructLayout;
  readonly AVStream: StructLayout;
  readonly AVCodecParameters: StructLayout;
  readonly AVCodecContext: StructLayout;
  readonly AVFrame: StructLayout;
  readonly AVPacket: StructLayout;
  readonly AVPixFmtDescriptor: StructLayout;
  readonly AVComponentDescriptor: StructLayout;
  readonly AVDictionaryEntry: StructLayout;
  readonly AVIOContext: StructLayout;
}

/** Layout tables keyed by libavcodec major version. */
export const LAYOUTS: Readonly<Record<number, LayoutTable>> = Object.freeze({
  59: LAYOUT_59,
  60: LAYOUT_60,
  61: LAYOUT_61,
  62: LAYOUT_62,
  63: LAYOUT_63,
});

/** The libavcodec major versions that have a layout table, newest first. */
export const SUPPORTED_AVCODEC_MAJORS: readonly number[] = Object.freeze([63, 62, 61, 60, 59]);

/** The supported FFmpeg release lines, oldest first, e.g. "5.1, 6.1, 7.1, 8.1, 9.0". */
export function supportedReleases(): string {
  return [...SUPPORTED_AVCODEC_MAJORS].reverse().map((m) => LAYOUTS[m].release).join(", ");
}
