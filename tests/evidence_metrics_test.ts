/**
 * Evidence metrics per channel: counters follow the evidence layer's totals (increase only),
 * gauges its current spool bytes and connected streams, labelled by numeric channel and
 * channel_id_str.
 */

import { assertEquals } from "./assert.ts";
import { createPlayoutMetrics } from "../src/observability/metrics.ts";
import { Logger } from "../src/log/log.ts";
import { FakeSurface, parsePromText, sampleValue } from "./observability_fixtures.ts";

Deno.test("evidence counters and gauges per channel", async () => {
  const stats = {
    channel: 7,
    channelId: "cheers-24-7",
    eventsSpooled: 40,
    eventsSent: 30,
    eventsAcked: 25,
    eventsRefused: 0,
    spoolBytes: 12_345,
    sessionsConnected: 1,
  };
  const m = createPlayoutMetrics({
    surface: new FakeSurface(),
    buildInfo: {
      version: "0",
      apiVersion: "1.0.0",
      ffmpeg: { avformat: "1", avcodec: "1", avutil: "1", swscale: "1", swresample: "1" },
    },
    log: new Logger({ write: () => {} }),
    sampleIntervalMs: 0,
    processMetrics: false,
    evidence: { stats: () => [{ ...stats }] },
  });
  try {
    const labels = { channel: "7", channel_id: "cheers-24-7" };
    let f = parsePromText(await m.scrape());
    const v = (name: string) => sampleValue(f, `retrovue_playout_evidence_${name}`, labels);
    assertEquals(f.get("retrovue_playout_evidence_events_spooled_total")?.type, "counter");
    assertEquals(f.get("retrovue_playout_evidence_spool_bytes")?.type, "gauge");
    assertEquals(
      [v("events_spooled_total"), v("events_sent_total"), v("events_acked_total")],
      [40, 30, 25],
    );
    assertEquals([v("events_refused_total"), v("spool_bytes"), v("streams_connected")], [
      0,
      12_345,
      1,
    ]);
    Object.assign(stats, { eventsSpooled: 45, eventsAcked: 45, spoolBytes: 0, eventsRefused: 3 });
    stats.sessionsConnected = 0;
    f = parsePromText(await m.scrape());
    assertEquals(
      [v("events_spooled_total"), v("events_acked_total"), v("events_refused_total")],
      [45, 45, 3],
    );
    assertEquals([v("spool_bytes"), v("streams_connected")], [0, 0]);
  } finally {
    m.close();
  }
});
