/**
 * The main thread — gRPC control, HTTP viewers (the TS fan-out), metrics and the channel
 * workers' messages — runs in the round-robin real-time class at priority
 * {@link CONTROL_THREAD_PRIORITY} where the host allows it, so that it runs the moment it
 * wakes instead of waiting for a channel thread's time slice to end. Channels use every free
 * cycle of a full machine (that is the point of running many); measured on a 2-core box at
 * the engine's channel limit, a normal-priority main thread waited 2–7 ms for a CPU at many
 * wake-ups, whatever its nice value or slice (bench/README.md, "GetVersion at the engine's
 * limit"). The main thread's own work is small (a few hundredths of a core), so it cannot take
 * the machine from the channels; the kernel's real-time throttling bounds it anyway.
 *
 * Threads the main thread starts afterwards (channel Workers and the runtime's helpers) do not
 * inherit the class (`SCHED_RESET_ON_FORK`): channel threads stay normal, at nice 4
 * (`engine/channel_priority.ts`). V8's platform threads ({@link V8_PLATFORM_THREAD}, started
 * by the runtime before any of our code) join the class too: the main isolate's garbage
 * collector hands them its parallel scavenging and concurrent marking, and at the normal
 * priority they waited 13–58 ms for a CPU on a full box (perf sched) while the main thread
 * waited for them or did their share itself. Every isolate's GC runs there, the channels'
 * too; that is work the channels need done anyway, and little of it (measured at 15
 * channels: the main thread's CPU fell from 0.135 to 0.093 cores, GetVersion's p99 with it). Allowed with `RLIMIT_RTPRIO` ≥ 1 (the systemd unit sets
 * `LimitRTPRIO=1`) or `CAP_SYS_NICE` (root); refused (an unprivileged shell, a container)
 * or off Linux, the engine runs on at the normal priority and says why in one
 * `control_thread_priority` log line.
 *
 * @module
 */

import { type ProcessControls, processControls } from "../ffi/process.ts";
import type { Logger } from "./log/log.ts";

/** Real-time priority of the main thread: the lowest, above every normal thread. */
export const CONTROL_THREAD_PRIORITY = 1;

/**
 * Name of V8's platform worker threads (garbage collection, compilation) as the kernel shows
 * it: "V8 DefaultWorker" cut to the 15 characters of a thread name.
 */
export const V8_PLATFORM_THREAD = "V8 DefaultWorke";

/**
 * Raises the calling (main) thread and V8's platform threads to real time where allowed; logs
 * the outcome. Call before any channel Worker starts.
 */
export function raiseControlThread(log: Logger): void {
  let controls: ProcessControls;
  try {
    controls = processControls();
    controls.setThreadRealtime(CONTROL_THREAD_PRIORITY);
  } catch (err) {
    log.info("control_thread_priority", { policy: "normal", reason: (err as Error).message });
    return;
  }
  let gcThreads = 0;
  let gcReason: string | undefined;
  for (const tid of controls.threadsNamed(V8_PLATFORM_THREAD)) {
    try {
      controls.setThreadRealtime(CONTROL_THREAD_PRIORITY, tid);
      gcThreads++;
    } catch (err) {
      gcReason ??= (err as Error).message; // ended meanwhile, or refused: it stays normal
    }
  }
  log.info("control_thread_priority", {
    policy: "SCHED_RR",
    priority: CONTROL_THREAD_PRIORITY,
    gc_threads: gcThreads,
    ...(gcReason === undefined ? {} : { gc_threads_reason: gcReason }),
  });
}
