/**
 * The channel-worker model: a Worker decodes, scales, encodes and muxes a 10 s 640x360 clip
 * synchronously through ffi/ and posts TS bytes, while a 10 ms timer on the main thread keeps
 * firing (no gap over 50 ms).
 */
import { assert, assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";

const MOD = new URL("../ffi/mod.ts", import.meta.url).href;

const WORKER = `
import { Decoder, Demuxer, Muxer, Scaler, VideoEncoder } from "${MOD}";
self.onmessage = (e) => {
  const { path } = e.data;
  const d = Demuxer.open(path);
  const vi = d.bestStream("video");
  const dec = Decoder.open(d, vi, { threads: 1 });
  const scaler = new Scaler({ width: 640, height: 360, policy: "preserve" });
  const enc = new VideoEncoder({ codec: "libx264", width: 640, height: 360,
    frameRate: { num: 30, den: 1 }, keyint: 30, preset: "veryfast", threads: 1 });
  const mux = new Muxer({ format: "mpegts", options: { muxdelay: "0", pcr_period: "20" } });
  const vs = mux.addStream(enc);
  mux.writeHeader();
  let frames = 0;
  const post = () => {
    const ts = mux.takeOutput();
    if (ts.length > 0) self.postMessage({ type: "ts", data: ts }, [ts.buffer]);
  };
  const pump = () => {
    for (let f = dec.receive(); f; f = dec.receive()) {
      for (const p of enc.encode(scaler.scale(f), frames++)) mux.write(vs, p);
      f.free();
      post();
    }
  };
  for (let p = d.read(); p; p = d.read()) {
    if (p.streamIndex === vi) { dec.send(p); pump(); }
    p.free();
  }
  dec.send(null);
  pump();
  for (const p of enc.encode(null, 0)) mux.write(vs, p);
  const rest = mux.finish();
  self.postMessage({ type: "ts", data: rest }, [rest.buffer]);
  mux.close(); enc.close(); scaler.close(); dec.close(); d.close();
  self.postMessage({ type: "done", frames });
};
`;

Deno.test("a Worker transcodes while the main thread's 10 ms timer stays on time", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const url = URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  let maxGap = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const chunks: Uint8Array[] = [];
  try {
    const frames = await new Promise<number>((resolve, reject) => {
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.onmessage = (e) => {
        if (e.data.type === "ts") chunks.push(e.data.data);
        else if (e.data.type === "done") resolve(e.data.frames);
      };
      worker.postMessage({ path });
    });
    assertEquals(frames, 300);
  } finally {
    clearInterval(timer);
    worker.terminate();
    URL.revokeObjectURL(url);
  }
  console.log(`timer ticks ${ticks}, max gap ${maxGap.toFixed(1)} ms, ${chunks.length} chunks`);
  assert(ticks > 20, `only ${ticks} ticks: the transcode ran too briefly to judge`);
  assert(maxGap < 50, `main-thread timer gap ${maxGap.toFixed(1)} ms`);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  assert(chunks.length > 100 && total % 188 === 0, `${chunks.length} chunks, ${total} bytes`);
  // What the worker produced is a valid 300-frame H.264 TS.
  const dir = await Deno.makeTempDir();
  try {
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    await Deno.writeFile(`${dir}/w.ts`, all);
    const out = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v",
        "-show_entries",
        "stream=codec_name,nb_read_frames",
        "-of",
        "csv=p=0",
        `${dir}/w.ts`,
      ],
      stdout: "piped",
    }).output();
    // ffprobe lists a TS stream under its program too: take the first line.
    assertEquals(new TextDecoder().decode(out.stdout).trim().split("\n")[0], "h264,300");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
