/**
 * What an operator sees of the channels matches what runs: `/healthz` counts only channels
 * meant to be on air, refused calls leave no channel behind, a stopped channel leaves the
 * list (or says it was stopped on purpose), unplayable plan handles are refused, a source with
 * nothing playable says so, a rename restarts nothing, and a new viewer never gets bytes of a
 * stream that has stopped. Real ChannelManager with real Workers, `/healthz` over HTTP.
 */

import { assert, assertEquals } from "./assert.ts";
import type { ChannelManager } from "../src/engine/channel_manager.ts";
import type { ChannelOutputSet } from "../src/outputs/channel_output_set.ts";
import { TEST_FORMAT, testChannelSpec, testManager } from "./manager_fixtures.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import { Logger } from "../src/log/log.ts";
import { type HealthReport, startMetricsServer } from "../src/observability/health_server.ts";
import { fixture } from "./fixtures.ts";
import { PACKET, pidAt } from "./egress_fixtures.ts";

const FMT = TEST_FORMAT;

const spec = (id: number, source: ChannelSpec["source"], name = `ch${id}`): ChannelSpec =>
  testChannelSpec(id, { source, name });

/** Polls `probe` until it returns a value (liveness bound only, not a timing judgement). */
async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    assert(Date.now() < deadline, `${what} (waited 30 s)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Rig {
  manager: ChannelManager<ChannelOutputSet>;
  health(): Promise<{ status: number; body: HealthReport }>;
  lines: Record<string, unknown>[];
}

async function withRig(fn: (rig: Rig) => Promise<void>): Promise<void> {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: "info", write: (l) => lines.push(JSON.parse(l)) });
  const manager = testManager({ log, leadMs: 200 });
  const server = await startMetricsServer({
    port: 0,
    host: "127.0.0.1",
    metrics: { scrape: () => Promise.resolve(""), contentType: "text/plain" },
    surface: manager,
    log,
  });
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    return { status: res.status, body: (await res.json()) as HealthReport };
  };
  try {
    await fn({ manager, health, lines });
  } finally {
    await manager.close();
    await server.close();
  }
}

async function refusal(p: Promise<unknown>): Promise<ControlError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ControlError) return err;
    throw err;
  }
  throw new Error("the call succeeded");
}

Deno.test("/healthz: an idle type=none channel is not 'not ready'; a control-started one counts until stopped", async () => {
  await withRig(async ({ manager, health }) => {
    await manager.applyConfig([spec(1, { kind: "test_pattern" }), spec(2, { kind: "none" })]);
    const ok = await until("/healthz 200 with the pattern on air", async () => {
      const h = await health();
      return h.status === 200 ? h : undefined;
    });
    const idle = ok.body.channels.find((c) => c.id === 2)!;
    assertEquals(idle.state, "stopped");
    assertEquals(idle.on_air_expected, false);
    assertEquals(ok.body.channels.find((c) => c.id === 1)!.on_air_expected, true);

    // Started by a control call: counted, so /healthz waits for it to be on air.
    await manager.startChannel(2, await fixture("h264_aac_mp4"), FMT);
    assertEquals(manager.get(2)!.meantOnAir, true);
    await until("channel 2 on air", () => manager.get(2)!.state === "ready" || undefined);
    assertEquals((await health()).status, 200);

    // Stopped by control: shown as intentionally stopped, no longer counted.
    await manager.stopChannel(2);
    const after = await health();
    assertEquals(after.status, 200);
    const stopped = after.body.channels.find((c) => c.id === 2)!;
    assertEquals(stopped.state, "stopped");
    assertEquals(stopped.reason, "stopped by control");
    assertEquals(stopped.on_air_expected, false);
  });
});

Deno.test("a refused call creates no channel; a stopped control-created channel leaves the list", async () => {
  await withRig(async ({ manager, health }) => {
    const dir = await Deno.makeTempDir();
    try {
      // AttachStream to a socket nobody listens on: refused, and no phantom channel.
      const err = await refusal(manager.attachStream(63, "unix", `${dir}/nobody.sock`, false));
      assertEquals(err.code, "FAILED");
      assertEquals(manager.get(63), undefined);
      assertEquals(manager.list().length, 0);
      assertEquals((await health()).status, 200);

      // StartBlockPlanSession without an attach: refused, no channel either.
      const now = Date.now();
      const block = {
        blockId: "a",
        channelId: 64,
        startUtcMs: now,
        endUtcMs: now + 1000,
        segments: [],
        broadcastDate: "",
        broadcastDayAnchorUtcMs: 0,
      };
      const noAttach = await refusal(manager.startBlockSession(64, [block], now, FMT, 2));
      assertEquals(noAttach.code, "STREAM_NOT_ATTACHED");
      assertEquals(manager.get(64), undefined);

      // StartChannel creates channel 5; StopChannel removes it again (nothing else uses it).
      await manager.startChannel(5, await fixture("h264_aac_mp4"), FMT);
      await until("channel 5 on air", () => manager.get(5)?.state === "ready" || undefined);
      await manager.stopChannel(5);
      assertEquals(manager.get(5), undefined);
      assertEquals(manager.list().length, 0);
      assertEquals((await health()).status, 200);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("StartChannel refuses an unplayable plan handle like a missing one, and creates no channel", async () => {
  await withRig(async ({ manager }) => {
    const missing = await refusal(manager.startChannel(7, "/no/such/file.mp4", FMT));
    const handles = [
      await fixture("empty_mp4"),
      await fixture("random_bytes_mp4"),
      "/etc/passwd",
    ];
    for (const handle of handles) {
      const err = await refusal(manager.startChannel(7, handle, FMT));
      assertEquals(err.code, missing.code, handle);
      assert(err.message.includes(handle), `${handle}: ${err.message}`);
      assertEquals(manager.get(7), undefined, handle);
    }
    // A configured channel keeps its standalone source when StartChannel is refused.
    await manager.applyConfig([spec(8, { kind: "test_pattern" })]);
    await until("channel 8 on air", () => manager.get(8)!.state === "ready" || undefined);
    const err = await refusal(manager.startChannel(8, "/etc/passwd", FMT));
    assertEquals(err.code, "FAILED");
    assertEquals(manager.get(8)!.mode, "standalone");
    assertEquals(manager.get(8)!.state, "ready");
  });
});

Deno.test("a playlist whose every file is unplayable is in error 'nothing playable', not on air", async () => {
  await withRig(async ({ manager, health }) => {
    const bad = [await fixture("empty_mp4"), await fixture("random_bytes_mp4"), "/etc/passwd"];
    await manager.applyConfig([
      spec(1, { kind: "playlist", paths: bad, loop: true }),
      spec(2, { kind: "playlist", paths: [bad[0], await fixture("h264_aac_mp4")], loop: true }),
    ]);
    await until("channel 2 on air", () => manager.get(2)!.state === "ready" || undefined);
    const ch1 = await until("channel 1 reports", () => {
      const c = manager.get(1)!;
      return c.state === "error" ? c : undefined;
    });
    assert(ch1.stateReason.startsWith("nothing playable"), ch1.stateReason);
    const h = await health();
    assertEquals(h.status, 503);
    assertEquals(h.body.channels.find((c) => c.id === 2)!.state, "ready");
    // Still error after more TS flowed (the pad stream does not make it "ready").
    const fanout = manager.outputs(1)!.fanout;
    const seen = fanout.bytesIn;
    await until("more TS from channel 1", () => fanout.bytesIn > seen + 10 * PACKET || undefined);
    assertEquals(manager.get(1)!.state, "error");
  });
});

Deno.test("a config change that only renames a channel restarts nothing; a real change restarts it", async () => {
  await withRig(async ({ manager, lines }) => {
    const source = { kind: "test_pattern" } as const;
    await manager.applyConfig([spec(1, source, "before")]);
    await until("on air", () => manager.get(1)!.state === "ready" || undefined);
    const started = manager.get(1)!.startedAtMs;
    const changed = await manager.applyConfig([spec(1, source, "after")]);
    assertEquals(changed, []);
    assertEquals(manager.get(1)!.name, "after");
    assertEquals(manager.get(1)!.startedAtMs, started);
    assertEquals(manager.get(1)!.state, "ready");
    assertEquals(lines.filter((l) => l.event === "channel_flushed").length, 0);

    const other = { ...spec(1, source, "after"), video: { ...spec(1, source).video, crf: 30 } };
    assertEquals(await manager.applyConfig([other]), [1]);
    assertEquals(lines.filter((l) => l.event === "channel_flushed").length, 1);

    // Its source removed (type = "none"): the worker stops, the channel waits for Core.
    assertEquals(await manager.applyConfig([spec(1, { kind: "none" }, "after")]), [1]);
    const idle = manager.get(1)!;
    assertEquals([idle.state, idle.mode, idle.meantOnAir], ["stopped", "idle", false]);
    assertEquals(idle.stateReason, "idle: waiting for a control call");
  });
});

Deno.test("a viewer arriving after the stream stopped gets no cached bytes; the next stream starts with PAT", async () => {
  await withRig(async ({ manager }) => {
    await manager.applyConfig([spec(1, { kind: "none" })]);
    await manager.startChannel(1, await fixture("h264_aac_mp4"), FMT);
    await until("on air", () => manager.get(1)!.state === "ready" || undefined);
    const fanout = manager.outputs(1)!.fanout;
    await until("a cached GOP", () => fanout.gopCacheBytes > 0 || undefined);
    await manager.stopChannel(1);

    const late = fanout.subscribe({ label: "late" });
    assertEquals(late.bytesQueued, 0);
    assertEquals(fanout.gopCacheBytes, 0);

    await manager.startChannel(1, await fixture("h264_aac_mp4"), FMT);
    const first = await late.read();
    assert(first !== null && first.length >= PACKET, "the late viewer gets the new stream");
    assertEquals(pidAt(first, 0), 0, "the new stream starts with a PAT");
    late.close();
  });
});

Deno.test("a missing playlist item is skipped the same way at start and at runtime: logged once, counted, left out", async () => {
  const { ChannelRunner } = await import("../src/engine/channel_runner.ts");
  const { VirtualTimeSource } = await import("../src/engine/master_clock.ts");
  const dir = await Deno.makeTempDir();
  try {
    const a = `${dir}/a.mp4`;
    const b = `${dir}/b.mp4`;
    await Deno.copyFile(await fixture("h264_aac_mp4"), a);
    await Deno.copyFile(await fixture("h264_aac_mp4"), b);
    const gone = `${dir}/gone.mp4`; // missing from the start
    const logs: { event: string; fields: Record<string, unknown> }[] = [];
    const epoch = Date.UTC(2026, 11, 1, 20, 0, 0);
    const r = new ChannelRunner(
      {
        spec: spec(1, { kind: "playlist", paths: [a, gone, b], loop: true }),
        time: new VirtualTimeSource(epoch),
        epochUtcMs: epoch,
        encode: false,
      },
      {
        ts: () => {},
        frame: () => {},
        blockEvent: () => {},
        log: (_level, event, fields) => logs.push({ event, fields }),
      },
    );
    const starts = () =>
      logs.filter((l) => l.event === "segment_started").map((l) => String(l.fields.source));
    const errorsFor = (asset: string) =>
      logs.filter((l) => l.event === "asset_error" && l.fields.asset === asset);
    // At start: gone.mp4 is left out (probed), one line, counted.
    assertEquals(errorsFor(gone).length, 1);
    assertEquals(errorsFor(gone)[0].fields.phase, "probe");
    assertEquals(r.stats().decodeFailures, 1);

    // Play until a has started, then b goes missing while a plays.
    while (starts().length < 1) r.step();
    assertEquals(starts(), [a]);
    await Deno.remove(b);
    // Three more laps' worth of segment starts.
    while (starts().length < 6) r.step();
    const played = starts();
    // Lap 1: a, then b's slot (fails to open: fallback); from lap 2 on only a.
    assertEquals(played.slice(0, 2), [a, b]);
    assertEquals(played.slice(2), [a, a, a, a]);
    assertEquals(errorsFor(b).length, 1, "b is logged once although its slot came round again");
    assertEquals(errorsFor(b)[0].fields.phase, "open");
    assertEquals(errorsFor(gone).length, 1);
    assertEquals(r.stats().decodeFailures, 2);
    r.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("over gRPC: StartChannel with an unplayable plan handle answers success=false, like a missing one; no channel appears", async () => {
  const { startGrpcServer } = await import("../src/control/grpc_server.ts");
  const { playoutClient, unary } = await import("./grpc_client/grpc_js_client.ts");
  await withRig(async ({ manager, health }) => {
    const dir = await Deno.makeTempDir();
    const grpcLog = new Logger({ level: "error", write: () => {} });
    const server = await startGrpcServer({
      surface: manager,
      listen: { unix: { path: `${dir}/grpc.sock`, mode: 0o600 } },
      log: grpcLog,
    });
    const client = playoutClient(`unix:${dir}/grpc.sock`);
    try {
      const start = (handle: string) =>
        unary(client, "StartChannel", { channel_id: 9, plan_handle: handle, port: 0 });
      const missing = await start(`${dir}/missing.mp4`);
      assertEquals(missing.success, false);
      for (
        const handle of [
          await fixture("empty_mp4"),
          await fixture("random_bytes_mp4"),
          "/etc/passwd",
        ]
      ) {
        const r = await start(handle);
        assertEquals(r.success, false, `${handle}: ${JSON.stringify(r)}`);
        assert(String(r.message).includes(handle), String(r.message));
      }
      const attach = await unary(client, "AttachStream", {
        channel_id: 10,
        transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
        endpoint: `${dir}/nobody.sock`,
        replace_existing: false,
      });
      assertEquals(attach.success, false);
      assertEquals(manager.list(), []);
      const h = await health();
      assertEquals([h.status, h.body.channels], [200, []]);
      // A playable one is accepted (the refusals above are about the files, not the call).
      const good = await start(await fixture("h264_aac_mp4"));
      assertEquals(good.success, true, JSON.stringify(good));
    } finally {
      client.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
