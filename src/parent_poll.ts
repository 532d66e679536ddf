/**
 * Parent watch by polling, for engines RetroVue Core spawned on Windows (`--port`; the seam is
 * `parent_watch.ts`): there is no parent-death signal and no re-parenting, so the engine
 * holds a handle on its parent process and checks it periodically; once the parent has exited
 * the engine stops as on Ctrl+C. The check itself is injected ({@link ParentProbe}), so the
 * poll runs under test on any OS; {@link windowsParentProbe} is the real one.
 *
 * @module
 */

import { watchProcess, WindowsProcessError } from "../ffi/windows_process.ts";
import type { Logger } from "./log/log.ts";

/** Whether the parent process is still there. */
export interface ParentProbe {
  /** The parent's pid. */
  readonly pid: number;
  /** True once it has exited. */
  exited(): boolean;
  /** Releases what the probe holds. */
  close(): void;
}

/** A running poll. */
export interface ParentPoll {
  /** Stops polling (engine shutting down). Idempotent. */
  stop(): void;
}

/** The Windows probe of the parent process (`Deno.ppid`, through kernel32). */
export function windowsParentProbe(): ParentProbe {
  return watchProcess(Deno.ppid);
}

/**
 * Checks `probe` at once and then every `intervalMs`; calls `onExit` once when the parent is
 * gone. Returns undefined (and logs why) when no probe can be had.
 */
export function pollParent(
  log: Logger,
  openProbe: () => ParentProbe,
  onExit: (parentPid: number) => void,
  intervalMs: number,
): ParentPoll | undefined {
  let probe: ParentProbe;
  try {
    probe = openProbe();
  } catch (err) {
    if (!(err instanceof WindowsProcessError)) throw err;
    log.warn("parent_watch_unavailable", { reason: err.message });
    return undefined;
  }
  let done = false;
  const poll: ParentPoll = {
    stop() {
      if (done) return;
      done = true;
      clearInterval(timer);
      probe.close();
    },
  };
  const check = () => {
    if (done || !probe.exited()) return;
    poll.stop();
    log.warn("parent_exited", { parent_pid: probe.pid, noticed_by: "poll" });
    onExit(probe.pid);
  };
  const timer = setInterval(check, intervalMs);
  Deno.unrefTimer(timer);
  log.info("parent_watch_started", { parent_pid: probe.pid, poll_ms: intervalMs });
  check();
  return poll;
}
