/**
 * A stand-in channel worker for tests/evidence_terminated_test.ts: the real worker
 * (src/engine/channel_worker.ts, unchanged), whose channel fails once the session's first
 * SegmentStart has been posted. `?fail=output`: the next TS the runner hands out throws (as a
 * failing native output would), so the runner's loop rejects and the real worker reports
 * `fatal`. `?fail=crash`: the worker raises an uncaught error (the Worker's `error` event).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import "../../src/engine/channel_worker.ts";
import type { FromWorker } from "../../src/engine/channel_protocol.ts";

const mode = new URL(import.meta.url).searchParams.get("fail");
if (mode !== "output" && mode !== "crash") throw new Error(`fail=${mode}: output or crash`);

const post = self.postMessage.bind(self);
let armed = false;
self.postMessage = ((msg: FromWorker, transfer: Transferable[] = []) => {
  if (msg.type === "as_run" && msg.event.kind === "segment_start") armed = true;
  if (armed && msg.type === "ts") {
    armed = false;
    if (mode === "output") throw new Error("stand-in: the channel's TS output failed");
    setTimeout(() => {
      throw new Error("stand-in: the channel worker crashed");
    });
  }
  post(msg, transfer);
}) as typeof self.postMessage;
