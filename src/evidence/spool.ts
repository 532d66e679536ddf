/**
 * The evidence spool of one playout session: `<dir>/<session>.jsonl`, one
 * {@link EvidenceRecord} per line, append-only, written within 250 ms or 50 records of the event
 * (then fdatasync'ed); `<session>.ack` beside it holds the highest sequence Core acked (written
 * only when it grows); `<session>.meta.json` says where the session's evidence goes;
 * `<session>.lock` is held (flock) while a process owns the session, so a second engine
 * instance sharing the state directory leaves it alone.
 *
 * On recovery a torn last line (a crash mid-write) is cut off and appending resumes after the
 * last whole record. Compaction drops the acked prefix by writing `<session>.jsonl.tmp` and
 * renaming it over the spool.
 *
 * @module
 */

import type { LogEventName } from "../log/log_events.ts";
import {
  EVIDENCE_SCHEMA_VERSION,
  type EvidencePayload,
  type EvidenceRecord,
  isoUtc,
} from "./wire.ts";

/** Where a session's evidence goes, kept beside its spool. */
export interface SpoolMeta {
  kind: "retrovue-playout-evidence-session";
  /** `channel_id_str` of the session (EvidenceFromAir.channel_id). */
  channel_id: string;
  /** The numeric channel id of the control API. */
  channel: number;
  playout_session_id: string;
  /** Core's evidence endpoint, `host:port`. */
  endpoint: string;
  created_utc: string;
}

/** Options of a spool. */
export interface SpoolOptions {
  /** Longest time an event waits in memory before it is written, ms. Default 250. */
  flushMs?: number;
  /** Events that trigger a write at once. Default 50. */
  flushRecords?: number;
  /** Compact once the acked prefix is this many bytes. Default 256 KiB. */
  compactBytes?: number;
  /** Told of problems that do not stop the spool (a corrupt line, a failed write). */
  onProblem?: (event: LogEventName, fields: Record<string, unknown>) => void;
}

/** A spool file is not what it should be; carries the path. */
export class SpoolError extends Error {
  override name = "SpoolError";
  constructor(readonly path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One session's spool. Not safe for use by two processes (the lock prevents it). */
export class EvidenceSpool {
  readonly meta: SpoolMeta;
  readonly path: string;
  readonly #base: string;
  readonly #opts: Required<Omit<SpoolOptions, "onProblem">>;
  readonly #onProblem: (event: LogEventName, fields: Record<string, unknown>) => void;
  #lock: Deno.FsFile;
  #file: Deno.FsFile | undefined;
  /** Spooled and not yet acked, in sequence order, with their line sizes. */
  #pending: { record: EvidenceRecord; bytes: number }[] = [];
  /** Appended, not yet written. */
  #buffer: { record: EvidenceRecord; line: string }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #io: Promise<void> = Promise.resolve();
  #lastSequence = 0;
  #flushedSequence = 0;
  #acked = 0;
  #ackedBytes = 0;
  #fileBytes = 0;
  #final = false;
  #closed = false;
  /** A write failed and has not succeeded since (logged once). */
  #writeFailing = false;
  /** Called after records reach the disk (in order); they may be sent now. */
  onFlushed: (records: EvidenceRecord[]) => void = () => {};

  private constructor(
    base: string,
    meta: SpoolMeta,
    lock: Deno.FsFile,
    file: Deno.FsFile,
    opts: SpoolOptions,
  ) {
    this.#base = base;
    this.path = `${base}.jsonl`;
    this.meta = meta;
    this.#lock = lock;
    this.#file = file;
    this.#opts = {
      flushMs: opts.flushMs ?? 250,
      flushRecords: opts.flushRecords ?? 50,
      compactBytes: opts.compactBytes ?? 256 * 1024,
    };
    this.#onProblem = opts.onProblem ?? (() => {});
  }

  /** Creates the spool of a new session in `dir` (made if needed). */
  static async create(dir: string, meta: SpoolMeta, opts: SpoolOptions = {}) {
    await Deno.mkdir(dir, { recursive: true });
    const base = `${dir}/${meta.playout_session_id}`;
    const lock = await lockFile(`${base}.lock`);
    if (!lock) throw new SpoolError(`${base}.lock`, "held by another process");
    try {
      await writeDurably(`${base}.meta.json`, JSON.stringify(meta) + "\n");
      const file = await Deno.open(`${base}.jsonl`, { append: true, create: true });
      return new EvidenceSpool(base, meta, lock, file, opts);
    } catch (err) {
      lock.close();
      throw err;
    }
  }

  /**
   * Opens the spool of an earlier session (`<dir>/<sessionId>.*`). Undefined when another
   * process holds it. A torn last line is cut off; records already acked are not kept.
   */
  static async recover(
    dir: string,
    sessionId: string,
    opts: SpoolOptions = {},
  ): Promise<EvidenceSpool | undefined> {
    const base = `${dir}/${sessionId}`;
    const lock = await lockFile(`${base}.lock`);
    if (!lock) return undefined;
    try {
      const meta = JSON.parse(await Deno.readTextFile(`${base}.meta.json`)) as SpoolMeta;
      if (meta?.kind !== "retrovue-playout-evidence-session") {
        throw new SpoolError(`${base}.meta.json`, "not an evidence session file");
      }
      const path = `${base}.jsonl`;
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        bytes = new Uint8Array(0);
      }
      const whole = bytes.lastIndexOf(0x0a) + 1;
      if (whole < bytes.length) {
        opts.onProblem?.("evidence_spool_torn_line", {
          path,
          dropped_bytes: bytes.length - whole,
        });
        await Deno.truncate(path, whole);
      }
      const file = await Deno.open(path, { append: true, create: true });
      const spool = new EvidenceSpool(base, meta, lock, file, opts);
      spool.#acked = await readAck(`${base}.ack`);
      spool.#fileBytes = whole;
      let offset = 0;
      for (const line of decoder.decode(bytes.subarray(0, whole)).split("\n")) {
        const size = encoder.encode(line).length + 1;
        offset += size;
        if (line === "") continue;
        let record: EvidenceRecord;
        try {
          record = JSON.parse(line);
          if (!Number.isInteger(record.sequence) || record.sequence < 1) {
            throw new Error("sequence");
          }
        } catch {
          opts.onProblem?.("evidence_spool_bad_line", { path, offset: offset - size });
          continue;
        }
        spool.#lastSequence = Math.max(spool.#lastSequence, record.sequence);
        spool.#final = record.final === true;
        if (record.sequence > spool.#acked) spool.#pending.push({ record, bytes: size });
        else spool.#ackedBytes += size;
      }
      spool.#lastSequence = Math.max(spool.#lastSequence, spool.#acked);
      spool.#flushedSequence = spool.#lastSequence;
      return spool;
    } catch (err) {
      lock.close();
      throw err;
    }
  }

  /** Session ids with a spool in `dir` (by their meta files). */
  static async list(dir: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && e.name.endsWith(".meta.json")) out.push(e.name.slice(0, -10));
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return out.sort();
  }

  /** Highest sequence made so far. */
  get lastSequence(): number {
    return this.#lastSequence;
  }
  /** Highest sequence on disk. */
  get flushedSequence(): number {
    return this.#flushedSequence;
  }
  /** Highest sequence Core acked. */
  get acked(): number {
    return this.#acked;
  }
  /** Whether the session's final event is spooled (nothing may be appended after it). */
  get final(): boolean {
    return this.#final;
  }
  /** Bytes of the spool (on disk and waiting to be written). */
  get bytes(): number {
    let n = this.#fileBytes;
    for (const b of this.#buffer) n += encoder.encode(b.line).length;
    return n;
  }
  /** Whether Core holds everything and the session is over: the spool may go. */
  get done(): boolean {
    return this.#final && this.#acked >= this.#lastSequence;
  }

  /** On-disk records Core has not acked, in order (for a replay). */
  unacked(after = this.#acked): EvidenceRecord[] {
    return this.#pending.filter((p) => p.record.sequence > after).map((p) => p.record)
      .filter((r) => r.sequence <= this.#flushedSequence);
  }

  /** Appends an event: gives it the next sequence and a new uuid; written soon. */
  append(payload: EvidencePayload): EvidenceRecord {
    if (this.#closed) throw new SpoolError(this.path, "spool is closed");
    if (this.#final) throw new SpoolError(this.path, "session already has its final event");
    const record: EvidenceRecord = {
      schema_version: EVIDENCE_SCHEMA_VERSION,
      channel_id: this.meta.channel_id,
      playout_session_id: this.meta.playout_session_id,
      sequence: ++this.#lastSequence,
      event_uuid: crypto.randomUUID(),
      emitted_utc: isoUtc(payload.emittedUtcMs),
      payload_type: payload.type,
      [payload.type]: payload.body,
    };
    if (payload.final) {
      record.final = true;
      this.#final = true;
    }
    this.#buffer.push({ record, line: JSON.stringify(record) + "\n" });
    if (this.#buffer.length >= this.#opts.flushRecords) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#opts.flushMs);
    return record;
  }

  /** Writes what is buffered now; resolves once it is on disk. */
  flush(): Promise<void> {
    if (this.#closed) return this.#io;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffer;
    this.#buffer = [];
    if (batch.length === 0) return this.#io;
    return this.#serial(async () => {
      const bytes = encoder.encode(batch.map((b) => b.line).join(""));
      const file = this.#file!;
      try {
        for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
        await file.syncData();
      } catch (err) {
        // Disk full, I/O error: nothing is dropped. Cut what part of the batch got written and
        // keep the batch first in line; the next flush (at the latest one period on) tries again.
        await file.truncate(this.#fileBytes).catch(() => {});
        this.#buffer = [...batch, ...this.#buffer];
        this.#timer ??= setTimeout(() => this.flush(), this.#opts.flushMs);
        if (!this.#writeFailing) {
          this.#writeFailing = true;
          this.#onProblem("evidence_spool_write_failed", {
            path: this.path,
            records: batch.length,
            error: err,
            note: "kept in memory and retried; logged once until a write succeeds",
          });
        }
        return;
      }
      if (this.#writeFailing) {
        this.#writeFailing = false;
        this.#onProblem("evidence_spool_write_recovered", { path: this.path });
      }
      this.#fileBytes += bytes.length;
      for (const b of batch) {
        this.#pending.push({ record: b.record, bytes: encoder.encode(b.line).length });
      }
      this.#flushedSequence = batch.at(-1)!.record.sequence;
      this.onFlushed(batch.map((b) => b.record));
    });
  }

  /** Records Core's ack; keeps the high-water mark on disk; compacts when worth it. */
  ack(sequence: number): Promise<void> {
    if (!(sequence > this.#acked)) return this.#io;
    const upTo = Math.min(sequence, this.#flushedSequence);
    if (!(upTo > this.#acked)) return this.#io;
    this.#acked = upTo;
    while (this.#pending.length > 0 && this.#pending[0].record.sequence <= upTo) {
      this.#ackedBytes += this.#pending.shift()!.bytes;
    }
    return this.#serial(async () => {
      await writeDurably(`${this.#base}.ack`, `${this.#acked}\n`);
      if (this.#ackedBytes >= this.#opts.compactBytes && !this.#closed) await this.#compact();
    });
  }

  /** Drops the acked prefix: the unacked records go to a temp file renamed over the spool. */
  async #compact(): Promise<void> {
    const lines = this.#pending.filter((p) => p.record.sequence <= this.#flushedSequence)
      .map((p) => JSON.stringify(p.record) + "\n").join("");
    const bytes = encoder.encode(lines);
    const tmp = `${this.path}.tmp`;
    await writeDurably(tmp, bytes);
    this.#file?.close();
    this.#file = undefined;
    await Deno.rename(tmp, this.path);
    this.#file = await Deno.open(this.path, { append: true, create: true });
    this.#fileBytes = bytes.length;
    this.#ackedBytes = 0;
  }

  /** Writes what is buffered and releases the files (the spool stays on disk). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length > 0) {
      this.#onProblem("evidence_spool_unwritten_at_close", {
        path: this.path,
        records: this.#buffer.length,
        first_sequence: this.#buffer[0].record.sequence,
      });
    }
    await this.#serial(() => {
      this.#file?.close();
      this.#file = undefined;
      this.#lock.close();
      return Promise.resolve();
    });
  }

  /** Removes the spool's files (only once {@link done}). */
  async remove(): Promise<void> {
    if (!this.done) throw new SpoolError(this.path, "not acked to its final event");
    await this.close();
    for (const ext of [".jsonl", ".ack", ".meta.json", ".lock"]) {
      try {
        await Deno.remove(`${this.#base}${ext}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#io.then(fn).catch((err) => {
      this.#onProblem("evidence_spool_io_failed", { path: this.path, error: err });
    });
    this.#io = next;
    return next;
  }
}

/** Opens (creating) and flocks `path`; undefined when another process holds it. */
async function lockFile(path: string): Promise<Deno.FsFile | undefined> {
  const f = await Deno.open(path, { read: true, write: true, create: true });
  if (await f.tryLock(true)) return f;
  f.close();
  return undefined;
}

async function readAck(path: string): Promise<number> {
  try {
    const n = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
}

/** Writes `data` to `path` and syncs it. */
async function writeDurably(path: string, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
    await f.syncData();
  } finally {
    f.close();
  }
}
