/**
 * One process-wide lock around FFmpeg's open calls (`avformat_open_input` +
 * `avformat_find_stream_info`, `avcodec_open2`), held by whichever thread opens: RetroVue Air,
 * the C++ engine this one replaces, crashed (SIGSEGV) when several channels opened codecs at
 * once, so channel workers never run these calls concurrently.
 *
 * The lock is an `Int32Array` over a `SharedArrayBuffer`. Each thread starts with a lock of its
 * own; the thread that creates workers hands {@link openLockBuffer} to each of them, and each
 * worker calls {@link shareOpenLock} with it (and an owner id unique to that worker) before its
 * first FFmpeg call. A worker terminated while it held the lock (`Worker.terminate()` does not
 * run `finally` blocks) leaves it held: its creator calls {@link releaseOpenLockOf} with the
 * worker's owner id after terminating it.
 *
 * The wait is bounded: a holder that keeps the lock past {@link OPEN_LOCK_WAIT_LIMIT_MS} is
 * taken as stuck in I/O (opening a file on a dead mount, a FIFO nobody writes), and the waiter
 * opens without the lock (counted in {@link openLockStats} as `bypassed`) instead of stalling
 * every channel's opens behind one hung file.
 *
 * @module
 */

import { FfmpegArgumentError, FfmpegClosedError } from "./errors.ts";

const FREE = 0;
/** Owner id of a thread that has not called {@link shareOpenLock} (e.g. the main thread). */
const CREATOR = 1;

/** Slots of the shared ring of retired owners (cells 2..), after the lock (0) and ring index (1). */
const RETIRED_SLOTS = 64;
const LOCK_BYTES = 4 * (2 + RETIRED_SLOTS);

let cell = new Int32Array(new SharedArrayBuffer(LOCK_BYTES));
let owner = CREATOR;
let depth = 0;
let acquisitions = 0;
let contended = 0;
let bypassed = 0;

/** Longest wait for the lock before opening without it, ms. */
export const OPEN_LOCK_WAIT_LIMIT_MS = 2_000;
let waitLimitMs = OPEN_LOCK_WAIT_LIMIT_MS;

/** Sets this thread's wait limit (tests; default {@link OPEN_LOCK_WAIT_LIMIT_MS}). */
export function setOpenLockWaitLimit(ms: number): void {
  if (!(ms >= 0)) throw new FfmpegArgumentError("open lock wait limit must be >= 0 ms", ms);
  waitLimitMs = ms;
}

/** The lock this thread uses, to hand to the workers it creates. */
export function openLockBuffer(): SharedArrayBuffer {
  return cell.buffer as SharedArrayBuffer;
}

/**
 * Makes this thread use the lock in `buffer` (from its creator's {@link openLockBuffer}) as
 * owner `ownerId` (an integer ≥ 2, unique among the threads sharing it). Call before any FFmpeg
 * call of this thread.
 */
export function shareOpenLock(buffer: SharedArrayBuffer, ownerId: number): void {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < LOCK_BYTES) {
    throw new FfmpegArgumentError(
      `open lock must be a SharedArrayBuffer of ${LOCK_BYTES} bytes`,
      buffer,
    );
  }
  if (!Number.isInteger(ownerId) || ownerId < 2 || ownerId > 0x7fffffff) {
    throw new FfmpegArgumentError("open lock owner must be an integer >= 2", ownerId);
  }
  if (depth > 0) throw new FfmpegArgumentError("open lock is held by this thread", ownerId);
  cell = new Int32Array(buffer, 0, 2 + RETIRED_SLOTS);
  owner = ownerId;
}

/**
 * Retires owner `ownerId` (a terminated worker) and frees the lock when it holds it; true when
 * it did. Another thread may take it at once. A retired owner never takes the lock again: a
 * terminated worker's thread that was stuck in FFmpeg may still run on once its call returns,
 * and must not hold every channel's opens behind its next one.
 */
export function releaseOpenLockOf(ownerId: number): boolean {
  const slot = Atomics.add(cell, 1, 1) % RETIRED_SLOTS;
  Atomics.store(cell, 2 + slot, ownerId);
  if (Atomics.compareExchange(cell, 0, ownerId, FREE) !== ownerId) return false;
  Atomics.notify(cell, 0, 1);
  return true;
}

/** Runs `fn` holding the process-wide open lock (re-entrant within one thread). */
export function withOpenLock<T>(fn: () => T): T {
  if (depth > 0) {
    depth++;
    try {
      return fn();
    } finally {
      depth--;
    }
  }
  if (owner !== CREATOR && retired(owner)) {
    throw new FfmpegClosedError(`FFmpeg open lock of owner ${owner} (a retired worker)`);
  }
  let seen = Atomics.compareExchange(cell, 0, FREE, owner);
  if (seen !== FREE) {
    contended++;
    const deadline = performance.now() + waitLimitMs;
    while (seen !== FREE) {
      const left = deadline - performance.now();
      if (left <= 0) break; // the holder is stuck: open without the lock
      // Wakes on release; the timeout only bounds a missed notify.
      Atomics.wait(cell, 0, seen, Math.min(1000, left));
      seen = Atomics.compareExchange(cell, 0, FREE, owner);
    }
  }
  const held = seen === FREE;
  if (held) acquisitions++;
  else bypassed++;
  depth = 1;
  try {
    return fn();
  } finally {
    depth = 0;
    // Not ours any more only when a creator released it for us (we were presumed dead).
    if (held && Atomics.compareExchange(cell, 0, owner, FREE) === owner) {
      Atomics.notify(cell, 0, 1);
    }
  }
}

function retired(id: number): boolean {
  for (let i = 0; i < RETIRED_SLOTS; i++) if (Atomics.load(cell, 2 + i) === id) return true;
  return false;
}

/**
 * This thread's lock use so far: acquisitions, how many of them had to wait, and opens that
 * went ahead without the lock because its holder kept it past the wait limit.
 */
export function openLockStats(): { acquisitions: number; contended: number; bypassed: number } {
  return { acquisitions, contended, bypassed };
}
