/**
 * Messages between the main thread (ChannelManager) and a channel Worker.
 *
 * @module
 */

import type { LogEventName } from "../log/log_events.ts";
import type { ChannelSpec } from "../../media/channel_spec.ts";
import type { ChannelStats } from "../../media/channel_status.ts";
import type { ControlErrorCode } from "./control_surface.ts";
import type { AsRunEvent } from "./as_run.ts";
import type { BlockEvent } from "./plan.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import type { ChannelThreads } from "./thread_policy.ts";

/** Methods of the runner callable from the main thread. */
export type RunnerMethod =
  | "startBlockSession"
  | "feedBlock"
  | "stopBlockSession"
  | "playSegments"
  | "loadPreview"
  | "switchToLive"
  | "guide";

/** Main thread → worker. */
export type ToWorker =
  | {
    type: "init";
    /** The process-wide FFmpeg open lock and this worker's owner id in it (ffi/open_lock.ts). */
    openLock: SharedArrayBuffer;
    openLockOwner: number;
    spec: ChannelSpec;
    epochUtcMs: number;
    virtual: boolean;
    leadMs: number;
    /** FFmpeg threads this channel may use (the manager's thread policy). */
    threads: ChannelThreads;
  }
  | { type: "call"; id: number; method: RunnerMethod; args: unknown[] }
  | { type: "want_frames"; value: boolean }
  /** Starts the paced loop (after the first plan is in place, so the first frame is content). */
  | { type: "run" }
  | { type: "stop" };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "ts"; data: Uint8Array }
  | { type: "frame"; frame: ProgramFrame }
  | { type: "block_event"; event: BlockEvent }
  /** An as-run event of an evidence session (see as_run.ts). */
  | { type: "as_run"; sessionId: string; event: AsRunEvent }
  /** An evidence session's as-run record is complete. */
  | { type: "as_run_closed"; sessionId: string }
  | {
    type: "log";
    level: "info" | "warn" | "error";
    event: LogEventName;
    fields: Record<string, unknown>;
  }
  | { type: "stats"; stats: ChannelStats }
  /** The channel became degraded (repeating pictures it cannot make in time) or recovered. */
  | { type: "health"; degraded: boolean; reason: string }
  | {
    type: "reply";
    id: number;
    ok: boolean;
    value?: unknown;
    error?: { code: ControlErrorCode; message: string };
  }
  /** Whether the channel's current source has anything playable (reason when not). */
  | { type: "content"; playable: boolean; reason: string }
  /** The worker stopped: the last frame it released, after flushing encoder and muxer. */
  | { type: "stopped"; framesReleased: number; lastVideoPts90k: number | undefined }
  | { type: "fatal"; message: string };
