/**
 * `retrovue_playout frames`: the reference frame-sink reader. Connects to a channel's sink and
 * either prints per-second statistics (frames per second, frames lost by sequence gaps, A/V
 * offset, how early frames arrive against their due time) or, with `--y4m`, writes the video
 * as YUV4MPEG2 to stdout so `frames --channel 1 --y4m | ffmpeg -i - ...` works.
 *
 * Runnable alone: `deno run -A src/cli/frames.ts --channel 1`.
 *
 * @module
 */

import {
  type FrameHeader,
  FrameStreamParser,
  PIXEL_FORMAT_I420,
  readFrameStream,
  type StreamHeader,
} from "../outputs/frame_protocol.ts";
import {
  defaultFrameSinkEndpoint,
  formatFrameSinkEndpoint,
  type FrameSinkEndpoint,
  FrameSinkEndpointError,
  parseFrameSinkEndpoint,
} from "../outputs/frame_sink.ts";
import { windowsFrameSinkTcp } from "../config/windows_defaults.ts";

/** Usage text of the `frames` command. */
export const FRAMES_USAGE =
  `Usage: retrovue_playout frames (--channel N | --endpoint PATH|HOST:PORT) [options]

Reads a channel's raw program frames from its frame sink.

  --channel N          connect to the default endpoint of channel N (/run/retrovue/playout-N)
  --endpoint E         connect to a unix socket path or HOST:PORT instead
  --y4m                write the video as YUV4MPEG2 to stdout (C420mpeg2, limited range)
  --count N            stop after N frames
  --json               print the per-second statistics as JSON lines
  -h, --help           show this text

Exit status: 0 when done, 1 when the sink cannot be reached or ends before --count frames,
2 for a usage error.`;

/** A command line the `frames` command does not accept. */
export class FramesUsageError extends Error {
  override name = "FramesUsageError";
  constructor(message: string, readonly value?: unknown) {
    super(message);
  }
}

/** What the `frames` command was asked to do. */
export interface FramesOptions {
  endpoint: FrameSinkEndpoint;
  y4m: boolean;
  count: number | undefined;
  json: boolean;
}

/** Parses the arguments after `frames`. Returns "help" for `--help`; throws {@link FramesUsageError}. */
export function parseFramesArgs(args: string[]): FramesOptions | "help" {
  let endpoint: FrameSinkEndpoint | undefined;
  let y4m = false;
  let json = false;
  let count: number | undefined;
  const positiveInt = (flag: string, text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
      throw new FramesUsageError(`${flag} expects a positive integer`, text);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") && args[i].includes("=")
      ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
      : [args[i], undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "--y4m":
        y4m = true;
        break;
      case "--json":
        json = true;
        break;
      case "--count":
        count = positiveInt(flag, value());
        break;
      case "--channel":
        if (endpoint !== undefined) throw new FramesUsageError("give --channel or --endpoint once");
        endpoint = channelEndpoint(positiveInt(flag, value()));
        break;
      case "--endpoint": {
        if (endpoint !== undefined) throw new FramesUsageError("give --channel or --endpoint once");
        const text = value();
        if (text === undefined) {
          throw new FramesUsageError("--endpoint expects a path or HOST:PORT");
        }
        try {
          endpoint = parseFrameSinkEndpoint(text);
        } catch (e) {
          if (e instanceof FrameSinkEndpointError) throw new FramesUsageError(e.message, text);
          throw e;
        }
        break;
      }
      default:
        throw new FramesUsageError(`unknown argument ${JSON.stringify(args[i])}`, args[i]);
    }
  }
  if (endpoint === undefined) throw new FramesUsageError("--channel N or --endpoint is required");
  return { endpoint, y4m, count, json };
}

/** The sink could not be reached. */
export class FramesConnectError extends Error {
  override name = "FramesConnectError";
  constructor(readonly endpoint: string, reason: string, options?: ErrorOptions) {
    super(`cannot connect to frame sink ${endpoint}: ${reason}`, options);
  }
}

/** Connects to a frame sink endpoint. Throws {@link FramesConnectError}. */
export async function connectFrameSink(endpoint: FrameSinkEndpoint): Promise<Deno.Conn> {
  const where = formatFrameSinkEndpoint(endpoint);
  try {
    switch (endpoint.transport) {
      case "unix":
        return await Deno.connect({ transport: "unix", path: endpoint.path });
      case "tcp":
        return await Deno.connect({ hostname: endpoint.hostname, port: endpoint.port });
      case "pipe":
        throw new FramesConnectError(where, "named pipes are not supported; use HOST:PORT");
    }
  } catch (e) {
    if (e instanceof FramesConnectError) throw e;
    throw new FramesConnectError(where, e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/** The YUV4MPEG2 stream header for frames like `h` (see docs/frame-protocol.md). */
export function y4mHeader(h: Pick<FrameHeader, "width" | "height" | "frameRate">): string {
  return `YUV4MPEG2 W${h.width} H${h.height} F${h.frameRate.num}:${h.frameRate.den} Ip A1:1 ` +
    `C420mpeg2 XCOLORRANGE=LIMITED\n`;
}

/** Running statistics of what a reader received. */
export class ReceiveStats {
  frames = 0;
  /** Frames lost, from gaps in the sequence numbers. */
  dropped = 0;
  audioSamples = 0;
  #lastSequence: number | undefined;
  #videoSeconds = 0;
  #audioRate = 0;
  #lateMsSum = 0;
  #interval = { frames: 0, dropped: 0, lateMsSum: 0, startMs: performance.now() };

  /** Accounts one received frame. */
  add(h: FrameHeader, nowUtcUs = Date.now() * 1000): void {
    if (this.#lastSequence !== undefined && h.sequence > this.#lastSequence + 1) {
      const gap = h.sequence - this.#lastSequence - 1;
      this.dropped += gap;
      this.#interval.dropped += gap;
    }
    this.#lastSequence = h.sequence;
    this.frames++;
    this.#interval.frames++;
    this.audioSamples += h.samples;
    this.#videoSeconds += h.frameRate.den / h.frameRate.num;
    this.#audioRate = h.sampleRate;
    const lateMs = (nowUtcUs - h.wallClockUtcUs) / 1000;
    this.#lateMsSum += lateMs;
    this.#interval.lateMsSum += lateMs;
  }

  /** Audio received minus video received, milliseconds (0 when audio spans the frames). */
  get avOffsetMs(): number {
    return this.#audioRate === 0 ? 0 : (this.audioSamples / this.#audioRate -
      this.#videoSeconds) * 1000;
  }

  /** Mean of (arrival − due time), ms, over all frames; negative when frames come early. */
  get meanLateMs(): number {
    return this.frames === 0 ? 0 : this.#lateMsSum / this.frames;
  }

  /** Statistics since the previous call, and resets the interval. */
  takeInterval(): { fps: number; frames: number; dropped: number; lateMs: number } {
    const now = performance.now();
    const i = this.#interval;
    const seconds = Math.max((now - i.startMs) / 1000, 1e-3);
    const out = {
      fps: i.frames / seconds,
      frames: i.frames,
      dropped: i.dropped,
      lateMs: i.frames === 0 ? 0 : i.lateMsSum / i.frames,
    };
    this.#interval = { frames: 0, dropped: 0, lateMsSum: 0, startMs: now };
    return out;
  }
}

const encoder = new TextEncoder();

async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await w.write(bytes.subarray(off));
}

/** Packs the three planes of a received frame tightly (they already are when strides = widths). */
function packedPlanes(h: FrameHeader, video: Uint8Array): Uint8Array {
  const widths = [h.width, (h.width + 1) >> 1, (h.width + 1) >> 1];
  if (h.planeStrides.every((s, p) => s === widths[p])) return video;
  const rows = [h.height, (h.height + 1) >> 1, (h.height + 1) >> 1];
  const out = new Uint8Array(widths[0] * rows[0] + 2 * widths[1] * rows[1]);
  let src = 0;
  let dst = 0;
  for (let p = 0; p < 3; p++) {
    for (let r = 0; r < rows[p]; r++) {
      out.set(
        video.subarray(src + r * h.planeStrides[p], src + r * h.planeStrides[p] + widths[p]),
        dst,
      );
      dst += widths[p];
    }
    src += h.planeSizes[p];
  }
  return out;
}

/** A frame the Y4M writer cannot express (size change, unknown pixel format). */
export class Y4mFrameError extends Error {
  override name = "Y4mFrameError";
  constructor(message: string, readonly value: unknown) {
    super(message);
  }
}

function formatStats(
  stream: StreamHeader | undefined,
  stats: ReceiveStats,
  json: boolean,
): string {
  const i = stats.takeInterval();
  const record = {
    channel: stream?.channelId,
    fps: Number(i.fps.toFixed(2)),
    frames: stats.frames,
    dropped: stats.dropped,
    droppedInterval: i.dropped,
    avOffsetMs: Number(stats.avOffsetMs.toFixed(2)),
    lateMs: Number(i.lateMs.toFixed(1)),
  };
  if (json) return JSON.stringify(record);
  return `channel=${record.channel ?? "?"} fps=${record.fps.toFixed(2)} frames=${record.frames} ` +
    `dropped=${record.dropped} (+${record.droppedInterval}) av_offset_ms=${
      record.avOffsetMs.toFixed(2)
    } late_ms=${record.lateMs.toFixed(1)}`;
}

/**
 * Runs `frames` with `args` (the words after `frames`); returns the exit status. Errors go to
 * stderr; statistics to stdout (to stderr with `--y4m`, where stdout carries the video).
 */
export async function runFramesCommand(args: string[]): Promise<number> {
  let opts: FramesOptions | "help";
  try {
    opts = parseFramesArgs(args);
  } catch (e) {
    if (!(e instanceof FramesUsageError)) throw e;
    console.error(`frames: ${e.message}\n\n${FRAMES_USAGE}`);
    return 2;
  }
  if (opts === "help") {
    console.log(FRAMES_USAGE);
    return 0;
  }
  let conn: Deno.Conn;
  try {
    conn = await connectFrameSink(opts.endpoint);
  } catch (e) {
    if (!(e instanceof FramesConnectError)) throw e;
    console.error(`frames: ${e.message}`);
    return 1;
  }
  const { y4m, count, json } = opts;
  const report = (line: string) => y4m ? console.error(line) : console.log(line);
  const stats = new ReceiveStats();
  const parser = new FrameStreamParser();
  let stream: StreamHeader | undefined;
  let y4mFormat: FrameHeader | undefined;
  const ticker = y4m
    ? undefined
    : setInterval(() => report(formatStats(stream, stats, json)), 1000);
  let outputClosed = false;
  try {
    for await (const item of readFrameStream(conn, parser)) {
      if (item.type === "stream") {
        stream = item.header;
        continue;
      }
      stats.add(item.header);
      if (y4m) {
        const h = item.header;
        if (y4mFormat === undefined) {
          if (h.pixelFormat !== PIXEL_FORMAT_I420) {
            throw new Y4mFrameError("only I420 frames can be written as YUV4MPEG2", h.pixelFormat);
          }
          y4mFormat = h;
          await writeAll(Deno.stdout, encoder.encode(y4mHeader(h)));
        } else if (h.width !== y4mFormat.width || h.height !== y4mFormat.height) {
          throw new Y4mFrameError("frame size changed mid-stream", {
            width: h.width,
            height: h.height,
          });
        }
        await writeAll(Deno.stdout, encoder.encode("FRAME\n"));
        await writeAll(Deno.stdout, packedPlanes(h, item.video));
      }
      if (count !== undefined && stats.frames >= count) break;
    }
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) {
      outputClosed = true; // The consumer of --y4m went away: stop like `head` would.
    } else if (e instanceof Deno.errors.ConnectionReset) {
      console.error("frames: the sink reset the connection");
    } else if (e instanceof Y4mFrameError) {
      console.error(`frames: ${e.message}: ${JSON.stringify(e.value)}`);
      return 1;
    } else {
      throw e;
    }
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    conn.close();
  }
  report(formatStats(stream, stats, json));
  if (parser.skippedBytes > 0) {
    report(`skipped ${parser.skippedBytes} bytes to find frame boundaries`);
  }
  if (count !== undefined && stats.frames < count && !outputClosed) {
    console.error(`frames: the sink closed after ${stats.frames} of ${count} frames`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await runFramesCommand(Deno.args));

/**
 * The sink of channel `id`: the default endpoint, or where an engine that could not write to
 * /run/retrovue put it (the same fallbacks as the engine: `$XDG_RUNTIME_DIR/retrovue/`, then
 * `/tmp/retrovue-<uid>/`), whichever socket exists; the default when none does. On Windows,
 * the engine's TCP default for the channel.
 */
function channelEndpoint(id: number, os: typeof Deno.build.os = Deno.build.os): FrameSinkEndpoint {
  if (os === "windows") {
    // The engine serves TCP there (no named pipes from Deno): windows_defaults.ts.
    const tcp = windowsFrameSinkTcp(id);
    if (tcp !== undefined) return parseFrameSinkEndpoint(tcp);
  }
  const preferred = defaultFrameSinkEndpoint(id, os);
  if (preferred.transport !== "unix") return preferred;
  const name = `playout-${id}`;
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  const uid = Deno.uid();
  const candidates = [
    preferred.path,
    ...(runtime ? [`${runtime}/retrovue/${name}`] : []),
    ...(uid !== null ? [`/tmp/retrovue-${uid}/${name}`] : []),
  ];
  for (const path of candidates) {
    try {
      if (Deno.lstatSync(path).isSocket) return { transport: "unix", path };
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return preferred;
}
