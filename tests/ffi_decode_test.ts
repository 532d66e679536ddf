/**
 * Demuxer + Decoder against ffprobe: every good fixture decodes to the same number of frames
 * with the same timestamps; bad fixtures give typed errors, never a crash.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  Decoder,
  Demuxer,
  FfmpegArgumentError,
  FfmpegClosedError,
  FfmpegError,
} from "../ffi/mod.ts";
import {
  ffprobeAudioSamples,
  ffprobeFrameTimes,
  fixture,
  type FixtureName,
  frameNumberFromI420,
} from "./fixtures.ts";
import { Scaler } from "../ffi/mod.ts";

interface Decoded {
  videoTimes: number[];
  audioSamples: number;
  audioRate: number;
}

/** Decodes the best video and audio streams of `path` completely. */
function decodeAll(path: string): Decoded {
  using demuxer = Demuxer.open(path);
  const vi = demuxer.bestStream("video");
  const ai = demuxer.bestStream("audio");
  using video = vi >= 0 ? Decoder.open(demuxer, vi) : undefined;
  using audio = ai >= 0 ? Decoder.open(demuxer, ai) : undefined;
  const out: Decoded = { videoTimes: [], audioSamples: 0, audioRate: 0 };
  const drain = (d: Decoder | undefined) => {
    for (let f = d?.receive(); f; f = d!.receive()) {
      if (f.kind === "video") out.videoTimes.push(f.ptsSeconds!);
      else {
        out.audioSamples += f.samples;
        out.audioRate = f.sampleRate;
      }
      f.free();
    }
  };
  for (let pkt = demuxer.read(); pkt; pkt = demuxer.read()) {
    const d = pkt.streamIndex === vi ? video : pkt.streamIndex === ai ? audio : undefined;
    if (d) {
      d.send(pkt);
      drain(d);
    }
    pkt.free();
  }
  for (const d of [video, audio]) {
    d?.send(null);
    drain(d);
  }
  return out;
}

const GOOD: FixtureName[] = [
  "h264_aac_mp4",
  "mpeg2_ts",
  "vp9_opus_webm",
  "audio_only_m4a",
  "video_only_mp4",
  "odd_853x480",
  "anamorphic_sar",
  "fps_30000_1001",
  "frame_counter",
];

for (const name of GOOD) {
  Deno.test(`decodes ${name} like ffprobe (frame count, PTS, audio samples)`, async () => {
    const path = await fixture(name);
    const got = decodeAll(path);
    using demuxer = Demuxer.open(path);
    const vi = demuxer.bestStream("video");
    const ai = demuxer.bestStream("audio");
    if (vi >= 0) {
      const expected = (await ffprobeFrameTimes(path, vi)).sort((a, b) => a - b);
      const times = got.videoTimes.slice().sort((a, b) => a - b);
      assertEquals(times.length, expected.length, "video frame count");
      assert(times.length > 0, "no video frames");
      for (let i = 0; i < times.length; i++) {
        assert(
          Math.abs(times[i] - expected[i]) < 1e-4,
          `frame ${i}: ${times[i]} vs ${expected[i]}`,
        );
      }
    } else {
      assertEquals(got.videoTimes.length, 0);
    }
    if (ai >= 0) {
      assertEquals(got.audioSamples, await ffprobeAudioSamples(path, ai), "audio samples");
      assertEquals(got.audioRate, demuxer.streams[ai].sampleRate);
    } else {
      assertEquals(got.audioSamples, 0);
    }
  });
}

Deno.test("stream info matches the fixtures' known properties", async () => {
  {
    using d = Demuxer.open(await fixture("anamorphic_sar"));
    const v = d.streams[d.bestStream("video")];
    assertEquals([v.kind, v.codecName, v.width, v.height], ["video", "h264", 720, 480]);
    assertEquals(v.sar, { num: 32, den: 27 });
    assertEquals(v.frameRate, { num: 30000, den: 1001 });
    assertEquals(d.bestStream("audio"), -1);
  }
  {
    using d = Demuxer.open(await fixture("audio_only_m4a"));
    const a = d.streams[d.bestStream("audio")];
    assertEquals([a.kind, a.codecName, a.sampleRate, a.channels], ["audio", "aac", 44100, 1]);
    assertEquals(d.bestStream("video"), -1);
    assert(Math.abs(d.durationSeconds! - 2) < 0.05, `duration ${d.durationSeconds}`);
  }
  {
    using d = Demuxer.open(await fixture("odd_853x480"));
    const v = d.streams[0];
    assertEquals([v.codecName, v.width, v.height], ["vp9", 853, 480]);
  }
  {
    using d = Demuxer.open(await fixture("mpeg2_ts"));
    assertEquals(d.formatName, "mpegts");
    assertEquals(d.streams.map((s) => s.codecName), ["mpeg2video", "mp2"]);
    assert(d.streams[0].startTime! > 1, "TS start time carries the mux delay");
  }
});

Deno.test("frame_counter frames carry their own frame number", async () => {
  using d = Demuxer.open(await fixture("frame_counter"));
  const vi = d.bestStream("video");
  using dec = Decoder.open(d, vi);
  using scaler = new Scaler({ width: 320, height: 240, policy: "preserve" });
  const numbers: number[] = [];
  const take = () => {
    for (let f = dec.receive(); f; f = dec.receive()) {
      numbers.push(frameNumberFromI420(scaler.scale(f), 320, 240));
      f.free();
    }
  };
  for (let p = d.read(); p; p = d.read()) {
    if (p.streamIndex === vi) {
      dec.send(p);
      take();
    }
    p.free();
  }
  dec.send(null);
  take();
  assertEquals(numbers, Array.from({ length: 75 }, (_, i) => i));
});

Deno.test("seek lands on the keyframe at or before the target", async () => {
  const path = await fixture("frame_counter");
  using d = Demuxer.open(path);
  const vi = d.bestStream("video");
  using dec = Decoder.open(d, vi);
  d.seek(2.5);
  dec.flush();
  let first: number | undefined;
  for (let p = d.read(); p && first === undefined; p = d.read()) {
    if (p.streamIndex === vi) {
      dec.send(p);
      const f = dec.receive();
      if (f) {
        first = f.ptsSeconds;
        f.free();
      }
    }
    p.free();
  }
  const keyTimes = (await ffprobeKeyframeTimes(path, vi)).filter((t) => t <= 2.5 + 1e-6);
  assertEquals(keyTimes, [0, 1, 2]);
  assertEquals(first, 2);
});

async function ffprobeKeyframeTimes(path: string, stream: number): Promise<number[]> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-select_streams",
      String(stream),
      "-skip_frame",
      "nokey",
      "-show_entries",
      "frame=pts_time",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim())
    .map((l) => parseFloat(l));
}

Deno.test("bad files give FfmpegError naming the path", async () => {
  for (const name of ["random_bytes_mp4", "empty_mp4"] as const) {
    const path = await fixture(name);
    const err = await assertRejects(() => Demuxer.open(path), FfmpegError);
    assertEquals(err.value, path);
    assert(err.code < 0, `code ${err.code}`);
    assert(err.avMessage.length > 0);
    assert(err.message.includes(path), err.message);
  }
  const missing = `/nonexistent/${crypto.randomUUID()}.mp4`;
  const err = await assertRejects(() => Demuxer.open(missing), FfmpegError, missing);
  assertEquals(err.call, "avformat_open_input");
  assert(/No such file/.test(err.avMessage), err.avMessage);
});

Deno.test("a truncated file decodes what is there, errors are typed", async () => {
  const path = await fixture("truncated_mp4");
  using d = Demuxer.open(path);
  const vi = d.bestStream("video");
  using dec = Decoder.open(d, vi);
  let frames = 0;
  let errors = 0;
  const pull = () => {
    for (;;) {
      try {
        const f = dec.receive();
        if (!f) return;
        frames++;
        f.free();
      } catch (err) {
        if (!(err instanceof FfmpegError)) throw err;
        errors++;
      }
    }
  };
  for (;;) {
    let p;
    try {
      p = d.read();
    } catch (err) {
      if (!(err instanceof FfmpegError)) throw err;
      assertEquals(err.value, path);
      errors++;
      break;
    }
    if (!p) break;
    if (p.streamIndex === vi) {
      try {
        dec.send(p);
      } catch (err) {
        if (!(err instanceof FfmpegError)) throw err;
        errors++;
      }
      pull();
    }
    p.free();
  }
  dec.send(null);
  pull();
  assert(frames > 5 && frames < 50, `decoded ${frames} of 50 frames`);
  assert(errors < 10, `${errors} errors`);
});

Deno.test("use after close and wrong inputs are typed errors", async () => {
  const d = Demuxer.open(await fixture("h264_aac_mp4"));
  const dec = Decoder.open(d, 0);
  const p = d.read()!;
  const other = p.streamIndex === 0 ? undefined : p;
  if (other) await assertRejects(() => dec.send(other), FfmpegArgumentError);
  p.free();
  p.free(); // idempotent
  await assertRejects(() => dec.send(p), FfmpegClosedError);
  await assertRejects(() => Decoder.open(d, 99), FfmpegError);
  dec.close();
  dec.close();
  await assertRejects(() => dec.receive(), FfmpegClosedError);
  d.close();
  await assertRejects(() => d.read(), FfmpegClosedError);
  await assertRejects(() => d.seek(1), FfmpegClosedError);
});

Deno.test("packets sent without receiving are queued, in order, none lost", async () => {
  using d = Demuxer.open(await fixture("frame_counter"));
  const vi = d.bestStream("video");
  using dec = Decoder.open(d, vi, { threads: 1 });
  using scaler = new Scaler({ width: 320, height: 240, policy: "stretch" });
  const packets = [];
  for (let p = d.read(); p; p = d.read()) {
    if (p.streamIndex === vi) packets.push(p);
    else p.free();
  }
  // 60 packets in without a single receive(): the decoder refuses some, the wrapper keeps them.
  for (const p of packets.slice(0, 60)) {
    dec.send(p);
    p.free();
  }
  dec.send(null); // drain requested while packets are still queued: starts after them
  const numbers: number[] = [];
  for (let f = dec.receive(); f; f = dec.receive()) {
    numbers.push(frameNumberFromI420(scaler.scale(f), 320, 240));
    f.free();
  }
  // 60 packets in decode order hold frames 0..58 and one later frame (B-frame reordering).
  assertEquals(numbers.length, 60);
  assertEquals(numbers.slice(0, 59), Array.from({ length: 59 }, (_, i) => i));
  assert(numbers[59] > 58, `last frame ${numbers[59]}`);
  for (const p of packets.slice(60)) p.free();
});
