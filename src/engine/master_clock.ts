/**
 * The channel's master clock: maps output frame numbers to wall-clock UTC and paces release.
 * A real clock sleeps; a virtual clock jumps, so the same engine runs hours in seconds.
 *
 * @module
 */

import { msForFrames } from "../../media/program_format.ts";
import type { Rational } from "../../media/rational.ts";

/** A source of "now" that can wait. */
export interface TimeSource {
  /** Whether this source runs faster than real time (tests, soak runs). */
  readonly virtual: boolean;
  /**
   * Current time on the pacing clock, milliseconds (fractional allowed): monotonic, on the
   * UTC scale as it was when the process started. Frames are paced by it.
   */
  now(): number;
  /** Resolves once `now() >= utcMs`. */
  sleepUntil(utcMs: number): Promise<void>;
  /** UTC as the system clock says now (it may step: NTP, suspend); watched, never paced by. */
  utcNow(): number;
}

/** Wall-clock time: paced by the monotonic clock, UTC from the system clock. */
export class RealTimeSource implements TimeSource {
  readonly virtual = false;
  now(): number {
    return performance.timeOrigin + performance.now();
  }
  utcNow(): number {
    return Date.now();
  }
  sleepUntil(utcMs: number): Promise<void> {
    const wait = utcMs - this.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * Virtual time: starts at `startUtcMs` and jumps forward whenever someone sleeps. Tests move
 * it by hand too: {@link VirtualTimeSource.advance} stands for work that takes time (a slow
 * decoder), {@link VirtualTimeSource.stepUtc} for a step of the system's UTC clock.
 */
export class VirtualTimeSource implements TimeSource {
  readonly virtual = true;
  #now: number;
  #utcOffset = 0;
  constructor(startUtcMs: number) {
    this.#now = startUtcMs;
  }
  now(): number {
    return this.#now;
  }
  utcNow(): number {
    return this.#now + this.#utcOffset;
  }
  sleepUntil(utcMs: number): Promise<void> {
    if (utcMs > this.#now) this.#now = utcMs;
    return Promise.resolve();
  }
  /** Time passes by `ms` (work being done). */
  advance(ms: number): void {
    if (ms > 0) this.#now += ms;
  }
  /** The system's UTC clock steps by `ms` (positive: UTC jumps ahead); pacing is unaffected. */
  stepUtc(ms: number): void {
    this.#utcOffset += ms;
  }
}

/**
 * Maps a channel's output frame numbers to time. Frame 0 is due at `epochUtcMs` on the
 * pacing clock; frame k at `epochUtcMs + k · frame duration`, computed exactly from the
 * rational frame rate so that nothing drifts over any run length. UTC is the pacing clock
 * plus {@link MasterClock.utcOffsetMs}: 0 at start, changed only when a step of the system's
 * UTC clock is absorbed (at a block boundary), so pacing and PTS never jump.
 */
export class MasterClock {
  /** UTC minus pacing-clock time, as absorbed so far, ms. */
  utcOffsetMs = 0;

  #epochUtcMs: number;

  constructor(
    epochUtcMs: number,
    readonly frameRate: Rational,
    readonly time: TimeSource,
  ) {
    this.#epochUtcMs = epochUtcMs;
  }

  /** Pacing-clock ms at which frame 0 is due. */
  get epochUtcMs(): number {
    return this.#epochUtcMs;
  }

  /**
   * Moves frame 0 to `epochUtcMs`. Only for a channel that has neither produced a frame nor
   * placed anything on this clock yet (channels started together take the moment they run).
   */
  restartAt(epochUtcMs: number): void {
    this.#epochUtcMs = epochUtcMs;
  }

  /** Pacing-clock ms at which frame `k` is due. */
  dueUtcMs(k: number): number {
    return this.#epochUtcMs + msForFrames(k, this.frameRate);
  }

  /** UTC ms at which frame `k` goes on air. */
  utcOfFrame(k: number): number {
    return this.dueUtcMs(k) + this.utcOffsetMs;
  }

  /** The frame whose start is nearest to UTC `utcMs` (frame-exact boundary for a UTC time). */
  frameAt(utcMs: number): number {
    return Math.round(
      ((utcMs - this.utcOffsetMs - this.#epochUtcMs) * this.frameRate.num) /
        (this.frameRate.den * 1000),
    );
  }

  /** The frame that is on air at UTC `utcMs` (the last frame due at or before it). */
  frameOnAir(utcMs: number): number {
    return Math.floor(
      ((utcMs - this.utcOffsetMs - this.#epochUtcMs) * this.frameRate.num) /
        (this.frameRate.den * 1000),
    );
  }

  /** UTC minus pacing-clock time as the system clock says it now, ms. */
  observedUtcOffsetMs(): number {
    return this.time.utcNow() - this.time.now();
  }

  /** Current UTC ms of the time source. */
  now(): number {
    return this.time.now();
  }

  /** Resolves when frame `k` is due. */
  waitForFrame(k: number): Promise<void> {
    return this.time.sleepUntil(this.dueUtcMs(k));
  }
}
