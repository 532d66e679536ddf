/**
 * The engine's as-run evidence: one spool and one sender per playout session, under
 * `<state_dir>/evidence/<channel_id_str>/`. Sessions are opened by StartBlockPlanSession with
 * an `evidence_endpoint`; the channel workers' as-run events are appended here (main thread,
 * never on a frame's path); each session's spool is streamed to Core until Core acked its final
 * event, then deleted. Spools of earlier runs (a crash, a restart) are picked up at start:
 * an unfinished one gets a ChannelTerminated (`ENGINE_RESTARTED`) and is offered again.
 *
 * Disk use per channel is capped: a session is refused when the channel's spools already fill
 * the cap, and a running session that would pass it ends with ChannelTerminated
 * (`EVIDENCE_SPOOL_FULL`) and is stopped — nothing is dropped silently.
 *
 * @module
 */

import type { AsRunEvent } from "../engine/as_run.ts";
import { ControlError } from "../engine/control_surface.ts";
import type { EvidenceSessions, EvidenceTarget } from "../engine/evidence_sessions.ts";
import { isDialTarget } from "../endpoints/host_port.ts";
import type { Logger } from "../log/log.ts";
import { EvidenceSender, type SenderCounters } from "./sender.ts";
import { EvidenceSpool, type SpoolOptions } from "./spool.ts";
import { type EvidencePayload, isoUtc, payloadOf, terminatedPayload } from "./wire.ts";

/** Default disk cap of one channel's spools, bytes. */
export const DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024;
/** Room kept below the cap for a session's closing ChannelTerminated, bytes. */
const RESERVE_BYTES = 2048;

/** Options of an {@link EvidenceHub}. */
export interface EvidenceHubOptions {
  /** The engine's state directory; spools go under `<stateDir>/evidence/`. */
  stateDir: string;
  log: Logger;
  /** Disk cap of one channel's spools, bytes. */
  maxSpoolBytesPerChannel?: number;
  /** Told when a running session ended because its channel's spool is full (stop it). */
  onSpoolFull?: (channel: number, sessionId: string) => void;
  spool?: SpoolOptions;
  /** Sender timing (tests). */
  helloTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Counters and gauges of one channel's evidence. */
export interface EvidenceChannelStats {
  /** Numeric channel id. */
  channel: number;
  /** `channel_id_str`. */
  channelId: string;
  eventsSpooled: number;
  eventsSent: number;
  eventsAcked: number;
  /** Events not spooled because the session had ended for a full spool. */
  eventsRefused: number;
  spoolBytes: number;
  /** Sessions whose spool is not yet acked to its final event. */
  sessionsOpen: number;
  /** Sessions with a stream to Core past Hello. */
  sessionsConnected: number;
}

interface Session {
  spool: EvidenceSpool;
  sender: EvidenceSender | undefined;
  /** Ended because the channel's spool was full; later events are refused (and counted). */
  refused: boolean;
  /** Refused events are counted; only the first is logged. */
  refusalLogged: boolean;
  recovered: boolean;
}

interface ChannelCounters extends SenderCounters {
  channel: number;
  channelId: string;
  spooled: number;
  refused: number;
}

/** Engine-wide owner of evidence sessions. */
export class EvidenceHub implements EvidenceSessions {
  readonly #opts: EvidenceHubOptions;
  readonly #log: Logger;
  readonly #cap: number;
  readonly #sessions = new Map<string, Session>();
  readonly #counters = new Map<string, ChannelCounters>();
  #closed = false;

  constructor(opts: EvidenceHubOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#cap = opts.maxSpoolBytesPerChannel ?? DEFAULT_SPOOL_MAX_BYTES;
  }

  /** Directory of one channel's spools. */
  dirFor(channelId: string): string {
    return `${this.#opts.stateDir}/evidence/${channelDirName(channelId)}`;
  }

  /**
   * Picks up the spools earlier runs left: finished and acked ones are removed, unfinished
   * ones are closed with ChannelTerminated and sent again. Spools another running engine holds
   * are left alone.
   */
  async start(): Promise<void> {
    const root = `${this.#opts.stateDir}/evidence`;
    let dirs: string[] = [];
    try {
      for await (const e of Deno.readDir(root)) if (e.isDirectory) dirs.push(e.name);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    dirs = dirs.sort();
    for (const name of dirs) {
      const dir = `${root}/${name}`;
      for (const id of await EvidenceSpool.list(dir)) {
        if (this.#sessions.has(id)) continue;
        let spool: EvidenceSpool | undefined;
        try {
          spool = await EvidenceSpool.recover(dir, id, this.#spoolOptions());
        } catch (err) {
          this.#log.error("evidence_spool_unreadable", { dir, session: id, error: err });
          continue;
        }
        if (!spool) {
          this.#log.info("evidence_spool_in_use", { dir, session: id });
          continue;
        }
        if (spool.done) {
          await spool.remove();
          continue;
        }
        const counters = this.#countersFor(spool.meta.channel, spool.meta.channel_id);
        if (!spool.final) {
          spool.append(terminatedPayload(
            Date.now(),
            "ENGINE_RESTARTED",
            "the engine process that ran this session ended without closing it",
          ));
          counters.spooled++;
        }
        this.#log.warn("evidence_spool_recovered", {
          channel_id: spool.meta.channel_id,
          session: id,
          last_sequence: spool.lastSequence,
          acked: spool.acked,
          endpoint: spool.meta.endpoint,
        });
        const session: Session = {
          spool,
          sender: undefined,
          refused: false,
          refusalLogged: false,
          recovered: true,
        };
        this.#sessions.set(id, session);
        this.#startSender(id, session, spool.meta.endpoint);
      }
    }
  }

  async open(target: EvidenceTarget): Promise<string> {
    if (this.#closed) throw new ControlError("FAILED", "evidence is shutting down");
    const channelId = target.channelIdStr !== "" ? target.channelIdStr : String(target.channel);
    if (!isDialTarget(target.endpoint)) {
      throw new ControlError(
        "FAILED",
        `evidence_endpoint ${JSON.stringify(target.endpoint)} is not host:port`,
        target.endpoint,
      );
    }
    const used = this.#channelBytes(channelId);
    if (used > this.#cap - RESERVE_BYTES - Math.min(8192, this.#cap / 4)) {
      throw new ControlError(
        "FAILED",
        `EVIDENCE_SPOOL_FULL: the evidence spool of channel ${channelId} holds ${used} bytes ` +
          `not yet acked by Core (cap ${this.#cap}); refusing a new session until Core takes it`,
        used,
      );
    }
    const id = crypto.randomUUID();
    const dir = this.dirFor(channelId);
    let spool: EvidenceSpool;
    try {
      spool = await EvidenceSpool.create(dir, {
        kind: "retrovue-playout-evidence-session",
        channel_id: channelId,
        channel: target.channel,
        playout_session_id: id,
        endpoint: target.endpoint,
        created_utc: isoUtc(Date.now()),
      }, this.#spoolOptions());
    } catch (err) {
      throw new ControlError(
        "FAILED",
        `cannot create the evidence spool in ${dir}: ${(err as Error).message}`,
        dir,
      );
    }
    const session: Session = {
      spool,
      sender: undefined,
      refused: false,
      refusalLogged: false,
      recovered: false,
    };
    this.#sessions.set(id, session);
    this.#countersFor(target.channel, channelId);
    // Earlier sessions of this channel still owed to Core go where Core is now.
    for (const s of this.#sessions.values()) {
      if (s.recovered && s.spool.meta.channel_id === channelId) s.sender?.retarget(target.endpoint);
    }
    this.#startSender(id, session, target.endpoint);
    this.#log.info("evidence_session_opened", {
      channel: target.channel,
      channel_id: channelId,
      session: id,
      endpoint: target.endpoint,
    });
    return id;
  }

  event(sessionId: string, event: AsRunEvent): void {
    this.#append(sessionId, payloadOf(event));
  }

  terminated(sessionId: string, reason: string, detail: string): void {
    const s = this.#sessions.get(sessionId);
    if (!s || s.spool.final) return;
    this.#append(sessionId, terminatedPayload(Date.now(), reason, detail));
  }

  closed(sessionId: string): void {
    const s = this.#sessions.get(sessionId);
    if (!s) return;
    if (s.spool.lastSequence === 0) {
      // Nothing aired: nothing to tell Core.
      this.#sessions.delete(sessionId);
      s.sender?.stop();
      void this.#discard(s);
      return;
    }
    if (!s.spool.final) {
      this.#log.error("evidence_session_unterminated", {
        session: sessionId,
        last_sequence: s.spool.lastSequence,
      });
      this.terminated(sessionId, "SESSION_CLOSED", "the session ended without a final fence");
    }
    void s.spool.flush();
  }

  /** Per-channel counters and gauges. */
  stats(): EvidenceChannelStats[] {
    const out: EvidenceChannelStats[] = [];
    for (const c of this.#counters.values()) {
      let open = 0;
      let connected = 0;
      for (const s of this.#sessions.values()) {
        if (s.spool.meta.channel_id !== c.channelId) continue;
        open++;
        if (s.sender?.connected) connected++;
      }
      out.push({
        channel: c.channel,
        channelId: c.channelId,
        eventsSpooled: c.spooled,
        eventsSent: c.sent,
        eventsAcked: c.acked,
        eventsRefused: c.refused,
        spoolBytes: this.#channelBytes(c.channelId),
        sessionsOpen: open,
        sessionsConnected: connected,
      });
    }
    return out;
  }

  /** Writes every spool and stops sending (spools stay for the next start): engine shutdown. */
  async close(): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const s of sessions) s.sender?.stop();
    await Promise.all(sessions.map((s) => s.spool.close()));
  }

  #append(sessionId: string, payload: EvidencePayload): void {
    const s = this.#sessions.get(sessionId);
    if (!s) {
      this.#log.error("evidence_unknown_session", { session: sessionId, payload: payload.type });
      return;
    }
    const meta = s.spool.meta;
    const counters = this.#countersFor(meta.channel, meta.channel_id);
    if (s.refused || s.spool.final) {
      counters.refused++;
      if (s.refusalLogged) return;
      s.refusalLogged = true;
      this.#log.warn("evidence_event_refused", {
        channel_id: meta.channel_id,
        session: sessionId,
        payload: payload.type,
        reason: s.refused ? "EVIDENCE_SPOOL_FULL" : "session already ended",
        note: "later refused events of the session are counted, not logged",
      });
      return;
    }
    const estimate = JSON.stringify(payload.body).length + 400;
    if (
      payload.type !== "channel_terminated" &&
      this.#channelBytes(meta.channel_id) + estimate > this.#cap - RESERVE_BYTES
    ) {
      s.refused = true;
      counters.refused++;
      s.spool.append(terminatedPayload(
        Date.now(),
        "EVIDENCE_SPOOL_FULL",
        `the evidence spool of channel ${meta.channel_id} reached its cap of ${this.#cap} ` +
          "bytes with Core not acking; the session was stopped",
      ));
      counters.spooled++;
      this.#log.error("evidence_spool_full", {
        channel: meta.channel,
        channel_id: meta.channel_id,
        session: sessionId,
        cap_bytes: this.#cap,
        refused: payload.type,
      });
      this.#opts.onSpoolFull?.(meta.channel, sessionId);
      return;
    }
    s.spool.append(payload);
    counters.spooled++;
  }

  #startSender(id: string, session: Session, endpoint: string): void {
    const meta = session.spool.meta;
    const counters = this.#countersFor(meta.channel, meta.channel_id);
    session.sender = new EvidenceSender({
      spool: session.spool,
      endpoint,
      log: this.#log,
      counters,
      helloTimeoutMs: this.#opts.helloTimeoutMs,
      minBackoffMs: this.#opts.minBackoffMs,
      maxBackoffMs: this.#opts.maxBackoffMs,
      onDone: () => {
        if (this.#sessions.get(id) !== session) return;
        this.#sessions.delete(id);
        session.spool.remove().then(
          () =>
            this.#log.info("evidence_session_done", { channel_id: meta.channel_id, session: id }),
          (err) => this.#log.error("evidence_spool_remove_failed", { session: id, error: err }),
        );
      },
    });
    session.sender.start();
  }

  async #discard(s: Session): Promise<void> {
    await s.spool.close();
    const base = `${this.dirFor(s.spool.meta.channel_id)}/${s.spool.meta.playout_session_id}`;
    for (const ext of [".jsonl", ".ack", ".meta.json", ".lock"]) {
      try {
        await Deno.remove(`${base}${ext}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          this.#log.error("evidence_spool_remove_failed", { path: base + ext, error: err });
        }
      }
    }
  }

  #channelBytes(channelId: string): number {
    let n = 0;
    for (const s of this.#sessions.values()) {
      if (s.spool.meta.channel_id === channelId) n += s.spool.bytes;
    }
    return n;
  }

  #countersFor(channel: number, channelId: string): ChannelCounters {
    let c = this.#counters.get(channelId);
    if (!c) {
      c = { channel, channelId, spooled: 0, sent: 0, acked: 0, refused: 0 };
      this.#counters.set(channelId, c);
    }
    return c;
  }

  #spoolOptions(): SpoolOptions {
    return {
      ...this.#opts.spool,
      // Acked records must not fill the cap: compact well before they could.
      compactBytes: Math.min(this.#opts.spool?.compactBytes ?? 256 * 1024, this.#cap / 4),
      onProblem: (event, fields) =>
        event.endsWith("_recovered")
          ? this.#log.info(event, fields)
          : this.#log.error(event, fields),
    };
  }
}

/** A file-system-safe directory name for a channel id (`a/b` → `a%2Fb`; never `.`/`..`). */
export function channelDirName(channelId: string): string {
  const name = encodeURIComponent(channelId);
  return name === "." || name === ".." || name === "" ? `%${name}` : name;
}
