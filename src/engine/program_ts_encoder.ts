/**
 * One encoder pair and one MPEG-TS muxer for a channel's whole life. Program frames go in,
 * whole 188-byte TS packets come out. Video PTS is the output frame number (time base
 * 1/frame rate); audio PTS is the output sample counter. Never restarted at clip boundaries.
 *
 * @module
 */

import {
  AudioEncoder,
  Muxer,
  type MuxerInput,
  type PacketTiming,
  VideoEncoder,
  type VideoEncoderOptions,
} from "../../ffi/mod.ts";
import {
  type AudioEncoderSettings,
  type VideoEncoderSettings,
  X264_PRESETS,
} from "../../media/encoder_settings.ts";
import type { ProgramFormat } from "../../media/program_format.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import { TsCadence } from "./_ts_cadence.ts";

/**
 * mpegts muxer options chosen for broadcast timing: PCR every 20 ms (FFmpeg's VBR muxer
 * manages one per video frame; PCR-only packets fill in between, see `_ts_cadence.ts`),
 * PAT/PMT every 50 ms (each audio frame is its own PES, so they never wait long for a PES
 * start)
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
  // Every audio frame its own PES: PAT/PMT go out at PES starts, so at low frame rates they
  // would otherwise wait for a whole 2930-byte audio PES (about 240 ms at 96 kb/s).
  pes_payload_size: "0",
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

/** x264 preset of a stepped-down video encoder (the engine's default preset). */
export const STEPPED_DOWN_PRESET = "veryfast";

/** Frames a new video encoder's first picture stays clear of the last muxed DTS. */
const SWAP_DTS_MARGIN_FRAMES = 4;

/** The faster of two x264 presets (an unknown one counts as slowest). */
function fasterPreset(a: string, b: string): string {
  const rank = (p: string) => {
    const i = (X264_PRESETS as readonly string[]).indexOf(p);
    return i < 0 ? X264_PRESETS.length : i;
  };
  return rank(a) <= rank(b) ? a : b;
}

/** Encodes program frames into a continuous MPEG-TS byte stream. */
export class ProgramTsEncoder {
  #video: VideoEncoder;
  #audio: AudioEncoder;
  #muxer: Muxer;
  /** The muxer's video and audio streams, fed by their encoders in native memory. */
  #vInput: MuxerInput;
  #aInput: MuxerInput;
  #closed = false;
  #offsetFrames: number;
  /** Output frame number → PTS (90 kHz) of its muxed video packet, the last 256. */
  #muxedPts = new Map<number, number>();
  #offsetSamples: number;
  #format: ProgramFormat;
  #cadence: TsCadence;
  /** DTS (90 kHz, as in the TS) of video packets the muxer may not have written yet. */
  #videoDts90k: number[] = [];
  #lastDts: number | undefined;
  readonly #keyint: number;
  /** Frame numbers of pictures given to the video encoder that have not come out yet. */
  #inFlight: number[] = [];
  #lastFed = -1;
  /** Pictures the encoder held when one came out (its delay), once known. */
  #delayPictures: number | undefined;
  readonly #maxLatencyFrames: number;
  /** Held frames whose picture was encoded again to bound the encoder's delay. */
  framesReencoded = 0;
  #lastKeyFrame = -Infinity;
  #picturesSinceKey = 0;
  /**
   * Pictures given to this encoder that never reached the TS, from swapping the video encoder
   * ({@link setSteppedDown}): those still in the old one's lookahead when it stepped down, and
   * those held back while the configured one starts clear of the last DTS.
   */
  picturesLost = 0;
  /** Settings of the video encoder as configured. */
  readonly #videoOptions: VideoEncoderOptions;
  /** The video encoder runs the stepped-down settings (see {@link setSteppedDown}). */
  #steppedDown = false;
  /** A step down or back up waiting for the next picture. */
  #swapPending = false;

  constructor(
    format: ProgramFormat,
    video: VideoEncoderSettings,
    audio: AudioEncoderSettings,
    opts: {
      serviceId?: number;
      file?: string;
      /**
       * Longest a picture may wait in the video encoder, ms (default 4000): while pictures
       * are held, the one on air is encoded again often enough that none waits longer. (A
       * lookahead encoder holds tens of pictures; the shorter the limit, the more re-encodes
       * a channel that cannot keep up must afford.)
       */
      maxPictureLatencyMs?: number;
    } = {},
  ) {
    this.#format = format;
    this.#offsetFrames = tsOffsetFrames(format);
    this.#offsetSamples = Math.round(
      (this.#offsetFrames * format.sampleRate * format.frameRate.den) / format.frameRate.num,
    );
    this.#keyint = video.keyintFrames;
    this.#maxLatencyFrames = Math.ceil(
      ((opts.maxPictureLatencyMs ?? 4000) * format.frameRate.num) / (1000 * format.frameRate.den),
    );
    this.#videoOptions = {
      codec: video.codec,
      width: format.width,
      height: format.height,
      frameRate: format.frameRate,
      preset: video.preset,
      crf: video.crf,
      bitrateKbps: video.bitrateKbps,
      keyint: video.keyintFrames,
      threads: video.threads,
    };
    this.#video = new VideoEncoder(this.#videoOptions);
    // What opened before a failure is freed (a channel worker that fails here is retried).
    let audioEncoder: AudioEncoder | undefined;
    let muxer: Muxer | undefined;
    try {
      audioEncoder = new AudioEncoder({
        codec: audio.codec,
        sampleRate: format.sampleRate,
        channels: format.channels,
        bitrateKbps: audio.bitrateKbps,
      });
      const options: Record<string, string> = { ...MPEGTS_OPTIONS };
      if (opts.serviceId !== undefined) options.mpegts_service_id = String(opts.serviceId);
      muxer = new Muxer({ format: "mpegts", options, file: opts.file });
      const vIndex = muxer.addStream(this.#video);
      const aIndex = muxer.addStream(audioEncoder);
      muxer.writeHeader();
      this.#vInput = muxer.input(vIndex, { offset: this.#offsetFrames });
      this.#aInput = muxer.input(aIndex, { offset: this.#offsetSamples });
    } catch (err) {
      muxer?.close();
      audioEncoder?.close();
      this.#video.close();
      throw err;
    }
    this.#audio = audioEncoder;
    this.#muxer = muxer;
    this.#cadence = new TsCadence(format.frameRate.den / format.frameRate.num);
  }

  /**
   * Encodes one frame; returns the TS bytes muxed so far (possibly empty). With `holdPicture`
   * only its audio is encoded: no new picture enters the stream, so the previous one stays on
   * screen until the next (a repeat that costs no video encoding; video PTS skips the frame).
   */
  encode(frame: ProgramFrame, holdPicture = false): Uint8Array {
    const k = frame.frameNumber;
    if (!holdPicture && this.#swapPending && !this.#swapVideoEncoder(k)) holdPicture = true;
    if (!holdPicture) {
      this.#encodePicture(frame.video, k);
    } else if (this.#inFlight.length > 0 && k - this.#lastFed >= this.#keepaliveSpacing()) {
      // The encoder holds its pictures until more come: while pictures are held its delay
      // (counted in pictures) stretches in time. Pictures are kept at most limit / pictures
      // in flight apart — the one on air encoded again — so none waits longer than the limit.
      this.framesReencoded++;
      this.#encodePicture(null, k);
    }
    // Otherwise the picture is held: nothing is encoded, the previous one stays on screen.
    this.#audio.encodeInto(this.#aInput, frame.audio);
    return this.#cadence.push(this.#muxer.takeOutput(), this.#videoDts90k, this.#nextDts90k());
  }

  /** Whether the video encoder runs the stepped-down settings now. */
  get steppedDown(): boolean {
    return this.#steppedDown;
  }

  /** x264 preset of the video encoder now ({@link STEPPED_DOWN_PRESET} while stepped down). */
  get videoPreset(): string {
    return this.#video.options.preset ?? "";
  }

  /**
   * Whether {@link setSteppedDown} can make this channel's video cheaper: libx264 only (its
   * lookahead holds tens of pictures, each held picture re-encoded while a channel sheds).
   */
  get canStepDown(): boolean {
    return this.#videoOptions.codec === "libx264";
  }

  /**
   * Steps the video encoder down to a cheaper one — x264 {@link STEPPED_DOWN_PRESET} (or the
   * configured preset if faster) with `zerolatency`: no lookahead, no B-frames, so a picture
   * comes out as it goes in and a channel airing few pictures needs no re-encodes to bound
   * their delay — or back up to the configured one. The new encoder starts at the next
   * picture, with an IDR (SPS/PPS in band; the TS stays one valid stream, video PTS keeps the
   * output frame numbers). Pictures still inside the old encoder when stepping down are
   * dropped (draining a slow lookahead would cost as much as encoding them: the screen holds
   * the last picture out, at most the latency limit, until the IDR); stepping back up drains
   * the low-delay one, and holds the first picture or few while the new encoder's B-frame DTS
   * would not clear the last one (all counted in {@link picturesLost}). Returns false when
   * nothing changes.
   */
  setSteppedDown(on: boolean): boolean {
    if (!this.canStepDown || on === this.#steppedDown) return false;
    this.#steppedDown = on;
    this.#swapPending = true;
    return true;
  }

  /**
   * Opens the wanted video encoder for picture `k`, closing the old one. False (the picture
   * is held) while `k` is too close to the last muxed DTS: an encoder with B-frames starts
   * its DTS a few frames before its first PTS, and DTS must keep increasing.
   */
  #swapVideoEncoder(k: number): boolean {
    // Stepping back up: the low-delay encoder holds at most its frame threads' pictures; they
    // go out first (cheap), and the configured one, with B-frames, starts clear of their DTS.
    if (!this.#steppedDown) {
      if (this.#inFlight.length > 0) {
        this.#wroteVideo(this.#video.encodeInto(this.#vInput, null, 0));
      }
      if (this.#lastDts !== undefined && k <= this.#lastDts + SWAP_DTS_MARGIN_FRAMES) {
        this.picturesLost++;
        return false;
      }
    }
    const o = this.#videoOptions;
    const options: VideoEncoderOptions = this.#steppedDown
      ? {
        ...o,
        preset: fasterPreset(o.preset ?? STEPPED_DOWN_PRESET, STEPPED_DOWN_PRESET),
        tune: "zerolatency",
      }
      : o;
    const next = new VideoEncoder(options);
    try {
      this.#muxer.rebindInput(this.#vInput, next);
    } catch (err) {
      next.close();
      throw err;
    }
    this.#video.close();
    this.#video = next;
    this.#swapPending = false;
    this.picturesLost += this.#inFlight.length;
    this.#inFlight = [];
    this.#delayPictures = undefined;
    this.#picturesSinceKey = 0;
    return true;
  }

  /** Drains the encoders and writes the trailer; returns the last bytes. */
  finish(): Uint8Array {
    this.#wroteVideo(this.#video.encodeInto(this.#vInput, null, 0));
    this.#audio.encodeInto(this.#aInput, null);
    const rest = this.#cadence.push(this.#muxer.finish(), this.#videoDts90k);
    this.close();
    return rest;
  }

  /** Frames between pictures so that the encoder's delay (in pictures) spans the limit. */
  #keepaliveSpacing(): number {
    // Until the first packet comes out the delay is unknown: assume a long lookahead.
    const delay = Math.max(this.#inFlight.length, this.#delayPictures ?? 40);
    return Math.max(1, Math.floor(this.#maxLatencyFrames / delay));
  }

  /** Encodes `picture` as output frame `k`; null: the last picture again (no copy). */
  #encodePicture(picture: Uint8Array | null, k: number): void {
    this.#inFlight.push(k);
    this.#lastFed = k;
    const key = this.#keyframeDue(k);
    this.#wroteVideo(
      picture === null
        ? this.#video.repeatInto(this.#vInput, k, key)
        : this.#video.encodeInto(this.#vInput, picture, k, key),
    );
  }

  /**
   * Whether the picture of output frame `k` must be forced to a keyframe: the encoder counts
   * its GOP in pictures, so while pictures are held a GOP would stretch in time (viewers join
   * and recover at keyframes). Its own keyframes come every `keyint` pictures.
   */
  #keyframeDue(k: number): boolean {
    const natural = this.#picturesSinceKey === 0 || this.#picturesSinceKey >= this.#keyint;
    const late = k - this.#lastKeyFrame >= this.#keyint;
    if (natural || late) {
      this.#lastKeyFrame = k;
      this.#picturesSinceKey = 1;
      return late && !natural;
    }
    this.#picturesSinceKey++;
    return false;
  }

  /** Least DTS (90 kHz) of a video packet the encoder has not handed out: DTS only increase. */
  #nextDts90k(): number | undefined {
    return this.#lastDts === undefined ? undefined : this.videoPts90k(this.#lastDts + 1);
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

  /** Bookkeeping of video packets the encoder just wrote into the muxer. */
  #wroteVideo(packets: PacketTiming[]): void {
    const o = this.#offsetFrames;
    const { num, den } = this.#format.frameRate;
    for (const p of packets) {
      this.#muxedPts.set(p.pts, Math.round(((p.pts + o) * 90000 * den) / num));
      if (this.#muxedPts.size > 256) {
        this.#muxedPts.delete(this.#muxedPts.keys().next().value!);
      }
      this.#lastDts = p.dts;
      this.#delayPictures = Math.max(this.#delayPictures ?? 0, this.#inFlight.length);
      this.#inFlight.shift();
      this.#videoDts90k.push(this.videoPts90k(p.dts));
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
