/**
 * Frame sinks on the real engine: a channel's program frames through the configured endpoint,
 * the `frames --y4m` reader into the ffmpeg CLI, and a stalled Renderer that must not disturb
 * the channel's TS egress.
 */

import { assert, assertEquals } from "./assert.ts";
import { parseConfigText } from "../src/config/mod.ts";
import { startPlayout } from "../src/playout.ts";
import { Logger } from "../src/log/log.ts";
import { FrameStreamParser, type ReceivedFrame } from "../src/outputs/frame_protocol.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";
import { concatBytes } from "./egress_fixtures.ts";
import { makeFrame, SMALL_FORMAT } from "./frame_sink_fixtures.ts";
import { FrameSink } from "../src/outputs/frame_sink.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

async function engine(dir: string) {
  const toml = [
    `state_dir = "${dir}/state"`,
    `[grpc]\nunix_socket = "${dir}/playout.sock"`,
    `[http]\nbind = "127.0.0.1"\nport = 0`,
    `[metrics]\nenabled = false`,
    `[[channels]]\nid = 4\n[channels.format]\nwidth = 160\nheight = 90\nframe_rate = "25"`,
    `[channels.video]\npreset = "ultrafast"\nkeyint = 25`,
    `[channels.frame_sink]\nunix = "${dir}/playout-4"`,
  ].join("\n");
  const config = await parseConfigText(toml, { source: "test", baseDir: dir });
  const handle = await startPlayout(config, new Logger({ level: "error", write: () => {} }));
  return handle;
}

Deno.test("frames --y4m from the engine's sink decodes in ffmpeg with the expected count", async () => {
  const dir = await Deno.makeTempDir();
  const handle = await engine(dir);
  try {
    const reader = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "frames",
        "--endpoint",
        `${dir}/playout-4`,
        "--y4m",
        "--count",
        "30",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const ffmpeg = new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-f", "framemd5", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await reader.stdout.pipeTo(ffmpeg.stdin);
    const [r, f] = await Promise.all([reader.output(), ffmpeg.output()]);
    assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
    assertEquals(new TextDecoder().decode(f.stderr), "");
    const md5Lines = new TextDecoder().decode(f.stdout).split("\n").filter((l) => /^0,/.test(l));
    assertEquals(md5Lines.length, 30);
  } finally {
    await handle.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Renderer that stalls loses whole frames; the channel's TS goes on", async () => {
  const dir = await Deno.makeTempDir();
  const handle = await engine(dir);
  try {
    const url = handle.urls[0].replace(/\/\/[^:/]+:/, "//127.0.0.1:");
    const conn = await Deno.connect({ transport: "unix", path: `${dir}/playout-4` });
    // An HTTP viewer reads the TS the whole time.
    const res = await fetch(url);
    const tsChunks: Uint8Array[] = [];
    const tsReader = res.body!.getReader();
    let reading = true;
    const tsDone = (async () => {
      while (reading) {
        const { value, done } = await tsReader.read();
        if (done) break;
        tsChunks.push(value);
      }
      await tsReader.cancel();
    })();
    // The Renderer reads nothing while the channel's TS carries 75 video frames (3 s of
    // stream; at most one 25-frame GOP of it cached before the Renderer connected): the sink
    // must drop frames for it meanwhile. Then it reads 10 frames.
    const videoFrames = () =>
      analyzeTs(concatBytes(tsChunks)).pids.find((p) => p.streamType === 0x1b)?.pts.count ?? 0;
    const deadline = Date.now() + 60_000; // a liveness bound, not a speed judgement
    while (videoFrames() < 75) {
      assert(Date.now() < deadline, `the TS stopped at ${videoFrames()} video frames`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const parser = new FrameStreamParser();
    const frames: ReceivedFrame[] = [];
    const buf = new Uint8Array(1 << 20);
    while (frames.length < 10) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (const item of parser.feed(buf.subarray(0, n))) {
        if (item.type === "frame") frames.push(item);
      }
    }
    conn.close();
    reading = false;
    await tsDone;

    // Whole frames only, each the right size; the stall shows as sequence gaps.
    assert(frames.length >= 10, `${frames.length} frames after the stall`);
    for (const f of frames) {
      assertEquals(f.video.length, 160 * 90 * 3 / 2);
      assertEquals(f.audio.length, 1920 * 2); // 48000 / 25 samples, stereo
    }
    const seq = frames.map((f) => f.header.sequence);
    const gaps = seq.slice(1).filter((s, i) => s !== seq[i] + 1).length;
    assert(gaps >= 1, `no frame was dropped during the stall: ${seq.join(",")}`);
    const frameNumbers = frames.map((f) => f.header.frameNumber);
    assert(frameNumbers.every((n, i) => i === 0 || n > frameNumbers[i - 1]), "out of order");

    // Meanwhile the TS went on, frame after frame, and stayed valid.
    const all = concatBytes(tsChunks);
    const s = analyzeTs(all);
    assertEquals(s.ccErrors, 0);
    const video = s.pids.find((p) => p.streamType === 0x1b)!;
    assertEquals(video.pts.minStep, 3600);
    assertEquals(video.pts.maxStep, 3600);
    assert(video.pts.count >= 75, `only ${video.pts.count} video frames`);
  } finally {
    await handle.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("frames --channel N finds a sink the engine moved to $XDG_RUNTIME_DIR/retrovue", async () => {
  const runtime = await Deno.makeTempDir();
  await Deno.mkdir(`${runtime}/retrovue`);
  const id = 64_000 + Math.floor(Math.random() * 1000); // no /run/retrovue/playout-<id> exists
  const sink = await FrameSink.open({
    channelId: id,
    format: SMALL_FORMAT,
    endpoints: [{ transport: "unix", path: `${runtime}/retrovue/playout-${id}` }],
  });
  let k = 0;
  const timer = setInterval(() => sink.push(makeFrame(k++)), 20);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "frames", "--channel", String(id), "--count", "5", "--json"],
      env: { XDG_RUNTIME_DIR: runtime },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assert(sink.stats.framesSent >= 5, `${sink.stats.framesSent} frames sent`);
  } finally {
    clearInterval(timer);
    await sink.close();
    await Deno.remove(runtime, { recursive: true });
  }
});
