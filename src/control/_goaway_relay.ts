/**
 * The gRPC server's front door: accepts connections on the public listeners and relays each, byte
 * for byte, to grpc-js listening on a private socket, except for the HTTP/2 GOAWAY frames that
 * clients send.
 *
 * Why: grpc-js serves on Deno's `node:http2`, whose nghttp2 session aborts the whole process
 * (`find_stream_on_goaway_func: Assertion 'stream->closed_next == NULL'`, or SIGSEGV) while it
 * processes a GOAWAY from a client that made enough calls on the connection
 * (denoland/deno#36788; a grpc-js client closing after 200 calls killed 4 of 6 idle engines).
 * A client's GOAWAY only says it opens no more streams and accepts none from the server; a gRPC
 * server opens none, so dropping it changes nothing for the calls: the client still finishes its
 * open calls and ends the connection, which the relay passes on as end of stream. The frames the
 * server sends (its own GOAWAY at shutdown included) pass untouched.
 *
 * @module
 */

/** Length of the HTTP/2 client connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`). */
const PREFACE_BYTES = 24;
/** Length of an HTTP/2 frame header: length (24 bits), type, flags, stream id (32 bits). */
const FRAME_HEADER_BYTES = 9;
/** HTTP/2 frame type of GOAWAY (RFC 9113 §6.8). */
const GOAWAY = 0x7;
/** Pause before accepting again after a failed accept, ms. */
const ACCEPT_RETRY_MS = 100;
/** Read size of the relay's pumps. */
const READ_BYTES = 64 * 1024;

/**
 * Cuts a client's HTTP/2 byte stream into frames as it arrives, in any chunking, and keeps all
 * but GOAWAY frames. Assumes nothing of the bytes beyond the framing: anything malformed passes
 * on to the server, which judges it.
 */
export class ClientGoawayFilter {
  /** GOAWAY frames dropped so far. */
  dropped = 0;
  #prefaceLeft = PREFACE_BYTES;
  #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #payloadLeft = 0;
  #dropping = false;

  /**
   * The bytes of `chunk` to pass on, in order (subarrays of `chunk` and frame headers;
   * valid until the next call).
   */
  take(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#prefaceLeft > 0) {
        const n = Math.min(this.#prefaceLeft, chunk.length - i);
        out.push(chunk.subarray(i, i + n));
        this.#prefaceLeft -= n;
        i += n;
      } else if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        if (!this.#dropping) out.push(chunk.subarray(i, i + n));
        this.#payloadLeft -= n;
        i += n;
      } else {
        const n = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + n), this.#headerFill);
        this.#headerFill += n;
        i += n;
        if (this.#headerFill < FRAME_HEADER_BYTES) continue;
        const h = this.#header;
        this.#payloadLeft = (h[0] << 16) | (h[1] << 8) | h[2];
        this.#dropping = h[3] === GOAWAY;
        if (this.#dropping) this.dropped++;
        else out.push(h.slice());
        this.#headerFill = 0;
      }
    }
    return joined(out);
  }
}

/** Where the relay connects for each accepted connection. */
export type RelayTarget =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number };

/**
 * Told when a relayed connection ends by an error rather than an orderly end of stream on both
 * sides, or an accept fails: the listener's address (`unix:/path` or `host:port`) and why.
 */
export type RelayErrorHandler = (listener: string, reason: string) => void;

/** Relays connections from public listeners to the gRPC server (see the module comment). */
export class GoawayRelay {
  #target: RelayTarget;
  #onError: RelayErrorHandler;
  #listeners = new Map<Deno.Listener, string>();
  #conns = new Set<Deno.Conn>();
  #closed = false;

  constructor(target: RelayTarget, onError: RelayErrorHandler) {
    this.#target = target;
    this.#onError = onError;
  }

  /** Accepts connections on `listener` (named `address` in reports) until {@link stopAccepting}. */
  serve(listener: Deno.Listener, address: string): void {
    this.#listeners.set(listener, address);
    (async () => {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (err) {
          if (this.#closed || err instanceof Deno.errors.BadResource) return;
          this.#onError(address, `accept: ${message(err)}`);
          // E.g. out of file descriptors: try again shortly rather than spin.
          await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
          continue;
        }
        this.#relay(conn, address).catch((err) => this.#onError(address, `relay: ${message(err)}`));
      }
    })();
  }

  /** Closes the listeners: no new connections; relayed ones go on. */
  stopAccepting(): void {
    this.#closed = true;
    for (const l of this.#listeners.keys()) l.close();
    this.#listeners.clear();
  }

  /** Closes every relayed connection still open (after the server has shut down). */
  closeConnections(): void {
    for (const c of this.#conns) closeQuietly(c);
    this.#conns.clear();
  }

  async #relay(client: Deno.Conn, listener: string): Promise<void> {
    this.#conns.add(client);
    let server: Deno.Conn | undefined;
    const filter = new ClientGoawayFilter();
    let error: string | undefined;
    try {
      // A call's reply is several small writes (headers, message, trailers): without this,
      // Nagle holds the later ones for the client's delayed ACK (40 ms).
      noDelay(client);
      server = this.#target.transport === "unix"
        ? await Deno.connect({ transport: "unix", path: this.#target.path })
        : await Deno.connect({ hostname: this.#target.hostname, port: this.#target.port });
      this.#conns.add(server);
      noDelay(server);
      const s = server;
      // Each direction ends its write side at end of stream; either failing ends both.
      const fail = (side: string) => (err: unknown) => {
        error ??= `${side}: ${message(err)}`;
        closeQuietly(client);
        closeQuietly(s);
      };
      await Promise.all([
        pump(client, s, (b) => filter.take(b)).catch(fail("from client")),
        pump(s, client, (b) => [b]).catch(fail("to client")),
      ]);
    } catch (err) {
      error ??= `${server === undefined ? "connect to the gRPC server" : "relay"}: ${message(err)}`;
    } finally {
      closeQuietly(client);
      this.#conns.delete(client);
      if (server !== undefined) {
        closeQuietly(server);
        this.#conns.delete(server);
      }
      if (error !== undefined) this.#onError(listener, error);
    }
  }
}

/** Sends small writes at once on a TCP connection (Unix sockets have no Nagle). */
function noDelay(conn: Deno.Conn): void {
  if (conn.remoteAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
}

/** Copies `from` to `to` through `pass` until end of stream, then ends `to`'s write side. */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  pass: (chunk: Uint8Array) => Uint8Array[],
): Promise<void> {
  const buf = new Uint8Array(READ_BYTES);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) break;
    for (const piece of pass(buf.subarray(0, n))) {
      for (let off = 0; off < piece.length;) off += await to.write(piece.subarray(off));
    }
  }
  await to.closeWrite();
}

/** One buffer for several pieces (one write instead of many). */
function joined(pieces: Uint8Array[]): Uint8Array[] {
  if (pieces.length <= 1) return pieces;
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  return [out];
}

/** Closes a connection that may be closed already (the one expected error). */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
