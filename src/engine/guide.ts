/**
 * What a channel's schedule says it will play: the exact segments between two wall-clock
 * times, read from the same {@link Schedule} the timeline plays (nothing is re-derived), for
 * the programme guide.
 *
 * @module
 */

import type { MasterClock } from "./master_clock.ts";
import type { Schedule, ScheduledSegment } from "./schedule.ts";

/** One stretch of a channel's output timeline. */
export interface GuideSlot {
  /** UTC ms of the slot's first frame. */
  startUtcMs: number;
  /** UTC ms just after its last frame (the next slot's start). */
  endUtcMs: number;
  /** What plays: a file, black (pad/idle) or the test pattern. */
  kind: "file" | "pad" | "test_pattern";
  /** The file (kind `file`). */
  path?: string;
  /** The file's own `title` tag, when it has one. */
  title?: string;
  /** The segment's role (block and segment modes) or `standalone` / `idle`. */
  segmentType: ScheduledSegment["segmentType"];
  /** The block (block mode). */
  blockId?: string;
}

/** Upper bound of slots one call returns (a pathological plan of one-frame segments). */
export const MAX_GUIDE_SLOTS = 20_000;

/**
 * The slots of `schedule` that cover `[fromUtcMs, toUtcMs)`, in order and contiguous; the
 * first may start before `fromUtcMs`, the last may end after `toUtcMs`. Open-ended segments
 * (test pattern, idle black) end at `toUtcMs` unless the schedule knows what follows them
 * ({@link Schedule.nextStartFrame}). `titleOf` names a file (its `title` tag, or undefined).
 */
export function scheduleSlots(
  schedule: Schedule,
  clock: MasterClock,
  fromUtcMs: number,
  toUtcMs: number,
  titleOf: (path: string) => string | undefined,
): GuideSlot[] {
  const slots: GuideSlot[] = [];
  let frame = Math.max(0, clock.frameOnAir(fromUtcMs));
  const lastFrame = clock.frameOnAir(toUtcMs);
  while (frame <= lastFrame && slots.length < MAX_GUIDE_SLOTS) {
    const seg = schedule.segmentAt(frame);
    let end = seg.startFrame + seg.frameCount;
    if (!Number.isFinite(end)) end = schedule.nextStartFrame?.(frame) ?? lastFrame + 1;
    if (end <= frame) end = frame + 1; // a schedule that does not advance: step past it
    const start = Math.max(seg.startFrame, slots.length === 0 ? seg.startFrame : frame);
    const slot: GuideSlot = {
      startUtcMs: clock.dueUtcMs(start),
      endUtcMs: clock.dueUtcMs(end),
      kind: seg.source.kind === "file" ? "file" : seg.source.kind,
      segmentType: seg.segmentType,
    };
    if (seg.source.kind === "file") {
      slot.path = seg.source.path;
      const title = titleOf(seg.source.path);
      if (title !== undefined) slot.title = title;
    }
    if (seg.blockId !== undefined) slot.blockId = seg.blockId;
    slots.push(slot);
    frame = end;
  }
  return slots;
}
