/**
 * Builders of engine-side block plans for tests.
 *
 * @module
 */

import type { BlockPlan, BlockSegment } from "../src/engine/plan.ts";

/** A segment of `durationMs` playing `assetUri` from `offsetMs` ("" = PAD). */
export function segment(
  i: number,
  assetUri: string,
  durationMs: number,
  offsetMs = 0,
): BlockSegment {
  return {
    segmentIndex: i,
    assetUri,
    assetStartOffsetMs: offsetMs,
    durationMs,
    type: assetUri ? "content" : "pad",
    eventId: `ev${i}`,
    transitionIn: { type: "none", durationMs: 0 },
    transitionOut: { type: "none", durationMs: 0 },
    segmentUuid: "",
    assetUuid: "",
    gainDb: 0,
  };
}

/** A block of `segments` starting at `startUtcMs`; it ends where they add up to. */
export function block(
  blockId: string,
  startUtcMs: number,
  segments: BlockSegment[],
  channelId = 1,
): BlockPlan {
  return {
    blockId,
    channelId,
    startUtcMs,
    endUtcMs: startUtcMs + segments.reduce((n, s) => n + s.durationMs, 0),
    segments,
    broadcastDate: "2026-11-24",
    broadcastDayAnchorUtcMs: 0,
  };
}
