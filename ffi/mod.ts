/**
 * The FFmpeg layer of retrovue-playout: FFmpeg 5.1/6.1/7.1/8.1/9.0 loaded through
 * `Deno.dlopen`, and synchronous wrappers that own their native memory (free with
 * `close()`/`free()` or `using`).
 * Nothing here hands a pointer to callers. Each thread loads the libraries on first use.
 *
 * ```ts
 * using demuxer = Demuxer.open("movie.mp4");
 * using decoder = Decoder.open(demuxer, demuxer.bestStream("video"));
 * using scaler = new Scaler({ width: 1280, height: 720, policy: "preserve" });
 * ```
 *
 * @module
 */

export {
  ffmpegRelease,
  type FfmpegVersions,
  ffmpegVersions,
  LIBRARY_DIR_ENV,
  setFfmpegLogLevel,
} from "./library.ts";
export {
  FfmpegArgumentError,
  FfmpegClosedError,
  FfmpegError,
  FfmpegLoadError,
  FfmpegUnsupportedError,
} from "./errors.ts";
export { openLockBuffer, openLockStats, releaseOpenLockOf, shareOpenLock } from "./open_lock.ts";
export { Demuxer, type StreamInfo, type StreamKind } from "./demuxer.ts";
export { Packet } from "./packet.ts";
export { Decoder, type DecoderOptions } from "./decoder.ts";
export type { DecodedFrame } from "./decoded_frame.ts";
export {
  pixelFormatName,
  type Rect,
  type ScaleGeometry,
  scaleGeometry,
  Scaler,
  type ScalerTarget,
  type SourceColour,
  sourceColour,
} from "./scaler.ts";
export { Deinterlacer, type DeinterlacerOptions } from "./deinterlacer.ts";
export { Resampler, type ResamplerTarget } from "./resampler.ts";
export type { EncodedPacket, PacketTiming } from "./encoded_packet.ts";
export { VideoEncoder, type VideoEncoderOptions } from "./video_encoder.ts";
export { AudioEncoder, type AudioEncoderOptions } from "./audio_encoder.ts";
export { Muxer, MuxerInput, type MuxerOptions } from "./muxer.ts";
