/**
 * Process facts and controls from the C library that Deno has no API for: the parent-death
 * signal (`prctl(PR_SET_PDEATHSIG)`), the current parent pid (`getppid`, which changes when
 * the parent dies and the process is re-parented), whether a pid exists (`kill(pid, 0)`) and
 * the calling thread's scheduling priority (`setpriority` on its thread id).
 * Linux with glibc only; elsewhere {@link processControls} throws
 * {@link ProcessControlsUnavailableError}. Loaded once, on first use.
 *
 * @module
 */

const LIBC_SYMBOLS = {
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  getppid: { parameters: [], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  gettid: { parameters: [], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** `PR_SET_PDEATHSIG` from `<linux/prctl.h>`. */
const PR_SET_PDEATHSIG = 1;
/** `PRIO_PROCESS` from `<sys/resource.h>`: with a thread id, one thread (Linux). */
const PRIO_PROCESS = 0;
/** `EPERM` / `ESRCH` from `<errno.h>` (Linux). */
const EPERM = 1;
const ESRCH = 3;

/** Signal numbers (Linux x86-64 / arm64) of the signals a parent-death signal may be. */
export const SIGNAL_NUMBERS = Object.freeze({ SIGTERM: 15, SIGUSR1: 10, SIGUSR2: 12 });

/** The C library could not be loaded (not Linux/glibc), or a call failed. */
export class ProcessControlsUnavailableError extends Error {
  override name = "ProcessControlsUnavailableError";
  constructor(readonly call: string, reason: string) {
    super(`${call}: ${reason}`);
  }
}

/** What {@link processControls} offers. */
export interface ProcessControls {
  /** Asks the kernel to send `signal` to this process when its parent (thread) exits. */
  setParentDeathSignal(signal: keyof typeof SIGNAL_NUMBERS): void;
  /** The current parent pid (1, or a subreaper's, once the original parent died). */
  parentPid(): number;
  /** Whether a process with this pid exists (also when it belongs to another user). */
  processExists(pid: number): boolean;
  /**
   * Sets the calling thread's nice value (0 normal, up to 19 lowest; lowering it needs no
   * privilege). Threads it starts afterwards (FFmpeg's, x264's) inherit it.
   */
  setThreadNice(nice: number): void;
}

let controls: ProcessControls | undefined;

/** The process controls of this thread. Throws {@link ProcessControlsUnavailableError}. */
export function processControls(): ProcessControls {
  controls ??= load();
  return controls;
}

function load(): ProcessControls {
  if (Deno.build.os !== "linux") {
    throw new ProcessControlsUnavailableError("dlopen libc", `not on Linux (${Deno.build.os})`);
  }
  let libc: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;
  try {
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  } catch (err) {
    throw new ProcessControlsUnavailableError("dlopen libc.so.6", (err as Error).message);
  }
  const s = libc.symbols;
  const errno = (): number => {
    const p = s.__errno_location();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
  };
  return {
    setParentDeathSignal(signal) {
      if (s.prctl(PR_SET_PDEATHSIG, BigInt(SIGNAL_NUMBERS[signal]), 0n, 0n, 0n) !== 0) {
        throw new ProcessControlsUnavailableError(
          `prctl(PR_SET_PDEATHSIG, ${signal})`,
          `errno ${errno()}`,
        );
      }
    },
    parentPid: () => s.getppid(),
    setThreadNice(nice) {
      if (!Number.isInteger(nice) || nice < -20 || nice > 19) {
        throw new RangeError(`nice must be an integer from -20 to 19, got ${nice}`);
      }
      if (s.setpriority(PRIO_PROCESS, s.gettid(), nice) !== 0) {
        throw new ProcessControlsUnavailableError(
          `setpriority(thread, ${nice})`,
          `errno ${errno()}`,
        );
      }
    },
    processExists(pid) {
      if (!Number.isInteger(pid) || pid <= 0) return false;
      if (s.kill(pid, 0) === 0) return true;
      const e = errno();
      if (e === EPERM) return true;
      if (e === ESRCH) return false;
      throw new ProcessControlsUnavailableError(`kill(${pid}, 0)`, `errno ${e}`);
    },
  };
}
