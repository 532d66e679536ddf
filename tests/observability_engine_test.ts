/**
 * Metrics and health read from the real engine: a 320x240 test-pattern channel in a
 * ChannelManager, scraped over HTTP.
 */
import assert from "node:assert/strict";
import { metricsSourceOf, testManager } from "./manager_fixtures.ts";
import { defaultEncoders } from "../media/encoder_settings.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import { createPlayoutMetrics } from "../src/observability/metrics.ts";
import { type HealthReport, startMetricsServer } from "../src/observability/health_server.ts";
import { Logger } from "../src/log/log.ts";
import { ffmpegVersions } from "../ffi/library.ts";
import { parsePromText, sampleValue } from "./observability_fixtures.ts";

const FORMAT: ProgramFormat = {
  width: 320,
  height: 240,
  frameRate: { num: 25, den: 1 },
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve",
};

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `${what} within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("a scrape of the real engine reflects a running channel, its viewer and its stop", async () => {
  const log = new Logger({ level: "warn", write: () => {} });
  const manager = testManager({
    log,
    parsePlanHandle: (handle: string) => {
      throw new Error(`no plan handles in this test: ${handle}`);
    },
  });
  const metrics = createPlayoutMetrics({
    surface: metricsSourceOf(manager),
    buildInfo: { version: "0.1.0", apiVersion: "1.0.0", ffmpeg: ffmpegVersions() },
    log,
  });
  const server = await startMetricsServer({
    port: 0,
    host: "127.0.0.1",
    metrics,
    surface: manager,
    log,
  });
  const base = `http://127.0.0.1:${server.port}`;
  const scrape = async () => parsePromText(await (await fetch(`${base}/metrics`)).text());
  const health = async () => {
    const res = await fetch(`${base}/healthz`);
    return { status: res.status, body: (await res.json()) as HealthReport };
  };
  try {
    await manager.applyConfig([
      {
        id: 1,
        name: "pattern",
        format: FORMAT,
        ...defaultEncoders(FORMAT),
        source: { kind: "test_pattern" },
      },
    ]);
    await until("/healthz 200", async () => {
      const h = await health();
      return h.status === 200 ? h : undefined;
    });

    const viewer = manager.outputs(1)!.fanout.subscribe();
    let received = 0;
    while (received < 188 * 100) received += (await viewer.read())?.length ?? 0;

    const live = await until("stats with frames out", async () => {
      const f = await scrape();
      return (sampleValue(f, "retrovue_playout_frames_output_total", { channel: "1" }) ?? 0) > 0
        ? f
        : undefined;
    });
    // On air: ready (2), or degraded (4) when this shared box cannot give it the CPU it needs.
    const state = sampleValue(live, "retrovue_playout_channel_state", { channel: "1" });
    assert.ok(state === 2 || state === 4, `state ${state}`);
    assert.equal(
      live.get("retrovue_playout_channel_state")!.samples[0].labels.state,
      state === 2 ? "ready" : "degraded",
    );
    assert.equal(sampleValue(live, "retrovue_playout_viewers_connected", { channel: "1" }), 1);
    assert.ok(sampleValue(live, "retrovue_playout_ts_bytes_total", { channel: "1" })! > 0);
    assert.ok(sampleValue(live, "retrovue_playout_egress_bytes_total", { channel: "1" })! > 0);
    assert.ok(sampleValue(live, "retrovue_playout_channel_uptime_seconds", { channel: "1" })! > 0);
    assert.equal(
      live.get("retrovue_playout_build_info")!.samples[0].labels.libavcodec,
      ffmpegVersions().avcodec,
    );
    const framesLive = sampleValue(live, "retrovue_playout_frames_output_total")!;

    viewer.close();
    await manager.stopChannel(1);
    // Stopped by control on purpose: listed as stopped, not counted against readiness.
    const stopped = await health();
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.status, "ready");
    assert.deepEqual(
      stopped.body.channels.map((c) => [c.id, c.state, c.reason, c.on_air_expected]),
      [[1, "stopped", "stopped by control", false]],
    );
    const after = await scrape();
    assert.equal(sampleValue(after, "retrovue_playout_channel_state", { channel: "1" }), 0);
    assert.equal(sampleValue(after, "retrovue_playout_viewers_connected", { channel: "1" }), 0);
    assert.ok(sampleValue(after, "retrovue_playout_frames_output_total")! >= framesLive);
  } finally {
    await manager.applyConfig([]);
    await server.close();
    metrics.close();
  }
});
