/**
 * A timer-based event-loop lag probe. prom-client's default event-loop metrics rely on
 * `perf_hooks.monitorEventLoopDelay`, which does not see blocking on Deno (a 300 ms busy loop
 * reads as a few microseconds), so the playout engine measures lag itself: a timer is armed
 * every `intervalMs` and the time it fires late is the lag.
 *
 * @module
 */

/** Options of {@link EventLoopLagProbe}. */
export interface EventLoopLagProbeOptions {
  /** Period of the probe timer, ms. Default 100. */
  intervalMs?: number;
  /** Called with each lateness sample, in seconds (>= 0). */
  onSample: (lagSeconds: number) => void;
}

/**
 * Measures how late a periodic timer fires. The timer is unref'd so the probe never keeps the
 * process alive; call {@link EventLoopLagProbe.stop} to end it.
 */
export class EventLoopLagProbe {
  readonly #intervalMs: number;
  readonly #onSample: (lagSeconds: number) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = 0;

  constructor(opts: EventLoopLagProbeOptions) {
    this.#intervalMs = opts.intervalMs ?? 100;
    if (!(this.#intervalMs > 0)) throw new RangeError(`intervalMs must be > 0: ${opts.intervalMs}`);
    this.#onSample = opts.onSample;
  }

  /** Whether the probe is running. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts probing; a no-op when already running. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#arm();
  }

  /** Stops probing. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#due = performance.now() + this.#intervalMs;
    const timer = setTimeout(this.#fire, this.#intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    const lateMs = Math.max(0, performance.now() - this.#due);
    this.#arm();
    this.#onSample(lateMs / 1000);
  };
}
