/**
 * The engine's control surface: what the gRPC server, HTTP egress, metrics and health see of
 * the channels. `ChannelManager` (channel_manager.ts) implements it; nothing else in `src/`
 * reaches into channel internals. A channel's outputs (its TS fan-out for HTTP egress) are not
 * part of it: `main` makes them (see channel_outputs.ts) and hands them to whoever serves them.
 *
 * @module
 */

import type { ChannelInfo, ChannelStats, StreamTransport } from "../../media/channel_status.ts";
import type { ProgramFormat } from "../../media/program_format.ts";
import type { BlockEvent, BlockPlan, SegmentItem } from "./plan.ts";

/** Why a control call was refused. Maps 1:1 onto the wire's result codes. */
export type ControlErrorCode =
  | "NOT_READY"
  | "REJECTED_BUSY"
  | "PROTOCOL_VIOLATION"
  | "FAILED"
  | "INVALID_BLOCK"
  | "NOT_CONTIGUOUS"
  | "QUEUE_FULL"
  | "NO_SESSION"
  | "ALREADY_ACTIVE"
  | "STREAM_NOT_ATTACHED"
  | "NOT_FOUND";

/** A refused control call: the code, a message naming the offending field or value. */
export class ControlError extends Error {
  override name = "ControlError";
  constructor(readonly code: ControlErrorCode, message: string, readonly value?: unknown) {
    super(message);
  }
}

/** Result of LoadPreview: whether the preview's first frame was really decoded ahead. */
export interface PreviewResult {
  shadowDecodeStarted: boolean;
  /** Why not, when it was not ("" otherwise). */
  reason: string;
}

/** Result of a segment-mode switch. */
export interface SwitchResult {
  ptsContiguous: boolean;
  livePts90k: number;
  completionUtcMs: number;
}

/**
 * The engine's control surface. All methods throw {@link ControlError} for refusals the
 * wire reports as typed result codes.
 */
export interface ControlSurface {
  /** Channels known to the engine (configured or started by gRPC). */
  list(): ChannelInfo[];
  /** One channel, or undefined. */
  get(id: number): ChannelInfo | undefined;
  /**
   * Resolves once channel `id` may take control calls: at once, or when the restore of its
   * stored plan (which holds it at startup) is done. Absent = never held.
   */
  settled?(id: number): Promise<void>;

  // Segment mode
  /**
   * Starts channel `id` playing `planHandle`. `items`: the handle as the caller already read it
   * (so the plan file is read once per call); read here when absent (e.g. a plan restore).
   */
  startChannel(
    id: number,
    planHandle: string,
    format: ProgramFormat | undefined,
    items?: SegmentItem[],
  ): Promise<void>;
  /** Replaces the plan of a started channel (`items` as for {@link startChannel}). */
  updatePlan(id: number, planHandle: string, items?: SegmentItem[]): Promise<void>;
  stopChannel(id: number): Promise<void>;
  /** Loads the preview slot and decodes its first frame ahead (shadow decode). */
  loadPreview(id: number, item: SegmentItem): Promise<PreviewResult>;
  /** Resolves once the switch happened at `targetUtcMs` (0 = as soon as possible). */
  switchToLive(id: number, targetUtcMs: number): Promise<SwitchResult>;

  // Attached stream (Core's socket)
  attachStream(
    id: number,
    transport: StreamTransport,
    endpoint: string,
    replaceExisting: boolean,
  ): Promise<void>;
  detachStream(id: number, force: boolean): Promise<void>;

  // Block mode
  startBlockSession(
    id: number,
    blocks: BlockPlan[],
    joinUtcMs: number,
    format: ProgramFormat | undefined,
    maxQueueDepth: number,
    /** As-run evidence for the session (empty endpoint = none). */
    evidence?: { endpoint: string; channelIdStr: string },
  ): Promise<void>;
  feedBlock(id: number, block: BlockPlan): Promise<void>;
  /** Stops the session; returns final content time and blocks executed. */
  stopBlockSession(
    id: number,
    reason: string,
  ): Promise<{ finalCtMs: number; blocksExecuted: number }>;
  /** Subscribes to block events; returns an unsubscribe function. Throws NOT_FOUND when no session. */
  subscribeBlockEvents(id: number, listener: (event: BlockEvent) => void): () => void;

  /** Latest stats of a channel. */
  stats(id: number): ChannelStats | undefined;
}
