/**
 * Engine benchmark, side by side with the `ffmpeg` CLI in the same run (issue 6):
 *
 * 1. CPU seconds per output minute, one 720p30 channel from a looped 1080p file
 *    (scale + libx264 veryfast CRF 23 + AAC + mpegts), engine vs `ffmpeg -re` with the same
 *    settings; ratio engine/ffmpeg (target ≤ 1.10).
 * 2. RSS per extra channel (target ≤ 150 MB).
 * 3. Most 480p30 ultrafast channels that each keep real time: engine vs as many ffmpeg
 *    processes (ratio ≥ 1.0).
 * 4. Time to first byte and to first decodable frame for a new HTTP viewer.
 *
 * Run alone: `deno run -A bench/engine_bench.ts`.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;
const decoder = new TextDecoder();

/** CPU seconds (user + system) of a live process, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return ticks / 100; // CLK_TCK is 100 on Linux
}

/** Resident set size of a live process, bytes. */
function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** A test clip (testsrc2 + sine, H.264/AAC) of `size` and `seconds`. */
export async function makeClip(dir: string, name: string, size: string, seconds: number) {
  const path = `${dir}/${name}.mp4`;
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}:rate=30:duration=${seconds}`,
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-pix_fmt",
      "yuv420p",
      "-g",
      "60",
      "-c:a",
      "aac",
      "-shortest",
      path,
    ], // deno-fmt-ignore
  }).output();
  if (!out.success) throw new Error(`ffmpeg fixture failed: ${decoder.decode(out.stderr)}`);
  return path;
}

interface EngineRun {
  process: Deno.ChildProcess;
  httpPort: number;
  metricsPort: number;
  stop(): Promise<void>;
}

let portBase = 23000 + Math.floor(Math.random() * 2000) * 10;

async function startEngine(
  dir: string,
  channels: { id: number; clip: string; width: number; height: number; preset: string }[],
): Promise<EngineRun> {
  const httpPort = portBase++;
  const metricsPort = portBase++;
  const grpcPort = portBase++;
  const toml = [
    `state_dir = "${dir}/state"`,
    `[grpc]\nunix_socket = ""\ntcp = ["127.0.0.1:${grpcPort}"]`,
    `[http]\nbind = "127.0.0.1"\nport = ${httpPort}`,
    `[metrics]\nbind = "127.0.0.1"\nport = ${metricsPort}`,
    `[log]\nlevel = "warn"\nformat = "json"`,
    ...channels.map((c) =>
      [
        `[[channels]]\nid = ${c.id}`,
        `[channels.format]\nwidth = ${c.width}\nheight = ${c.height}\nframe_rate = "30/1"`,
        `[channels.video]\npreset = "${c.preset}"\ncrf = 23\nkeyint = 60`,
        `[channels.audio]\ncodec = "aac"\nbitrate_kbps = 128`,
        `[channels.source]\ntype = "playlist"\nfiles = ["${c.clip}"]`,
        `[channels.frame_sink]\nenabled = false`,
      ].join("\n")
    ),
  ].join("\n\n");
  const config = `${dir}/engine-${httpPort}.toml`;
  await Deno.writeTextFile(config, toml);
  const process = new Deno.Command("deno", {
    args: ["run", "-A", `${ROOT}src/main.ts`, "--config", config],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Wait for the metrics endpoint.
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${metricsPort}/livez`);
      await r.body?.cancel();
      if (r.ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    process,
    httpPort,
    metricsPort,
    async stop() {
      process.kill("SIGTERM");
      await process.status;
    },
  };
}

function startFfmpeg(clip: string, size: string, preset: string, out: string): Deno.ChildProcess {
  return new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-y",
      "-re",
      "-stream_loop",
      "-1",
      "-i",
      clip,
      "-vf",
      `scale=${size}:flags=bicubic`,
      "-r",
      "30",
      "-c:v",
      "libx264",
      "-preset",
      preset,
      "-crf",
      "23",
      "-g",
      "60",
      "-keyint_min",
      "60",
      "-sc_threshold",
      "0",
      "-c:a",
      "aac",
      "-b:a",
      "128k",
      "-ar",
      "48000",
      "-ac",
      "2",
      "-f",
      "mpegts",
      out,
    ], // deno-fmt-ignore
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function metric(port: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^(\S+?)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? "", Number(m[3]));
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU per output minute at 720p30, engine vs ffmpeg CLI. */
async function cpuPerMinute(dir: string, clip1080: string, seconds: number) {
  const engine = await startEngine(dir, [
    { id: 1, clip: clip1080, width: 1280, height: 720, preset: "veryfast" },
  ]);
  await sleep(2000); // warm-up excluded
  const e0 = cpuSeconds(engine.process.pid);
  await sleep(seconds * 1000);
  const e1 = cpuSeconds(engine.process.pid);
  const lag = await metric(engine.metricsPort, "retrovue_playout_wallclock_lag_seconds");
  await engine.stop();

  const ff = startFfmpeg(clip1080, "1280:720", "veryfast", `${dir}/ff.ts`);
  await sleep(2000);
  const f0 = cpuSeconds(ff.pid);
  await sleep(seconds * 1000);
  const f1 = cpuSeconds(ff.pid);
  ff.kill("SIGTERM");
  await ff.status;
  const engineCpu = ((e1 - e0) * 60) / seconds;
  const ffmpegCpu = ((f1 - f0) * 60) / seconds;
  return {
    engine_cpu_s_per_output_min: round(engineCpu),
    ffmpeg_cpu_s_per_output_min: round(ffmpegCpu),
    ratio: round(engineCpu / ffmpegCpu),
    target_ratio_max: 1.1,
    engine_lag_s: [...lag.values()][0],
  };
}

/** RSS of 1 vs 3 channels of 480p30. */
async function rssPerChannel(dir: string, clip: string) {
  const one = await startEngine(dir, [
    { id: 1, clip, width: 854, height: 480, preset: "ultrafast" },
  ]);
  await sleep(6000);
  const rss1 = rssBytes(one.process.pid);
  await one.stop();
  const three = await startEngine(
    dir,
    [1, 2, 3].map((id) => ({ id, clip, width: 854, height: 480, preset: "ultrafast" })),
  );
  await sleep(6000);
  const rss3 = rssBytes(three.process.pid);
  await three.stop();
  return {
    rss_1_channel_mb: round(rss1 / 2 ** 20),
    rss_3_channels_mb: round(rss3 / 2 ** 20),
    rss_per_extra_channel_mb: round((rss3 - rss1) / 2 / 2 ** 20),
    target_mb_max: 150,
  };
}

/** Whether n engine channels of 480p30 ultrafast all keep real time. */
async function engineKeepsUp(dir: string, clip: string, n: number, seconds: number) {
  const engine = await startEngine(
    dir,
    Array.from({ length: n }, (_, i) => ({
      id: i + 1,
      clip,
      width: 854,
      height: 480,
      preset: "ultrafast",
    })),
  );
  await sleep(2000);
  const out0 = await metric(engine.metricsPort, "retrovue_playout_frames_output_total");
  await sleep(seconds * 1000);
  const out1 = await metric(engine.metricsPort, "retrovue_playout_frames_output_total");
  const lag = await metric(engine.metricsPort, "retrovue_playout_wallclock_lag_seconds");
  await engine.stop();
  // Stats reach the metrics once a second, so the frame count is known to about ±1 s; the
  // decisive sign is the lag behind the wall clock, which grows without bound when a channel
  // cannot keep up.
  const fps = [...out1.entries()].map(([k, v]) => (v - (out0.get(k) ?? 0)) / seconds);
  const minFps = 30 * (1 - 1.5 / seconds);
  const ok = fps.length === n && fps.every((f) => f >= minFps) &&
    [...lag.values()].every((l) => l < 0.25);
  return { ok, fps: fps.map(round) };
}

/** Whether n ffmpeg processes of 480p30 ultrafast all keep real time. */
async function ffmpegKeepsUp(dir: string, clip: string, n: number, seconds: number) {
  const procs = Array.from(
    { length: n },
    (_, i) => startFfmpeg(clip, "854:480", "ultrafast", `${dir}/ff${i}.ts`),
  );
  await sleep(2000);
  const size0 = procs.map((_, i) => Deno.statSync(`${dir}/ff${i}.ts`).size);
  const cpu0 = procs.map((p) => cpuSeconds(p.pid));
  await sleep(seconds * 1000);
  const cpu1 = procs.map((p) => cpuSeconds(p.pid));
  const size1 = procs.map((_, i) => Deno.statSync(`${dir}/ff${i}.ts`).size);
  for (const p of procs) p.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.status));
  // With -re, a process that keeps up uses < 1 core and keeps writing; one that falls behind
  // is CPU-starved. Judge by CPU share: total demand must fit the cores.
  const demand = cpu1.reduce((n, c, i) => n + c - cpu0[i], 0) / seconds;
  const writing = size1.every((s, i) => s > size0[i]);
  return {
    ok: writing && demand < navigator.hardwareConcurrency * 0.95,
    cores_used: round(demand),
  };
}

/** Most 480p30 ultrafast channels (up to `cap`) that keep real time, engine vs ffmpeg. */
export async function maxChannels(dir: string, clip: string, seconds: number, cap = 16) {
  let engineMax = 0;
  for (let n = 1; n <= cap; n++) {
    const r = await engineKeepsUp(dir, clip, n, seconds);
    if (!r.ok) break;
    engineMax = n;
  }
  let ffmpegMax = 0;
  for (let n = 1; n <= cap; n++) {
    const r = await ffmpegKeepsUp(dir, clip, n, seconds);
    if (!r.ok) break;
    ffmpegMax = n;
  }
  return {
    engine_max_channels_480p30_ultrafast: engineMax,
    ffmpeg_max_processes_480p30_ultrafast: ffmpegMax,
    ratio: ffmpegMax ? round(engineMax / ffmpegMax) : null,
    cap,
    target_ratio_min: 1.0,
  };
}

/** Time to first byte and first decodable frame for a new viewer. */
async function viewerStart(dir: string, clip: string) {
  const engine = await startEngine(dir, [
    { id: 1, clip, width: 854, height: 480, preset: "ultrafast" },
  ]);
  await sleep(3000);
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${engine.httpPort}/channel/1.ts`);
  const reader = res.body!.getReader();
  const chunks: { at: number; data: Uint8Array }[] = [];
  let total = 0;
  while (total < 2_000_000 && performance.now() - t0 < 3000) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push({ at: performance.now() - t0, data: value });
    total += value.length;
  }
  await reader.cancel();
  await engine.stop();
  // Smallest prefix (by chunk) that ffmpeg decodes a video frame from.
  let firstFrameMs: number | null = null;
  let bytes = 0;
  const buf = new Uint8Array(total);
  for (const c of chunks) {
    buf.set(c.data, bytes);
    bytes += c.data.length;
    await Deno.writeFile(`${dir}/prefix.ts`, buf.subarray(0, bytes));
    const out = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", `${dir}/prefix.ts`, "-frames:v", "1", "-f", "null", "-"],
      stderr: "piped",
    }).output();
    const probe = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-count_frames",
        "-show_entries",
        "stream=nb_read_frames",
        "-of",
        "csv=p=0",
        `${dir}/prefix.ts`,
      ], // deno-fmt-ignore
      stdout: "piped",
      stderr: "null",
    }).output();
    // ffprobe lists the stream under the program and again on its own: take the first line.
    const frames = parseInt(decoder.decode(probe.stdout).trim().split("\n")[0], 10);
    if (out.success && frames >= 1) {
      firstFrameMs = c.at;
      break;
    }
  }
  return {
    ttfb_ms: chunks.length ? round(chunks[0].at) : null,
    first_decodable_frame_ms: firstFrameMs === null ? null : round(firstFrameMs),
    first_byte: chunks[0]?.data[0],
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Runs the engine benchmark; returns the results. */
export async function runEngineBench(opts: { seconds?: number } = {}) {
  const seconds = opts.seconds ?? 15;
  const dir = await Deno.makeTempDir({ prefix: "rv-bench-" });
  try {
    const clip1080 = await makeClip(dir, "src1080", "1920x1080", 10);
    const clip480 = await makeClip(dir, "src480", "854x480", 10);
    return {
      cpu_720p30: await cpuPerMinute(dir, clip1080, seconds),
      rss: await rssPerChannel(dir, clip480),
      viewer_start: await viewerStart(dir, clip480),
      max_channels: await maxChannels(dir, clip480, 10),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runEngineBench(), null, 2));
}
