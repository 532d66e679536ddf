import assert from "node:assert/strict";
import { Logger } from "../src/log/log.ts";
import { RateLimitedLog, RateLimitOptionError } from "../src/log/log_limiter.ts";
import { LOG_EVENTS, RATE_LIMITED_EVENTS } from "../src/log/log_events.ts";

function capture(): { log: Logger; events: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ level: "debug", write: (l) => lines.push(l) }),
    events: () => lines.map((l) => JSON.parse(l)),
  };
}

Deno.test("allows N events per key per window, then one summary", () => {
  const { log, events } = capture();
  const rl = new RateLimitedLog(log, { limit: 3, windowMs: 60_000 });
  const written = [];
  for (let i = 0; i < 10; i++) {
    written.push(rl.error("asset_error", { channel: 4, asset: "/media/broken.mp4", frame: i }));
  }
  assert.deepEqual(written, [true, true, true, false, false, false, false, false, false, false]);
  assert.deepEqual(events().map((e) => e.frame), [0, 1, 2]);
  assert.ok(events().every((e) => e.event === "asset_error" && e.channel === 4));

  rl.flush();
  const summary = events()[3];
  assert.equal(events().length, 4);
  assert.equal(summary.event, "log_suppressed");
  assert.equal(summary.level, "error");
  assert.equal(summary.suppressed_event, "asset_error");
  assert.equal(summary.channel, 4);
  assert.equal(summary.suppressed, 7);
  assert.equal(summary.window_ms, 60_000);

  // The window ended with the flush: the key may log again.
  assert.equal(rl.warn("asset_error", { channel: 4 }), true);
});

Deno.test("keys are per event and per channel", () => {
  const { log, events } = capture();
  const rl = new RateLimitedLog(log, { limit: 1, windowMs: 60_000 });
  assert.equal(rl.info("viewer_connected", { channel: 1 }), true);
  assert.equal(rl.info("viewer_connected", { channel: 2 }), true);
  assert.equal(rl.info("viewer_disconnected", { channel: 1 }), true);
  assert.equal(rl.info("viewer_connected", { channel: 1 }), false);
  assert.equal(rl.info("viewer_connected"), true, "no channel is a key of its own");
  rl.flush();
  const summaries = events().filter((e) => e.event === "log_suppressed");
  assert.deepEqual(summaries.map((s) => [s.suppressed_event, s.channel, s.suppressed]), [
    ["viewer_connected", 1, 1],
  ]);
});

Deno.test("the summary is written when the window ends, without further events", async () => {
  const { log, events } = capture();
  const rl = new RateLimitedLog(log, { limit: 2, windowMs: 50 });
  for (let i = 0; i < 5; i++) rl.warn("stream_attach_retry_failed", { channel: 9, attempt: i });
  assert.equal(events().length, 2);
  const deadline = Date.now() + 10_000;
  while (!events().some((e) => e.event === "log_suppressed")) {
    assert.ok(Date.now() < deadline, "no summary within 10 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  const summary = events()[2];
  assert.equal(summary.level, "warn");
  assert.equal(summary.suppressed, 3);
  assert.equal(summary.suppressed_event, "stream_attach_retry_failed");
  assert.equal(summary.channel, 9);
  // A new window allows events again and nothing is pending.
  assert.equal(rl.warn("stream_attach_retry_failed", { channel: 9 }), true);
  rl.flush();
  assert.equal(events().filter((e) => e.event === "log_suppressed").length, 1);
});

Deno.test("a window without suppression writes no summary", () => {
  const { log, events } = capture();
  const rl = new RateLimitedLog(log, { limit: 5, windowMs: 60_000 });
  rl.info("block_started", { channel: 1, block_id: "b1" });
  rl.info("block_completed", { channel: 1, block_id: "b1" });
  rl.flush();
  assert.deepEqual(events().map((e) => e.event), ["block_started", "block_completed"]);
});

Deno.test("the logger's level still applies to limited events", () => {
  const lines: string[] = [];
  const rl = new RateLimitedLog(new Logger({ level: "warn", write: (l) => lines.push(l) }));
  rl.debug("segment_started", { channel: 1 });
  rl.error("asset_error", { channel: 1 });
  assert.deepEqual(lines.map((l) => JSON.parse(l).event), ["asset_error"]);
});

Deno.test("bad options are typed errors carrying the value", () => {
  const log = new Logger({ write: () => {} });
  assert.throws(
    () => new RateLimitedLog(log, { limit: 0 }),
    (e: unknown) => e instanceof RateLimitOptionError && e.option === "limit" && e.value === 0,
  );
  assert.throws(
    () => new RateLimitedLog(log, { windowMs: -1 }),
    (e: unknown) => e instanceof RateLimitOptionError && e.value === -1,
  );
});

Deno.test("event names are stable snake_case and the flood-prone ones are limited", () => {
  for (const name of Object.values(LOG_EVENTS)) assert.match(name, /^[a-z]+(_[a-z]+)*$/);
  assert.equal(new Set(Object.values(LOG_EVENTS)).size, Object.values(LOG_EVENTS).length);
  for (
    const e of ["asset_error", "viewer_connected", "viewer_disconnected", "grpc_refused"] as const
  ) {
    assert.ok(RATE_LIMITED_EVENTS.has(e), e);
  }
});
