/**
 * Structured logging: one JSON object per line (for journald) or a short human line (for a
 * terminal). Every event has a stable `event` name; fields carry the details.
 *
 * @module
 */

import type { LogEventName } from "./log_events.ts";

/** Log levels, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level name. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Output format: JSON lines or human-readable. */
export type LogFormat = "json" | "human";

/** Extra fields of a log event. `channel` is set where the event concerns one channel. */
export type LogFields = Record<string, unknown>;

/** Where a log line goes; stdout by default. */
export type LogWriter = (line: string) => void;

const encoder = new TextEncoder();
const stdoutWriter: LogWriter = (line) => {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
};

/** A structured logger. Child loggers add fixed fields (e.g. `channel`). */
export class Logger {
  #level: number;
  #format: LogFormat;
  #fields: LogFields;
  #write: LogWriter;

  constructor(
    opts: { level?: LogLevel; format?: LogFormat; fields?: LogFields; write?: LogWriter } = {},
  ) {
    this.#level = LOG_LEVELS.indexOf(opts.level ?? "info");
    this.#format = opts.format ?? "json";
    this.#fields = opts.fields ?? {};
    this.#write = opts.write ?? stdoutWriter;
  }

  /** A logger that adds `fields` to every event. Level changes on the parent do not carry. */
  child(fields: LogFields): Logger {
    return new Logger({
      level: this.level,
      format: this.#format,
      fields: { ...this.#fields, ...fields },
      write: this.#write,
    });
  }

  /** Current level. */
  get level(): LogLevel {
    return LOG_LEVELS[this.#level];
  }

  /** Changes the level (e.g. on SIGHUP). */
  setLevel(level: LogLevel): void {
    this.#level = LOG_LEVELS.indexOf(level);
  }

  /** Logs `event` at `level`. */
  log(level: LogLevel, event: LogEventName, fields: LogFields = {}): void {
    if (LOG_LEVELS.indexOf(level) < this.#level) return;
    const record: LogFields = {
      time: new Date().toISOString(),
      level,
      event,
      ...this.#fields,
      ...fields,
    };
    this.#write(this.#format === "json" ? JSON.stringify(record, jsonReplacer) : human(record));
  }

  /** Debug event. */
  debug(event: LogEventName, fields?: LogFields): void {
    this.log("debug", event, fields);
  }
  /** Info event. */
  info(event: LogEventName, fields?: LogFields): void {
    this.log("info", event, fields);
  }
  /** Warning event. */
  warn(event: LogEventName, fields?: LogFields): void {
    this.log("warn", event, fields);
  }
  /** Error event. */
  error(event: LogEventName, fields?: LogFields): void {
    this.log("error", event, fields);
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

function human(record: LogFields): string {
  const { time, level, event, ...rest } = record;
  const tail = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v, jsonReplacer)}`)
    .join(" ");
  return `${time} ${String(level).toUpperCase().padEnd(5)} ${event}${tail ? " " + tail : ""}`;
}
