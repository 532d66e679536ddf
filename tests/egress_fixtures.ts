/**
 * Helpers for the egress tests: a real MPEG-TS made with the `ffmpeg` CLI, a timer-paced
 * "live channel" that pushes it into a fan-out, and small TS packet readers.
 *
 * @module
 */

import { ffmpegCli } from "./fixtures.ts";
import type { TsFanout } from "../src/outputs/ts_fanout.ts";

/** TS packet size. */
export const PACKET = 188;

/** Options of {@link makeTs}. */
export interface MakeTsOptions {
  seconds?: number;
  /** Keyframe interval, frames (30 fps). */
  gop?: number;
}

/**
 * Writes a 320x240 30 fps H.264 + AAC MPEG-TS (PCR every 20 ms, PAT every 50 ms, no mux delay)
 * to `dir` and returns its bytes and path.
 */
export async function makeTs(
  dir: string,
  opts: MakeTsOptions = {},
): Promise<{ path: string; bytes: Uint8Array }> {
  const seconds = opts.seconds ?? 4;
  const path = `${dir}/source_${seconds}s.ts`;
  await ffmpegCli([
    "-v",
    "error",
    "-y",
    ...["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
    ...["-t", String(seconds)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-g", String(opts.gop ?? 30), "-bf", "2"],
    ...["-c:a", "aac", "-b:a", "64k"],
    ...["-f", "mpegts", "-pcr_period", "20", "-pat_period", "0.05"],
    ...["-muxdelay", "0", "-muxpreload", "0"],
    path,
  ]);
  return { path, bytes: await Deno.readFile(path) };
}

/** PID of the packet at `buf[o]`. */
export function pidAt(buf: Uint8Array, o: number): number {
  return ((buf[o + 1] & 0x1f) << 8) | buf[o + 2];
}

/** True when the packet at `buf[o]` starts a payload unit. */
export function pusiAt(buf: Uint8Array, o: number): boolean {
  return (buf[o + 1] & 0x40) !== 0;
}

/** True when the packet at `buf[o]` has the random access indicator. */
export function randomAccessAt(buf: Uint8Array, o: number): boolean {
  return (buf[o + 3] & 0x20) !== 0 && buf[o + 4] > 0 && (buf[o + 5] & 0x40) !== 0;
}

/** Index of `needle` in `hay` (byte strings), or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  if (needle.length === 0) return from;
  const first = needle[0];
  for (let i = hay.indexOf(first, from); i >= 0 && i + needle.length <= hay.length;) {
    let ok = true;
    for (let k = 1; k < needle.length; k++) {
      if (hay[i + k] !== needle[k]) {
        ok = false;
        break;
      }
    }
    if (ok) return i;
    i = hay.indexOf(first, i + 1);
  }
  return -1;
}

/** True when `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Joins byte chunks. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Waits (polling the event loop) until `cond` holds; fails after a generous bound. */
export async function until(cond: () => boolean, what: string, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Options of {@link feedLive}. */
export interface FeedOptions {
  /** Packets per push, cycled (default [7, 1, 21, 50, 3]). */
  packetsPerPush?: number[];
  /** Timer delay between pushes, ms (default 1). */
  intervalMs?: number;
  /** How many times to push the whole stream (default 1). */
  loops?: number;
  /** Stops feeding when aborted. */
  signal?: AbortSignal;
  /** Called before push number `n` (0-based); may await, e.g. to add viewers. */
  beforePush?: (n: number) => void | Promise<void>;
}

/**
 * Pushes `bytes` into `fanout` in chunks of whole packets, paced by a timer as a live channel
 * would. Each push gets its own copy (the fan-out keeps chunks). Resolves with the number of
 * pushes when done; does not close the fan-out.
 */
export async function feedLive(
  fanout: TsFanout,
  bytes: Uint8Array,
  opts: FeedOptions = {},
): Promise<number> {
  const sizes = opts.packetsPerPush ?? [7, 1, 21, 50, 3];
  const interval = opts.intervalMs ?? 1;
  let n = 0;
  for (let loop = 0; loop < (opts.loops ?? 1) && !opts.signal?.aborted; loop++) {
    for (let o = 0; o < bytes.length;) {
      if (opts.signal?.aborted) return n;
      const end = Math.min(bytes.length, o + sizes[n % sizes.length] * PACKET);
      await opts.beforePush?.(n);
      fanout.push(bytes.slice(o, end));
      n++;
      o = end;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }
  return n;
}

/** Offsets of packets in `bytes` that start a video keyframe (PUSI + random access) on `pid`. */
export function keyframeOffsets(bytes: Uint8Array, pid: number): number[] {
  const out: number[] = [];
  for (let o = 0; o + PACKET <= bytes.length; o += PACKET) {
    if (pidAt(bytes, o) === pid && pusiAt(bytes, o) && randomAccessAt(bytes, o)) out.push(o);
  }
  return out;
}

/** Runs a command with `input` on stdin; returns exit status and stderr text. */
export async function runWithInput(
  cmd: string,
  args: string[],
  input: Uint8Array,
): Promise<{ success: boolean; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  // The tool may stop reading early (e.g. after one frame): a broken pipe is fine here.
  const written = await writer.write(input).then(() => true, (err) => {
    if (err instanceof Deno.errors.BrokenPipe) return false;
    throw err;
  });
  if (written) await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { success: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
