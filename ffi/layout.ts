/**
 * Per-version struct layouts: byte offsets of the FFmpeg struct fields this layer reads or
 * writes directly, and each struct's `sizeof`. Everything else goes through accessor functions
 * and AVOptions. Keys are the C names; `sizeof` is the struct size.
 *
 * The tables for 59 (FFmpeg 5.1) and 61 (FFmpeg 7.1) are printed by `tests/probe/layout_probe.c`
 * compiled against those versions' headers and are checked by `tests/ffi_layout_test.ts`. The
 * table for 60 (FFmpeg 6.x) is derived, not checked against real 6.x headers: see
 * `ffi/README.md`; {@link LayoutTable.verified} is false for it.
 *
 * @module
 */

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
  }>;
  /** True when checked by the offsetof probe against that release's real headers. */
  readonly verified: boolean;
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
}

/** Layout tables keyed by libavcodec major version. */
export const LAYOUTS: Readonly<Record<number, LayoutTable>> = Object.freeze({
  59: {
    release: "5.1",
    majors: { avcodec: 59, avformat: 59, avutil: 57, swscale: 6, swresample: 4 },
    verified: true,
    AVRational: { sizeof: 8, num: 0, den: 4 },
    AVChannelLayout: { sizeof: 24, order: 0, nb_channels: 4 },
    AVFormatContext: {
      sizeof: 472,
      iformat: 8,
      oformat: 16,
      pb: 32,
      nb_streams: 44,
      streams: 48,
      start_time: 64,
      duration: 72,
      bit_rate: 80,
      metadata: 176,
    },
    AVStream: {
      sizeof: 224,
      index: 0,
      codecpar: 208,
      time_base: 16,
      start_time: 24,
      duration: 32,
      nb_frames: 40,
      sample_aspect_ratio: 56,
      avg_frame_rate: 72,
      r_frame_rate: 200,
    },
    AVCodecParameters: {
      sizeof: 168,
      codec_type: 0,
      codec_id: 4,
      format: 28,
      bit_rate: 32,
      width: 56,
      height: 60,
      sample_aspect_ratio: 64,
      ch_layout: 144,
      sample_rate: 116,
    },
    AVCodecContext: {
      sizeof: 944,
      codec_type: 12,
      time_base: 100,
      width: 116,
      height: 120,
      pix_fmt: 136,
      sample_rate: 352,
      sample_fmt: 360,
      frame_size: 364,
      ch_layout: 920,
      framerate: 712,
      initial_padding: 708,
      pkt_timebase: 724,
    },
    AVFrame: {
      sizeof: 472,
      data: 0,
      linesize: 64,
      extended_data: 96,
      width: 104,
      height: 108,
      nb_samples: 112,
      format: 116,
      pict_type: 124,
      sample_aspect_ratio: 128,
      pts: 136,
      sample_rate: 208,
      best_effort_timestamp: 344,
      color_range: 320,
      ch_layout: 448,
    },
    AVPixFmtDescriptor: {
      sizeof: 112,
      name: 0,
      nb_components: 8,
      log2_chroma_w: 9,
      log2_chroma_h: 10,
      flags: 16,
      comp: 24,
    },
    AVComponentDescriptor: { sizeof: 20, plane: 0, step: 4, offset: 8 },
    AVDictionaryEntry: { sizeof: 16, key: 0, value: 8 },
    AVPacket: {
      sizeof: 104,
      buf: 0,
      pts: 8,
      dts: 16,
      data: 24,
      size: 32,
      stream_index: 36,
      flags: 40,
      duration: 64,
      pos: 72,
    },
  },
  60: {
    release: "6.1",
    majors: { avcodec: 60, avformat: 60, avutil: 58, swscale: 7, swresample: 4 },
    verified: false,
    AVRational: { sizeof: 8, num: 0, den: 4 },
    AVChannelLayout: { sizeof: 24, order: 0, nb_channels: 4 },
    AVFormatContext: {
      sizeof: 472,
      iformat: 8,
      oformat: 16,
      pb: 32,
      nb_streams: 44,
      streams: 48,
      start_time: 64,
      duration: 72,
      bit_rate: 80,
      metadata: 176,
    },
    AVStream: {
      sizeof: 232,
      index: 8,
      codecpar: 216,
      time_base: 24,
      start_time: 32,
      duration: 40,
      nb_frames: 48,
      sample_aspect_ratio: 64,
      avg_frame_rate: 80,
      r_frame_rate: 208,
    },
    AVCodecParameters: {
      sizeof: 168,
      codec_type: 0,
      codec_id: 4,
      format: 28,
      bit_rate: 32,
      width: 56,
      height: 60,
      sample_aspect_ratio: 64,
      ch_layout: 144,
      sample_rate: 116,
    },
    AVCodecContext: {
      sizeof: 936,
      codec_type: 12,
      time_base: 100,
      width: 116,
      height: 120,
      pix_fmt: 136,
      sample_rate: 352,
      sample_fmt: 360,
      frame_size: 364,
      ch_layout: 912,
      framerate: 704,
      initial_padding: 700,
      pkt_timebase: 716,
    },
    AVFrame: {
      sizeof: 472,
      data: 0,
      linesize: 64,
      extended_data: 96,
      width: 104,
      height: 108,
      nb_samples: 112,
      format: 116,
      pict_type: 124,
      sample_aspect_ratio: 128,
      pts: 136,
      sample_rate: 208,
      best_effort_timestamp: 344,
      color_range: 320,
      ch_layout: 448,
    },
    AVPixFmtDescriptor: {
      sizeof: 112,
      name: 0,
      nb_components: 8,
      log2_chroma_w: 9,
      log2_chroma_h: 10,
      flags: 16,
      comp: 24,
    },
    AVComponentDescriptor: { sizeof: 20, plane: 0, step: 4, offset: 8 },
    AVDictionaryEntry: { sizeof: 16, key: 0, value: 8 },
    AVPacket: {
      sizeof: 104,
      buf: 0,
      pts: 8,
      dts: 16,
      data: 24,
      size: 32,
      stream_index: 36,
      flags: 40,
      duration: 64,
      pos: 72,
    },
  },
  61: {
    release: "7.1",
    majors: { avcodec: 61, avformat: 61, avutil: 59, swscale: 8, swresample: 5 },
    verified: true,
    AVRational: { sizeof: 8, num: 0, den: 4 },
    AVChannelLayout: { sizeof: 24, order: 0, nb_channels: 4 },
    AVFormatContext: {
      sizeof: 472,
      iformat: 8,
      oformat: 16,
      pb: 32,
      nb_streams: 44,
      streams: 48,
      start_time: 96,
      duration: 104,
      bit_rate: 112,
      metadata: 192,
    },
    AVStream: {
      sizeof: 232,
      index: 8,
      codecpar: 16,
      time_base: 32,
      start_time: 40,
      duration: 48,
      nb_frames: 56,
      sample_aspect_ratio: 72,
      avg_frame_rate: 88,
      r_frame_rate: 216,
    },
    AVCodecParameters: {
      sizeof: 176,
      codec_type: 0,
      codec_id: 4,
      format: 44,
      bit_rate: 48,
      width: 72,
      height: 76,
      sample_aspect_ratio: 80,
      ch_layout: 128,
      sample_rate: 152,
    },
    AVCodecContext: {
      sizeof: 864,
      codec_type: 12,
      time_base: 84,
      width: 116,
      height: 120,
      pix_fmt: 140,
      sample_rate: 344,
      sample_fmt: 348,
      frame_size: 376,
      ch_layout: 352,
      framerate: 100,
      initial_padding: 396,
      pkt_timebase: 92,
    },
    AVFrame: {
      sizeof: 440,
      data: 0,
      linesize: 64,
      extended_data: 96,
      width: 104,
      height: 108,
      nb_samples: 112,
      format: 116,
      pict_type: 124,
      sample_aspect_ratio: 128,
      pts: 136,
      sample_rate: 192,
      best_effort_timestamp: 320,
      color_range: 296,
      ch_layout: 408,
    },
    AVPixFmtDescriptor: {
      sizeof: 112,
      name: 0,
      nb_components: 8,
      log2_chroma_w: 9,
      log2_chroma_h: 10,
      flags: 16,
      comp: 24,
    },
    AVComponentDescriptor: { sizeof: 20, plane: 0, step: 4, offset: 8 },
    AVDictionaryEntry: { sizeof: 16, key: 0, value: 8 },
    AVPacket: {
      sizeof: 104,
      buf: 0,
      pts: 8,
      dts: 16,
      data: 24,
      size: 32,
      stream_index: 36,
      flags: 40,
      duration: 64,
      pos: 72,
    },
  },
});

/** The libavcodec major versions that have a layout table, newest first. */
export const SUPPORTED_AVCODEC_MAJORS: readonly number[] = Object.freeze([61, 60, 59]);
