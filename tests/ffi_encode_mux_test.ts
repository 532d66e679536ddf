/**
 * VideoEncoder + AudioEncoder + Muxer: a clip transcoded to MPEG-TS in memory and to a file,
 * judged by ffprobe/ffmpeg (codecs, frame counts, duration, GOP, clean decode) and by the TS
 * bytes themselves (188-byte packets, PCR spacing).
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  AudioEncoder,
  Decoder,
  Demuxer,
  type EncodedPacket,
  FfmpegArgumentError,
  FfmpegError,
  Muxer,
  Resampler,
  Scaler,
  VideoEncoder,
} from "../ffi/mod.ts";
import { ffprobe, fixture } from "./fixtures.ts";

const TS_OPTIONS = {
  pcr_period: "20",
  pat_period: "0.05",
  sdt_period: "0.5",
  muxdelay: "0",
  muxpreload: "0",
};

interface Transcode {
  chunks: Uint8Array[];
  videoFrames: number;
  videoPackets: EncodedPacket[];
}

/** Transcodes fixture fps_30000_1001 (60 frames, 2 s) to 320x180 TS with the given codecs. */
async function transcode(
  video: "libx264" | "mpeg2video",
  audio: "aac" | "mp2",
  keyint: number,
  file?: string,
  options: Record<string, string> = TS_OPTIONS,
): Promise<Transcode> {
  using d = Demuxer.open(await fixture("fps_30000_1001"));
  const vi = d.bestStream("video");
  const ai = d.bestStream("audio");
  using vdec = Decoder.open(d, vi);
  using adec = Decoder.open(d, ai);
  using scaler = new Scaler({ width: 320, height: 180, policy: "preserve" });
  using resampler = new Resampler({ sampleRate: 48000, channels: 2 });
  const frameRate = { num: 30000, den: 1001 };
  using venc = new VideoEncoder({
    codec: video,
    width: 320,
    height: 180,
    frameRate,
    keyint,
    preset: "veryfast",
    crf: 23,
    bitrateKbps: video === "mpeg2video" ? 1500 : undefined,
  });
  using aenc = new AudioEncoder({ codec: audio, sampleRate: 48000, channels: 2, bitrateKbps: 128 });
  using mux = new Muxer({ format: "mpegts", options, file });
  const vs = mux.addStream(venc);
  const as = mux.addStream(aenc);
  mux.writeHeader();
  const out: Transcode = { chunks: [], videoFrames: 0, videoPackets: [] };
  const writeVideo = (pkts: EncodedPacket[]) => {
    for (const p of pkts) {
      out.videoPackets.push(p);
      mux.write(vs, p);
    }
  };
  const writeAudio = (pkts: EncodedPacket[]) => pkts.forEach((p) => mux.write(as, p));
  const pump = (dec: Decoder) => {
    for (let f = dec.receive(); f; f = dec.receive()) {
      if (f.kind === "video") writeVideo(venc.encode(scaler.scale(f), out.videoFrames++));
      else writeAudio(aenc.encode(resampler.convert(f)));
      f.free();
    }
  };
  for (let p = d.read(); p; p = d.read()) {
    const dec = p.streamIndex === vi ? vdec : p.streamIndex === ai ? adec : undefined;
    if (dec) {
      dec.send(p);
      pump(dec);
    }
    p.free();
    out.chunks.push(mux.takeOutput());
  }
  vdec.send(null);
  pump(vdec);
  adec.send(null);
  pump(adec);
  writeVideo(venc.encode(null, 0));
  writeAudio(aenc.encode(resampler.convert(null)));
  writeAudio(aenc.encode(null));
  out.chunks.push(mux.finish());
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return all;
}

/** PCR values (27 MHz) in stream order, from adaptation fields. */
function pcrs(ts: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 188 <= ts.length; i += 188) {
    const afc = (ts[i + 3] >> 4) & 3;
    if ((afc & 2) === 0 || ts[i + 4] < 7 || (ts[i + 5] & 0x10) === 0) continue;
    const b = ts.subarray(i + 6, i + 12);
    const base = b[0] * 2 ** 25 + b[1] * 2 ** 17 + b[2] * 2 ** 9 + b[3] * 2 ** 1 + (b[4] >> 7);
    const ext = ((b[4] & 1) << 8) | b[5];
    out.push(base * 300 + ext);
  }
  return out;
}

function pcrGapsMs(ts: Uint8Array): number[] {
  const p = pcrs(ts);
  return p.slice(1).map((v, i) => (v - p[i]) / 27_000);
}

async function judge(path: string) {
  const json = await ffprobe(path, [
    "-count_frames",
    "-show_entries",
    "stream=codec_name,codec_type,nb_read_frames,width,height,sample_rate,channels:format=duration",
  ]);
  const decode = await new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-f", "null", "-"],
    stderr: "piped",
  }).output();
  const keyframes = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-select_streams",
      "v",
      "-show_entries",
      "frame=key_frame",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
  }).output();
  const keys = new TextDecoder().decode(keyframes.stdout).split("\n").filter((l) => l.trim())
    .map((l) => parseInt(l));
  return {
    streams: json.streams as Array<Record<string, string | number>>,
    duration: Number((json.format as Record<string, string>).duration),
    decodeErrors: new TextDecoder().decode(decode.stderr).trim(),
    keyIndexes: keys.flatMap((k, i) => (k === 1 ? [i] : [])),
  };
}

Deno.test("H.264 + AAC to MPEG-TS in memory: ffprobe reads what went in", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t = await transcode("libx264", "aac", 15);
    for (const c of t.chunks) assertEquals(c.length % 188, 0, "whole TS packets per chunk");
    const ts = concat(t.chunks);
    for (let i = 0; i < ts.length; i += 188) assertEquals(ts[i], 0x47, `sync byte at ${i}`);
    assert(t.chunks.filter((c) => c.length > 0).length > 5, "output arrives while muxing");
    const path = `${dir}/out.ts`;
    await Deno.writeFile(path, ts);
    const j = await judge(path);
    assertEquals(j.decodeErrors, "");
    const v = j.streams.find((s) => s.codec_type === "video")!;
    const a = j.streams.find((s) => s.codec_type === "audio")!;
    assertEquals([v.codec_name, v.width, v.height, Number(v.nb_read_frames)], [
      "h264",
      320,
      180,
      60,
    ]);
    assertEquals([a.codec_name, Number(a.sample_rate), a.channels], ["aac", 48000, 2]);
    assert(Math.abs(j.duration - 2.0) < 0.1, `duration ${j.duration}`);
    assertEquals(j.keyIndexes, [0, 15, 30, 45], "fixed closed GOP, no scene-cut keyframes");
    // Encoder packets: pts are the frame numbers, every one present once.
    assertEquals(t.videoPackets.map((p) => p.pts).sort((a, b) => a - b), [...Array(60).keys()]);
    assert(t.videoPackets.filter((p) => p.isKey).length === 4);
    // VBR: a PCR rides on the next packet after pcr_period, so gaps stay within one frame.
    const gaps = pcrGapsMs(ts);
    assert(gaps.length > 50, `${gaps.length} PCRs`);
    assert(Math.max(...gaps) <= 34, `max PCR gap ${Math.max(...gaps)} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CBR (muxrate) MPEG-TS keeps PCRs within pcr_period", async () => {
  const t = await transcode("libx264", "aac", 15, undefined, { ...TS_OPTIONS, muxrate: "2000000" });
  const ts = concat(t.chunks);
  const gaps = pcrGapsMs(ts);
  assert(gaps.length > 90, `${gaps.length} PCRs`);
  // pcr_period 20 ms plus at most two TS packets at 2 Mbit/s (0.75 ms each).
  assert(Math.max(...gaps) <= 21.6, `max PCR gap ${Math.max(...gaps)} ms`);
  // 2 Mbit/s of TS for ~2 s.
  assert(Math.abs((ts.length * 8) / 2_000_000 - 2) < 0.2, `${ts.length} bytes`);
});

Deno.test("MPEG-2 + MP2 to a TS file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/out.ts`;
    const t = await transcode("mpeg2video", "mp2", 15, path);
    assertEquals(concat(t.chunks).length, 0, "file mode keeps nothing in memory");
    const j = await judge(path);
    assertEquals(j.decodeErrors, "");
    const v = j.streams.find((s) => s.codec_type === "video")!;
    const a = j.streams.find((s) => s.codec_type === "audio")!;
    assertEquals([v.codec_name, Number(v.nb_read_frames)], ["mpeg2video", 60]);
    assertEquals([a.codec_name, Number(a.sample_rate)], ["mp2", 48000]);
    assertEquals(j.keyIndexes, [0, 15, 30, 45]);
    assert(Math.abs(j.duration - 2.0) < 0.1, `duration ${j.duration}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("audio encoder buffers any input length and pads the last frame", () => {
  using enc = new AudioEncoder({ codec: "aac", sampleRate: 48000, channels: 2, bitrateKbps: 96 });
  assertEquals([enc.frameSamples, enc.initialPadding], [1024, 1024]);
  const packets: EncodedPacket[] = [];
  let fed = 0;
  for (const n of [1, 700, 1601, 3000, 17]) {
    packets.push(...enc.encode(new Int16Array(n * 2).fill(1000)));
    fed += n;
  }
  packets.push(...enc.encode(null));
  assertEquals(enc.samplesEncoded, Math.ceil(fed / 1024) * 1024);
  // Timestamps continue in steps of one frame, starting at -initialPadding.
  assertEquals(packets[0].pts, -1024);
  for (let i = 1; i < packets.length; i++) assertEquals(packets[i].pts - packets[i - 1].pts, 1024);
  assertEquals(packets.length, Math.ceil(fed / 1024) + 1);
});

Deno.test("encoder and muxer misuse gives typed errors", async () => {
  const rate = { num: 25, den: 1 };
  await assertRejects(
    () =>
      new VideoEncoder({ codec: "libx264", width: 321, height: 180, frameRate: rate, keyint: 25 }),
    FfmpegArgumentError,
  );
  await assertRejects(
    () => new AudioEncoder({ codec: "aac", sampleRate: 48000, channels: 2, bitrateKbps: 0 }),
    FfmpegArgumentError,
  );
  const badPreset = await assertRejects(
    () =>
      new VideoEncoder({
        codec: "libx264",
        width: 64,
        height: 64,
        frameRate: rate,
        keyint: 5,
        preset: "nosuchpreset",
      }),
    FfmpegError,
  );
  assertEquals(badPreset.call, "avcodec_open2");
  using venc = new VideoEncoder({
    codec: "libx264",
    width: 64,
    height: 64,
    frameRate: rate,
    keyint: 5,
  });
  await assertRejects(() => venc.encode(new Uint8Array(10), 0), FfmpegArgumentError);
  venc.encode(null, 0);
  await assertRejects(() => venc.encode(new Uint8Array(64 * 64 * 3 / 2), 1), FfmpegArgumentError);

  using mux = new Muxer({ format: "mpegts", options: { bogus_option: "1" } });
  await assertRejects(
    () => mux.write(0, { data: new Uint8Array(1), pts: 0, dts: 0, duration: 0, isKey: true }),
    FfmpegArgumentError,
  );
  using enc2 = new VideoEncoder({
    codec: "libx264",
    width: 64,
    height: 64,
    frameRate: rate,
    keyint: 5,
  });
  mux.addStream(enc2);
  const unknown = await assertRejects(() => mux.writeHeader(), FfmpegArgumentError);
  assertEquals(unknown.value, ["bogus_option"]);

  const bad = `/nonexistent/${crypto.randomUUID()}/out.ts`;
  const err = await assertRejects(() => new Muxer({ format: "mpegts", file: bad }), FfmpegError);
  assertEquals([err.call, err.value], ["avio_open", bad]);
});

Deno.test("packets fed natively (encodeInto, repeatInto) make the same TS as JS copies through write()", async () => {
  const width = 160, height = 96, frames = 40, offset = 30;
  const frameRate = { num: 30, den: 1 };
  const picture = (k: number) => {
    const p = new Uint8Array((width * height * 3) / 2);
    for (let i = 0; i < width * height; i++) p[i] = ((i % width) * 3 + k * 7 + (i >> 5)) & 0xff;
    p.fill(96 + (k % 64), width * height);
    return p;
  };
  const audio = (k: number) => {
    const s = new Int16Array(1600 * 2);
    for (let i = 0; i < s.length; i++) s[i] = Math.round(8000 * Math.sin((k * 1600 + i) / 9));
    return s;
  };
  /** Frame k repeats the previous picture when k % 7 === 3; every 10th is a forced keyframe. */
  const run = (native: boolean) => {
    // mpeg2video: its output is the same for the same input (libx264's is not, from one
    // encoder to the next), and its B-frames keep references to the input picture.
    using venc = new VideoEncoder({
      codec: "mpeg2video",
      width,
      height,
      frameRate,
      keyint: 31,
      threads: 1,
    });
    using aenc = new AudioEncoder({
      codec: "aac",
      sampleRate: 48000,
      channels: 2,
      bitrateKbps: 96,
    });
    using mux = new Muxer({ format: "mpegts", options: TS_OPTIONS });
    const vs = mux.addStream(venc);
    const as = mux.addStream(aenc);
    mux.writeHeader();
    const vin = mux.input(vs, { offset });
    const ain = mux.input(as, { offset: offset * 1600 });
    const copyOut = (index: number, off: number, pkts: EncodedPacket[]) => {
      for (const p of pkts) mux.write(index, { ...p, pts: p.pts + off, dts: p.dts + off });
    };
    const chunks: Uint8Array[] = [];
    const videoPts: number[] = [];
    let last = picture(0);
    for (let k = 0; k < frames; k++) {
      const repeat = k % 7 === 3;
      if (!repeat) last = picture(k);
      const key = k % 10 === 0;
      if (native) {
        const timing = repeat ? venc.repeatInto(vin, k, key) : venc.encodeInto(vin, last, k, key);
        videoPts.push(...timing.map((t) => t.pts));
        aenc.encodeInto(ain, audio(k));
      } else {
        const pkts = venc.encode(last, k, key);
        videoPts.push(...pkts.map((p) => p.pts));
        copyOut(vs, offset, pkts);
        copyOut(as, offset * 1600, aenc.encode(audio(k)));
      }
      chunks.push(mux.takeOutput());
    }
    if (native) {
      videoPts.push(...venc.encodeInto(vin, null, 0).map((t) => t.pts));
      aenc.encodeInto(ain, null);
    } else {
      const pkts = venc.encode(null, 0);
      videoPts.push(...pkts.map((p) => p.pts));
      copyOut(vs, offset, pkts);
      copyOut(as, offset * 1600, aenc.encode(null));
    }
    chunks.push(mux.finish());
    return { ts: concat(chunks), videoPts, chunks };
  };
  const copied = run(false);
  const native = run(true);
  assert(native.ts.length > 10 * 188, `TS of ${native.ts.length} bytes`);
  assert(native.chunks.every((c) => c.length % 188 === 0), "every chunk is whole TS packets");
  assertEquals(native.videoPts.toSorted((a, b) => a - b), [...Array(frames).keys()]);
  assertEquals(native.videoPts, copied.videoPts);
  assert(
    native.ts.length === copied.ts.length && native.ts.every((b, i) => b === copied.ts[i]),
    `native path TS (${native.ts.length} B) differs from the copy path's (${copied.ts.length} B)`,
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/native.ts`;
    await Deno.writeFile(path, native.ts);
    const j = await judge(path);
    assertEquals(j.decodeErrors, "");
    const v = j.streams.find((s) => s.codec_type === "video")!;
    assertEquals(Number(v.nb_read_frames), frames);
    // Forced keyframes at every 10th frame.
    for (const k of [0, 10, 20, 30]) assert(j.keyIndexes.includes(k), `${k} in ${j.keyIndexes}`);
    // The repeated frames show the previous picture: frame 3 decodes equal to frame 2.
    const png = (n: number) =>
      new Deno.Command("ffmpeg", {
        args: [
          "-v",
          "error",
          "-i",
          path,
          "-vf",
          `select=eq(n\\,${n})`,
          "-frames:v",
          "1",
          "-f",
          "rawvideo",
          "-pix_fmt",
          "gray",
          "-",
        ], // deno-fmt-ignore
        stdout: "piped",
      }).output().then((o) => o.stdout);
    const [f2, f3, f4] = await Promise.all([png(2), png(3), png(4)]);
    const diff = (a: Uint8Array, b: Uint8Array) =>
      a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / a.length;
    assertEquals(f2.length, width * height);
    assert(diff(f2, f3) < diff(f3, f4), `repeat ${diff(f2, f3)} vs next ${diff(f3, f4)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a muxer input takes only its own encoder's packets", async () => {
  const rate = { num: 25, den: 1 };
  const opts = { codec: "libx264" as const, width: 64, height: 64, frameRate: rate, keyint: 5 };
  using venc = new VideoEncoder(opts);
  using other = new VideoEncoder(opts);
  using aenc = new AudioEncoder({ codec: "aac", sampleRate: 48000, channels: 2, bitrateKbps: 96 });
  using mux = new Muxer({ format: "mpegts", options: TS_OPTIONS });
  const vs = mux.addStream(venc);
  const as = mux.addStream(aenc);
  mux.writeHeader();
  const pic = new Uint8Array(64 * 64 * 3 / 2);
  await assertRejects(() => other.encodeInto(mux.input(vs), pic, 0), FfmpegArgumentError);
  await assertRejects(
    () => aenc.encodeInto(mux.input(vs), new Int16Array(2048)),
    FfmpegArgumentError,
  );
  await assertRejects(() => venc.repeatInto(mux.input(vs), 0), FfmpegArgumentError);
  await assertRejects(() => mux.input(as + 1), FfmpegArgumentError);
  await assertRejects(() => mux.input(vs, { offset: 0.5 }), FfmpegArgumentError);
});
