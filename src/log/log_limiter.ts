/**
 * Rate limiting for structured logs, so a broken file or a reconnecting client cannot flood
 * the journal. {@link RateLimitedLog} wraps a {@link Logger}: each key (event name + channel)
 * may log `limit` events per window; further events in that window are counted, not written,
 * and when the window ends one summary event is written:
 *
 * ```json
 * {"event":"log_suppressed","suppressed_event":"asset_error","channel":3,"suppressed":118,
 *  "window_ms":10000}
 * ```
 *
 * (`suppressed_event` rather than `event`: the logger's own `event` field names the record.)
 *
 * @module
 */

import { LOG_LEVELS, type LogFields, type Logger, type LogLevel } from "./log.ts";
import { LOG_EVENTS, type LogEventName } from "./log_events.ts";

/** Options of {@link RateLimitedLog}. */
export interface RateLimitOptions {
  /** Events allowed per key per window. Default 10. */
  limit?: number;
  /** Window length, ms. Default 10 000. */
  windowMs?: number;
}

/** A limit or window that is not a positive number. */
export class RateLimitOptionError extends RangeError {
  override name = "RateLimitOptionError";
  constructor(readonly option: "limit" | "windowMs", readonly value: unknown) {
    super(`${option} must be a positive number, got ${String(value)}`);
  }
}

interface KeyWindow {
  startMs: number;
  written: number;
  suppressed: number;
  /** Highest level among the suppressed events. */
  level: LogLevel;
  event: string;
  channel: unknown;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Number of idle keys above which expired windows are swept on the next event. */
const SWEEP_THRESHOLD = 1024;

/**
 * A {@link Logger} companion that allows `limit` events per (event, channel) per window and
 * summarises the rest as one `log_suppressed` event when the window ends. Windows start at a
 * key's first event. Summary timers are unref'd; {@link RateLimitedLog.flush} writes pending
 * summaries at once (call it on shutdown).
 */
export class RateLimitedLog {
  readonly #log: Logger;
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, KeyWindow>();

  constructor(log: Logger, opts: RateLimitOptions = {}) {
    const limit = opts.limit ?? 10;
    const windowMs = opts.windowMs ?? 10_000;
    if (!(limit > 0) || !Number.isInteger(limit)) throw new RateLimitOptionError("limit", limit);
    if (!(windowMs > 0)) throw new RateLimitOptionError("windowMs", windowMs);
    this.#log = log;
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** The wrapped logger (for events that must never be limited). */
  get logger(): Logger {
    return this.#log;
  }

  /**
   * Logs `event` unless its key has used up the window's allowance.
   * Returns whether the event was written.
   */
  log(level: LogLevel, event: LogEventName, fields: LogFields = {}): boolean {
    const now = performance.now();
    const key = keyOf(event, fields.channel);
    let win = this.#windows.get(key);
    if (win !== undefined && now - win.startMs >= this.#windowMs) {
      this.#end(key, win);
      win = undefined;
    }
    if (win === undefined) {
      if (this.#windows.size >= SWEEP_THRESHOLD) this.#sweep(now);
      win = {
        startMs: now,
        written: 0,
        suppressed: 0,
        level: "debug",
        event,
        channel: fields.channel,
        timer: undefined,
      };
      this.#windows.set(key, win);
    }
    if (win.written < this.#limit) {
      win.written++;
      this.#log.log(level, event, fields);
      return true;
    }
    win.suppressed++;
    if (LOG_LEVELS.indexOf(level) > LOG_LEVELS.indexOf(win.level)) win.level = level;
    if (win.timer === undefined) {
      const endsIn = Math.max(0, win.startMs + this.#windowMs - now);
      const w = win;
      const timer = setTimeout(() => {
        w.timer = undefined;
        if (this.#windows.get(key) === w) this.#end(key, w);
      }, endsIn);
      Deno.unrefTimer(timer);
      w.timer = timer;
    }
    return false;
  }

  /** Debug event, rate-limited. */
  debug(event: LogEventName, fields?: LogFields): boolean {
    return this.log("debug", event, fields);
  }
  /** Info event, rate-limited. */
  info(event: LogEventName, fields?: LogFields): boolean {
    return this.log("info", event, fields);
  }
  /** Warning event, rate-limited. */
  warn(event: LogEventName, fields?: LogFields): boolean {
    return this.log("warn", event, fields);
  }
  /** Error event, rate-limited. */
  error(event: LogEventName, fields?: LogFields): boolean {
    return this.log("error", event, fields);
  }

  /** Ends every open window now: writes pending summaries and cancels their timers. */
  flush(): void {
    for (const [key, win] of [...this.#windows]) this.#end(key, win);
  }

  #end(key: string, win: KeyWindow): void {
    this.#windows.delete(key);
    if (win.timer !== undefined) {
      clearTimeout(win.timer);
      win.timer = undefined;
    }
    if (win.suppressed === 0) return;
    const fields: LogFields = {
      suppressed_event: win.event,
      suppressed: win.suppressed,
      window_ms: this.#windowMs,
    };
    if (win.channel !== undefined) fields.channel = win.channel;
    this.#log.log(win.level, LOG_EVENTS.logSuppressed, fields);
  }

  #sweep(now: number): void {
    for (const [key, win] of [...this.#windows]) {
      if (now - win.startMs >= this.#windowMs) this.#end(key, win);
    }
  }
}

function keyOf(event: string, channel: unknown): string {
  return channel === undefined ? event : `${event}\u0000${String(channel)}`;
}
