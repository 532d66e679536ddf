/**
 * The protocol between the main thread and a channel Worker, typed end to end.
 *
 * - {@link RunnerCalls}: the calls the main thread makes on the worker's runner, one signature
 *   per method. `ChannelRunner` implements it, the worker answers through {@link dispatchCall},
 *   and the main side sends through {@link CallClient}: the type checker follows a call from
 *   its caller across the thread to the runner method and back.
 * - {@link ToWorker} / {@link FromWorker}: every message, as posted.
 * - {@link WireControlError}: the one shape a refusal takes on its way back
 *   ({@link toWireError} in the worker, {@link fromWireError} on the main side).
 *
 * @module
 */

import type { LogEventName } from "../log/log_events.ts";
import type { ChannelSpec } from "../../media/channel_spec.ts";
import type { ChannelStats } from "../../media/channel_status.ts";
import {
  ControlError,
  type ControlErrorCode,
  type PreviewResult,
  type SwitchResult,
} from "./control_surface.ts";
import type { AsRunEvent } from "./as_run.ts";
import type { BlockEvent, BlockPlan, SegmentItem } from "./plan.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import type { ChannelThreads } from "./thread_policy.ts";
import type { GuideSlot } from "./guide.ts";
import type { SharedSourceBuffers } from "./producers/shared_source.ts";

/** Options of a block session as the runner takes them. */
export interface BlockSessionOptions {
  /** As-run evidence of the session goes out under this id (none without). */
  sessionId?: string;
  /** Most blocks queued at once (including the one on air); below 2 means 2. */
  maxQueueDepth?: number;
}

/** What the runner reports of its block session whenever its queue changes. */
export interface BlockSessionState {
  /** Blocks queued or on air, in order. */
  blocks: BlockPlan[];
  /** The session's queue bound. */
  maxQueueDepth: number;
}

/**
 * The runner's methods callable from the main thread: per method, its arguments and its reply
 * as they cross the thread (structured-clone values). A method refuses by throwing a
 * {@link ControlError}.
 */
export interface RunnerCallTypes {
  /** Starts a block session (ALREADY_ACTIVE while one runs). */
  startBlockSession: {
    args: [blocks: BlockPlan[], joinUtcMs: number, session?: BlockSessionOptions];
    reply: void;
  };
  /** Queues the next block (NO_SESSION, QUEUE_FULL, NOT_CONTIGUOUS). */
  feedBlock: { args: [block: BlockPlan]; reply: void };
  /** Ends the block session (nothing to end: zeros). */
  stopBlockSession: { args: []; reply: { finalCtMs: number; blocksExecuted: number } };
  /** Segment mode: plays items from the next free frame. */
  playSegments: { args: [items: SegmentItem[], requirePlayable: boolean]; reply: void };
  /** Segment mode: loads and shadow-decodes the preview (REJECTED_BUSY while a switch is armed). */
  loadPreview: { args: [item: SegmentItem]; reply: PreviewResult };
  /** Segment mode: answers when the switch landed (PROTOCOL_VIOLATION without a preview). */
  switchToLive: { args: [targetUtcMs: number]; reply: SwitchResult };
  /** What the schedule in force plays between two UTC times. */
  guide: { args: [fromUtcMs: number, toUtcMs: number]; reply: GuideSlot[] };
}

/** A method name of {@link RunnerCallTypes}. */
export type RunnerMethod = keyof RunnerCallTypes;
/** The arguments of `M`. */
export type CallArgs<M extends RunnerMethod> = RunnerCallTypes[M]["args"];
/** What `M` answers. */
export type CallReply<M extends RunnerMethod> = RunnerCallTypes[M]["reply"];

/** What answers the calls: `ChannelRunner` implements it. */
export type RunnerCalls = {
  [M in RunnerMethod]: (...args: CallArgs<M>) => CallReply<M> | Promise<CallReply<M>>;
};

/** A call as posted: method and arguments paired, one variant per method. */
export type CallRequest = {
  [M in RunnerMethod]: { type: "call"; id: number; method: M; args: CallArgs<M> };
}[RunnerMethod];

/** A refused call, as it crosses the thread. */
export interface WireControlError {
  code: ControlErrorCode;
  message: string;
}

/** The answer to a {@link CallRequest}, matched by `id`. */
export type CallResult =
  | { type: "reply"; id: number; ok: true; value: CallReply<RunnerMethod> }
  | { type: "reply"; id: number; ok: false; error: WireControlError };

/** Main thread → worker. */
export type ToWorker =
  | {
    type: "init";
    /** The process-wide FFmpeg open lock and this worker's owner id in it (ffi/open_lock.ts). */
    openLock: SharedArrayBuffer;
    openLockOwner: number;
    /** The process's shared sources (producers/shared_source.ts); same owner id. */
    sharedSources: SharedSourceBuffers;
    spec: ChannelSpec;
    epochUtcMs: number;
    virtual: boolean;
    leadMs: number;
    /** FFmpeg threads this channel may use (the manager's thread policy). */
    threads: ChannelThreads;
    /** Cores that are this channel's fair share of the machine (cores / channels sharing it). */
    shareCores: number;
  }
  | CallRequest
  | { type: "want_frames"; value: boolean }
  /**
   * Starts the paced loop (after the first plan is in place, so the first frame is content);
   * `epochUtcMs`: frame 0's due time, for standalone channels started together.
   */
  | { type: "run"; epochUtcMs?: number }
  | { type: "stop" };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "ts"; data: Uint8Array }
  | { type: "frame"; frame: ProgramFrame }
  | { type: "block_event"; event: BlockEvent }
  /** The block session's queue changed (sent before the block event that changed it). */
  | { type: "block_session"; session: BlockSessionState | undefined }
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
  | CallResult
  /** Whether the channel's current source has anything playable (reason when not). */
  | { type: "content"; playable: boolean; reason: string }
  /** The worker stopped: the last frame it released, after flushing encoder and muxer. */
  | { type: "stopped"; framesReleased: number; lastVideoPts90k: number | undefined }
  | { type: "fatal"; message: string };

/** The wire shape of a failure: a ControlError keeps its code, anything else is FAILED. */
export function toWireError(err: unknown): WireControlError {
  return {
    code: err instanceof ControlError ? err.code : "FAILED",
    message: err instanceof Error ? err.message : String(err),
  };
}

/** The ControlError a refusal from the worker stands for. */
export function fromWireError(error: WireControlError): ControlError {
  return new ControlError(error.code, error.message);
}

/**
 * Runs one call on `target` (the worker's runner). Refusals come back as a rejected promise;
 * the worker turns them into {@link WireControlError}.
 */
export async function dispatchCall<M extends RunnerMethod>(
  target: RunnerCalls,
  method: M,
  args: CallArgs<M>,
): Promise<CallReply<M>> {
  const fn: RunnerCalls[M] = target[method];
  return await fn.apply(target, args);
}

/** A pending call of a {@link CallClient}. */
interface Pending {
  settle: (result: CallResult) => void;
  fail: (error: ControlError) => void;
}

/**
 * The main side of the calls to one worker: posts {@link CallRequest}s and matches the
 * {@link CallResult}s to them. A call not answered within its timeout is refused with FAILED.
 */
export class CallClient {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #post: (request: CallRequest) => void;
  readonly #onTimeout: (method: RunnerMethod, timeoutMs: number) => void;
  readonly #name: string;

  /**
   * @param name names the channel in refusals ("channel 3").
   * @param post sends a request to the worker.
   * @param onTimeout told of each call that timed out (for logs).
   */
  constructor(
    name: string,
    post: (request: CallRequest) => void,
    onTimeout: (method: RunnerMethod, timeoutMs: number) => void,
  ) {
    this.#name = name;
    this.#post = post;
    this.#onTimeout = onTimeout;
  }

  /** Calls `method` on the worker's runner; resolves with its reply. */
  call<M extends RunnerMethod>(
    method: M,
    args: CallArgs<M>,
    timeoutMs: number,
  ): Promise<CallReply<M>> {
    const id = this.#nextId++;
    return new Promise<CallReply<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return;
        this.#onTimeout(method, timeoutMs);
        reject(
          new ControlError(
            "FAILED",
            `${this.#name} did not answer ${method} within ${timeoutMs} ms`,
            method,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, {
        settle: (result) => {
          clearTimeout(timer);
          // The worker answered request `id`, which was a call of `M`: its value is M's reply.
          if (result.ok) resolve(result.value as CallReply<M>);
          else reject(fromWireError(result.error));
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      // A CallRequest for `M`: the mapped union cannot see that `method` and `args` pair up.
      this.#post({ type: "call", id, method, args } as CallRequest);
    });
  }

  /** Takes a reply from the worker (unknown ids, e.g. of timed-out calls, are ignored). */
  settle(result: CallResult): void {
    const p = this.#pending.get(result.id);
    if (!p) return;
    this.#pending.delete(result.id);
    p.settle(result);
  }

  /** Refuses every pending call with `error` (the worker is gone). */
  failAll(error: ControlError): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.fail(error);
  }
}
