/**
 * Runs one channel: timeline → (pacing by the master clock) → encoder + muxer → TS bytes, and
 * program frames for frame sinks. Lives inside the channel's Worker (channel_worker.ts), and
 * can be driven in-process by tests with a virtual clock.
 *
 * @module
 */

import type { LogEventName } from "../log/log_events.ts";
import { type AsRunEvent, AsRunTracker } from "./as_run.ts";
import { ChannelTimeline, type ProducerFactory, type TimelineFrame } from "./channel_timeline.ts";
import type { ChannelSpec } from "../../media/channel_spec.ts";
import { ControlError } from "./control_surface.ts";
import type { BlockSessionOptions, BlockSessionState, RunnerCalls } from "./channel_protocol.ts";
import { MasterClock, type TimeSource } from "./master_clock.ts";
import type { BlockEvent, BlockPlan, SegmentItem } from "./plan.ts";
import { framesForMs, type ProgramFormat } from "../../media/program_format.ts";
import { FrameFlags, type ProgramFrame } from "../../media/program_frame.ts";
import { FileProducer } from "./producers/file_producer.ts";
import { PadProducer } from "./producers/pad_producer.ts";
import { PrimedProducer } from "./producers/primed_producer.ts";
import { openSharedSource } from "./producers/shared_source.ts";
import type { Producer, ShedLevel } from "./producers/producer.ts";
import { TestPatternProducer } from "./producers/test_pattern_producer.ts";
import {
  BlockSchedule,
  IdleSchedule,
  type LoopItem,
  LoopSchedule,
  type Schedule,
  type SegmentPlacement,
  SegmentSchedule,
  type SourceSpec,
  TestPatternSchedule,
  type TimelineEvent,
} from "./schedule.ts";
import { Demuxer } from "../../ffi/mod.ts";
import { type GuideSlot, scheduleSlots } from "./guide.ts";
import type { ChannelStats } from "../../media/channel_status.ts";
import { ProgramTsEncoder, STEPPED_DOWN_PRESET } from "./program_ts_encoder.ts";
import { TsAnalyzer } from "../../media/ts_analyzer.ts";
import { DeadlinePacer } from "./_deadline_pacer.ts";
import {
  availableCores,
  type ChannelThreads,
  channelThreads,
  sharedDecodeThreads,
} from "./thread_policy.ts";

/** Time one guide request may spend opening files for their titles, ms. */
export const GUIDE_TITLE_BUDGET_MS = 20;

/** What a runner reports to its owner. */
export interface ChannelRunnerSink {
  /** TS bytes (whole packets). Ownership passes to the receiver. */
  ts(data: Uint8Array): void;
  /** A released program frame, only while `wantFrames` is true. Ownership passes. */
  frame(frame: ProgramFrame): void;
  /** Block events, in order. */
  blockEvent(event: BlockEvent): void;
  /** Other timeline events and notable happenings, for logs. */
  log(level: "info" | "warn" | "error", event: LogEventName, fields: Record<string, unknown>): void;
  /** Whether the source now in force has anything playable (and why not). */
  content?(playable: boolean, reason: string): void;
  /** As-run events of a session that asked for evidence, in order. */
  asRun?(sessionId: string, event: AsRunEvent): void;
  /** A session's as-run record is complete (no more events for it). */
  asRunClosed?(sessionId: string): void;
  /** Told when the channel becomes degraded or recovers. */
  health?(health: RealtimeHealth): void;
  /** The block session's queue changed (undefined: no session); before its block event. */
  blockSession?(session: BlockSessionState | undefined): void;
}

/** Options of a {@link ChannelRunner}. */
export interface ChannelRunnerOptions {
  spec: ChannelSpec;
  time: TimeSource;
  /** UTC ms of output frame 0. */
  epochUtcMs: number;
  /** How far production may run ahead of the wall clock. */
  leadMs?: number;
  /** Encode TS (default true). Tests of timing may turn it off. */
  encode?: boolean;
  /**
   * Opens producers instead of the built-in ones (tests: a deliberately slow stand-in);
   * `open` is the built-in factory.
   */
  openProducer?: (source: SourceSpec, skipFrames: number, open: ProducerFactory) => Producer;
  /**
   * FFmpeg threads of this channel (see thread_policy.ts); default: the policy for one channel
   * on this machine. `spec.video.threads`, when set, wins for the encoder.
   */
  threads?: ChannelThreads;
}

/** A channel's real-time health as the runner judges it. */
export interface RealtimeHealth {
  /** True while the channel cannot make every picture in time (it repeats some). */
  degraded: boolean;
  /** Why, for operators; empty when not degraded. */
  reason: string;
}

/** Resolved once a switch's first frame is on air and its video packet is in the TS. */
interface PendingSwitch {
  frame: number;
  resolve: (r: { ptsContiguous: boolean; livePts90k: number; completionUtcMs: number }) => void;
  /** Set when the switch frame was released. */
  released?: { contiguous: boolean; livePts90k: number; completionUtcMs: number };
}

/** A preview whose first picture was decoded ahead (LoadPreview). */
interface PrimedPreview {
  path: string;
  inPointSeconds: number;
  producer: FileProducer;
  first: Uint8Array;
}

/** One channel's engine loop. */
export class ChannelRunner implements RunnerCalls {
  readonly spec: ChannelSpec;
  readonly format: ProgramFormat;
  readonly clock: MasterClock;
  readonly timeline: ChannelTimeline;
  wantFrames = false;
  #out: ChannelRunnerSink;
  readonly #threads: ChannelThreads;
  #encoder: ProgramTsEncoder | undefined;
  /**
   * Self-check of our own output: continuity counters and PCR intervals. FFmpeg 5.1's VBR
   * mpegts muxer puts a PCR in every video frame's first packet only, so the interval is one
   * frame duration: 40 ms at 25 fps, 33.4 ms at 29.97. Programs below 25 fps cannot meet
   * 40 ms this way; the check flags intervals beyond one frame (a real gap), not that.
   */
  #selfCheck: TsAnalyzer;
  #buffer: TimelineFrame[] = [];
  #frameMs: number;
  #leadMs: number;
  #pace: DeadlinePacer;
  #degraded = false;
  #degradedReason = "";
  /** Pacing-clock time of the last repeated frame. */
  #lastRepeatAt = -Infinity;
  #repeated = 0;
  /** Recent frames that repeated the picture on air (no video packet of their own). */
  #held = new Set<number>();
  /** Pacing-clock times of the repeats of the last second. */
  #recentRepeats: number[] = [];
  #repeatsToDegrade: number;
  #late = 0;
  /** The last picture that went on air (for frame sinks, when a frame repeats it). */
  #onAir: Uint8Array | undefined;
  #shedding: ShedLevel = "none";
  /** Pacing-clock time the encoder last stepped down / was last restored. */
  #steppedDownAt = -Infinity;
  #encoderRestoredAt = -Infinity;
  /** Least time stepped down before the configured encoder is tried again. */
  #stepBackoffMs = STEP_BACKOFF_MS;
  #utcCheckedAt = -Infinity;
  /** A UTC offset seen but not absorbed yet (waiting for a block fence). */
  #pendingUtcOffset: number | undefined;
  #leadFrames: number;
  #running = false;
  #stopped = false;
  #lastReleased = -1;
  #firstReleased = -1;
  #blocks: BlockSchedule | undefined;
  /** Queue bound of the block session in force. */
  #maxQueueDepth = 2;
  #segments: SegmentSchedule | undefined;
  #preview: SegmentPlacement | undefined;
  #primed: PrimedPreview | undefined;
  #pendingSwitch: PendingSwitch | undefined;
  /** Files' `title` tags (null: none or unreadable), for the guide. */
  #titles = new Map<string, string | null>();
  /** As-run trackers of sessions with evidence, until their record is complete. */
  #asRun: { sessionId: string; schedule: BlockSchedule; tracker: AsRunTracker }[] = [];
  // stats
  #tsBytes = 0;
  #underruns = 0;
  #maxGap = 0;
  #lastReleaseAt = 0;
  #lag = 0;
  #planUpdates = 0;
  #boundaryErrorMs = 0;
  #encodedSinceStats = 0;
  #statsAt = 0;
  #encodeFps = 0;
  /** Assets already reported: one `asset_error` line per asset per run, every failure counted. */
  #reported = new Set<string>();
  #probeFailures = 0;
  /** The standalone loop in force, so that an item failing while it runs can be left out. */
  #loop: { schedule: LoopSchedule; items: LoopItem[]; loop: boolean } | undefined;
  /** Items of {@link #loop} that failed to open; left out from {@link #rebuildAt} on. */
  #failedItems = new Set<string>();
  #rebuildAt: number | undefined;

  constructor(opts: ChannelRunnerOptions, out: ChannelRunnerSink) {
    this.spec = opts.spec;
    this.format = opts.spec.format;
    this.#out = out;
    this.#threads = opts.threads ?? channelThreads(1, availableCores());
    this.clock = new MasterClock(opts.epochUtcMs, this.format.frameRate, opts.time);
    this.clock.utcOffsetMs = Math.round(this.clock.observedUtcOffsetMs());
    this.#leadMs = opts.leadMs ?? 500;
    this.#leadFrames = Math.max(1, framesForMs(this.#leadMs, this.format.frameRate));
    this.#frameMs = (1000 * this.format.frameRate.den) / this.format.frameRate.num;
    this.#pace = new DeadlinePacer(this.#frameMs, this.#leadFrames);
    this.#repeatsToDegrade = Math.max(2, Math.round(1000 / this.#frameMs / 8));
    this.#selfCheck = new TsAnalyzer({ recordValues: false, pcrGapMs: 40 });
    const builtIn: ProducerFactory = (source, skip) => this.#openProducer(source, skip);
    const custom = opts.openProducer;
    this.timeline = new ChannelTimeline(
      this.format,
      this.clock,
      this.#standaloneSchedule(0),
      custom ? (source, skip) => custom(source, skip, builtIn) : builtIn,
      { onAssetFailure: (f) => this.#assetFailed(f.source, f.reason, f.frame) },
    );
    if (opts.encode !== false) {
      const video = {
        ...this.spec.video,
        threads: this.spec.video.threads ?? this.#threads.encoder,
      };
      this.#encoder = new ProgramTsEncoder(this.format, video, this.spec.audio, {
        serviceId: this.spec.id,
      });
    }
  }

  /** The configured standalone source, starting at output frame `startFrame`. */
  #standaloneSchedule(startFrame: number): Schedule {
    const src = this.spec.source;
    if (src.kind === "test_pattern") return new TestPatternSchedule();
    if (src.kind === "playlist" || src.kind === "directory") {
      const paths = src.kind === "playlist"
        ? src.paths
        : listMedia(src.path, src.extensions, this.#out);
      const items: LoopItem[] = [];
      for (const path of paths) {
        const frames = this.#probeFrames(path, 0, -1);
        if (frames > 0) items.push({ path, frames });
      }
      this.#failedItems.clear();
      this.#rebuildAt = undefined;
      if (items.length === 0) {
        const reason = paths.length === 0
          ? `no media file in ${src.kind === "directory" ? src.path : "the playlist"}`
          : `none of the ${paths.length} file${paths.length === 1 ? "" : "s"} is playable`;
        this.#out.log("error", "playlist_empty", { source: src, reason });
        this.#out.content?.(false, reason);
      } else {
        this.#out.content?.(true, "");
      }
      const schedule = new LoopSchedule(items, startFrame, src.loop ?? true);
      this.#loop = { schedule, items, loop: src.loop ?? true };
      return schedule;
    }
    this.#loop = undefined;
    this.#out.content?.(true, "");
    return new IdleSchedule(startFrame);
  }

  /** Length in program frames of `path` from `startSeconds` (or the given count); 0 if unreadable. */
  #probeFrames(path: string, startSeconds: number, frameCount: number): number {
    if (frameCount >= 0) return frameCount;
    try {
      using d = Demuxer.open(path);
      this.#titles.set(path, d.tag("title")?.trim() || null);
      const dur = d.durationSeconds;
      if (dur === undefined || !(dur > 0)) {
        this.#probeFailures++;
        this.#reportAsset(path, "probe", "not a playable media file (unknown duration)");
        return 0;
      }
      return Math.max(0, framesForMs((dur - startSeconds) * 1000, this.format.frameRate));
    } catch (err) {
      this.#probeFailures++;
      this.#reportAsset(path, "probe", (err as Error).message);
      return 0;
    }
  }

  /**
   * A missing or bad item is handled the same whenever it is found: one `asset_error` line
   * per asset (later failures of the same asset are only counted, in `decodeFailures`), and
   * the item is left out of the standalone loop — at once when probed at start, from the next
   * lap on when it fails to open while the loop runs (its slot in the current lap is fallback).
   */
  #reportAsset(asset: string, phase: "probe" | "open", reason: string, frame?: number): void {
    if (this.#reported.has(asset)) return;
    this.#reported.add(asset);
    this.#out.log("error", "asset_error", { asset, phase, reason, frame, skipped: true });
  }

  #assetFailed(asset: string, reason: string, frame: number): void {
    this.#reportAsset(asset, "open", reason, frame);
    const l = this.#loop;
    if (!l || !l.loop || this.timeline.schedule !== l.schedule) return;
    if (!l.items.some((i) => i.path === asset)) return;
    this.#failedItems.add(asset);
    const cycle = l.items.reduce((n, i) => n + i.frames, 0);
    const lap = Math.floor((frame - l.schedule.startFrame) / cycle);
    this.#rebuildAt = l.schedule.startFrame + (lap + 1) * cycle;
  }

  /** At the end of the lap in which items failed, the loop goes on without them. */
  #leaveOutFailedItems(): void {
    const l = this.#loop;
    const at = this.#rebuildAt!;
    this.#rebuildAt = undefined;
    if (!l || this.timeline.schedule !== l.schedule) return;
    const items = l.items.filter((i) => !this.#failedItems.has(i.path));
    this.#out.log("warn", "source_items_left_out", {
      assets: [...this.#failedItems],
      remaining: items.length,
      frame: at,
    });
    this.#failedItems.clear();
    const schedule = new LoopSchedule(items, at, l.loop);
    this.#loop = { schedule, items, loop: l.loop };
    this.timeline.setSchedule(schedule);
    if (items.length === 0) {
      this.#out.content?.(false, `none of the ${l.items.length} files is playable`);
    }
  }

  #openProducer(source: SourceSpec, skipFrames: number): Producer {
    switch (source.kind) {
      case "pad":
        return new PadProducer(this.format);
      case "test_pattern":
        return new TestPatternProducer(this.format);
      case "file": {
        const primed = this.#primed;
        if (
          primed && skipFrames === 0 && primed.path === source.path &&
          primed.inPointSeconds === source.inPointSeconds
        ) {
          this.#primed = undefined;
          return new PrimedProducer(primed.producer, primed.first);
        }
        return this.#sharedFileProducer(source.path, source.inPointSeconds, skipFrames);
      }
    }
  }

  /** The in-point `skipFrames` program frames past `inPointSeconds`, seconds. */
  #inPointAfter(inPointSeconds: number, skipFrames: number): number {
    const fps = this.format.frameRate;
    return inPointSeconds + (skipFrames * fps.den) / fps.num;
  }

  /** A file's producer, shared with the channels airing it alike where the spec allows. */
  #sharedFileProducer(path: string, inPointSeconds: number, skipFrames: number): Producer {
    if (this.spec.decode?.share === false) {
      return this.#fileProducer(path, inPointSeconds, skipFrames);
    }
    const skipLoopFilter = this.spec.decode?.skipLoopFilter ?? "auto";
    return openSharedSource(
      {
        path,
        inPointSeconds: this.#inPointAfter(inPointSeconds, skipFrames),
        format: this.format,
        options: { skipLoopFilter },
      },
      (more, leading) => this.#fileProducer(path, inPointSeconds, skipFrames + more, leading),
      (reason) => this.#out.log("warn", "shared_source_fallback", { asset: path, reason }),
    );
  }

  #fileProducer(
    path: string,
    inPointSeconds: number,
    skipFrames: number,
    leading = false,
  ): FileProducer {
    return new FileProducer(path, this.format, {
      inPointSeconds: this.#inPointAfter(inPointSeconds, skipFrames),
      threads: leading
        ? sharedDecodeThreads(this.#threads, availableCores())
        : this.#threads.decoder,
      skipLoopFilter: this.spec.decode?.skipLoopFilter,
      onDecodeError: (asset, err) =>
        this.#out.log("warn", "asset_error", {
          asset,
          phase: "decode",
          reason: err instanceof Error ? err.message : String(err),
        }),
    });
  }

  // ---- control ------------------------------------------------------------------------------

  /** Frame number at which a plan change made now can take effect (after the lookahead). */
  get #nextFree(): number {
    return this.timeline.nextFrameNumber;
  }

  /**
   * Starts a block-plan session. With `session.sessionId`, the session's as-run events go to
   * the sink's `asRun` under that id; `session.maxQueueDepth` bounds its queue (at least 2).
   */
  startBlockSession(
    blocks: BlockPlan[],
    joinUtcMs: number,
    session: BlockSessionOptions = {},
  ): void {
    if (this.#blocks && !this.#blocks.ended) {
      throw new ControlError("ALREADY_ACTIVE", `channel ${this.spec.id} already has a session`);
    }
    let join = joinUtcMs > 0 ? joinUtcMs : blocks[0].startUtcMs;
    // A join in the past cannot be shown on time: start at the first frame we can still emit.
    let joinFrame = this.clock.frameAt(join);
    if (joinFrame < this.#nextFree) {
      joinFrame = this.#nextFree;
      join = this.clock.utcOfFrame(joinFrame);
    }
    const schedule = new BlockSchedule(this.clock, this.format.frameRate, joinFrame, blocks);
    schedule.onEvent = (e) => this.#blockEvent(e);
    const sessionId = session.sessionId;
    if (sessionId !== undefined) {
      const tracker = new AsRunTracker(
        schedule,
        this.clock,
        this.format.frameRate,
        (event) => this.#out.asRun?.(sessionId, event),
      );
      this.#asRun.push({ sessionId, schedule, tracker });
    }
    this.#blocks = schedule;
    this.#maxQueueDepth = Math.max(2, session.maxQueueDepth ?? 2);
    this.#segments = undefined;
    this.timeline.setSchedule(schedule);
    this.#planUpdates++;
    this.#reportSession();
    this.#out.log("info", "block_session_started", {
      blocks: blocks.map((b) => b.blockId),
      join_utc_ms: join,
      join_frame: joinFrame,
    });
  }

  /** Appends a block to the session's queue (bounded by the session's depth by default). */
  feedBlock(block: BlockPlan, maxQueueDepth: number = this.#maxQueueDepth): void {
    const s = this.#blocks;
    if (!s || s.ended) {
      throw new ControlError("NO_SESSION", `channel ${this.spec.id} has no block session`);
    }
    if (s.depth >= maxQueueDepth) {
      throw new ControlError("QUEUE_FULL", `queue full (${s.depth}/${maxQueueDepth})`);
    }
    const last = s.lastEndUtcMs;
    if (last !== undefined && block.startUtcMs !== last) {
      throw new ControlError(
        "NOT_CONTIGUOUS",
        `block ${block.blockId} starts at ${block.startUtcMs}, expected ${last}`,
        block.startUtcMs,
      );
    }
    s.feed(block);
    this.#planUpdates++;
    this.#reportSession();
  }

  /** Tells the sink what the block session now holds. */
  #reportSession(): void {
    const s = this.#blocks;
    this.#out.blockSession?.(
      s && !s.ended ? { blocks: s.queued, maxQueueDepth: this.#maxQueueDepth } : undefined,
    );
  }

  /** Stops the session (SessionEnded "stopped"); the channel then plays idle black. */
  stopBlockSession(): { finalCtMs: number; blocksExecuted: number } {
    const s = this.#blocks;
    if (!s) return { finalCtMs: 0, blocksExecuted: 0 };
    s.stop("stopped");
    for (const a of this.#asRun) if (a.schedule === s) a.tracker.stopAt(this.#nextFree);
    this.#blocks = undefined;
    // Back to the configured standalone source (from its start), or black when there is none.
    this.timeline.setSchedule(this.#standaloneSchedule(this.#nextFree));
    return { finalCtMs: s.finalCtMs, blocksExecuted: s.blocksExecuted };
  }

  /**
   * Segment mode: plays the items from the next free frame. With `requirePlayable` (a plan
   * handle naming one asset) an item that cannot be opened or has no known length is refused
   * with FAILED, like a missing file, and nothing changes.
   */
  playSegments(items: SegmentItem[], requirePlayable = false): void {
    const placements = items.map((i) => this.#placement(i));
    if (requirePlayable) {
      const bad = placements.find((p) => p.frames <= 0);
      if (bad) {
        throw new ControlError("FAILED", `plan_handle ${bad.path} is not a playable media file`);
      }
    }
    if (placements.every((p) => p.frames <= 0)) {
      this.#out.content?.(false, "no segment of the plan is playable");
    } else {
      this.#out.content?.(true, "");
    }
    if (!this.#segments) this.#segments = new SegmentSchedule();
    this.#segments.play(placements, this.#nextFree);
    this.#blocks = undefined;
    this.timeline.setSchedule(this.#segments);
    this.#planUpdates++;
  }

  #placement(item: SegmentItem): SegmentPlacement {
    const start = (item.startFrame * item.fps.den) / item.fps.num;
    const frames = item.frameCount >= 0
      ? Math.round(
        (item.frameCount * this.format.frameRate.num * item.fps.den) /
          (this.format.frameRate.den * item.fps.num),
      )
      : this.#probeFrames(item.assetPath, start, -1);
    return { path: item.assetPath, inPointSeconds: start, frames };
  }

  /**
   * Loads the preview slot and decodes its first picture now (shadow decode), so the switch
   * airs a frame that is already there. Says whether that worked (and why not).
   */
  loadPreview(item: SegmentItem): { shadowDecodeStarted: boolean; reason: string } {
    if (this.#pendingSwitch) {
      throw new ControlError(
        "REJECTED_BUSY",
        "a switch is armed; preview is locked until it lands",
      );
    }
    const placement = this.#placement(item);
    this.#preview = placement;
    this.#primed?.producer.close();
    this.#primed = undefined;
    let producer: FileProducer | undefined;
    try {
      producer = this.#fileProducer(placement.path, placement.inPointSeconds, 0);
      const first = producer.nextVideo({
        frameNumber: this.#nextFree,
        dueUtcMs: this.clock.dueUtcMs(this.#nextFree),
      });
      if (!first) {
        producer.close();
        return { shadowDecodeStarted: false, reason: "no picture at the in-point" };
      }
      this.#primed = { ...placement, producer, first: first.slice() };
      return { shadowDecodeStarted: true, reason: "" };
    } catch (err) {
      producer?.close();
      return { shadowDecodeStarted: false, reason: (err as Error).message };
    }
  }

  /** Arms a switch to the preview at `targetUtcMs` (0 = next free frame). */
  switchToLive(
    targetUtcMs: number,
  ): Promise<{ ptsContiguous: boolean; livePts90k: number; completionUtcMs: number }> {
    const item = this.#preview;
    if (!item) throw new ControlError("PROTOCOL_VIOLATION", "no preview loaded");
    if (this.#pendingSwitch) throw new ControlError("REJECTED_BUSY", "a switch is already armed");
    let frame = targetUtcMs > 0 ? this.clock.frameAt(targetUtcMs) : this.#nextFree;
    if (frame < this.#nextFree) frame = this.#nextFree;
    if (!this.#segments) this.#segments = new SegmentSchedule();
    this.#segments.switchAt(frame, item);
    this.#blocks = undefined;
    this.timeline.setSchedule(this.#segments);
    this.#preview = undefined;
    return new Promise((resolve) => {
      this.#pendingSwitch = { frame, resolve };
    });
  }

  /**
   * What the schedule in force plays between two UTC times (see {@link scheduleSlots}).
   * Files not seen before are opened for their `title` tag for at most
   * {@link GUIDE_TITLE_BUDGET_MS} per call (this thread paces the channel); the rest are named
   * by their file name until a later call reads them.
   */
  guide(fromUtcMs: number, toUtcMs: number): GuideSlot[] {
    const budgetEnd = performance.now() + GUIDE_TITLE_BUDGET_MS;
    return scheduleSlots(this.timeline.schedule, this.clock, fromUtcMs, toUtcMs, (path) => {
      let title = this.#titles.get(path);
      if (title === undefined) {
        if (performance.now() > budgetEnd) return undefined;
        try {
          using d = Demuxer.open(path);
          title = d.tag("title")?.trim() || null;
        } catch {
          // Unreadable now: the guide falls back to the file name; playback reports the error.
          title = null;
        }
        this.#titles.set(path, title);
      }
      return title ?? undefined;
    });
  }

  // ---- running ------------------------------------------------------------------------------

  /** Produces (if needed) and releases the next frame without waiting (its picture always). */
  step(): TimelineFrame {
    this.#fill();
    const f = this.#buffer.shift()!;
    this.#release(f, !f.hasPicture);
    return f;
  }

  #fill(): void {
    while (this.#buffer.length < this.#leadFrames) this.#produce();
  }

  /**
   * Frames that always get their own picture: an armed switch's first frame and the one
   * before it (its answer compares their video PTS in the TS). The first frame of every
   * segment does too (see {@link #produce} and {@link run}): a boundary lands on its frame
   * even while the channel sheds pictures, instead of the last segment's picture lingering.
   */
  #mustShow(k: number): boolean {
    const f = this.#pendingSwitch?.frame;
    return f !== undefined && (k === f || k === f - 1);
  }

  /** Produces the next frame into the buffer, with a picture unless shedding skips it. */
  #produce(): void {
    if (this.#rebuildAt !== undefined && this.timeline.nextFrameNumber >= this.#rebuildAt) {
      this.#leaveOutFailedItems();
    }
    const k = this.timeline.nextFrameNumber;
    const picture = this.#pace.wantsPicture(k) || this.#mustShow(k) ||
      this.timeline.nextStartsSegment;
    const d = this.#pace.decimation;
    // Far behind (few pictures a second), decode keyframes only; behind, skip what is only shown.
    // (Below 2 most pictures are shown: decoding them all costs less than losing the B-frames.)
    const shed: ShedLevel = d >= NONKEY_DECIMATION ? "nonkey" : d >= 2 ? "nonref" : "none";
    if (shed !== this.#shedding) {
      this.#shedding = shed;
      this.timeline.setShedding(shed);
    }
    const started = this.clock.now();
    this.#buffer.push(this.timeline.next({ picture }));
    this.#pace.produced(picture, this.clock.now() - started);
  }

  /**
   * Runs paced by the clock until {@link stop}: one frame per tick, released at its due time.
   * A frame whose picture was not made (work shed while the channel cannot keep up) or that
   * is released too late repeats the picture on air, with its own audio, so output time stays
   * locked to the clock; late frames are never caught up with a burst of pictures.
   *
   * `epochUtcMs`, when given to a channel that has produced nothing yet and has no block
   * session (whose blocks sit on the clock), moves frame 0 to it: standalone channels started
   * together run in step from their first frame (see ChannelManager.applyConfig).
   */
  async run(epochUtcMs?: number): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    if (
      epochUtcMs !== undefined && this.timeline.nextFrameNumber === 0 &&
      this.#buffer.length === 0 && this.#blocks === undefined
    ) this.clock.restartAt(epochUtcMs);
    // Late frames repeat beyond this lateness: a hiccup is caught up, a stall is not.
    const holdBeyondMs = Math.max(2 * this.#frameMs, Math.min(this.#leadMs / 2, 250));
    let yieldedAt = performance.now();
    let caughtUp = false;
    while (!this.#stopped) {
      if (this.#buffer.length === 0) this.#produce();
      const f = this.#buffer[0];
      const due = this.clock.dueUtcMs(f.frameNumber);
      await this.clock.time.sleepUntil(due);
      if (this.#stopped) break;
      this.#buffer.shift();
      const lateMs = this.clock.now() - due;
      // Start-up (worker, encoder, first file) is late by nature: it is caught up once.
      if (lateMs <= this.#frameMs) caughtUp = true;
      const hold = !f.hasPicture ||
        (caughtUp && lateMs > holdBeyondMs && !this.#mustShow(f.frameNumber) &&
          !(f.flags & FrameFlags.SEGMENT_START));
      const started = this.clock.now();
      const aired = this.#onAir;
      this.#release(f, hold);
      const releasedAt = this.clock.now();
      this.#pace.released(hold, releasedAt - started, this.#buffer.length, releasedAt);
      if (!this.wantFrames) {
        // Pictures nobody reads any more go back to the timeline: the one a new picture
        // replaced on air, or a held frame's own (never aired). A frame sink owns its copies.
        if (aired && aired !== this.#onAir) this.timeline.recycle(aired);
        if (f.video !== this.#onAir) this.timeline.recycle(f.video);
      }
      this.#judge(f, hold, lateMs);
      // Production ahead (always one in hand), while it makes the next release at most half
      // a frame late: a picture that costs most of a frame still gets made in every tick. (Up
      // to its due time only, a channel whose release and next picture together came near a
      // frame skipped a tick's production at every bit of jitter, and its lead drained while
      // its core sat idle for the rest of the tick.)
      while (
        !this.#stopped && this.#buffer.length < this.#leadFrames &&
        (this.#buffer.length === 0 ||
          this.clock.now() + this.#pace.produceCostMs <
            this.clock.dueUtcMs(f.frameNumber + 1) + this.#frameMs / 2)
      ) this.#produce();
      // Keep the event loop alive (stats, control calls, stop) under any load, and let a
      // virtual clock run flat out between: timers cost a few ms each.
      if (performance.now() - yieldedAt > 20) {
        await macrotask();
        yieldedAt = performance.now();
      }
    }
    this.#running = false;
  }

  /**
   * Once a second: has the system's UTC clock stepped against the pacing clock? A step is
   * logged, then absorbed — at once without a block session (nothing is placed on UTC), else
   * at the next block fence that can still move, which lands on the right UTC again (the
   * block before it is longer or shorter by the step). Pacing and PTS never jump.
   */
  #watchUtc(): void {
    const now = this.clock.now();
    if (now - this.#utcCheckedAt < 1000) return;
    this.#utcCheckedAt = now;
    const observed = Math.round(this.clock.observedUtcOffsetMs());
    const expected = this.#pendingUtcOffset ?? this.clock.utcOffsetMs;
    if (Math.abs(observed - expected) > UTC_STEP_MS) {
      this.#out.log("warn", "utc_step_detected", {
        step_ms: observed - expected,
        utc_offset_ms: observed,
        frame: this.#lastReleased,
      });
      this.#pendingUtcOffset = observed;
    }
    const target = this.#pendingUtcOffset;
    if (target === undefined) return;
    const before = this.clock.utcOffsetMs;
    this.clock.utcOffsetMs = target;
    const fields: Record<string, unknown> = { step_ms: target - before, utc_offset_ms: target };
    if (this.#blocks && !this.#blocks.ended) {
      const moved = this.#blocks.reanchor(this.timeline.nextFrameNumber + FENCE_MARGIN_FRAMES);
      if (!moved) {
        this.clock.utcOffsetMs = before; // no fence can move yet: the next one will
        return;
      }
      Object.assign(fields, {
        block_id: moved.blockId,
        fence_from: moved.from,
        fence_to: moved.to,
      });
    }
    this.#pendingUtcOffset = undefined;
    this.#out.log("info", "utc_step_absorbed", fields);
  }

  /**
   * Counts repeats and late frames. Degraded while the channel sheds pictures or repeats
   * more than a few a second (one hiccup is counted, not a state); ready again once it has
   * gone 5 s without a repeat.
   */
  #judge(f: TimelineFrame, held: boolean, lateMs: number): void {
    const now = this.clock.now();
    if (lateMs > this.#frameMs) this.#late++;
    if (held) {
      this.#lastRepeatAt = now;
      this.#recentRepeats.push(now);
    }
    while (this.#recentRepeats.length > 0 && this.#recentRepeats[0] < now - 1000) {
      this.#recentRepeats.shift();
    }
    const d = this.#pace.decimation;
    this.#stepEncoder(now, d);
    const sustained = d > 1 || this.#recentRepeats.length >= this.#repeatsToDegrade;
    if (held && sustained && !this.#degraded) {
      this.#degraded = true;
      this.#degradedReason = d > 1
        ? `cannot keep up: a picture takes ${this.#pace.pictureCostMs.toFixed(0)} ms of a ${
          this.#frameMs.toFixed(1)
        } ms frame; ${airingText(d)}`
        : `cannot keep up: frame ${f.frameNumber} released ${lateMs.toFixed(0)} ms late`;
      this.#out.log("warn", "channel_degraded", {
        reason: this.#degradedReason,
        frame: f.frameNumber,
        picture_cost_ms: round1(this.#pace.pictureCostMs),
        frame_ms: round1(this.#frameMs),
        decimation: round1(d),
      });
      this.#out.health?.({ degraded: true, reason: this.#degradedReason });
    } else if (
      this.#degraded && d === 1 && now - this.#lastRepeatAt > RECOVER_MS &&
      !this.#encoder?.steppedDown
    ) {
      this.#degraded = false;
      this.#degradedReason = "";
      this.#out.log("info", "channel_recovered", {
        frame: f.frameNumber,
        repeated_frames: this.#repeated,
      });
      this.#out.health?.({ degraded: false, reason: "" });
    }
  }

  /**
   * Sheds encoding while pictures cost more than the channel's frames allow: a degraded
   * channel whose decimation is above 1 steps its x264 down (ProgramTsEncoder.setSteppedDown:
   * faster preset, no lookahead, so the few pictures it airs need no re-encodes), and stays
   * there at least {@link #stepBackoffMs}; then, when it has kept up for {@link RECOVER_MS},
   * it tries the configured encoder again. Degrading again within {@link STEP_TRIAL_MS} of that
   * doubles the wait (up to {@link STEP_BACKOFF_MAX_MS}); the channel stays degraded while
   * stepped down.
   */
  #stepEncoder(now: number, d: number): void {
    const enc = this.#encoder;
    if (!enc?.canStepDown) return;
    if (!enc.steppedDown) {
      if (!this.#degraded || d <= 1) return;
      const configured = enc.videoPreset;
      this.#stepBackoffMs = now - this.#encoderRestoredAt < STEP_TRIAL_MS
        ? Math.min(STEP_BACKOFF_MAX_MS, this.#stepBackoffMs * 2)
        : STEP_BACKOFF_MS;
      enc.setSteppedDown(true);
      this.#steppedDownAt = now;
      this.#degradedReason =
        `cannot keep up: a picture takes ${this.#pace.pictureCostMs.toFixed(0)} ms of a ${
          this.#frameMs.toFixed(1)
        } ms frame; encoding x264 ${STEPPED_DOWN_PRESET} ` +
        `zerolatency instead of ${configured}`;
      this.#out.log("warn", "encoder_stepped_down", {
        preset: STEPPED_DOWN_PRESET,
        configured_preset: configured,
        frame: this.#lastReleased,
        picture_cost_ms: round1(this.#pace.pictureCostMs),
        retry_after_s: Math.round(this.#stepBackoffMs / 1000),
      });
      this.#out.health?.({ degraded: true, reason: this.#degradedReason });
    } else if (
      now - this.#steppedDownAt >= this.#stepBackoffMs && d === 1 &&
      now - this.#lastRepeatAt > RECOVER_MS
    ) {
      enc.setSteppedDown(false);
      this.#encoderRestoredAt = now;
      this.#out.log("info", "encoder_restored", {
        preset: this.spec.video.preset,
        frame: this.#lastReleased,
      });
    }
  }

  /** The channel's real-time health now. */
  get health(): RealtimeHealth {
    return { degraded: this.#degraded, reason: this.#degradedReason };
  }

  #release(f: TimelineFrame, hold: boolean): void {
    const now = this.clock.now();
    const due = this.clock.dueUtcMs(f.frameNumber);
    this.#lag = (now - due) / 1000;
    if (now - due > this.#frameMs) this.#underruns++;
    if (this.#lastReleaseAt > 0) {
      this.#maxGap = Math.max(this.#maxGap, (now - this.#lastReleaseAt) / 1000);
    }
    this.#lastReleaseAt = now;
    if (hold) {
      this.#repeated++;
      f.flags |= FrameFlags.DUPLICATED;
      this.#held.add(f.frameNumber);
      if (this.#held.size > 256) this.#held.delete(this.#held.values().next().value!);
    } else {
      this.#onAir = f.video;
    }

    const contiguous = f.frameNumber === this.#lastReleased + 1;
    if (this.#lastReleased < 0) this.#firstReleased = f.frameNumber;
    this.#lastReleased = f.frameNumber;
    if (this.#encoder) {
      const ts = this.#encoder.encode(f, hold);
      this.#settleSwitch();
      this.#encodedSinceStats++;
      if (ts.length > 0) {
        this.#tsBytes += ts.length;
        this.#selfCheck.push(ts);
        this.#out.ts(ts);
      }
    }
    for (const e of f.events) this.#timelineEvent(e, f, contiguous);
    this.timeline.schedule.released?.(f.frameNumber);
    if (this.#asRun.length > 0) this.#trackAsRun(f);
    this.#watchUtc();
    if (this.wantFrames) {
      const { events: _events, origin: _origin, hasPicture: _has, ...frame } = f;
      if (hold) frame.video = this.#onAir ? this.#onAir.slice() : this.timeline.blackPicture();
      // The picture goes to the sink with its buffer: keep a copy of what is on air.
      else this.#onAir = frame.video.slice();
      this.#out.frame(frame);
    }
  }

  #trackAsRun(f: TimelineFrame): void {
    for (const a of this.#asRun) {
      a.tracker.aired(f);
      if (a.tracker.finished) this.#out.asRunClosed?.(a.sessionId);
    }
    this.#asRun = this.#asRun.filter((a) => !a.tracker.finished);
  }

  #timelineEvent(e: TimelineEvent, f: TimelineFrame, contiguous: boolean): void {
    if (e.kind === "segment_start") {
      this.#out.log("info", "segment_started", {
        source: e.source,
        segment_type: e.segmentType,
        frame: e.frame,
        frames: Number.isFinite(e.frameCount) ? e.frameCount : null,
        block_id: e.blockId,
        segment_index: e.segmentIndex,
      });
    } else if (e.kind === "switched") {
      const pending = this.#pendingSwitch;
      if (pending && pending.frame === f.frameNumber) {
        this.#boundaryErrorMs = this.clock.now() - this.clock.dueUtcMs(f.frameNumber);
        pending.released = {
          contiguous,
          livePts90k: this.#encoder?.videoPts90k(f.frameNumber) ?? f.pts90k,
          completionUtcMs: Math.round(this.clock.now()),
        };
        this.#settleSwitch();
      }
    }
  }

  /**
   * Answers a released switch once the TS shows it: its first frame's video packet and the
   * previous frame's are muxed, one frame apart in PTS (without an encoder: released right
   * after the previous frame). On stop, an unanswered switch is not contiguous.
   */
  #settleSwitch(stopping = false): void {
    const p = this.#pendingSwitch;
    if (!p?.released) {
      if (p && stopping) {
        this.#pendingSwitch = undefined;
        p.resolve({ ptsContiguous: false, livePts90k: 0, completionUtcMs: 0 });
      }
      return;
    }
    const enc = this.#encoder;
    // The previous frame aired from this runner (not so for a switch on its first frame).
    let contiguous = p.released.contiguous && p.frame - 1 >= this.#firstReleased;
    if (enc) {
      const now = enc.muxedVideoPts90k(p.frame);
      // A previous frame that repeated the picture on air has no packet of its own: the
      // output timeline is contiguous all the same.
      const prevHeld = this.#held.has(p.frame - 1);
      const before = enc.muxedVideoPts90k(p.frame - 1);
      // Both packets in the TS first; with B-frames the previous frame's may come after.
      if (
        (now === undefined || (contiguous && !prevHeld && before === undefined)) && !stopping
      ) return;
      const step = (90000 * this.format.frameRate.den) / this.format.frameRate.num;
      contiguous = contiguous && now !== undefined &&
        (prevHeld || (before !== undefined && Math.abs(now - before - step) < 1));
    }
    this.#pendingSwitch = undefined;
    p.resolve({
      ptsContiguous: contiguous,
      livePts90k: p.released.livePts90k,
      completionUtcMs: p.released.completionUtcMs,
    });
  }

  #blockEvent(e: BlockEvent): void {
    if (e.kind === "block_started") {
      // UTC error of the block boundary as released.
      this.#boundaryErrorMs = this.clock.now() + this.clock.utcOffsetMs - e.blockStartUtcMs;
    }
    if (e.kind !== "block_started") this.#reportSession();
    this.#out.log("info", e.kind, snakeCase(e));
    this.#out.blockEvent(e);
    if (e.kind === "session_ended" && this.#blocks?.ended) {
      this.#blocks = undefined;
    }
  }

  /** Stats snapshot; resets interval maxima. */
  stats(): ChannelStats {
    const c = this.timeline.counters;
    const now = this.clock.now();
    if (this.#statsAt > 0 && now > this.#statsAt) {
      this.#encodeFps = (this.#encodedSinceStats * 1000) / (now - this.#statsAt);
    }
    this.#statsAt = now;
    this.#encodedSinceStats = 0;
    const s: ChannelStats = {
      framesOut: this.#lastReleased + 1,
      framesDecoded: c.decoded,
      framesDropped: c.dropped,
      framesDuplicated: c.duplicated,
      fallbackFrames: c.fallbackFrames,
      padFrames: c.padFrames,
      bufferDepthFrames: this.#buffer.length,
      bufferUnderruns: this.#underruns,
      decodeFailures: c.assetFailures + c.decodeErrors + this.#probeFailures,
      decodeLatencySamples: this.timeline.takeDecodeLatency(),
      frameGapSeconds: this.#maxGap,
      lagSeconds: this.#lag,
      encodeFps: this.#encodeFps,
      tsBytesOut: this.#tsBytes,
      assetTransitions: c.assetTransitions,
      planUpdates: this.#planUpdates,
      restarts: 0,
      segmentBoundaryErrorMs: this.#boundaryErrorMs,
      framesRepeated: this.#repeated,
      framesLate: this.#late,
      tsPicturesLost: this.#encoder?.picturesLost ?? 0,
      framesShared: c.sharedFrames,
      pictureDecimation: this.#pace.decimation,
      tsSelfCheckCcErrors: 0,
      tsSelfCheckPcrErrors: 0,
    };
    this.#maxGap = 0;
    if (this.#encoder) {
      const check = this.#selfCheck.summary();
      s.tsSelfCheckCcErrors = check.ccErrors;
      s.tsSelfCheckPcrErrors = check.pcr.gaps;
    }
    return s;
  }

  /**
   * Stops the loop, ends any session, flushes encoder and muxer (the last TS bytes go out
   * through the sink). Returns the number of frames released and the video PTS of the last.
   *
   * With `failed` (the channel failed: its loop threw) open as-run records are left open
   * rather than ended as a stop: nothing more is emitted for them, and their owner ends them
   * with ChannelTerminated (`CHANNEL_FAILED`).
   */
  stop(
    opts: { failed?: boolean } = {},
  ): { framesReleased: number; lastVideoPts90k: number | undefined } {
    const result = {
      framesReleased: this.#lastReleased + 1,
      lastVideoPts90k: this.#lastReleased >= 0
        ? this.#encoder?.videoPts90k(this.#lastReleased)
        : undefined,
    };
    if (this.#stopped) return result;
    this.#stopped = true;
    this.#blocks?.stop("stopped");
    this.#primed?.producer.close();
    this.#primed = undefined;
    // Frames still buffered never air: the as-run record ends after the last released one.
    // A failed channel did not stop: its records are not closed as if it had.
    for (const a of opts.failed ? [] : this.#asRun) {
      a.tracker.finish(this.#lastReleased + 1);
      this.#out.asRunClosed?.(a.sessionId);
    }
    this.#asRun = [];
    this.timeline.close();
    if (this.#encoder) {
      try {
        const rest = this.#encoder.finish();
        this.#settleSwitch(true);
        if (rest.length > 0) this.#out.ts(rest);
      } catch (err) {
        this.#out.log("error", "encoder_flush_failed", { reason: (err as Error).message });
        this.#encoder.close();
      }
    }
    return result;
  }
}

/** What a decimation airs, for humans: "airing 1 picture in 3", "airing 80 % of pictures". */
function airingText(d: number): string {
  return Number.isInteger(d)
    ? `airing 1 picture in ${d}`
    : `airing ${Math.round(100 / d)} % of pictures`;
}

/** From this decimation on, decoders keep only keyframes. */
const NONKEY_DECIMATION = 8;

/** A change of UTC against the pacing clock beyond this is a step (NTP, suspend), ms. */
const UTC_STEP_MS = 100;
/** Frames beyond those made already before a moved fence may fall (the timeline's pre-roll). */
const FENCE_MARGIN_FRAMES = 16;

/** Time a channel must go without repeating a frame before it is ready again. */
const RECOVER_MS = 5000;
/** Least time a stepped-down encoder stays so, first time (doubles on a failed retry). */
const STEP_BACKOFF_MS = 60_000;
const STEP_BACKOFF_MAX_MS = 15 * 60_000;
/** A channel degrading within this of its encoder's restoration failed the retry. */
const STEP_TRIAL_MS = 30_000;

/** Lets timers and messages in (a resolved promise would not). */
function macrotask(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Media files of a directory with one of `extensions`, sorted by name. */
function listMedia(dir: string, extensions: string[], out: ChannelRunnerSink): string[] {
  const wanted = new Set(extensions.map((e) => e.toLowerCase()));
  try {
    const names: string[] = [];
    for (const e of Deno.readDirSync(dir)) {
      const dot = e.name.lastIndexOf(".");
      if (e.isFile && dot > 0 && wanted.has(e.name.slice(dot).toLowerCase())) names.push(e.name);
    }
    return names.sort().map((n) => `${dir.replace(/\/+$/, "")}/${n}`);
  } catch (err) {
    out.log("error", "playlist_directory_error", { path: dir, reason: (err as Error).message });
    return [];
  }
}

/** Log fields are snake_case: `blockId` → `block_id`; the event name is not repeated. */
function snakeCase(e: BlockEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k !== "kind") out[k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())] = v;
  }
  return out;
}
