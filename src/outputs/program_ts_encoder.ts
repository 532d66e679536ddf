/**
 * One encoder pair and one MPEG-TS muxer for a channel's whole life. Program frames go in,
 * whole 188-byte TS packets come out. Video PTS is the output frame number (time base
 * 1/frame rate); audio PTS is the output sample counter. Never restarted at clip boundaries.
 *
 * @module
 */

import { AudioEncoder, type EncodedPacket, Muxer, VideoEncoder } from "../../ffi/mod.ts";
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

/**
 * Frames by which every timestamp is moved forward in the TS: enough (about a second) that
 * B-frame DTS and the AAC priming delay never go negative, so the muxer never shifts the
 * stream by an amount we do not know. TS video PTS of output frame k is then exactly
 * `(k + offset) · 90000 · den / num`.
 */
export function tsOffsetFrames(format: ProgramFormat): number {
  return Math.max(1, Math.ceil(format.frameRate.num / format.frameRate.den));
}

/** Encodes program frames into a continuous MPEG-TS byte stream. */
export class ProgramTsEncoder {
  #video: VideoEncoder;
  #audio: AudioEncoder;
  #muxer: Muxer;
  #vIndex: number;
  #aIndex: number;
  #closed = false;
  #offsetFrames: number;
  /** Output frame number → PTS (90 kHz) of its muxed video packet, the last 256. */
  #muxedPts = new Map<number, number>();
  #offsetSamples: number;
  #format: ProgramFormat;
  /** Frames encoded so far. */
  framesEncoded = 0;

  constructor(
    format: ProgramFormat,
    video: VideoEncoderSettings,
    audio: AudioEncoderSettings,
    opts: { serviceId?: number; file?: string } = {},
  ) {
    this.#format = format;
    this.#offsetFrames = tsOffsetFrames(format);
    this.#offsetSamples = Math.round(
      (this.#offsetFrames * format.sampleRate * format.frameRate.den) / format.frameRate.num,
    );
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
    this.#writeVideo(this.#video.encode(frame.video, frame.frameNumber));
    this.#writeAudio(this.#audio.encode(frame.audio));
    this.framesEncoded++;
    return this.#muxer.takeOutput();
  }

  /** Drains the encoders and writes the trailer; returns the last bytes. */
  finish(): Uint8Array {
    this.#writeVideo(this.#video.encode(null, 0));
    this.#writeAudio(this.#audio.encode(null));
    const rest = this.#muxer.finish();
    this.close();
    return rest;
  }

  /** The PTS (90 kHz, as written in the TS) of output frame `frameNumber`. */
  videoPts90k(frameNumber: number): number {
    const { num, den } = this.#format.frameRate;
    return Math.round(((frameNumber + this.#offsetFrames) * 90000 * den) / num);
  }

  /**
   * PTS (90 kHz) of output frame `frameNumber`'s video packet as muxed, or undefined when it
   * has not been muxed (yet) — for the last 256 packets.
   */
  muxedVideoPts90k(frameNumber: number): number | undefined {
    return this.#muxedPts.get(frameNumber);
  }

  #writeVideo(packets: EncodedPacket[]): void {
    const o = this.#offsetFrames;
    const { num, den } = this.#format.frameRate;
    for (const p of packets) {
      this.#muxer.write(this.#vIndex, { ...p, pts: p.pts + o, dts: p.dts + o });
      this.#muxedPts.set(p.pts, Math.round(((p.pts + o) * 90000 * den) / num));
      if (this.#muxedPts.size > 256) {
        this.#muxedPts.delete(this.#muxedPts.keys().next().value!);
      }
    }
  }

  #writeAudio(packets: EncodedPacket[]): void {
    const o = this.#offsetSamples;
    for (const p of packets) {
      this.#muxer.write(this.#aIndex, { ...p, pts: p.pts + o, dts: p.dts + o });
    }
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
