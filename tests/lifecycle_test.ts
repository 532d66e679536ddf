/**
 * Process lifecycle of the real program: start with a config whose sockets live in a temp
 * dir, SIGHUP with an invalid and then a valid changed config, SIGTERM / SIGINT → exit 0 with
 * the socket files removed.
 */

import assert from "node:assert/strict";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** Generous liveness bound for waiting on a log event. */
const EVENT_TIMEOUT_MS = 30_000;

type LogRecord = Record<string, unknown> & { event: string; level: string };

/** A running engine and its JSON log lines. */
class Engine {
  readonly records: LogRecord[] = [];
  readonly stray: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdoutDone: Promise<void>;
  readonly stderr: Promise<string>;
  #waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdoutDone = this.#readLines();
    this.stderr = new Response(this.#child.stderr).text();
  }

  async #readLines(): Promise<void> {
    let buffered = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.records.push(JSON.parse(line));
        } catch (e) {
          if (!(e instanceof SyntaxError)) throw e;
          this.stray.push(line); // Not a JSON line: the test below asserts there are none.
        }
      }
      for (const wake of this.#waiters.splice(0)) wake();
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The first record at index >= `from` with `event`; waits for it (bounded). */
  async waitFor(event: string, from = 0): Promise<LogRecord> {
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (true) {
      const found = this.records.slice(from).find((r) => r.event === event);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new assert.AssertionError({
          message: `no "${event}" event; log so far:\n${
            this.records.map((r) => JSON.stringify(r)).join("\n")
          }\n` +
            `stderr: ${await Promise.race([this.stderr, Promise.resolve("(still open)")])}`,
        });
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, 200);
      });
      clearTimeout(timer);
    }
  }

  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** For cleanup after a failed assertion: SIGKILL unless the process already exited. */
  async killIfRunning(): Promise<void> {
    let exited = false;
    const status = this.#child.status.then(() => exited = true);
    await new Promise((r) => setTimeout(r, 0));
    if (!exited) this.#child.kill("SIGKILL");
    await status;
    await this.#stdoutDone;
  }

  /** Exit status, after stdout is drained. */
  async status(): Promise<Deno.CommandStatus> {
    const status = await this.#child.status;
    await this.#stdoutDone;
    return status;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function configText(dir: string, channelName: string, channel1 = ""): string {
  return `
state_dir = "${dir}/state"
[grpc]
unix_socket = "${dir}/playout.sock"
unix_socket_mode = "0600"
[http]
port = 0
[metrics]
port = 0
[[channels]]
id = 1
name = "${channelName}"
source = { type = "none" }${channel1}
frame_sink = { unix = "${dir}/sink-1" }
[[channels]]
id = 2
source = { type = "none" }
frame_sink = { enabled = false }
`;
}

Deno.test("SIGHUP rejects an invalid config, applies a valid one; SIGTERM exits 0 and cleans up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lifecycle_test_" });
  const configFile = `${dir}/config.toml`;
  await Deno.mkdir(`${dir}/state`);
  await Deno.writeTextFile(configFile, configText(dir, "First"));
  const engine = new Engine(["--config", configFile]);
  try {
    const ready = await engine.waitFor("ready");
    assert.equal(ready.level, "info");
    assert.ok(await exists(`${dir}/playout.sock`), "gRPC socket file exists once ready");
    assert.ok((await Deno.lstat(`${dir}/playout.sock`)).isSocket);
    assert.equal((await Deno.lstat(`${dir}/playout.sock`)).mode! & 0o777, 0o600);
    assert.ok(await exists(`${dir}/sink-1`), "frame-sink socket exists once ready");

    // Invalid config: every problem logged, nothing changes, still running.
    await Deno.writeTextFile(
      configFile,
      configText(dir, "Second").replace("port = 0\n[metrics]", "port = 99999\n[metrics]") +
        "bogus = 1\n",
    );
    let mark = engine.records.length;
    engine.kill("SIGHUP");
    const rejected = await engine.waitFor("config_reload_rejected", mark);
    assert.equal(rejected.level, "error");
    assert.deepEqual(rejected.problems, [
      "channels[1].bogus: unknown key, expected one of id, name, format, video, audio, " +
      "decode, source, frame_sink, http_egress, number, logo, group",
      "http.port: expected an integer port 0..65535, got 99999",
    ]);
    assert.equal(engine.records.slice(mark).find((r) => r.event === "config_reloaded"), undefined);
    assert.ok(await exists(`${dir}/playout.sock`), "still serving after a rejected reload");

    // Valid config that only renames channel 1: applied, nothing restarts.
    await Deno.writeTextFile(configFile, configText(dir, "Second"));
    mark = engine.records.length;
    engine.kill("SIGHUP");
    const renamed = await engine.waitFor("config_reloaded", mark);
    assert.deepEqual(renamed.changed_channels, []);

    // Valid config with channel 1's binding changed: applied, reported.
    await Deno.writeTextFile(
      configFile,
      configText(dir, "Second", "\nformat = { width = 640, height = 360 }"),
    );
    mark = engine.records.length;
    engine.kill("SIGHUP");
    const reloaded = await engine.waitFor("config_reloaded", mark);
    assert.deepEqual(reloaded.changed_channels, [1]);

    // Stop.
    mark = engine.records.length;
    // How fast it stops (the 5 s contract) is measured by `deno task bench responsiveness`.
    engine.kill("SIGTERM");
    const status = await engine.status();
    assert.equal(status.code, 0, await engine.stderr);
    const stopped = await engine.waitFor("stopped", mark);
    assert.equal(stopped.signal, "SIGTERM");
    assert.equal(await exists(`${dir}/playout.sock`), false, "gRPC socket removed");
    assert.equal(await exists(`${dir}/sink-1`), false, "frame-sink socket removed");
    assert.deepEqual(engine.stray, [], "stdout (not a terminal) carries only JSON lines");
  } finally {
    await engine.killIfRunning();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGINT stops the engine the same way", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lifecycle_test_" });
  await Deno.mkdir(`${dir}/state`);
  await Deno.writeTextFile(`${dir}/config.toml`, configText(dir, "Only"));
  const engine = new Engine(["--config", `${dir}/config.toml`, "--log-level", "warn"]);
  try {
    // At level warn there is no "ready" line; wait for the socket instead.
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (!(await exists(`${dir}/playout.sock`))) {
      assert.ok(Date.now() < deadline, "socket appeared");
      await new Promise((r) => setTimeout(r, 50));
    }
    engine.kill("SIGINT");
    const status = await engine.status();
    assert.equal(status.code, 0, await engine.stderr);
    assert.equal(await exists(`${dir}/playout.sock`), false);
    assert.deepEqual(
      engine.records.filter((r) => r.level === "info").map((r) => r.event),
      [],
      "--log-level warn suppresses info events",
    );
  } finally {
    await engine.killIfRunning();
    await Deno.remove(dir, { recursive: true });
  }
});
