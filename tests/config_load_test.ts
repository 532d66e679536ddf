/**
 * Configuration loading: valid files parse with defaults, and every kind of bad input yields
 * its exact `path: expected …, got …` message, all problems at once.
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  EMBEDDED_DEFAULT_CONFIG,
  formatProblem,
  loadConfigFile,
  parseConfigText,
  parseConfigTextChecked,
  type PlayoutConfig,
  toChannelSpec,
  toProgramFormat,
} from "../src/config/mod.ts";

const REPO = new URL("..", import.meta.url).pathname;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "config_load_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The ConfigError that `promise` must reject with. */
async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new assert.AssertionError({ message: "expected a ConfigError, nothing was thrown" });
}

/** The problem lines of a text that must fail to validate. */
async function problemsOf(text: string, baseDir = "/nonexistent-base"): Promise<string[]> {
  const error = await configError(parseConfigText(text, { source: "test.toml", baseDir }));
  assert.equal(error.source, "test.toml");
  return error.problems.map(formatProblem);
}

function parse(text: string, baseDir = "/nonexistent-base"): Promise<PlayoutConfig> {
  return parseConfigText(text, { source: "test.toml", baseDir });
}

Deno.test("a file with one channel id gets every default", async () => {
  const config = await parse("[[channels]]\nid = 7\n");
  assert.deepEqual(config.grpc, {
    unix_socket: "/var/run/retrovue/playout.sock",
    unix_socket_mode: 0o660,
    tcp: [],
  });
  assert.deepEqual(config.http, { bind: "0.0.0.0", port: 8080, public_url: "" });
  assert.deepEqual(config.tuner, { friendly_name: "RetroVue Playout" });
  assert.deepEqual(config.hls, { enabled: true, segment_gops: 1, window: 6 });
  assert.deepEqual(config.metrics, { enabled: true, bind: "0.0.0.0", port: 9308 });
  assert.deepEqual(config.log, { level: "info", format: "auto" });
  assert.deepEqual(config.state_dir, "/var/lib/retrovue-playout");
  assert.deepEqual(config.channels.length, 1);
  const ch = config.channels[0];
  assert.deepEqual(ch.id, 7);
  assert.deepEqual(ch.name, "Channel 7");
  assert.deepEqual(ch.format, {
    width: 1280,
    height: 720,
    frame_rate: "30000/1001",
    sample_rate: 48000,
    channels: 2,
    aspect_policy: "preserve",
  });
  assert.deepEqual(ch.video, { codec: "libx264", preset: "veryfast", crf: 23, keyint: 60 });
  assert.deepEqual(ch.audio, { codec: "aac", bitrate_kbps: 128 });
  assert.deepEqual(ch.decode, { skip_loop_filter: "auto", share: true });
  assert.deepEqual(ch.source, { type: "test_pattern" });
  assert.deepEqual(ch.frame_sink, {
    enabled: true,
    unix: "/run/retrovue/playout-7",
    tcp: undefined,
  });
  assert.deepEqual(ch.http_egress, true);
  assert.deepEqual([ch.number, ch.logo, ch.group], ["7", undefined, undefined]);
});

Deno.test("an empty file is valid: no channels, default listeners", async () => {
  const config = await parse("");
  assert.deepEqual(config.channels, []);
  assert.deepEqual(config.grpc.unix_socket, "/var/run/retrovue/playout.sock");
});

Deno.test("packaging/config.toml is valid and describes the demo channel", async () => {
  const config = await loadConfigFile(`${REPO}packaging/config.toml`);
  assert.deepEqual(config.channels.map((c) => [c.id, c.name]), [[1, "RetroVue Demo"]]);
  assert.deepEqual(config.channels[0].source, { type: "test_pattern" });
  assert.deepEqual(config.http.port, 8080);
  assert.deepEqual(config.metrics.port, 9308);
});

Deno.test("the embedded default: demo channel 1 from the test pattern, 8080, 9308", () => {
  const c = EMBEDDED_DEFAULT_CONFIG;
  assert.deepEqual(c.channels.length, 1);
  assert.deepEqual(c.channels[0].id, 1);
  assert.deepEqual(c.channels[0].name, "RetroVue Demo");
  assert.deepEqual(c.channels[0].source, { type: "test_pattern" });
  assert.deepEqual(c.channels[0].frame_sink.unix, "/run/retrovue/playout-1");
  assert.deepEqual(c.channels[0].http_egress, true);
  assert.deepEqual([c.http.bind, c.http.port, c.metrics.port], ["0.0.0.0", 8080, 9308]);
  assert.deepEqual(c.grpc.unix_socket, "/var/run/retrovue/playout.sock");
  assert.ok(Object.isFrozen(c.channels[0].format), "the embedded default is immutable");
});

Deno.test("a full channel: mpeg2/mp2, playlist with relative paths, tcp frame sink", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/media`);
    await Deno.writeTextFile(`${dir}/media/a.ts`, "");
    await Deno.writeTextFile(`${dir}/b.ts`, "");
    await Deno.writeTextFile(
      `${dir}/c.toml`,
      `
[grpc]
unix_socket = ""
tcp = ["127.0.0.1:50051", "[::1]:50052"]
[log]
level = "debug"
format = "human"
[[channels]]
id = 3
name = "Three"
http_egress = false
format = { width = 720, height = 576, frame_rate = "25", sample_rate = 44100, channels = 1, aspect_policy = "crop" }
video = { codec = "mpeg2video", bitrate_kbps = 4000 }
audio = { codec = "mp2" }
source = { type = "playlist", files = ["media/a.ts", "${dir}/b.ts"], loop = false }
frame_sink = { tcp = "127.0.0.1:9401" }
[[channels]]
id = 4
source = { type = "directory", path = "media" }
`,
    );
    const config = await loadConfigFile(`${dir}/c.toml`);
    assert.deepEqual(config.grpc.unix_socket, undefined);
    assert.deepEqual(config.grpc.tcp, ["127.0.0.1:50051", "[::1]:50052"]);
    assert.deepEqual(config.log, { level: "debug", format: "human" });
    const [three, four] = config.channels;
    assert.deepEqual(three.video, {
      codec: "mpeg2video",
      preset: "veryfast",
      bitrate_kbps: 4000,
      keyint: 50,
    });
    assert.deepEqual(three.audio, { codec: "mp2", bitrate_kbps: 192 });
    assert.deepEqual(three.source, {
      type: "playlist",
      files: [`${dir}/media/a.ts`, `${dir}/b.ts`],
      loop: false,
    });
    assert.deepEqual(three.frame_sink, { enabled: true, unix: undefined, tcp: "127.0.0.1:9401" });
    assert.deepEqual(three.http_egress, false);
    assert.deepEqual(toProgramFormat(three.format), {
      width: 720,
      height: 576,
      frameRate: { num: 25, den: 1 },
      sampleRate: 44100,
      channels: 1,
      aspectPolicy: "crop",
    });
    assert.deepEqual(four.source.type === "directory" && four.source.path, `${dir}/media`);
    assert.deepEqual(four.source.type === "directory" && four.source.loop, true);
  });
});

Deno.test("bad TOML syntax: line and column", async () => {
  assert.deepEqual(await problemsOf("[[channels]]\nid = 1\nname = \n"), [
    "line 3, column 8: invalid TOML syntax: invalid value",
  ]);
  assert.deepEqual(await problemsOf('[log]\nlevel = "info"\nlevel = "debug"\n'), [
    "line 3, column 1: invalid TOML syntax: trying to redefine an already defined table or value",
  ]);
});

Deno.test("a bad rational frame rate names the path, the expected form and what was found", async () => {
  const channels = "[[channels]]\nid = 1\n[[channels]]\nid = 2\n[[channels]]\nid = 3\n";
  assert.deepEqual(
    await problemsOf(channels + '[channels.format]\nframe_rate = "29.97fps"\n'),
    ['channels[2].format.frame_rate: expected "N/D" like "30000/1001", got "29.97fps"'],
  );
  assert.deepEqual(
    await problemsOf('[[channels]]\nid = 1\nformat = { frame_rate = "1000/1" }\n'),
    ['channels[0].format.frame_rate: expected a frame rate of 1..240 fps, got "1000/1"'],
  );
});

Deno.test("decode.skip_loop_filter takes its five settings and names the path of a bad one", async () => {
  for (const skip of ["auto", "none", "nonref", "bidir", "all"]) {
    const config = await parse(`[[channels]]\nid = 1\ndecode = { skip_loop_filter = "${skip}" }\n`);
    assert.deepEqual(config.channels[0].decode, { skip_loop_filter: skip, share: true });
    assert.deepEqual(toChannelSpec(config.channels[0]).decode, {
      skipLoopFilter: skip,
      share: true,
    });
  }
  assert.deepEqual(
    await problemsOf('[[channels]]\nid = 1\ndecode = { skip_loop_filter = "some" }\n'),
    [
      'channels[0].decode.skip_loop_filter: expected one of "auto", "none", "nonref", "bidir" or "all", got "some"',
    ],
  );
});

Deno.test("decode.share turns shared decoding off, and a bad value names its path", async () => {
  const config = await parse("[[channels]]\nid = 1\ndecode = { share = false }\n");
  assert.deepEqual(toChannelSpec(config.channels[0]).decode, {
    skipLoopFilter: "auto",
    share: false,
  });
  assert.deepEqual(
    await problemsOf('[[channels]]\nid = 1\ndecode = { share = "no" }\n'),
    ['channels[0].decode.share: expected true or false, got "no"'],
  );
});

Deno.test("wrong types say what was expected and what was found", async () => {
  assert.deepEqual(
    await problemsOf('[[channels]]\nid = "one"\nformat = { width = "1280", height = 721 }\n'),
    [
      'channels[0].format.width: expected an even integer 16..7680, got "1280"',
      "channels[0].format.height: expected an even integer 16..4320, got 721",
      'channels[0].id: expected an integer channel id 1..2147483647, got "one"',
    ].sort(),
  );
  assert.deepEqual(await problemsOf("channels = 5\n"), [
    "channels: expected an array of [[channels]] tables, got 5",
  ]);
  assert.deepEqual(await problemsOf('[[channels]]\nname = "x"\n'), [
    "channels[0].id: expected an integer channel id 1..2147483647, got nothing",
  ]);
  assert.deepEqual(await problemsOf('[http]\nport = "80"\n[log]\nlevel = "loud"\n'), [
    'http.port: expected an integer port 0..65535, got "80"',
    'log.level: expected one of "debug", "info", "warn" or "error", got "loud"',
  ]);
});

Deno.test("unknown keys are errors naming the key and the known ones", async () => {
  assert.deepEqual(await problemsOf("[[channels]]\nid = 1\n[channels.format]\nfps = 25\n"), [
    "channels[0].format.fps: unknown key, expected one of width, height, frame_rate, " +
    "sample_rate, channels, aspect_policy",
  ]);
  assert.deepEqual(await problemsOf("verbose = true\n"), [
    "verbose: unknown key, expected one of grpc, http, tuner, hls, metrics, log, evidence, " +
    "state_dir, channels",
  ]);
});

Deno.test("viewer-facing settings: public URL, tuner identity, HLS, channel number/logo/group", async () => {
  const config = await parse([
    '[http]\npublic_url = "https://tv.example.com/retrovue/"',
    '[tuner]\ndevice_id = "1a2b3c4d"\nfriendly_name = "Den"\ntuner_count = 2',
    "[hls]\nsegment_gops = 2\nwindow = 8",
    '[[channels]]\nid = 3\nnumber = "5.1"\nlogo = "https://img.example/5.png"\ngroup = "Retro"',
  ].join("\n"));
  assert.deepEqual(config.http.public_url, "https://tv.example.com/retrovue/");
  assert.deepEqual(config.tuner, { device_id: "1a2b3c4d", friendly_name: "Den", tuner_count: 2 });
  assert.deepEqual(config.hls, { enabled: true, segment_gops: 2, window: 8 });
  const ch = config.channels[0];
  assert.deepEqual([ch.number, ch.logo, ch.group], ["5.1", "https://img.example/5.png", "Retro"]);
  assert.deepEqual((await parse('[http]\npublic_url = "/tv"')).http.public_url, "/tv");
});

Deno.test("bad viewer-facing settings name the setting and the value", async () => {
  const problems = await problemsOf([
    '[http]\npublic_url = "ftp://x/y"',
    '[tuner]\ndevice_id = "xyz"',
    "[hls]\nwindow = 3",
    "[[channels]]\nid = 1",
    '[[channels]]\nid = 2\nnumber = "one"',
    '[[channels]]\nid = 3\nnumber = "1"',
  ].join("\n"));
  assert.deepEqual(problems, [
    'channels[1].number: expected a channel number like "7" or "7.1", got "one"',
    'channels[2].number: expected a unique channel number (channels[0] is also number 1), got "1"',
    "hls.window: expected an integer 6..60, got 3",
    'http.public_url: expected an http(s) URL like "https://tv.example.com/retrovue", a path ' +
    'prefix like "/retrovue", or "", got "ftp://x/y"',
    'tuner.device_id: expected 8 hex digits like "1a2b3c4d", got "xyz"',
  ]);
});

Deno.test("duplicate channel ids point at the second and name the first", async () => {
  assert.deepEqual(
    await problemsOf("[[channels]]\nid = 4\n[[channels]]\nid = 5\n[[channels]]\nid = 4\n"),
    ["channels[2].id: expected a unique channel id (channels[0].id is also 4), got 4"],
  );
});

Deno.test("ports out of range and colliding ports", async () => {
  assert.deepEqual(await problemsOf("[http]\nport = 70000\n[metrics]\nport = -1\n"), [
    "http.port: expected an integer port 0..65535, got 70000",
    "metrics.port: expected an integer port 0..65535, got -1",
  ]);
  assert.deepEqual(await problemsOf('[grpc]\ntcp = ["localhost:99999", "nohost"]\n'), [
    'grpc.tcp[0]: expected "HOST:PORT" with port 1..65535, like "127.0.0.1:50051", ' +
    'got "localhost:99999"',
    'grpc.tcp[1]: expected "HOST:PORT" with port 1..65535, like "127.0.0.1:50051", got "nohost"',
  ]);
  assert.deepEqual(await problemsOf("[metrics]\nport = 8080\n"), [
    "metrics.port: expected a port not already used by http.port, got 8080",
  ]);
  // Port 0 (any free port) never collides.
  const config = await parse("[http]\nport = 0\n[metrics]\nport = 0\n");
  assert.deepEqual([config.http.port, config.metrics.port], [0, 0]);
});

Deno.test("conflicts startup would hit: frame-sink paths and ports, defaults included", async () => {
  assert.deepEqual(
    await problemsOf(`[[channels]]
id = 1
frame_sink = { unix = "/tmp/sink" }
[[channels]]
id = 2
frame_sink = { unix = "/tmp/sink" }
`),
    [
      "channels[1].frame_sink.unix: expected a socket path not already used by " +
      'channels[0].frame_sink.unix, got "/tmp/sink"',
    ],
  );
  // Channel 2's default sink path is the one channel 1 names.
  assert.deepEqual(
    await problemsOf(`[[channels]]
id = 1
frame_sink = { unix = "/run/retrovue/playout-2" }
[[channels]]
id = 2
`),
    [
      "channels[1].frame_sink.unix: expected a socket path not already used by " +
      "channels[0].frame_sink.unix (the default /run/retrovue/playout-2), got nothing",
    ],
  );
  assert.deepEqual(
    await problemsOf(`[grpc]
unix_socket = "/tmp/one.sock"
[[channels]]
id = 1
frame_sink = { unix = "/tmp/one.sock" }
`),
    [
      "channels[0].frame_sink.unix: expected a socket path not already used by " +
      'grpc.unix_socket, got "/tmp/one.sock"',
    ],
  );
  assert.deepEqual(
    await problemsOf(`[http]
port = 8099
[[channels]]
id = 1
frame_sink = { tcp = "127.0.0.1:8099" }
[[channels]]
id = 2
frame_sink = { tcp = "0.0.0.0:9308" }
[[channels]]
id = 3
frame_sink = { tcp = "127.0.0.1:7000" }
[[channels]]
id = 4
frame_sink = { tcp = "127.0.0.1:7000" }
`),
    [
      'channels[0].frame_sink.tcp: expected a port not already used by http.port, got "127.0.0.1:8099"',
      "channels[1].frame_sink.tcp: expected a port not already used by metrics.port, got " +
      '"0.0.0.0:9308"',
      "channels[3].frame_sink.tcp: expected a port not already used by " +
      'channels[2].frame_sink.tcp, got "127.0.0.1:7000"',
    ],
  );
  // A disabled sink claims nothing.
  const ok = await parse(`[[channels]]
id = 1
frame_sink = { unix = "/tmp/s" }
[[channels]]
id = 2
frame_sink = { enabled = false, unix = "/tmp/s" }
`);
  assert.equal(ok.channels.length, 2);
});

Deno.test("missing media is a warning, not a problem: the config loads", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/there.mp4`, "");
    const { config, warnings } = await parseConfigTextChecked(
      `[[channels]]
id = 1
source = { type = "playlist", files = ["there.mp4", "gone.mp4", "${dir}"] }
[[channels]]
id = 2
source = { type = "directory", path = "/no/such/dir" }
[[channels]]
id = 3
source = { type = "directory", path = "there.mp4" }
`,
      { source: "test.toml", baseDir: dir },
    );
    assert.equal(config.channels.length, 3);
    assert.deepEqual(warnings.map(formatProblem), [
      `channels[0].source.files[1]: expected an existing file, got "gone.mp4" (${dir}/gone.mp4)` +
      ": does not exist",
      `channels[0].source.files[2]: expected an existing file, got "${dir}": not a file`,
      'channels[1].source.path: expected an existing directory, got "/no/such/dir": does not exist',
      `channels[2].source.path: expected an existing directory, got "there.mp4" (${dir}/there.mp4)` +
      ": not a directory",
    ]);
  });
});

Deno.test("encoder rules: crf xor bitrate, no crf for mpeg2video, source types", async () => {
  assert.deepEqual(
    await problemsOf("[[channels]]\nid = 1\nvideo = { crf = 20, bitrate_kbps = 3000 }\n"),
    ["channels[0].video.bitrate_kbps: expected crf or bitrate_kbps, not both, got 3000"],
  );
  assert.deepEqual(
    await problemsOf('[[channels]]\nid = 1\nvideo = { codec = "mpeg2video", crf = 20 }\n'),
    ['channels[0].video.crf: expected no crf with codec "mpeg2video" (use bitrate_kbps), got 20'],
  );
  assert.deepEqual(await problemsOf('[[channels]]\nid = 1\nsource = { type = "files" }\n'), [
    'channels[0].source.type: expected one of "test_pattern", "playlist", "directory" or "none"' +
    ', got "files"',
  ]);
  assert.deepEqual(await problemsOf('[[channels]]\nid = 1\nsource = { type = "playlist" }\n'), [
    "channels[0].source.files: expected a list of file paths, got nothing",
  ]);
});

Deno.test("every problem is listed at once, in path order", async () => {
  const problems = await problemsOf(`
state_dir = ""
[http]
port = 123456
[[channels]]
id = 1
format = { frame_rate = "fast", sample_rate = 22000, channels = 9 }
[[channels]]
id = 1
source = { type = "directory", path = "/definitely/not/here" }
frame_sink = { enabled = "yes" }
`);
  assert.deepEqual(problems, [
    "channels[0].format.channels: expected an integer 1..8, got 9",
    'channels[0].format.frame_rate: expected "N/D" like "30000/1001", got "fast"',
    "channels[0].format.sample_rate: expected one of 8000, 11025, 12000, 16000, 22050, 24000, " +
    "32000, 44100, 48000, 64000, 88200, 96000, got 22000",
    'channels[1].frame_sink.enabled: expected true or false, got "yes"',
    "channels[1].id: expected a unique channel id (channels[0].id is also 1), got 1",
    "http.port: expected an integer port 0..65535, got 123456",
    'state_dir: expected a non-empty path, got ""',
  ]);
});

Deno.test("the ConfigError message lists the file and every problem", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/bad.toml`;
    await Deno.writeTextFile(file, "[http]\nport = 99999\nbind = 5\n");
    const error = await configError(loadConfigFile(file));
    assert.deepEqual(
      error.message,
      `${file}: 2 configuration problems:\n` +
        "  http.bind: expected a bind address, got 5\n" +
        "  http.port: expected an integer port 0..65535, got 99999",
    );
    const missing = await configError(loadConfigFile(`${dir}/none.toml`));
    assert.deepEqual(missing.problems.length, 1);
    assert.ok(missing.problems[0].message.startsWith("cannot read the file: "));
  });
});

Deno.test("socket mode: octal string or integer; keyint default follows the frame rate", async () => {
  const c = await parse(
    '[grpc]\nunix_socket_mode = "0600"\n[[channels]]\nid = 1\nformat = { frame_rate = "50" }\n',
  );
  assert.deepEqual(c.grpc.unix_socket_mode, 0o600);
  assert.deepEqual(c.channels[0].video.keyint, 100);
  assert.deepEqual(
    (await parse("[grpc]\nunix_socket_mode = 0o640\n")).grpc.unix_socket_mode,
    0o640,
  );
  assert.deepEqual(await problemsOf('[grpc]\nunix_socket_mode = "rw-rw----"\n'), [
    'grpc.unix_socket_mode: expected permission bits like "0660" (a string) or 0o660, ' +
    'got "rw-rw----"',
  ]);
});

Deno.test("toChannelSpec gives the engine the channel's format, encoders and source", async () => {
  const config = await parse(
    '[[channels]]\nid = 9\nname = "Nine"\nformat = { frame_rate = "24000/1001" }\n' +
      'video = { preset = "fast", bitrate_kbps = 2500 }\nsource = { type = "none" }\n',
  );
  assert.deepEqual(toChannelSpec(config.channels[0]), {
    id: 9,
    name: "Nine",
    format: {
      width: 1280,
      height: 720,
      frameRate: { num: 24000, den: 1001 },
      sampleRate: 48000,
      channels: 2,
      aspectPolicy: "preserve",
    },
    video: {
      codec: "libx264",
      preset: "fast",
      crf: undefined,
      bitrateKbps: 2500,
      keyintFrames: 48,
    },
    audio: { codec: "aac", bitrateKbps: 128 },
    source: { kind: "none" },
    decode: { skipLoopFilter: "auto", share: true },
  });
  assert.deepEqual(toChannelSpec(EMBEDDED_DEFAULT_CONFIG.channels[0]).source, {
    kind: "test_pattern",
  });
});
