/**
 * The reference reader `frames`: `--y4m` output decoded by the ffmpeg CLI (frame count and
 * per-frame MD5 against what was pushed), statistics mode, argument and connection errors.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "./assert.ts";
import { parseFramesArgs, runFramesCommand, y4mHeader } from "../src/cli/frames.ts";
import { FrameSink } from "../src/outputs/frame_sink.ts";
import { makeFrame, Pusher, SMALL_FORMAT } from "./frame_sink_fixtures.ts";

const FRAMES_CLI = new URL("../src/cli/frames.ts", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname;

/**
 * Runs `fn` with a sink of channel 1 in a temp dir that a pusher feeds at 30 fps. The reader
 * queue holds 2 s of frames: these tests judge the reader's output, not the drop policy (that is
 * `frame_sink_scenarios.ts`), so a reader process slowed by a loaded machine must not lose any.
 */
async function withPushedSink(
  fn: (path: string, sink: FrameSink) => Promise<void>,
): Promise<number[]> {
  const dir = await Deno.makeTempDir({ prefix: "rv-frames-cli-" });
  const path = `${dir}/playout-1`;
  const sink = await FrameSink.open({
    channelId: 1,
    format: SMALL_FORMAT,
    endpoints: [{ transport: "unix", path }],
    queueFrames: 60,
  });
  const pusher = new Pusher(sink, { fps: 30 });
  try {
    await fn(path, sink);
  } finally {
    await pusher.stop();
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
  return (await pusher.stop()).frameNumbers;
}

function framesCommand(args: string[], stdout: "piped" | "null" = "piped"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FRAMES_CLI, ...args],
    cwd: REPO,
    stdout,
    stderr: "piped",
  }).spawn();
}

Deno.test("frames --y4m | ffmpeg decodes the pushed frames without errors", async () => {
  let ffmpegOut = "";
  let ffmpegErr = "";
  let readerErr = "";
  let readerCode = -1;
  const pushed = await withPushedSink(async (path) => {
    const reader = framesCommand(["--endpoint", path, "--y4m", "--count", "20"]);
    const ffmpeg = new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-f", "framemd5", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const piping = reader.stdout.pipeTo(ffmpeg.stdin);
    const [status, err, f] = await Promise.all([
      reader.status,
      new Response(reader.stderr).text(),
      ffmpeg.output(),
      piping,
    ]);
    readerCode = status.code;
    readerErr = err;
    ffmpegOut = new TextDecoder().decode(f.stdout);
    ffmpegErr = new TextDecoder().decode(f.stderr);
    assertEquals(f.code, 0, `ffmpeg failed: ${ffmpegErr}`);
  });
  assertEquals(readerCode, 0, readerErr);
  assertEquals(ffmpegErr, "", "ffmpeg reported errors");
  assert(ffmpegOut.includes("#dimensions 0: 320x240"), ffmpegOut);
  assert(ffmpegOut.includes("#tb 0: 1/30"), ffmpegOut);

  const md5ToFrame = new Map(
    pushed.map((k) => [createHash("md5").update(makeFrame(k).video).digest("hex"), k]),
  );
  const decoded = ffmpegOut.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => md5ToFrame.get(l.split(",").at(-1)!.trim()));
  assertEquals(decoded.length, 20, "frame count");
  assert(decoded.every((k) => k !== undefined), "every decoded picture is a pushed frame");
  const first = decoded[0]!;
  assertEquals(decoded, Array.from({ length: 20 }, (_, i) => first + i), "consecutive frames");
});

Deno.test("frames prints statistics and stops after --count", async () => {
  let out = "";
  let code = -1;
  await withPushedSink(async (path) => {
    const r = await framesCommand(["--endpoint", path, "--count", "45", "--json"]).output();
    code = r.code;
    out = new TextDecoder().decode(r.stdout);
  });
  assertEquals(code, 0);
  const lines = out.trim().split("\n").map((l) => JSON.parse(l));
  assert(lines.length >= 2, `a per-second line and a summary: ${out}`);
  const last = lines.at(-1);
  assertEquals([last.channel, last.frames, last.dropped], [1, 45, 0]);
  // Each frame carries exactly its share of audio, so audio and video durations agree.
  assert(Math.abs(last.avOffsetMs) < 1, `A/V offset ${last.avOffsetMs} ms`);
  assert(lines[0].fps > 5 && lines[0].fps < 60, `first second at ${lines[0].fps} fps`);
});

Deno.test("frames: usage errors exit 2, an unreachable sink exits 1", async () => {
  assertEquals(parseFramesArgs(["--channel", "5", "--y4m", "--count=3"]), {
    endpoint: { transport: "unix", path: "/run/retrovue/playout-5" },
    y4m: true,
    count: 3,
    json: false,
  });
  assertEquals(parseFramesArgs(["--endpoint", "127.0.0.1:7000"]), {
    endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 7000 },
    y4m: false,
    count: undefined,
    json: false,
  });
  assertEquals(parseFramesArgs(["--help"]), "help");
  const dir = await Deno.makeTempDir();
  try {
    for (const bad of [[], ["--count", "0", "--channel", "1"], ["--bogus"], ["--endpoint", "x"]]) {
      const r = await framesCommand(bad).output();
      assertEquals(r.code, 2, `args ${JSON.stringify(bad)}`);
    }
    const missing = await framesCommand(["--endpoint", `${dir}/nothing`]).output();
    assertEquals(missing.code, 1);
    assert(new TextDecoder().decode(missing.stderr).includes(`${dir}/nothing`));
  } finally {
    await Deno.remove(dir);
  }
  // In-process too: the same function main.ts dispatches to.
  assertEquals(await runFramesCommand(["--count", "x", "--channel", "1"]), 2);
});

Deno.test("ffprobe reads the Y4M header as limited range, left chroma, stream rate", async () => {
  const header = y4mHeader({ width: 320, height: 240, frameRate: { num: 30000, den: 1001 } });
  assertEquals(header, "YUV4MPEG2 W320 H240 F30000:1001 Ip A1:1 C420mpeg2 XCOLORRANGE=LIMITED\n");
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/one.y4m`;
    const enc = new TextEncoder();
    await Deno.writeFile(
      file,
      new Uint8Array([...enc.encode(header + "FRAME\n"), ...makeFrame(0).video]),
    );
    const probe = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-show_entries",
        "stream=width,height,pix_fmt,color_range,chroma_location,field_order,r_frame_rate",
        "-of",
        "default=noprint_wrappers=1",
        file,
      ],
    }).output();
    assertEquals(new TextDecoder().decode(probe.stderr), "");
    const fields = Object.fromEntries(
      new TextDecoder().decode(probe.stdout).trim().split("\n").map((l) => l.split("=")),
    );
    assertEquals(fields, {
      width: "320",
      height: "240",
      pix_fmt: "yuv420p",
      color_range: "tv",
      chroma_location: "left",
      field_order: "progressive",
      r_frame_rate: "30000/1001",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
