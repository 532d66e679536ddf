/**
 * The channel manager with real Workers, and real-time pacing of a channel runner.
 */

import { assert, assertEquals, assertRejects } from "./assert.ts";
import { quietLog, TEST_FORMAT, testChannelSpec, testManager } from "./manager_fixtures.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import { RealTimeSource } from "../src/engine/master_clock.ts";
import { FrameFlags } from "../media/program_frame.ts";
import { Logger } from "../src/log/log.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";
import { concatBytes, until } from "./egress_fixtures.ts";

const FMT = TEST_FORMAT;

const spec = (id: number, format = FMT): ChannelSpec => testChannelSpec(id, { format });

Deno.test("real-time pacing: no frame is released before its wall-clock time", async () => {
  // How late frames are (against the lead) is measured by `deno task bench responsiveness`;
  // here only what load cannot change: never early, never more frames than the clock allows.
  const leadMs = 200;
  const epoch = Date.now() + 100;
  const lateness: number[] = [];
  const runner = new ChannelRunner(
    { spec: spec(1), time: new RealTimeSource(), epochUtcMs: epoch, leadMs },
    {
      ts: () => {},
      frame: (f) => lateness.push(Date.now() - f.wallClockUtcUs / 1000),
      blockEvent: () => {},
      log: () => {},
    },
  );
  runner.wantFrames = true;
  const done = runner.run();
  await until(() => lateness.length >= 25, "25 frames");
  runner.stop();
  await done;
  const early = lateness.filter((ms) => ms < -1);
  assertEquals(early, [], "frames released before their wall-clock time");
  // 25 fps from the epoch: no more frames than the wall clock allows.
  const elapsed = Date.now() - epoch;
  assert(lateness.length <= Math.ceil((elapsed * 25) / 1000) + 1, `${lateness.length} frames`);
});

Deno.test("two channels run in their own workers, independently", async () => {
  const manager = testManager({ log: quietLog(), leadMs: 200 });
  try {
    await manager.applyConfig([spec(1), spec(2, { ...FMT, width: 320, height: 180 })]);
    const got = new Map<number, Uint8Array[]>([[1, []], [2, []]]);
    const viewers = [1, 2].map((id) => {
      const v = manager.outputs(id)!.fanout.subscribe({ label: `test${id}` });
      (async () => {
        for await (const chunk of v) got.get(id)!.push(chunk);
      })();
      return v;
    });
    const received = (id: number) => got.get(id)!.reduce((n, c) => n + c.length, 0);
    await until(() => received(1) > 188 * 100 && received(2) > 188 * 100, "both channels' TS");
    // On air: ready, or degraded when this shared box cannot give them the CPU they need.
    const onAir = (state: string) => state === "ready" || state === "degraded";
    assert(manager.list().every((c) => onAir(c.state)), JSON.stringify(manager.list()));
    // Stop channel 1; channel 2 keeps producing.
    await manager.applyConfig([spec(2, { ...FMT, width: 320, height: 180 })]);
    const before = received(2);
    await until(() => received(2) > before, "channel 2 to go on after channel 1 stopped");
    for (const v of viewers) v.close();
    for (const [id, chunks] of got) {
      const all = concatBytes(chunks);
      const s = analyzeTs(all);
      assert(s.packets > 100, `channel ${id}: ${s.packets} packets`);
      assertEquals(s.ccErrors, 0, `channel ${id} CC errors`);
      assertEquals(all[0], 0x47);
    }
  } finally {
    await manager.close();
  }
});

Deno.test("control refusals carry the spec's codes", async () => {
  const manager = testManager({ log: quietLog() });
  try {
    const e1 = await assertRejects(() =>
      manager.loadPreview(5, {
        assetPath: "/x.mp4",
        startFrame: 0,
        frameCount: -1,
        fps: { num: 25, den: 1 },
      }), ControlError);
    assertEquals(e1.code, "NOT_READY");
    const e2 = await assertRejects(() => manager.switchToLive(5, 0), ControlError);
    assertEquals(e2.code, "PROTOCOL_VIOLATION");
    const e3 = await assertRejects(
      () => manager.startBlockSession(5, [], 0, undefined, 2),
      ControlError,
    );
    assertEquals(e3.code, "STREAM_NOT_ATTACHED");
    const e4 = await assertRejects(() =>
      manager.feedBlock(5, {
        blockId: "x",
        channelId: 5,
        startUtcMs: 0,
        endUtcMs: 1000,
        segments: [],
        broadcastDate: "",
        broadcastDayAnchorUtcMs: 0,
      }), ControlError);
    assertEquals(e4.code, "NO_SESSION");
    let thrown: unknown;
    try {
      manager.subscribeBlockEvents(5, () => {});
    } catch (err) {
      thrown = err;
    }
    assert(thrown instanceof ControlError && thrown.code === "NOT_FOUND");
    // Idempotent stops.
    await manager.stopChannel(5);
    await manager.detachStream(5, false);
    assertEquals(await manager.stopBlockSession(5, "x"), { finalCtMs: 0, blocksExecuted: 0 });
    const e5 = await assertRejects(
      () => manager.attachStream(5, "unix", "/nonexistent/dir/core.sock", true),
      ControlError,
    );
    assertEquals(e5.code, "FAILED");
  } finally {
    await manager.close();
  }
});

Deno.test("a virtual-clock run has the same structure as a real-time run", async () => {
  const { fixture } = await import("./fixtures.ts");
  const clip = await fixture("h264_aac_mp4");
  const { VirtualTimeSource } = await import("../src/engine/master_clock.ts");
  const fileSpec: ChannelSpec = { ...spec(9), source: { kind: "playlist", paths: [clip] } };
  const record = async (virtual: boolean) => {
    const epoch = Date.now() + 50;
    const frames: string[] = [];
    const runner = new ChannelRunner(
      {
        spec: fileSpec,
        time: virtual ? new VirtualTimeSource(epoch) : new RealTimeSource(),
        epochUtcMs: epoch,
        leadMs: 200,
        encode: false,
      },
      {
        ts: () => {},
        frame: (f) => {
          // A real-time frame may repeat the picture on air when the box is busy (flagged
          // DUPLICATED): its own picture was never made, so only its timing is compared.
          const repeat = (f.flags & FrameFlags.DUPLICATED) !== 0;
          const luma = repeat ? "repeat" : f.video.subarray(0, 160 * 90).reduce((n, v) => n + v, 0);
          frames.push(
            `${f.frameNumber}:${f.pts90k}:${f.flags & ~FrameFlags.DUPLICATED}:${f.samples}:${luma}`,
          );
        },
        blockEvent: () => {},
        log: () => {},
      },
    );
    runner.wantFrames = true;
    const done = runner.run();
    while (frames.length < 40) await new Promise((r) => setTimeout(r, 20));
    runner.stop();
    await done;
    return frames.slice(0, 40);
  };
  const real = await record(false);
  const virtual = await record(true);
  const masked = virtual.map((v, i) =>
    real[i]?.endsWith(":repeat") ? v.replace(/:[^:]*$/, ":repeat") : v
  );
  assertEquals(masked, real);
});

Deno.test("a configured channel whose pipeline fails is in error, others run, and it is retried", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: "info", write: (l) => lines.push(JSON.parse(l)) });
  const manager = testManager({ log, leadMs: 200 });
  try {
    const broken: ChannelSpec = {
      ...spec(1),
      // An encoder FFmpeg does not have: the worker fails while opening it.
      video: { ...spec(1).video, codec: "no_such_encoder" as "libx264" },
    };
    await manager.applyConfig([broken, spec(2)]);
    const failures = () => lines.filter((l) => l.event === "channel_failed" && l.channel === 1);
    for (let t = 0; t < 100 && failures().length < 2; t++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const states = Object.fromEntries(manager.list().map((c) => [c.id, c.state]));
    assert(states[2] === "ready" || states[2] === "degraded", `channel 2 is ${states[2]}`);
    assert(states[1] === "error" || states[1] === "buffering", `channel 1 is ${states[1]}`);
    const failed = failures();
    assert(failed.length >= 2, `${failed.length} failures logged`);
    assert(String(failed[0].reason).includes("no_such_encoder"), String(failed[0].reason));
    const restarts = lines.filter((l) => l.event === "channel_restart" && l.channel === 1);
    assert(restarts.length >= 1, "no restart was attempted");
  } finally {
    await manager.close();
  }
});
