import assert from "node:assert/strict";
import { createPlayoutMetrics, type PlayoutMetrics } from "../src/observability/metrics.ts";
import {
  type HealthReport,
  MetricsListenError,
  type MetricsServer,
  startMetricsServer,
} from "../src/observability/health_server.ts";
import { Logger } from "../src/log/log.ts";
import { FakeSurface, parsePromText, sampleValue } from "./observability_fixtures.ts";
import type { ControlSurface } from "../src/engine/control_surface.ts";
import type { MetricsSource } from "../src/observability/metrics.ts";
import type { HealthSource } from "../src/observability/health_server.ts";
import type { TsFanout } from "../src/outputs/ts_fanout.ts";

/**
 * Compile-time check: the engine's ControlSurface and the channels' TS fan-outs are what metrics
 * and health read.
 */
export function surfaceFeedsObservability(
  surface: ControlSurface,
  fanout: (id: number) => TsFanout | undefined,
): MetricsSource & HealthSource {
  return { list: () => surface.list(), stats: (id) => surface.stats(id), fanout };
}

interface Harness {
  surface: FakeSurface;
  metrics: PlayoutMetrics;
  server: MetricsServer;
  url: (path: string) => string;
  lines: string[];
}

async function withServer(fn: (h: Harness) => Promise<void>): Promise<void> {
  const surface = new FakeSurface();
  const lines: string[] = [];
  const log = new Logger({ write: (l) => lines.push(l) });
  const metrics = createPlayoutMetrics({
    surface,
    buildInfo: { version: "0.1.0", apiVersion: "1.0.0", ffmpeg: {} },
    log,
    sampleIntervalMs: 0,
    processMetrics: false,
  });
  const server = await startMetricsServer({ port: 0, host: "127.0.0.1", metrics, surface, log });
  try {
    await fn({
      surface,
      metrics,
      server,
      url: (path) => `http://127.0.0.1:${server.port}${path}`,
      lines,
    });
  } finally {
    await server.close();
    metrics.close();
  }
}

Deno.test("/metrics serves the registry as Prometheus text 0.0.4", async () => {
  await withServer(async ({ surface, url, server, lines }) => {
    assert.ok(server.port > 0);
    assert.ok(lines.some((l) => JSON.parse(l).event === "metrics_server_listening"));
    surface.add(1, "ready").fanout!.viewerCount = 2;
    const res = await fetch(url("/metrics"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const families = parsePromText(await res.text());
    assert.equal(sampleValue(families, "retrovue_playout_channel_state", { channel: "1" }), 2);
    assert.equal(sampleValue(families, "retrovue_playout_viewers_connected", { channel: "1" }), 2);
  });
});

Deno.test("/healthz is 200 when all channels are ready and 503 when one is in error", async () => {
  await withServer(async ({ surface, url }) => {
    surface.add(1, "ready", "retro");
    const b = surface.add(2, "ready", "cartoons");

    let res = await fetch(url("/healthz"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    const ok: HealthReport = await res.json();
    assert.deepEqual(ok, {
      status: "ready",
      channels: [
        { id: 1, name: "retro", state: "ready", reason: "", on_air_expected: true },
        { id: 2, name: "cartoons", state: "ready", reason: "", on_air_expected: true },
      ],
    });

    b.info.state = "error";
    b.info.stateReason = "asset missing: /media/x.mp4";
    res = await fetch(url("/healthz"));
    assert.equal(res.status, 503);
    const bad: HealthReport = await res.json();
    assert.deepEqual(bad, {
      status: "not_ready",
      channels: [
        { id: 1, name: "retro", state: "ready", reason: "", on_air_expected: true },
        {
          id: 2,
          name: "cartoons",
          state: "error",
          reason: "asset missing: /media/x.mp4",
          on_air_expected: true,
        },
      ],
    });

    b.info.state = "buffering";
    res = await fetch(url("/healthz"));
    assert.equal(res.status, 503);
    await res.body?.cancel();

    b.info.state = "ready";
    res = await fetch(url("/healthz"));
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});

Deno.test("/livez is 200 while the process runs, even with channels in error", async () => {
  await withServer(async ({ surface, url }) => {
    surface.add(1, "error");
    const res = await fetch(url("/livez"));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "alive" });
  });
});

Deno.test("unknown paths are 404, other methods 405, HEAD has no body", async () => {
  await withServer(async ({ url }) => {
    let res = await fetch(url("/nope"));
    assert.equal(res.status, 404);
    await res.body?.cancel();
    res = await fetch(url("/metrics"), { method: "POST", body: "x" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    await res.body?.cancel();
    res = await fetch(url("/healthz"), { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");
  });
});

Deno.test("a scrape that fails is a 500 and an error event", async () => {
  await withServer(async ({ surface, url, lines }) => {
    surface.list = () => {
      throw new Error("surface exploded");
    };
    const res = await fetch(url("/metrics"));
    assert.equal(res.status, 500);
    await res.body?.cancel();
    const event = lines.map((l) => JSON.parse(l)).find((e) =>
      e.event === "observability_request_failed"
    );
    assert.ok(event, lines.join("\n"));
    assert.equal(event.level, "error");
    assert.equal(event.path, "/metrics");
    assert.equal(event.error.message, "surface exploded");
  });
});

Deno.test("a port in use is a MetricsListenError naming the port", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (blocker.addr as Deno.NetAddr).port;
    await assert.rejects(
      startMetricsServer({
        port,
        host: "127.0.0.1",
        metrics: { scrape: () => Promise.resolve(""), contentType: "text/plain" },
        surface: { list: () => [] },
        log: new Logger({ write: () => {} }),
      }),
      (e: unknown) => e instanceof MetricsListenError && e.port === port,
    );
  } finally {
    blocker.close();
  }
});
