/**
 * The channel's master clock: maps output frame numbers to wall-clock UTC and paces release.
 * A real clock sleeps; a virtual clock jumps, so the same engine runs hours in seconds.
 *
 * @module
 */

import { msForFrames, type Rational } from "./program_format.ts";

/** A source of "now" that can wait. */
export interface TimeSource {
  /** Whether this source runs faster than real time (tests, soak runs). */
  readonly virtual: boolean;
  /** Current UTC time, milliseconds (fractional allowed). */
  now(): number;
  /** Resolves once `now() >= utcMs`. */
  sleepUntil(utcMs: number): Promise<void>;
}

/** Wall-clock time. */
export class RealTimeSource implements TimeSource {
  readonly virtual = false;
  now(): number {
    return performance.timeOrigin + performance.now();
  }
  sleepUntil(utcMs: number): Promise<void> {
    const wait = utcMs - this.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Virtual time: starts at `startUtcMs` and jumps forward whenever someone sleeps. */
export class VirtualTimeSource implements TimeSource {
  readonly virtual = true;
  #now: number;
  constructor(startUtcMs: number) {
    this.#now = startUtcMs;
  }
  now(): number {
    return this.#now;
  }
  sleepUntil(utcMs: number): Promise<void> {
    if (utcMs > this.#now) this.#now = utcMs;
    return Promise.resolve();
  }
}

/**
 * Maps a channel's output frame numbers to UTC. Frame 0 is due at `epochUtcMs`; frame k at
 * `epochUtcMs + k · frame duration`, computed exactly from the rational frame rate so that
 * nothing drifts over any run length.
 */
export class MasterClock {
  constructor(
    readonly epochUtcMs: number,
    readonly frameRate: Rational,
    readonly time: TimeSource,
  ) {}

  /** UTC ms at which frame `k` is due. */
  dueUtcMs(k: number): number {
    return this.epochUtcMs + msForFrames(k, this.frameRate);
  }

  /** The frame whose start is nearest to `utcMs` (frame-exact boundary for a wall-clock time). */
  frameAt(utcMs: number): number {
    return Math.round(
      ((utcMs - this.epochUtcMs) * this.frameRate.num) / (this.frameRate.den * 1000),
    );
  }

  /** The frame that is on air at `utcMs` (the last frame due at or before it). */
  frameOnAir(utcMs: number): number {
    return Math.floor(
      ((utcMs - this.epochUtcMs) * this.frameRate.num) / (this.frameRate.den * 1000),
    );
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
