/**
 * `state export` / `state import` round trip through the real CLI, and the engine picking up
 * stored plans at start (warm standby / restart after a crash).
 */

import { assert, assertEquals } from "./assert.ts";
import { PlanStore } from "../src/engine/plan_store.ts";
import type { BlockPlan } from "../src/engine/plan.ts";
import { block, segment } from "./plan_builders.ts";
import { instanceName, parseConfigText } from "../src/config/mod.ts";
import { startPlayout } from "../src/playout.ts";
import { Logger } from "../src/log/log.ts";
import { until } from "./egress_fixtures.ts";
import { TEST_FORMAT } from "./manager_fixtures.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** A block of one PAD segment on channel 3. */
function padBlock(id: string, start: number, ms: number): BlockPlan {
  return block(id, start, [segment(0, "", ms)], 3);
}

function configText(dir: string): string {
  return [
    `state_dir = "${dir}/state"`,
    `[grpc]\nunix_socket = "${dir}/playout.sock"`,
    `[http]\nbind = "127.0.0.1"\nport = 0`,
    `[metrics]\nenabled = false`,
    `[[channels]]\nid = 1\n[channels.format]\nwidth = 160\nheight = 90\nframe_rate = "25"`,
    `[channels.video]\npreset = "ultrafast"`,
    `[channels.frame_sink]\nenabled = false`,
  ].join("\n");
}

Deno.test("state export -> import round-trips the config, the active plans and the DeviceID", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cfg = `${dir}/config.toml`;
    await Deno.writeTextFile(cfg, configText(dir));
    const plans = [{
      id: 3,
      attached: { transport: "unix" as const, endpoint: "/run/core/ch3.sock" },
      blockSession: { blocks: [padBlock("A", 1_800_000_000_000, 4000)], maxQueueDepth: 2 },
    }];
    // The config's engine instance (its gRPC socket) keys the store file.
    const instance = instanceName(
      await parseConfigText(configText(dir), { source: "test", baseDir: dir }),
    );
    await new PlanStore(`${dir}/state`, instance).write(plans);
    await Deno.writeTextFile(`${dir}/state/device_id`, "0badcafe\n");

    const exported = await cli(["state", "export", "--config", cfg, "--out", `${dir}/backup.json`]);
    assertEquals(exported.code, 0, exported.stderr);
    const backup = JSON.parse(await Deno.readTextFile(`${dir}/backup.json`));
    assertEquals(backup.kind, "retrovue-playout-state");
    assertEquals(backup.configToml, configText(dir));
    assertEquals(backup.activePlans.channels, plans);
    assertEquals(backup.deviceId, "0BADCAFE");

    const imported = await cli([
      "state",
      "import",
      `${dir}/backup.json`,
      "--config",
      `${dir}/restored.toml`,
      "--state-dir",
      `${dir}/standby`,
    ]); // deno-fmt-ignore
    assertEquals(imported.code, 0, imported.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/restored.toml`), configText(dir));
    assertEquals((await new PlanStore(`${dir}/standby`, instance).read())?.channels, plans);
    assertEquals(await Deno.readTextFile(`${dir}/standby/device_id`), "0BADCAFE\n");
    // The restored engine presents the same tuner to Plex/Jellyfin.
    const restored = await parseConfigText(configText(dir), { source: "t", baseDir: dir });
    const standby = await startPlayout(
      { ...restored, state_dir: `${dir}/standby` },
      new Logger({ write: () => {} }),
      { persistPlans: false },
    );
    try {
      const base = new URL(standby.urls[0]).origin;
      const discover = await (await fetch(`${base}/discover.json`)).json();
      assertEquals(discover.DeviceID, "0BADCAFE");
    } finally {
      await standby.stop();
    }

    // A backup whose DeviceID is not one is refused, naming it.
    const badId = JSON.parse(await Deno.readTextFile(`${dir}/backup.json`));
    badId.deviceId = "nothex!!";
    await Deno.writeTextFile(`${dir}/bad_id.json`, JSON.stringify(badId));
    const refusedId = await cli([
      "state",
      "import",
      `${dir}/bad_id.json`,
      "--config",
      `${dir}/y.toml`,
      "--state-dir",
      `${dir}/standby2`,
    ]); // deno-fmt-ignore
    assertEquals(refusedId.code, 1);
    assert(refusedId.stderr.includes("deviceId") && refusedId.stderr.includes("nothex!!"));

    // A corrupt backup is refused with the reason, and nothing is written.
    const bad = JSON.parse(await Deno.readTextFile(`${dir}/backup.json`));
    bad.configToml = "[http]\nport = 99999\n";
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(bad));
    const refused = await cli(["state", "import", `${dir}/bad.json`, "--config", `${dir}/x.toml`]);
    assertEquals(refused.code, 1);
    assert(refused.stderr.includes("http.port"), refused.stderr);
    let exists = true;
    await Deno.stat(`${dir}/x.toml`).catch(() => (exists = false));
    assertEquals(exists, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the engine resumes stored block sessions at start (attach + blocks not yet over)", async () => {
  const dir = await Deno.makeTempDir();
  const core = Deno.listen({ transport: "unix", path: `${dir}/core.sock` });
  const received: Uint8Array[] = [];
  const accepting = (async () => {
    for await (const conn of core) {
      (async () => {
        for await (const chunk of conn.readable) received.push(chunk);
      })();
    }
  })();
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: "info", write: (l) => lines.push(JSON.parse(l)) });
  const now = Date.now();
  const config = await parseConfigText(configText(dir), { source: "test", baseDir: dir });
  const store = new PlanStore(`${dir}/state`, instanceName(config));
  await store.write([{
    id: 3,
    format: TEST_FORMAT,
    attached: { transport: "unix", endpoint: `${dir}/core.sock` },
    blockSession: {
      blocks: [padBlock("old", now - 60_000, 30_000), padBlock("B", now - 2000, 60_000)],
      maxQueueDepth: 2,
    },
  }]);
  const handle = await startPlayout(config, log);
  try {
    await until(
      () =>
        lines.some((l) => l.event === "block_session_started") && received.length > 0 &&
        received.reduce((n, c) => n + c.length, 0) > 188 * 10,
      "the restored session's TS at Core's socket",
    );
    const restored = lines.filter((l) => l.event === "plan_restored").map((l) => l.what);
    assertEquals(restored, ["attach", "block_session"]);
    const started = lines.find((l) => l.event === "block_session_started");
    assertEquals(started?.blocks, ["B"]); // the block that was already over is dropped
    const bytes = received.reduce((n, c) => n + c.length, 0);
    assert(bytes > 188 * 10, `only ${bytes} TS bytes reached Core's socket`);
    assertEquals(received[0][0], 0x47);
    // Stopping the engine keeps the plans (minus what is over) for the next start.
    await handle.stop();
    const kept = await store.read();
    assertEquals(kept?.channels[0].blockSession?.blocks.map((b) => b.blockId), ["B"]);
  } finally {
    await handle.stop();
    core.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
