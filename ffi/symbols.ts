/**
 * Symbol tables of the six FFmpeg libraries, as `Deno.dlopen` definitions. Only functions
 * present with the same signature in FFmpeg 5.1, 6.1, 7.1, 8.1 and 9.0 are listed.
 *
 * @module
 */

const P = "pointer" as const;
const B = "buffer" as const;
const I = "i32" as const;
const L = "i64" as const;
/** `AVRational` passed by value. */
const RATIONAL = { struct: ["i32", "i32"] } as const;

/** libavutil: memory, frames, options, errors, pixel/sample formats, channel layouts. */
export const AVUTIL_SYMBOLS = {
  avutil_version: { parameters: [], result: "u32" },
  av_strerror: { parameters: [I, B, "usize"], result: I },
  av_log_set_level: { parameters: [I], result: "void" },
  av_malloc: { parameters: ["usize"], result: P },
  av_free: { parameters: [P], result: "void" },
  av_frame_alloc: { parameters: [], result: P },
  av_frame_free: { parameters: [B], result: "void" },
  av_frame_unref: { parameters: [P], result: "void" },
  av_frame_move_ref: { parameters: [P, P], result: "void" },
  av_frame_get_buffer: { parameters: [P, I], result: I },
  av_frame_make_writable: { parameters: [P], result: I },
  av_frame_copy_props: { parameters: [P, P], result: I },
  av_opt_set: { parameters: [P, B, B, I], result: I },
  av_opt_set_int: { parameters: [P, B, L, I], result: I },
  av_opt_set_chlayout: { parameters: [P, B, B, I], result: I },
  av_opt_get_int: { parameters: [P, B, I, B], result: I },
  av_opt_find: { parameters: [P, B, P, I, I], result: P },
  av_dict_set: { parameters: [B, B, B, I], result: I },
  av_dict_get: { parameters: [P, B, P, I], result: P },
  av_dict_free: { parameters: [B], result: "void" },
  av_channel_layout_default: { parameters: [B, I], result: "void" },
  av_channel_layout_copy: { parameters: [P, P], result: I },
  av_channel_layout_uninit: { parameters: [B], result: "void" },
  av_get_pix_fmt_name: { parameters: [I], result: P },
  av_get_sample_fmt_name: { parameters: [I], result: P },
  av_pix_fmt_count_planes: { parameters: [I], result: I },
  av_pix_fmt_get_chroma_sub_sample: { parameters: [I, B, B], result: I },
  av_pix_fmt_desc_get: { parameters: [I], result: P },
  av_image_fill_black: { parameters: [B, B, I, I, I, I], result: I },
  av_image_copy_plane: { parameters: [P, I, P, I, I, I], result: "void" },
  av_rescale_rnd: { parameters: [L, L, L, I], result: L },
} as const satisfies Deno.ForeignLibraryInterface;

/** libavcodec: codecs, codec contexts, packets, codec parameters. */
export const AVCODEC_SYMBOLS = {
  avcodec_version: { parameters: [], result: "u32" },
  avcodec_get_class: { parameters: [], result: P },
  avcodec_find_decoder: { parameters: [I], result: P },
  avcodec_find_encoder_by_name: { parameters: [B], result: P },
  avcodec_get_name: { parameters: [I], result: P },
  avcodec_alloc_context3: { parameters: [P], result: P },
  avcodec_free_context: { parameters: [B], result: "void" },
  avcodec_parameters_to_context: { parameters: [P, P], result: I },
  avcodec_parameters_from_context: { parameters: [P, P], result: I },
  avcodec_open2: { parameters: [P, P, B], result: I },
  avcodec_send_packet: { parameters: [P, P], result: I },
  avcodec_receive_frame: { parameters: [P, P], result: I },
  avcodec_send_frame: { parameters: [P, P], result: I },
  avcodec_receive_packet: { parameters: [P, P], result: I },
  avcodec_flush_buffers: { parameters: [P], result: "void" },
  av_packet_alloc: { parameters: [], result: P },
  av_packet_free: { parameters: [B], result: "void" },
  av_packet_unref: { parameters: [P], result: "void" },
  av_packet_ref: { parameters: [P, P], result: I },
  av_new_packet: { parameters: [P, I], result: I },
  av_packet_rescale_ts: { parameters: [P, RATIONAL, RATIONAL], result: "void" },
  avcodec_parameters_alloc: { parameters: [], result: P },
  avcodec_parameters_free: { parameters: [B], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libavformat: demuxing, muxing, I/O contexts. */
export const AVFORMAT_SYMBOLS = {
  avformat_version: { parameters: [], result: "u32" },
  avformat_open_input: { parameters: [B, B, P, B], result: I },
  avformat_find_stream_info: { parameters: [P, P], result: I },
  avformat_close_input: { parameters: [B], result: "void" },
  av_read_frame: { parameters: [P, P], result: I },
  avformat_seek_file: { parameters: [P, I, L, L, L, I], result: I },
  av_find_best_stream: { parameters: [P, I, I, I, P, I], result: I },
  avformat_alloc_output_context2: { parameters: [B, P, B, B], result: I },
  avformat_free_context: { parameters: [P], result: "void" },
  avformat_new_stream: { parameters: [P, P], result: P },
  // These four call back into JavaScript (a memory muxer's AVIO write callback, ffi/muxer.ts),
  // synchronously on the calling thread.
  avformat_write_header: { parameters: [P, B], result: I },
  av_interleaved_write_frame: { parameters: [P, P], result: I },
  av_write_trailer: { parameters: [P], result: I },
  avio_open: { parameters: [B, B, I], result: I },
  avio_closep: { parameters: [B], result: I },
  avio_flush: { parameters: [P], result: "void" },
  avio_alloc_context: { parameters: [P, I, I, P, P, P, P], result: P },
  avio_context_free: { parameters: [B], result: "void" },
  av_guess_format: { parameters: [B, P, P], result: P },
} as const satisfies Deno.ForeignLibraryInterface;

/** libswscale: picture scaling and pixel format conversion. */
export const SWSCALE_SYMBOLS = {
  swscale_version: { parameters: [], result: "u32" },
  sws_getCachedContext: { parameters: [P, I, I, I, I, I, I, I, P, P, P], result: P },
  sws_scale: { parameters: [P, B, B, I, I, B, B], result: I },
  sws_freeContext: { parameters: [P], result: "void" },
  sws_getCoefficients: { parameters: [I], result: P },
  sws_setColorspaceDetails: { parameters: [P, P, I, P, I, I, I, I], result: I },
} as const satisfies Deno.ForeignLibraryInterface;

/** libswresample: audio resampling, sample format and channel layout conversion. */
export const SWRESAMPLE_SYMBOLS = {
  swresample_version: { parameters: [], result: "u32" },
  swr_alloc_set_opts2: { parameters: [B, P, I, I, P, I, I, I, P], result: I },
  swr_init: { parameters: [P], result: I },
  swr_free: { parameters: [B], result: "void" },
  swr_convert: { parameters: [P, P, I, P, I], result: I },
  swr_get_out_samples: { parameters: [P, I], result: I },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * libavfilter: filter graphs built from opaque pointers (no struct is read): allocate filters,
 * set their AVOptions, link, configure, push frames in and pull frames out.
 */
export const AVFILTER_SYMBOLS = {
  avfilter_version: { parameters: [], result: "u32" },
  avfilter_get_by_name: { parameters: [B], result: P },
  avfilter_graph_alloc: { parameters: [], result: P },
  avfilter_graph_free: { parameters: [B], result: "void" },
  avfilter_graph_alloc_filter: { parameters: [P, P, B], result: P },
  avfilter_init_str: { parameters: [P, P], result: I },
  avfilter_link: { parameters: [P, "u32", P, "u32"], result: I },
  avfilter_graph_config: { parameters: [P, P], result: I },
  av_buffersrc_add_frame_flags: { parameters: [P, P, I], result: I },
  av_buffersink_get_frame: { parameters: [P, P], result: I },
} as const satisfies Deno.ForeignLibraryInterface;
