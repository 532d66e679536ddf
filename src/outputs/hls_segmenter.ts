/**
 * HLS from a channel's one MPEG-TS: subscribes to the channel's {@link TsFanout} like any
 * viewer and cuts the stream at video IDR packets into segments of whole GOPs (no second
 * encoder, no remux). Each segment starts with the PAT and PMT in force and an IDR, so it
 * decodes on its own; PTS run on unchanged across segments, so block and segment boundaries
 * need no `EXT-X-DISCONTINUITY` — only a real timestamp jump (a restarted channel) gets one.
 *
 * `EXT-X-PROGRAM-DATE-TIME` is chained through the segments' exact PTS durations from the
 * wall-clock time the first live keyframe arrived, so it does not drift from the PTS.
 *
 * ```ts
 * const hls = new HlsSegmenter(fanout, { name: "1" });
 * await hls.ready;               // first segment complete (or the fan-out closed)
 * const text = hls.playlist();   // URIs "1/<token>-<seq>.ts", relative to the playlist
 * const seg = hls.segment("k3xj-12.ts");
 * ```
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import type { TsFanout, TsViewer } from "./ts_fanout.ts";
import { PACKET, patPmtPid, pesPts, pmtVideoPid, randomAccess } from "./_ts_psi.ts";

/** One finished segment. */
export interface HlsSegment {
  /** Media sequence number. */
  readonly sequence: number;
  /** File name, `<token>-<sequence>.ts`; unique across engine restarts. */
  readonly name: string;
  /** The segment: PAT, PMT, IDR, ... up to the next cut. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Exact duration from the video PTS, seconds. */
  readonly durationSeconds: number;
  /** UTC ms of its first frame. */
  readonly programDateTimeMs: number;
  /** Preceded by a timestamp discontinuity (the channel's timeline restarted). */
  readonly discontinuity: boolean;
  /** Discontinuities from the first segment up to and including this one. */
  readonly discontinuitySequence: number;
}

/** Options of an {@link HlsSegmenter}. */
export interface HlsSegmenterOptions {
  /** Directory-like prefix of segment URIs in the playlist, e.g. the channel id. */
  name: string;
  /** GOPs per segment (default 1). */
  gopsPerSegment?: number;
  /** Segments listed in the playlist (default 6). */
  window?: number;
  /** Segments kept beyond the window for clients a little behind (default = window). */
  keepExtra?: number;
  /** Wall clock, UTC ms (tests). */
  now?: () => number;
  log?: Logger;
  channelId?: number;
}

const PTS_WRAP = 2 ** 33;
/** A PTS step outside 0..this between cuts is a discontinuity. */
const MAX_CUT_STEP_90K = 60 * 90_000;

/** Live HLS of one channel. */
export class HlsSegmenter {
  /** Distinguishes this segmenter's segment names from any earlier one's. */
  readonly token: string;
  /** Resolves true once the first segment is complete, false if the stream ended before. */
  readonly ready: Promise<boolean>;
  #opts: Required<Omit<HlsSegmenterOptions, "log" | "channelId">>;
  #log: Logger | undefined;
  #channelId: number | undefined;
  #viewer: TsViewer;
  #segments: HlsSegment[] = [];
  #byName = new Map<string, HlsSegment>();
  #nextSequence = 0;
  #discontinuitySequence = 0;
  #targetDuration = 1;
  #resolveReady!: (ok: boolean) => void;
  #closed = false;
  // parser state
  #pat: Uint8Array | undefined;
  #pmt: Uint8Array | undefined;
  #pmtPid = -1;
  #videoPid = -1;
  // the segment being collected
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  #startPts = -1;
  #gops = 0;
  #startDiscontinuity = false;
  #nextPdtMs: number | undefined;

  constructor(fanout: TsFanout, opts: HlsSegmenterOptions) {
    this.#opts = {
      name: opts.name,
      gopsPerSegment: Math.max(1, opts.gopsPerSegment ?? 1),
      window: Math.max(1, opts.window ?? 6),
      keepExtra: Math.max(0, opts.keepExtra ?? opts.window ?? 6),
      now: opts.now ?? Date.now,
    };
    this.#log = opts.log;
    this.#channelId = opts.channelId;
    this.token = this.#opts.now().toString(36);
    this.ready = new Promise((resolve) => this.#resolveReady = resolve);
    this.#viewer = fanout.subscribe({ label: `hls:${opts.name}`, internal: true });
    void this.#pump();
  }

  /** Finished segments still kept, oldest first. */
  get segments(): readonly HlsSegment[] {
    return this.#segments;
  }

  /** True once the stream ended or {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A kept segment by file name. */
  segment(name: string): HlsSegment | undefined {
    return this.#byName.get(name);
  }

  /** The live media playlist over the newest `window` segments. */
  playlist(): string {
    const list = this.#segments.slice(-this.#opts.window);
    const first = list[0];
    const lines = [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      `#EXT-X-TARGETDURATION:${this.#targetDuration}`,
      `#EXT-X-MEDIA-SEQUENCE:${first?.sequence ?? this.#nextSequence}`,
      `#EXT-X-DISCONTINUITY-SEQUENCE:${
        first?.discontinuitySequence ?? this.#discontinuitySequence
      }`,
      "#EXT-X-INDEPENDENT-SEGMENTS",
    ];
    list.forEach((s, i) => {
      if (s.discontinuity && i > 0) lines.push("#EXT-X-DISCONTINUITY");
      lines.push(
        `#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTimeMs).toISOString()}`,
        `#EXTINF:${s.durationSeconds.toFixed(6)},`,
        `${this.#opts.name}/${s.name}`,
      );
    });
    if (this.#closed) lines.push("#EXT-X-ENDLIST");
    return lines.join("\n") + "\n";
  }

  /** Stops following the stream (kept segments stay readable). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#viewer.close();
    this.#resolveReady(false);
  }

  async #pump(): Promise<void> {
    try {
      for (
        let chunk = await this.#viewer.read();
        chunk !== null;
        chunk = await this.#viewer.read()
      ) {
        this.#chunk(chunk);
      }
    } catch (error) {
      this.#log?.warn("hls_segmenter_stopped", { channel: this.#channelId, error });
    } finally {
      this.#closed = true;
      this.#resolveReady(false);
    }
  }

  #chunk(chunk: Uint8Array): void {
    let from = 0;
    for (let o = 0; o + PACKET <= chunk.length; o += PACKET) {
      const b1 = chunk[o + 1];
      if ((b1 & 0x40) === 0) continue;
      const pid = ((b1 & 0x1f) << 8) | chunk[o + 2];
      if (pid === 0) {
        this.#pat = chunk.slice(o, o + PACKET);
        const pmtPid = patPmtPid(this.#pat);
        if (pmtPid >= 0) this.#pmtPid = pmtPid;
      } else if (pid === this.#pmtPid) {
        this.#pmt = chunk.slice(o, o + PACKET);
        const videoPid = pmtVideoPid(this.#pmt);
        if (videoPid >= 0) this.#videoPid = videoPid;
      } else if (pid === this.#videoPid && randomAccess(chunk, o)) {
        const pts = pesPts(chunk, o);
        if (pts >= 0) {
          this.#append(chunk.subarray(from, o));
          from = o;
          this.#keyframe(pts);
        }
      }
    }
    this.#append(chunk.subarray(from));
  }

  #append(bytes: Uint8Array): void {
    if (this.#startPts < 0 || bytes.length === 0) return; // before the first IDR: not kept
    this.#parts.push(bytes);
    this.#partBytes += bytes.length;
  }

  /** A keyframe with PTS `pts` starts at the next appended byte. */
  #keyframe(pts: number): void {
    if (this.#startPts >= 0) {
      const step = (pts - this.#startPts + PTS_WRAP) % PTS_WRAP;
      const jump = step === 0 || step > MAX_CUT_STEP_90K;
      if (!jump && ++this.#gops < this.#opts.gopsPerSegment) return;
      this.#finish(jump ? undefined : step);
      if (jump) this.#startDiscontinuity = true;
    }
    if (this.#pat === undefined || this.#pmt === undefined) return;
    this.#startPts = pts;
    this.#gops = 0;
    this.#parts = [this.#pat, this.#pmt];
    this.#partBytes = 2 * PACKET;
  }

  /** Closes the segment being collected; `step` is its PTS length (undefined: unknown). */
  #finish(step: number | undefined): void {
    const now = this.#opts.now();
    const duration = step !== undefined
      ? step / 90_000
      : Math.max(0.001, (now - (this.#nextPdtMs ?? now)) / 1000);
    // The first segment's start is known once it ends live: now minus its length.
    const pdt = this.#nextPdtMs ?? now - duration * 1000;
    const bytes = new Uint8Array(this.#partBytes);
    let at = 0;
    for (const p of this.#parts) {
      bytes.set(p, at);
      at += p.length;
    }
    const sequence = this.#nextSequence++;
    const segment: HlsSegment = {
      sequence,
      name: `${this.token}-${sequence}.ts`,
      bytes,
      durationSeconds: duration,
      programDateTimeMs: pdt,
      discontinuity: this.#startDiscontinuity,
      discontinuitySequence: this.#discontinuitySequence += this.#startDiscontinuity ? 1 : 0,
    };
    this.#startDiscontinuity = false;
    // After a jump the next segment's date is the wall clock again.
    this.#nextPdtMs = step !== undefined ? pdt + duration * 1000 : undefined;
    this.#targetDuration = Math.max(this.#targetDuration, Math.ceil(duration));
    this.#segments.push(segment);
    this.#byName.set(segment.name, segment);
    while (this.#segments.length > this.#opts.window + this.#opts.keepExtra) {
      this.#byName.delete(this.#segments.shift()!.name);
    }
    this.#parts = [];
    this.#partBytes = 0;
    this.#resolveReady(true);
  }
}
