/**
 * Fan-out of one channel's MPEG-TS to many viewers (HTTP clients, an attached socket).
 *
 * The channel pushes whole 188-byte packets; the fan-out keeps the latest GOP — the PAT and
 * PMT in force at the last video keyframe (a video PES start with the random access
 * indicator) plus every packet from that keyframe on — so a new viewer's stream starts with
 * PAT, PMT and an IDR and decodes at once. Each viewer has a bounded queue; a viewer that
 * falls more than its bound behind is disconnected and counted, never slowing `push` or the
 * other viewers.
 *
 * ```ts
 * const fanout = new TsFanout({ channelId: 1 });
 * worker.onmessage = (e) => fanout.push(e.data.data);
 * const viewer = fanout.subscribe({ label: "10.0.0.5:53122" });
 * return new Response(viewer.readable(), { headers: { "content-type": "video/mp2t" } });
 * ```
 *
 * Pushed chunks are shared with viewers, not copied: the caller must not modify a chunk after
 * pushing it. PAT and PMT are expected to fit in one packet each (true for one program).
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import { patPmtPid, pmtVideoPid, randomAccess } from "./_ts_psi.ts";

const PACKET = 188;
const SYNC = 0x47;
/** Default per-viewer queue bound. */
export const DEFAULT_VIEWER_QUEUE_BYTES = 4 * 1024 * 1024;
/** Default bound of the GOP cache; a longer GOP is not cached (viewers wait for the next). */
export const DEFAULT_GOP_CACHE_BYTES = 16 * 1024 * 1024;
/** Reads coalesce queued chunks up to this many bytes. */
const MAX_READ_BYTES = 256 * 1024;

/** Why a viewer's stream ended. */
export type ViewerEndReason =
  /** The consumer closed it (HTTP client went away, socket detached). */
  | "closed"
  /** It fell more than its queue bound behind and was dropped. */
  | "overflow"
  /** The fan-out was closed (channel stopped). */
  | "fanout_closed";

/** A viewer was dropped for falling behind; thrown by its reads. */
export class ViewerOverflowError extends Error {
  /** Error name. */
  override name = "ViewerOverflowError";
  /** `label` names the viewer; sizes are in bytes. */
  constructor(readonly label: string, readonly queuedBytes: number, readonly limitBytes: number) {
    super(`viewer ${label} fell behind: ${queuedBytes} bytes queued, limit ${limitBytes}`);
  }
}

/**
 * One viewer's stream: PAT, PMT, the cached GOP, then live packets. Consume it exactly one
 * way: {@link read}, async iteration, or {@link readable}.
 */
export interface TsViewer extends AsyncIterable<Uint8Array> {
  /** Unique within the process. */
  readonly id: number;
  /** What the subscriber called it (e.g. a remote address). */
  readonly label: string;
  /** Bytes handed to the consumer so far. */
  readonly bytesSent: number;
  /** Bytes waiting in the queue. */
  readonly bytesQueued: number;
  /** Why it ended, once it has. */
  readonly endReason: ViewerEndReason | undefined;
  /** Resolves with the reason when the viewer ends (never rejects). */
  readonly ended: Promise<ViewerEndReason>;
  /**
   * Next bytes (whole packets; possibly several chunks joined), or `null` at the end of the
   * stream. Rejects with {@link ViewerOverflowError} once the viewer was dropped.
   */
  read(): Promise<Uint8Array | null>;
  /** The stream as a `ReadableStream` (e.g. an HTTP body); cancelling it closes the viewer. */
  readable(): ReadableStream<Uint8Array>;
  /** Ends the viewer now, discarding what is queued. Idempotent. */
  close(): void;
}

/** A viewer connected to or left a fan-out. */
export interface ViewerEvent {
  /** What happened. */
  type: "connect" | "disconnect";
  /** The viewer concerned. */
  viewer: TsViewer;
  /** Set for `disconnect`. */
  reason?: ViewerEndReason;
}

/** Options of a {@link TsFanout}. */
export interface TsFanoutOptions {
  /** Per-viewer queue bound in bytes, beyond the initial GOP (default 4 MiB). */
  maxQueueBytes?: number;
  /** Largest GOP kept for new viewers (default 16 MiB). */
  gopCacheMaxBytes?: number;
  /** Channel id, for logs. */
  channelId?: number;
  /** Logs `viewer_dropped` when a viewer overflows. */
  log?: Logger;
}

/** Options of {@link TsFanout.subscribe}. */
export interface SubscribeOptions {
  /** Name for logs and events (e.g. the remote address). */
  label?: string;
  /** Overrides the fan-out's per-viewer queue bound. */
  maxQueueBytes?: number;
  /**
   * A consumer inside the engine (the HLS segmenter), not a viewer: it gets the stream like a
   * viewer but is not counted in {@link TsFanout.viewerCount} or {@link TsFanout.viewersTotal}.
   */
  internal?: boolean;
}

let nextViewerId = 1;

class Viewer implements TsViewer {
  readonly id = nextViewerId++;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #sent = 0;
  #limit: number;
  #endReason: ViewerEndReason | undefined;
  #overflow: ViewerOverflowError | undefined;
  #wake: (() => void) | undefined;
  #resolveEnded!: (reason: ViewerEndReason) => void;
  #stream: ReadableStream<Uint8Array> | undefined;
  /** True once the viewer's stream has begun (at a GOP start). */
  synced = false;
  readonly ended: Promise<ViewerEndReason>;

  constructor(
    readonly label: string,
    limit: number,
    readonly owner: { sent(n: number): void; ended(v: Viewer, reason: ViewerEndReason): void },
    readonly internal: boolean,
  ) {
    this.#limit = limit;
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
  }

  get bytesSent(): number {
    return this.#sent;
  }
  get bytesQueued(): number {
    return this.#queued;
  }
  get endReason(): ViewerEndReason | undefined {
    return this.#endReason;
  }

  /** Raises the bound once, for the initial GOP. */
  allow(extra: number): void {
    this.#limit += extra;
  }

  /** Queues `chunks` together or drops the viewer when they do not fit. */
  enqueue(chunks: Uint8Array[], bytes: number): void {
    if (this.#endReason !== undefined) return;
    if (this.#queued + bytes > this.#limit) {
      this.#overflow = new ViewerOverflowError(this.label, this.#queued + bytes, this.#limit);
      this.#queue = [];
      this.#queued = 0;
      this.#end("overflow");
      return;
    }
    for (const c of chunks) this.#queue.push(c);
    this.#queued += bytes;
    this.#wakeReader();
  }

  /** Ends the stream after the queued bytes (fan-out closed). */
  finish(): void {
    this.#end("fanout_closed");
  }

  close(): void {
    this.#queue = [];
    this.#queued = 0;
    this.#end("closed");
  }

  #end(reason: ViewerEndReason): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    this.#wakeReader();
    this.#resolveEnded(reason);
    this.owner.ended(this, reason);
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#queue.length === 0) {
      if (this.#overflow) throw this.#overflow;
      if (this.#endReason !== undefined) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let out: Uint8Array;
    if (this.#queue.length === 1 || this.#queue[0].length >= MAX_READ_BYTES) {
      out = this.#queue.shift()!;
    } else {
      let n = 0;
      let count = 0;
      while (count < this.#queue.length && n + this.#queue[count].length <= MAX_READ_BYTES) {
        n += this.#queue[count++].length;
      }
      out = new Uint8Array(n);
      let at = 0;
      for (const c of this.#queue.splice(0, count)) {
        out.set(c, at);
        at += c.length;
      }
    }
    this.#queued -= out.length;
    this.#sent += out.length;
    this.owner.sent(out.length);
    return out;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) yield chunk;
    } finally {
      // A consumer that stops iterating early (break/throw) no longer reads: close.
      if (this.#endReason === undefined) this.close();
    }
  }

  readable(): ReadableStream<Uint8Array> {
    this.#stream ??= new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
    return this.#stream;
  }
}

/** One channel's TS fan-out: GOP cache plus bounded per-viewer queues. */
export class TsFanout {
  #maxQueueBytes: number;
  #gopCacheMax: number;
  #channelId: number | undefined;
  #log: Logger | undefined;
  #viewers = new Set<Viewer>();
  #listeners = new Set<(event: ViewerEvent) => void>();
  #closed = false;
  #carry: Uint8Array | undefined;
  #pat: Uint8Array | undefined;
  #pmt: Uint8Array | undefined;
  #pmtPid = -1;
  #videoPid = -1;
  /** The cached GOP: PAT, PMT, then packets from the keyframe on; undefined when none. */
  #gop: Uint8Array[] | undefined;
  #gopBytes = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #bytesDiscarded = 0;
  #dropped = 0;
  #total = 0;
  #owner = {
    sent: (n: number) => {
      this.#bytesOut += n;
    },
    ended: (v: Viewer, reason: ViewerEndReason) => this.#ended(v, reason),
  };

  /** A fan-out with no viewers and an empty GOP cache. */
  constructor(opts: TsFanoutOptions = {}) {
    this.#maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_VIEWER_QUEUE_BYTES;
    this.#gopCacheMax = opts.gopCacheMaxBytes ?? DEFAULT_GOP_CACHE_BYTES;
    this.#channelId = opts.channelId;
    this.#log = opts.log;
  }

  /** Viewers connected now (internal consumers not counted). */
  get viewerCount(): number {
    let n = 0;
    for (const v of this.#viewers) if (!v.internal) n++;
    return n;
  }
  /** Viewers dropped for falling behind, total. */
  get viewersDropped(): number {
    return this.#dropped;
  }
  /** Viewers that ever subscribed (internal consumers not counted). */
  get viewersTotal(): number {
    return this.#total;
  }
  /** Bytes handed to viewers' consumers, total. */
  get bytesOut(): number {
    return this.#bytesOut;
  }
  /** Bytes pushed, total. */
  get bytesIn(): number {
    return this.#bytesIn;
  }
  /** Bytes discarded because they were not aligned 188-byte packets. */
  get bytesDiscarded(): number {
    return this.#bytesDiscarded;
  }
  /** Bytes in the GOP cache (0 when no keyframe is cached). */
  get gopCacheBytes(): number {
    return this.#gop === undefined ? 0 : this.#gopBytes;
  }
  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `listener` on every viewer connect/disconnect; returns an unsubscribe function. */
  onViewer(listener: (event: ViewerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds a viewer. With a cached GOP its stream starts at once with PAT, PMT and the GOP;
   * otherwise it starts at the next keyframe. After {@link close} the viewer is already ended.
   */
  subscribe(opts: SubscribeOptions = {}): TsViewer {
    const viewer = new Viewer(
      opts.label ?? "viewer",
      opts.maxQueueBytes ?? this.#maxQueueBytes,
      this.#owner,
      opts.internal ?? false,
    );
    if (!viewer.internal) this.#total++;
    this.#viewers.add(viewer);
    this.#emit({ type: "connect", viewer });
    if (this.#closed) {
      viewer.finish();
    } else if (this.#gop !== undefined) {
      viewer.allow(this.#gopBytes);
      viewer.enqueue(this.#gop.slice(), this.#gopBytes);
      viewer.synced = true;
    }
    return viewer;
  }

  /** Pushes TS bytes (whole packets expected; other bytes are realigned or discarded). */
  push(chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return;
    this.#bytesIn += chunk.length;
    let data = chunk;
    if (this.#carry !== undefined) {
      data = new Uint8Array(this.#carry.length + chunk.length);
      data.set(this.#carry);
      data.set(chunk, this.#carry.length);
      this.#carry = undefined;
    }
    let runStart = -1;
    let o = 0;
    while (o + PACKET <= data.length) {
      if (data[o] === SYNC) {
        if (runStart < 0) runStart = o;
        o += PACKET;
        continue;
      }
      if (runStart >= 0) this.#run(data.subarray(runStart, o));
      runStart = -1;
      const next = data.indexOf(SYNC, o + 1);
      const stop = next < 0 ? data.length : next;
      this.#bytesDiscarded += stop - o;
      o = stop;
    }
    if (runStart >= 0) this.#run(data.subarray(runStart, o));
    if (o < data.length) this.#carry = data.slice(o);
  }

  /**
   * Forgets the cached GOP (and PAT/PMT): the stream that filled it has ended, so a viewer
   * subscribing from now on starts at the next stream's first keyframe, never with stale
   * bytes. Viewers already connected keep their queues.
   */
  resetCache(): void {
    this.#gop = undefined;
    this.#gopBytes = 0;
    this.#pat = undefined;
    this.#pmt = undefined;
    this.#pmtPid = -1;
    this.#videoPid = -1;
    this.#carry = undefined;
  }

  /** Ends every viewer (after what is queued) and stops accepting pushes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#gop = undefined;
    for (const v of [...this.#viewers]) v.finish();
  }

  /** Handles a run of aligned packets. */
  #run(run: Uint8Array): void {
    let first = -1;
    let firstHead: Uint8Array[] = [];
    let last = -1;
    let lastHead: Uint8Array[] = [];
    for (let o = 0; o < run.length; o += PACKET) {
      const b1 = run[o + 1];
      if ((b1 & 0x40) === 0) continue; // Only payload unit starts matter here.
      const pid = ((b1 & 0x1f) << 8) | run[o + 2];
      if (pid === 0) {
        this.#pat = run.slice(o, o + PACKET);
        const pmtPid = patPmtPid(this.#pat);
        if (pmtPid >= 0) this.#pmtPid = pmtPid;
      } else if (pid === this.#pmtPid) {
        this.#pmt = run.slice(o, o + PACKET);
        const videoPid = pmtVideoPid(this.#pmt);
        if (videoPid >= 0) this.#videoPid = videoPid;
      } else if (pid === this.#videoPid && randomAccess(run, o) && this.#pmt && this.#pat) {
        const head = [this.#pat, this.#pmt];
        if (first < 0) {
          first = o;
          firstHead = head;
        }
        last = o;
        lastHead = head;
      }
    }
    for (const v of this.#viewers) {
      if (v.synced) {
        v.enqueue([run], run.length);
      } else if (first >= 0) {
        v.synced = true;
        v.enqueue([...firstHead, run.subarray(first)], 2 * PACKET + run.length - first);
      }
    }
    if (last >= 0) {
      this.#gop = [...lastHead, run.subarray(last)];
      this.#gopBytes = 2 * PACKET + run.length - last;
    } else if (this.#gop !== undefined) {
      this.#gop.push(run);
      this.#gopBytes += run.length;
    }
    if (this.#gop !== undefined && this.#gopBytes > this.#gopCacheMax) this.#gop = undefined;
  }

  #ended(v: Viewer, reason: ViewerEndReason): void {
    this.#viewers.delete(v);
    if (reason === "overflow") {
      this.#dropped++;
      this.#log?.warn("viewer_dropped", {
        channel: this.#channelId,
        viewer: v.label,
        bytes_sent: v.bytesSent,
      });
    }
    this.#emit({ type: "disconnect", viewer: v, reason });
  }

  #emit(event: ViewerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // A faulty listener must not break push() for the channel; report it and go on.
        if (this.#log) {
          this.#log.error("viewer_listener_failed", { channel: this.#channelId, error });
        } else console.error("viewer listener failed", error);
      }
    }
  }
}
