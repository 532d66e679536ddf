/**
 * Process facts and controls from the C library that Deno has no API for: the parent-death
 * signal (`prctl(PR_SET_PDEATHSIG)`), the current parent pid (`getppid`, which changes when
 * the parent dies and the process is re-parented), whether a pid exists (`kill(pid, 0)`) and
 * thread priorities (`setpriority` on a thread id) and thread names (`prctl(PR_SET_NAME)`),
 * so that one Worker's threads — its own and every FFmpeg/x264 thread it started, which inherit
 * its name and priority — can be found (`/proc/self/task/<tid>/comm`) and re-prioritised
 * together, and the calling thread's real-time scheduling (`sched_setscheduler`). Linux with
 * glibc only; elsewhere {@link processControls} throws
 * {@link ProcessControlsUnavailableError}. Loaded once, on first use.
 *
 * @module
 */

const LIBC_SYMBOLS = {
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  getppid: { parameters: [], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  gettid: { parameters: [], result: "i32" },
  prctlName: { name: "prctl", parameters: ["i32", "buffer", "u64", "u64", "u64"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
  // struct mallinfo2: ten size_t fields (glibc 2.33+).
  mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
} as const satisfies Deno.ForeignLibraryInterface;

/** `PR_SET_PDEATHSIG` from `<linux/prctl.h>`. */
const PR_SET_PDEATHSIG = 1;
/** `PR_SET_NAME` from `<linux/prctl.h>`. */
const PR_SET_NAME = 15;
/** Longest thread name the kernel keeps (`TASK_COMM_LEN` − 1), bytes. */
const THREAD_NAME_MAX = 15;
/** `PRIO_PROCESS` from `<sys/resource.h>`: with a thread id, one thread (Linux). */
const PRIO_PROCESS = 0;
/** `SCHED_RR` from `<sched.h>`. */
const SCHED_RR = 2;
/** `SCHED_RESET_ON_FORK` from `<linux/sched.h>`: threads it starts get the normal policy. */
const SCHED_RESET_ON_FORK = 0x40000000;
/** `RLIMIT_RTPRIO` from `<sys/resource.h>` (Linux). */
const RLIMIT_RTPRIO = 14;
/** `RLIM_INFINITY` (Linux, 64-bit `rlim_t`). */
const RLIM_INFINITY = 0xffffffffffffffffn;
/** `M_MMAP_THRESHOLD` from `<malloc.h>`. */
const M_MMAP_THRESHOLD = -3;
/** Largest `M_MMAP_THRESHOLD` glibc takes on 64-bit hosts (`HEAP_MAX_SIZE / 2`), bytes. */
const MAX_MMAP_THRESHOLD = 32 << 20;
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
  /**
   * Names the calling thread (1–15 ASCII characters; what `/proc/self/task/<tid>/comm`
   * shows). Threads it starts afterwards inherit the name.
   */
  setThreadName(name: string): void;
  /**
   * Puts the calling thread — or this process's thread `tid` — in the round-robin real-time
   * class (`SCHED_RR`) at `priority` (1 lowest, 99 highest), with `SCHED_RESET_ON_FORK`:
   * threads it starts afterwards (Workers,
   * the runtime's helpers) get the normal policy (and a negative nice value reset to 0). A real-time thread
   * runs as soon as it wakes, ahead of every normal thread. Needs `RLIMIT_RTPRIO` ≥ `priority`
   * (systemd's `LimitRTPRIO=`) or `CAP_SYS_NICE`; refused, it throws
   * {@link ProcessControlsUnavailableError} saying which limit refused it.
   */
  setThreadRealtime(priority: number, tid?: number): void;
  /** Ids of this process's threads named `name` now (threads come and go; a snapshot). */
  threadsNamed(name: string): number[];
  /** This process's threads now, with their names, by id (a snapshot). */
  threads(): { tid: number; name: string }[];
  /**
   * Sets the nice value of each of this process's threads in `tids`; a thread that has ended
   * meanwhile is passed over. Returns how many were set. Raising a priority back (a lower
   * nice value) needs `RLIMIT_NICE` to allow it (root, or systemd's `LimitNICE=`): refused,
   * it throws {@link ProcessControlsUnavailableError} naming the thread and errno.
   */
  setThreadsNice(tids: readonly number[], nice: number): number;
  /**
   * Serves every allocation of at least `bytes` (from 4096 to 32 MiB) from its own mapping,
   * for the whole process from now on (`mallopt(M_MMAP_THRESHOLD)`), and turns off glibc's
   * raising of that threshold each time such a mapping is freed. Left to rise, large buffers
   * (decoded pictures, a decoder's frame pools) come from the heaps, where what is freed is
   * mostly kept: each thread's heap grows to its largest moment and stays there.
   */
  setHeapMapThreshold(bytes: number): void;
  /** The C library's heap now. */
  heapStats(): HeapStats;
}

/** The C library's heap (glibc `mallinfo2`). */
export interface HeapStats {
  /** Bytes of the allocations served by their own mapping (returned when freed). */
  mappedBytes: number;
}

/** Scheduling facts of one thread of this process (`/proc/self/task/<tid>/stat`). */
export interface ThreadStat {
  /** Its nice value. */
  nice: number;
  /** CPU time it has used, user + system, seconds (kernel clock ticks: 10 ms steps). */
  cpuSeconds: number;
}

/** Kernel clock ticks per second of `/proc` times (`USER_HZ`: 100 on every Linux ABI). */
const USER_HZ = 100;

/** {@link ThreadStat} of thread `tid` of this process; undefined once it has ended. Linux. */
export function threadStat(tid: number): ThreadStat | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  return parseThreadStat(stat);
}

/** {@link ThreadStat} of the calling thread. Linux. */
export function ownThreadStat(): ThreadStat {
  return parseThreadStat(Deno.readTextFileSync("/proc/thread-self/stat"));
}

function parseThreadStat(stat: string): ThreadStat {
  // Fields after "(comm)" start at field 3 (state): utime 14, stime 15, nice 19.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { nice: Number(f[16]), cpuSeconds: (Number(f[11]) + Number(f[12])) / USER_HZ };
}

function listThreads(): { tid: number; name: string }[] {
  const out: { tid: number; name: string }[] = [];
  for (const e of Deno.readDirSync("/proc/self/task")) {
    let comm: string;
    try {
      comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue; // ended meanwhile
      throw err;
    }
    out.push({ tid: Number(e.name), name: comm.trimEnd() });
  }
  return out.sort((a, b) => a.tid - b.tid);
}

/** This process's soft `RLIMIT_RTPRIO` ("0", "unlimited"; "unknown" if it cannot be read). */
function realtimeLimit(s: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"]): string {
  const limit = new BigUint64Array(2); // struct rlimit { rlim_t rlim_cur, rlim_max; }
  if (s.getrlimit(RLIMIT_RTPRIO, limit) !== 0) return "unknown";
  return limit[0] === RLIM_INFINITY ? "unlimited" : String(limit[0]);
}

function checkNice(nice: number): void {
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) {
    throw new RangeError(`nice must be an integer from -20 to 19, got ${nice}`);
  }
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
      checkNice(nice);
      if (s.setpriority(PRIO_PROCESS, s.gettid(), nice) !== 0) {
        throw new ProcessControlsUnavailableError(
          `setpriority(thread, ${nice})`,
          `errno ${errno()}`,
        );
      }
    },
    setThreadRealtime(priority, tid = 0) {
      if (!Number.isInteger(priority) || priority < 1 || priority > 99) {
        throw new RangeError(`real-time priority must be an integer from 1 to 99, got ${priority}`);
      }
      const param = new Int32Array([priority]); // struct sched_param { int sched_priority; }
      if (!Number.isInteger(tid) || tid < 0) throw new RangeError(`bad thread id ${tid}`);
      if (s.sched_setscheduler(tid, SCHED_RR | SCHED_RESET_ON_FORK, param) !== 0) {
        const e = errno();
        throw new ProcessControlsUnavailableError(
          `sched_setscheduler(${tid === 0 ? "thread" : `thread ${tid}`}, SCHED_RR, ${priority})`,
          e === EPERM
            ? `not permitted (errno ${e}): RLIMIT_RTPRIO is ${realtimeLimit(s)} and the ` +
              "process lacks CAP_SYS_NICE"
            : `errno ${e}`,
        );
      }
    },
    setThreadName(name) {
      if (!/^[\x21-\x7e][\x20-\x7e]*$/.test(name) || name.length > THREAD_NAME_MAX) {
        throw new RangeError(
          `thread name must be 1-${THREAD_NAME_MAX} printable ASCII characters, got ${
            JSON.stringify(name)
          }`,
        );
      }
      const buf = new TextEncoder().encode(`${name}\0`);
      if (s.prctlName(PR_SET_NAME, buf, 0n, 0n, 0n) !== 0) {
        throw new ProcessControlsUnavailableError(
          `prctl(PR_SET_NAME, ${name})`,
          `errno ${errno()}`,
        );
      }
    },
    threads: listThreads,
    threadsNamed: (name) => listThreads().filter((t) => t.name === name).map((t) => t.tid),
    setThreadsNice(tids, nice) {
      checkNice(nice);
      let set = 0;
      for (const tid of tids) {
        if (s.setpriority(PRIO_PROCESS, tid, nice) === 0) {
          set++;
          continue;
        }
        const e = errno();
        if (e === ESRCH) continue;
        throw new ProcessControlsUnavailableError(
          `setpriority(thread ${tid}, ${nice})`,
          `errno ${e}`,
        );
      }
      return set;
    },
    processExists(pid) {
      if (!Number.isInteger(pid) || pid <= 0) return false;
      if (s.kill(pid, 0) === 0) return true;
      const e = errno();
      if (e === EPERM) return true;
      if (e === ESRCH) return false;
      throw new ProcessControlsUnavailableError(`kill(${pid}, 0)`, `errno ${e}`);
    },
    setHeapMapThreshold(bytes) {
      if (!Number.isInteger(bytes) || bytes < 4096 || bytes > MAX_MMAP_THRESHOLD) {
        throw new RangeError(
          `heap map threshold must be an integer from 4096 to ${MAX_MMAP_THRESHOLD}, got ${bytes}`,
        );
      }
      // mallopt returns 1 on success, 0 on error (without errno).
      if (s.mallopt(M_MMAP_THRESHOLD, bytes) !== 1) {
        throw new ProcessControlsUnavailableError(
          `mallopt(M_MMAP_THRESHOLD, ${bytes})`,
          "refused",
        );
      }
    },
    heapStats() {
      // struct mallinfo2 { arena, ordblks, smblks, hblks, hblkhd, … }: hblkhd is the 5th.
      return { mappedBytes: Number(new BigUint64Array(s.mallinfo2().buffer)[4]) };
    },
  };
}
