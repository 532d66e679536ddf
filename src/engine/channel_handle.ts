/**
 * The main thread's handle on one channel's Worker: the only code that speaks the worker
 * protocol (`channel_protocol.ts`). It starts a worker, calls its runner with a timeout,
 * forwards its events, stops it (waiting for it to free its FFmpeg objects, terminating it
 * when it does not answer), retires a failed one, and backs off restarts.
 *
 * One handle lives as long as its channel; it holds at most one running worker at a time.
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import type { LogEventName } from "../log/log_events.ts";
import type { ChannelSpec } from "../../media/channel_spec.ts";
import type { ChannelStats } from "../../media/channel_status.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import { openLockBuffer, releaseOpenLockOf } from "../../ffi/mod.ts";
import { endSharedSourcesOf, sharedSourceBuffers } from "./producers/shared_source.ts";
import { ControlError } from "./control_surface.ts";
import type { AsRunEvent } from "./as_run.ts";
import type { BlockEvent } from "./plan.ts";
import type { ChannelThreads } from "./thread_policy.ts";
import {
  type BlockSessionState,
  type CallArgs,
  CallClient,
  type CallReply,
  type FromWorker,
  type RunnerMethod,
  type ToWorker,
} from "./channel_protocol.ts";

/** What a channel's worker tells its owner. */
export interface ChannelWorkerEvents {
  ts(data: Uint8Array): void;
  frame(frame: ProgramFrame): void;
  blockEvent(event: BlockEvent): void;
  blockSession(session: BlockSessionState | undefined): void;
  asRun(sessionId: string, event: AsRunEvent): void;
  asRunClosed(sessionId: string): void;
  log(level: "info" | "warn" | "error", event: LogEventName, fields: Record<string, unknown>): void;
  stats(stats: ChannelStats): void;
  health(degraded: boolean, reason: string): void;
  content(playable: boolean, reason: string): void;
  /**
   * The worker failed (a fatal error or a crash): its pending calls are refused and it is
   * being retired (see {@link ChannelHandle.retiring}). First line of `message` for humans.
   */
  failed(message: string): void;
}

/** How a worker is started (the manager's settings). */
export interface WorkerStart {
  spec: ChannelSpec;
  virtual: boolean;
  leadMs: number;
  threads: ChannelThreads;
  /** Cores that are this channel's fair share of the machine (cores / channels sharing it). */
  shareCores: number;
}

/** Options of a {@link ChannelHandle}. */
export interface ChannelHandleOptions {
  channelId: number;
  log: Logger;
  events: ChannelWorkerEvents;
  /** Starts a worker speaking `channel_protocol.ts` (default: `channel_worker.ts`). */
  createWorker?: () => Worker;
  /** How long a call may wait for the worker, ms (default 5000). */
  callTimeoutMs?: number;
  /** How long a stopping worker may take to free everything before it is terminated, ms. */
  stopGraceMs?: number;
  /**
   * A running worker that sends nothing this long is taken as hung (stuck in FFmpeg, e.g. a
   * read from a dead network mount) and failed, so that the channel is restarted, ms. Its
   * stats alone come every second. Default 15 000.
   */
  silenceTimeoutMs?: number;
  /** Whether the engine is shutting down (a slow worker is then waited for, not terminated). */
  closing: () => boolean;
  /** Told of every stop in progress, so that shutdown can wait for all of them. */
  trackStop: (stopped: Promise<void>) => void;
}

const WORKER_URL = new URL("./channel_worker.ts", import.meta.url);

/** FFmpeg open-lock owner ids of the workers (1 is the main thread). */
let nextLockOwner = 2;

/** A restart is tried after 1 s, 2 s, 4 s ... up to this, while the channel keeps failing. */
const MAX_RESTART_DELAY_MS = 30_000;

/** Default of {@link ChannelHandleOptions.silenceTimeoutMs}. */
const DEFAULT_SILENCE_TIMEOUT_MS = 15_000;

/** The handle on one channel's worker. */
export class ChannelHandle {
  readonly #opts: ChannelHandleOptions;
  readonly #id: number;
  readonly #log: Logger;
  /** The log under the channel's id (`channel` field). */
  readonly #channelLog: Logger;
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  #calls: CallClient | undefined;
  #retiring: Promise<void> | undefined;
  /** Workers that raised an error event (possibly dead: not waited for past the grace). */
  readonly #errored = new WeakSet<Worker>();
  readonly #lockOwners = new WeakMap<Worker, number>();
  /** Failures since the channel was last on air (backs off restarts). */
  #failuresInARow = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the running worker last sent anything (performance.now()). */
  #heardAt = 0;
  #silenceWatch: ReturnType<typeof setInterval> | undefined;

  constructor(opts: ChannelHandleOptions) {
    this.#opts = opts;
    this.#id = opts.channelId;
    this.#log = opts.log;
    this.#channelLog = opts.log.child({ channel: opts.channelId });
  }

  /** Whether a worker runs (started and neither stopped nor failed). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** A failed worker being stopped (it frees its native memory before it is terminated). */
  get retiring(): Promise<void> | undefined {
    return this.#retiring;
  }

  /** Resolves once the running worker is ready (at once without one). */
  async ready(): Promise<void> {
    await this.#ready;
  }

  /**
   * Starts a worker with `start`; resolves when it is ready, rejects with a ControlError
   * (FAILED) when it fails first (that failure is reported through `events.failed` too).
   */
  start(start: WorkerStart): Promise<void> {
    const worker = this.#opts.createWorker?.() ?? new Worker(WORKER_URL, { type: "module" });
    this.#worker = worker;
    this.#calls = new CallClient(
      `channel ${this.#id}`,
      (request) => worker.postMessage(request satisfies ToWorker),
      (method, timeoutMs) =>
        this.#log.warn("control_call_timeout", {
          channel: this.#id,
          method,
          timeout_ms: timeoutMs,
        }),
    );
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "ready") {
          resolve();
          this.#watchSilence(worker);
        }
        if (e.data.type === "fatal") reject(new ControlError("FAILED", e.data.message));
        this.#onMessage(worker, e.data);
      };
    });
    this.#ready = ready;
    worker.onerror = (e) => {
      e.preventDefault();
      this.#errored.add(worker);
      this.#fail(worker, `worker error: ${e.message}`);
    };
    const owner = nextLockOwner++;
    this.#lockOwners.set(worker, owner);
    this.#post({
      type: "init",
      openLock: openLockBuffer(),
      openLockOwner: owner,
      sharedSources: sharedSourceBuffers(),
      spec: start.spec,
      epochUtcMs: Math.round(Date.now()),
      virtual: start.virtual,
      leadMs: start.leadMs,
      threads: start.threads,
      shareCores: start.shareCores,
    });
    return ready.catch((err) => {
      throw err instanceof ControlError ? err : new ControlError("FAILED", String(err));
    });
  }

  /**
   * Calls `method` on the worker's runner; refused with NOT_READY without a worker and with
   * FAILED when it does not answer within the call timeout (plus `extraMs`, for calls that
   * answer when something lands later, e.g. a switch).
   */
  call<M extends RunnerMethod>(
    method: M,
    args: CallArgs<M>,
    extraMs = 0,
  ): Promise<CallReply<M>> {
    const calls = this.#calls;
    if (!this.#worker || !calls) {
      return Promise.reject(new ControlError("NOT_READY", `channel ${this.#id} is stopped`));
    }
    const timeoutMs = (this.#opts.callTimeoutMs ?? 5000) + Math.max(0, extraMs);
    return calls.call(method, args, timeoutMs);
  }

  /**
   * Starts the worker's paced loop; `epochUtcMs` moves a standalone channel's frame 0 there
   * (channels started together share it).
   */
  run(epochUtcMs?: number): void {
    this.#post({ type: "run", epochUtcMs });
  }

  /** Whether the worker sends program frames. */
  wantFrames(value: boolean): void {
    this.#post({ type: "want_frames", value });
  }

  /**
   * Stops the running worker, forwarding what it flushes (its last TS, block and as-run
   * events). Resolves once it answered (freed everything) or was terminated. Pending calls are
   * refused with FAILED. Without a worker, nothing happens.
   */
  async stop(): Promise<void> {
    const worker = this.#worker;
    const calls = this.#calls;
    if (!worker) return;
    this.#detach();
    this.#end(worker, await this.#awaitStopped(worker, true));
    // This worker's calls only: a successor may be running by now.
    calls?.failAll(new ControlError("FAILED", "channel stopped"));
  }

  /**
   * Forgets past failures (the channel went on air, or was reconfigured): the next failure
   * restarts after the shortest delay again.
   */
  resetBackoff(): void {
    this.#failuresInARow = 0;
  }

  /**
   * Runs `restart` after the next backoff delay (1 s, 2 s, 4 s ... up to 30 s while the channel
   * keeps failing). A restart already scheduled is replaced.
   */
  scheduleRestart(restart: (attempt: number, delayMs: number) => void): void {
    const attempt = ++this.#failuresInARow;
    const delay = Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** Math.min(5, attempt - 1));
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      restart(attempt, delay);
    }, delay);
  }

  /** Cancels a scheduled restart. */
  cancelRestart(): void {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  #post(msg: ToWorker): void {
    this.#worker?.postMessage(msg);
  }

  /** Forgets the running worker (its later messages are its last words). */
  #detach(): void {
    this.#worker = undefined;
    this.#ready = undefined;
    clearInterval(this.#silenceWatch);
    this.#silenceWatch = undefined;
  }

  /** Fails `worker` once it has been silent for the silence timeout (from its "ready" on). */
  #watchSilence(worker: Worker): void {
    if (this.#worker !== worker) return;
    const limitMs = this.#opts.silenceTimeoutMs ?? DEFAULT_SILENCE_TIMEOUT_MS;
    this.#heardAt = performance.now();
    clearInterval(this.#silenceWatch);
    this.#silenceWatch = setInterval(() => {
      const silentMs = Math.round(performance.now() - this.#heardAt);
      if (this.#worker !== worker || silentMs < limitMs) return;
      this.#log.error("channel_worker_unresponsive", {
        channel: this.#id,
        silent_ms: silentMs,
        limit_ms: limitMs,
      });
      this.#fail(
        worker,
        `worker unresponsive: nothing from it for ${silentMs} ms (stuck in FFmpeg?)`,
      );
    }, Math.max(50, Math.min(1000, limitMs / 4)));
    Deno.unrefTimer(this.#silenceWatch);
  }

  #onMessage(worker: Worker, msg: FromWorker): void {
    if (this.#worker !== worker) return; // a stopped worker's last words
    this.#heardAt = performance.now();
    const events = this.#opts.events;
    switch (msg.type) {
      case "ts":
        events.ts(msg.data);
        break;
      case "frame":
        events.frame(msg.frame);
        break;
      case "content":
        events.content(msg.playable, msg.reason);
        break;
      case "health":
        events.health(msg.degraded, msg.reason);
        break;
      case "block_event":
        events.blockEvent(msg.event);
        break;
      case "block_session":
        events.blockSession(msg.session);
        break;
      case "as_run":
        events.asRun(msg.sessionId, msg.event);
        break;
      case "as_run_closed":
        events.asRunClosed(msg.sessionId);
        break;
      case "log":
        events.log(msg.level, msg.event, msg.fields);
        break;
      case "stats":
        events.stats(msg.stats);
        break;
      case "reply":
        this.#calls?.settle(msg);
        break;
      case "fatal":
        this.#fail(worker, msg.message);
        break;
      case "ready":
      case "stopped":
        break;
    }
  }

  #fail(worker: Worker, message: string): void {
    if (this.#worker !== worker) return;
    this.#log.error("channel_failed", { channel: this.#id, reason: message });
    this.#calls?.failAll(new ControlError("FAILED", message));
    this.#detach();
    this.#retiring = this.#retire(worker);
    this.#opts.events.failed(message);
  }

  /** Stops a failed worker: it frees its channel and closes (terminated if it does not answer). */
  async #retire(worker: Worker): Promise<void> {
    this.#end(worker, await this.#awaitStopped(worker, false));
    this.#retiring = undefined;
  }

  /**
   * Ends `worker` after its stop. One that answered has freed everything and closes itself:
   * it is not terminated, so that its thread ends on its own (the process does not exit before
   * a worker that was not terminated has ended). One that did not answer is terminated (it may
   * be stuck, or dead), and the FFmpeg open lock is freed if it died holding it (terminate()
   * runs no `finally`): the other channels' next open would otherwise wait forever.
   */
  #end(worker: Worker, answered: boolean): void {
    if (!answered) worker.terminate();
    const owner = this.#lockOwners.get(worker);
    if (owner !== undefined && releaseOpenLockOf(owner)) {
      this.#log.warn("ffmpeg_open_lock_released", { owner });
    }
    // A worker ended without closing its producers: its followers decode themselves at once.
    if (owner !== undefined) endSharedSourcesOf(owner);
  }

  /**
   * Posts stop; resolves true on "stopped" (the worker freed everything and closes itself),
   * false when the worker died or, outside shutdown, did not answer within the grace. While the
   * engine shuts down a slow worker is waited for (the stop deadline of main.ts bounds it):
   * terminating it could end the process with the worker inside FFmpeg. Forwards the last TS,
   * block and as-run events when `flush`.
   */
  #awaitStopped(worker: Worker, flush: boolean): Promise<boolean> {
    const grace = this.#opts.stopGraceMs ?? 2000;
    const events = this.#opts.events;
    const stopped = new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (answered: boolean) => {
        clearTimeout(timer);
        worker.removeEventListener("message", onMessage);
        resolve(answered);
      };
      const onGrace = () => {
        // A worker that raised an error may be dead: it would never answer.
        const wait = this.#opts.closing() && !this.#errored.has(worker);
        this.#log.warn("channel_stop_timeout", {
          channel: this.#id,
          grace_ms: grace,
          action: wait ? "waiting (shutdown)" : "terminating",
        });
        if (wait) timer = undefined;
        else done(false);
      };
      timer = setTimeout(onGrace, grace);
      const onMessage = (e: MessageEvent<FromWorker>) => {
        const msg = e.data;
        if (flush) {
          if (msg.type === "ts") events.ts(msg.data);
          if (msg.type === "block_session") events.blockSession(msg.session);
          if (msg.type === "block_event") events.blockEvent(msg.event);
          if (msg.type === "as_run") events.asRun(msg.sessionId, msg.event);
          if (msg.type === "as_run_closed") events.asRunClosed(msg.sessionId);
        }
        if (msg.type === "stopped") {
          if (flush) {
            this.#channelLog.info("channel_flushed", {
              frames_released: msg.framesReleased,
              last_video_pts_90k: msg.lastVideoPts90k ?? null,
            });
          }
          done(true);
        }
      };
      worker.addEventListener("message", onMessage);
    });
    try {
      worker.postMessage({ type: "stop" } satisfies ToWorker);
    } catch (err) {
      // A worker that is already gone cannot take messages: nothing is left to free.
      this.#log.warn("channel_stop_post_failed", { channel: this.#id, reason: String(err) });
    }
    this.#opts.trackStop(stopped.then(() => {}));
    return stopped;
  }
}
