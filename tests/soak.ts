/**
 * The soak: one channel (320×180, 29.97 fps, x264 + AAC, the real encoder and muxer) plays a
 * block session of mixed sources on the virtual clock, as fast as the CPU allows — 24 fps,
 * 25 fps MPEG-2 in TS, 29.97 and 60 fps, 10-bit H.264, audio-only, video-only, audio shorter
 * and longer than the video, missing, unreadable and damaged files, PAD — through a boundary
 * every minute or so. An independent TS reader (below; it shares no code with the engine's
 * analyzer) judges the output as it comes: continuity counters, PTS steps of video and audio,
 * A/V offset at the end. Native memory (glibc malloc in use) is read after the first hour and
 * at the end, both times with a PAD block on air.
 *
 * `deno task soak` plays 24 h (`--hours N`, `--minutes N` for shorter runs; `--json` prints
 * the report as JSON). tests/soak_test.ts runs a few minutes of it in CI.
 *
 * @module
 */

import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { BlockPlan, BlockSegment } from "../src/engine/plan.ts";
import { ffmpegCli, FIXTURE_DIR } from "./fixtures.ts";
import { setFfmpegLogLevel } from "../ffi/mod.ts";

/** What a soak run is asked to do. */
export interface SoakOptions {
  /** Channel time to play, seconds. */
  channelSeconds: number;
  /** Segment lengths, seconds (uniform in [min, max]). */
  segmentSeconds: { min: number; max: number };
  /** Channel time after which native memory is first read (its reference), seconds. */
  memoryReferenceSeconds: number;
  /** PRNG seed of the schedule. */
  seed?: number;
  /** Told about progress (channel seconds played). */
  progress?: (line: string) => void;
}

/** What a soak run found. */
export interface SoakReport {
  channelSeconds: number;
  frames: number;
  /** Segment boundaries aired (segment starts after the first). */
  boundaries: number;
  blocks: number;
  /** Segments scheduled per source kind. */
  sources: Record<string, number>;
  assetErrors: number;
  fallbackFrames: number;
  ccErrors: number;
  videoPtsGaps: number;
  audioPtsGaps: number;
  videoPes: number;
  audioPes: number;
  /** End of video minus end of audio in the TS, ms. */
  avOffsetMs: number;
  frameMs: number;
  mallocReferenceMiB: number;
  mallocEndMiB: number;
  mallocGrowthMiB: number;
  rssEndMiB: number;
  wallSeconds: number;
  selfCheckCcErrors: number;
  selfCheckPcrErrors: number;
}

const EPOCH = Date.UTC(2026, 0, 1);
const FPS = { num: 30000, den: 1001 };

const SPEC: ChannelSpec = {
  id: 1,
  name: "soak",
  format: {
    width: 320,
    height: 180,
    frameRate: FPS,
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  },
  video: { codec: "libx264", preset: "veryfast", crf: 30, keyintFrames: 60 },
  audio: { codec: "aac", bitrateKbps: 96 },
  source: { kind: "none" },
};

// ---- sources --------------------------------------------------------------------------------

interface Source {
  kind: string;
  path: string;
  /** Length, seconds (0: unknown or unplayable). */
  seconds: number;
}

const SOAK_DIR = `${FIXTURE_DIR}soak/`;

const lavfi = (graph: string) => ["-f", "lavfi", "-i", graph];
const video = (size: string, rate: string, s: number) =>
  lavfi(`testsrc2=size=${size}:rate=${rate}:duration=${s}`);
const tone = (s: number, hz = 440) => lavfi(`sine=frequency=${hz}:sample_rate=48000:duration=${s}`);
const h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];
const aac = ["-c:a", "aac", "-b:a", "96k"];

/** The recipes (ffmpeg arguments; bump the name when one changes). */
const RECIPES: { kind: string; name: string; seconds: number; args: string[] }[] = [
  {
    kind: "h264_24fps",
    name: "v24.mp4",
    seconds: 40,
    args: [...video("320x240", "24", 40), ...tone(40), ...h264, ...aac],
  },
  {
    kind: "mpeg2_25fps_ts",
    name: "v25.ts",
    seconds: 40,
    args: [
      ...video("352x288", "25", 40),
      ...tone(40, 550),
      "-c:v",
      "mpeg2video",
      "-b:v",
      "800k",
      "-c:a",
      "mp2",
      "-f",
      "mpegts",
    ],
  },
  {
    kind: "h264_2997fps",
    name: "v2997.mp4",
    seconds: 40,
    args: [...video("320x180", "30000/1001", 40), ...tone(40, 660), ...h264, ...aac],
  },
  {
    kind: "h264_60fps",
    name: "v60.mp4",
    seconds: 30,
    args: [...video("640x360", "60", 30), ...tone(30, 770), ...h264, ...aac],
  },
  {
    kind: "h264_10bit",
    name: "v10bit.mp4",
    seconds: 30,
    args: [
      ...video("320x240", "25", 30),
      ...tone(30, 330),
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-pix_fmt",
      "yuv420p10le",
      ...aac,
    ],
  },
  { kind: "audio_only", name: "audio.m4a", seconds: 40, args: [...tone(40, 880), ...aac] },
  {
    kind: "video_only",
    name: "video_only.mp4",
    seconds: 30,
    args: [...video("320x240", "25", 30), ...h264],
  },
  {
    kind: "audio_shorter",
    name: "a_short.mp4",
    seconds: 40,
    args: [...video("320x240", "25", 40), ...tone(10, 990), ...h264, ...aac],
  },
  {
    kind: "audio_longer",
    name: "a_long.mp4",
    seconds: 40,
    args: [...video("320x240", "25", 10), ...tone(40, 220), ...h264, ...aac],
  },
];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Makes (once) every soak source; returns them with the unplayable ones. */
export async function soakSources(): Promise<Source[]> {
  await Deno.mkdir(SOAK_DIR, { recursive: true });
  const out: Source[] = [];
  for (const r of RECIPES) {
    const path = `${SOAK_DIR}${r.name}`;
    if (!await exists(path)) {
      const tmp = `${path}.${Deno.pid}.tmp.${r.name.split(".").pop()}`;
      await ffmpegCli(["-y", "-hide_banner", "-loglevel", "error", ...r.args, tmp]);
      await Deno.rename(tmp, path);
    }
    out.push({ kind: r.kind, path, seconds: r.seconds });
  }
  // Damaged: a TS with garbage over 2 % of it in the middle (decode errors, plays on).
  const damaged = `${SOAK_DIR}damaged.ts`;
  if (!await exists(damaged)) {
    const bytes = await Deno.readFile(`${SOAK_DIR}v25.ts`);
    let x = 12345;
    const from = Math.floor(bytes.length * 0.5);
    for (let i = from; i < from + Math.floor(bytes.length * 0.02); i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      bytes[i] = x >>> 24;
    }
    await Deno.writeFile(damaged, bytes);
  }
  out.push({ kind: "damaged_ts", path: damaged, seconds: 40 });
  // Unreadable: the first 40 % of an MP4 whose index is at the end; random bytes; missing.
  const truncated = `${SOAK_DIR}truncated.mp4`;
  if (!await exists(truncated)) {
    const bytes = await Deno.readFile(`${SOAK_DIR}v2997.mp4`);
    await Deno.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.4)));
  }
  out.push({ kind: "truncated_mp4", path: truncated, seconds: 0 });
  const noise = `${SOAK_DIR}noise.mp4`;
  if (!await exists(noise)) {
    const bytes = new Uint8Array(64 * 1024);
    let x = 987;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    await Deno.writeFile(noise, bytes);
  }
  out.push({ kind: "random_bytes", path: noise, seconds: 0 });
  out.push({ kind: "missing", path: `${SOAK_DIR}no_such_file.mp4`, seconds: 0 });
  out.push({ kind: "pad", path: "", seconds: 0 });
  return out;
}

// ---- the independent TS reader --------------------------------------------------------------

const VIDEO_TYPES = new Set([0x01, 0x02, 0x1b, 0x24]);
const AUDIO_TYPES = new Set([0x03, 0x04, 0x0f, 0x11]);

/**
 * A minimal MPEG-TS reader written for the soak alone: PAT → PMT → the video and audio PIDs;
 * continuity counters of every PID; the DTS (else PTS) of each video PES and the PTS of each
 * audio PES, whose steps must be one frame (video) and one AAC frame (audio).
 */
export class SoakTsReader {
  #cc = new Map<number, number>();
  #pmtPid = -1;
  #videoPid = -1;
  #audioPid = -1;
  #lastVideo: number | undefined;
  #lastAudio: number | undefined;
  #maxVideoPts = -Infinity;
  #carry = new Uint8Array(0);
  ccErrors = 0;
  videoGaps = 0;
  audioGaps = 0;
  videoPes = 0;
  audioPes = 0;

  constructor(readonly videoStep90k: number, readonly audioStep90k: number) {}

  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#carry.length > 0) {
      data = new Uint8Array(this.#carry.length + chunk.length);
      data.set(this.#carry);
      data.set(chunk, this.#carry.length);
    }
    let o = 0;
    for (; o + 188 <= data.length; o += 188) this.#packet(data.subarray(o, o + 188));
    this.#carry = data.slice(o);
  }

  #packet(p: Uint8Array): void {
    if (p[0] !== 0x47) {
      this.ccErrors++; // lost sync counts as a continuity error
      return;
    }
    const pid = ((p[1] & 0x1f) << 8) | p[2];
    if (pid === 0x1fff) return;
    const pusi = (p[1] & 0x40) !== 0;
    const afc = (p[3] >> 4) & 3;
    const cc = p[3] & 0x0f;
    const hasPayload = (afc & 1) !== 0;
    const discontinuity = (afc & 2) !== 0 && p[4] > 0 && (p[5] & 0x80) !== 0;
    const last = this.#cc.get(pid);
    if (last !== undefined && !discontinuity) {
      const want = hasPayload ? (last + 1) & 0x0f : last;
      if (cc !== want) this.ccErrors++;
    }
    this.#cc.set(pid, cc);
    if (!hasPayload) return;
    const start = afc & 2 ? 5 + p[4] : 4;
    if (start >= 188) return;
    const payload = p.subarray(start);
    if (pid === 0 && pusi) this.#pat(payload);
    else if (pid === this.#pmtPid && pusi) this.#pmt(payload);
    else if (pusi && (pid === this.#videoPid || pid === this.#audioPid)) {
      this.#pes(pid, payload);
    }
  }

  #pat(b: Uint8Array): void {
    const s = 1 + b[0];
    const len = ((b[s + 1] & 0x0f) << 8) | b[s + 2];
    for (let e = s + 8; e + 4 <= s + 3 + len - 4; e += 4) {
      if (((b[e] << 8) | b[e + 1]) !== 0) {
        this.#pmtPid = ((b[e + 2] & 0x1f) << 8) | b[e + 3];
        return;
      }
    }
  }

  #pmt(b: Uint8Array): void {
    const s = 1 + b[0];
    const len = ((b[s + 1] & 0x0f) << 8) | b[s + 2];
    const end = s + 3 + len - 4;
    let e = s + 12 + (((b[s + 10] & 0x0f) << 8) | b[s + 11]);
    while (e + 5 <= end) {
      const type = b[e];
      const pid = ((b[e + 1] & 0x1f) << 8) | b[e + 2];
      if (VIDEO_TYPES.has(type) && this.#videoPid < 0) this.#videoPid = pid;
      if (AUDIO_TYPES.has(type) && this.#audioPid < 0) this.#audioPid = pid;
      e += 5 + (((b[e + 3] & 0x0f) << 8) | b[e + 4]);
    }
  }

  #pes(pid: number, b: Uint8Array): void {
    if (b[0] !== 0 || b[1] !== 0 || b[2] !== 1) return;
    const flags = b[7];
    if (!(flags & 0x80)) return;
    const pts = readTimestamp(b, 9);
    const dts = flags & 0x40 ? readTimestamp(b, 14) : pts;
    if (pid === this.#videoPid) {
      this.videoPes++;
      this.#maxVideoPts = Math.max(this.#maxVideoPts, pts);
      if (
        this.#lastVideo !== undefined && Math.abs(dts - this.#lastVideo - this.videoStep90k) > 1
      ) {
        this.videoGaps++;
      }
      this.#lastVideo = dts;
    } else {
      this.audioPes++;
      if (
        this.#lastAudio !== undefined && Math.abs(pts - this.#lastAudio - this.audioStep90k) > 1
      ) {
        this.audioGaps++;
      }
      this.#lastAudio = pts;
    }
  }

  /** End of the video (last PTS + a frame) minus end of the audio, ms. */
  get avOffsetMs(): number {
    if (this.#lastAudio === undefined || !Number.isFinite(this.#maxVideoPts)) return NaN;
    return ((this.#maxVideoPts + this.videoStep90k) - (this.#lastAudio + this.audioStep90k)) / 90;
  }
}

function readTimestamp(b: Uint8Array, o: number): number {
  return ((b[o] >> 1) & 7) * 2 ** 30 + b[o + 1] * 2 ** 22 + (b[o + 2] >> 1) * 2 ** 15 +
    b[o + 3] * 2 ** 7 + (b[o + 4] >> 1);
}

// ---- the run --------------------------------------------------------------------------------

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const libc = () =>
  Deno.dlopen("libc.so.6", {
    mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
  });

/** glibc malloc in use (uordblks + hblkhd), MiB, after a full collection. */
async function mallocInUseMiB(lib: ReturnType<typeof libc>): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run the soak with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = new BigUint64Array(lib.symbols.mallinfo2().buffer);
  return Number(m[7] + m[4]) / (1024 * 1024);
}

/** Plays the soak and judges it. */
export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const sources = await soakSources();
  setFfmpegLogLevel(-8); // quiet, as in a channel worker: errors reach us typed
  const rand = prng(opts.seed ?? 1);
  const frameMs = (1000 * FPS.den) / FPS.num;
  const reader = new SoakTsReader(Math.round((90000 * FPS.den) / FPS.num), 1920);
  const time = new VirtualTimeSource(EPOCH);
  const counts: Record<string, number> = {};
  let segmentsAired = 0;
  let assetErrors = 0;
  let completed = 0;
  let nextStart = EPOCH;
  let blockNo = 0;
  let lap: Source[] = [];

  // Memory is read while a PAD block is on air (no decoder open), so what differs between the
  // two readings is what leaked, not which source happened to be playing.
  const referenceAt = EPOCH + opts.memoryReferenceSeconds * 1000;
  const endAt = EPOCH + opts.channelSeconds * 1000;
  const quiet: { start: number; end: number }[] = [];
  const pad = sources.find((x) => x.kind === "pad")!;
  const nextBlock = (): BlockPlan => {
    const segments: BlockSegment[] = [];
    const quietBlock = (quiet.length === 0 && nextStart >= referenceAt) ||
      (quiet.length === 1 && nextStart >= endAt);
    for (let i = 0; i < 3; i++) {
      // Every source once per lap, in a shuffled order.
      if (lap.length === 0 && !quietBlock) lap = shuffle([...sources], rand);
      const src = quietBlock ? pad : lap.pop()!;
      const { min, max } = opts.segmentSeconds;
      const durationMs = Math.round((min + rand() * (max - min)) * 1000);
      const offsetMs = src.seconds > 0 ? Math.floor(rand() * src.seconds * 500) : 0;
      counts[src.kind] = (counts[src.kind] ?? 0) + 1;
      segments.push({
        segmentIndex: i,
        assetUri: src.path,
        assetStartOffsetMs: offsetMs,
        durationMs,
        type: src.path ? "content" : "pad",
        eventId: `b${blockNo}s${i}`,
        transitionIn: { type: "none", durationMs: 0 },
        transitionOut: { type: "none", durationMs: 0 },
        segmentUuid: "",
        assetUuid: "",
        gainDb: 0,
      });
    }
    const length = segments.reduce((n, s) => n + s.durationMs, 0);
    if (quietBlock) quiet.push({ start: nextStart, end: nextStart + length });
    const plan: BlockPlan = {
      blockId: `b${blockNo++}`,
      channelId: 1,
      startUtcMs: nextStart,
      endUtcMs: nextStart + length,
      segments,
      broadcastDate: "2026-01-01",
      broadcastDayAnchorUtcMs: EPOCH,
    };
    nextStart = plan.endUtcMs;
    return plan;
  };

  const runner = new ChannelRunner({ spec: SPEC, time, epochUtcMs: EPOCH }, {
    ts: (d) => reader.push(d),
    frame: () => {},
    blockEvent: (e) => {
      if (e.kind === "block_completed") completed++;
    },
    log: (_level, event) => {
      if (event === "segment_started") segmentsAired++;
      if (event === "asset_error") assetErrors++;
    },
  });
  const lib = libc();
  const started = performance.now();
  try {
    runner.startBlockSession([nextBlock(), nextBlock(), nextBlock()], 0);
    const done = runner.run();
    let reference: number | undefined;
    let end: number | undefined;
    let reported = 0;
    const inQuiet = (i: number) =>
      quiet[i] !== undefined && time.now() >= quiet[i].start + 1000 && time.now() < quiet[i].end;
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      const played = (time.now() - EPOCH) / 1000;
      // Keep three blocks queued.
      while (nextStart - time.now() < 3 * opts.segmentSeconds.max * 1000 * 2) {
        runner.feedBlock(nextBlock(), 8);
      }
      if (reference === undefined && inQuiet(0)) reference = await mallocInUseMiB(lib);
      if (inQuiet(1)) {
        // The end reading, like the reference, with the channel on air in a PAD block.
        end = await mallocInUseMiB(lib);
        break;
      }
      if (played - reported >= 600) {
        reported = played;
        opts.progress?.(
          `${(played / 3600).toFixed(2)} h of channel time in ${
            ((performance.now() - started) / 1000).toFixed(0)
          } s; ${segmentsAired} segments, ${reader.ccErrors} CC errors, ${
            reader.videoGaps + reader.audioGaps
          } PTS gaps`,
        );
      }
    }
    const stats = runner.stats();
    runner.stop();
    await done;
    const frames = stats.framesOut;
    return {
      channelSeconds: (frames * frameMs) / 1000,
      frames,
      boundaries: Math.max(0, segmentsAired - 1),
      blocks: completed,
      sources: counts,
      assetErrors,
      fallbackFrames: stats.fallbackFrames,
      ccErrors: reader.ccErrors,
      videoPtsGaps: reader.videoGaps,
      audioPtsGaps: reader.audioGaps,
      videoPes: reader.videoPes,
      audioPes: reader.audioPes,
      avOffsetMs: reader.avOffsetMs,
      frameMs,
      mallocReferenceMiB: reference ?? NaN,
      mallocEndMiB: end ?? NaN,
      mallocGrowthMiB: (end ?? NaN) - (reference ?? NaN),
      rssEndMiB: Deno.memoryUsage().rss / (1024 * 1024),
      wallSeconds: (performance.now() - started) / 1000,
      selfCheckCcErrors: stats.tsSelfCheckCcErrors,
      selfCheckPcrErrors: stats.tsSelfCheckPcrErrors,
    };
  } finally {
    lib.close();
  }
}

/** The pass criteria of the issue; returns what failed (empty: passed). */
export function judgeSoak(r: SoakReport, minBoundaries: number): string[] {
  const failed: string[] = [];
  if (r.ccErrors !== 0) failed.push(`${r.ccErrors} CC errors`);
  if (r.videoPtsGaps !== 0) failed.push(`${r.videoPtsGaps} video PTS gaps`);
  if (r.audioPtsGaps !== 0) failed.push(`${r.audioPtsGaps} audio PTS gaps`);
  if (!(Math.abs(r.avOffsetMs) < r.frameMs)) {
    failed.push(`A/V offset ${r.avOffsetMs} ms at the end`);
  }
  if (!(Math.abs(r.mallocGrowthMiB) <= 10)) failed.push(`malloc grew ${r.mallocGrowthMiB} MiB`);
  if (r.boundaries < minBoundaries) failed.push(`only ${r.boundaries} boundaries`);
  return failed;
}

if (import.meta.main) {
  const args = Deno.args;
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const hours = flag("--hours");
  const minutes = flag("--minutes");
  const channelSeconds = hours !== undefined
    ? hours * 3600
    : minutes !== undefined
    ? minutes * 60
    : 24 * 3600;
  const short = channelSeconds < 3 * 3600;
  // A full day: a boundary every ~65 s (over 1,300); short runs keep the reference an hour in
  // when they can, else a sixth of the way.
  const report = await runSoak({
    channelSeconds,
    segmentSeconds: short && channelSeconds < 1800 ? { min: 3, max: 15 } : { min: 10, max: 120 },
    memoryReferenceSeconds: Math.min(3600, channelSeconds / 6),
    seed: flag("--seed") ?? 1,
    progress: (line) => console.error(line),
  });
  const minBoundaries = channelSeconds >= 24 * 3600 ? 1000 : 0;
  const failed = judgeSoak(report, minBoundaries);
  if (args.includes("--json")) console.log(JSON.stringify({ report, failed }));
  else {
    console.log(JSON.stringify(report, null, 2));
    console.log(failed.length === 0 ? "soak passed" : `soak FAILED: ${failed.join("; ")}`);
  }
  Deno.exit(failed.length === 0 ? 0 : 1);
}
