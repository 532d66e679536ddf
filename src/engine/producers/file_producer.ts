/**
 * Plays a media file from an in-point: decodes video and audio, converts the picture to the
 * program raster and the audio to the program rate and layout, and converts the frame rate
 * by picking, for every output frame, the source picture on screen at that instant (dropping
 * or repeating source frames as needed). Interlaced pictures are deinterlaced first (bwdif,
 * one progressive picture per interlaced one, so the frame-rate conversion is unchanged);
 * progressive sources never meet the filter.
 *
 * @module
 */

import {
  type DecodedFrame,
  Decoder,
  Deinterlacer,
  Demuxer,
  type Packet,
  Resampler,
  Scaler,
} from "../../../ffi/mod.ts";
import type { ProgramFormat } from "../../../media/program_format.ts";
import { type LoopFilterSkip, loopFilterSkipFor } from "../../../media/channel_spec.ts";
import {
  type FrameContext,
  newProducerCounters,
  type Producer,
  type ShedLevel,
} from "./producer.ts";
import { HiddenFrameSkipper } from "./_hidden_frames.ts";

/** Thrown when a file cannot be played at all (missing, unreadable, no usable stream). */
export class AssetOpenError extends Error {
  override name = "AssetOpenError";
  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`cannot play ${JSON.stringify(path)}: ${reason}`, options);
  }
}

/** Options of a {@link FileProducer}. */
export interface FileProducerOptions {
  /** In-point into the file, seconds from its first frame. */
  inPointSeconds?: number;
  /** Video decoder threads (the channel's thread policy; default 2). Audio decodes on one. */
  threads?: number;
  /**
   * Skip decoding source pictures the frame-rate conversion drops, where they are
   * non-reference frames (sources faster than the program, e.g. 60 → 30). Default true; the
   * pictures shown are the same either way.
   */
  skipHiddenFrames?: boolean;
  /** Told of every error the producer skips over (corrupt packets, read errors). */
  onDecodeError?: (path: string, err: unknown) => void;
  /** Which source pictures skip deblocking (default "auto", see {@link LoopFilterSkip}). */
  skipLoopFilter?: LoopFilterSkip;
}

/** Most decoded pictures queued ahead while audio is being looked for (bounds memory). */
const MAX_QUEUED_VIDEO = 32;
/** Most seconds of audio buffered ahead while a picture is being looked for. */
const MAX_AUDIO_AHEAD_SECONDS = 2;
/** Source timestamps off their expected place by more than this are a gap or an overlap. */
const AV_TOLERANCE_SECONDS = 0.04;
/**
 * ... and by more than this a discontinuity (a spliced or wrapped file): the stream is
 * re-anchored on them. Shorter holes are real gaps and keep their place.
 */
const JUMP_SECONDS = 5;
/** A first audio frame this late is filled with silence; later still, it is re-anchored. */
const MAX_LATE_START_SECONDS = 10;

/** Decodes one file for the timeline. */
export class FileProducer implements Producer {
  readonly description: string;
  readonly counters = newProducerCounters();
  readonly title?: string;
  #fmt: ProgramFormat;
  #demuxer: Demuxer;
  #videoIndex: number;
  #audioIndex: number;
  #videoDecoder: Decoder | undefined;
  #audioDecoder: Decoder | undefined;
  #scaler: Scaler | undefined;
  /** Made at the first interlaced picture; from then on every picture goes through it. */
  #deinterlacer: Deinterlacer | undefined;
  #threads: number;
  #resampler: Resampler | undefined;
  /** Source time (s) of output frame 0 of this producer. */
  #origin: number;
  #outputIndex = 0;
  #frameDuration: number;
  /** Decoded, not yet shown pictures, in presentation order. */
  #videoQueue: DecodedFrame[] = [];
  #picture: Uint8Array | undefined;
  #videoEnded = false;
  #audioEnded = false;
  #eof = false;
  /** Resampled audio waiting to be taken. */
  #audioFifo: Int16Array[] = [];
  #audioFifoSamples = 0;
  /** Samples (per channel) handed out so far: the output's audio position. */
  #audioOut = 0;
  /** Added to the sample position the source's audio timestamps give (re-anchoring). */
  #audioShift = 0;
  #audioStarted = false;
  /** Added to the source's video timestamps (re-anchoring after a jump). */
  #videoShift = 0;
  #lastVideoPts: number | undefined;
  #videoStep: number;
  /** A picture chosen while pictures were skipped, not converted yet. */
  #pendingChoice: DecodedFrame | undefined;
  #shedding: ShedLevel = "none";
  #closed = false;
  /** Routes video packets when decode skipping is on (source faster than the program). */
  #skipper: HiddenFrameSkipper | undefined;
  /** The packet being decoded shows a picture nobody will see. */
  #hidden = false;
  /** What the decoder skips now. */
  #skipLevel: ShedLevel = "none";
  #onDecodeError: (path: string, err: unknown) => void;

  constructor(path: string, format: ProgramFormat, opts: FileProducerOptions = {}) {
    this.description = path;
    this.#fmt = format;
    this.#frameDuration = format.frameRate.den / format.frameRate.num;
    this.#videoStep = this.#frameDuration;
    this.#onDecodeError = opts.onDecodeError ?? (() => {});
    try {
      this.#demuxer = Demuxer.open(path);
    } catch (err) {
      throw new AssetOpenError(path, (err as Error).message, { cause: err });
    }
    this.title = this.#demuxer.tag("title")?.trim() || undefined;
    try {
      this.#videoIndex = this.#demuxer.bestStream("video");
      this.#audioIndex = this.#demuxer.bestStream("audio");
      if (this.#videoIndex < 0 && this.#audioIndex < 0) {
        throw new AssetOpenError(path, "no video or audio stream");
      }
      const threads = opts.threads ?? 2;
      this.#threads = threads;
      if (this.#videoIndex >= 0) {
        this.#videoDecoder = Decoder.open(this.#demuxer, this.#videoIndex, { threads });
        const source = this.#demuxer.streams[this.#videoIndex];
        const skip = source.width && source.height
          ? loopFilterSkipFor(opts.skipLoopFilter ?? "auto", {
            width: source.width,
            height: source.height,
          }, format)
          : "none";
        if (skip !== "none") this.#videoDecoder.setSkipLoopFilter(skip);
        this.#scaler = new Scaler({
          width: format.width,
          height: format.height,
          policy: format.aspectPolicy,
        });
      } else {
        this.#videoEnded = true;
      }
      if (this.#audioIndex >= 0) {
        this.#audioDecoder = Decoder.open(this.#demuxer, this.#audioIndex, { threads: 1 });
        this.#resampler = new Resampler({
          sampleRate: format.sampleRate,
          channels: format.channels,
        });
      } else {
        this.#audioEnded = true;
      }
      const start = this.#startTime();
      const inPoint = Math.max(0, opts.inPointSeconds ?? 0);
      this.#origin = start + inPoint;
      if (inPoint > 0) this.#demuxer.seek(this.#origin);
      const rate = this.#videoIndex >= 0
        ? this.#demuxer.streams[this.#videoIndex].frameRate
        : undefined;
      const faster = rate !== undefined && rate.num / rate.den > (1.01 / this.#frameDuration);
      if (faster && (opts.skipHiddenFrames ?? true)) {
        this.#skipper = new HiddenFrameSkipper({
          origin: this.#origin,
          frameDuration: this.#frameDuration,
          send: (packet, hidden) => this.#decodeVideo(packet, hidden),
        });
      }
    } catch (err) {
      this.close();
      if (err instanceof AssetOpenError) throw err;
      throw new AssetOpenError(path, (err as Error).message, { cause: err });
    }
  }

  /** Source start time: the earliest start of the streams we play. */
  #startTime(): number {
    const starts = [this.#videoIndex, this.#audioIndex]
      .filter((i) => i >= 0)
      .map((i) => this.#demuxer.streams[i].startTime)
      .filter((t): t is number => t !== undefined && Number.isFinite(t));
    return starts.length ? Math.min(...starts) : 0;
  }

  nextVideo(ctx: FrameContext): Uint8Array | undefined {
    if (!this.#videoDecoder) {
      this.#outputIndex++;
      return undefined;
    }
    // The output frame spans [t, t + d); show the last source picture that starts by its middle.
    const t = this.#origin + (this.#outputIndex + 0.5) * this.#frameDuration;
    this.#outputIndex++;
    let chosen: DecodedFrame | undefined;
    let stalled = false;
    for (;;) {
      while (this.#videoQueue.length === 0 && !this.#videoEnded) {
        // Audio piling up with no picture: the video has a gap or ended before the audio.
        if (this.#audioFifoSamples > MAX_AUDIO_AHEAD_SECONDS * this.#fmt.sampleRate) {
          stalled = true;
          break;
        }
        this.#pump();
      }
      const head = this.#videoQueue[0];
      if (!head) break;
      const pts = head.ptsSeconds === undefined ? t : head.ptsSeconds + this.#videoShift;
      if (pts > t) break;
      this.#videoQueue.shift();
      if (chosen) {
        chosen.free();
        this.counters.dropped++;
      }
      chosen = head;
    }
    if (chosen) {
      this.#pendingChoice?.free();
      this.#pendingChoice = undefined;
      if (ctx.skipPicture) {
        // Nobody will see this picture: keep it, convert it only if a later frame repeats it.
        this.#pendingChoice = chosen;
        return this.#picture;
      }
      return this.#convert(chosen);
    }
    if (this.#pendingChoice && !ctx.skipPicture) {
      const pending = this.#pendingChoice;
      this.#pendingChoice = undefined;
      this.counters.duplicated++;
      return this.#convert(pending);
    }
    if ((this.#videoEnded && this.#videoQueue.length === 0) || stalled) return undefined;
    if (this.#picture) {
      // The next source picture starts later: repeat the current one.
      this.counters.duplicated++;
      return this.#picture;
    }
    // Nothing decoded yet for this instant (source starts late): black from the timeline.
    return undefined;
  }

  #convert(frame: DecodedFrame): Uint8Array {
    const started = performance.now();
    try {
      this.#picture = this.#scaler!.scale(frame, this.#picture);
    } finally {
      frame.free();
    }
    this.counters.latencySamples.push((performance.now() - started) / 1000);
    return this.#picture;
  }

  nextAudio(samples: number): Int16Array {
    const ch = this.#fmt.channels;
    if (!this.#audioDecoder) return new Int16Array(0);
    // Pictures piling up with no audio: the audio has a gap or ended before the video.
    while (
      this.#audioFifoSamples < samples && !this.#audioEnded &&
      this.#videoQueue.length < MAX_QUEUED_VIDEO
    ) this.#pump();
    const take = Math.min(samples, this.#audioFifoSamples);
    const out = new Int16Array(samples * ch);
    let filled = 0;
    while (filled < take * ch) {
      const head = this.#audioFifo[0];
      const need = take * ch - filled;
      if (head.length <= need) {
        out.set(head, filled);
        filled += head.length;
        this.#audioFifo.shift();
      } else {
        out.set(head.subarray(0, need), filled);
        this.#audioFifo[0] = head.subarray(need);
        filled += need;
      }
    }
    this.#audioFifoSamples -= take;
    if (take < samples && this.#audioEnded) {
      this.#audioOut += take;
      return out.subarray(0, take * ch);
    }
    // Short of audio that may still come (a gap, a late start, audio interleaved far behind):
    // silence keeps the place, and what comes later for this place is cut, so sync holds.
    this.#audioOut += samples;
    return out;
  }

  /** Decoded pictures and seconds of audio waiting in the producer (bounded by design). */
  get buffered(): { pictures: number; audioSeconds: number } {
    return {
      pictures: this.#videoQueue.length,
      audioSeconds: this.#audioFifoSamples / this.#fmt.sampleRate,
    };
  }

  setShedding(level: ShedLevel): void {
    if (level === this.#shedding || !this.#videoDecoder) return;
    this.#shedding = level;
    try {
      this.#applySkip();
    } catch (err) {
      this.#skip(err);
    }
  }

  /**
   * Sets the decoder's skipping to the stronger of load shedding and, for the packet about to
   * be decoded, decode skipping of a hidden picture.
   */
  #applySkip(): void {
    const want: ShedLevel = this.#shedding === "nonkey"
      ? "nonkey"
      : this.#shedding === "nonref" || this.#hidden
      ? "nonref"
      : "none";
    if (want === this.#skipLevel) return;
    this.#skipLevel = want;
    this.#videoDecoder?.setSkipFrames(want);
  }

  /** Reads one packet and decodes what it yields. */
  #pump(): void {
    if (this.#eof) {
      this.#videoEnded = true;
      this.#audioEnded = true;
      return;
    }
    let packet: Packet | null;
    try {
      packet = this.#demuxer.read();
    } catch (err) {
      // A read error mid-file ends the file: what was decoded plays, the rest falls back.
      this.#skip(err);
      packet = null;
    }
    if (packet === null) {
      this.#eof = true;
      this.#skipper?.flush();
      this.#drain(this.#videoDecoder, null);
      this.#flushDeinterlacer();
      this.#drain(this.#audioDecoder, null);
      this.#flushAudio();
      this.#videoEnded = true;
      this.#audioEnded = true;
      return;
    }
    if (packet.streamIndex === this.#videoIndex && this.#skipper) {
      this.#skipper.push(packet); // decoded (or skipped) once its picture's fate is known
      return;
    }
    try {
      if (packet.streamIndex === this.#videoIndex) this.#drain(this.#videoDecoder, packet);
      else if (packet.streamIndex === this.#audioIndex) this.#drain(this.#audioDecoder, packet);
    } finally {
      packet.free();
    }
  }

  /** Decodes a video packet from the skipper; a hidden picture may be skipped. */
  #decodeVideo(packet: Packet, hidden: boolean): void {
    try {
      // Re-anchored timestamps (a discontinuity) are no longer what the skipper reckons with.
      this.#hidden = hidden && this.#videoShift === 0;
      this.#applySkip();
      this.#drain(this.#videoDecoder, packet);
    } catch (err) {
      this.#skip(err);
    } finally {
      packet.free();
    }
  }

  #drain(decoder: Decoder | undefined, packet: Packet | null): void {
    if (!decoder) return;
    try {
      decoder.send(packet);
    } catch (err) {
      this.#skip(err);
      if (packet !== null) return;
    }
    for (;;) {
      let frame: DecodedFrame | null;
      try {
        frame = decoder.receive();
      } catch (err) {
        this.#skip(err);
        return;
      }
      if (!frame) return;
      if (frame.kind === "video") this.#acceptVideo(frame);
      else this.#acceptAudio(frame);
    }
  }

  #acceptVideo(frame: DecodedFrame): void {
    this.counters.decoded++;
    if (!frame.interlaced && this.#deinterlacer === undefined) {
      this.#queueVideo(frame);
      return;
    }
    let progressive: DecodedFrame[];
    try {
      this.#deinterlacer ??= new Deinterlacer(this.#videoDecoder!.timeBase, {
        threads: this.#threads,
      });
      progressive = this.#deinterlacer.push(frame); // frees `frame`
    } catch (err) {
      frame.free();
      this.#skip(err);
      return;
    }
    for (const f of progressive) this.#queueVideo(f);
  }

  /** At the end of the video: the picture the deinterlacer still holds. */
  #flushDeinterlacer(): void {
    if (this.#deinterlacer === undefined) return;
    let rest: DecodedFrame[];
    try {
      rest = this.#deinterlacer.flush();
    } catch (err) {
      this.#skip(err);
      return;
    }
    for (const f of rest) this.#queueVideo(f);
  }

  #queueVideo(frame: DecodedFrame): void {
    const raw = frame.ptsSeconds;
    if (raw !== undefined) {
      const last = this.#lastVideoPts;
      if (last !== undefined) {
        const expected = last + this.#videoStep;
        if (raw - expected > JUMP_SECONDS || raw < last - this.#videoStep / 2) {
          // A timestamp discontinuity: this picture follows the last one.
          this.#videoShift += expected - raw;
        } else if (raw > last) {
          this.#videoStep = Math.min(raw - last, 1);
        }
      }
      this.#lastVideoPts = raw;
    }
    const pts = raw === undefined ? undefined : raw + this.#videoShift;
    // Before the in-point (seek lands on a keyframe earlier): keep only the latest such frame.
    if (pts !== undefined && pts + this.#frameDuration / 2 <= this.#origin) {
      const prev = this.#videoQueue.pop();
      prev?.free();
    }
    this.#videoQueue.push(frame);
    if (this.#videoQueue.length > MAX_QUEUED_VIDEO * 4) {
      // Badly interleaved file: bound memory, keep the newest pictures.
      this.#videoQueue.shift()!.free();
      this.counters.dropped++;
    }
  }

  #acceptAudio(frame: DecodedFrame): void {
    const pts = frame.ptsSeconds;
    let pcm: Int16Array;
    try {
      pcm = this.#resampler!.convert(frame);
    } catch (err) {
      this.#skip(err);
      frame.free();
      return;
    }
    frame.free();
    this.#placeAudio(pcm, pts);
  }

  /**
   * Puts resampled audio where its timestamp says (relative to the in-point): small jitter
   * is ignored, a gap becomes silence, an overlap (or audio before the in-point) is cut, and
   * a jump beyond {@link JUMP_SECONDS} re-anchors the stream so it plays on contiguously.
   */
  #placeAudio(pcm: Int16Array, pts: number | undefined): void {
    const ch = this.#fmt.channels;
    const rate = this.#fmt.sampleRate;
    const end = this.#audioOut + this.#audioFifoSamples;
    if (pts !== undefined) {
      const at = Math.round((pts - this.#origin) * rate) + this.#audioShift;
      const delta = at - end;
      const jump = (this.#audioStarted ? JUMP_SECONDS : MAX_LATE_START_SECONDS) * rate;
      if (Math.abs(delta) >= jump && (this.#audioStarted || delta > 0)) {
        this.#audioShift -= delta;
      } else if (delta > AV_TOLERANCE_SECONDS * rate) {
        this.#pushAudio(new Int16Array(delta * ch));
      } else if (delta < -AV_TOLERANCE_SECONDS * rate || (!this.#audioStarted && delta < 0)) {
        const drop = Math.min(-delta, pcm.length / ch);
        pcm = pcm.subarray(drop * ch);
      }
    }
    if (pcm.length === 0) return;
    this.#audioStarted = true;
    this.#pushAudio(pcm);
  }

  #flushAudio(): void {
    if (!this.#resampler) return;
    try {
      const rest = this.#resampler.convert(null);
      if (rest.length > 0 && this.#audioStarted) this.#pushAudio(rest);
    } catch (err) {
      this.#skip(err);
    }
  }

  /** Counts and reports an error that is skipped over. */
  #skip(err: unknown): void {
    this.counters.decodeErrors++;
    this.#onDecodeError(this.description, err);
  }

  #pushAudio(pcm: Int16Array): void {
    this.#audioFifo.push(pcm);
    this.#audioFifoSamples += pcm.length / this.#fmt.channels;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#videoQueue) f.free();
    this.#videoQueue = [];
    this.#pendingChoice?.free();
    this.#pendingChoice = undefined;
    this.#skipper?.close();
    this.#scaler?.close();
    this.#deinterlacer?.close();
    this.#resampler?.close();
    this.#videoDecoder?.close();
    this.#audioDecoder?.close();
    this.#demuxer?.close();
  }
}
