/**
 * Prometheus file_sd target files of engines with a free metrics port: the file's content and
 * mode, stale files of dead engines swept, live and foreign files left alone, and a stopping
 * engine removing only its own file. Also ffi/process.ts's pid probe against real processes.
 */

import { assert, assertEquals } from "./assert.ts";
import { PID_LABEL, publishMetricsTarget } from "../src/observability/metrics_targets.ts";
import { processControls } from "../ffi/process.ts";
import { Logger } from "../src/log/log.ts";
import { listDir } from "./core_managed_fixtures.ts";

Deno.test("file_sd target: written 0644 with the address and labels; stale ones swept; only its own removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metrics_targets_" });
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  const controls = processControls();
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const alive = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const group = (pid: number) =>
    JSON.stringify([{ targets: ["127.0.0.1:1"], labels: { [PID_LABEL]: String(pid) } }]);
  try {
    assertEquals(controls.processExists(dead.pid), false);
    assertEquals(controls.processExists(alive.pid), true);
    assertEquals(controls.processExists(1), true);
    await Deno.writeTextFile(`${dir}/tcp-127.0.0.1-1.json`, group(dead.pid));
    await Deno.writeTextFile(`${dir}/tcp-127.0.0.1-2.json`, group(alive.pid));
    await Deno.writeTextFile(`${dir}/node.json`, '[{"targets":["127.0.0.1:9100"]}]');

    const target = await publishMetricsTarget({
      dir,
      instance: "tcp-127.0.0.1-50051",
      address: "127.0.0.1:40123",
      labels: { grpc_endpoint: "127.0.0.1:50051" },
      processExists: (pid) => controls.processExists(pid),
      log,
    });
    assertEquals(target.path, `${dir}/tcp-127.0.0.1-50051.json`);
    assertEquals(JSON.parse(await Deno.readTextFile(target.path)), [{
      targets: ["127.0.0.1:40123"],
      labels: { grpc_endpoint: "127.0.0.1:50051", [PID_LABEL]: String(Deno.pid) },
    }]);
    assertEquals((await Deno.stat(target.path)).mode! & 0o777, 0o644);
    assertEquals(await listDir(dir), [
      "node.json",
      "tcp-127.0.0.1-2.json",
      "tcp-127.0.0.1-50051.json",
    ]);
    assert(lines.some((l) => l.event === "metrics_target_stale_removed" && l.pid === dead.pid));

    // A directory it creates is readable by others whatever the umask.
    const oldMask = Deno.umask(0o077);
    try {
      const made = await publishMetricsTarget({
        dir: `${dir}/new/targets`,
        instance: "x",
        address: "127.0.0.1:1",
        labels: {},
        processExists: () => true,
        log,
      });
      assertEquals((await Deno.stat(`${dir}/new`)).mode! & 0o777, 0o755);
      assertEquals((await Deno.stat(`${dir}/new/targets`)).mode! & 0o777, 0o755);
      await made.remove();
    } finally {
      Deno.umask(oldMask);
    }

    // A newer engine on the same endpoint took the file over: this one leaves it.
    await Deno.writeTextFile(target.path, group(alive.pid));
    await target.remove();
    assert((await listDir(dir)).includes("tcp-127.0.0.1-50051.json"));
    await Deno.writeTextFile(target.path, group(Deno.pid));
    await target.remove();
    assert(!(await listDir(dir)).includes("tcp-127.0.0.1-50051.json"));
  } finally {
    alive.kill();
    await alive.status;
    await Deno.remove(dir, { recursive: true });
  }
});
