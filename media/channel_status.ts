/**
 * What the outside world may read of a channel: its state, its counters, its attached stream.
 * Shared by the engine (which fills them in), metrics, health and the control API.
 *
 * @module
 */

import type { ProgramFormat } from "./program_format.ts";

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
  /**
   * Pictures made (and given to frame sinks) that never reached the TS: those inside the old
   * x264 when the channel's encoder stepped down, and those held back when it stepped up
   * again. The TS shows the picture before in their place.
   */
  tsPicturesLost: number;
  /**
   * Output frames whose picture and audio were copied from another channel's decode of the
   * same file (shared sources), not decoded by this channel.
   */
  framesShared: number;
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
