/**
 * Worker entry of one channel: owns the ChannelRunner (and so every FFmpeg object of the
 * channel) and talks to the main thread with messages only.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { ChannelRunner } from "./channel_runner.ts";
import {
  type CallRequest,
  dispatchCall,
  type FromWorker,
  toWireError,
  type ToWorker,
} from "./channel_protocol.ts";
import { ControlError } from "./control_surface.ts";
import { RealTimeSource, VirtualTimeSource } from "./master_clock.ts";
import { setFfmpegLogLevel, shareOpenLock } from "../../ffi/mod.ts";
import { ChannelPriority } from "./channel_priority.ts";
import { useSharedSources } from "./producers/shared_source.ts";
import { TsBatch } from "./_ts_batch.ts";

/** FFmpeg's own log lines would break the JSON log stream; errors reach us as typed errors. */
const AV_LOG_QUIET = -8;

let runner: ChannelRunner | undefined;
let statsTimer: ReturnType<typeof setInterval> | undefined;
let failed = false;

/**
 * TS goes to the main thread three frames at a time (100 ms at most): a third of the messages
 * (at 30 fps, 10 a second instead of 30 per channel), each a wake-up and garbage there.
 */
const tsBatch = new TsBatch(
  (data) =>
    self.postMessage({ type: "ts", data } satisfies FromWorker, [data.buffer as ArrayBuffer]),
  3,
  100,
  (err) => fail(err),
);

/** Posts one message; TS held for batching goes first, so the main thread sees the worker's order. */
function post(msg: FromWorker, transfer: Transferable[] = []): void {
  tsBatch.flush();
  self.postMessage(msg, transfer);
}

function init(msg: Extract<ToWorker, { type: "init" }>): void {
  shareOpenLock(msg.openLock, msg.openLockOwner);
  useSharedSources(msg.sharedSources, msg.openLockOwner);
  setFfmpegLogLevel(AV_LOG_QUIET);
  // Before FFmpeg starts threads: they inherit the name and priority (channel_priority.ts).
  const priority = new ChannelPriority(
    msg.spec.id,
    (level, event, fields) => post({ type: "log", level, event, fields }),
    { shareCores: msg.shareCores },
  );
  const time = msg.virtual ? new VirtualTimeSource(msg.epochUtcMs) : new RealTimeSource();
  runner = new ChannelRunner(
    {
      spec: msg.spec,
      time,
      epochUtcMs: msg.epochUtcMs,
      leadMs: msg.leadMs,
      threads: msg.threads,
    },
    {
      ts: (data) => tsBatch.push(data),
      frame: (frame) =>
        post({ type: "frame", frame }, [
          frame.video.buffer as ArrayBuffer,
          frame.audio.buffer as ArrayBuffer,
        ]),
      blockEvent: (event) => post({ type: "block_event", event }),
      asRun: (sessionId, event) => post({ type: "as_run", sessionId, event }),
      asRunClosed: (sessionId) => post({ type: "as_run_closed", sessionId }),
      log: (level, event, fields) => post({ type: "log", level, event, fields }),
      content: (playable, reason) => post({ type: "content", playable, reason }),
      health: (h) => post({ type: "health", degraded: h.degraded, reason: h.reason }),
      blockSession: (session) => post({ type: "block_session", session }),
    },
  );
  statsTimer = setInterval(() => {
    const stats = runner!.stats();
    try {
      post({ type: "stats", stats }); // posts held TS first: the channel's output
    } catch (err) {
      fail(err);
      return;
    }
    const { num, den } = runner!.format.frameRate;
    priority.observe({
      degraded: runner!.health.degraded,
      pictures: stats.framesOut - stats.framesRepeated,
      frameRate: num / den,
    });
  }, 1000);
  post({ type: "ready" });
}

function run(epochUtcMs: number | undefined): void {
  runner?.run(epochUtcMs).catch(fail);
}

/**
 * The channel failed (its run loop or its output threw): frees every FFmpeg object of the
 * channel before the main thread terminates the worker, and reports `fatal`. Open as-run
 * records stay open: the main thread ends them with ChannelTerminated.
 */
function fail(err: unknown): void {
  if (failed) return;
  failed = true;
  clearInterval(statsTimer);
  try {
    runner?.stop({ failed: true });
  } catch (stopErr) {
    self.postMessage(
      {
        type: "log",
        level: "error",
        event: "channel_stop_failed",
        fields: { reason: stopErr instanceof Error ? stopErr.message : String(stopErr) },
      } satisfies FromWorker,
    );
  }
  // Not through post(): TS still held is the failed output's, and sending it could throw again.
  self.postMessage(
    {
      type: "fatal",
      message: err instanceof Error ? err.stack ?? err.message : String(err),
    } satisfies FromWorker,
  );
}

async function call(msg: CallRequest): Promise<void> {
  try {
    if (!runner) throw new ControlError("NOT_READY", "channel is not running");
    const value = await dispatchCall(runner, msg.method, msg.args);
    post({ type: "reply", id: msg.id, ok: true, value });
  } catch (err) {
    post({ type: "reply", id: msg.id, ok: false, error: toWireError(err) });
  }
}

/**
 * Frees every FFmpeg object of the channel, answers "stopped" and closes the worker — also
 * when freeing failed (reported first): the main thread waits for this answer before the
 * process may end, and ends a worker that answered by letting it close itself.
 */
function stop(): void {
  clearInterval(statsTimer);
  let result: { framesReleased: number; lastVideoPts90k: number | undefined } = {
    framesReleased: 0,
    lastVideoPts90k: undefined,
  };
  try {
    if (runner) result = runner.stop();
  } catch (err) {
    post({
      type: "log",
      level: "error",
      event: "channel_stop_failed",
      fields: { reason: err instanceof Error ? err.message : String(err) },
    });
  }
  post({ type: "stopped", ...result });
  self.close();
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  try {
    switch (msg.type) {
      case "init":
        init(msg);
        break;
      case "call":
        void call(msg);
        break;
      case "run":
        run(msg.epochUtcMs);
        break;
      case "want_frames":
        if (runner) runner.wantFrames = msg.value;
        break;
      case "stop":
        stop();
        break;
    }
  } catch (err) {
    post({ type: "fatal", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
};
