import assert from "node:assert/strict";
import { createPlayoutMetrics, type PlayoutMetrics } from "../src/observability/metrics.ts";
import { Logger } from "../src/log/log.ts";
import { ownThreadStat } from "../ffi/process.ts";
import { FakeSurface, parsePromText, sampleValue } from "./observability_fixtures.ts";
import { ffmpegVersions } from "../ffi/library.ts";

const BUILD = {
  version: "0.1.0",
  apiVersion: "1.0.0",
  ffmpeg: {
    avformat: "59.27.100",
    avcodec: "59.37.100",
    avutil: "57.28.100",
    swscale: "6.7.100",
    swresample: "4.7.100",
    avfilter: "8.44.100",
  },
};

function assertAbove(actual: number, bound: number, what = "value"): void {
  assert.ok(actual > bound, `${what}: ${actual} is not above ${bound}`);
}
function assertAtLeast(actual: number, bound: number, what = "value"): void {
  assert.ok(actual >= bound, `${what}: ${actual} is below ${bound}`);
}

const quietLog = () => new Logger({ write: () => {} });

function withMetrics(
  surface: FakeSurface,
  fn: (m: PlayoutMetrics) => Promise<void>,
  opts: { processMetrics?: boolean; sampleIntervalMs?: number } = {},
): Promise<void> {
  const m = createPlayoutMetrics({
    surface,
    buildInfo: BUILD,
    log: quietLog(),
    sampleIntervalMs: opts.sampleIntervalMs ?? 0,
    processMetrics: opts.processMetrics ?? false,
  });
  return fn(m).finally(() => m.close());
}

/** Every metric of the issue, its type and its label names (besides histogram `le`). */
const EXPECTED: [string, string, string[]][] = [
  ["retrovue_playout_channel_state", "gauge", ["channel", "state"]],
  ["retrovue_playout_buffer_depth_frames", "gauge", ["channel"]],
  ["retrovue_playout_frame_gap_seconds", "gauge", ["channel"]],
  ["retrovue_playout_frames_decoded_total", "counter", ["channel"]],
  ["retrovue_playout_frames_dropped_total", "counter", ["channel"]],
  ["retrovue_playout_buffer_underrun_total", "counter", ["channel"]],
  ["retrovue_playout_decode_failure_count", "counter", ["channel"]],
  ["retrovue_playout_decode_latency_seconds", "histogram", ["channel"]],
  ["retrovue_playout_channel_uptime_seconds", "gauge", ["channel"]],
  ["retrovue_playout_restart_total", "counter", ["channel"]],
  ["retrovue_playout_asset_transitions_total", "counter", ["channel"]],
  ["retrovue_playout_plan_updates_total", "counter", ["channel"]],
  // Newly measurable.
  ["retrovue_playout_wallclock_lag_seconds", "gauge", ["channel"]],
  ["retrovue_playout_fallback_frames_total", "counter", ["channel"]],
  ["retrovue_playout_pad_frames_total", "counter", ["channel"]],
  ["retrovue_playout_frames_duplicated_total", "counter", ["channel"]],
  ["retrovue_playout_frames_output_total", "counter", ["channel"]],
  ["retrovue_playout_encode_fps", "gauge", ["channel"]],
  ["retrovue_playout_ts_bytes_total", "counter", ["channel"]],
  ["retrovue_playout_egress_bytes_total", "counter", ["channel"]],
  ["retrovue_playout_viewers_connected", "gauge", ["channel"]],
  ["retrovue_playout_viewers_dropped_total", "counter", ["channel"]],
  ["retrovue_playout_attach_reconnects_total", "counter", ["channel"]],
  ["retrovue_playout_frame_sink_frames_sent_total", "counter", ["channel"]],
  ["retrovue_playout_frame_sink_frames_dropped_total", "counter", ["channel"]],
  ["retrovue_playout_frame_sink_readers", "gauge", ["channel"]],
  ["retrovue_playout_ts_selfcheck_errors_total", "counter", ["channel", "check"]],
  ["retrovue_playout_segment_boundary_error_seconds", "gauge", ["channel"]],
  ["retrovue_playout_channel_info", "gauge", ["channel", "mode", "name"]],
  [
    "retrovue_playout_build_info",
    "gauge",
    [
      "api_version",
      "deno_version",
      "libavcodec",
      "libavfilter",
      "libavformat",
      "libavutil",
      "libswresample",
      "libswscale",
      "v8_version",
      "version",
    ],
  ],
];

function busyChannel(surface: FakeSurface) {
  const ch = surface.add(1, "ready", "retro");
  ch.stats = {
    ...ch.stats!,
    framesOut: 300,
    framesDecoded: 310,
    framesDropped: 10,
    framesDuplicated: 2,
    fallbackFrames: 4,
    padFrames: 30,
    bufferDepthFrames: 12,
    bufferUnderruns: 1,
    decodeFailures: 1,
    decodeLatencySamples: [0.002, 0.004, 0.03],
    frameGapSeconds: 0.034,
    lagSeconds: 0.05,
    encodeFps: 29.97,
    tsBytesOut: 1_880_000,
    assetTransitions: 3,
    planUpdates: 2,
    restarts: 0,
    segmentBoundaryErrorMs: 12,
    tsSelfCheckCcErrors: 0,
    tsSelfCheckPcrErrors: 1,
    attachReconnects: 2,
    frameSink: { framesSent: 900, framesDropped: 7, readers: 1 },
  };
  ch.fanout = { viewerCount: 3, viewersDropped: 1, bytesOut: 5_640_000 };
  return ch;
}

Deno.test("every metric is present with its type and labels", async () => {
  const surface = new FakeSurface();
  busyChannel(surface);
  await withMetrics(surface, async (m) => {
    const families = parsePromText(await m.scrape());
    for (const [name, type, labels] of EXPECTED) {
      const f = families.get(name);
      assert(f !== undefined, `missing ${name}`);
      assert.deepEqual(f.type, type, name);
      assert(f.help.length > 0, `${name} has no HELP`);
      assert(f.samples.length > 0, `${name} has no samples`);
      for (const s of f.samples) {
        const names = Object.keys(s.labels).filter((l) => l !== "le").sort();
        assert.deepEqual(names, labels, `${s.name} labels`);
      }
    }
    assert.deepEqual(sampleValue(families, "retrovue_playout_buffer_depth_frames"), 12);
    assert.deepEqual(sampleValue(families, "retrovue_playout_frames_decoded_total"), 310);
    assert.deepEqual(sampleValue(families, "retrovue_playout_wallclock_lag_seconds"), 0.05);
    assert.deepEqual(
      sampleValue(families, "retrovue_playout_segment_boundary_error_seconds"),
      0.012,
    );
    assert.deepEqual(
      sampleValue(families, "retrovue_playout_ts_selfcheck_errors_total", { check: "pcr" }),
      1,
    );
    assert.deepEqual(sampleValue(families, "retrovue_playout_decode_latency_seconds_count"), 3);
    assert.deepEqual(
      sampleValue(families, "retrovue_playout_decode_latency_seconds_bucket", { le: "0.005" }),
      2,
    );
    assert.deepEqual(sampleValue(families, "retrovue_playout_egress_bytes_total"), 5_640_000);
    assert.deepEqual(sampleValue(families, "retrovue_playout_attach_reconnects_total"), 2);
    assert.deepEqual(sampleValue(families, "retrovue_playout_frame_sink_frames_sent_total"), 900);
    assert.deepEqual(sampleValue(families, "retrovue_playout_frame_sink_frames_dropped_total"), 7);
    assert.deepEqual(sampleValue(families, "retrovue_playout_frame_sink_readers"), 1);
    const uptime = sampleValue(families, "retrovue_playout_channel_uptime_seconds")!;
    assertAtLeast(uptime, 5);
    const build = families.get("retrovue_playout_build_info")!.samples[0];
    assert.deepEqual(build.value, 1);
    assert.deepEqual(build.labels.api_version, "1.0.0");
    assert.deepEqual(build.labels.deno_version, Deno.version.deno);
    assert.deepEqual(build.labels.libavcodec, "59.37.100");
    assert.deepEqual(
      families.get("retrovue_playout_channel_info")!.samples[0].labels,
      { channel: "1", name: "retro", mode: "block" },
    );
  });
});

Deno.test("build_info carries the FFmpeg versions ffprobe reports for the loaded libraries", async () => {
  const surface = new FakeSurface();
  const m = createPlayoutMetrics({
    surface,
    buildInfo: { version: "0.1.0", apiVersion: "1.0.0", ffmpeg: ffmpegVersions() },
    log: quietLog(),
    sampleIntervalMs: 0,
    processMetrics: false,
  });
  try {
    const labels = parsePromText(await m.scrape()).get("retrovue_playout_build_info")!
      .samples[0].labels;
    const probe = await new Deno.Command("ffprobe", { args: ["-version"], stdout: "piped" })
      .output();
    const text = new TextDecoder().decode(probe.stdout);
    for (const lib of ["avformat", "avcodec", "avutil", "swscale", "swresample", "avfilter"]) {
      // e.g. "libavcodec     59. 37.100 / 59. 37.100" (compiled / runtime)
      const m = new RegExp(`^lib${lib}\\s+[\\d. ]+/\\s*(\\d+)\\.\\s*(\\d+)\\.\\s*(\\d+)`, "m")
        .exec(text);
      assert.ok(m, `ffprobe -version lists no lib${lib}:\n${text}`);
      assert.equal(labels[`lib${lib}`], `${+m[1]}.${+m[2]}.${+m[3]}`, `lib${lib}`);
    }
  } finally {
    m.close();
  }
});

Deno.test("channel_state reads 2 once ready and 0 after stop, one series per channel", async () => {
  const surface = new FakeSurface();
  const ch = surface.add(7, "buffering");
  await withMetrics(surface, async (m) => {
    let f = parsePromText(await m.scrape());
    assert.deepEqual(f.get("retrovue_playout_channel_state")!.samples, [
      {
        name: "retrovue_playout_channel_state",
        labels: { channel: "7", state: "buffering" },
        value: 1,
      },
    ]);

    ch.info.state = "ready";
    f = parsePromText(await m.scrape());
    assert.deepEqual(f.get("retrovue_playout_channel_state")!.samples, [
      {
        name: "retrovue_playout_channel_state",
        labels: { channel: "7", state: "ready" },
        value: 2,
      },
    ]);

    ch.info.state = "stopped";
    ch.info.startedAtMs = undefined;
    ch.stats = undefined;
    f = parsePromText(await m.scrape());
    assert.deepEqual(f.get("retrovue_playout_channel_state")!.samples, [
      {
        name: "retrovue_playout_channel_state",
        labels: { channel: "7", state: "stopped" },
        value: 0,
      },
    ]);
    assert.deepEqual(
      sampleValue(f, "retrovue_playout_channel_uptime_seconds", { channel: "7" }),
      0,
    );
    // Per-run gauges go away with the stats; the channel is still listed.
    assert.deepEqual(
      sampleValue(f, "retrovue_playout_buffer_depth_frames", { channel: "7" }),
      undefined,
    );

    ch.info.state = "error";
    ch.info.startedAtMs = Date.now() - 10_000;
    f = parsePromText(await m.scrape());
    assert.deepEqual(sampleValue(f, "retrovue_playout_channel_state", { channel: "7" }), 3);
    assert.deepEqual(
      sampleValue(f, "retrovue_playout_channel_uptime_seconds", { channel: "7" }),
      0,
    );
  });
});

Deno.test("decode failure totals increment decode_failure_count, across a channel restart", async () => {
  const surface = new FakeSurface();
  const ch = surface.add(2, "ready");
  await withMetrics(surface, async (m) => {
    const failures = async () =>
      sampleValue(parsePromText(await m.scrape()), "retrovue_playout_decode_failure_count", {
        channel: "2",
      });
    assert.deepEqual(await failures(), 0);
    ch.stats!.decodeFailures = 1;
    assert.deepEqual(await failures(), 1);
    ch.stats!.decodeFailures = 4;
    assert.deepEqual(await failures(), 4);
    assert.deepEqual(await failures(), 4, "a scrape without change adds nothing");

    // A restart: new run (startedAtMs), totals start again; already above the old total.
    ch.info.startedAtMs = ch.info.startedAtMs! + 60_000;
    ch.stats!.decodeFailures = 6;
    assert.deepEqual(await failures(), 10);
    // A restart detected only by a total going down.
    ch.stats!.decodeFailures = 1;
    assert.deepEqual(await failures(), 11);

    // Stopped with final stats still reported: no double count.
    ch.info.state = "stopped";
    ch.info.startedAtMs = undefined;
    assert.deepEqual(await failures(), 11);
  });
});

Deno.test("restart_total follows the engine's restart count without double counting", async () => {
  const surface = new FakeSurface();
  const ch = surface.add(3, "ready");
  await withMetrics(surface, async (m) => {
    const restarts = async () =>
      sampleValue(parsePromText(await m.scrape()), "retrovue_playout_restart_total");
    assert.deepEqual(await restarts(), 0);
    for (let n = 1; n <= 3; n++) {
      ch.info.startedAtMs = Date.now() + n;
      ch.stats = { ...ch.stats!, restarts: n };
      assert.deepEqual(await restarts(), n);
    }
  });
});

Deno.test("viewer count shows in the viewer gauge; drops in the dropped counter", async () => {
  const surface = new FakeSurface();
  const ch = surface.add(4, "ready");
  await withMetrics(surface, async (m) => {
    let f = parsePromText(await m.scrape());
    assert.deepEqual(sampleValue(f, "retrovue_playout_viewers_connected", { channel: "4" }), 0);
    ch.fanout!.viewerCount = 5;
    ch.fanout!.viewersDropped = 2;
    f = parsePromText(await m.scrape());
    assert.deepEqual(sampleValue(f, "retrovue_playout_viewers_connected", { channel: "4" }), 5);
    assert.deepEqual(sampleValue(f, "retrovue_playout_viewers_dropped_total", { channel: "4" }), 2);
    ch.fanout!.viewerCount = 1;
    f = parsePromText(await m.scrape());
    assert.deepEqual(sampleValue(f, "retrovue_playout_viewers_connected", { channel: "4" }), 1);

    surface.channels.delete(4);
    f = parsePromText(await m.scrape());
    assert.deepEqual(
      sampleValue(f, "retrovue_playout_viewers_connected", { channel: "4" }),
      undefined,
    );
    assert.deepEqual(sampleValue(f, "retrovue_playout_channel_state", { channel: "4" }), undefined);
  });
});

Deno.test("a batch of decode latency samples is observed once", async () => {
  const surface = new FakeSurface();
  const ch = surface.add(5, "ready");
  await withMetrics(surface, async (m) => {
    const count = async () =>
      sampleValue(parsePromText(await m.scrape()), "retrovue_playout_decode_latency_seconds_count");
    assert.deepEqual(await count(), 0, "the series exists before the first sample");
    ch.stats = { ...ch.stats!, decodeLatencySamples: [0.01, 0.02] };
    assert.deepEqual(await count(), 2);
    assert.deepEqual(await count(), 2);
    // A copy with the same values is the same batch.
    ch.stats = { ...ch.stats!, decodeLatencySamples: [0.01, 0.02] };
    assert.deepEqual(await count(), 2);
    ch.stats = { ...ch.stats!, decodeLatencySamples: [0.003] };
    assert.deepEqual(await count(), 3);
  });
});

Deno.test("background sampling catches every stats refresh between scrapes", async () => {
  const surface = new FakeSurface();
  const ch = surface.add(6, "ready");
  await withMetrics(surface, async (m) => {
    // registry.metrics() does not sample: only the background timer feeds it.
    const count = async () =>
      sampleValue(
        parsePromText(await m.registry.metrics()),
        "retrovue_playout_decode_latency_seconds_count",
      ) ?? 0;
    const waitFor = async (want: number) => {
      const deadline = Date.now() + 10_000;
      while (await count() !== want) {
        assert(Date.now() < deadline, `histogram count never reached ${want}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    ch.stats = { ...ch.stats!, decodeLatencySamples: [0.01, 0.02, 0.03] };
    await waitFor(3);
    ch.stats = { ...ch.stats!, decodeLatencySamples: [0.04] };
    await waitFor(4);
  }, { sampleIntervalMs: 5 });
});

Deno.test("process metrics and the event-loop lag probe work on Deno", async () => {
  const surface = new FakeSurface();
  await withMetrics(surface, async (m) => {
    await m.scrape(); // resets the lag maximum
    // Block the event loop until this thread has burnt 0.3 s of CPU by the kernel's count
    // (not by the clock: on a loaded box 300 ms of wall time may be much less CPU). CPU time
    // never exceeds wall time, so the loop is also blocked for at least 300 ms. The thread's
    // own count: the process's (process.cpuUsage) includes other threads, which once ended
    // the loop after 0.19 s.
    const cpuSeconds = () => ownThreadStat().cpuSeconds;
    const burnt = cpuSeconds();
    while (cpuSeconds() - burnt < 0.3) { /* block the event loop */ }
    await new Promise((r) => setTimeout(r, 150));
    const f = parsePromText(await m.scrape());
    // The counter started before `burnt` was read, so it holds at least the 0.3 s burnt since.
    assertAtLeast(sampleValue(f, "process_cpu_seconds_total")!, 0.3, "process CPU");
    assertAbove(sampleValue(f, "process_resident_memory_bytes")!, 1_000_000);
    assertAbove(sampleValue(f, "process_open_fds")!, 0);
    assertAbove(sampleValue(f, "nodejs_heap_size_used_bytes")!, 0);
    assertAtLeast(sampleValue(f, "retrovue_playout_event_loop_lag_max_seconds")!, 0.1);
    assertAtLeast(
      sampleValue(f, "retrovue_playout_event_loop_lag_seconds_bucket", { le: "+Inf" })!,
      1,
    );
    for (const broken of ["nodejs_eventloop_lag_p99_seconds", "nodejs_active_handles_total"]) {
      assert.deepEqual(f.has(broken), false, `${broken} should be removed`);
    }
  }, { processMetrics: true });
});

Deno.test("promtool check metrics passes on a scrape", async () => {
  const surface = new FakeSurface();
  busyChannel(surface);
  surface.add(2, "buffering", 'odd "name"\\with\nnewline');
  await withMetrics(surface, async (m) => {
    const body = await m.scrape();
    // The operator-mandated name retrovue_playout_decode_failure_count is inherently flagged
    // (a counter without `_total`, a `_count` suffix outside a histogram); nothing else may be.
    const inherent = "retrovue_playout_decode_failure_count";
    const full = await promtoolCheckMetrics(body);
    const problems = full.output.split("\n").filter((l) => l.trim() !== "");
    assert.deepEqual(problems.filter((l) => !l.startsWith(inherent + " ")), [], full.output);
    assert.deepEqual(problems.length, 2, full.output);

    const without = body.split("\n").filter((l) => !l.includes(inherent)).join("\n");
    const rest = await promtoolCheckMetrics(without);
    assert.deepEqual(rest, { code: 0, output: "" });
  }, { processMetrics: true });
});

async function promtoolCheckMetrics(body: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(body));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("background sampling errors are logged once per minute, then summarised", async () => {
  const surface = new FakeSurface();
  let calls = 0;
  surface.list = () => {
    calls++;
    throw new Error("surface exploded");
  };
  const lines: string[] = [];
  const m = createPlayoutMetrics({
    surface,
    buildInfo: BUILD,
    log: new Logger({ write: (l) => lines.push(l) }),
    sampleIntervalMs: 2,
    processMetrics: false,
  });
  const deadline = Date.now() + 10_000;
  while (calls < 5) {
    assert.ok(Date.now() < deadline, "background sampling never ran 5 times");
    await new Promise((r) => setTimeout(r, 5));
  }
  m.close();
  const events = lines.map((l) => JSON.parse(l));
  assert.equal(events.length, 2, lines.join("\n"));
  assert.equal(events[0].event, "metrics_sample_failed");
  assert.equal(events[0].error.message, "surface exploded");
  assert.equal(events[1].event, "log_suppressed");
  assert.equal(events[1].suppressed_event, "metrics_sample_failed");
  assert.ok(events[1].suppressed >= 4);
});
