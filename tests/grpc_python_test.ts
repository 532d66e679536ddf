/**
 * The gRPC layer driven by a client from another ecosystem: Python stubs generated at test
 * time from proto/ with Debian's grpc_tools, calls made with python3-grpcio over the Unix
 * socket, against an in-test ControlSurface. Covers every error row of the API spec, the
 * request validation (each refusal names its field), the result-code mapping, idempotency,
 * the conversion of wire messages into engine types, and server reflection (v1alpha and v1).
 */

import { assert, assertEquals } from "./assert.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import type { BlockPlan, SegmentItem } from "../src/engine/plan.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import { startGrpcServer } from "../src/control/grpc_server.ts";
import { Logger } from "../src/log/log.ts";
import { FakeControlSurface } from "./grpc_client/fake_control_surface.ts";
import {
  generateStubs,
  type PyCall,
  type PyResult,
  pythonCalls,
  runPython,
} from "./grpc_client/python_runner.ts";

type Json = Record<string, unknown>;

interface Ctx {
  fake: FakeControlSurface;
  call: (calls: PyCall[]) => Promise<PyResult[]>;
  target: string;
  dir: string;
  /** An existing file usable as a single-asset plan handle. */
  asset: string;
}

async function scenario(
  t: Deno.TestContext,
  name: string,
  stubs: string,
  fn: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  await t.step(name, async () => {
    const dir = await Deno.makeTempDir({ prefix: "grpc_python_test_" });
    const socket = `${dir}/playout.sock`;
    const fake = new FakeControlSurface();
    const server = await startGrpcServer({
      surface: fake,
      listen: { unix: { path: socket } },
      log: new Logger({ level: "error", write: () => {} }),
    });
    const asset = `${dir}/asset.ts`;
    await Deno.writeFile(asset, new Uint8Array(188).fill(0x47));
    const target = `unix:${socket}`;
    try {
      await fn({ fake, call: (calls) => pythonCalls(stubs, target, calls), target, dir, asset });
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** A PAD segment of `ms` milliseconds at `index`. */
function pad(index: number, ms: number): Json {
  return { segment_index: index, segment_type: "SEGMENT_TYPE_PAD", segment_duration_ms: ms };
}

/** A wire block of PAD segments (durations in ms). */
function block(id: string, start: number, durations: number[]): Json {
  const end = start + durations.reduce((a, b) => a + b, 0);
  return {
    block_id: id,
    start_utc_ms: String(start),
    end_utc_ms: String(end),
    segments: durations.map((d, i) => pad(i, d)),
  };
}

const T0 = 1_800_000_000_000;
const ATTACH: PyCall = {
  rpc: "AttachStream",
  request: {
    channel_id: 1,
    transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
    endpoint: "/run/core/ch1.sock",
    replace_existing: true,
  },
};
const FORMAT_JSON = JSON.stringify({
  video: { width: 320, height: 240, frame_rate: "25" },
  audio: { sample_rate: 48000, channels: 2 },
});

function ok(r: PyResult): Json {
  assert(r.ok, `gRPC call failed: ${JSON.stringify(r)}`);
  return r.response as Json;
}

/** Asserts a refusal in the response (gRPC OK, success=false) whose message names `field`. */
function refused(r: PyResult, field: string, code?: [string, string]): Json {
  const res = ok(r);
  assertEquals(res.success, false, JSON.stringify(res));
  assert(String(res.message).includes(field), `message ${res.message} lacks ${field}`);
  if (code) assertEquals(res[code[0]], code[1]);
  return res;
}

Deno.test("Python grpcio client against the gRPC layer", async (t) => {
  const stubs = await generateStubs();
  try {
    await scenario(t, "GetVersion returns the proto's PLAYOUT_API_VERSION", stubs, async (c) => {
      const [r] = await c.call([{ rpc: "GetVersion" }]);
      assertEquals(ok(r), { version: "1.0.0" });
    });

    await scenario(t, "health Check over the wire", stubs, async (c) => {
      c.fake.addChannel(1, { state: "ready" });
      const [serving, unknown] = await c.call([
        {
          service: "health",
          rpc: "Check",
          request: { service: "retrovue.playout.PlayoutControl" },
        },
        { service: "health", rpc: "Check", request: { service: "x.Y" } },
      ]);
      assertEquals(ok(serving), { status: "SERVING" });
      assertEquals(unknown.code, "NOT_FOUND");
    });

    await scenario(
      t,
      "StartChannel: format parsed, repeat succeeds (idempotent)",
      stubs,
      async (c) => {
        const req = {
          channel_id: 1,
          plan_handle: c.asset,
          port: 8080,
          program_format_json: JSON.stringify({
            video: { width: 640, height: 360, frame_rate: "30000/1001", codec: "h264" },
            audio: { sample_rate: 44100, channels: 1, extra: true },
            aspect_policy: "crop",
            unknown_top: 1,
          }),
        };
        const [first, again] = await c.call([
          { rpc: "StartChannel", request: req },
          { rpc: "StartChannel", request: req },
        ]);
        assertEquals(ok(first), { success: true, message: "" });
        assertEquals(ok(again).success, true);
        const expected: ProgramFormat = {
          width: 640,
          height: 360,
          frameRate: { num: 30000, den: 1001 },
          sampleRate: 44100,
          channels: 1,
          aspectPolicy: "crop",
        };
        assertEquals(c.fake.callsOf("startChannel"), [
          [1, c.asset, expected],
          [1, c.asset, expected],
        ]);
      },
    );

    await scenario(
      t,
      "StartChannel: empty program_format_json means engine default",
      stubs,
      async (c) => {
        const [r] = await c.call([{
          rpc: "StartChannel",
          request: { channel_id: 3, plan_handle: c.asset },
        }]);
        assertEquals(ok(r).success, true);
        assertEquals(c.fake.callsOf("startChannel"), [[3, c.asset, undefined]]);
      },
    );

    await scenario(
      t,
      "StartChannel: invalid program_format_json names the field",
      stubs,
      async (c) => {
        const fmt = (video: Json, audio: Json = { sample_rate: 48000, channels: 2 }, extra = {}) =>
          JSON.stringify({ video, audio, ...extra });
        const cases: [string, string][] = [
          [fmt({ height: 240, frame_rate: "25" }), "program_format_json.video.width is required"],
          [fmt({ width: 7682, height: 240, frame_rate: "25" }), "program_format_json.video.width"],
          [fmt({ width: 320, height: 241, frame_rate: "25" }), "program_format_json.video.height"],
          [
            fmt({ width: 320, height: 240, frame_rate: "fast" }),
            "program_format_json.video.frame_rate",
          ],
          [fmt({ width: 320, height: 240 }), "program_format_json.video.frame_rate is required"],
          [
            JSON.stringify({ video: { width: 320, height: 240, frame_rate: "25" } }),
            "program_format_json.audio",
          ],
          [
            fmt({ width: 320, height: 240, frame_rate: "25" }, { sample_rate: 48000 }),
            "program_format_json.audio.channels",
          ],
          [
            fmt({ width: 320, height: 240, frame_rate: "25" }, { sample_rate: 1, channels: 2 }),
            "program_format_json.audio.sample_rate",
          ],
          [
            fmt({ width: 320, height: 240, frame_rate: "25" }, undefined, {
              aspect_policy: "zoom",
            }),
            "program_format_json.aspect_policy",
          ],
          ["{not json", "program_format_json"],
        ];
        const results = await c.call(cases.map(([json], i) => ({
          rpc: "StartChannel",
          request: { channel_id: i + 1, plan_handle: c.asset, program_format_json: json },
        })));
        results.forEach((r, i) => refused(r, cases[i][1]));
        assertEquals(c.fake.callsOf("startChannel"), []);
      },
    );

    await scenario(
      t,
      "StartChannel/UpdatePlan: bad ids and plan handles are refused by field",
      stubs,
      async (c) => {
        const planFile = `${c.dir}/plan.json`;
        await Deno.writeTextFile(
          planFile,
          JSON.stringify([{ asset_path: "a.mkv" }, { start_frame: 3 }]),
        );
        const results = await c.call([
          { rpc: "StartChannel", request: { channel_id: 0, plan_handle: c.asset } },
          { rpc: "StartChannel", request: { channel_id: -4, plan_handle: c.asset } },
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: "" } },
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: `${c.dir}/missing.mkv` } },
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: planFile } },
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: c.asset, port: 70000 } },
          { rpc: "UpdatePlan", request: { channel_id: 1, plan_handle: `${c.dir}/missing.json` } },
          { rpc: "UpdatePlan", request: { channel_id: 0, plan_handle: c.asset } },
        ]);
        refused(results[0], "channel_id");
        refused(results[1], "channel_id");
        refused(results[2], "plan_handle");
        refused(results[3], "missing.mkv");
        refused(results[4], "1.asset_path");
        refused(results[5], "port");
        refused(results[6], "missing.json");
        refused(results[7], "channel_id");
        assertEquals(c.fake.calls, []);
      },
    );

    await scenario(t, "UpdatePlan: a valid plan file reaches the engine", stubs, async (c) => {
      const planFile = `${c.dir}/plan.json`;
      await Deno.writeTextFile(planFile, JSON.stringify({ segments: [{ asset_path: "x.mkv" }] }));
      const [start, update, notRunning] = await c.call([
        { rpc: "StartChannel", request: { channel_id: 2, plan_handle: c.asset } },
        { rpc: "UpdatePlan", request: { channel_id: 2, plan_handle: planFile } },
        { rpc: "UpdatePlan", request: { channel_id: 9, plan_handle: planFile } },
      ]);
      assertEquals(ok(start).success, true);
      assertEquals(ok(update), { success: true, message: "" });
      refused(notRunning, "NOT_FOUND");
      assertEquals(c.fake.callsOf("updatePlan"), [[2, planFile], [9, planFile]]);
    });

    await scenario(
      t,
      "StopChannel succeeds for running and not-running channels",
      stubs,
      async (c) => {
        const [start, stop, again, never] = await c.call([
          { rpc: "StartChannel", request: { channel_id: 2, plan_handle: c.asset } },
          { rpc: "StopChannel", request: { channel_id: 2 } },
          { rpc: "StopChannel", request: { channel_id: 2 } },
          { rpc: "StopChannel", request: { channel_id: 77 } },
        ]);
        assertEquals(ok(start).success, true);
        assertEquals(ok(stop), { success: true, message: "" });
        assertEquals(ok(again).success, true);
        assertEquals(ok(never).success, true);
        assertEquals(c.fake.callsOf("stopChannel"), [[2], [2], [77]]);
      },
    );

    await scenario(
      t,
      "LoadPreview: before StartChannel, bad fps and frame fields",
      stubs,
      async (c) => {
        const lp = (extra: Json) => ({
          rpc: "LoadPreview",
          request: {
            channel_id: 1,
            asset_path: "/media/a.mkv",
            start_frame: 10,
            frame_count: 250,
            fps_numerator: 25,
            fps_denominator: 1,
            ...extra,
          },
        });
        const [before] = await c.call([lp({})]);
        const res = refused(before, "StartChannel", ["result_code", "RESULT_CODE_NOT_READY"]);
        assertEquals(res.shadow_decode_started, false);
        const results = await c.call([
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: c.asset } },
          lp({ fps_denominator: 0 }),
          lp({ fps_denominator: -1 }),
          lp({ fps_numerator: 0 }),
          lp({ start_frame: -1 }),
          lp({ frame_count: 0 }),
          lp({ frame_count: -2 }),
          lp({ asset_path: "" }),
          lp({ channel_id: 0 }),
          lp({ frame_count: -1 }),
        ]);
        const pv = ["result_code", "RESULT_CODE_PROTOCOL_VIOLATION"] as [string, string];
        refused(results[1], "fps_denominator", pv);
        refused(results[2], "fps_denominator", pv);
        refused(results[3], "fps_numerator", pv);
        refused(results[4], "start_frame", pv);
        refused(results[5], "frame_count", pv);
        refused(results[6], "frame_count", pv);
        refused(results[7], "asset_path", pv);
        refused(results[8], "channel_id", pv);
        assertEquals(ok(results[9]), {
          success: true,
          message: "",
          shadow_decode_started: true,
          result_code: "RESULT_CODE_OK",
        });
        const item: SegmentItem = {
          assetPath: "/media/a.mkv",
          startFrame: 10,
          frameCount: -1,
          fps: { num: 25, den: 1 },
        };
        assertEquals(c.fake.callsOf("loadPreview"), [[1, item]]);
      },
    );

    await scenario(
      t,
      "SwitchToLive: nothing loaded, short lead times, immediate switch",
      stubs,
      async (c) => {
        const now = Date.now();
        const sw = (target: number, issued: number) => ({
          rpc: "SwitchToLive",
          request: { channel_id: 1, target_boundary_time_ms: target, issued_at_time_ms: issued },
        });
        const results = await c.call([
          sw(0, 0),
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: c.asset } },
          sw(0, 0),
          sw(now + 6000, now + 1001),
          sw(now + 3000, 0),
          sw(now + 10_000, now + 9_000),
          sw(-5, 0),
        ]);
        refused(results[0], "StartChannel", ["result_code", "RESULT_CODE_NOT_READY"]);
        const nothing = refused(results[2], "nothing loaded", [
          "result_code",
          "RESULT_CODE_PROTOCOL_VIOLATION",
        ]);
        assertEquals(nothing.pts_contiguous, false);
        for (const r of [results[3], results[4], results[5]]) {
          const res = refused(r, "lead time", ["result_code", "RESULT_CODE_PROTOCOL_VIOLATION"]);
          assert(
            String(res.violation_reason).includes("under 5000 ms"),
            String(res.violation_reason),
          );
        }
        assert(String(results[3].response!.violation_reason).startsWith("lead time 4999 ms"));
        refused(results[6], "target_boundary_time_ms", [
          "result_code",
          "RESULT_CODE_PROTOCOL_VIOLATION",
        ]);
        // Only the one with nothing loaded reached the engine.
        assertEquals(c.fake.callsOf("switchToLive"), [[1, 0]]);

        c.fake.override("switchToLive", (_id, target) =>
          Promise.resolve({
            ptsContiguous: false,
            livePts90k: 90090,
            completionUtcMs: target + 1,
          }));
        // Lead time from issued_at_time_ms, so a slow Python start cannot shrink it.
        const target = Date.now() + 7000;
        const [done] = await c.call([sw(target, target - 7000)]);
        assertEquals(ok(done), {
          success: true,
          message: "",
          pts_contiguous: false,
          live_start_pts: "90090",
          result_code: "RESULT_CODE_OK",
          switch_completion_time_ms: String(target + 1),
          violation_reason: "",
        });
      },
    );

    await scenario(
      t,
      "AttachStream: validation, replace_existing, negotiated endpoint",
      stubs,
      async (c) => {
        const at = (extra: Json) => ({
          rpc: "AttachStream",
          request: {
            channel_id: 1,
            transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
            endpoint: "/run/core/a.sock",
            replace_existing: false,
            ...extra,
          },
        });
        const results = await c.call([
          at({ transport: "STREAM_TRANSPORT_UNSPECIFIED" }),
          at({ endpoint: "relative.sock" }),
          at({ endpoint: "/" + "x".repeat(120) }),
          at({ endpoint: "" }),
          at({ transport: "STREAM_TRANSPORT_TCP_LOOPBACK", endpoint: "localhost" }),
          at({ transport: "STREAM_TRANSPORT_TCP_LOOPBACK", endpoint: "127.0.0.1:0" }),
          at({}),
          at({ endpoint: "/run/core/b.sock" }),
          at({ endpoint: "/run/core/b.sock", replace_existing: true }),
          at({
            channel_id: 2,
            transport: "STREAM_TRANSPORT_TCP_LOOPBACK",
            endpoint: "127.0.0.1:9000",
          }),
        ]);
        refused(results[0], "transport");
        refused(results[1], "endpoint");
        refused(results[2], "endpoint");
        refused(results[3], "endpoint");
        refused(results[4], "endpoint");
        refused(results[5], "endpoint");
        assertEquals(ok(results[6]), {
          success: true,
          message: "",
          negotiated_transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
          negotiated_endpoint: "/run/core/a.sock",
        });
        const busy = refused(results[7], "replace_existing");
        assertEquals(busy.negotiated_transport, "STREAM_TRANSPORT_UNSPECIFIED");
        assertEquals(ok(results[8]).negotiated_endpoint, "/run/core/b.sock");
        assertEquals(ok(results[9]).negotiated_transport, "STREAM_TRANSPORT_TCP_LOOPBACK");
        assertEquals(c.fake.callsOf("attachStream"), [
          [1, "unix", "/run/core/a.sock", false],
          [1, "unix", "/run/core/b.sock", true],
          [2, "tcp", "127.0.0.1:9000", false],
        ]);
      },
    );

    await scenario(t, "DetachStream succeeds when not attached", stubs, async (c) => {
      const [never, attach, detach, again, bad] = await c.call([
        { rpc: "DetachStream", request: { channel_id: 1 } },
        ATTACH,
        { rpc: "DetachStream", request: { channel_id: 1, force: true } },
        { rpc: "DetachStream", request: { channel_id: 1 } },
        { rpc: "DetachStream", request: { channel_id: 0 } },
      ]);
      assertEquals(ok(never).success, true);
      assertEquals(ok(attach).success, true);
      assertEquals(ok(detach), { success: true, message: "" });
      assertEquals(ok(again).success, true);
      refused(bad, "channel_id");
      assertEquals(c.fake.callsOf("detachStream"), [[1, false], [1, true], [1, false]]);
    });

    await scenario(t, "StartBlockPlanSession: checks in the spec's order", stubs, async (c) => {
      const code = (r: PyResult) => ok(r).result_code;
      const start = (a: Json | null, b: Json | null, extra: Json = {}) => ({
        rpc: "StartBlockPlanSession",
        request: { channel_id: 1, block_a: a, block_b: b, ...extra },
      });
      const goodA = block("a", T0, [1000, 2000]);
      const goodB = block("b", T0 + 3000, [3000]);
      const gapB = block("b", T0 + 3500, [3000]);
      const badSumB = { ...goodB, end_utc_ms: String(T0 + 9000) };
      const r1 = await c.call([
        start(goodA, goodB), // not attached
        start(goodA, gapB), // not attached and not contiguous
        ATTACH,
        start(goodA, gapB), // not contiguous
        start(goodA, { ...gapB, segments: [] }), // not contiguous and malformed
        start(goodA, badSumB), // contiguous, durations do not add up
      ]);
      assertEquals(code(r1[0]), "BLOCKPLAN_RESULT_STREAM_NOT_ATTACHED");
      assertEquals(code(r1[1]), "BLOCKPLAN_RESULT_STREAM_NOT_ATTACHED");
      assertEquals(ok(r1[2]).success, true);
      refused(r1[3], "block_b.start_utc_ms", ["result_code", "BLOCKPLAN_RESULT_NOT_CONTIGUOUS"]);
      assertEquals(code(r1[4]), "BLOCKPLAN_RESULT_NOT_CONTIGUOUS");
      refused(r1[5], "block_b.segments durations sum to 3000 ms but the block spans 6000 ms", [
        "result_code",
        "BLOCKPLAN_RESULT_INVALID_BLOCK",
      ]);
      assertEquals(c.fake.callsOf("startBlockSession"), []);

      const r2 = await c.call([
        start(goodA, goodB, { max_queue_depth: 0, program_format_json: FORMAT_JSON }),
        start(goodA, goodB), // already active
        start(goodA, gapB), // already active wins over not contiguous
      ]);
      assertEquals(ok(r2[0]), { success: true, message: "", result_code: "BLOCKPLAN_RESULT_OK" });
      refused(r2[1], "already", ["result_code", "BLOCKPLAN_RESULT_ALREADY_ACTIVE"]);
      assertEquals(code(r2[2]), "BLOCKPLAN_RESULT_ALREADY_ACTIVE");
      const [[id, blocks, join, format, depth]] = c.fake.callsOf("startBlockSession");
      assertEquals([id, join, depth], [1, T0, 2]);
      assertEquals(format, {
        width: 320,
        height: 240,
        frameRate: { num: 25, den: 1 },
        sampleRate: 48000,
        channels: 2,
        aspectPolicy: "preserve",
      });
      assertEquals((blocks as BlockPlan[]).map((b) => [b.blockId, b.startUtcMs, b.endUtcMs]), [
        ["a", T0, T0 + 3000],
        ["b", T0 + 3000, T0 + 6000],
      ]);
    });

    await scenario(
      t,
      "StartBlockPlanSession: wire block converted to the engine's BlockPlan",
      stubs,
      async (c) => {
        const a = {
          block_id: "blk-a",
          channel_id: 1,
          start_utc_ms: String(T0),
          end_utc_ms: String(T0 + 10_000),
          broadcast_date: "2027-01-15",
          broadcast_day_anchor_utc_ms: String(T0 - 3_600_000),
          segments: [
            {
              segment_index: 0,
              asset_uri: "/media/does-not-exist.mkv",
              asset_start_offset_ms: "1500",
              segment_duration_ms: "6000",
              segment_type: "SEGMENT_TYPE_CONTENT",
              event_id: "ev-1",
              transition_in: "TRANSITION_FADE",
              transition_in_duration_ms: 500,
              transition_out: "TRANSITION_NONE",
              transition_out_duration_ms: 300,
              segment_uuid: "seg-uuid",
              asset_uuid: "asset-uuid",
              gain_db: -6.5,
            },
            {
              segment_index: 1,
              asset_uri: "file:///media/filler.mp4",
              segment_duration_ms: "3000",
              segment_type: "SEGMENT_TYPE_FILLER",
              transition_out: "TRANSITION_FADE",
              transition_out_duration_ms: 1000,
            },
            pad(2, 1000),
          ],
        };
        const b = block("blk-b", T0 + 10_000, [5000]);
        const [attach, start] = await c.call([
          ATTACH,
          {
            rpc: "StartBlockPlanSession",
            request: {
              channel_id: 1,
              block_a: a,
              block_b: b,
              join_utc_ms: String(T0 + 12_000),
              max_queue_depth: 5,
              evidence_endpoint: "unix:/run/core/evidence.sock",
              channel_id_str: "retro-1",
            },
          },
        ]);
        assertEquals(ok(attach).success, true);
        assertEquals(ok(start).result_code, "BLOCKPLAN_RESULT_OK");
        const [[, blocks, join, format, depth]] = c.fake.callsOf("startBlockSession");
        assertEquals([join, format, depth], [T0 + 12_000, undefined, 5]);
        const expectedA: BlockPlan = {
          blockId: "blk-a",
          channelId: 1,
          startUtcMs: T0,
          endUtcMs: T0 + 10_000,
          broadcastDate: "2027-01-15",
          broadcastDayAnchorUtcMs: T0 - 3_600_000,
          segments: [
            {
              segmentIndex: 0,
              assetUri: "/media/does-not-exist.mkv",
              assetStartOffsetMs: 1500,
              durationMs: 6000,
              type: "content",
              eventId: "ev-1",
              transitionIn: { type: "fade", durationMs: 500 },
              transitionOut: { type: "none", durationMs: 0 },
              segmentUuid: "seg-uuid",
              assetUuid: "asset-uuid",
              gainDb: -6.5,
            },
            {
              segmentIndex: 1,
              assetUri: "file:///media/filler.mp4",
              assetStartOffsetMs: 0,
              durationMs: 3000,
              type: "filler",
              eventId: "",
              transitionIn: { type: "none", durationMs: 0 },
              transitionOut: { type: "fade", durationMs: 1000 },
              segmentUuid: "",
              assetUuid: "",
              gainDb: 0,
            },
            {
              segmentIndex: 2,
              assetUri: "",
              assetStartOffsetMs: 0,
              durationMs: 1000,
              type: "pad",
              eventId: "",
              transitionIn: { type: "none", durationMs: 0 },
              transitionOut: { type: "none", durationMs: 0 },
              segmentUuid: "",
              assetUuid: "",
              gainDb: 0,
            },
          ],
        };
        assertEquals((blocks as BlockPlan[])[0], expectedA);
        assertEquals((blocks as BlockPlan[])[1].segments.length, 1);
      },
    );

    await scenario(
      t,
      "StartBlockPlanSession: malformed blocks are INVALID_BLOCK naming the field",
      stubs,
      async (c) => {
        const a = block("a", T0, [1000, 1000]);
        const seg = (patch: Json) => ({
          ...a,
          segments: [pad(0, 1000), { ...pad(1, 1000), ...patch }],
        });
        const many = block("a", T0, Array.from({ length: 10_001 }, () => 1));
        const manyB = block("b", T0 + 10_001, [1000]);
        const cases: [Json | null, string, Json?][] = [
          [{ ...a, segments: [] }, "block_a.segments must hold at least one segment"],
          [seg({ segment_duration_ms: "-1000" }), "block_a.segments.1.segment_duration_ms"],
          [seg({ segment_duration_ms: "0" }), "block_a.segments.1.segment_duration_ms"],
          [seg({ segment_index: 2 }), "block_a.segments.1.segment_index"],
          [seg({ segment_type: "SEGMENT_TYPE_CONTENT" }), "block_a.segments.1.asset_uri"],
          [seg({ asset_start_offset_ms: "-5" }), "block_a.segments.1.asset_start_offset_ms"],
          [seg({ gain_db: 400 }), "block_a.segments.1.gain_db"],
          [
            seg({ transition_in: "TRANSITION_FADE", transition_in_duration_ms: 5000 }),
            "block_a.segments.1.transition_in_duration_ms",
          ],
          [{ ...a, block_id: "" }, "block_a.block_id"],
          [{ ...a, start_utc_ms: "-1000", end_utc_ms: String(T0 + 2000) }, "block_a.start_utc_ms"],
          [{ ...a, channel_id: 9 }, "block_a.channel_id"],
          [null, "block_a is required"],
          [a, "join_utc_ms", { join_utc_ms: String(T0 + 60_000) }],
          [a, "max_queue_depth", { max_queue_depth: 5000 }],
          [a, "program_format_json.video.width", {
            program_format_json: JSON.stringify({
              video: { width: 9000, height: 240, frame_rate: "25" },
              audio: { sample_rate: 48000, channels: 2 },
            }),
          }],
          [many, "block_a.segments must hold at most 10000 segments"],
        ];
        const results = await c.call([
          ATTACH,
          ...cases.map(([blockA, , extra]) => ({
            rpc: "StartBlockPlanSession",
            request: {
              channel_id: 1,
              block_a: blockA,
              block_b: blockA === many ? manyB : block("b", T0 + 2000, [1000]),
              ...extra,
            },
          })),
          {
            rpc: "StartBlockPlanSession",
            request: { channel_id: 0, block_a: a, block_b: block("b", T0 + 2000, [1000]) },
          },
        ]);
        cases.forEach(([, field], i) =>
          refused(results[i + 1], field, ["result_code", "BLOCKPLAN_RESULT_INVALID_BLOCK"])
        );
        refused(results[cases.length + 1], "channel_id", [
          "result_code",
          "BLOCKPLAN_RESULT_INVALID_BLOCK",
        ]);
        assertEquals(c.fake.callsOf("startBlockSession"), []);
      },
    );

    await scenario(
      t,
      "FeedBlockPlan: NO_SESSION, OK, QUEUE_FULL, NOT_CONTIGUOUS, INVALID_BLOCK",
      stubs,
      async (c) => {
        const feed = (blk: Json | null, channel = 1) => ({
          rpc: "FeedBlockPlan",
          request: { channel_id: channel, block: blk },
        });
        const next = block("c", T0 + 6000, [2000, 2000]);
        const [noSession] = await c.call([feed(next)]);
        refused(noSession, "no block session", ["result_code", "BLOCKPLAN_RESULT_NO_SESSION"]);
        assertEquals(noSession.response!.queue_full, false);
        let engineAnswer: ControlError | undefined;
        c.fake.override(
          "feedBlock",
          () => engineAnswer ? Promise.reject(engineAnswer) : Promise.resolve(),
        );
        const results = await c.call([
          ATTACH,
          {
            rpc: "StartBlockPlanSession",
            request: {
              channel_id: 1,
              block_a: block("a", T0, [3000]),
              block_b: block("b", T0 + 3000, [3000]),
            },
          },
          feed(next),
          feed({ ...next, segments: [pad(0, 2000)] }),
          feed(null),
          feed(next, 0),
        ]);
        assertEquals(ok(results[1]).success, true);
        assertEquals(ok(results[2]), {
          success: true,
          message: "",
          result_code: "BLOCKPLAN_RESULT_OK",
          queue_full: false,
        });
        refused(results[3], "block.segments durations sum", [
          "result_code",
          "BLOCKPLAN_RESULT_INVALID_BLOCK",
        ]);
        refused(results[4], "block is required", ["result_code", "BLOCKPLAN_RESULT_INVALID_BLOCK"]);
        refused(results[5], "channel_id", ["result_code", "BLOCKPLAN_RESULT_INVALID_BLOCK"]);
        // The engine answered the first call (NO_SESSION is its rule) and took the fed block;
        // the malformed ones never reached it.
        const fed = c.fake.callsOf("feedBlock");
        assertEquals(fed.length, 2);
        for (const call of fed) {
          assertEquals((call[1] as BlockPlan).segments.map((s) => s.durationMs), [2000, 2000]);
        }

        engineAnswer = new ControlError("QUEUE_FULL", "queue holds 2 blocks", 2);
        const [full] = await c.call([feed(next)]);
        const res = refused(full, "queue holds 2 blocks", [
          "result_code",
          "BLOCKPLAN_RESULT_QUEUE_FULL",
        ]);
        assertEquals(res.queue_full, true);
        engineAnswer = new ControlError(
          "NOT_CONTIGUOUS",
          "block c starts at 1 but the queue ends at 2",
        );
        const [gap] = await c.call([feed(next)]);
        const g = refused(gap, "the queue ends", [
          "result_code",
          "BLOCKPLAN_RESULT_NOT_CONTIGUOUS",
        ]);
        assertEquals(g.queue_full, false);
      },
    );

    await scenario(
      t,
      "StopBlockPlanSession: idempotent; subscribers get SessionEnded",
      stubs,
      async (c) => {
        c.fake.blocksExecuted.set(1, 3);
        c.fake.override("subscribeBlockEvents", (id, listener) => {
          if (c.fake.get(id)?.mode !== "block") throw new ControlError("NOT_FOUND", "no session");
          const set = c.fake.listeners.get(id) ?? new Set();
          set.add(listener);
          c.fake.listeners.set(id, set);
          listener({
            kind: "block_started",
            blockId: "a",
            blockStartUtcMs: T0,
            blockEndUtcMs: T0 + 3000,
          });
          return () => set.delete(listener);
        });
        const results = await c.call([
          { rpc: "StopBlockPlanSession", request: { channel_id: 1 } },
          { rpc: "SubscribeBlockEvents", request: { channel_id: 1 }, stream: true },
          ATTACH,
          {
            rpc: "StartBlockPlanSession",
            request: {
              channel_id: 1,
              block_a: block("a", T0, [3000]),
              block_b: block("b", T0 + 3000, [3000]),
            },
          },
          {
            rpc: "SubscribeBlockEvents",
            request: { channel_id: 1 },
            stream: true,
            background: true,
            await_first: true,
          },
          {
            rpc: "SubscribeBlockEvents",
            request: { channel_id: 1 },
            stream: true,
            background: true,
            await_first: true,
          },
          { rpc: "StopBlockPlanSession", request: { channel_id: 1, reason: "last viewer left" } },
          { rpc: "StopBlockPlanSession", request: { channel_id: 1 } },
          { rpc: "StopBlockPlanSession", request: { channel_id: -1 } },
        ]);
        assertEquals(ok(results[0]), {
          success: true,
          message: "channel 1 had no block session",
          final_ct_ms: "0",
          blocks_executed: 0,
        });
        assertEquals(results[1].code, "NOT_FOUND");
        assertEquals(results[1].messages, []);
        for (const sub of [results[4], results[5]]) {
          assertEquals(sub.ok, true, JSON.stringify(sub));
          assertEquals(sub.messages!.map((m) => Object.keys(m).filter((k) => k !== "channel_id")), [
            ["block_started"],
            ["session_ended"],
          ]);
          assertEquals(sub.messages![1], {
            channel_id: 1,
            session_ended: { reason: "stopped", final_ct_ms: "12345", blocks_executed_total: 3 },
          });
        }
        assertEquals(ok(results[6]), {
          success: true,
          message: "",
          final_ct_ms: "12345",
          blocks_executed: 3,
        });
        assertEquals(ok(results[7]).success, true);
        refused(results[8], "channel_id");
        assertEquals(c.fake.callsOf("stopBlockSession"), [
          [1, "stopped"],
          [1, "last viewer left"],
          [1, "stopped"],
        ]);
      },
    );

    await scenario(
      t,
      "unexpected engine errors are FAILED in the response, not a crash",
      stubs,
      async (c) => {
        c.fake.override("startChannel", () => Promise.reject(new TypeError("boom")));
        c.fake.override(
          "loadPreview",
          () => Promise.reject(new ControlError("FAILED", "decoder died")),
        );
        c.fake.addChannel(1, { mode: "segment" });
        const [start, load] = await c.call([
          { rpc: "StartChannel", request: { channel_id: 1, plan_handle: c.asset } },
          {
            rpc: "LoadPreview",
            request: {
              channel_id: 1,
              asset_path: "/a.mkv",
              frame_count: -1,
              fps_numerator: 25,
              fps_denominator: 1,
            },
          },
        ]);
        refused(start, "boom");
        refused(load, "decoder died", ["result_code", "RESULT_CODE_FAILED"]);
      },
    );

    for (const version of ["v1alpha", "v1"]) {
      await scenario(
        t,
        `server reflection ${version}: a reflection client finds PlayoutControl`,
        stubs,
        async (c) => {
          const found = JSON.parse(
            await runPython("reflection_client.py", [stubs, c.target, version]),
          );
          assertEquals(found.services, [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "retrovue.playout.PlayoutControl",
          ]);
          assertEquals(found.symbol_files, [
            "retrovue/playout.proto",
            "google/protobuf/descriptor.proto",
          ]);
          assertEquals(found.filename_files, found.symbol_files);
          assertEquals(found.event_files, found.symbol_files);
          assertEquals(found.nested_enum_files, ["grpc/health/v1/health.proto"]);
          assertEquals(found.extension_files, found.symbol_files);
          assertEquals(found.extension_numbers, {
            base: "google.protobuf.FileOptions",
            numbers: [50000],
          });
          assertEquals(found.unknown_symbol_error, 5);
          assertEquals(found.unknown_file_error, 5);
          assertEquals(found.api_version, "1.0.0");
          assertEquals(found.block_event_oneof, [
            "block_completed",
            "session_ended",
            "block_started",
          ]);
          assertEquals(Object.keys(found.methods).length, 12);
          assertEquals(found.methods.SubscribeBlockEvents, {
            input: "retrovue.playout.SubscribeBlockEventsRequest",
            output: "retrovue.playout.BlockEvent",
            server_streaming: true,
          });
          assertEquals(found.methods.GetVersion, {
            input: "retrovue.playout.ApiVersionRequest",
            output: "retrovue.playout.ApiVersion",
            server_streaming: false,
          });
        },
      );
    }
  } finally {
    await Deno.remove(stubs, { recursive: true });
  }
});
