/**
 * Shared pieces of the viewer-facing tests (HLS, browser, reverse proxy): a real engine from
 * a config, small media clips, and an HLS playlist reader.
 *
 * @module
 */

import { assert } from "./assert.ts";
import { ffmpegCli } from "./fixtures.ts";
import { parseConfigText } from "../src/config/mod.ts";
import { type PlayoutHandle, startPlayout } from "../src/playout.ts";
import { Logger } from "../src/log/log.ts";

/** A running engine and its HTTP base URL. */
export interface TestEngine {
  handle: PlayoutHandle;
  port: number;
  base: string;
  logs: Record<string, unknown>[];
}

/**
 * Starts the engine with gRPC, metrics and frame sinks kept inside `dir`, HTTP on a free
 * loopback port, and `channelsToml` (the `[[channels]]` tables, plus any other sections).
 */
export async function startEngine(dir: string, channelsToml: string): Promise<TestEngine> {
  const toml = [
    `state_dir = "${dir}/state"`,
    `[grpc]\nunix_socket = "${dir}/playout.sock"`,
    `[metrics]\nenabled = false`,
    channelsToml,
  ].join("\n");
  const config = await parseConfigText(toml, { source: "test", baseDir: dir });
  const logs: Record<string, unknown>[] = [];
  const handle = await startPlayout(
    config,
    new Logger({ level: "info", write: (l) => logs.push(JSON.parse(l)) }),
  );
  const listening = logs.find((l) => l.event === "http_egress_listening");
  assert(listening !== undefined, "the engine serves HTTP");
  const port = listening.port as number;
  return { handle, port, base: `http://127.0.0.1:${port}`, logs };
}

/** `[http]` on a free loopback port, with more keys of that table when given. */
export function httpToml(extra = ""): string {
  return `[http]\nbind = "127.0.0.1"\nport = 0\n${extra}`;
}

/** A small channel table: 160x90 at 25 fps, ultrafast, no frame sink. */
export function channelToml(id: number, source = `{ type = "test_pattern" }`): string {
  return [
    `[[channels]]\nid = ${id}\nname = "Channel ${id}"\nsource = ${source}`,
    `frame_sink = { enabled = false }`,
    `[channels.format]\nwidth = 160\nheight = 90\nframe_rate = "25"`,
    `[channels.video]\npreset = "ultrafast"`,
  ].join("\n");
}

/** A small H.264 + AAC file of `seconds` at 25 fps in `dir`. */
export async function clip(dir: string, name: string, seconds: number, pattern = "testsrc2") {
  const path = `${dir}/${name}`;
  await ffmpegCli([
    ...["-v", "error", "-y", "-f", "lavfi", "-i", `${pattern}=size=64x36:rate=25:d=${seconds}`],
    ...["-f", "lavfi", "-i", `sine=frequency=660:sample_rate=48000:d=${seconds}`],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest", path],
  ]);
  return path;
}

/** One segment line of a media playlist with the tags before it. */
export interface PlaylistSegment {
  uri: string;
  duration: number;
  /** EXT-X-PROGRAM-DATE-TIME, UTC ms, when present. */
  programDateTimeMs?: number;
  discontinuity: boolean;
}

/** A parsed media playlist. */
export interface MediaPlaylist {
  targetDuration: number;
  mediaSequence: number;
  segments: PlaylistSegment[];
  /** Every tag name seen (e.g. `EXT-X-DISCONTINUITY`). */
  tags: string[];
}

/** Parses an HLS media playlist (throws on a missing `#EXTM3U`). */
export function parsePlaylist(text: string): MediaPlaylist {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  assert(lines[0] === "#EXTM3U", `not a playlist: ${text.slice(0, 80)}`);
  const out: MediaPlaylist = { targetDuration: NaN, mediaSequence: NaN, segments: [], tags: [] };
  let pending: Partial<PlaylistSegment> = { discontinuity: false };
  for (const line of lines.slice(1)) {
    if (line.startsWith("#")) {
      const [tag, value = ""] = line.slice(1).split(/:(.*)/s);
      out.tags.push(tag);
      if (tag === "EXT-X-TARGETDURATION") out.targetDuration = Number(value);
      if (tag === "EXT-X-MEDIA-SEQUENCE") out.mediaSequence = Number(value);
      if (tag === "EXT-X-PROGRAM-DATE-TIME") pending.programDateTimeMs = Date.parse(value);
      if (tag === "EXTINF") pending.duration = Number(value.split(",")[0]);
      if (tag === "EXT-X-DISCONTINUITY") pending.discontinuity = true;
      continue;
    }
    assert(pending.duration !== undefined, `segment ${line} without EXTINF`);
    out.segments.push({ ...pending, uri: line } as PlaylistSegment);
    pending = { discontinuity: false };
  }
  return out;
}

/** Runs `ffprobe` on a URL; its parsed JSON output. */
export async function ffprobeUrl(url: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command("ffprobe", {
    args: ["-v", "error", "-of", "json", ...args, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, `ffprobe ${url}: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Polls `fn` every `everyMs` until it returns a value; fails after `boundMs`. */
export async function poll<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  boundMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
