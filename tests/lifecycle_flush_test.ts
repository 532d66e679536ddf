/**
 * Graceful stop flushes encoder and muxer: every frame the channel released before SIGTERM
 * reaches the TS of an HTTP viewer and of the socket Core attached. Judged by ffprobe on the
 * bytes each one received: video PTS contiguous to the end, the last one the engine's last
 * released frame (its `channel_flushed` log line), audio to the end of that frame.
 */

import { assert, assertEquals } from "./assert.ts";
import { playoutClient, unary } from "./grpc_client/grpc_js_client.ts";
import { concatBytes } from "./egress_fixtures.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** Liveness bound while waiting for the engine, not a timing judgement. */
const WAIT_MS = 60_000;

type Rec = Record<string, unknown> & { event: string };

function config(dir: string): string {
  return `
state_dir = "${dir}/state"
[grpc]
unix_socket = "${dir}/playout.sock"
[http]
bind = "127.0.0.1"
port = 0
[metrics]
enabled = false
[log]
format = "json"
[[channels]]
id = 1
source = { type = "test_pattern" }
format = { width = 160, height = 90, frame_rate = "25/1" }
video = { preset = "ultrafast", crf = 35 }
frame_sink = { enabled = false }
`;
}

async function readAll(chunks: Uint8Array[], next: () => Promise<Uint8Array | null>) {
  for (let c = await next(); c !== null; c = await next()) chunks.push(c);
}

interface Packet {
  pts: number;
  duration: number;
}

async function packets(bytes: Uint8Array, stream: "v" | "a"): Promise<Packet[]> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeFile(file, bytes);
    const out = await new Deno.Command("ffprobe", {
      args: [
        "-v",
        "error",
        "-select_streams",
        `${stream}:0`,
        "-show_entries",
        "packet=pts,duration",
        "-of",
        "json",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const json = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      packets: { pts?: number; duration?: number }[];
    };
    return json.packets
      .filter((p) => p.pts !== undefined)
      .map((p) => ({ pts: p.pts!, duration: p.duration ?? 0 }))
      .sort((a, b) => a.pts - b.pts);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("SIGTERM: every released frame reaches the HTTP viewer and the attached socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flush_" });
  const cfg = `${dir}/config.toml`;
  await Deno.writeTextFile(cfg, config(dir));
  const coreSock = `${dir}/core.sock`;
  const core = Deno.listen({ transport: "unix", path: coreSock });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "--config", cfg],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const records: Rec[] = [];
  let wake: (() => void) | undefined;
  const stdoutDone = (async () => {
    let buf = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += text;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("{")) records.push(JSON.parse(line));
      }
      wake?.();
    }
  })();
  const stderr = new Response(child.stderr).text();
  const waitFor = async (what: string, pred: (r: Rec) => boolean): Promise<Rec> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const found = records.find(pred);
      if (found) return found;
      assert(Date.now() < deadline, `no ${what} in the log:\n${JSON.stringify(records)}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
  };
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  try {
    await waitFor("ready", (r) => r.event === "ready");
    const listening = await waitFor("http port", (r) => r.event === "http_egress_listening");
    const port = Number(listening.port);

    // Core's side: accept the engine's connection and read until it closes.
    const attached: Uint8Array[] = [];
    const coreRead = (async () => {
      const conn = await core.accept();
      const buf = new Uint8Array(64 * 1024);
      await readAll(attached, async () => {
        const n = await conn.read(buf);
        return n === null ? null : buf.slice(0, n);
      });
      conn.close();
    })();
    const client = playoutClient(`unix:${dir}/playout.sock`);
    try {
      const reply = await unary(client, "AttachStream", {
        channel_id: 1,
        transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
        endpoint: coreSock,
        replace_existing: false,
      });
      assertEquals(reply.success, true, JSON.stringify(reply));
    } finally {
      client.close();
    }

    const res = await fetch(`http://127.0.0.1:${port}/channel/1.ts`);
    assertEquals(res.status, 200);
    const reader = res.body!.getReader();
    const viewed: Uint8Array[] = [];
    const httpRead = readAll(viewed, async () => {
      const r = await reader.read();
      return r.done ? null : r.value;
    });
    // Some seconds of stream on both (a few GOPs), then the stop.
    const bytes = (a: Uint8Array[]) => a.reduce((n, c) => n + c.length, 0);
    const deadline = Date.now() + WAIT_MS;
    while (bytes(viewed) < 150_000 || bytes(attached) < 150_000) {
      assert(Date.now() < deadline, "TS on both outputs");
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGTERM");
    assertEquals((await status).code, 0, await stderr);
    await stdoutDone;
    await httpRead;
    await coreRead;

    const flushed = await waitFor("channel_flushed", (r) => r.event === "channel_flushed");
    const lastPts = Number(flushed.last_video_pts_90k);
    assert(Number(flushed.frames_released) > 25, JSON.stringify(flushed));
    for (const [name, chunks] of [["http", viewed], ["attach", attached]] as const) {
      const ts = concatBytes(chunks);
      const video = await packets(ts, "v");
      const audio = await packets(ts, "a");
      assert(video.length > 25, `${name}: ${video.length} video packets`);
      const step = 90000 / 25;
      const steps = video.slice(1).map((p, i) => p.pts - video[i].pts).filter((d) => d !== step);
      assertEquals(steps, [], `${name}: video PTS steps other than one frame`);
      assertEquals(video[video.length - 1].pts, lastPts, `${name}: last video PTS`);
      const lastAudio = audio[audio.length - 1];
      console.log(
        `${name}: ${video.length} video packets, last PTS ${video[video.length - 1].pts} ` +
          `(engine: ${flushed.frames_released} frames released, last ${lastPts}), audio to ` +
          `${lastAudio.pts + lastAudio.duration}`,
      );
      assert(
        lastAudio.pts + lastAudio.duration >= lastPts + step,
        `${name}: audio ends at ${lastAudio.pts + lastAudio.duration}, video at ${lastPts + step}`,
      );
    }
  } finally {
    if (!exited) child.kill("SIGKILL");
    await status;
    core.close();
    await Deno.remove(dir, { recursive: true });
  }
});
