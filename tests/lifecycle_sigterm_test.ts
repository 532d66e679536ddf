/**
 * SIGTERM while channels transcode, again and again: the engine must exit 0 every time. It used
 * to die with SIGSEGV now and then (exit -11) when the process ended with a channel worker still
 * alive — one that a control call or a plan restore started while shutdown was under way, one
 * being stopped in the background, or one terminated in the middle of FFmpeg. Each cycle runs
 * three configured channels on air, starts a fourth over gRPC and stops it again, and sends
 * SIGTERM while those calls are in flight. Judged by the exit status and the JSON log: every
 * channel whose worker started (`buffering`) reached `stopped` before the engine's `stopped`.
 */

import { assert, assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";
import { playoutClient, unary } from "./grpc_client/grpc_js_client.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** Liveness bound while waiting for the engine, not a timing judgement. */
const WAIT_MS = 90_000;
const CYCLES = 4;
const CONFIGURED = [1, 2, 3];
/** The channel each cycle starts and stops over gRPC around the SIGTERM. */
const CONTROLLED = 9;
const SMALL_FORMAT = JSON.stringify({
  video: { width: 320, height: 180, frame_rate: "25/1" },
  audio: { sample_rate: 48000, channels: 2 },
});

type Rec = Record<string, unknown> & { event: string };

function config(dir: string): string {
  const channels = CONFIGURED.map((id) => `
[[channels]]
id = ${id}
source = { type = "test_pattern" }
format = { width = 320, height = 180, frame_rate = "25/1" }
video = { preset = "veryfast" }
frame_sink = { enabled = false }
`).join("");
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
${channels}`;
}

/** One engine run: started, SIGTERMed with calls in flight; returns its status and log. */
async function cycle(dir: string, cfg: string, asset: string, n: number) {
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
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const waitFor = async (what: string, pred: () => boolean) => {
    const deadline = Date.now() + WAIT_MS;
    while (!pred()) {
      if (exited) throw new Error(`cycle ${n}: engine exited waiting for ${what}: ${await stderr}`);
      assert(
        Date.now() < deadline,
        `cycle ${n}: no ${what} in the log:\n${JSON.stringify(records)}`,
      );
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
  };
  const onAir = (id: number) =>
    records.some((r) =>
      r.event === "channel_state_changed" && r.channel === id &&
      (r.to === "ready" || r.to === "degraded")
    );
  try {
    await waitFor("ready", () => records.some((r) => r.event === "ready"));
    await waitFor("every channel on air", () => CONFIGURED.every(onAir));
    const client = playoutClient(`unix:${dir}/playout.sock`);
    try {
      // A worker that starts, is stopped, and another start racing the SIGTERM.
      const first = await unary(client, "StartChannel", {
        channel_id: CONTROLLED,
        plan_handle: asset,
        program_format_json: SMALL_FORMAT,
      });
      assertEquals(first.success, true, JSON.stringify(first));
      const calls = [
        unary(client, "StopChannel", { channel_id: CONTROLLED }),
        unary(client, "StartChannel", {
          channel_id: CONTROLLED + 1,
          plan_handle: asset,
          program_format_json: SMALL_FORMAT,
        }),
      ].map((p) => p.catch(() => undefined)); // refused or cut off by the shutdown: either is fine
      // Alternate between SIGTERM with the calls just sent and once they were answered.
      if (n % 2 === 1) await Promise.all(calls);
      child.kill("SIGTERM");
      await Promise.all(calls);
    } finally {
      client.close();
    }
    const s = await status;
    await stdoutDone;
    return { status: s, records, stderr: await stderr };
  } finally {
    if (!exited) child.kill("SIGKILL");
    await status;
  }
}

Deno.test("SIGTERM during transcoding with workers starting and stopping exits 0, every time", async () => {
  const asset = await fixture("h264_aac_640x360_10s");
  const dir = await Deno.makeTempDir({ prefix: "sigterm_" });
  try {
    const cfg = `${dir}/config.toml`;
    await Deno.writeTextFile(cfg, config(dir));
    for (let n = 0; n < CYCLES; n++) {
      const { status, records, stderr } = await cycle(dir, cfg, asset, n);
      const log = () => `${stderr}\n${JSON.stringify(records.slice(-40))}`;
      assertEquals(
        { code: status.code, signal: status.signal },
        { code: 0, signal: null },
        `cycle ${n}: ${log()}`,
      );
      const stopped = records.findIndex((r) => r.event === "stopped");
      assert(stopped >= 0, `cycle ${n}: no "stopped" line: ${log()}`);
      assertEquals(records[stopped].exit_code, 0, `cycle ${n}`);
      // Every worker that started was stopped before the engine said it stopped.
      const states = records.slice(0, stopped).filter((r) => r.event === "channel_state_changed");
      const last = new Map<unknown, unknown>();
      for (const r of states) last.set(r.channel, r.to);
      const started = new Set(states.filter((r) => r.to === "buffering").map((r) => r.channel));
      for (const id of started) {
        assert(
          last.get(id) === "stopped" || last.get(id) === "error",
          `cycle ${n}: channel ${id} ended the run ${last.get(id)}: ${log()}`,
        );
      }
      for (const id of CONFIGURED) {
        assert(
          records.some((r) => r.event === "channel_flushed" && r.channel === id),
          `cycle ${n}: channel ${id} not flushed: ${log()}`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
