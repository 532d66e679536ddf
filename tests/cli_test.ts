/**
 * The command line: flag parsing, and what the real program prints and exits with for
 * `--version`, `--check-config`, `--help` and bad flags.
 */

import assert from "node:assert/strict";
import {
  applyOverrides,
  CliUsageError,
  CORE_MANAGED_CONFIG,
  EMBEDDED_DEFAULT_CONFIG,
  instanceName,
  isCoreManaged,
  parseCommandLine,
} from "../src/config/mod.ts";
import { type CliOverrides, parseMetricsPortFlag } from "../src/config/cli.ts";
import { FRAMES_USAGE } from "../src/cli/frames.ts";
import denoJson from "../deno.json" with { type: "json" };

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

/** Runs the engine's main.ts with `args`; returns exit code and output. */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

function usageError(args: string[]): CliUsageError {
  try {
    parseCommandLine(args);
  } catch (e) {
    if (e instanceof CliUsageError) return e;
    throw e;
  }
  throw new assert.AssertionError({ message: `no usage error for ${JSON.stringify(args)}` });
}

Deno.test("flags parse into a command", () => {
  assert.deepEqual(parseCommandLine([]), { kind: "run", configFile: undefined, overrides: {} });
  assert.deepEqual(
    parseCommandLine(["--config", "a.toml", "--log-level", "debug", "--log-format=human"]),
    {
      kind: "run",
      configFile: "a.toml",
      overrides: { logLevel: "debug", logFormat: "human" },
    },
  );
  assert.deepEqual(parseCommandLine(["--port", "50051", "--port=0.0.0.0:7000"]), {
    kind: "run",
    configFile: undefined,
    overrides: { grpcTcp: ["127.0.0.1:50051", "0.0.0.0:7000"] },
  });
  assert.deepEqual(parseCommandLine(["--check-config", "x.toml"]), {
    kind: "check-config",
    configFile: "x.toml",
    overrides: {},
  });
  assert.deepEqual(parseCommandLine(["--config=y.toml", "--check-config"]), {
    kind: "check-config",
    configFile: "y.toml",
    overrides: {},
  });
  assert.deepEqual(parseCommandLine(["--version"]), { kind: "version" });
  assert.deepEqual(parseCommandLine(["-h"]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["frames", "list", "--json"]), {
    kind: "frames",
    args: ["list", "--json"],
  });
  assert.deepEqual(parseCommandLine(["state", "export"]), { kind: "state", args: ["export"] });
});

Deno.test("bad flags are usage errors naming the argument", () => {
  assert.equal(usageError(["--frobnicate"]).message, "unknown option --frobnicate");
  assert.equal(usageError(["--frobnicate"]).argument, "--frobnicate");
  assert.equal(usageError(["stray"]).message, "unexpected argument stray");
  assert.equal(usageError(["--config"]).message, "--config needs a value");
  assert.equal(usageError(["--config", "--version"]).message, "--config needs a value");
  assert.equal(
    usageError(["--log-level", "loud"]).message,
    '--log-level: expected one of debug, info, warn, error, got "loud"',
  );
  assert.equal(
    usageError(["--log-format", "xml"]).message,
    '--log-format: expected one of json, human, got "xml"',
  );
  assert.equal(
    usageError(["--port", "70000"]).message,
    '--port: expected a port 1..65535 or "HOST:PORT", got "70000"',
  );
  assert.equal(usageError(["--version=2"]).message, "--version takes no value");
  assert.equal(
    usageError(["--config", "a.toml", "--check-config", "b.toml"]).message,
    "--check-config b.toml and --config a.toml name different files",
  );
});

Deno.test("--port replaces the gRPC listeners with TCP; log flags override [log]", () => {
  const c = applyOverrides(EMBEDDED_DEFAULT_CONFIG, {
    grpcTcp: ["127.0.0.1:50051"],
    logLevel: "warn",
    logFormat: "json",
  });
  assert.deepEqual(c.grpc, {
    unix_socket: undefined,
    unix_socket_mode: 0o660,
    tcp: ["127.0.0.1:50051"],
  });
  assert.deepEqual(c.log, { level: "warn", format: "json" });
  assert.equal(c.channels, EMBEDDED_DEFAULT_CONFIG.channels);
  assert.deepEqual(applyOverrides(EMBEDDED_DEFAULT_CONFIG, {}), EMBEDDED_DEFAULT_CONFIG);
});

Deno.test("Core-managed mode: --port without --config; --state-dir, --metrics-port, --metrics-targets", () => {
  const core = parseCommandLine(["--port", "50051", "--metrics-targets", "/run/t"]);
  assert.equal(core.kind, "run");
  assert.equal(isCoreManaged(core as { overrides: CliOverrides }), true);
  const withConfig = parseCommandLine(["--config", "a.toml", "--port", "50051"]);
  assert.equal(isCoreManaged(withConfig as { overrides: CliOverrides }), false);
  assert.equal(isCoreManaged(parseCommandLine([]) as { overrides: CliOverrides }), false);
  assert.deepEqual(
    parseCommandLine([
      "--state-dir",
      "/srv/state",
      "--metrics-port",
      "0",
      "--metrics-targets=/run/t",
    ]),
    {
      kind: "run",
      configFile: undefined,
      overrides: { stateDir: "/srv/state", metrics: { port: 0 }, metricsTargetsDir: "/run/t" },
    },
  );
  assert.deepEqual(parseMetricsPortFlag("127.0.0.1:0"), { bind: "127.0.0.1", port: 0 });
  assert.deepEqual(parseMetricsPortFlag("[::1]:9400"), { bind: "::1", port: 9400 });
  assert.equal(
    usageError(["--metrics-port", "99999"]).message,
    '--metrics-port: expected a port 0..65535 or "HOST:PORT", got "99999"',
  );
  assert.equal(usageError(["--state-dir="]).message, '--state-dir: expected a directory, got ""');

  // The Core-managed base: no channels, metrics on loopback at a free port.
  assert.deepEqual(CORE_MANAGED_CONFIG.channels, []);
  assert.deepEqual([CORE_MANAGED_CONFIG.metrics.bind, CORE_MANAGED_CONFIG.metrics.port], [
    "127.0.0.1",
    0,
  ]);
  const c = applyOverrides(EMBEDDED_DEFAULT_CONFIG, {
    stateDir: "/srv/state",
    metrics: { port: 9400 },
  });
  assert.equal(c.state_dir, "/srv/state");
  assert.deepEqual(c.metrics, { enabled: true, bind: "0.0.0.0", port: 9400 });
});

Deno.test("instance names: the default socket alone is the default instance; else the endpoints", () => {
  assert.equal(instanceName(EMBEDDED_DEFAULT_CONFIG), "default");
  const tcp = applyOverrides(CORE_MANAGED_CONFIG, { grpcTcp: ["127.0.0.1:50051"] });
  assert.equal(instanceName(tcp), "tcp-127.0.0.1-50051");
  const two = applyOverrides(CORE_MANAGED_CONFIG, { grpcTcp: ["[::1]:7000", "127.0.0.1:7001"] });
  assert.equal(instanceName(two), "tcp-127.0.0.1-7001+tcp-1-7000");
  const unix = {
    ...EMBEDDED_DEFAULT_CONFIG,
    grpc: { ...EMBEDDED_DEFAULT_CONFIG.grpc, unix_socket: "/run/a/playout.sock" },
  };
  assert.equal(instanceName(unix), "unix-run-a-playout.sock");
});

Deno.test("--version prints engine, API and FFmpeg library versions and exits 0", async () => {
  const { code, stdout, stderr } = await runMain(["--version"]);
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split("\n");
  assert.equal(lines[0], `retrovue_playout ${denoJson.version}`);
  assert.equal(lines[1], "playout API 1.0.0");
  const libs = ["libavutil", "libavcodec", "libavformat", "libswscale", "libswresample"];
  for (const lib of [...libs, "libavfilter"]) {
    assert.ok(
      lines.some((l) => new RegExp(`^${lib} \\d+\\.\\d+\\.\\d+$`).test(l)),
      `${lib} version line in ${JSON.stringify(stdout)}`,
    );
  }
  // The versions are the loaded libraries' (Debian 12 ships libavcodec 59).
  assert.ok(lines.some((l) => /^libavcodec 59\./.test(l)), stdout);
});

Deno.test("--check-config: 0 for a good file, 1 with every problem on stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    const good = `${dir}/good.toml`;
    const bad = `${dir}/bad.toml`;
    await Deno.writeTextFile(good, "[[channels]]\nid = 1\n");
    await Deno.writeTextFile(
      bad,
      '[[channels]]\nid = 1\nformat = { frame_rate = "29.97fps" }\n[[channels]]\nid = 1\n',
    );

    const ok = await runMain(["--check-config", good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `${good}: ok (1 channel)\n`);

    const ko = await runMain(["--check-config", bad]);
    assert.equal(ko.code, 1);
    assert.equal(ko.stdout, "");
    assert.equal(
      ko.stderr,
      `${bad}: 2 configuration problems:\n` +
        '  channels[0].format.frame_rate: expected "N/D" like "30000/1001", got "29.97fps"\n' +
        "  channels[1].id: expected a unique channel id (channels[0].id is also 1), got 1\n",
    );

    const syntax = `${dir}/syntax.toml`;
    await Deno.writeTextFile(syntax, "[http\nport = 1\n");
    const ks = await runMain(["--config", syntax, "--check-config"]);
    assert.equal(ks.code, 1);
    assert.match(ks.stderr, /line 1, column \d+: invalid TOML syntax/);

    const missing = await runMain(["--check-config", `${dir}/absent.toml`]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /absent\.toml: 1 configuration problem:\n {2}cannot read the file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad config stops the engine before it starts: exit 1, problems on stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    await Deno.writeTextFile(`${dir}/bad.toml`, "[metrics]\nport = 65536\n");
    const r = await runMain(["--config", `${dir}/bad.toml`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /metrics\.port: expected an integer port 0\.\.65535, got 65536/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown flag exits 2 with the usage on stderr; --help exits 0", async () => {
  const bad = await runMain(["--frobnicate"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /^unknown option --frobnicate\n\nUsage: retrovue_playout /);
  assert.match(bad.stderr, /--check-config \[FILE\]/);

  const help = await runMain(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: retrovue_playout /);
});

Deno.test("subcommands: `frames` goes to the frames tool, `state` to the backup tool", async () => {
  const frames = await runMain(["frames", "--help"]);
  assert.equal(frames.code, 0, frames.stderr);
  assert.equal(frames.stdout, FRAMES_USAGE + "\n");

  const state = await runMain(["state", "bogus"]);
  assert.equal(state.code, 2);
  assert.match(
    state.stderr,
    /^state: cannot "bogus" with these arguments\n\nUsage: retrovue_playout state export/,
  );
});
