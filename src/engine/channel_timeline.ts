/**
 * The channel timeline owns output time. It asks the schedule which segment covers each
 * output frame, pulls a picture and the exact number of audio samples for that frame from the
 * segment's producer, and stamps the frame with PTS derived from the output frame counter
 * only. Source timestamps never leak into the output.
 *
 * Segments are frame-exact: a segment covers exactly its scheduled frames; a source that runs
 * short is held on its last picture (or black) with silence, and those frames are counted as
 * fallback; a source that runs long is cut. The next segment's producer is opened and
 * pre-rolled before its boundary, so the first frame of segment k+1 follows the last of k.
 *
 * @module
 */

import type { MasterClock } from "./master_clock.ts";
import { FrameFlags, type ProgramFrame } from "../../media/program_frame.ts";
import { i420Size } from "../../media/program_frame.ts";
import { type ProgramFormat, pts90kForFrame, samplesForFrame } from "../../media/program_format.ts";
import type { Producer, ProducerCounters, ShedLevel } from "./producers/producer.ts";
import { blackI420, PadProducer } from "./producers/pad_producer.ts";
import type { Schedule, ScheduledSegment, SourceSpec, TimelineEvent } from "./schedule.ts";

/** Opens a producer for a source, starting `skipFrames` program frames past its in-point. */
export type ProducerFactory = (source: SourceSpec, skipFrames: number) => Producer;

/** Where a frame came from, for the as-run record (stays in the channel's thread). */
export interface FrameOrigin {
  /** The scheduled segment that covered the frame. */
  segment: ScheduledSegment;
  /** Channel clock (UTC ms) when the frame was produced (ready to go on air). */
  producedUtcMs: number;
  /** Set when the segment's source could not be opened (the frame is a stand-in). */
  failure?: { reason: string; missing: boolean };
  /** The source's own title tag, when it has one. */
  title?: string;
}

/** A program frame with the events to report when it is released. */
export interface TimelineFrame extends ProgramFrame {
  events: TimelineEvent[];
  origin: FrameOrigin;
  /**
   * False when the picture was not made (shed work: the frame repeats the picture on air);
   * `video` is then empty.
   */
  hasPicture: boolean;
}

/** Options of one {@link ChannelTimeline.next} call. */
export interface NextFrameOptions {
  /** Make the picture (default true); without it the producer only keeps its place. */
  picture?: boolean;
}

const NO_PICTURE = new Uint8Array(0);

/** Why a segment fell back to pad. */
export interface AssetFailure {
  source: string;
  reason: string;
  frame: number;
}

/** Cumulative counters of the timeline. */
export interface TimelineCounters {
  framesOut: number;
  fallbackFrames: number;
  padFrames: number;
  assetTransitions: number;
  assetFailures: number;
  decoded: number;
  dropped: number;
  duplicated: number;
  decodeErrors: number;
  /** Output frames whose picture and audio came from another channel's decode. */
  sharedFrames: number;
}

interface ActiveSegment {
  segment: ScheduledSegment;
  producer: Producer;
  /** Frames of this segment produced so far (from the first produced frame). */
  produced: number;
  failed: boolean;
  failure: { reason: string; missing: boolean } | undefined;
  lastPicture: Uint8Array | undefined;
  counted: ProducerCounters;
}

/** Options of a {@link ChannelTimeline}. */
export interface ChannelTimelineOptions {
  /** Open the next segment this many frames before its boundary. */
  prerollFrames?: number;
  /** Called when an asset cannot be played (it plays pad instead). */
  onAssetFailure?: (failure: AssetFailure) => void;
  /** First output frame number (default 0). */
  startFrame?: number;
}

/** Most recycled picture buffers kept. */
const MAX_SPARE_PICTURES = 4;

/** Produces a channel's program frames, one at a time, in order. */
export class ChannelTimeline {
  readonly format: ProgramFormat;
  readonly clock: MasterClock;
  #schedule: Schedule;
  #factory: ProducerFactory;
  #prerollFrames: number;
  #onFailure: (f: AssetFailure) => void;
  #frame: number;
  #active: ActiveSegment | undefined;
  #next: ActiveSegment | undefined;
  #black: Uint8Array;
  /** Picture buffers given back with {@link recycle}, reused by {@link next}. */
  #spare: Uint8Array[] = [];
  #decodeLatency: number[] = [];
  #shedding: ShedLevel = "none";
  readonly counters: TimelineCounters = {
    framesOut: 0,
    fallbackFrames: 0,
    padFrames: 0,
    assetTransitions: 0,
    assetFailures: 0,
    decoded: 0,
    dropped: 0,
    duplicated: 0,
    decodeErrors: 0,
    sharedFrames: 0,
  };

  constructor(
    format: ProgramFormat,
    clock: MasterClock,
    schedule: Schedule,
    factory: ProducerFactory,
    opts: ChannelTimelineOptions = {},
  ) {
    this.format = format;
    this.clock = clock;
    this.#schedule = schedule;
    this.#factory = factory;
    this.#prerollFrames = opts.prerollFrames ?? 15;
    this.#onFailure = opts.onAssetFailure ?? (() => {});
    this.#frame = opts.startFrame ?? 0;
    this.#black = blackI420(format.width, format.height);
  }

  /** Number of the next frame {@link next} will produce. */
  get nextFrameNumber(): number {
    return this.#frame;
  }

  /** Whether the frame {@link next} produces next is the first of a segment on air. */
  get nextStartsSegment(): boolean {
    return this.#active?.segment.key !== this.#schedule.segmentAt(this.#frame).key;
  }

  /** The schedule in force. */
  get schedule(): Schedule {
    return this.#schedule;
  }

  /** Replaces the schedule from the next produced frame on. */
  setSchedule(schedule: Schedule): void {
    this.#schedule = schedule;
  }

  /**
   * Gives back the picture buffer of a frame nobody reads any more, for a later frame (saves
   * allocating, zeroing and collecting a picture per frame). A detached buffer is ignored.
   */
  recycle(video: Uint8Array): void {
    if (video.byteLength === this.#black.byteLength && this.#spare.length < MAX_SPARE_PICTURES) {
      this.#spare.push(video);
    }
  }

  /** Drains decode-latency samples (seconds) gathered since the last call. */
  takeDecodeLatency(): number[] {
    const out = this.#decodeLatency;
    this.#decodeLatency = [];
    return out;
  }

  /** A fresh black picture at the program raster. */
  blackPicture(): Uint8Array {
    return this.#black.slice();
  }

  /**
   * Asks producers to shed work they can (decoding frames the timeline will drop) while the
   * channel cannot keep up, or to stop shedding.
   */
  setShedding(level: ShedLevel): void {
    this.#shedding = level;
    this.#active?.producer.setShedding?.(level);
    this.#next?.producer.setShedding?.(level);
  }

  /** Produces the next output frame. */
  next(opts: NextFrameOptions = {}): TimelineFrame {
    const wantPicture = opts.picture ?? true;
    const k = this.#frame++;
    const fmt = this.format;
    const segment = this.#schedule.segmentAt(k);
    const events: TimelineEvent[] = [];
    let flags = segment.flags;

    if (this.#active?.segment.key !== segment.key) {
      this.#enter(segment, k);
      flags |= FrameFlags.SEGMENT_START;
      if (k === segment.startFrame || segment.frameCount === Infinity) {
        events.push(...segment.startEvents);
      } else {
        // Joined mid-segment: report where we actually started.
        events.push(
          ...segment.startEvents.map((e) => (e.kind === "segment_start" ? { ...e, frame: k } : e)),
        );
      }
    }
    const active = this.#active!;
    // Frames standing in for an asset that failed to open are fallback frames.
    if (active.failed) flags |= FrameFlags.FALLBACK;
    const ctx = { frameNumber: k, dueUtcMs: this.clock.utcOfFrame(k), skipPicture: !wantPicture };

    // Picture.
    const video = wantPicture
      ? this.#spare.pop() ?? new Uint8Array(i420Size(fmt.width, fmt.height))
      : NO_PICTURE;
    const duplicatedBefore = active.producer.counters.duplicated;
    const picture = active.producer.nextVideo(ctx);
    if (picture) {
      if (wantPicture) {
        video.set(picture);
        if (picture.length < video.length) video.fill(0, picture.length);
      }
      active.lastPicture = picture;
      if (active.producer.counters.duplicated > duplicatedBefore) flags |= FrameFlags.DUPLICATED;
    } else {
      if (wantPicture) video.set(active.lastPicture ?? this.#black);
      if (!(flags & FrameFlags.PAD)) flags |= FrameFlags.FALLBACK;
    }

    // Audio: exactly the samples that span this frame.
    const samples = samplesForFrame(k, fmt);
    const audio = new Int16Array(samples * fmt.channels);
    const got = active.producer.nextAudio(samples);
    audio.set(got.subarray(0, audio.length));
    if (got.length < audio.length && active.segment.segmentType !== "idle") {
      // A source with no audio gets silence; that is not a fallback unless video also ended.
      if (!picture && !(flags & FrameFlags.PAD)) flags |= FrameFlags.FALLBACK;
    }

    this.#applyGainAndFades(active, k, video, audio);
    active.produced++;
    this.#harvest(active);

    if (flags & FrameFlags.FALLBACK) this.counters.fallbackFrames++;
    if (flags & FrameFlags.PAD) this.counters.padFrames++;
    this.counters.framesOut++;

    const segEnd = segment.startFrame + segment.frameCount;
    if (k === segEnd - 1) events.push(...segment.endEvents);
    if (segEnd - k <= this.#prerollFrames && segEnd !== Infinity) this.#preroll(segEnd);

    return {
      frameNumber: k,
      pts90k: pts90kForFrame(k, fmt.frameRate),
      wallClockUtcUs: Math.round(this.clock.utcOfFrame(k) * 1000),
      video,
      audio,
      samples,
      flags,
      events,
      origin: {
        segment,
        producedUtcMs: this.clock.now(),
        failure: active.failure,
        title: active.producer.title,
      },
      hasPicture: wantPicture,
    };
  }

  /** Closes every producer. */
  close(): void {
    this.#active?.producer.close();
    if (this.#next && this.#next !== this.#active) this.#next.producer.close();
    this.#active = undefined;
    this.#next = undefined;
  }

  #enter(segment: ScheduledSegment, k: number): void {
    if (this.#active) {
      this.#harvest(this.#active);
      this.#active.producer.close();
    }
    let entered: ActiveSegment;
    if (
      this.#next?.segment.key === segment.key && this.#next.produced === 0 &&
      k === segment.startFrame
    ) {
      entered = this.#next;
    } else {
      this.#next?.producer.close();
      entered = this.#open(segment, k - segment.startFrame, k);
    }
    this.#next = undefined;
    this.#active = entered;
    if (segment.source.kind === "file") this.counters.assetTransitions++;
  }

  #preroll(boundary: number): void {
    const upcoming = this.#schedule.segmentAt(boundary);
    if (upcoming.key === this.#active?.segment.key) return;
    if (this.#next?.segment.key === upcoming.key) return;
    this.#next?.producer.close();
    this.#next = upcoming.startFrame === boundary ? this.#open(upcoming, 0, boundary) : undefined;
  }

  #open(segment: ScheduledSegment, skipFrames: number, k: number): ActiveSegment {
    let producer: Producer;
    let failed = false;
    let failure: ActiveSegment["failure"];
    try {
      producer = this.#factory(segment.source, Math.max(0, skipFrames));
    } catch (err) {
      failed = true;
      failure = {
        reason: err instanceof Error ? err.message : String(err),
        missing: isNotFound(err),
      };
      this.counters.assetFailures++;
      this.#onFailure({
        source: segment.source.kind === "file" ? segment.source.path : segment.source.kind,
        reason: err instanceof Error ? err.message : String(err),
        frame: k,
      });
      producer = new PadProducer(this.format);
    }
    if (this.#shedding !== "none") producer.setShedding?.(this.#shedding);
    return {
      segment,
      producer,
      produced: 0,
      failed,
      failure,
      lastPicture: undefined,
      counted: { decoded: 0, dropped: 0, duplicated: 0, decodeErrors: 0, latencySamples: [] },
    };
  }

  /** Adds the producer's counter deltas to the timeline's totals. */
  #harvest(a: ActiveSegment): void {
    const c = a.producer.counters;
    this.counters.decoded += c.decoded - a.counted.decoded;
    this.counters.dropped += c.dropped - a.counted.dropped;
    this.counters.duplicated += c.duplicated - a.counted.duplicated;
    this.counters.decodeErrors += c.decodeErrors - a.counted.decodeErrors;
    this.counters.sharedFrames += (c.shared ?? 0) - (a.counted.shared ?? 0);
    a.counted = { ...c, latencySamples: [] };
    if (c.latencySamples.length) {
      this.#decodeLatency.push(...c.latencySamples);
      c.latencySamples.length = 0;
    }
  }

  #applyGainAndFades(a: ActiveSegment, k: number, video: Uint8Array, audio: Int16Array): void {
    const seg = a.segment;
    let factor = 1;
    const pos = k - seg.startFrame;
    if (seg.fadeInFrames > 0 && pos < seg.fadeInFrames) factor = pos / seg.fadeInFrames;
    const remaining = seg.startFrame + seg.frameCount - 1 - k;
    if (seg.fadeOutFrames > 0 && remaining < seg.fadeOutFrames) {
      factor = Math.min(factor, remaining / seg.fadeOutFrames);
    }
    const gain = seg.gainDb !== 0 ? Math.pow(10, seg.gainDb / 20) : 1;
    const audioFactor = gain * factor;
    if (audioFactor !== 1) {
      for (let i = 0; i < audio.length; i++) {
        const v = Math.round(audio[i] * audioFactor);
        audio[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    if (factor < 1 && video.length > 0) {
      fadeToBlack(video, this.format.width * this.format.height, factor);
    }
  }
}

/** Blends an I420 picture toward limited-range black by `factor` (1 = unchanged, 0 = black). */
function fadeToBlack(video: Uint8Array, lumaSize: number, factor: number): void {
  for (let i = 0; i < lumaSize; i++) video[i] = 16 + Math.round((video[i] - 16) * factor);
  for (let i = lumaSize; i < video.length; i++) {
    video[i] = 128 + Math.round((video[i] - 128) * factor);
  }
}

/** Whether an open failure says the file is not there (ENOENT anywhere in the cause chain). */
function isNotFound(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof Deno.errors.NotFound) return true;
    const code = (e as { code?: unknown }).code;
    if (code === -2 || code === "ENOENT") return true; // AVERROR(ENOENT)
  }
  return false;
}
