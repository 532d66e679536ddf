/**
 * Stream attach: the engine connects as a client to a socket Core listens on (a Unix socket
 * path, or a TCP `host:port`) and writes the channel's TS from a fresh {@link TsFanout}
 * viewer, so the peer's stream begins with PAT, PMT and an IDR, 188-byte aligned.
 *
 * If the peer goes away (or reads too slowly and its viewer overflows), the link reconnects
 * with exponential backoff and a fresh viewer, counting reconnects, until {@link
 * StreamAttach.detach} or the fan-out closes. Only the first connect can fail to the caller:
 *
 * ```ts
 * const link = await StreamAttach.connect({ transport: "unix", endpoint: path, fanout });
 * // ... later
 * link.detach();
 * ```
 *
 * A peer that half-closes (shuts down its write side) counts as gone.
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import { parseHostPort } from "../endpoints/host_port.ts";
import { type TsFanout, type TsViewer, ViewerOverflowError } from "./ts_fanout.ts";

/** Transport of an attach endpoint. */
export type AttachTransport = "unix" | "tcp";

/** The endpoint string cannot be used (e.g. TCP without a port). */
export class AttachEndpointError extends Error {
  /** Error name. */
  override name = "AttachEndpointError";
  /** The endpoint and what is wrong with it. */
  constructor(readonly transport: AttachTransport, readonly endpoint: string, reason: string) {
    super(`bad ${transport} endpoint ${JSON.stringify(endpoint)}: ${reason}`);
  }
}

/** The first connect to the endpoint failed (nothing listens there, refused, timed out). */
export class AttachConnectError extends Error {
  /** Error name. */
  override name = "AttachConnectError";
  /** The endpoint and the connect error. */
  constructor(
    readonly transport: AttachTransport,
    readonly endpoint: string,
    override readonly cause: unknown,
  ) {
    super(
      `cannot connect to ${transport} endpoint ${endpoint}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
    );
  }
}

/** Options of {@link StreamAttach.connect}. */
export interface StreamAttachOptions {
  /** `unix` (endpoint is a socket path) or `tcp` (endpoint is `host:port`, `[v6]:port`). */
  transport: AttachTransport;
  /** Where Core listens. */
  endpoint: string;
  /** The channel's fan-out. */
  fanout: TsFanout;
  /** Logs link losses and reconnects. */
  log?: Logger;
  /** Channel id, for logs. */
  channelId?: number;
  /** First reconnect delay (default 100 ms); doubles per failed attempt. */
  backoffInitialMs?: number;
  /** Largest reconnect delay (default 5000 ms). */
  backoffMaxMs?: number;
  /** Viewer queue bound; a peer further behind is disconnected (default: the fan-out's). */
  maxQueueBytes?: number;
  /** TCP connect timeout (default 5000 ms). */
  connectTimeoutMs?: number;
}

/** A parsed attach endpoint. */
export type AttachTarget =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number };

/** Why one connection of the link ended. */
type SessionEnd = "peer_gone" | "overflow" | "detached" | "fanout_closed";

/** A session shorter than this does not reset the backoff (peer accepting then closing). */
const STABLE_SESSION_MS = 1000;

/** A live link from a channel's fan-out to Core's socket. */
export class StreamAttach {
  /** Transport of the endpoint. */
  readonly transport: AttachTransport;
  /** Where Core listens, as given. */
  readonly endpoint: string;
  #target: AttachTarget;
  #fanout: TsFanout;
  #log: Logger | undefined;
  #channelId: number | undefined;
  #backoffInitial: number;
  #backoffMax: number;
  #maxQueueBytes: number | undefined;
  #connectTimeout: number;
  #detached = false;
  #conn: Deno.Conn | undefined;
  #viewer: TsViewer | undefined;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeSleep: (() => void) | undefined;
  #connected = false;
  #reconnects = 0;
  #connectFailures = 0;
  #drops = 0;
  #bytesSent = 0;
  /** Resolves when the link has stopped for good (detached or fan-out closed). */
  readonly stopped: Promise<void>;
  #resolveStopped!: () => void;

  private constructor(opts: StreamAttachOptions, target: AttachTarget) {
    this.transport = opts.transport;
    this.endpoint = opts.endpoint;
    this.#target = target;
    this.#fanout = opts.fanout;
    this.#log = opts.log;
    this.#channelId = opts.channelId;
    this.#backoffInitial = opts.backoffInitialMs ?? 100;
    this.#backoffMax = opts.backoffMaxMs ?? 5000;
    this.#maxQueueBytes = opts.maxQueueBytes;
    this.#connectTimeout = opts.connectTimeoutMs ?? 5000;
    this.stopped = new Promise((resolve) => this.#resolveStopped = resolve);
  }

  /**
   * Connects once and starts streaming. Rejects with {@link AttachEndpointError} for a
   * malformed endpoint or {@link AttachConnectError} when the first connect fails; after
   * that, failures only cause reconnects.
   */
  static async connect(opts: StreamAttachOptions): Promise<StreamAttach> {
    const target = parseEndpoint(opts.transport, opts.endpoint);
    let conn: Deno.Conn;
    try {
      conn = await dial(target, opts.connectTimeoutMs ?? 5000);
    } catch (err) {
      throw new AttachConnectError(opts.transport, opts.endpoint, err);
    }
    const link = new StreamAttach(opts, target);
    link.#run(conn);
    return link;
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.#connected;
  }
  /** Successful reconnects after the first connect. */
  get reconnects(): number {
    return this.#reconnects;
  }
  /** Failed reconnect attempts. */
  get connectFailures(): number {
    return this.#connectFailures;
  }
  /** Times the peer was disconnected for reading too slowly. */
  get drops(): number {
    return this.#drops;
  }
  /** TS bytes written to the peer, over all connections. */
  get bytesSent(): number {
    return this.#bytesSent;
  }
  /** True after {@link detach}. */
  get detached(): boolean {
    return this.#detached;
  }

  /** Stops streaming and reconnecting; closes the connection. Idempotent, never throws. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#viewer?.close();
    this.#closeConn();
    if (this.#sleepTimer !== undefined) clearTimeout(this.#sleepTimer);
    this.#wakeSleep?.();
  }

  #run(first: Deno.Conn): void {
    this.#loop(first).catch((error) => {
      // Not expected: every step handles its own errors. Log instead of throwing into the engine.
      this.#log?.error("stream_attach_failed", this.#fields({ error }));
    }).finally(() => {
      this.#connected = false;
      this.#resolveStopped();
    });
  }

  async #loop(first: Deno.Conn): Promise<void> {
    let conn: Deno.Conn | undefined = first;
    let delay = this.#backoffInitial;
    let failStreak = 0;
    while (!this.#detached) {
      if (conn !== undefined) {
        const started = Date.now();
        const end = await this.#session(conn);
        conn = undefined;
        if (end === "detached" || end === "fanout_closed") break;
        if (end === "overflow") this.#drops++;
        this.#log?.warn("stream_attach_lost", this.#fields({ reason: end }));
        if (Date.now() - started >= STABLE_SESSION_MS) delay = this.#backoffInitial;
      }
      await this.#sleep(delay);
      delay = Math.min(delay * 2, this.#backoffMax);
      if (this.#detached || this.#fanout.closed) break;
      try {
        conn = await dial(this.#target, this.#connectTimeout);
      } catch (error) {
        this.#connectFailures++;
        const fields = this.#fields({ error, retryInMs: delay });
        if (failStreak++ === 0) this.#log?.warn("stream_attach_retry_failed", fields);
        else this.#log?.debug("stream_attach_retry_failed", fields);
        continue;
      }
      if (this.#detached) {
        conn.close();
        break;
      }
      failStreak = 0;
      this.#reconnects++;
      this.#log?.info("stream_attach_reconnected", this.#fields({ reconnects: this.#reconnects }));
    }
  }

  /** Streams a fresh viewer to `conn` until either side ends. */
  async #session(conn: Deno.Conn): Promise<SessionEnd> {
    const viewer = this.#fanout.subscribe({
      label: `attach:${this.endpoint}`,
      maxQueueBytes: this.#maxQueueBytes,
    });
    this.#conn = conn;
    this.#viewer = viewer;
    this.#connected = true;
    // Notice a peer that closes while we have nothing to write.
    drainUntilEof(conn).then(() => viewer.close(), (error) => {
      this.#log?.warn("stream_attach_read_failed", this.#fields({ error }));
      viewer.close();
    });
    // A stalled peer blocks write(); an overflow must abort it.
    viewer.ended.then((reason) => {
      if (reason === "overflow") this.#closeConn();
    });
    try {
      for (let chunk = await viewer.read(); chunk !== null; chunk = await viewer.read()) {
        await writeAll(conn, chunk);
        this.#bytesSent += chunk.length;
      }
    } catch (err) {
      if (err instanceof ViewerOverflowError) return "overflow";
      if (!isConnectionError(err)) throw err;
    } finally {
      this.#connected = false;
      viewer.close();
      this.#closeConn();
      this.#viewer = undefined;
    }
    if (this.#detached) return "detached";
    if (viewer.endReason === "fanout_closed") return "fanout_closed";
    if (viewer.endReason === "overflow") return "overflow";
    return "peer_gone";
  }

  #closeConn(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn === undefined) return;
    try {
      conn.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleep = resolve;
      this.#sleepTimer = setTimeout(() => {
        this.#sleepTimer = undefined;
        resolve();
      }, ms);
    });
  }

  #fields(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      channel: this.#channelId,
      transport: this.transport,
      endpoint: this.endpoint,
      bytesSent: this.#bytesSent,
      ...extra,
    };
  }
}

/** Parses an endpoint for `transport`; throws {@link AttachEndpointError}. */
export function parseEndpoint(transport: AttachTransport, endpoint: string): AttachTarget {
  if (transport === "unix") {
    if (endpoint === "") throw new AttachEndpointError(transport, endpoint, "empty path");
    return { transport, path: endpoint };
  }
  if (transport !== "tcp") {
    throw new AttachEndpointError(transport, endpoint, "unknown transport");
  }
  const hp = parseHostPort(endpoint);
  if (hp === undefined) {
    throw new AttachEndpointError(transport, endpoint, "expected host:port with port 1..65535");
  }
  return { transport, hostname: hp.host, port: hp.port };
}

function dial(target: AttachTarget, timeoutMs: number): Promise<Deno.Conn> {
  if (target.transport === "unix") {
    return Deno.connect({ transport: "unix", path: target.path });
  }
  return Deno.connect({
    transport: "tcp",
    hostname: target.hostname,
    port: target.port,
    signal: AbortSignal.timeout(timeoutMs),
  });
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Reads and discards until EOF or a connection error; resolves either way. */
async function drainUntilEof(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(4096);
  try {
    while (await conn.read(buf) !== null) { /* Core sends nothing we use. */ }
  } catch (err) {
    if (!isConnectionError(err)) throw err;
  }
}

/** Errors that mean the connection is gone (or was closed by us). */
function isConnectionError(err: unknown): boolean {
  return err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.NotConnected ||
    err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.UnexpectedEof;
}
