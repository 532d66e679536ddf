/**
 * Schedules answer one question for the timeline: which segment covers output frame k?
 * `segmentAt` is pure (it may be asked about future frames for pre-roll); state changes only
 * through explicit calls (feeding blocks, arming a switch, releasing frames).
 *
 * @module
 */

import { FrameFlags } from "../../media/program_frame.ts";
import { framesForMs } from "../../media/program_format.ts";
import type { Rational } from "../../media/rational.ts";
import { pathOfLocation } from "../endpoints/file_uri.ts";
import type { MasterClock } from "./master_clock.ts";
import type { BlockEvent, BlockPlan, SegmentType } from "./plan.ts";

/** What to play. */
export type SourceSpec =
  | { kind: "pad" }
  | { kind: "test_pattern" }
  | { kind: "file"; path: string; inPointSeconds: number };

/** Something the channel reports when the frame carrying it is released. */
export type TimelineEvent =
  | {
    kind: "segment_start";
    source: string;
    segmentType: SegmentType | "standalone" | "idle";
    frame: number;
    frameCount: number;
    blockId?: string;
    segmentIndex?: number;
  }
  | { kind: "switched"; frame: number };

/** A segment placed on the output timeline. */
export interface ScheduledSegment {
  /** Unique key of this placement (changes when the plan changes). */
  key: string;
  /** Channel output frame of the segment's first frame (may be before the join point). */
  startFrame: number;
  /** Frames it covers; Infinity for open-ended (test pattern, idle pad). */
  frameCount: number;
  source: SourceSpec;
  segmentType: SegmentType | "standalone" | "idle";
  /** FrameFlags bits applied to every frame of the segment (e.g. PAD). */
  flags: number;
  gainDb: number;
  fadeInFrames: number;
  fadeOutFrames: number;
  /** Events released with the segment's first frame. */
  startEvents: TimelineEvent[];
  /** Events released with the segment's last frame. */
  endEvents: TimelineEvent[];
  /** Block this segment belongs to (block mode). */
  blockId?: string;
  segmentIndex?: number;
  /** Block mode: the plan segment this covers, for the as-run record. */
  asRun?: AsRunSlot;
}

/** A block as laid out on output frames, with every plan segment's slot (also empty ones). */
export interface AsRunBlock {
  plan: BlockPlan;
  startFrame: number;
  endFrame: number;
  /** Per plan segment (same order): first output frame and frames; 0 frames never air. */
  slots: { startFrame: number; frameCount: number }[];
  /** The session (schedule) the block was fed to. */
  owner: object | undefined;
}

/** Which plan segment of which placed block a scheduled segment is. */
export interface AsRunSlot {
  block: AsRunBlock;
  /** Index into `block.plan.segments`. */
  index: number;
}

/** A schedule of segments over channel frames. */
export interface Schedule {
  segmentAt(frame: number): ScheduledSegment;
  /** Called when frame `frame` is released (on air). */
  released?(frame: number): void;
  /**
   * When `segmentAt(frame)` is open-ended (idle before a join or in a gap): the first frame
   * after `frame` where something else is planned, or undefined when nothing is.
   */
  nextStartFrame?(frame: number): number | undefined;
}

/** Idle black + silence from `startFrame` on. */
export function idleSegment(startFrame: number, key = `idle@${startFrame}`): ScheduledSegment {
  return {
    key,
    startFrame,
    frameCount: Infinity,
    source: { kind: "pad" },
    segmentType: "idle",
    flags: FrameFlags.PAD,
    gainDb: 0,
    fadeInFrames: 0,
    fadeOutFrames: 0,
    startEvents: [],
    endEvents: [],
  };
}

/** Plays nothing but black and silence. */
export class IdleSchedule implements Schedule {
  #seg: ScheduledSegment;
  constructor(startFrame = 0) {
    this.#seg = idleSegment(startFrame, "idle");
  }
  segmentAt(_frame: number): ScheduledSegment {
    return this.#seg;
  }
}

/** The built-in test pattern, forever. */
export class TestPatternSchedule implements Schedule {
  #seg: ScheduledSegment;
  constructor() {
    this.#seg = {
      ...idleSegment(0, "test_pattern"),
      source: { kind: "test_pattern" },
      segmentType: "standalone",
      flags: 0,
      startEvents: [{
        kind: "segment_start",
        source: "test pattern",
        segmentType: "standalone",
        frame: 0,
        frameCount: Infinity,
      }],
    };
  }
  segmentAt(_frame: number): ScheduledSegment {
    return this.#seg;
  }
}

/** A file with a known length in program frames. */
export interface LoopItem {
  path: string;
  frames: number;
}

/** A playlist played from `startFrame`, looped forever unless `loop` is false (then black). */
export class LoopSchedule implements Schedule {
  /** Output frame at which the first lap starts. */
  readonly startFrame: number;
  #items: LoopItem[];
  #cycle: number;
  #startFrame: number;
  #loop: boolean;

  constructor(items: LoopItem[], startFrame = 0, loop = true) {
    this.startFrame = startFrame;
    this.#items = items.filter((i) => i.frames > 0);
    this.#cycle = this.#items.reduce((n, i) => n + i.frames, 0);
    this.#startFrame = startFrame;
    this.#loop = loop;
  }

  segmentAt(frame: number): ScheduledSegment {
    if (this.#cycle === 0) return idleSegment(this.#startFrame, "loop-empty");
    const rel = frame - this.#startFrame;
    const lap = Math.floor(rel / this.#cycle);
    if (!this.#loop && lap > 0) {
      return idleSegment(this.#startFrame + this.#cycle, "playlist-ended");
    }
    let pos = rel - lap * this.#cycle;
    let start = this.#startFrame + lap * this.#cycle;
    for (let i = 0; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (pos < item.frames) {
        return {
          ...idleSegment(start, `loop:${lap}:${i}`),
          frameCount: item.frames,
          source: { kind: "file", path: item.path, inPointSeconds: 0 },
          segmentType: "standalone",
          flags: 0,
          startEvents: [{
            kind: "segment_start",
            source: item.path,
            segmentType: "standalone",
            frame: start,
            frameCount: item.frames,
          }],
        };
      }
      pos -= item.frames;
      start += item.frames;
    }
    throw new Error("unreachable: loop position outside the cycle");
  }
}

/** A block with its frame placement. */
interface PlacedBlock {
  plan: BlockPlan;
  startFrame: number;
  endFrame: number;
  segments: ScheduledSegment[];
}

/** Lays out a block's segments on output frames (block boundaries win over rounding). */
export function placeBlock(
  plan: BlockPlan,
  clock: MasterClock,
  fps: Rational,
  startFrame = clock.frameAt(plan.startUtcMs),
  endFrame = clock.frameAt(plan.endUtcMs),
): { startFrame: number; endFrame: number; segments: ScheduledSegment[]; asRun: AsRunBlock } {
  const segments: ScheduledSegment[] = [];
  const asRun: AsRunBlock = { plan, startFrame, endFrame, slots: [], owner: undefined };
  let at = startFrame;
  plan.segments.forEach((s, i) => {
    const last = i === plan.segments.length - 1;
    const n = last ? endFrame - at : Math.min(framesForMs(s.durationMs, fps), endFrame - at);
    asRun.slots.push({ startFrame: at, frameCount: Math.max(0, n) });
    const isPad = s.type === "pad" || s.assetUri === "";
    segments.push({
      key: `block:${plan.blockId}:${i}`,
      startFrame: at,
      frameCount: Math.max(0, n),
      source: isPad ? { kind: "pad" } : {
        kind: "file",
        path: assetPath(s.assetUri),
        inPointSeconds: s.assetStartOffsetMs / 1000,
      },
      segmentType: s.type,
      flags: isPad ? FrameFlags.PAD : 0,
      gainDb: s.gainDb,
      fadeInFrames: s.transitionIn.type === "fade"
        ? framesForMs(s.transitionIn.durationMs, fps)
        : 0,
      fadeOutFrames: s.transitionOut.type === "fade"
        ? framesForMs(s.transitionOut.durationMs, fps)
        : 0,
      startEvents: [{
        kind: "segment_start",
        source: isPad ? "pad" : s.assetUri,
        segmentType: s.type,
        frame: at,
        frameCount: Math.max(0, n),
        blockId: plan.blockId,
        segmentIndex: s.segmentIndex,
      }],
      endEvents: [],
      blockId: plan.blockId,
      segmentIndex: s.segmentIndex,
      asRun: { block: asRun, index: i },
    });
    at += Math.max(0, n);
  });
  return { startFrame, endFrame, segments: segments.filter((s) => s.frameCount > 0), asRun };
}

/** `file:///x` → `/x`; anything else (a malformed `file:` URI too) is taken as a path. */
export function assetPath(uri: string): string {
  return pathOfLocation(uri) ?? uri;
}

/**
 * Block mode: a queue of contiguous blocks. A block leaves the queue when its last frame is
 * released (its fence); when the queue runs dry at a fence the session ends.
 */
export class BlockSchedule implements Schedule {
  #clock: MasterClock;
  #fps: Rational;
  #blocks: PlacedBlock[] = [];
  #joinFrame: number;
  #blocksExecuted = 0;
  #sessionFrames = 0;
  #ended = false;
  /** Called with each block event at release time. */
  onEvent: (event: BlockEvent) => void = () => {};

  constructor(clock: MasterClock, fps: Rational, joinFrame: number, blocks: BlockPlan[]) {
    this.#clock = clock;
    this.#fps = fps;
    this.#joinFrame = joinFrame;
    for (const b of blocks) this.feed(b);
  }

  /** Blocks queued (including the one on air). */
  get depth(): number {
    return this.#blocks.length;
  }
  /** The plans of the queued blocks (including the one on air), in order. */
  get queued(): BlockPlan[] {
    return this.#blocks.map((b) => b.plan);
  }
  /** End UTC of the last queued block. */
  get lastEndUtcMs(): number | undefined {
    return this.#blocks.at(-1)?.plan.endUtcMs;
  }
  /** Blocks whose fence has been reached. */
  get blocksExecuted(): number {
    return this.#blocksExecuted;
  }
  /** Content time of the session: frames released since the join, in ms. */
  get finalCtMs(): number {
    return Math.round((this.#sessionFrames * 1000 * this.#fps.den) / this.#fps.num);
  }
  /** Whether the session has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Appends a block (the caller checked contiguity and depth). */
  feed(plan: BlockPlan): void {
    const placed = placeBlock(plan, this.#clock, this.#fps);
    placed.asRun.owner = this;
    const segments = placed.segments;
    if (segments.length > 0) segments[0].flags |= FrameFlags.BLOCK_START;
    this.#blocks.push({ plan, startFrame: placed.startFrame, endFrame: placed.endFrame, segments });
  }

  /**
   * Re-places the queue on the clock's current UTC mapping (after a UTC step was absorbed):
   * the first fence after `notBefore` (frames up to it are made already) moves to where its
   * UTC now falls — the block before it gets longer or shorter — and every later block is
   * placed anew. Returns the fence's old and new frame, or undefined when no fence can move
   * yet (then nothing changed).
   */
  reanchor(notBefore: number): { blockId: string; from: number; to: number } | undefined {
    const i = this.#blocks.findIndex((b) =>
      b.endFrame > notBefore && this.#clock.frameAt(b.plan.endUtcMs) > notBefore
    );
    if (i < 0) return undefined;
    const b = this.#blocks[i];
    const from = b.endFrame;
    const start = Math.max(b.startFrame, i === 0 ? this.#joinFrame : b.startFrame);
    const to = Math.max(start + 1, this.#clock.frameAt(b.plan.endUtcMs));
    const placed = this.#replace(b, b.startFrame, to);
    if (placed.segments.length > 0 && b.segments[0]?.flags & FrameFlags.BLOCK_START) {
      placed.segments[0].flags |= FrameFlags.BLOCK_START;
    }
    this.#blocks[i] = placed;
    let at = to;
    for (let j = i + 1; j < this.#blocks.length; j++) {
      const p = this.#replace(this.#blocks[j], at, undefined);
      if (p.segments.length > 0) p.segments[0].flags |= FrameFlags.BLOCK_START;
      this.#blocks[j] = p;
      at = p.endFrame;
    }
    return { blockId: b.plan.blockId, from, to };
  }

  /** Places a queued block anew; its as-run record stays the same object, updated. */
  #replace(b: PlacedBlock, startFrame: number, endFrame: number | undefined): PlacedBlock {
    const placed = placeBlock(b.plan, this.#clock, this.#fps, startFrame, endFrame);
    const record = b.segments.find((s) => s.asRun)?.asRun?.block;
    if (record) {
      record.startFrame = placed.asRun.startFrame;
      record.endFrame = placed.asRun.endFrame;
      record.slots = placed.asRun.slots;
      for (const s of placed.segments) if (s.asRun) s.asRun.block = record;
    } else {
      placed.asRun.owner = this;
    }
    return {
      plan: b.plan,
      startFrame: placed.startFrame,
      endFrame: placed.endFrame,
      segments: placed.segments,
    };
  }

  segmentAt(frame: number): ScheduledSegment {
    if (frame < this.#joinFrame) return idleSegment(0, "pre-join");
    for (const b of this.#blocks) {
      if (frame < b.startFrame) return idleSegment(frame, `gap@${b.startFrame}`);
      if (frame < b.endFrame) {
        for (const s of b.segments) {
          if (frame < s.startFrame + s.frameCount) return s;
        }
      }
    }
    const end = this.#blocks.at(-1)?.endFrame ?? this.#joinFrame;
    return idleSegment(Math.max(end, this.#joinFrame), `exhausted@${end}`);
  }

  nextStartFrame(frame: number): number | undefined {
    for (const b of this.#blocks) {
      const start = Math.max(b.startFrame, this.#joinFrame);
      if (start > frame && start < b.endFrame) return start;
    }
    return undefined;
  }

  /**
   * Called as each frame goes on air. A block's fence is reached when the frame after its
   * last one is released (its end time on the wall clock): BlockCompleted then, before the
   * next block's BlockStarted on that same frame.
   */
  released(frame: number): void {
    if (this.#ended || frame < this.#joinFrame) return;
    const done = this.#blocks[0];
    if (done && frame >= done.endFrame) {
      this.#blocks.shift();
      this.#blocksExecuted++;
      this.onEvent({
        kind: "block_completed",
        blockId: done.plan.blockId,
        blockStartUtcMs: done.plan.startUtcMs,
        blockEndUtcMs: done.plan.endUtcMs,
        finalCtMs: this.finalCtMs,
        blocksExecutedTotal: this.#blocksExecuted,
      });
    }
    const head = this.#blocks[0];
    if (!head) {
      this.#end("lookahead_exhausted");
      return;
    }
    if (frame < head.startFrame) return;
    this.#sessionFrames++;
    if (frame === Math.max(head.startFrame, this.#joinFrame)) {
      this.onEvent({
        kind: "block_started",
        blockId: head.plan.blockId,
        blockStartUtcMs: head.plan.startUtcMs,
        blockEndUtcMs: head.plan.endUtcMs,
      });
    }
  }

  /** Ends the session (stop or error); emits SessionEnded once. */
  stop(reason: "stopped" | "error"): void {
    this.#end(reason);
  }

  #end(reason: "lookahead_exhausted" | "stopped" | "error"): void {
    if (this.#ended) return;
    this.#ended = true;
    this.onEvent({
      kind: "session_ended",
      reason,
      finalCtMs: this.finalCtMs,
      blocksExecutedTotal: this.#blocksExecuted,
    });
  }
}

/** A file placed in segment mode: in-point and length in program frames. */
export interface SegmentPlacement {
  path: string;
  inPointSeconds: number;
  frames: number;
}

/**
 * Segment mode: a live sequence of items from a start frame, then idle; a switch replaces
 * everything from a given frame on with the preview item.
 */
export class SegmentSchedule implements Schedule {
  #segments: ScheduledSegment[] = [];
  #generation = 0;

  /** Plays `items` back to back from `fromFrame`, replacing whatever was planned from there. */
  play(items: SegmentPlacement[], fromFrame: number): void {
    this.#generation++;
    this.#segments = this.#segments.filter((s) => s.startFrame + s.frameCount <= fromFrame);
    let at = fromFrame;
    items.forEach((item, i) => {
      if (item.frames <= 0) return;
      this.#segments.push({
        ...idleSegment(at, `seg:${this.#generation}:${i}`),
        frameCount: item.frames,
        source: { kind: "file", path: item.path, inPointSeconds: item.inPointSeconds },
        segmentType: "content",
        flags: 0,
        startEvents: [{
          kind: "segment_start",
          source: item.path,
          segmentType: "content",
          frame: at,
          frameCount: item.frames,
        }],
      });
      at += item.frames;
    });
  }

  /** Cuts the live sequence at `frame` and plays `item` from there (a seamless switch). */
  switchAt(frame: number, item: SegmentPlacement): void {
    this.#segments = this.#segments
      .filter((s) => s.startFrame < frame)
      .map((s) =>
        s.startFrame + s.frameCount > frame ? { ...s, frameCount: frame - s.startFrame } : s
      );
    this.play([item], frame);
    const first = this.#segments.find((s) => s.startFrame === frame);
    first?.startEvents.push({ kind: "switched", frame });
    if (first) first.flags |= FrameFlags.SEGMENT_START;
  }

  segmentAt(frame: number): ScheduledSegment {
    let end = 0;
    for (const s of this.#segments) {
      if (frame < s.startFrame) return idleSegment(end, `seg-gap@${end}`);
      if (frame < s.startFrame + s.frameCount) return s;
      end = s.startFrame + s.frameCount;
    }
    return idleSegment(end, `seg-idle@${end}:${this.#generation}`);
  }

  nextStartFrame(frame: number): number | undefined {
    return this.#segments.find((s) => s.startFrame > frame)?.startFrame;
  }
}
