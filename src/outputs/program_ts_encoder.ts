/**
 * One encoder pair and one MPEG-TS muxer for a channel's whole life. Program frames go in,
 * whole 188-byte TS packets come out. Video PTS is the output frame number (time base
 * 1/frame rate); audio PTS is the output sample counter. Never restarted at clip boundaries.
 *
 * @module
 */

import { AudioEncoder, Muxer, VideoEncoder } from "../../ffi/mod.ts";
import type { AudioEncoderSettings, VideoEncoderSettings } from "../engine/channel_spec.ts";
import type { ProgramFormat } from "../engine/program_format.ts";
import type { ProgramFrame } from "../engine/program_frame.ts";

/**
 * mpegts muxer options chosen for broadcast timing: PCR every 20 ms, PAT/PMT every 50 ms
 * (and before every IDR, which FFmpeg does for video keyframes), SDT every 500 ms, no mux
 * delay so that PCR tracks the output clock.
 */
export const MPEGTS_OPTIONS: Readonly<Record<string, string>> = Object.freeze({
  pcr_period: "20",
  pat_period: "0.05",
  sdt_period: "0.5",
  muxdelay: "0",
  muxpreload: "0",
  mpegts_flags: "+initial_discontinuity",
  mpegts_service_id: "1",
});

/** Encodes program frames into a continuous MPEG-TS byte stream. */
export class ProgramTsEncoder {
  #video: VideoEncoder;
  #audio: AudioEncoder;
  #muxer: Muxer;
  #vIndex: number;
  #aIndex: number;
  #closed = false;
  /** Frames encoded so far. */
  framesEncoded = 0;

  constructor(
    format: ProgramFormat,
    video: VideoEncoderSettings,
    audio: AudioEncoderSettings,
    opts: { serviceId?: number; file?: string } = {},
  ) {
    this.#video = new VideoEncoder({
      codec: video.codec,
      width: format.width,
      height: format.height,
      frameRate: format.frameRate,
      preset: video.preset,
      crf: video.crf,
      bitrateKbps: video.bitrateKbps,
      keyint: video.keyintFrames,
      threads: video.threads,
    });
    this.#audio = new AudioEncoder({
      codec: audio.codec,
      sampleRate: format.sampleRate,
      channels: format.channels,
      bitrateKbps: audio.bitrateKbps,
    });
    const options: Record<string, string> = { ...MPEGTS_OPTIONS };
    if (opts.serviceId !== undefined) options.mpegts_service_id = String(opts.serviceId);
    this.#muxer = new Muxer({ format: "mpegts", options, file: opts.file });
    this.#vIndex = this.#muxer.addStream(this.#video);
    this.#aIndex = this.#muxer.addStream(this.#audio);
    this.#muxer.writeHeader();
  }

  /** Encodes one frame; returns the TS bytes muxed so far (possibly empty). */
  encode(frame: ProgramFrame): Uint8Array {
    for (const p of this.#video.encode(frame.video, frame.frameNumber)) {
      this.#muxer.write(this.#vIndex, p);
    }
    for (const p of this.#audio.encode(frame.audio)) this.#muxer.write(this.#aIndex, p);
    this.framesEncoded++;
    return this.#muxer.takeOutput();
  }

  /** Drains the encoders and writes the trailer; returns the last bytes. */
  finish(): Uint8Array {
    for (const p of this.#video.encode(null, 0)) this.#muxer.write(this.#vIndex, p);
    for (const p of this.#audio.encode(null)) this.#muxer.write(this.#aIndex, p);
    const rest = this.#muxer.finish();
    this.close();
    return rest;
  }

  /** Frees everything. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#muxer.close();
    this.#video.close();
    this.#audio.close();
  }
}
