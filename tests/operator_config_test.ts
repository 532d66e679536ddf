/**
 * The operator contract of the real program around configuration and listeners:
 * `--check-config` fails on the conflicts startup would refuse and only warns about media
 * missing now; the engine starts without a missing playlist file; every listener that cannot
 * bind at start fails startup the same way (exit 1 naming it), before `ready`.
 */

import { assert, assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** Liveness bound for a run that should end by itself, not a timing judgement. */
const WAIT_MS = 60_000;

type Rec = Record<string, unknown> & { event: string };

async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    signal: AbortSignal.timeout(WAIT_MS),
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

function records(stdout: string): Rec[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "operator_config_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A config whose every listener lives in `dir` or on a free port, plus `extra`; `sections`
 * replaces the body of a section.
 */
function base(dir: string, extra = "", sections: Record<string, string> = {}): string {
  const body: Record<string, string> = {
    grpc: `unix_socket = "${dir}/playout.sock"`,
    http: `bind = "127.0.0.1"\nport = 0`,
    metrics: `bind = "127.0.0.1"\nport = 0`,
    log: `format = "json"`,
    ...sections,
  };
  const tables = Object.entries(body).map(([name, text]) => `[${name}]\n${text}\n`).join("");
  return `state_dir = "${dir}/state"\n${tables}${extra}`;
}

const SMALL = `format = { width = 160, height = 90, frame_rate = "25/1" }
video = { preset = "ultrafast", crf = 35 }`;

Deno.test("--check-config: conflicts fail (exit 1, all listed); missing media only warns (exit 0)", async () => {
  await withDir(async (dir) => {
    const conflicts = `${dir}/conflicts.toml`;
    await Deno.writeTextFile(
      conflicts,
      base(
        dir,
        `[[channels]]
id = 1
frame_sink = { unix = "${dir}/sink" }
[[channels]]
id = 2
frame_sink = { unix = "${dir}/sink" }
[[channels]]
id = 3
frame_sink = { tcp = "127.0.0.1:50123" }
[[channels]]
id = 4
frame_sink = { tcp = "127.0.0.1:50123" }
`,
      ),
    );
    const ko = await runMain(["--check-config", conflicts]);
    assertEquals(ko.code, 1, ko.stderr);
    assert(ko.stderr.includes("2 configuration problems"), ko.stderr);
    assert(ko.stderr.includes("channels[1].frame_sink.unix: expected a socket path"), ko.stderr);
    assert(ko.stderr.includes("channels[3].frame_sink.tcp: expected a port not"), ko.stderr);

    const missing = `${dir}/missing.toml`;
    await Deno.writeTextFile(
      missing,
      base(
        dir,
        `[[channels]]
id = 1
source = { type = "playlist", files = ["${dir}/gone.mp4", "${await fixture("h264_aac_mp4")}"] }
frame_sink = { enabled = false }
[[channels]]
id = 2
source = { type = "directory", path = "${dir}/no-such-dir" }
frame_sink = { enabled = false }
`,
      ),
    );
    const ok = await runMain(["--check-config", missing]);
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(ok.stdout, `${missing}: ok (2 channels, 2 warnings)\n`);
    const warnings = ok.stderr.trim().split("\n");
    assertEquals(warnings.length, 2, ok.stderr);
    assert(warnings[0].startsWith(`${missing}: warning: channels[0].source.files[0]:`), ok.stderr);
    assert(warnings[1].startsWith(`${missing}: warning: channels[1].source.path:`), ok.stderr);
  });
});

Deno.test("one missing playlist file does not stop the engine: it starts, warns, and the channel airs the rest", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/config.toml`;
    const gone = `${dir}/gone.mp4`;
    await Deno.writeTextFile(
      cfg,
      base(
        dir,
        `[[channels]]
id = 1
source = { type = "playlist", files = ["${gone}", "${await fixture("h264_aac_mp4")}"] }
frame_sink = { enabled = false }
${SMALL}
`,
      ),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "--config", cfg],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const out: Rec[] = [];
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    const reading = (async () => {
      let buf = "";
      for await (const t of child.stdout.pipeThrough(new TextDecoderStream())) {
        buf += t;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        out.push(...records(lines.join("\n")));
      }
    })();
    const stderr = new Response(child.stderr).text();
    try {
      const deadline = Date.now() + WAIT_MS;
      const port = () => out.find((r) => r.event === "metrics_server_listening")?.port;
      while (!out.some((r) => r.event === "ready") || port() === undefined) {
        assert(!exited && Date.now() < deadline, `no ready: ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // /healthz: the channel airs the file that is there.
      let health: { status: number; body: { channels: { state: string }[] } } | undefined;
      while (health?.body.channels[0]?.state !== "ready") {
        assert(Date.now() < deadline, `channel never ready: ${JSON.stringify(health)}`);
        const res = await fetch(`http://127.0.0.1:${port()}/healthz`);
        health = { status: res.status, body: await res.json() };
        await new Promise((r) => setTimeout(r, 100));
      }
      assertEquals(health.status, 200);
      const warned = out.filter((r) => r.event === "config_media_missing");
      assertEquals(warned.length, 1, JSON.stringify(out));
      assertEquals(warned[0].setting, "channels[0].source.files[0]");
      const assetErrors = out.filter((r) => r.event === "asset_error" && r.asset === gone);
      assertEquals(assetErrors.length, 1, JSON.stringify(assetErrors));
      child.kill("SIGTERM");
      assertEquals((await status).code, 0, await stderr);
    } finally {
      if (!exited) child.kill("SIGKILL");
      await status;
      await reading;
    }
  });
});

Deno.test("a listener that cannot bind fails startup the same way for gRPC, HTTP, metrics and sinks", async () => {
  await withDir(async (dir) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const held = Deno.listen({ transport: "unix", path: `${dir}/held.sock` });
    try {
      const at = `127.0.0.1:${port}`;
      const cases: [string, string, string][] = [
        ["grpc", base(dir, "", { grpc: `unix_socket = ""\ntcp = ["${at}"]` }), at],
        ["http", base(dir, "", { http: `bind = "127.0.0.1"\nport = ${port}` }), at],
        ["metrics", base(dir, "", { metrics: `bind = "127.0.0.1"\nport = ${port}` }), at],
        [
          "frame_sink",
          base(
            dir,
            `[[channels]]\nid = 1\nsource = { type = "none" }\n` +
              `frame_sink = { unix = "${dir}/held.sock" }\n`,
          ),
          `${dir}/held.sock`,
        ],
      ];
      for (const [what, toml, address] of cases) {
        const cfg = `${dir}/${what}.toml`;
        await Deno.writeTextFile(cfg, toml);
        const r = await runMain(["--config", cfg]);
        const recs = records(r.stdout);
        assertEquals(r.code, 1, `${what}: ${r.stdout}\n${r.stderr}`);
        assert(!recs.some((x) => x.event === "ready"), `${what}: reported ready`);
        const failed = recs.find((x) => x.event === "startup_failed");
        assert(failed !== undefined, `${what}: no startup_failed: ${r.stdout}`);
        const text = JSON.stringify(failed);
        assert(text.includes(address), `${what}: ${text} does not name ${address}`);
      }
    } finally {
      taken.close();
      held.close();
    }
  });
});

Deno.test("once running, a frame sink a SIGHUP adds that cannot bind is logged, the engine runs on, the next SIGHUP opens it", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/config.toml`;
    const sinkPath = `${dir}/sink.sock`;
    const channel = (sink: string) =>
      `[[channels]]\nid = 1\nsource = { type = "test_pattern" }\n${SMALL}\nframe_sink = ${sink}\n`;
    await Deno.writeTextFile(cfg, base(dir, channel("{ enabled = false }")));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "--config", cfg],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const out: Rec[] = [];
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    const reading = (async () => {
      let buf = "";
      for await (const t of child.stdout.pipeThrough(new TextDecoderStream())) {
        buf += t;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        out.push(...records(lines.join("\n")));
      }
    })();
    const stderr = new Response(child.stderr).text();
    const waitFor = async (event: string, from: number): Promise<Rec> => {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const found = out.slice(from).find((r) => r.event === event);
        if (found) return found;
        assert(!exited && Date.now() < deadline, `no ${event}: ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const held = Deno.listen({ transport: "unix", path: sinkPath });
    let holding = true;
    try {
      await waitFor("ready", 0);
      // The reload asks for a sink at a path another process listens on.
      await Deno.writeTextFile(cfg, base(dir, channel(`{ unix = "${sinkPath}" }`)));
      let mark = out.length;
      child.kill("SIGHUP");
      const unavailable = await waitFor("listener_unavailable", mark);
      assertEquals(unavailable.listener, "frame_sink");
      assertEquals(unavailable.channel, 1);
      assert(String(unavailable.reason).includes(sinkPath), JSON.stringify(unavailable));
      await waitFor("config_reloaded", mark);
      assert(!exited, "the engine stopped");

      // The path is free again: the next SIGHUP opens the sink.
      held.close();
      holding = false;
      try {
        await Deno.remove(sinkPath); // the closed listener's socket file, if Deno left it
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      mark = out.length;
      child.kill("SIGHUP");
      await waitFor("config_reloaded", mark);
      const conn = await Deno.connect({ transport: "unix", path: sinkPath });
      conn.close();
      assertEquals(out.slice(mark).filter((r) => r.event === "listener_unavailable").length, 0);
      child.kill("SIGTERM");
      assertEquals((await status).code, 0, await stderr);
    } finally {
      if (holding) held.close();
      if (!exited) child.kill("SIGKILL");
      await status;
      await reading;
    }
  });
});

Deno.test("--check-config also refuses ports that command-line flags make collide", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/config.toml`;
    await Deno.writeTextFile(
      cfg,
      base(dir, "[[channels]]\nid = 1\nframe_sink = { enabled = false }\n", {
        http: `bind = "127.0.0.1"\nport = 8123`,
      }),
    );
    const port = await runMain(["--check-config", cfg, "--port", "8123"]);
    assertEquals(port.code, 1, port.stdout);
    assert(
      port.stderr.includes(
        "--port 127.0.0.1:8123: expected a port not already used by http.port, got 8123",
      ),
      port.stderr,
    );
    const metrics = await runMain(["--check-config", cfg, "--metrics-port", "8123"]);
    assertEquals(metrics.code, 1, metrics.stdout);
    assert(metrics.stderr.includes("--metrics-port: expected a port not already used by"));
    const fine = await runMain(["--check-config", cfg, "--port", "8124"]);
    assertEquals(fine.code, 0, fine.stderr);
    // Core-managed (no --config): no HTTP egress, metrics on a free port: nothing collides.
    const core = await runMain(["--check-config", "--port", "8080"]);
    assertEquals(core.code, 0, core.stderr);
  });
});
