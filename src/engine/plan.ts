/**
 * Playout plans as the engine sees them (camelCase, validated). The gRPC layer converts the
 * wire messages into these types; the engine never sees protobuf objects.
 *
 * @module
 */

/** Role of a segment in a block. PAD is black + silence; FILLER is content of role filler. */
export type SegmentType = "content" | "filler" | "pad";

/** A transition at a segment edge. */
export interface Transition {
  type: "none" | "fade";
  durationMs: number;
}

/** One segment of a block. */
export interface BlockSegment {
  segmentIndex: number;
  /** Asset path or file: URI; empty for PAD. */
  assetUri: string;
  /** In-point into the asset, ms. */
  assetStartOffsetMs: number;
  /** Duration on the output timeline, ms. */
  durationMs: number;
  type: SegmentType;
  eventId: string;
  transitionIn: Transition;
  transitionOut: Transition;
  segmentUuid: string;
  assetUuid: string;
  /** Audio gain in dB (0 = unity). */
  gainDb: number;
}

/** A block: contiguous segments filling `startUtcMs..endUtcMs` exactly. */
export interface BlockPlan {
  blockId: string;
  channelId: number;
  startUtcMs: number;
  endUtcMs: number;
  segments: BlockSegment[];
  broadcastDate: string;
  broadcastDayAnchorUtcMs: number;
}

/** Events of a block-plan session, in the order they happen. */
export type BlockEvent =
  | { kind: "block_started"; blockId: string; blockStartUtcMs: number; blockEndUtcMs: number }
  | {
    kind: "block_completed";
    blockId: string;
    blockStartUtcMs: number;
    blockEndUtcMs: number;
    finalCtMs: number;
    blocksExecutedTotal: number;
  }
  | {
    kind: "session_ended";
    reason: "lookahead_exhausted" | "stopped" | "error";
    finalCtMs: number;
    blocksExecutedTotal: number;
  };

/** A segment-mode item: an asset with an in-point and length in frames. */
export interface SegmentItem {
  assetPath: string;
  /** In-point as a source frame index (at `fps`), or 0. */
  startFrame: number;
  /** Number of frames to play, or -1 for "to end of file". */
  frameCount: number;
  /** Frame rate that `startFrame`/`frameCount` are counted in. */
  fps: { num: number; den: number };
}
