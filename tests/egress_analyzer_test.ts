import { assert, assertEquals } from "./assert.ts";
import { ffprobe } from "./fixtures.ts";
import { makeTs, PACKET, pidAt } from "./egress_fixtures.ts";
import {
  analyzeTs,
  crc32Mpeg,
  type PidSummary,
  TsAnalyzer,
  type TsSummary,
} from "../media/ts_analyzer.ts";

const dir = await Deno.makeTempDir({ prefix: "egress_analyzer_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const source = await makeTs(dir);
const clean = analyzeTs(source.bytes);
const program = clean.programs[0];
const videoPid = program.streams.find((s) => s.streamType === 0x1b)!.pid;
const audioPid = program.streams.find((s) => s.streamType === 0x0f)!.pid;

function pid(summary: TsSummary, n: number): PidSummary {
  const found = summary.pids.find((p) => p.pid === n);
  assert(found, `pid ${n} missing`);
  return found;
}

/** Offsets of packets on `n` that carry payload and no adaptation flags of interest. */
function payloadPackets(bytes: Uint8Array, n: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < bytes.length; o += PACKET) {
    if (pidAt(bytes, o) === n && (bytes[o + 3] & 0x30) === 0x10) out.push(o);
  }
  return out;
}

function withoutPacket(bytes: Uint8Array, at: number): Uint8Array {
  const out = new Uint8Array(bytes.length - PACKET);
  out.set(bytes.subarray(0, at));
  out.set(bytes.subarray(at + PACKET), at);
  return out;
}

Deno.test("analyzer: a clean ffmpeg TS has no CC, CRC or sync errors and the PMT's streams", () => {
  assertEquals(clean.bytes, source.bytes.length);
  assertEquals(clean.packets, source.bytes.length / PACKET);
  assertEquals(clean.ccErrors, 0);
  assertEquals(clean.crcErrors, 0);
  assertEquals(clean.syncLosses, 0);
  assertEquals(clean.transportErrors, 0);
  assertEquals(clean.programs.length, 1);
  assertEquals(program.streams.map((s) => s.streamType), [0x1b, 0x0f]);
  assertEquals(program.pcrPid, videoPid);
  assertEquals(clean.pcrPid, videoPid);
  assertEquals(pid(clean, videoPid).streamType, 0x1b);
});

Deno.test("analyzer: PTS/DTS steps match 30 fps video and 48 kHz AAC frames", () => {
  const v = pid(clean, videoPid);
  assertEquals(v.dts.minStep, 3000);
  assertEquals(v.dts.maxStep, 3000);
  assertEquals(v.dts.nonMonotonic, 0);
  assertEquals(v.dts.count, 120);
  // B-frames: presentation order differs from decode order.
  assert(v.pts.nonMonotonic > 0, "B-frame PTS should go backwards sometimes");
  const a = pid(clean, audioPid);
  assertEquals(a.pts.minStep, 1920);
  assertEquals(a.pts.maxStep, 1920);
  assertEquals(a.pts.nonMonotonic, 0);
  assertEquals(v.randomAccessCount, 4); // -g 30 over 4 s.
});

Deno.test("analyzer: PES timestamps and keyframes agree with ffprobe's packets", async () => {
  const probe = await ffprobe(source.path, [
    "-show_packets",
    "-show_streams",
    "-show_entries",
    "packet=stream_index,pts,dts,flags:stream=index,codec_type",
  ]) as {
    packets: { stream_index: number; pts: number; dts: number; flags: string }[];
    streams: { index: number; codec_type: string }[];
  };
  const videoIndex = probe.streams.find((s) => s.codec_type === "video")!.index;
  const video = probe.packets.filter((p) => p.stream_index === videoIndex);
  const audio = probe.packets.filter((p) => p.stream_index !== videoIndex);
  const v = pid(clean, videoPid);
  assertEquals(v.pts.values, video.map((p) => p.pts));
  assertEquals(v.dts.values, video.map((p) => p.dts));
  assertEquals(v.randomAccessCount, video.filter((p) => p.flags.startsWith("K")).length);
  // ffprobe splits PES packets that hold several AAC frames; each PES PTS is a packet's PTS.
  const audioPts = new Set(audio.map((p) => p.pts));
  const a = pid(clean, audioPid);
  assert(a.pts.values.length > 100, "audio PES expected");
  assert(a.pts.values.every((t) => audioPts.has(t)), "audio PES PTS not among ffprobe's");
});

Deno.test("analyzer: PCR and PAT/PMT timing of the clean file", () => {
  const pcr = clean.pcr;
  assert(pcr.count > 100, `pcr count ${pcr.count}`);
  // VBR mpegts: FFmpeg can only place a PCR in a video packet, so one per 30 fps frame.
  assert(pcr.intervalMaxMs <= 40, `PCR max interval ${pcr.intervalMaxMs}`);
  assert(pcr.intervalMeanMs > 10 && pcr.intervalMeanMs <= 34, `mean ${pcr.intervalMeanMs}`);
  assertEquals(pcr.gaps, 0);
  assertEquals(pcr.values.length, pcr.count);
  assert(Math.abs(clean.durationMs - 3966.7) < 1, `duration ${clean.durationMs}`);
  assert(clean.pat.count > 40 && clean.pat.timed >= clean.pat.count - 2, "PATs timed");
  assert(clean.pat.intervalMaxMs > 30 && clean.pat.intervalMaxMs < 100, "PAT interval");
  assert(clean.pmt.intervalMaxMs > 30 && clean.pmt.intervalMaxMs < 100, "PMT interval");
});

Deno.test("analyzer: any chunking gives the same summary as one push", () => {
  const a = new TsAnalyzer();
  let seed = 7;
  for (let o = 0; o < source.bytes.length;) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (seed % 1000);
    a.push(source.bytes.subarray(o, o + n));
    o += n;
  }
  assertEquals(a.summary(), clean);
});

Deno.test("analyzer: an injected CC jump counts on that PID only", () => {
  const bytes = source.bytes.slice();
  const candidates = payloadPackets(bytes, videoPid);
  // A payload packet followed by another payload packet of the same PID.
  const at = candidates.find((o, i) => i > 100 && candidates[i + 1] === o + PACKET)!;
  bytes[at + 3] = (bytes[at + 3] & 0xf0) | ((bytes[at + 3] + 5) & 0x0f);
  const s = analyzeTs(bytes);
  assertEquals(pid(s, videoPid).ccErrors, 2); // The jump, and the step back after it.
  assertEquals(pid(s, audioPid).ccErrors, 0);
  assertEquals(s.ccErrors, 2);
});

Deno.test("analyzer: a dropped packet is one CC error; a duplicate once is allowed", () => {
  const video = payloadPackets(source.bytes, videoPid);
  const dropped = analyzeTs(withoutPacket(source.bytes, video[200]));
  assertEquals(pid(dropped, videoPid).ccErrors, 1);
  assertEquals(dropped.ccErrors, 1);

  const at = video[200];
  const dup = new Uint8Array(source.bytes.length + PACKET);
  dup.set(source.bytes.subarray(0, at + PACKET));
  dup.set(source.bytes.subarray(at, at + PACKET), at + PACKET);
  dup.set(source.bytes.subarray(at + PACKET), at + 2 * PACKET);
  const once = analyzeTs(dup);
  assertEquals(pid(once, videoPid).duplicates, 1);
  assertEquals(once.ccErrors, 0);

  const triple = new Uint8Array(dup.length + PACKET);
  triple.set(dup.subarray(0, at + PACKET));
  triple.set(dup.subarray(at, at + PACKET), at + PACKET);
  triple.set(dup.subarray(at + PACKET), at + 2 * PACKET);
  assertEquals(analyzeTs(triple).ccErrors, 1, "a second duplicate is an error");
});

Deno.test("analyzer: the discontinuity indicator excuses a CC jump", () => {
  const bytes = source.bytes.slice();
  // A video packet with an adaptation field (keyframe/PCR packets have one) after the start.
  let at = -1;
  for (let o = 100 * PACKET; o < bytes.length; o += PACKET) {
    if (pidAt(bytes, o) === videoPid && (bytes[o + 3] & 0x30) === 0x30 && bytes[o + 4] > 0) {
      at = o;
      break;
    }
  }
  assert(at > 0);
  // A splice: the counter jumps by 9 from this packet on.
  for (let o = at; o < bytes.length; o += PACKET) {
    if (pidAt(bytes, o) === videoPid) {
      bytes[o + 3] = (bytes[o + 3] & 0xf0) | ((bytes[o + 3] + 9) & 0x0f);
    }
  }
  assertEquals(analyzeTs(bytes).ccErrors, 1, "without the indicator");
  bytes[at + 5] |= 0x80;
  const s = analyzeTs(bytes);
  assertEquals(s.ccErrors, 0);
  assertEquals(pid(s, videoPid).discontinuities, 1);
});

Deno.test("analyzer: removing PCRs shows a PCR gap; removing PATs a long PAT interval", () => {
  const bytes = source.bytes.slice();
  const pcrPackets: number[] = [];
  for (let o = 0; o < bytes.length; o += PACKET) {
    const hasAf = (bytes[o + 3] & 0x20) !== 0 && bytes[o + 4] > 0;
    if (pidAt(bytes, o) === videoPid && hasAf && (bytes[o + 5] & 0x10)) pcrPackets.push(o);
  }
  // Clear the PCR flag of two consecutive PCRs: one interval of three frames (100 ms).
  for (const o of pcrPackets.slice(50, 52)) bytes[o + 5] &= ~0x10;
  const s = analyzeTs(bytes);
  assertEquals(s.pcr.gaps, 1);
  assertEquals(s.pcr.count, clean.pcr.count - 2);
  assert(Math.abs(s.pcr.intervalMaxMs - 100) < 0.01, `max ${s.pcr.intervalMaxMs}`);
  assertEquals(s.ccErrors, 0);

  // Drop every PAT between 1 s and 1.6 s of the byte stream (bitrate is roughly constant).
  const kept: Uint8Array[] = [];
  const from = Math.floor(source.bytes.length / 4 / PACKET) * PACKET;
  const to = Math.floor(source.bytes.length * 0.4 / PACKET) * PACKET;
  let removed = 0;
  for (let o = 0; o < source.bytes.length; o += PACKET) {
    if (o >= from && o < to && pidAt(source.bytes, o) === 0) {
      removed++;
      continue;
    }
    kept.push(source.bytes.subarray(o, o + PACKET));
  }
  const gapped = analyzeTs(new Uint8Array(kept.flatMap((p) => [...p])));
  assert(removed >= 8, `removed ${removed}`);
  assert(gapped.pat.intervalMaxMs > 500, `PAT max ${gapped.pat.intervalMaxMs}`);
  assert(gapped.pmt.intervalMaxMs < 100, "PMT unaffected");
});

Deno.test("analyzer: resyncs after garbage between packets", () => {
  const at = 300 * PACKET;
  const garbage = new Uint8Array(77).fill(0x11);
  const bytes = new Uint8Array(source.bytes.length + garbage.length);
  bytes.set(source.bytes.subarray(0, at));
  bytes.set(garbage, at);
  bytes.set(source.bytes.subarray(at), at + garbage.length);
  const s = analyzeTs(bytes);
  assertEquals(s.syncLosses, 1);
  assertEquals(s.bytesSkipped, 77);
  assertEquals(s.packets, clean.packets);
  assertEquals(s.ccErrors, 0);
});

Deno.test("analyzer: a corrupted PAT fails its CRC; recordValues=false keeps no values", () => {
  const bytes = source.bytes.slice();
  let pat = 0;
  while (pidAt(bytes, pat) !== 0) pat += PACKET;
  // A PAT section of one program is 16 bytes, after the header and pointer_field.
  assertEquals(bytes[pat + 4], 0);
  assertEquals(crc32Mpeg(bytes.subarray(pat + 5, pat + 5 + 16)), 0);
  bytes[pat + 5 + 8] ^= 0x01; // program_number of the first program.
  assertEquals(analyzeTs(bytes).crcErrors, 1);
  const lean = analyzeTs(source.bytes, { recordValues: false });
  assertEquals(lean.ccErrors, 0);
  assertEquals(lean.pcr.values, []);
  assertEquals(pid(lean, videoPid).pts.values, []);
  assertEquals(pid(lean, videoPid).pts.count, 120);
});
