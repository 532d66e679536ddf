/**
 * The channel-worker model: a Worker decodes, scales, encodes and muxes a 10 s 640x360 clip
 * synchronously through ffi/ and posts TS bytes, while the main thread's event loop keeps
 * running (its 10 ms timer fires between the worker's chunks). How on time that timer stays
 * is measured by `deno task bench responsiveness`, not judged here.
 */
import { assert, assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";
import { transcodeInWorker } from "./worker_transcode.ts";

Deno.test("a Worker transcodes while the main thread's timer keeps firing", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  // Timer ticks counted at each chunk's arrival: a tick between the first and the last chunk
  // means the main thread ran its timers while the worker was still encoding.
  const ticksAtChunk: number[] = [];
  let result;
  try {
    result = await transcodeInWorker(path, () => ticksAtChunk.push(ticks));
  } finally {
    clearInterval(timer);
  }
  const { frames, chunks } = result;
  assertEquals(frames, 300);
  const during = ticksAtChunk[ticksAtChunk.length - 1] - ticksAtChunk[0];
  console.log(`${chunks.length} chunks, ${during} timer ticks between the first and the last`);
  assert(during > 0, "the main thread's timer never fired while the worker encoded");
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
