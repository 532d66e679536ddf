/**
 * Gathers a channel worker's TS chunks (one per output frame) into fewer, larger messages to
 * the main thread. Each message the main thread receives is a wake-up, a structured-clone
 * deserialisation, an event dispatch and garbage; at 30 fps per channel they were the main
 * thread's largest load. Bytes are never reordered: the worker flushes before it posts any
 * other message.
 *
 * @module
 */

/** Joins TS chunks until `maxChunks` are held or the oldest is `maxDelayMs` old. */
export class TsBatch {
  readonly #send: (data: Uint8Array) => void;
  readonly #maxChunks: number;
  readonly #maxDelayMs: number;
  readonly #onLateError: (err: unknown) => void;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param send takes a joined run of chunks (its buffer may be transferred).
   * @param maxChunks chunks per message (1: every chunk goes at once).
   * @param maxDelayMs longest a chunk waits for the others.
   * @param onLateError where a `send` that threw from the delay's timer goes (a send from
   *   {@link push} or {@link flush} throws to their caller).
   */
  constructor(
    send: (data: Uint8Array) => void,
    maxChunks: number,
    maxDelayMs: number,
    onLateError: (err: unknown) => void,
  ) {
    this.#send = send;
    this.#onLateError = onLateError;
    this.#maxChunks = Math.max(1, Math.floor(maxChunks));
    this.#maxDelayMs = maxDelayMs;
  }

  /** Takes one chunk (ownership passes). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.#bytes += chunk.length;
    if (this.#parts.length >= this.#maxChunks) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#late(), this.#maxDelayMs);
    }
  }

  #late(): void {
    try {
      this.flush();
    } catch (err) {
      this.#onLateError(err);
    }
  }

  /** Sends what is held now (nothing held: nothing happens). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const parts = this.#parts;
    if (parts.length === 0) return;
    let data = parts[0];
    if (parts.length > 1) {
      data = new Uint8Array(this.#bytes);
      let o = 0;
      for (const p of parts) {
        data.set(p, o);
        o += p.length;
      }
    }
    this.#parts = [];
    this.#bytes = 0;
    this.#send(data);
  }
}
