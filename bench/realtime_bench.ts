/**
 * Real-time discipline under overload (issue 16, "done when"): one engine runs a channel this
 * box cannot encode in real time (1920×1080 at 60 fps, x264 `slow`) beside two light ones
 * (320×180 at 23.976 fps, 640×360 at 29.97 fps). HTTP viewers read each channel's TS.
 * Measured over a window after a warm-up:
 *
 * - PTS advance per wall second of each TS, video and audio (target ≥ 0.90 on every channel;
 *   a degraded channel's video runs up to the encoder's bounded delay behind its audio),
 * - repeated frames from the metrics (heavy: counted; light: 0) and the heavy one's state
 *   (degraded with a reason in /healthz),
 * - metrics moving (frames_output_total of every channel rises between scrapes a second apart),
 * - gRPC latency (GetVersion, worst and median, ms),
 * - largest PCR interval and PAT interval in each TS (target ≤ 40 ms / ≤ 100 ms),
 * - what each channel did about it: its log events (degraded/recovered, encoder stepped down or
 *   restored, priority changed) and its threads' nice values at the end (from /proc), and the
 *   1-minute load average before and after (the box is shared).
 *
 * Run alone: `deno run -A bench/realtime_bench.ts [seconds]` (default 30 s of window).
 *
 * @module
 */

import { analyzeTs, isVideoStreamType } from "../media/ts_analyzer.ts";
import { playoutClient, unary } from "../tests/grpc_client/grpc_js_client.ts";

const ROOT = new URL("../", import.meta.url).pathname;

interface Channel {
  id: number;
  width: number;
  height: number;
  rate: string;
  preset: string;
}

const CHANNELS: Channel[] = [
  { id: 1, width: 1920, height: 1080, rate: "60/1", preset: "slow" },
  { id: 2, width: 320, height: 180, rate: "24000/1001", preset: "veryfast" },
  { id: 3, width: 640, height: 360, rate: "30000/1001", preset: "veryfast" },
];

async function clip(dir: string, size: string, rate: number): Promise<string> {
  const path = `${dir}/src_${size}_${rate}.mp4`;
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}:rate=${rate}:duration=20`,
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=48000:duration=20",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-pix_fmt",
      "yuv420p",
      "-g",
      "60",
      "-c:a",
      "aac",
      path,
    ], // deno-fmt-ignore
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return path;
}

async function metric(port: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S+?)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const channel = /channel="(\d+)"/.exec(m[2] ?? "")?.[1] ?? "";
    out.set(channel, Number(m[3]));
  }
  return out;
}

/** Reads a channel's TS; keeps the bytes of the window and the highest video PTS by time. */
class Viewer {
  bytes: Uint8Array[] = [];
  recording = false;
  maxPts = -1;
  maxAudioPts = -1;
  #videoPid = -1;
  #audioPid = -1;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #pending: Uint8Array[] = [];

  async start(url: string): Promise<void> {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
    this.#reader = r.body!.getReader();
    (async () => {
      for (;;) {
        const { value, done } = await this.#reader!.read();
        if (done || !value) return;
        this.#chunk(value);
      }
    })().catch(() => {});
  }

  #chunk(c: Uint8Array): void {
    if (this.recording) this.bytes.push(c);
    if (this.#videoPid < 0) {
      this.#pending.push(c);
      const s = analyzeTs(concat(this.#pending));
      const v = s.programs[0]?.streams.find((x) => isVideoStreamType(x.streamType));
      const a = s.programs[0]?.streams.find((x) => !isVideoStreamType(x.streamType));
      if (v) this.#videoPid = v.pid;
      if (a) this.#audioPid = a.pid;
      return;
    }
    for (let o = 0; o + 188 <= c.length; o += 188) {
      const pid = ((c[o + 1] & 0x1f) << 8) | c[o + 2];
      if ((pid !== this.#videoPid && pid !== this.#audioPid) || !(c[o + 1] & 0x40)) continue;
      const afc = (c[o + 3] >> 4) & 3;
      const h = o + (afc & 2 ? 5 + c[o + 4] : 4);
      if (c[h] !== 0 || c[h + 1] !== 0 || c[h + 2] !== 1 || !(c[h + 7] & 0x80)) continue;
      const p = h + 9;
      const pts = ((c[p] >> 1) & 7) * 2 ** 30 + c[p + 1] * 2 ** 22 + (c[p + 2] >> 1) * 2 ** 15 +
        c[p + 3] * 2 ** 7 + (c[p + 4] >> 1);
      if (pid === this.#videoPid) this.maxPts = Math.max(this.maxPts, pts);
      else this.maxAudioPts = Math.max(this.maxAudioPts, pts);
    }
  }

  stop(): void {
    this.#reader?.cancel().catch(() => {});
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the scenario for `windowSeconds` after a 10 s warm-up. */
export async function runRealtimeBench(windowSeconds = 30): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "rv-realtime-bench-" });
  const base = 26000 + Math.floor(Math.random() * 1000) * 4;
  const [httpPort, metricsPort, grpcPort] = [base, base + 1, base + 2];
  // The heavy channel plays a 1080p60 file, the light ones a 360p30 file.
  const heavySource = await clip(dir, "1920x1080", 60);
  const lightSource = await clip(dir, "640x360", 30);
  const toml = [
    `state_dir = "${dir}/state"`,
    `[grpc]\nunix_socket = ""\ntcp = ["127.0.0.1:${grpcPort}"]`,
    `[http]\nbind = "127.0.0.1"\nport = ${httpPort}`,
    `[metrics]\nbind = "127.0.0.1"\nport = ${metricsPort}`,
    `[log]\nlevel = "info"\nformat = "json"`,
    ...CHANNELS.map((c) =>
      [
        `[[channels]]\nid = ${c.id}`,
        `[channels.format]\nwidth = ${c.width}\nheight = ${c.height}\nframe_rate = "${c.rate}"`,
        `[channels.video]\npreset = "${c.preset}"\ncrf = 23`,
        `[channels.audio]\ncodec = "aac"\nbitrate_kbps = 128`,
        `[channels.source]\ntype = "playlist"\nfiles = ["${
          c.id === 1 ? heavySource : lightSource
        }"]`,
        `[channels.frame_sink]\nenabled = false`,
      ].join("\n")
    ),
  ].join("\n\n");
  await Deno.writeTextFile(`${dir}/engine.toml`, toml);
  const engine = new Deno.Command("deno", {
    args: ["run", "-A", `${ROOT}src/main.ts`, "--config", `${dir}/engine.toml`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const loadBefore = loadAverage();
  const logs: string[] = [];
  (async () => {
    for await (const chunk of engine.stderr.pipeThrough(new TextDecoderStream())) {
      logs.push(chunk);
    }
  })().catch(() => {});
  /** Log events of interest per channel, in order, with the wall second they came. */
  const events = new Map<string, string[]>();
  const wanted = new Set([
    "channel_degraded",
    "channel_recovered",
    "encoder_stepped_down",
    "encoder_restored",
    "channel_priority_changed",
    "channel_priority_unchanged",
  ]);
  const t0 = performance.now();
  (async () => {
    let rest = "";
    for await (const chunk of engine.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        let j: Record<string, unknown>;
        try {
          j = JSON.parse(line);
        } catch {
          continue;
        }
        if (!wanted.has(String(j.event))) continue;
        const ch = String(j.channel ?? "");
        const extra = j.event === "channel_priority_changed" ? `(nice ${j.nice})` : "";
        if (!events.has(ch)) events.set(ch, []);
        events.get(ch)!.push(`${((performance.now() - t0) / 1000).toFixed(0)}s ${j.event}${extra}`);
      }
    }
  })().catch(() => {});
  const client = playoutClient(`127.0.0.1:${grpcPort}`);
  try {
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${metricsPort}/livez`);
        await r.body?.cancel();
        if (r.ok) break;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    // Viewers join once every channel is on air.
    for (let i = 0; i < 600; i++) {
      const h = await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json();
      if (h.status !== "not_ready") break;
      await sleep(100);
    }
    const viewers = new Map<number, Viewer>();
    for (const c of CHANNELS) {
      const v = new Viewer();
      await v.start(`http://127.0.0.1:${httpPort}/channel/${c.id}.ts`);
      viewers.set(c.id, v);
    }
    await sleep(10_000);
    // Window.
    const start = {
      wall: performance.now(),
      pts: new Map([...viewers].map(([id, v]) => [id, v.maxPts])),
      audioPts: new Map([...viewers].map(([id, v]) => [id, v.maxAudioPts])),
      repeated: await metric(metricsPort, "retrovue_playout_frames_repeated_total"),
      threads: engineThreads(engine.pid),
    };
    for (const v of viewers.values()) v.recording = true;
    const grpcMs: number[] = [];
    let stuckScrapes = 0;
    let scrapes = 0;
    let lastOut = await metric(metricsPort, "retrovue_playout_frames_output_total");
    const states = new Map<string, Set<number>>();
    while (performance.now() - start.wall < windowSeconds * 1000) {
      await sleep(1000);
      const t0 = performance.now();
      await unary(client, "GetVersion", {});
      grpcMs.push(performance.now() - t0);
      const out = await metric(metricsPort, "retrovue_playout_frames_output_total");
      scrapes++;
      for (const [ch, n] of out) if (!(n > (lastOut.get(ch) ?? -1))) stuckScrapes++;
      lastOut = out;
      for (const [ch, s] of await metric(metricsPort, "retrovue_playout_channel_state")) {
        if (!states.has(ch)) states.set(ch, new Set());
        states.get(ch)!.add(s);
      }
    }
    const wall = (performance.now() - start.wall) / 1000;
    const repeated = await metric(metricsPort, "retrovue_playout_frames_repeated_total");
    const decimation = await metric(metricsPort, "retrovue_playout_picture_decimation");
    const health = await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json();
    const nice = channelThreadNice(engine.pid);
    const threadsEnd = engineThreads(engine.pid);
    /** Cores a thread group used over the window (threads that ended meanwhile are missed). */
    const cores = (name: string) =>
      round(
        ((threadsEnd.get(name)?.cpuSeconds ?? 0) - (start.threads.get(name)?.cpuSeconds ?? 0)) /
          ((performance.now() - start.wall) / 1000),
      );
    for (const v of viewers.values()) v.stop();
    const channels: Record<string, unknown> = {};
    for (const c of CHANNELS) {
      const v = viewers.get(c.id)!;
      const s = analyzeTs(concat(v.bytes));
      const pcr = s.pids.find((p) => p.pcr.count > 0)?.pcr;
      const ch = String(c.id);
      channels[`${c.width}x${c.height}@${c.rate} ${c.preset}`] = {
        ptsPerWall: round((v.maxPts - start.pts.get(c.id)!) / 90000 / wall),
        audioPtsPerWall: round((v.maxAudioPts - start.audioPts.get(c.id)!) / 90000 / wall),
        repeatedFrames: (repeated.get(ch) ?? 0) - (start.repeated.get(ch) ?? 0),
        decimation: decimation.get(ch),
        states: [...(states.get(ch) ?? [])].join(","),
        healthz: health.channels.find((x: { id: number }) => x.id === c.id),
        pcrMaxMs: pcr && round(pcr.intervalMaxMs),
        patMaxMs: round(s.pat.intervalMaxMs),
        ccErrors: s.ccErrors,
        threadNice: nice.get(`rv-ch-${c.id}`)?.join(","),
        cpuCores: cores(`rv-ch-${c.id}`),
        events: events.get(ch) ?? [],
      };
    }
    grpcMs.sort((a, b) => a - b);
    return {
      windowSeconds: round(wall),
      channels,
      grpcGetVersionMs: {
        median: round(grpcMs[grpcMs.length >> 1]),
        worst: round(grpcMs.at(-1)!),
      },
      metricsScrapes: scrapes,
      scrapesWithAChannelStuck: stuckScrapes,
      healthStatus: health.status,
      loadAverage1m: { before: loadBefore, after: loadAverage() },
    };
  } finally {
    client.close();
    engine.kill("SIGTERM");
    await engine.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (Deno.env.get("RV_BENCH_LOGS")) console.error(logs.join(""));
  }
}

/** Nice values of the engine's threads, by thread name (channel threads: `rv-ch-<id>`). */
function channelThreadNice(pid: number): Map<string, number[]> {
  return new Map([...engineThreads(pid)].map(([name, t]) => [name, t.nice]));
}

/** The engine's threads by name: nice values and CPU seconds used (user + system) so far. */
function engineThreads(pid: number): Map<string, { nice: number[]; cpuSeconds: number }> {
  const out = new Map<string, { nice: number[]; cpuSeconds: number }>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
    } catch {
      continue; // ended while listed
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const t = out.get(comm) ?? { nice: [], cpuSeconds: 0 };
    t.nice.push(Number(f[16]));
    t.cpuSeconds += (Number(f[11]) + Number(f[12])) / 100;
    out.set(comm, t);
  }
  return out;
}

function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

if (import.meta.main) {
  const r = await runRealtimeBench(Number(Deno.args[0] ?? 30));
  console.log(JSON.stringify(r, null, 2));
  Deno.exit(0);
}
