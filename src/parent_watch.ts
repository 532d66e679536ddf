/**
 * Parent watch of an engine that RetroVue Core spawned (`--port`): when the spawning process
 * dies without stopping the engine, the engine must not run on as an orphan holding its
 * ports. Two mechanisms, because either alone has a hole:
 *
 * - `prctl(PR_SET_PDEATHSIG, SIGUSR2)`: the kernel signals at once when the parent exits. It
 *   fires when the parent *thread* exits, too (Core may spawn from a worker thread), so the
 *   signal only triggers a check of the parent pid.
 * - A poll of `getppid()` (every {@link PARENT_POLL_MS}): catches a parent that died before the
 *   signal was armed, and anything the signal misses.
 *
 * Not applied under systemd (`INVOCATION_ID` set) or when the parent is pid 1 / 0 at start
 * (init, a container's entry point): there the engine is a service, not a child.
 *
 * Windows has neither the signal nor re-parenting: there the watch is a poll of a handle on
 * the parent process (`parent_poll.ts`).
 *
 * @module
 */

import { processControls, ProcessControlsUnavailableError } from "../ffi/process.ts";
import type { Logger } from "./log/log.ts";
import { pollParent, windowsParentProbe } from "./parent_poll.ts";

/** How often the parent pid is checked, ms. */
export const PARENT_POLL_MS = 1000;

/** What ended the parent watch. */
export interface ParentExit {
  /** The parent pid at start. */
  parentPid: number;
  /** The parent pid now (1 or a subreaper's; 0 on Windows, which does not re-parent). */
  newParentPid: number;
  /** How it was noticed. */
  noticedBy: "signal" | "poll";
}

/** A running parent watch. */
export interface ParentWatch {
  /** Stops watching (engine shutting down). */
  stop(): void;
}

/**
 * Starts watching the parent; calls `onParentExit` once when it is gone. Returns undefined
 * (and logs why) where the watch does not apply or is unavailable.
 */
export function watchParent(
  log: Logger,
  onParentExit: (exit: ParentExit) => void,
  os: typeof Deno.build.os = Deno.build.os,
): ParentWatch | undefined {
  if (os === "windows") {
    return pollParent(
      log,
      windowsParentProbe,
      (parentPid) => onParentExit({ parentPid, newParentPid: 0, noticedBy: "poll" }),
      PARENT_POLL_MS,
    );
  }
  if (Deno.env.get("INVOCATION_ID") !== undefined) {
    log.info("parent_watch_skipped", { reason: "running as a systemd service" });
    return undefined;
  }
  let controls;
  try {
    controls = processControls();
  } catch (err) {
    if (!(err instanceof ProcessControlsUnavailableError)) throw err;
    log.warn("parent_watch_unavailable", { reason: err.message });
    return undefined;
  }
  const parentPid = controls.parentPid();
  if (parentPid <= 1) {
    log.info("parent_watch_skipped", {
      reason: `parent pid is ${parentPid} (init or a container entry point)`,
    });
    return undefined;
  }

  let done = false;
  const check = (noticedBy: ParentExit["noticedBy"]) => {
    if (done) return;
    const now = controls.parentPid();
    if (now === parentPid) {
      if (noticedBy === "signal") {
        log.info("parent_death_signal_ignored", {
          parent_pid: parentPid,
          reason: "the spawning thread exited; the parent process lives",
        });
      }
      return;
    }
    watch.stop();
    log.warn("parent_exited", {
      parent_pid: parentPid,
      new_parent_pid: now,
      noticed_by: noticedBy,
    });
    onParentExit({ parentPid, newParentPid: now, noticedBy });
  };
  const onSignal = () => check("signal");
  // The listener first: an unhandled SIGUSR2 would terminate the process.
  Deno.addSignalListener("SIGUSR2", onSignal);
  const timer = setInterval(() => check("poll"), PARENT_POLL_MS);
  Deno.unrefTimer(timer);
  const watch: ParentWatch = {
    stop() {
      if (done) return;
      done = true;
      clearInterval(timer);
      Deno.removeSignalListener("SIGUSR2", onSignal);
    },
  };
  try {
    controls.setParentDeathSignal("SIGUSR2");
  } catch (err) {
    if (!(err instanceof ProcessControlsUnavailableError)) throw err;
    log.warn("parent_death_signal_unavailable", { reason: err.message, fallback: "poll" });
  }
  log.info("parent_watch_started", { parent_pid: parentPid, poll_ms: PARENT_POLL_MS });
  // The parent may have died before the signal was armed.
  check("poll");
  return watch;
}
