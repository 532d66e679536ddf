/**
 * Sends one session's spool to Core over `ExecutionEvidenceService.EvidenceStream` (the engine
 * is the client): on every (re)connect Hello first, then wait (up to 5 s) for Core's answer,
 * whose `acked_sequence` is what Core already holds; then every spooled event after it, then
 * live events as they reach the disk. Acks move the spool's high-water mark. When the stream
 * fails or ends it reconnects with backoff (0.5 s doubling to 30 s) on a fresh connection (so
 * gRPC's own reconnect backoff never delays the return of Core); a stream on which sent events
 * go unacked for `ackTimeoutMs` is dropped and reconnected. The channel never waits.
 *
 * The stream runs on Deno's own HTTP/2 client, not grpc-js's `node:http2` one (see
 * `_grpc_bidi_call.ts`: Core restarting its server must never take the engine down).
 *
 * @module
 */

import { loadPlayoutProto, serviceDefinition } from "../control/playout_proto.ts";
import { type CallEnd, GrpcBidiCall } from "./_grpc_bidi_call.ts";
import type { Logger } from "../log/log.ts";
import type { EvidenceSpool } from "./spool.ts";
import { helloMessage, wireMessage } from "./wire.ts";

/** Full name of Core's evidence service. */
export const EVIDENCE_SERVICE_NAME = "retrovue.evidence.v1.ExecutionEvidenceService";

/** Counters a sender advances. */
export interface SenderCounters {
  sent: number;
  acked: number;
}

/** Options of an {@link EvidenceSender}. */
export interface EvidenceSenderOptions {
  spool: EvidenceSpool;
  /** Core's evidence endpoint, `host:port`. */
  endpoint: string;
  log: Logger;
  counters: SenderCounters;
  /** Called once Core acked the session's final event (the spool may go). */
  onDone: () => void;
  /** Longest wait for the answer to Hello, ms. Default 5000. */
  helloTimeoutMs?: number;
  /** First reconnect delay, ms (doubles to `maxBackoffMs`). Default 500. */
  minBackoffMs?: number;
  /** Longest reconnect delay, ms. Default 30 000. */
  maxBackoffMs?: number;
  /** Sent events unacked this long: the stream is dropped and reconnected, ms. Default 60 000. */
  ackTimeoutMs?: number;
}

type Ack = {
  channel_id: string;
  playout_session_id: string;
  acked_sequence: string;
  error: string;
};

type Message = Record<string, unknown>;

/** How long a finished stream waits for Core to end it before it is cancelled, ms. */
const DONE_LINGER_MS = 5000;

/** The EvidenceStream method: its path and (proto-loader's) message codecs. */
interface StreamMethod {
  path: string;
  requestSerialize: (message: Message) => Uint8Array;
  responseDeserialize: (bytes: Uint8Array) => Ack;
}

let streamMethod: StreamMethod | undefined;

function evidenceStreamMethod(): StreamMethod {
  streamMethod ??= serviceDefinition(loadPlayoutProto(), EVIDENCE_SERVICE_NAME)
    .EvidenceStream as unknown as StreamMethod;
  return streamMethod;
}

/** What a call's end says, for the log. */
function endReason(end: CallEnd): string {
  switch (end.kind) {
    case "ended":
      return "stream ended by Core";
    case "status":
      return `gRPC status ${end.code}: ${end.message}`;
    case "failed":
      return end.error.message;
  }
}

/** Streams one session's evidence to Core until Core holds all of it. */
export class EvidenceSender {
  readonly #spool: EvidenceSpool;
  readonly #log: Logger;
  readonly #counters: SenderCounters;
  readonly #onDone: () => void;
  readonly #helloTimeoutMs: number;
  readonly #minBackoff: number;
  readonly #maxBackoff: number;
  #endpoint: string;
  #call: GrpcBidiCall<Message, Ack> | undefined;
  #live = false;
  #sentUpTo = 0;
  #backoff: number;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #helloTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #connects = 0;
  readonly #ackTimeoutMs: number;
  /** When the stream last made progress (went live, or an ack moved the mark). */
  #progressAt = 0;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(opts: EvidenceSenderOptions) {
    this.#spool = opts.spool;
    this.#endpoint = opts.endpoint;
    this.#log = opts.log;
    this.#counters = opts.counters;
    this.#onDone = opts.onDone;
    this.#helloTimeoutMs = opts.helloTimeoutMs ?? 5000;
    this.#minBackoff = opts.minBackoffMs ?? 500;
    this.#maxBackoff = opts.maxBackoffMs ?? 30_000;
    this.#backoff = this.#minBackoff;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 60_000;
    this.#spool.onFlushed = (records) => {
      if (!this.#live) return;
      for (const r of records) this.#send(r.sequence, wireMessage(r));
    };
  }

  /** Where the evidence goes. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Whether a stream is up and past Hello. */
  get connected(): boolean {
    return this.#live;
  }

  /** Connects (now). */
  start(): void {
    this.#watchdog = setInterval(
      () => this.#checkStalled(),
      Math.max(50, Math.min(10_000, this.#ackTimeoutMs / 4)),
    );
    this.#connect();
  }

  #checkStalled(): void {
    if (!this.#live || this.#sentUpTo <= this.#spool.acked) return;
    if (Date.now() - this.#progressAt < this.#ackTimeoutMs) return;
    this.#log.warn("evidence_ack_timeout", {
      channel_id: this.#spool.meta.channel_id,
      session: this.#spool.meta.playout_session_id,
      endpoint: this.#endpoint,
      sent_up_to: this.#sentUpTo,
      acked: this.#spool.acked,
      waited_ms: this.#ackTimeoutMs,
    });
    this.#drop("no ack");
    this.#reconnectLater();
  }

  /** Sends to another endpoint from the next connect on (reconnects now). */
  retarget(endpoint: string): void {
    if (endpoint === this.#endpoint) return;
    this.#endpoint = endpoint;
    this.#drop("endpoint changed");
    this.#backoff = this.#minBackoff;
    this.#reconnectLater(0);
  }

  /** Stops sending and closes the connection (the spool stays). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#watchdog);
    this.#drop("stopped");
  }

  #connect(): void {
    if (this.#stopped) return;
    const spool = this.#spool;
    const meta = spool.meta;
    const method = evidenceStreamMethod();
    this.#live = false;
    this.#connects++;
    let answered = false;
    const goLive = (coreHolds: number) => {
      if (this.#call !== call || this.#live) return;
      clearTimeout(this.#helloTimer);
      this.#live = true;
      this.#progressAt = Date.now();
      this.#backoff = this.#minBackoff;
      this.#sentUpTo = coreHolds;
      const replay = spool.unacked(coreHolds);
      this.#log.info("evidence_connected", {
        channel_id: meta.channel_id,
        session: meta.playout_session_id,
        endpoint: this.#endpoint,
        core_acked: coreHolds,
        replay: replay.length,
        connects: this.#connects,
      });
      for (const r of replay) this.#send(r.sequence, wireMessage(r));
      this.#checkDone();
    };
    const onAck = (ack: Ack) => {
      if (this.#call !== call) return;
      const seq = Number(ack.acked_sequence);
      if (ack.error) {
        this.#log.warn("evidence_core_error", {
          channel_id: meta.channel_id,
          session: meta.playout_session_id,
          error: ack.error,
          acked_sequence: seq,
        });
      }
      const before = spool.acked;
      const written = spool.ack(seq); // moves the mark at once; the file follows
      this.#counters.acked += Math.max(0, spool.acked - before);
      if (spool.acked > before) this.#progressAt = Date.now();
      void written.then(() => this.#checkDone());
      if (!answered) {
        answered = true;
        goLive(Number.isFinite(seq) ? seq : spool.acked);
      }
    };
    const onEnd = (end: CallEnd) => {
      if (this.#call !== call) return;
      if (end.kind !== "ended") {
        this.#log.warn("evidence_stream_failed", {
          channel_id: meta.channel_id,
          session: meta.playout_session_id,
          endpoint: this.#endpoint,
          reason: endReason(end),
          retry_ms: this.#backoff,
        });
      }
      this.#call = undefined; // already over: nothing to cancel
      this.#drop(endReason(end));
      this.#reconnectLater();
    };
    const call: GrpcBidiCall<Message, Ack> = new GrpcBidiCall({
      target: this.#endpoint,
      path: method.path,
      serialize: (m) => method.requestSerialize(m),
      deserialize: (b) => method.responseDeserialize(b),
      onMessage: onAck,
      onEnd,
    });
    this.#call = call;
    call.write(helloMessage(meta.channel_id, meta.playout_session_id, spool.lastSequence));
    this.#helloTimer = setTimeout(() => {
      if (!answered) goLive(spool.acked);
    }, this.#helloTimeoutMs);
  }

  #send(sequence: number, message: Record<string, unknown>): void {
    if (!this.#call || !this.#live || sequence <= this.#sentUpTo) return;
    this.#call.write(message);
    this.#sentUpTo = sequence;
    this.#counters.sent++;
  }

  #checkDone(): void {
    if (!this.#spool.done || this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#watchdog);
    const call = this.#call;
    this.#call = undefined;
    this.#live = false;
    if (call) {
      // Core holds everything: half-close and let Core end the call; a Core that never does
      // gets the call cancelled.
      call.end();
      const linger = setTimeout(() => call.cancel(), DONE_LINGER_MS);
      Deno.unrefTimer(linger);
    }
    this.#onDone();
  }

  /** Ends the current stream and its connection (the next connect starts afresh). */
  #drop(_why: string): void {
    clearTimeout(this.#helloTimer);
    const call = this.#call;
    this.#call = undefined;
    this.#live = false;
    call?.cancel();
  }

  #reconnectLater(delay = this.#backoff): void {
    if (this.#stopped) return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#connect();
    }, delay);
    this.#backoff = Math.min(this.#maxBackoff, this.#backoff * 2);
  }
}
