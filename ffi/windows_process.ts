/**
 * Whether another process has exited, on Windows, through kernel32 (Deno has no API for it):
 * a handle opened with `SYNCHRONIZE` (`OpenProcess`) and tested without waiting
 * (`WaitForSingleObject(handle, 0)`). Holding the handle keeps the process object, so a pid
 * reused by a new process cannot be mistaken for the old one.
 *
 * @module
 */

const KERNEL32_SYMBOLS = {
  OpenProcess: { parameters: ["u32", "i32", "u32"], result: "pointer" },
  WaitForSingleObject: { parameters: ["pointer", "u32"], result: "u32" },
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  GetLastError: { parameters: [], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** `SYNCHRONIZE` access right (winnt.h). */
const SYNCHRONIZE = 0x00100000;
/** `WaitForSingleObject` results (winbase.h). */
const WAIT_OBJECT_0 = 0;
const WAIT_TIMEOUT = 0x102;

/** kernel32 could not be loaded (not Windows) or a call failed; names the call. */
export class WindowsProcessError extends Error {
  override name = "WindowsProcessError";
  constructor(readonly call: string, reason: string) {
    super(`${call}: ${reason}`);
  }
}

/** An open handle on one process. */
export interface WatchedProcess {
  /** The process id. */
  readonly pid: number;
  /** True once the process has exited. */
  exited(): boolean;
  /** Closes the handle. Idempotent. */
  close(): void;
}

let kernel32: Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS>["symbols"] | undefined;

function symbols(): Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS>["symbols"] {
  if (kernel32 !== undefined) return kernel32;
  if (Deno.build.os !== "windows") {
    throw new WindowsProcessError("dlopen kernel32.dll", `not on Windows (${Deno.build.os})`);
  }
  try {
    kernel32 = Deno.dlopen("kernel32.dll", KERNEL32_SYMBOLS).symbols;
  } catch (err) {
    throw new WindowsProcessError("dlopen kernel32.dll", (err as Error).message);
  }
  return kernel32;
}

/** Opens process `pid` for {@link WatchedProcess.exited}. Throws {@link WindowsProcessError}. */
export function watchProcess(pid: number): WatchedProcess {
  const k = symbols();
  const handle = k.OpenProcess(SYNCHRONIZE, 0, pid);
  if (handle === null) {
    throw new WindowsProcessError(`OpenProcess(${pid})`, `error ${k.GetLastError()}`);
  }
  let open: Deno.PointerValue = handle;
  return {
    pid,
    exited() {
      if (open === null) return true;
      const r = k.WaitForSingleObject(open, 0);
      if (r === WAIT_OBJECT_0) return true;
      if (r === WAIT_TIMEOUT) return false;
      throw new WindowsProcessError(`WaitForSingleObject(${pid})`, `result ${r}`);
    },
    close() {
      if (open === null) return;
      k.CloseHandle(open);
      open = null;
    },
  };
}
