/**
 * One bidirectional-streaming gRPC call over Deno's own HTTP/2 client (`fetch` with an
 * HTTP/2-only {@link Deno.HttpClient}: h2c with prior knowledge, one connection per call).
 *
 * Why not `@grpc/grpc-js` here: its client runs on `node:http2`, and Deno 2.9's `node:http2`
 * client can kill the whole process inside nghttp2 when the server sends GOAWAY on a session
 * with closed streams (denoland/deno#36788: an assertion abort or a bare SIGSEGV, before any
 * JavaScript runs). Core's evidence server does exactly that whenever it restarts, so the
 * engine's evidence client must not stand on it. The engine's gRPC *server* is unaffected.
 *
 * What this covers of gRPC over HTTP/2: length-prefixed messages both ways, identity encoding
 * only, `grpc-status` of a trailers-only answer (an error before any message). `fetch` does not
 * expose trailers, so a stream that ends after messages reports no status; the caller treats
 * every end as the end of the stream.
 *
 * @module
 */

/** Why a call ended. */
export type CallEnd =
  | { kind: "ended" }
  | { kind: "status"; code: number; message: string }
  | { kind: "failed"; error: Error };

/** What a {@link GrpcBidiCall} is built from. */
export interface GrpcBidiCallOptions<Req, Res> {
  /** `host:port` of the server (IPv6 literals in brackets). */
  target: string;
  /** The method's path, `/package.Service/Method`. */
  path: string;
  serialize: (message: Req) => Uint8Array;
  deserialize: (bytes: Uint8Array) => Res;
  onMessage: (message: Res) => void;
  /** Called once, when the call is over (not after {@link GrpcBidiCall.cancel}). */
  onEnd: (end: CallEnd) => void;
}

/** A gRPC message the server sent that this client cannot read. */
export class GrpcFramingError extends Error {
  constructor(message: string, readonly detail: number) {
    super(message);
    this.name = "GrpcFramingError";
  }
}

/** Largest message accepted from the server, bytes (gRPC's default receive limit). */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** One open call; messages are written as they come, answers arrive through `onMessage`. */
export class GrpcBidiCall<Req, Res> {
  readonly #opts: GrpcBidiCallOptions<Req, Res>;
  readonly #abort = new AbortController();
  readonly #client: Deno.HttpClient;
  #requests!: ReadableStreamDefaultController<Uint8Array>;
  #over = false;
  #halfClosed = false;

  /** Opens the call (the connection is made now). */
  constructor(opts: GrpcBidiCallOptions<Req, Res>) {
    this.#opts = opts;
    this.#client = Deno.createHttpClient({ http1: false, http2: true });
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#requests = controller;
      },
    });
    void this.#run(body);
  }

  /** Sends one message (dropped once the call is over). */
  write(message: Req): void {
    if (this.#over || this.#halfClosed) return;
    const bytes = this.#opts.serialize(message);
    const framed = new Uint8Array(5 + bytes.length);
    new DataView(framed.buffer).setUint32(1, bytes.length);
    framed.set(bytes, 5);
    try {
      this.#requests.enqueue(framed);
    } catch (e) {
      // The HTTP/2 stream stopped reading our side (the server ended the call): nothing more
      // can be sent; the end of the call reaches `onEnd`.
      if (!(e instanceof TypeError)) throw e;
      this.#halfClosed = true;
    }
  }

  /** Half-closes: no more messages from this side; answers may still come. */
  end(): void {
    if (this.#over || this.#halfClosed) return;
    this.#halfClosed = true;
    this.#requests.close();
  }

  /** Ends the call and its connection now; `onEnd` is not called. */
  cancel(): void {
    if (this.#over) return;
    this.#over = true;
    this.#abort.abort();
    this.#client.close();
  }

  async #run(body: ReadableStream<Uint8Array>): Promise<void> {
    let end: CallEnd;
    try {
      end = await this.#exchange(body);
    } catch (e) {
      end = { kind: "failed", error: e instanceof Error ? e : new Error(String(e)) };
    }
    if (this.#over) return; // cancelled: the caller has moved on
    this.#over = true;
    this.#client.close();
    this.#opts.onEnd(end);
  }

  async #exchange(body: ReadableStream<Uint8Array>): Promise<CallEnd> {
    const response = await fetch(`http://${this.#opts.target}${this.#opts.path}`, {
      method: "POST",
      client: this.#client,
      signal: this.#abort.signal,
      body,
      headers: {
        "content-type": "application/grpc",
        "te": "trailers",
        "grpc-accept-encoding": "identity",
      },
    });
    const status = response.headers.get("grpc-status");
    if (status !== null && status !== "0") {
      await response.body?.cancel();
      return {
        kind: "status",
        code: Number(status),
        message: decodeGrpcMessage(response.headers.get("grpc-message") ?? ""),
      };
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      return { kind: "status", code: 14, message: `HTTP ${response.status} from the server` };
    }
    if (!response.body) return { kind: "ended" };
    const parser = new GrpcMessageParser();
    for await (const chunk of response.body) {
      for (const message of parser.push(chunk)) {
        if (this.#over) return { kind: "ended" };
        this.#opts.onMessage(this.#opts.deserialize(message));
      }
    }
    return { kind: "ended" };
  }
}

/** Splits a gRPC response body (chunks of any size) into its length-prefixed messages. */
export class GrpcMessageParser {
  #buffer = new Uint8Array(0);

  /** Adds bytes; returns the messages completed by them. */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const out: Uint8Array[] = [];
    let at = 0;
    while (joined.length - at >= 5) {
      const view = new DataView(joined.buffer, joined.byteOffset + at, 5);
      const compressed = view.getUint8(0);
      const length = view.getUint32(1);
      if (compressed !== 0) {
        throw new GrpcFramingError("compressed gRPC message (identity was asked)", compressed);
      }
      if (length > MAX_MESSAGE_BYTES) {
        throw new GrpcFramingError(`gRPC message of ${length} bytes is over the limit`, length);
      }
      if (joined.length - at - 5 < length) break;
      out.push(joined.slice(at + 5, at + 5 + length));
      at += 5 + length;
    }
    this.#buffer = joined.slice(at);
    return out;
  }
}

/** `grpc-message` is percent-encoded. */
function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // not valid percent-encoding: shown as sent
  }
}
