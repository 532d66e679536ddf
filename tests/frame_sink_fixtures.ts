/**
 * Fixtures for the frame-sink tests: program frames with real content that identifies them
 * (a moving ramp in Y, per-frame chroma, audio derived from the frame number), a paced pusher
 * that records how late it ran, and a test reader over a real connection.
 *
 * @module
 */

import { type ProgramFormat, pts90kForFrame, samplesForFrame } from "../media/program_format.ts";
import { FrameFlags, type ProgramFrame } from "../media/program_frame.ts";
import {
  type FrameHeader,
  FrameStreamParser,
  type ReceivedFrame,
  type StreamHeader,
} from "../src/outputs/frame_protocol.ts";
import type { FrameSink, FrameSinkEndpoint } from "../src/outputs/frame_sink.ts";

/** A small program format for tests: 320x240 at 30 fps, 48 kHz stereo. */
export const SMALL_FORMAT: ProgramFormat = Object.freeze({
  width: 320,
  height: 240,
  frameRate: Object.freeze({ num: 30, den: 1 }),
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve" as const,
});

/** Frame `k` of `fmt`: a diagonal ramp shifted by k in Y (limited range), chroma from k. */
export function makeFrame(k: number, fmt: ProgramFormat = SMALL_FORMAT): ProgramFrame {
  const { width: w, height: h } = fmt;
  const video = new Uint8Array(w * h + 2 * (w >> 1) * (h >> 1));
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) video[row + x] = 16 + ((x + 2 * y + 3 * k) % 220);
  }
  const c = (w >> 1) * (h >> 1);
  video.fill(16 + (k * 5) % 225, w * h, w * h + c);
  video.fill(16 + (k * 11) % 225, w * h + c);
  const samples = samplesForFrame(k, fmt);
  const audio = new Int16Array(samples * fmt.channels);
  for (let i = 0; i < audio.length; i++) audio[i] = ((k * 977 + i * 13) % 65536) - 32768;
  return {
    frameNumber: k,
    pts90k: pts90kForFrame(k, fmt.frameRate),
    wallClockUtcUs: 1_700_000_000_000_000 + Math.round(
      (k * 1e6 * fmt.frameRate.den) /
        fmt.frameRate.num,
    ),
    video,
    audio,
    samples,
    flags: k % 10 === 0 ? FrameFlags.SEGMENT_START : 0,
  };
}

/** Whether a received frame carries exactly the content of `makeFrame(header.frameNumber)`. */
export function frameIsIntact(f: ReceivedFrame, fmt: ProgramFormat = SMALL_FORMAT): boolean {
  const expected = makeFrame(f.header.frameNumber, fmt);
  return bytesEqual(f.video, expected.video) &&
    bytesEqual(
      new Uint8Array(f.audio.buffer, f.audio.byteOffset, f.audio.byteLength),
      new Uint8Array(expected.audio.buffer),
    ) && f.header.flags === expected.flags && f.header.pts90k === expected.pts90k &&
    f.header.wallClockUtcUs === expected.wallClockUtcUs && f.header.samples === expected.samples;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 10 ms until true; rejects after `timeoutMs` (a liveness bound). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** What a {@link Pusher} did. */
export interface PushReport {
  pushed: number;
  /** Frame numbers pushed, in order. */
  frameNumbers: number[];
  /** Most the pusher ran behind its schedule, ms. */
  maxLagMs: number;
  /** Longest single synchronous `push` call, ms. */
  maxPushMs: number;
}

/** Pushes frames `first, first+1, ...` into a sink at `fps` on a wall-clock schedule. */
export class Pusher {
  #stopped = false;
  #done: Promise<PushReport>;

  constructor(
    sink: FrameSink,
    opts: {
      fps?: number;
      first?: number;
      fmt?: ProgramFormat;
      frames?: (k: number) => ProgramFrame;
    } = {},
  ) {
    const fps = opts.fps ?? 30;
    const make = opts.frames ?? ((k: number) => makeFrame(k, opts.fmt ?? SMALL_FORMAT));
    this.#done = (async () => {
      const report: PushReport = { pushed: 0, frameNumbers: [], maxLagMs: 0, maxPushMs: 0 };
      const start = performance.now();
      let k = opts.first ?? 0;
      while (!this.#stopped) {
        const due = start + (report.pushed * 1000) / fps;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        report.maxLagMs = Math.max(report.maxLagMs, performance.now() - due);
        const frame = make(k);
        const t0 = performance.now();
        sink.push(frame);
        report.maxPushMs = Math.max(report.maxPushMs, performance.now() - t0);
        report.frameNumbers.push(k);
        report.pushed++;
        k++;
      }
      return report;
    })();
  }

  /** Stops pushing and returns the report. */
  stop(): Promise<PushReport> {
    this.#stopped = true;
    return this.#done;
  }
}

/** Connects to a sink endpoint as a test reader. */
export function connect(endpoint: FrameSinkEndpoint): Promise<Deno.Conn> {
  if (endpoint.transport === "unix") {
    return Deno.connect({ transport: "unix", path: endpoint.path });
  }
  if (endpoint.transport === "tcp") {
    return Deno.connect({ hostname: endpoint.hostname, port: endpoint.port });
  }
  throw new Error(`cannot connect to ${endpoint.transport}`);
}

/** A reader that collects what arrives on one connection, and can pause reading. */
export class TestReader {
  readonly parser = new FrameStreamParser();
  readonly frames: ReceivedFrame[] = [];
  stream: StreamHeader | undefined;
  /** Bytes received in the order received (first `keepBytes` only). */
  readonly raw: Uint8Array[] = [];
  #rawBytes = 0;
  #paused: Promise<void> | undefined;
  #closed = false;
  readonly done: Promise<void>;

  constructor(readonly conn: Deno.Conn, readonly keepBytes = 0) {
    this.done = this.#loop();
  }

  async #loop(): Promise<void> {
    const buf = new Uint8Array(256 * 1024);
    while (!this.#closed) {
      if (this.#paused) await this.#paused;
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch (e) {
        if (
          this.#closed &&
          (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)
        ) return;
        throw e;
      }
      if (n === null) return;
      const chunk = buf.subarray(0, n);
      if (this.#rawBytes < this.keepBytes) {
        this.raw.push(chunk.slice());
        this.#rawBytes += n;
      }
      for (const item of this.parser.feed(chunk)) {
        if (item.type === "stream") this.stream = item.header;
        else this.frames.push(item);
      }
    }
  }

  /** Stops reading for `ms` (the socket keeps its buffered data). */
  pauseFor(ms: number): Promise<void> {
    this.#paused = sleep(ms).then(() => {
      this.#paused = undefined;
    });
    return this.#paused;
  }

  /** Closes the connection and waits for the loop to end. */
  async close(): Promise<void> {
    this.#closed = true;
    this.conn.close();
    await this.done;
  }
}

/** Sequence numbers of `frames`. */
export function sequences(frames: { header: FrameHeader }[]): number[] {
  return frames.map((f) => f.header.sequence);
}

/** Whether `xs` strictly increases. */
export function strictlyIncreasing(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || x > xs[i - 1]);
}
