/**
 * The as-run record of one block-plan session, made from the channel's own output: the tracker
 * is shown every frame as it goes on air (in order) and derives from those frames alone when
 * blocks and segments started and ended, how many frames each really emitted and how each
 * ended. It only builds small objects; sending and spooling happen elsewhere (main thread).
 *
 * Rules (see docs/evidence.md):
 * - BlockStart when a block's first frame airs; BlockFence when the first frame after it airs
 *   (its fence, or the first non-session frame after a stop), `final` on the session's last.
 * - SegmentStart when a segment's first frame airs; one SegmentEnd per plan segment of every
 *   block that aired: AIRED, TRUNCATED (FENCE_TERMINATION when the fence left it at least a
 *   frame short of its scheduled duration, SESSION_STOPPED when a stop cut it), SKIPPED (never
 *   aired: JOIN_IN_PROGRESS before a mid-block join, ZERO_DURATION when it rounds to no frame,
 *   FENCE_TERMINATION when the fence came first, SESSION_STOPPED) or ERROR (its asset could not
 *   be opened: ASSET_MISSING, DECODE_ERROR; its slot aired as stand-in frames, no SegmentStart).
 * - Times are the output clock's due times of frames; durations are frames × frame duration.
 *
 * @module
 */

import type { FrameOrigin } from "./channel_timeline.ts";
import type { MasterClock } from "./master_clock.ts";
import type { BlockSegment } from "./plan.ts";
import { framesForMs } from "../../media/program_format.ts";
import type { Rational } from "../../media/rational.ts";
import { FrameFlags } from "../../media/program_frame.ts";
import type { AsRunBlock } from "./schedule.ts";

/** How a segment ended. */
export type SegmentStatus = "AIRED" | "SKIPPED" | "TRUNCATED" | "ERROR";

/** An as-run event (engine vocabulary; the evidence layer turns it into the wire message). */
export type AsRunEvent =
  | {
    kind: "block_start";
    emittedUtcMs: number;
    blockId: string;
    swapTick: number;
    fenceTick: number;
    actualStartUtcMs: number;
    primedSuccess: boolean;
  }
  | {
    kind: "segment_start";
    emittedUtcMs: number;
    blockId: string;
    eventId: string;
    segmentIndex: number;
    actualStartUtcMs: number;
    assetStartFrame: number;
    scheduledDurationMs: number;
    /** Set only on the session's first segment. */
    joinInProgress?: boolean;
    segmentTypeName: string;
    assetUri: string;
    segmentTitle: string;
    segmentUuid: string;
    assetUuid: string;
  }
  | {
    kind: "segment_end";
    emittedUtcMs: number;
    blockId: string;
    eventIdRef: string;
    actualStartUtcMs: number;
    actualEndUtcMs: number;
    assetStartFrame: number;
    assetEndFrame: number;
    computedDurationMs: number;
    computedDurationFrames: number;
    status: SegmentStatus;
    reason: string;
    fallbackFramesUsed: number;
    segmentUuid: string;
    segmentTypeName: string;
    assetUuid: string;
  }
  | {
    kind: "block_fence";
    emittedUtcMs: number;
    blockId: string;
    swapTick: number;
    fenceTick: number;
    actualEndUtcMs: number;
    ctAtFenceMs: number;
    totalFramesEmitted: number;
    truncatedByFence: boolean;
    earlyExhaustion: boolean;
    primedSuccess: boolean;
    /** The session's last event: nothing follows. */
    final: boolean;
  };

/** A released frame as the tracker needs it. */
export interface AiredFrame {
  frameNumber: number;
  flags: number;
  origin: FrameOrigin;
}

interface OpenSegment {
  index: number;
  firstFrame: number;
  assetStartFrame: number;
  frames: number;
  fallback: number;
  /** The last frame was a stand-in because the source ran out (not a failed open). */
  exhaustedTail: boolean;
  failure: FrameOrigin["failure"];
}

interface OpenBlock {
  block: AsRunBlock;
  swapTick: number;
  primed: boolean;
  frames: number;
  /** Plan segments with index < this have had their SegmentEnd. */
  resolved: number;
  truncated: boolean;
  segment: OpenSegment | undefined;
  /** Whether the last segment with frames ended on stand-in frames after its source ran out. */
  exhaustedTail: boolean;
}

/** Builds the as-run events of one session from the frames that air. */
export class AsRunTracker {
  readonly #owner: object;
  readonly #clock: MasterClock;
  readonly #fps: Rational;
  readonly #frameMs: number;
  readonly #emit: (event: AsRunEvent) => void;
  #block: OpenBlock | undefined;
  #started = false;
  #finished = false;
  #sessionFrames = 0;
  /** Frames from this one on are not the session's (set when the session is stopped). */
  #endFrame: number | undefined;

  /**
   * @param owner the session's schedule (blocks fed to it carry it as their owner)
   * @param emit receives each event, in order; must not block
   */
  constructor(owner: object, clock: MasterClock, fps: Rational, emit: (e: AsRunEvent) => void) {
    this.#owner = owner;
    this.#clock = clock;
    this.#fps = fps;
    this.#frameMs = (1000 * fps.den) / fps.num;
    this.#emit = emit;
  }

  /** Whether the session's record is complete (nothing more will be emitted). */
  get finished(): boolean {
    return this.#finished;
  }

  /** The session was stopped; frames from `frame` on are no longer the session's. */
  stopAt(frame: number): void {
    this.#endFrame ??= frame;
  }

  /** Shows the tracker the next frame on air. */
  aired(f: AiredFrame): void {
    if (this.#finished) return;
    const slot = f.origin.segment.asRun;
    const ours = slot !== undefined && slot.block.owner === this.#owner &&
      (this.#endFrame === undefined || f.frameNumber < this.#endFrame);
    const k = f.frameNumber;
    const open = this.#block;
    if (open && (!ours || slot!.block !== open.block)) {
      this.#closeBlock(open, k, !ours);
      if (!ours) return;
    }
    if (!ours) {
      if (this.#endFrame !== undefined && k >= this.#endFrame) this.finish(k);
      return;
    }
    let block = this.#block;
    if (!block) {
      block = this.#openBlock(slot.block, k, f.origin);
    }
    let seg = block.segment;
    if (seg && seg.index !== slot.index) {
      this.#closeSegment(block, seg, k);
      seg = undefined;
    }
    if (!seg) seg = this.#openSegment(block, slot.index, k, f.origin);
    seg.frames++;
    block.frames++;
    this.#sessionFrames++;
    const standIn = (f.flags & FrameFlags.FALLBACK) !== 0;
    if (standIn) seg.fallback++;
    seg.exhaustedTail = standIn && seg.failure === undefined &&
      block.block.plan.segments[slot.index].type !== "pad";
  }

  /**
   * Ends the record at output frame `frame` (the first frame that will not air for the
   * session, e.g. when the channel stops): open segments and the block end there.
   */
  finish(frame: number): void {
    if (this.#finished) return;
    if (this.#block) this.#closeBlock(this.#block, frame, true);
    this.#finished = true;
  }

  #openBlock(block: AsRunBlock, k: number, origin: FrameOrigin): OpenBlock {
    const due = this.#clock.dueUtcMs(k);
    const primed = origin.producedUtcMs <= due && origin.failure === undefined;
    const open: OpenBlock = {
      block,
      swapTick: k,
      primed,
      frames: 0,
      resolved: 0,
      truncated: false,
      segment: undefined,
      exhaustedTail: false,
    };
    this.#block = open;
    this.#emit({
      kind: "block_start",
      emittedUtcMs: due,
      blockId: block.plan.blockId,
      swapTick: k,
      fenceTick: block.endFrame,
      actualStartUtcMs: due,
      primedSuccess: primed,
    });
    return open;
  }

  #openSegment(block: OpenBlock, index: number, k: number, origin: FrameOrigin): OpenSegment {
    const joined = !this.#started;
    const joinedMidBlock = joined && k > block.block.startFrame;
    // Plan segments before this one that never aired.
    while (block.resolved < index) {
      const i = block.resolved;
      const reason = joinedMidBlock && block.block.slots[i].startFrame < k
        ? "JOIN_IN_PROGRESS"
        : this.#whyEmpty(block.block, i);
      this.#skip(block, i, k, reason);
    }
    const plan = block.block.plan.segments[index];
    const slot = block.block.slots[index];
    const seg: OpenSegment = {
      index,
      firstFrame: k,
      assetStartFrame: this.#assetFrame(plan) + (k - slot.startFrame),
      frames: 0,
      fallback: 0,
      exhaustedTail: false,
      failure: origin.failure,
    };
    block.segment = seg;
    this.#started = true;
    if (seg.failure) return seg; // its asset never aired: no SegmentStart
    const due = this.#clock.dueUtcMs(k);
    this.#emit({
      kind: "segment_start",
      emittedUtcMs: due,
      blockId: block.block.plan.blockId,
      eventId: plan.eventId,
      segmentIndex: plan.segmentIndex,
      actualStartUtcMs: due,
      assetStartFrame: seg.assetStartFrame,
      scheduledDurationMs: plan.durationMs,
      ...(joined ? { joinInProgress: joinedMidBlock } : {}),
      segmentTypeName: plan.type,
      assetUri: isPad(plan) ? "" : plan.assetUri,
      segmentTitle: origin.title ?? "",
      segmentUuid: plan.segmentUuid,
      assetUuid: plan.assetUuid,
    });
    return seg;
  }

  /** Ends the open segment: `k` is the first frame that is not the segment's. */
  #closeSegment(block: OpenBlock, seg: OpenSegment, k: number): void {
    const plan = block.block.plan.segments[seg.index];
    const slot = block.block.slots[seg.index];
    let status: SegmentStatus = "AIRED";
    let reason = "";
    // Scheduled time the segment still had when it left the air (from its planned first frame,
    // so a mid-segment join does not count as a cut).
    const leftMs = plan.durationMs - (k - slot.startFrame) * this.#frameMs;
    if (seg.failure) {
      status = "ERROR";
      reason = seg.failure.missing ? "ASSET_MISSING" : "DECODE_ERROR";
    } else if (k < block.block.endFrame && k < slot.startFrame + slot.frameCount) {
      status = "TRUNCATED";
      reason = "SESSION_STOPPED";
    } else if (k >= block.block.endFrame && leftMs >= this.#frameMs - 1e-6) {
      // The fence came while the segment had at least a whole frame of its duration left.
      status = "TRUNCATED";
      reason = "FENCE_TERMINATION";
    }
    if (status === "TRUNCATED") block.truncated = true;
    block.exhaustedTail = seg.exhaustedTail;
    const start = this.#clock.dueUtcMs(seg.firstFrame);
    const end = this.#clock.dueUtcMs(k);
    this.#emit({
      kind: "segment_end",
      emittedUtcMs: end,
      blockId: block.block.plan.blockId,
      eventIdRef: plan.eventId,
      actualStartUtcMs: start,
      actualEndUtcMs: end,
      assetStartFrame: seg.assetStartFrame,
      // The last source frame that really aired (stand-ins show none).
      assetEndFrame: seg.assetStartFrame + Math.max(0, seg.frames - seg.fallback - 1),
      computedDurationMs: end - start,
      computedDurationFrames: seg.frames,
      status,
      reason,
      fallbackFramesUsed: seg.fallback,
      segmentUuid: plan.segmentUuid,
      segmentTypeName: plan.type,
      assetUuid: plan.assetUuid,
    });
    block.resolved = seg.index + 1;
    block.segment = undefined;
  }

  #skip(block: OpenBlock, index: number, k: number, reason: string): void {
    const plan = block.block.plan.segments[index];
    const at = this.#clock.dueUtcMs(k);
    const assetFrame = this.#assetFrame(plan);
    if (reason === "FENCE_TERMINATION" || reason === "SESSION_STOPPED") block.truncated = true;
    this.#emit({
      kind: "segment_end",
      emittedUtcMs: at,
      blockId: block.block.plan.blockId,
      eventIdRef: plan.eventId,
      actualStartUtcMs: at,
      actualEndUtcMs: at,
      assetStartFrame: assetFrame,
      assetEndFrame: assetFrame,
      computedDurationMs: 0,
      computedDurationFrames: 0,
      status: "SKIPPED",
      reason,
      fallbackFramesUsed: 0,
      segmentUuid: plan.segmentUuid,
      segmentTypeName: plan.type,
      assetUuid: plan.assetUuid,
    });
    block.resolved = index + 1;
  }

  /** Ends the open block at frame `k` (its fence, or the first frame after a stop). */
  #closeBlock(block: OpenBlock, k: number, final: boolean): void {
    if (block.segment) this.#closeSegment(block, block.segment, k);
    const atFence = k >= block.block.endFrame;
    while (block.resolved < block.block.plan.segments.length) {
      const i = block.resolved;
      this.#skip(block, i, k, atFence ? this.#whyEmpty(block.block, i) : "SESSION_STOPPED");
    }
    const end = this.#clock.dueUtcMs(k);
    this.#emit({
      kind: "block_fence",
      emittedUtcMs: end,
      blockId: block.block.plan.blockId,
      swapTick: block.swapTick,
      fenceTick: k,
      actualEndUtcMs: end,
      ctAtFenceMs: Math.round((this.#sessionFrames * 1000 * this.#fps.den) / this.#fps.num),
      totalFramesEmitted: block.frames,
      truncatedByFence: block.truncated,
      earlyExhaustion: block.exhaustedTail,
      primedSuccess: block.primed,
      final,
    });
    this.#block = undefined;
    if (final) this.#finished = true;
  }

  /** Why a plan segment got no frames at all. */
  #whyEmpty(block: AsRunBlock, index: number): string {
    return framesForMs(block.plan.segments[index].durationMs, this.#fps) === 0
      ? "ZERO_DURATION"
      : "FENCE_TERMINATION";
  }

  /** The segment's in-point as a frame index at the program rate (0 for pad). */
  #assetFrame(plan: BlockSegment): number {
    if (isPad(plan)) return 0;
    return framesForMs(plan.assetStartOffsetMs, this.#fps);
  }
}

function isPad(s: BlockSegment): boolean {
  return s.type === "pad" || s.assetUri === "";
}
