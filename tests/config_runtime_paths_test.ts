/**
 * Default runtime paths fall back when their directory is not writable; configured paths stay.
 */

import assert from "node:assert/strict";
import {
  EMBEDDED_DEFAULT_CONFIG,
  parseConfigText,
  resolveMetricsTargetsDir,
  resolveRuntimePaths,
} from "../src/config/mod.ts";
import { probeWritableDir } from "../src/config/runtime_paths.ts";

Deno.test("writable defaults are kept and reported", async () => {
  const probed: string[] = [];
  const { config, choices } = await resolveRuntimePaths(EMBEDDED_DEFAULT_CONFIG, {
    probeDir: (dir) => {
      probed.push(dir);
      return Promise.resolve(undefined);
    },
    env: () => undefined,
    uid: 1000,
  });
  assert.equal(config.grpc.unix_socket, "/var/run/retrovue/playout.sock");
  assert.equal(config.channels[0].frame_sink.unix, "/run/retrovue/playout-1");
  assert.equal(config.state_dir, "/var/lib/retrovue-playout");
  assert.deepEqual(choices, [
    { setting: "grpc.unix_socket", path: "/var/run/retrovue/playout.sock" },
    { setting: "state_dir", path: "/var/lib/retrovue-playout" },
    { setting: "channels[0].frame_sink.unix", path: "/run/retrovue/playout-1" },
  ]);
  assert.deepEqual(probed.sort(), [
    "/run/retrovue",
    "/var/lib/retrovue-playout",
    "/var/run/retrovue",
  ]);
});

Deno.test("unwritable defaults move under $XDG_RUNTIME_DIR / $XDG_STATE_HOME", async () => {
  const dir = await Deno.makeTempDir({ prefix: "config_runtime_paths_test_" });
  try {
    const env: Record<string, string> = {
      XDG_RUNTIME_DIR: `${dir}/run`,
      XDG_STATE_HOME: `${dir}/state`,
    };
    const { config, choices } = await resolveRuntimePaths(EMBEDDED_DEFAULT_CONFIG, {
      probeDir: (d) => Promise.resolve(d.startsWith(dir) ? undefined : "permission denied"),
      env: (name) => env[name],
      uid: 1000,
    });
    assert.equal(config.grpc.unix_socket, `${dir}/run/retrovue/playout.sock`);
    assert.equal(config.channels[0].frame_sink.unix, `${dir}/run/retrovue/playout-1`);
    assert.equal(config.state_dir, `${dir}/state/retrovue-playout`);
    assert.ok((await Deno.stat(`${dir}/run/retrovue`)).isDirectory, "fallback dir created");
    assert.ok((await Deno.stat(`${dir}/state/retrovue-playout`)).isDirectory);
    assert.deepEqual(choices.find((c) => c.setting === "grpc.unix_socket"), {
      setting: "grpc.unix_socket",
      path: `${dir}/run/retrovue/playout.sock`,
      fallbackFrom: "/var/run/retrovue/playout.sock",
      reason: "permission denied",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without $XDG_RUNTIME_DIR the socket fallback is /tmp/retrovue-<uid>", async () => {
  // An unused uid, so that the test owns /tmp/retrovue-<uid>.
  const uid = 900_000_000 + Math.floor(Math.random() * 1_000_000);
  const { config } = await resolveRuntimePaths(
    { ...EMBEDDED_DEFAULT_CONFIG, state_dir: "/srv/state", channels: [] },
    { probeDir: () => Promise.resolve("read-only file system"), env: () => undefined, uid },
  );
  try {
    assert.equal(config.grpc.unix_socket, `/tmp/retrovue-${uid}/playout.sock`);
    assert.equal(config.state_dir, "/srv/state", "a configured state_dir is kept");
  } finally {
    await Deno.remove(`/tmp/retrovue-${uid}`, { recursive: true });
  }
});

Deno.test("configured (non-default) socket paths are used as they are", async () => {
  const configured = await parseConfigText(
    '[grpc]\nunix_socket = "/x/grpc.sock"\n[[channels]]\nid = 2\nframe_sink = { unix = "/x/f" }\n',
    { source: "t.toml", baseDir: "/" },
  );
  const { config, choices } = await resolveRuntimePaths({ ...configured, state_dir: "/x/s" }, {
    probeDir: () => Promise.resolve("never writable"),
    env: () => undefined,
    uid: 1,
  });
  assert.equal(config.grpc.unix_socket, "/x/grpc.sock");
  assert.equal(config.channels[0].frame_sink.unix, "/x/f");
  assert.deepEqual(choices, []);
});

Deno.test("probeWritableDir creates the directory, and reports why it cannot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "config_runtime_paths_test_" });
  try {
    assert.equal(await probeWritableDir(`${dir}/a/b`), undefined);
    assert.ok((await Deno.stat(`${dir}/a/b`)).isDirectory);
    assert.deepEqual([...Deno.readDirSync(`${dir}/a/b`)], [], "the probe file is removed");
    await Deno.writeTextFile(`${dir}/file`, "");
    const why = await probeWritableDir(`${dir}/file/sub`);
    assert.equal(typeof why, "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics targets directory: the default when writable, else XDG_RUNTIME_DIR, else /tmp", async () => {
  const denied = () => Promise.resolve("Permission denied (os error 13)");
  const writable = () => Promise.resolve(undefined);
  assert.deepEqual(await resolveMetricsTargetsDir(undefined, { probeDir: writable }), {
    setting: "--metrics-targets",
    path: "/run/retrovue-playout/metrics-targets",
  });
  const xdg = await resolveMetricsTargetsDir(undefined, {
    probeDir: denied,
    env: (n) => (n === "XDG_RUNTIME_DIR" ? "/run/user/1000" : undefined),
    uid: 1000,
  });
  assert.equal(xdg.path, "/run/user/1000/retrovue-playout/metrics-targets");
  assert.equal(xdg.fallbackFrom, "/run/retrovue-playout/metrics-targets");
  assert.equal(xdg.reason, "Permission denied (os error 13)");
  const tmp = await resolveMetricsTargetsDir(undefined, {
    probeDir: denied,
    env: () => undefined,
    uid: 1000,
  });
  assert.equal(tmp.path, "/tmp/retrovue-1000/metrics-targets");
  // Given explicitly: used as it is, nothing probed.
  assert.deepEqual(
    await resolveMetricsTargetsDir("/srv/targets", {
      probeDir: () => Promise.reject(new Error("probed")),
    }),
    { setting: "--metrics-targets", path: "/srv/targets" },
  );
});
