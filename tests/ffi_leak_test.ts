/**
 * Native memory is freed deterministically: opening, decoding, scaling, resampling, encoding,
 * muxing and closing hundreds of times keeps the process RSS flat.
 */
import { assert } from "./assert.ts";
import {
  AudioEncoder,
  Decoder,
  Demuxer,
  Muxer,
  Resampler,
  Scaler,
  VideoEncoder,
} from "../ffi/mod.ts";
import { fixture } from "./fixtures.ts";

const MiB = 1024 * 1024;

function decodeCycle(path: string): void {
  using d = Demuxer.open(path);
  const vi = d.bestStream("video");
  const ai = d.bestStream("audio");
  using vdec = Decoder.open(d, vi, { threads: 1 });
  using adec = Decoder.open(d, ai);
  using scaler = new Scaler({ width: 160, height: 90, policy: "preserve" });
  using resampler = new Resampler({ sampleRate: 44100, channels: 1 });
  const buf = new Uint8Array(scaler.frameSize);
  let frames = 0;
  for (let p = d.read(); p && frames < 8; p = d.read()) {
    const dec = p.streamIndex === vi ? vdec : adec;
    dec.send(p);
    p.free();
    for (let f = dec.receive(); f; f = dec.receive()) {
      if (f.kind === "video") {
        scaler.scale(f, buf);
        frames++;
      } else resampler.convert(f);
      f.free();
    }
  }
  resampler.convert(null);
}

function encodeCycle(): void {
  using venc = new VideoEncoder({
    codec: "libx264",
    width: 64,
    height: 64,
    frameRate: { num: 25, den: 1 },
    keyint: 5,
    threads: 1,
    preset: "ultrafast",
  });
  using aenc = new AudioEncoder({ codec: "aac", sampleRate: 48000, channels: 2, bitrateKbps: 64 });
  using mux = new Muxer({ format: "mpegts", options: { muxdelay: "0" } });
  const vs = mux.addStream(venc);
  const as = mux.addStream(aenc);
  mux.writeHeader();
  const picture = new Uint8Array(venc.frameSize).fill(128);
  for (let i = 0; i < 6; i++) {
    for (const p of venc.encode(picture, i)) mux.write(vs, p);
    for (const p of aenc.encode(new Int16Array(1920 * 2))) mux.write(as, p);
    mux.takeOutput();
  }
  for (const p of venc.encode(null, 0)) mux.write(vs, p);
  for (const p of aenc.encode(null)) mux.write(as, p);
  mux.finish();
}

Deno.test("500 open/decode/scale/resample/close cycles keep RSS growth under 24 MiB", async () => {
  const path = await fixture("h264_aac_mp4");
  for (let i = 0; i < 50; i++) decodeCycle(path); // warm-up: allocator pools, JIT
  const before = Deno.memoryUsage().rss;
  for (let i = 0; i < 500; i++) decodeCycle(path);
  const growth = (Deno.memoryUsage().rss - before) / MiB;
  console.log(`decode cycles: RSS growth ${growth.toFixed(1)} MiB over 500`);
  assert(growth < 24, `RSS grew ${growth.toFixed(1)} MiB`);
});

Deno.test("150 encoder+muxer cycles keep RSS growth under 24 MiB", () => {
  for (let i = 0; i < 20; i++) encodeCycle();
  const before = Deno.memoryUsage().rss;
  for (let i = 0; i < 150; i++) encodeCycle();
  const growth = (Deno.memoryUsage().rss - before) / MiB;
  console.log(`encode cycles: RSS growth ${growth.toFixed(1)} MiB over 150`);
  assert(growth < 24, `RSS grew ${growth.toFixed(1)} MiB`);
});
