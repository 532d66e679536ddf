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
  for (let p = d.read(); p; p = frames < 8 ? d.read() : null) {
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

/** Growth of a process over a run of cycles. */
interface Growth {
  /** Bytes malloc has handed out and not had back (glibc `mallinfo2`: uordblks + hblkhd). */
  mallocMiB: number;
  /** RSS growth outside the V8 heap (includes allocator fragmentation, touched code pages). */
  rssMiB: number;
}

const libc = () =>
  Deno.dlopen("libc.so.6", {
    mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
  });

/** Runs `cycles` of `kind` after `warmup` in this process and returns the memory growth. */
async function measure(kind: string, warmup: number, cycles: number): Promise<Growth> {
  const path = await fixture("h264_aac_mp4");
  const cycle = kind === "decode" ? () => decodeCycle(path) : encodeCycle;
  // The child runs with --expose-gc: collect JS garbage (and the native memory of buffers it
  // owns) before each reading.
  const fullGc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  // Array buffer memory is released by a sweeper after the collection: give it a moment.
  const gc = async () => {
    for (let i = 0; i < 3; i++) {
      fullGc();
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const { symbols } = libc();
  const inUse = () => {
    const m = new BigUint64Array(symbols.mallinfo2().buffer);
    return Number(m[7] + m[4]); // uordblks + hblkhd
  };
  for (let i = 0; i < warmup; i++) cycle(); // allocator pools, JIT
  await gc();
  const before = { mem: Deno.memoryUsage(), malloc: inUse() };
  for (let i = 0; i < cycles; i++) cycle();
  await gc();
  const after = { mem: Deno.memoryUsage(), malloc: inUse() };
  return {
    mallocMiB: (after.malloc - before.malloc) / MiB,
    rssMiB: (after.mem.rss - before.mem.rss - (after.mem.heapTotal - before.mem.heapTotal)) / MiB,
  };
}

/**
 * Measures in a child process, so parallel test files do not disturb the reading; with one
 * malloc arena, so FFmpeg's threads allocate where `mallinfo2` sees it.
 */
async function measureInChild(kind: string, warmup: number, cycles: number): Promise<Growth> {
  await fixture("h264_aac_mp4");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      kind,
      String(warmup),
      String(cycles),
    ],
    env: { MALLOC_ARENA_MAX: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, `child failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function report(what: string, g: Growth): string {
  return `${what}: malloc in use +${g.mallocMiB.toFixed(2)} MiB, RSS outside V8 +${
    g.rssMiB.toFixed(1)
  } MiB`;
}

Deno.test("500 open/decode/scale/resample/close cycles leave no native memory behind", async () => {
  const g = await measureInChild("decode", 50, 500);
  console.log(report("500 decode cycles", g));
  // A Decoder left open per cycle shows as ~1 GiB. (Packets/frames dropped without free()
  // are reclaimed by their FinalizationRegistry backstop during the gc pauses.)
  assert(g.mallocMiB < 1, report("leak", g));
  assert(g.rssMiB < 32, report("RSS", g));
});

Deno.test("150 encoder+muxer cycles leave no native memory behind", async () => {
  const g = await measureInChild("encode", 20, 150);
  console.log(report("150 encode cycles", g));
  assert(g.mallocMiB < 1, report("leak", g));
  assert(g.rssMiB < 32, report("RSS", g));
});

if (import.meta.main) {
  const [kind, warmup, cycles] = Deno.args;
  console.log(JSON.stringify(await measure(kind, Number(warmup), Number(cycles))));
}
