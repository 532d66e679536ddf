/**
 * Audio and video of a file end independently, and timestamps that jump or leave gaps keep
 * A/V in place: a file producer driven frame by frame, judged by the frame number burned into
 * each picture and by where the tone is in the audio.
 */

import { assert, assertEquals } from "./assert.ts";
import { ffmpegCli, FIXTURE_DIR, frameNumberBand, frameNumberFromI420 } from "./fixtures.ts";
import { FileProducer } from "../src/engine/producers/file_producer.ts";
import { analyzeTs, isVideoStreamType } from "../media/ts_analyzer.ts";
import type { ProgramFormat } from "../media/program_format.ts";

const FMT: ProgramFormat = {
  width: 320,
  height: 240,
  frameRate: { num: 25, den: 1 },
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve",
};
const SAMPLES = 48000 / 25;

/** Makes (once) a clip from ffmpeg arguments; `name` must change when the recipe does. */
async function clip(name: string, args: string[]): Promise<string> {
  const path = `${FIXTURE_DIR}rt_${name}`;
  try {
    await Deno.stat(path);
    return path;
  } catch {
    await Deno.mkdir(FIXTURE_DIR, { recursive: true });
    const tmp = `${path}.${Deno.pid}.tmp.${name.split(".").pop()}`;
    await ffmpegCli(["-y", "-hide_banner", "-loglevel", "error", ...args, tmp]);
    await Deno.rename(tmp, path);
    return path;
  }
}

const video = (seconds: number) => [
  "-f",
  "lavfi",
  "-i",
  `testsrc2=size=320x240:rate=25:duration=${seconds},${frameNumberBand(320)}`,
];
const tone = (seconds: number) => [
  "-f",
  "lavfi",
  "-i",
  `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
];
const h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"];

/** The TS without the packets of audio PES whose PTS lies in [from, to) seconds. */
function dropAudio(ts: Uint8Array, from: number, to: number): Uint8Array {
  const audioPid = analyzeTs(ts).programs[0].streams.find((s) => !isVideoStreamType(s.streamType))!
    .pid;
  const kept: number[] = [];
  let dropping = false;
  for (let o = 0; o + 188 <= ts.length; o += 188) {
    const pid = ((ts[o + 1] & 0x1f) << 8) | ts[o + 2];
    if (pid === audioPid) {
      if (ts[o + 1] & 0x40) {
        const afc = (ts[o + 3] >> 4) & 3;
        const h = o + (afc & 2 ? 5 + ts[o + 4] : 4); // PES header
        const p = h + 9;
        const pts = ((ts[p] >> 1) & 7) * 2 ** 30 + ts[p + 1] * 2 ** 22 +
          (ts[p + 2] >> 1) * 2 ** 15 +
          ts[p + 3] * 2 ** 7 + (ts[p + 4] >> 1);
        const t = pts / 90000 - 1.4; // mpegts starts at 1.4 s
        dropping = t >= from && t < to;
      }
      if (dropping) continue;
    }
    for (let i = 0; i < 188; i++) kept.push(ts[o + i]);
  }
  return new Uint8Array(kept);
}

/** Peak of an interleaved S16 buffer. */
function peak(a: Int16Array): number {
  let p = 0;
  for (const v of a) p = Math.max(p, Math.abs(v));
  return p;
}

interface Played {
  frames: number[];
  peaks: number[];
  maxBuffered: { pictures: number; audioSeconds: number };
  decodedAhead: number;
}

/** Plays `n` output frames; frame numbers (-1: held/black), audio peaks, buffering high marks. */
function play(path: string, n: number): Played {
  const p = new FileProducer(path, FMT, { threads: 1 });
  const out: Played = {
    frames: [],
    peaks: [],
    maxBuffered: { pictures: 0, audioSeconds: 0 },
    decodedAhead: 0,
  };
  let last = -1;
  try {
    for (let k = 0; k < n; k++) {
      const pic = p.nextVideo({ frameNumber: k, dueUtcMs: k * 40 });
      const num = pic ? frameNumberFromI420(pic, FMT.width, FMT.height) : -1;
      out.frames.push(num === last && pic ? -2 : num); // -2: the same picture again
      last = num;
      const audio = p.nextAudio(SAMPLES);
      assertEquals(audio.length <= SAMPLES * 2, true);
      out.peaks.push(audio.length < SAMPLES * 2 ? -1 : peak(audio));
      const b = p.buffered;
      out.maxBuffered.pictures = Math.max(out.maxBuffered.pictures, b.pictures);
      out.maxBuffered.audioSeconds = Math.max(out.maxBuffered.audioSeconds, b.audioSeconds);
      out.decodedAhead = Math.max(out.decodedAhead, p.counters.decoded - (k + 1));
    }
  } finally {
    p.close();
  }
  return out;
}

Deno.test("audio 3 s, video 10 s: the picture never freezes, silence follows the audio, decoding stays in step", async () => {
  const path = await clip("a3_v10.mp4", [...video(10), ...tone(3), ...h264, "-c:a", "aac"]);
  const r = play(path, 250);
  // Every output frame shows its own source frame: no freeze when the audio ends.
  assertEquals(r.frames, Array.from({ length: 250 }, (_, k) => k));
  // Tone for the first 3 s (a frame of margin for the AAC tail), silence (kept in place) after.
  assert(
    r.peaks.slice(0, 74).every((p) => p > 1000),
    `tone missing early: ${r.peaks.slice(0, 74)}`,
  );
  assert(r.peaks.slice(78).every((p) => p === 0 || p === -1), "sound after the audio ended");
  // Decoding never runs ahead of the output by more than the bounded queue.
  assert(r.decodedAhead <= 40, `decoded ${r.decodedAhead} pictures ahead`);
  assert(r.maxBuffered.pictures <= 32, `queued ${r.maxBuffered.pictures} pictures`);
});

Deno.test("video 3 s, audio 10 s: audio plays on continuously and its buffer stays bounded", async () => {
  const path = await clip("v3_a10.mp4", [...video(3), ...tone(10), ...h264, "-c:a", "aac"]);
  const r = play(path, 250);
  assertEquals(r.frames.slice(0, 75), Array.from({ length: 75 }, (_, k) => k));
  // After the last picture: nothing new (held by the timeline, or the same picture again).
  assert(r.frames.slice(75).every((f) => f < 0), `pictures after the video ended: ${r.frames}`);
  // The tone is there in every frame up to the end of the audio (last frame: the AAC tail).
  assert(r.peaks.slice(0, 249).every((p) => p > 1000), "audio gap while the video ended");
  assert(r.maxBuffered.audioSeconds <= 2.1, `audio buffered ${r.maxBuffered.audioSeconds} s`);
});

Deno.test("a 1 s hole in the audio becomes silence in place: the tone comes back on time", async () => {
  // 5 s of tone in MPEG-TS, then the audio PES packets of 2–3 s cut out of the stream.
  const whole = await clip("audio_full.ts", [
    ...video(5),
    ...tone(5),
    ...h264,
    ...["-c:a", "mp2", "-f", "mpegts"],
  ]);
  const path = `${FIXTURE_DIR}rt_audio_hole.ts`;
  await Deno.writeFile(path, dropAudio(await Deno.readFile(whole), 2, 3));
  const r = play(path, 125);
  assertEquals(r.frames.filter((f) => f >= 0).length, 125, "every frame has its own picture");
  assert(r.peaks.slice(2, 48).every((p) => p > 1000), "tone before the hole");
  assert(
    r.peaks.slice(52, 74).every((p) => p === 0),
    `sound in the hole: ${r.peaks.slice(48, 80)}`,
  );
  assert(r.peaks.slice(77, 123).every((p) => p > 1000), "tone after the hole is missing or late");
});

Deno.test("timestamps that jump 20 s mid-file are re-anchored: pictures and audio play on", async () => {
  const first = await clip("jump_a.ts", [
    ...video(2),
    ...tone(2),
    ...h264,
    ...["-c:a", "mp2", "-f", "mpegts"],
  ]);
  // The same numbering continued (frames 50..99), its timestamps 20 s further on.
  const second = await clip("jump_b.ts", [
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=320x240:rate=25:duration=4,${
      frameNumberBand(320)
    },trim=start_frame=50,setpts=PTS-STARTPTS`,
    ...tone(2),
    ...h264,
    ...["-c:a", "mp2", "-output_ts_offset", "22", "-f", "mpegts"],
  ]);
  const joined = `${FIXTURE_DIR}rt_jump.ts`;
  await Deno.writeFile(
    joined,
    new Uint8Array([...await Deno.readFile(first), ...await Deno.readFile(second)]),
  );
  const r = play(joined, 100);
  const shown = r.frames.filter((f) => f >= 0);
  // No 20 s freeze: the second part's pictures follow the first's within a few frames.
  assert(shown.length >= 95, `only ${shown.length} new pictures in 100 frames: ${r.frames}`);
  assertEquals(shown.slice(0, 50), Array.from({ length: 50 }, (_, k) => k));
  assert(shown.slice(-10).every((f) => f >= 90), `late pictures ${shown.slice(-10)}`);
  // Audio plays on across the jump (a frame of slack either side of it).
  const missing = r.peaks.slice(1, 98).filter((p, i) => p < 1000 && (i < 47 || i > 52));
  assertEquals(missing, [], "audio missing around the jump");
});

Deno.test("shedding skips decoding non-reference pictures and still delivers a picture per frame", async () => {
  // B-frames nothing references (no pyramid): the pictures a shedding decoder may skip.
  const path = await clip("bframes.mp4", [
    ...video(4),
    ...tone(4),
    ...["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-x264-params", "b-pyramid=none"],
    ...["-pix_fmt", "yuv420p", "-c:a", "aac"],
  ]);
  const run = (shed: boolean) => {
    const p = new FileProducer(path, FMT, { threads: 1 });
    p.setShedding(shed ? "nonref" : "none");
    let pictures = 0;
    for (let k = 0; k < 100; k++) {
      if (p.nextVideo({ frameNumber: k, dueUtcMs: k * 40 })) pictures++;
      p.nextAudio(SAMPLES);
    }
    const decoded = p.counters.decoded;
    p.close();
    return { pictures, decoded };
  };
  const normal = run(false);
  const shed = run(true);
  assertEquals(normal.decoded, 100);
  assert(shed.decoded < 60, `decoded ${shed.decoded} of 100 while shedding`);
  assertEquals([normal.pictures, shed.pictures], [100, 100]);
});
