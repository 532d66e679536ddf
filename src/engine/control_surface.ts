/**
 * The engine's control surface: what the gRPC server, HTTP egress, metrics and health see of
 * the channels. `ChannelManager` (channel_manager.ts) implements it; nothing else in `src/`
 * reaches into channel internals.
 *
 * @module
 */

import type { ProgramFormat } from "./program_format.ts";
import type { TsFanout } from "../outputs/ts_fanout.ts";
import type { BlockEvent, BlockPlan, SegmentItem } from "./plan.ts";

/**
 * Channel states as operators know them (metric values 0..4). `degraded`: on air, but it
 * cannot make every picture in time and repeats some (see the state reason).
 */
export type ChannelState = "stopped" | "buffering" | "ready" | "error" | "degraded";

/** Numeric value of a state for `retrovue_playout_channel_state`. */
export const CHANNEL_STATE_VALUE: Readonly<Record<ChannelState, number>> = Object.freeze({
  stopped: 0,
  buffering: 1,
  ready: 2,
  error: 3,
  degraded: 4,
});

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

/** Transport of an attached stream (Core's socket). */
export type StreamTransport = "unix" | "tcp";

/** Counters and gauges of one channel, refreshed about once a second. */
export interface ChannelStats {
  framesOut: number;
  framesDecoded: number;
  framesDropped: number;
  framesDuplicated: number;
  fallbackFrames: number;
  padFrames: number;
  bufferDepthFrames: number;
  bufferUnderruns: number;
  decodeFailures: number;
  /**
   * Seconds of decode work per frame since the previous stats refresh (for the histogram).
   * Each refresh is a new array; metrics never count the same batch twice.
   */
  decodeLatencySamples: number[];
  /** Largest gap between two frame releases in the last interval, seconds. */
  frameGapSeconds: number;
  /** How far the output is behind the wall clock (positive) or ahead (negative), seconds. */
  lagSeconds: number;
  encodeFps: number;
  tsBytesOut: number;
  assetTransitions: number;
  planUpdates: number;
  restarts: number;
  segmentBoundaryErrorMs: number;
  tsSelfCheckCcErrors: number;
  tsSelfCheckPcrErrors: number;
  /** Frames that repeated the picture on air because its own was not made in time. */
  framesRepeated: number;
  /** Frames released more than one frame duration after their due time. */
  framesLate: number;
  /** Frames per new picture now (1 = every frame; more while the channel sheds work). */
  pictureDecimation: number;
  /** Reconnects of the attached stream (Core's socket), over the channel's life. */
  attachReconnects?: number;
  /** The Renderer frame sink's counters, when the channel has one. */
  frameSink?: { framesSent: number; framesDropped: number; readers: number };
}

/** What the outside world may read of a channel. */
export interface ChannelInfo {
  id: number;
  name: string;
  state: ChannelState;
  stateReason: string;
  format: ProgramFormat;
  startedAtMs: number | undefined;
  /**
   * What drives the channel: "block" exactly while a block-plan session is active, "segment"
   * once StartChannel started it (until StopChannel), "standalone" for a configured source,
   * "idle" otherwise.
   */
  mode: "standalone" | "segment" | "block" | "idle";
  /**
   * Meant to be on air: configured with something to play (not `type = "none"`), or started
   * by StartChannel / StartBlockPlanSession and not stopped since. Health counts only these.
   */
  meantOnAir: boolean;
  /** Set exactly while a stream is attached (AttachStream until DetachStream). */
  attached: { transport: StreamTransport; endpoint: string } | undefined;
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
  startChannel(id: number, planHandle: string, format: ProgramFormat | undefined): Promise<void>;
  updatePlan(id: number, planHandle: string): Promise<void>;
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

  // Egress
  /** The channel's TS fan-out (GOP cache + viewers), or undefined for an unknown channel. */
  fanout(id: number): TsFanout | undefined;
  /** Latest stats of a channel. */
  stats(id: number): ChannelStats | undefined;
}
