/**
 * `parsePlanHandle` (segment mode's plan_handle) and `parseProgramFormatJson`: what they
 * resolve to and the typed error for each kind of bad input.
 */

import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  DEFAULT_PLAN_FPS,
  MAX_PLAN_SEGMENTS,
  parsePlanHandle,
  PlanFileInvalidError,
  PlanFileSyntaxError,
  PlanHandleNotAFileError,
  PlanHandleNotFoundError,
} from "../src/control/plan_handle.ts";
import {
  parseProgramFormatJson,
  ProgramFormatJsonError,
} from "../src/control/program_format_json.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "grpc_plan_handle_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("plan handle: a single asset plays whole", async () => {
  await withDir(async (dir) => {
    const asset = `${dir}/show.mkv`;
    await Deno.writeFile(asset, new Uint8Array(16));
    const expected = [{ assetPath: asset, startFrame: 0, frameCount: -1, fps: DEFAULT_PLAN_FPS }];
    assertEquals(await parsePlanHandle(asset), expected);
    assertEquals(await parsePlanHandle(`file://${asset}`), expected);
    assertEquals(await parsePlanHandle(`  ${asset}\n`), expected);
  });
});

Deno.test("plan handle: a plan file resolves relative paths against its directory", async () => {
  await withDir(async (dir) => {
    const plan = `${dir}/plans/today.json`;
    await Deno.mkdir(`${dir}/plans`);
    await Deno.writeTextFile(
      plan,
      JSON.stringify([
        { asset_path: "ep1.mkv" },
        { asset_path: "/abs/ep2.mkv", start_frame: 100, frame_count: 250, fps: "25" },
        { asset_path: "file:///abs/ep%203.mkv", fps: 30, note: "unknown fields are ignored" },
      ]),
    );
    assertEquals(await parsePlanHandle(plan), [
      { assetPath: `${dir}/plans/ep1.mkv`, startFrame: 0, frameCount: -1, fps: DEFAULT_PLAN_FPS },
      { assetPath: "/abs/ep2.mkv", startFrame: 100, frameCount: 250, fps: { num: 25, den: 1 } },
      { assetPath: "/abs/ep 3.mkv", startFrame: 0, frameCount: -1, fps: { num: 30, den: 1 } },
    ]);
    await Deno.writeTextFile(plan, JSON.stringify({ segments: [{ asset_path: "x.ts" }] }));
    assertEquals((await parsePlanHandle(plan)).map((s) => s.assetPath), [`${dir}/plans/x.ts`]);
  });
});

Deno.test("plan handle: typed errors carry the offending value", async () => {
  await withDir(async (dir) => {
    const missing = await assertRejects(
      () => parsePlanHandle(`${dir}/nope.mkv`),
      PlanHandleNotFoundError,
    );
    assertEquals(missing.value, `${dir}/nope.mkv`);
    await assertRejects(() => parsePlanHandle("   "), PlanHandleNotFoundError, "empty");
    const notFile = await assertRejects(() => parsePlanHandle(dir), PlanHandleNotAFileError);
    assertEquals(notFile.value, dir);

    const plan = `${dir}/p.json`;
    await Deno.writeTextFile(plan, "[{");
    await assertRejects(() => parsePlanHandle(plan), PlanFileSyntaxError);

    const invalid = async (json: unknown, field: string, value: unknown) => {
      await Deno.writeTextFile(plan, JSON.stringify(json));
      const err = await assertRejects(() => parsePlanHandle(plan), PlanFileInvalidError);
      assertEquals(err.field, field, err.message);
      assertEquals(err.value, value);
      assert(err.message.includes(field), err.message);
    };
    await invalid([], "", []);
    await invalid({ segments: [] }, "segments", []);
    await invalid("x", "", "x");
    await invalid([{ asset_path: "" }], "0.asset_path", "");
    await invalid([{ asset_path: "a" }, { asset_path: 5 }], "1.asset_path", 5);
    await invalid([{ asset_path: "a", start_frame: -1 }], "0.start_frame", -1);
    await invalid([{ asset_path: "a", frame_count: 0 }], "0.frame_count", 0);
    await invalid([{ asset_path: "a", frame_count: 1.5 }], "0.frame_count", 1.5);
    await invalid([{ asset_path: "a", fps: "0/1" }], "0.fps", "0/1");
    await invalid({ segments: [{ asset_path: "a", fps: "x" }] }, "segments.0.fps", "x");
    await Deno.writeTextFile(
      plan,
      JSON.stringify(Array.from({ length: MAX_PLAN_SEGMENTS + 1 }, () => ({ asset_path: "a" }))),
    );
    const tooMany = await assertRejects(() => parsePlanHandle(plan), PlanFileInvalidError);
    assertEquals(tooMany.field, "");
    assert(tooMany.message.includes(`at most ${MAX_PLAN_SEGMENTS} segments`), tooMany.message);
  });
});

Deno.test("program_format_json: parsed, defaults, unknown fields ignored", () => {
  assertEquals(
    parseProgramFormatJson(
      '{"video":{"width":1920,"height":1080,"frame_rate":"30000/1001","x":1},' +
        '"audio":{"sample_rate":48000,"channels":2},"other":{}}',
    ),
    {
      width: 1920,
      height: 1080,
      frameRate: { num: 30000, den: 1001 },
      sampleRate: 48000,
      channels: 2,
      aspectPolicy: "preserve",
    },
  );
  const f = parseProgramFormatJson(
    '{"video":{"width":320,"height":240,"frame_rate":25,"aspect_policy":"stretch"},' +
      '"audio":{"sample_rate":44100,"channels":1}}',
  );
  assertEquals([f.frameRate, f.aspectPolicy], [{ num: 25, den: 1 }, "stretch"]);
});

Deno.test("program_format_json: each bad field is named with its value", () => {
  const base = { width: 320, height: 240, frame_rate: "25" };
  const audio = { sample_rate: 48000, channels: 2 };
  const bad = (json: unknown, field: string, value: unknown) => {
    let err: unknown;
    try {
      parseProgramFormatJson(typeof json === "string" ? json : JSON.stringify(json));
    } catch (e) {
      err = e;
    }
    assert(err instanceof ProgramFormatJsonError, `no error for ${JSON.stringify(json)}`);
    assertEquals([err.field, err.value], [field, value], err.message);
  };
  bad("nope", "", "nope");
  bad([], "", []);
  bad({ audio }, "video", undefined);
  bad({ video: base }, "audio", undefined);
  bad({ video: { ...base, width: 7682 }, audio }, "video.width", 7682);
  bad({ video: { ...base, width: 321 }, audio }, "video.width", 321);
  bad({ video: { ...base, width: "320" }, audio }, "video.width", "320");
  bad({ video: { ...base, height: 0 }, audio }, "video.height", 0);
  bad({ video: { ...base, frame_rate: "1/0" }, audio }, "video.frame_rate", "1/0");
  bad({ video: { ...base, frame_rate: "1000" }, audio }, "video.frame_rate", "1000");
  bad({ video: base, audio: { ...audio, channels: 0 } }, "audio.channels", 0);
  bad({ video: base, audio: { ...audio, channels: 9 } }, "audio.channels", 9);
  bad({ video: base, audio: { ...audio, sample_rate: 48000.5 } }, "audio.sample_rate", 48000.5);
  bad({ video: base, audio, aspect_policy: "zoom" }, "aspect_policy", "zoom");
});
