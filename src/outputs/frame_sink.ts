/**
 * A channel's Renderer frame sink: listens on a Unix stream socket (0660, replacing a stale
 * socket file, removed on close) and/or a TCP port, and sends every connected reader the
 * stream header and then each pushed program frame in the wire format of
 * `frame_protocol.ts`.
 *
 * {@link FrameSink.push} never blocks: each reader has a bounded queue of whole frames,
 * written by its own async `conn.write` loop; a reader that falls behind loses whole frames
 * (the oldest queued first), never part of one. While no reader is connected frames are
 * discarded.
 *
 * @module
 */

import { defaultFrameSinkPath } from "../config/schema.ts";
import { windowsNamedPipe } from "../config/windows_defaults.ts";
import type { ProgramFormat } from "../../media/program_format.ts";
import { i420Size } from "../../media/program_frame.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import { formatHostPort, parseHostPort } from "../endpoints/host_port.ts";
import { bindUnixSocket, removeSocketFile } from "../endpoints/unix_socket.ts";
import type { Logger } from "../log/log.ts";
import {
  COLOR_MATRIX_UNSPECIFIED,
  encodeFrameHeader,
  encodeStreamHeader,
  FRAME_PROTOCOL_VERSION,
  FrameHeaderFieldError,
  PIXEL_FORMAT_I420,
  SAMPLE_FORMAT_S16,
  streamHeaderFor,
} from "./frame_protocol.ts";

/** Where a frame sink listens (and a reader connects). */
export type FrameSinkEndpoint =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number }
  /** A Windows named pipe; Deno cannot create one, so a sink refuses it (use TCP there). */
  | { transport: "pipe"; name: string };

/** Default permission bits of a frame-sink socket file: owner and group read/write. */
export const DEFAULT_FRAME_SINK_MODE = 0o660;
/** Default per-reader queue bound, whole frames. */
export const DEFAULT_READER_QUEUE_FRAMES = 8;
/** Default most readers a sink serves at once. */
export const DEFAULT_MAX_READERS = 8;

/** The Windows named pipe a Renderer would use for channel `id` (not creatable by Deno). */
export { windowsNamedPipe as windowsFrameSinkPipe } from "../config/windows_defaults.ts";

/**
 * The default endpoint of channel `id` on `os`: `/run/retrovue/playout-<id>` on Linux (and
 * other Unixes), the named pipe `\\.\pipe\retrovue-playout-<id>` on Windows.
 */
export function defaultFrameSinkEndpoint(
  id: number,
  os: typeof Deno.build.os = Deno.build.os,
): FrameSinkEndpoint {
  return os === "windows"
    ? { transport: "pipe", name: windowsNamedPipe(id) }
    : { transport: "unix", path: defaultFrameSinkPath(id) };
}

/** An endpoint string that is neither a path, a pipe name nor `host:port`. */
export class FrameSinkEndpointError extends Error {
  override name = "FrameSinkEndpointError";
  constructor(readonly endpoint: string, reason: string) {
    super(`bad frame-sink endpoint ${JSON.stringify(endpoint)}: ${reason}`);
  }
}

/**
 * Parses `\\.\pipe\NAME`, a socket path (anything with a `/`), or `host:port` /
 * `[v6]:port`. Throws {@link FrameSinkEndpointError}.
 */
export function parseFrameSinkEndpoint(text: string): FrameSinkEndpoint {
  if (text.startsWith("\\\\.\\pipe\\")) return { transport: "pipe", name: text };
  if (text.includes("/")) return { transport: "unix", path: text };
  const hp = parseHostPort(text, { minPort: 0 });
  if (hp === undefined) {
    throw new FrameSinkEndpointError(text, "expected a socket path or HOST:PORT (port 0..65535)");
  }
  return { transport: "tcp", hostname: hp.host, port: hp.port };
}

/** The endpoint as a user writes it (`/run/retrovue/playout-1`, `127.0.0.1:9000`). */
export function formatFrameSinkEndpoint(e: FrameSinkEndpoint): string {
  switch (e.transport) {
    case "unix":
      return e.path;
    case "pipe":
      return e.name;
    case "tcp":
      return formatHostPort(e.hostname, e.port);
  }
}

/** A sink endpoint that could not be opened. */
export class FrameSinkListenError extends Error {
  override name = "FrameSinkListenError";
  constructor(readonly endpoint: string, reason: string, options?: ErrorOptions) {
    super(`cannot open frame sink at ${endpoint}: ${reason}`, options);
  }
}

/** Counters of a sink, summed over its readers. */
export interface FrameSinkStats {
  /** Frames handed to {@link FrameSink.push}. */
  framesPushed: number;
  /** Frame deliveries written completely to a reader. */
  framesSent: number;
  /** Frame deliveries a connected reader lost because its queue was full. */
  framesDropped: number;
  /** Frames pushed while no reader was connected (discarded by design). */
  framesDiscarded: number;
  /** Frames refused because their sizes do not match the program format. */
  framesRejected: number;
  /** Bytes written to readers. */
  bytesSent: number;
  /** Readers connected now. */
  readers: number;
  /** Readers accepted since the sink opened. */
  readersAccepted: number;
}

/** Options of {@link FrameSink.open}. */
export interface FrameSinkOptions {
  channelId: number;
  format: ProgramFormat;
  /** One or more endpoints (e.g. the unix socket and a TCP port); readers share the stream. */
  endpoints: FrameSinkEndpoint[];
  /** Socket file permission bits; default {@link DEFAULT_FRAME_SINK_MODE}. */
  mode?: number;
  /** Per-reader queue bound in whole frames; default {@link DEFAULT_READER_QUEUE_FRAMES}. */
  queueFrames?: number;
  /** Connections beyond this are closed at once; default {@link DEFAULT_MAX_READERS}. */
  maxReaders?: number;
  /** ITU-T H.273 matrix code announced in the stream header; default unspecified. */
  colorMatrix?: number;
  log?: Logger;
}

/** One frame ready to send: the same three buffers go to every reader. */
interface OutgoingFrame {
  parts: Uint8Array[];
  bytes: number;
}

interface Reader {
  id: number;
  conn: Deno.Conn;
  remote: string;
  queue: OutgoingFrame[];
  wake: (() => void) | undefined;
  closed: boolean;
  sent: number;
  dropped: number;
  /** Drops since the queue last ran empty (for one log line per episode). */
  droppingSince: number;
}

interface OpenListener {
  listener: Deno.Listener;
  endpoint: FrameSinkEndpoint;
  /** Inode of the socket file we created, so close() removes only our own file. */
  ino: number | null;
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A channel's frame sink. Create with {@link FrameSink.open}; `close()` when done. */
export class FrameSink {
  readonly channelId: number;
  readonly format: Readonly<ProgramFormat>;
  /** Called (on the main thread) when the first reader arrives or the last one leaves. */
  onReadersChanged: ((has: boolean) => void) | undefined;

  #listeners: OpenListener[];
  #readers = new Set<Reader>();
  #streamHeader: Uint8Array;
  #queueFrames: number;
  #maxReaders: number;
  #log: Logger | undefined;
  #sequence = 0;
  #nextReaderId = 1;
  #closed = false;
  #stats: FrameSinkStats = {
    framesPushed: 0,
    framesSent: 0,
    framesDropped: 0,
    framesDiscarded: 0,
    framesRejected: 0,
    bytesSent: 0,
    readers: 0,
    readersAccepted: 0,
  };

  private constructor(opts: FrameSinkOptions, listeners: OpenListener[]) {
    this.channelId = opts.channelId;
    this.format = Object.freeze({ ...opts.format });
    this.#listeners = listeners;
    this.#streamHeader = encodeStreamHeader(
      streamHeaderFor(opts.channelId, opts.format, opts.colorMatrix ?? COLOR_MATRIX_UNSPECIFIED),
    );
    this.#queueFrames = Math.max(1, opts.queueFrames ?? DEFAULT_READER_QUEUE_FRAMES);
    this.#maxReaders = Math.max(1, opts.maxReaders ?? DEFAULT_MAX_READERS);
    this.#log = opts.log?.child({ channel: opts.channelId });
    for (const l of listeners) this.#acceptLoop(l);
  }

  /**
   * Opens the sink's endpoints. A stale unix socket file is replaced; a path held by a live
   * listener or by something other than a socket is refused. Throws {@link FrameSinkListenError}.
   */
  static async open(opts: FrameSinkOptions): Promise<FrameSink> {
    if (!IS_LITTLE_ENDIAN) {
      throw new FrameSinkListenError("(any)", "the wire format assumes a little-endian host");
    }
    const listeners: OpenListener[] = [];
    try {
      for (const endpoint of opts.endpoints) {
        listeners.push(await openListener(endpoint, opts.mode ?? DEFAULT_FRAME_SINK_MODE));
      }
    } catch (e) {
      await Promise.all(listeners.map(closeListener));
      throw e;
    }
    const sink = new FrameSink(opts, listeners);
    sink.#log?.info("frame_sink_open", {
      endpoints: sink.endpoints.map(formatFrameSinkEndpoint),
      protocol_version: FRAME_PROTOCOL_VERSION,
    });
    return sink;
  }

  /** The endpoints actually listened on (a TCP port 0 resolved to the bound port). */
  get endpoints(): FrameSinkEndpoint[] {
    return this.#listeners.map((l) => l.endpoint);
  }

  /** Whether at least one reader is connected (the worker sends frames only then). */
  get hasReaders(): boolean {
    return this.#readers.size > 0;
  }

  /** A snapshot of the counters. */
  get stats(): FrameSinkStats {
    return { ...this.#stats, readers: this.#readers.size };
  }

  /**
   * Offers a program frame to every reader. Never blocks and never throws for a bad frame
   * (it is counted in `framesRejected` and logged). The sink keeps references to
   * `frame.video` and `frame.audio` until written: the caller must not modify them after.
   */
  push(frame: ProgramFrame): void {
    const sequence = this.#sequence++;
    this.#stats.framesPushed++;
    if (this.#closed || this.#readers.size === 0) {
      this.#stats.framesDiscarded++;
      return;
    }
    const out = this.#encode(frame, sequence);
    if (out === undefined) return;
    for (const reader of this.#readers) {
      if (reader.queue.length >= this.#queueFrames) {
        reader.queue.shift();
        reader.dropped++;
        this.#stats.framesDropped++;
        if (reader.droppingSince++ === 0) {
          this.#log?.warn("frame_sink_reader_slow", {
            reader: reader.id,
            remote: reader.remote,
            queue_frames: this.#queueFrames,
          });
        }
      }
      reader.queue.push(out);
      reader.wake?.();
    }
  }

  #encode(frame: ProgramFrame, sequence: number): OutgoingFrame | undefined {
    const { width, height, channels, sampleRate, frameRate } = this.format;
    const audioValues = frame.samples * channels;
    if (frame.video.length !== i420Size(width, height) || frame.audio.length !== audioValues) {
      if (this.#stats.framesRejected++ === 0) {
        this.#log?.error("frame_sink_frame_rejected", {
          frame_number: frame.frameNumber,
          video_bytes: frame.video.length,
          expected_video_bytes: i420Size(width, height),
          audio_values: frame.audio.length,
          expected_audio_values: audioValues,
        });
      }
      return undefined;
    }
    const cw = width >> 1;
    const ch = height >> 1;
    const audio = new Uint8Array(frame.audio.buffer, frame.audio.byteOffset, audioValues * 2);
    let header: Uint8Array;
    try {
      header = encodeFrameHeader({
        version: FRAME_PROTOCOL_VERSION,
        channelId: this.channelId,
        flags: frame.flags,
        sequence,
        frameNumber: frame.frameNumber,
        pts90k: frame.pts90k,
        wallClockUtcUs: Math.max(0, Math.round(frame.wallClockUtcUs)),
        width,
        height,
        pixelFormat: PIXEL_FORMAT_I420,
        sampleFormat: SAMPLE_FORMAT_S16,
        planeSizes: [width * height, cw * ch, cw * ch],
        planeStrides: [width, cw, cw],
        sampleRate,
        channels,
        samples: frame.samples,
        audioSize: audio.length,
        frameRate,
        payloadSize: frame.video.length + audio.length,
      });
    } catch (e) {
      if (!(e instanceof FrameHeaderFieldError)) throw e;
      if (this.#stats.framesRejected++ === 0) {
        this.#log?.error("frame_sink_frame_rejected", {
          frame_number: frame.frameNumber,
          error: e,
        });
      }
      return undefined;
    }
    const parts = audio.length > 0 ? [header, frame.video, audio] : [header, frame.video];
    return { parts, bytes: header.length + frame.video.length + audio.length };
  }

  /** Closes listeners and readers and removes the socket files this sink created. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const had = this.#readers.size > 0;
    for (const reader of [...this.#readers]) this.#dropReader(reader, "sink closed");
    await Promise.all(this.#listeners.map(closeListener));
    if (had) this.onReadersChanged?.(false);
    const stats = this.stats;
    this.#log?.info("frame_sink_closed", {
      frames_pushed: stats.framesPushed,
      frames_sent: stats.framesSent,
      frames_dropped: stats.framesDropped,
      frames_discarded: stats.framesDiscarded,
      frames_rejected: stats.framesRejected,
      bytes_sent: stats.bytesSent,
      readers: stats.readers,
    });
  }

  #acceptLoop(l: OpenListener): void {
    (async () => {
      while (!this.#closed) {
        let conn: Deno.Conn;
        try {
          conn = await l.listener.accept();
        } catch (e) {
          if (this.#closed || e instanceof Deno.errors.BadResource) return;
          // E.g. EMFILE: say so and keep listening after a breath.
          this.#log?.warn("frame_sink_accept_failed", { error: e });
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        try {
          this.#addReader(conn);
        } catch (e) {
          // E.g. the peer vanished between accept and setup: keep accepting others.
          this.#internalError("add reader", e);
          closeConn(conn);
        }
      }
    })().catch((e) => this.#internalError("accept", e));
  }

  /** A bug in a background loop: log it rather than crash the engine with an unhandled rejection. */
  #internalError(where: string, e: unknown): void {
    if (this.#log) this.#log.error("frame_sink_internal_error", { where, error: e });
    else console.error(`frame sink ${this.channelId} ${where}:`, e);
  }

  #addReader(conn: Deno.Conn): void {
    const remote = describeAddr(conn.remoteAddr);
    if (this.#closed || this.#readers.size >= this.#maxReaders) {
      this.#log?.warn("frame_sink_reader_refused", { remote, max_readers: this.#maxReaders });
      conn.close();
      return;
    }
    if (conn.remoteAddr.transport === "tcp") {
      (conn as Deno.TcpConn).setNoDelay(true);
      (conn as Deno.TcpConn).setKeepAlive(true);
    }
    const reader: Reader = {
      id: this.#nextReaderId++,
      conn,
      remote,
      queue: [],
      wake: undefined,
      closed: false,
      sent: 0,
      dropped: 0,
      droppingSince: 0,
    };
    this.#readers.add(reader);
    this.#stats.readersAccepted++;
    this.#log?.info("frame_sink_reader_connected", { reader: reader.id, remote });
    if (this.#readers.size === 1) this.onReadersChanged?.(true);
    this.#writeLoop(reader).catch((e) => this.#internalError("write loop", e));
    this.#watchInbound(reader).catch((e) => this.#internalError("read loop", e));
  }

  /** Sends the stream header, then queued frames, until the reader goes or the sink closes. */
  async #writeLoop(reader: Reader): Promise<void> {
    try {
      await writeAll(reader.conn, this.#streamHeader);
      this.#stats.bytesSent += this.#streamHeader.length;
      while (!reader.closed) {
        const frame = reader.queue.shift();
        if (frame === undefined) {
          if (reader.droppingSince > 0) {
            this.#log?.info("frame_sink_reader_caught_up", {
              reader: reader.id,
              dropped: reader.droppingSince,
            });
            reader.droppingSince = 0;
          }
          await new Promise<void>((resolve) => reader.wake = resolve);
          reader.wake = undefined;
          continue;
        }
        for (const part of frame.parts) await writeAll(reader.conn, part);
        reader.sent++;
        this.#stats.framesSent++;
        this.#stats.bytesSent += frame.bytes;
      }
    } catch (e) {
      if (!reader.closed) this.#dropReader(reader, describeError(e));
    }
  }

  /**
   * Readers send nothing; reading only notices a reset at once. End-of-stream from the reader
   * (it shut down its sending side) is tolerated: a gone reader then fails the next write.
   */
  async #watchInbound(reader: Reader): Promise<void> {
    const buf = new Uint8Array(512);
    try {
      while (!reader.closed) {
        if (await reader.conn.read(buf) === null) return;
      }
    } catch (e) {
      if (!reader.closed) this.#dropReader(reader, describeError(e));
    }
  }

  #dropReader(reader: Reader, reason: string): void {
    if (reader.closed) return;
    reader.closed = true;
    reader.queue.length = 0;
    reader.wake?.();
    closeConn(reader.conn);
    this.#readers.delete(reader);
    this.#log?.info("frame_sink_reader_disconnected", {
      reader: reader.id,
      remote: reader.remote,
      reason,
      frames_sent: reader.sent,
      frames_dropped: reader.dropped,
    });
    if (this.#readers.size === 0 && !this.#closed) this.onReadersChanged?.(false);
  }
}

/** Closes `conn`; one that is closed already is fine. */
function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function describeAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") return `${addr.hostname}:${addr.port}`;
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return `unix:${addr.path || "(unnamed)"}`;
  }
  return addr.transport;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// --- Listeners ------------------------------------------------------------------------------

async function openListener(endpoint: FrameSinkEndpoint, mode: number): Promise<OpenListener> {
  const where = formatFrameSinkEndpoint(endpoint);
  switch (endpoint.transport) {
    case "pipe":
      throw new FrameSinkListenError(
        where,
        "Deno cannot create Windows named pipes; configure a TCP endpoint (host:port)",
      );
    case "tcp": {
      let listener: Deno.TcpListener;
      try {
        listener = Deno.listen({ hostname: endpoint.hostname, port: endpoint.port });
      } catch (e) {
        throw new FrameSinkListenError(where, describeError(e), { cause: e });
      }
      const addr = listener.addr;
      return {
        listener,
        endpoint: { transport: "tcp", hostname: addr.hostname, port: addr.port },
        ino: null,
      };
    }
    case "unix":
      return await openUnixListener(endpoint.path, mode);
  }
}

/** Binds the socket atomically with `mode` (see {@link bindUnixSocket}). */
async function openUnixListener(path: string, mode: number): Promise<OpenListener> {
  try {
    const { bound: listener, ino } = await bindUnixSocket(
      path,
      mode,
      (bindPath) => Deno.listen({ transport: "unix", path: bindPath }),
      (listener) => listener.close(),
    );
    return { listener, endpoint: { transport: "unix", path }, ino };
  } catch (e) {
    throw new FrameSinkListenError(path, describeError(e), { cause: e });
  }
}

async function closeListener(l: OpenListener): Promise<void> {
  try {
    l.listener.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
  if (l.endpoint.transport !== "unix" || l.ino === null) return;
  await removeSocketFile(l.endpoint.path, { ino: l.ino });
}
