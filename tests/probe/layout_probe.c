/*
 * Prints offsetof/sizeof for every struct field that ffi/layout.ts describes, one per line:
 *   <Struct>.<field> <offset>     and     <Struct> <sizeof>
 * Offsets are compile-time constants: compiling against another FFmpeg's headers (gcc -I) and
 * running the result checks that version's table without linking its libraries.
 */
#include <stddef.h>
#include <stdio.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
/* Only from the set itself: a set without libavfilter must not pick the host's up. */
#ifdef RV_SET_HAS_AVFILTER
#include <libavfilter/version.h>
#endif
#include <libswresample/version.h>
#include <libswscale/version.h>

#define F(type, field) printf("%s.%s %zu\n", #type, #field, offsetof(type, field))
#define S(type) printf("%s %zu\n", #type, sizeof(type))

int main(void) {
  printf("version avcodec=%d avformat=%d avutil=%d swscale=%d swresample=%d\n",
         LIBAVCODEC_VERSION_MAJOR, LIBAVFORMAT_VERSION_MAJOR, LIBAVUTIL_VERSION_MAJOR,
         LIBSWSCALE_VERSION_MAJOR, LIBSWRESAMPLE_VERSION_MAJOR);
#ifdef LIBAVFILTER_VERSION_MAJOR
  /* Only when the header set has libavfilter (FFmpeg 6.1's shared set does not). */
  printf("version avfilter=%d\n", LIBAVFILTER_VERSION_MAJOR);
#endif

  S(AVRational);
  F(AVRational, num);
  F(AVRational, den);

  S(AVChannelLayout);
  F(AVChannelLayout, order);
  F(AVChannelLayout, nb_channels);

  S(AVFormatContext);
  F(AVFormatContext, iformat);
  F(AVFormatContext, oformat);
  F(AVFormatContext, pb);
  F(AVFormatContext, nb_streams);
  F(AVFormatContext, streams);
  F(AVFormatContext, start_time);
  F(AVFormatContext, duration);
  F(AVFormatContext, metadata);

  S(AVStream);
  F(AVStream, index);
  F(AVStream, codecpar);
  F(AVStream, time_base);
  F(AVStream, start_time);
  F(AVStream, duration);
  F(AVStream, nb_frames);
  F(AVStream, sample_aspect_ratio);
  F(AVStream, avg_frame_rate);
  F(AVStream, r_frame_rate);

  S(AVCodecParameters);
  F(AVCodecParameters, codec_type);
  F(AVCodecParameters, codec_id);
  F(AVCodecParameters, format);
  F(AVCodecParameters, bit_rate);
  F(AVCodecParameters, width);
  F(AVCodecParameters, height);
  F(AVCodecParameters, sample_aspect_ratio);
  F(AVCodecParameters, ch_layout);
  F(AVCodecParameters, sample_rate);
#if LIBAVCODEC_VERSION_MAJOR >= 60
  F(AVCodecParameters, framerate); /* added in FFmpeg 6.1: lets the load check see framerate */
#endif

  S(AVCodecContext);
  F(AVCodecContext, codec_type);
  F(AVCodecContext, time_base);
  F(AVCodecContext, width);
  F(AVCodecContext, height);
  F(AVCodecContext, pix_fmt);
  F(AVCodecContext, sample_rate);
  F(AVCodecContext, sample_fmt);
  F(AVCodecContext, frame_size);
  F(AVCodecContext, ch_layout);
  F(AVCodecContext, framerate);
  F(AVCodecContext, initial_padding);
  F(AVCodecContext, pkt_timebase);

  S(AVFrame);
  F(AVFrame, data);
  F(AVFrame, linesize);
  F(AVFrame, extended_data);
  F(AVFrame, width);
  F(AVFrame, height);
  F(AVFrame, nb_samples);
  F(AVFrame, format);
  F(AVFrame, pict_type);
  F(AVFrame, sample_aspect_ratio);
  F(AVFrame, pts);
  F(AVFrame, sample_rate);
  F(AVFrame, best_effort_timestamp);
  F(AVFrame, color_range);
  F(AVFrame, colorspace);
  F(AVFrame, flags);
#if LIBAVUTIL_VERSION_MAJOR < 58
  /* FFmpeg 5.1 has no AV_FRAME_FLAG_INTERLACED / _TOP_FIELD_FIRST: these two say it. */
  F(AVFrame, interlaced_frame);
  F(AVFrame, top_field_first);
#endif
  F(AVFrame, ch_layout);

  S(AVPixFmtDescriptor);
  F(AVPixFmtDescriptor, name);
  F(AVPixFmtDescriptor, nb_components);
  F(AVPixFmtDescriptor, log2_chroma_w);
  F(AVPixFmtDescriptor, log2_chroma_h);
  F(AVPixFmtDescriptor, flags);
  F(AVPixFmtDescriptor, comp);

  S(AVComponentDescriptor);
  F(AVComponentDescriptor, plane);
  F(AVComponentDescriptor, step);
  F(AVComponentDescriptor, offset);
  F(AVComponentDescriptor, depth);

  S(AVDictionaryEntry);
  F(AVDictionaryEntry, key);
  F(AVDictionaryEntry, value);

  S(AVPacket);
  F(AVPacket, buf);
  F(AVPacket, pts);
  F(AVPacket, dts);
  F(AVPacket, data);
  F(AVPacket, size);
  F(AVPacket, stream_index);
  F(AVPacket, flags);
  F(AVPacket, duration);
  F(AVPacket, pos);

  S(AVIOContext);
  F(AVIOContext, buffer);
  return 0;
}
