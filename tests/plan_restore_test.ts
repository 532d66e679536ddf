/**
 * Restoring stored plans (issue #13): control calls for a channel being restored wait for it
 * while GetVersion and other channels do not; a restore never replaces an attach a live call
 * made; an attach target that stays unreachable is dropped after a bounded number of tries
 * with one log line, leaving no channel behind.
 */

import { assert, assertEquals } from "./assert.ts";
import { testManager } from "./manager_fixtures.ts";
import { PlanRestore } from "../src/engine/plan_restore.ts";
import { type ChannelPlanState, PlanStore } from "../src/engine/plan_store.ts";
import { parsePlanHandle } from "../src/control/plan_handle.ts";
import { startGrpcServer } from "../src/control/grpc_server.ts";
import { instanceName, parseConfigText } from "../src/config/mod.ts";
import { startPlayout } from "../src/playout.ts";
import { Logger } from "../src/log/log.ts";
import { FakeControlSurface } from "./grpc_client/fake_control_surface.ts";
import { playoutClient, unary } from "./grpc_client/grpc_js_client.ts";
import { CoreSocket, waitFor } from "./core_managed_fixtures.ts";

function testLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: new Logger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) }), lines };
}

Deno.test("a restored attach whose target stays unreachable is dropped after the bounded tries, logged once, no channel left", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plan_restore_" });
  const { log, lines } = testLog();
  const manager = testManager({ log, parsePlanHandle });
  let pendingChanges = 0;
  const restore = new PlanRestore({
    manager,
    log,
    attachTries: 3,
    retryInitialMs: 20,
    onPendingChanged: () => pendingChanges++,
  });
  const entry: ChannelPlanState = {
    id: 63,
    attached: { transport: "unix", endpoint: `${dir}/gone.sock` },
  };
  try {
    restore.hold([entry]);
    await restore.start([entry]);
    assertEquals(restore.pending().map((p) => p.id), [63], "kept while retries remain");
    await waitFor(
      "the entry to be dropped",
      () => lines.some((l) => l.event === "plan_restore_dropped"),
    );
    const dropped = lines.filter((l) => l.event === "plan_restore_dropped");
    assertEquals(dropped.length, 1);
    assertEquals(dropped[0].channel, 63);
    assertEquals(dropped[0].tries, 3);
    assertEquals(dropped[0].endpoint, `${dir}/gone.sock`);
    assertEquals(dropped[0].level, "error");
    // Apart from the debug-level retries: one line when it starts waiting, one when dropped.
    const loud = lines.filter((l) => l.channel === 63 && l.level !== "debug");
    assertEquals(loud.map((l) => l.event), ["plan_restore_waiting", "plan_restore_dropped"]);
    assertEquals(restore.pending(), []);
    assertEquals(pendingChanges, 2); // added, then removed: the store is rewritten without it
    assertEquals(manager.list(), [], "a refused attach left a channel behind");
    await manager.settled(63); // not held any more
  } finally {
    restore.close();
    await manager.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restore never replaces an attach a live call made while it waited to retry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plan_restore_" });
  const { log, lines } = testLog();
  const manager = testManager({ log, parsePlanHandle });
  const restore = new PlanRestore({ manager, log, attachTries: 5, retryInitialMs: 50 });
  const entry: ChannelPlanState = {
    id: 5,
    attached: { transport: "unix", endpoint: `${dir}/old.sock` },
  };
  const live = new CoreSocket(`${dir}/new.sock`);
  let old: CoreSocket | undefined;
  try {
    restore.hold([entry]);
    await restore.start([entry]); // old.sock does not exist yet: the first try fails
    await manager.settled(5);
    await manager.attachStream(5, "unix", `${dir}/new.sock`, true); // Core's live call
    old = new CoreSocket(`${dir}/old.sock`); // the stored target comes back
    await waitFor(
      "the restore to give up",
      () => lines.some((l) => l.event === "plan_restore_skipped"),
    );
    assertEquals(manager.get(5)?.attached?.endpoint, `${dir}/new.sock`);
    assertEquals(old.connections.length, 0, "the restore connected to the stored target");
    assertEquals(restore.pending(), []);
    assert(!lines.some((l) => l.event === "plan_restore_dropped"));
  } finally {
    restore.close();
    await manager.close();
    await live.close();
    await old?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A fake engine whose channels can be held, like a restore holds them. */
class HeldSurface extends FakeControlSurface {
  holds = new Map<number, Promise<void>>();
  settled(id: number): Promise<void> {
    return this.holds.get(id) ?? Promise.resolve();
  }
}

Deno.test("gRPC: calls for a held channel wait for it; GetVersion and other channels answer meanwhile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plan_restore_" });
  const surface = new HeldSurface();
  let release!: () => void;
  surface.holds.set(7, new Promise((r) => release = r));
  const { log } = testLog();
  const server = await startGrpcServer({
    surface,
    listen: { unix: { path: `${dir}/playout.sock` } },
    log,
  });
  const client = playoutClient(`unix:${dir}/playout.sock`);
  try {
    let held: Record<string, unknown> | undefined;
    const heldCall = unary(client, "StopChannel", { channel_id: 7 }).then((r) => held = r);
    assertEquals(await unary(client, "GetVersion", {}), { version: "1.0.0" });
    assertEquals((await unary(client, "StopChannel", { channel_id: 8 })).success, true);
    assertEquals(held, undefined, "the call for the held channel went ahead");
    assert(!surface.calls.some((c) => c.method === "stopChannel" && c.args[0] === 7));
    release();
    await heldCall;
    assertEquals(held?.success, true);
    assert(surface.calls.some((c) => c.method === "stopChannel" && c.args[0] === 7));
  } finally {
    client.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("engine start: a live AttachStream (no replace) for a channel being restored finds the restored attach; the restore opens one connection", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plan_restore_" });
  const config = await parseConfigText(
    [
      `state_dir = "${dir}/state"`,
      `[grpc]\nunix_socket = "${dir}/playout.sock"`,
      `[http]\nbind = "127.0.0.1"\nport = 0`,
      `[metrics]\nenabled = false`,
    ].join("\n"),
    { source: "test", baseDir: dir },
  );
  const core = new CoreSocket(`${dir}/core.sock`);
  await new PlanStore(`${dir}/state`, instanceName(config)).write([{
    id: 3,
    attached: { transport: "unix", endpoint: `${dir}/core.sock` },
  }]);
  const { log } = testLog();
  const starting = startPlayout(config, log);
  const client = playoutClient(`unix:${dir}/playout.sock`);
  try {
    await waitFor(
      "GetVersion",
      () => unary(client, "GetVersion", {}).then(() => true, () => false),
    );
    // Core's call, sent as soon as the engine answers; without replace_existing.
    const r = await unary(client, "AttachStream", {
      channel_id: 3,
      transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
      endpoint: `${dir}/other.sock`,
      replace_existing: false,
    });
    assertEquals(r.success, false);
    assert(String(r.message).includes(`${dir}/core.sock`), String(r.message));
    await waitFor("the restore's connection", () => core.connections.length > 0);
    assertEquals(core.connections.length, 1);
  } finally {
    client.close();
    await (await starting).stop();
    await core.close();
    await Deno.remove(dir, { recursive: true });
  }
});
