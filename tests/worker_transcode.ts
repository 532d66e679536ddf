/**
 * The channel-worker model, shared by `ffi_worker_test.ts` (what it produces) and the
 * responsiveness bench (how on time the main thread stays meanwhile): a Worker decodes,
 * scales, encodes and muxes a clip synchronously through ffi/ to 640x360 H.264 MPEG-TS and
 * posts the TS bytes as it goes.
 *
 * @module
 */

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

/** What {@link transcodeInWorker} got back. */
export interface WorkerTranscode {
  /** Frames the worker encoded. */
  frames: number;
  /** TS chunks in the order posted. */
  chunks: Uint8Array[];
}

/**
 * Transcodes `path` in a new Worker; calls `onChunk` on the main thread for each TS chunk as
 * it arrives. The worker is terminated when this settles.
 */
export async function transcodeInWorker(
  path: string,
  onChunk: (chunk: Uint8Array) => void = () => {},
): Promise<WorkerTranscode> {
  const url = URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const chunks: Uint8Array[] = [];
  try {
    const frames = await new Promise<number>((resolve, reject) => {
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.onmessage = (e) => {
        if (e.data.type === "ts") {
          chunks.push(e.data.data);
          onChunk(e.data.data);
        } else if (e.data.type === "done") resolve(e.data.frames);
      };
      worker.postMessage({ path });
    });
    return { frames, chunks };
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}
