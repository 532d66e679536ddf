/**
 * Struct layout of FFmpeg 8.1 (libavcodec 62), printed by `tests/probe/layout_probe.c` compiled
 * against the public headers in FFmpeg 8.1.2's release tarball (from Debian unstable's source
 * package ffmpeg 7:8.1.2-2, which built its `libav*62` runtime packages);
 * `tests/ffi_layout_test.ts` recompiles the probe against those headers on every run and compares
 * every value.
 *
 * @module
 */

import type { LayoutTable } from "./layout.ts";

/** FFmpeg 8.1: libavcodec 62, libavformat 62, libavutil 60, libswscale 9, libswresample 6, libavfilter 11. */
export const LAYOUT_62: LayoutTable = {
  release: "8.1",
  majors: { avcodec: 62, avformat: 62, avutil: 60, swscale: 9, swresample: 6, avfilter: 11 },
  AVRational: { sizeof: 8, num: 0, den: 4 },
  AVChannelLayout: { sizeof: 24, order: 0, nb_channels: 4 },
  AVFormatContext: {
    sizeof: 480,
    iformat: 8,
    oformat: 16,
    pb: 32,
    nb_streams: 44,
    streams: 48,
    start_time: 96,
    duration: 104,
    metadata: 192,
  },
  AVStream: {
    sizeof: 216,
    index: 8,
    codecpar: 16,
    time_base: 32,
    start_time: 40,
    duration: 48,
    nb_frames: 56,
    sample_aspect_ratio: 72,
    avg_frame_rate: 88,
    r_frame_rate: 204,
  },
  AVCodecParameters: {
    sizeof: 184,
    codec_type: 0,
    codec_id: 4,
    format: 44,
    bit_rate: 48,
    width: 72,
    height: 76,
    sample_aspect_ratio: 80,
    ch_layout: 128,
    sample_rate: 152,
    framerate: 88,
  },
  AVCodecContext: {
    sizeof: 864,
    codec_type: 12,
    time_base: 84,
    width: 112,
    height: 116,
    pix_fmt: 136,
    sample_rate: 344,
    sample_fmt: 348,
    frame_size: 376,
    ch_layout: 352,
    framerate: 100,
    initial_padding: 396,
    pkt_timebase: 92,
  },
  AVFrame: {
    sizeof: 424,
    data: 0,
    linesize: 64,
    extended_data: 96,
    width: 104,
    height: 108,
    nb_samples: 112,
    format: 116,
    pict_type: 120,
    sample_aspect_ratio: 124,
    pts: 136,
    sample_rate: 180,
    best_effort_timestamp: 304,
    color_range: 280,
    colorspace: 292,
    flags: 276,
    ch_layout: 384,
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
  AVComponentDescriptor: { sizeof: 20, plane: 0, step: 4, offset: 8, depth: 16 },
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
  AVIOContext: { sizeof: 208, buffer: 8 },
};
