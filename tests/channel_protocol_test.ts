/**
 * The worker protocol (src/engine/channel_protocol.ts) without a worker: a CallClient posts
 * typed requests, `dispatchCall` runs them on a runner stand-in, and refusals cross as one
 * shape and come back as the same ControlError code.
 */

import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  CallClient,
  type CallRequest,
  type CallResult,
  dispatchCall,
  fromWireError,
  type RunnerCalls,
  type RunnerMethod,
  toWireError,
} from "../src/engine/channel_protocol.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import type { BlockPlan } from "../src/engine/plan.ts";

/** A runner stand-in: answers guide and loadPreview, refuses feedBlock, fails playSegments. */
function standIn(): RunnerCalls & { fed: BlockPlan[] } {
  const fed: BlockPlan[] = [];
  return {
    fed,
    startBlockSession: () => {},
    feedBlock(block) {
      fed.push(block);
      throw new ControlError("QUEUE_FULL", `queue full at ${block.blockId}`);
    },
    stopBlockSession: () => ({ finalCtMs: 1200, blocksExecuted: 3 }),
    playSegments: () => {
      throw new RangeError("not a ControlError");
    },
    loadPreview: (item) => ({ shadowDecodeStarted: true, reason: item.assetPath }),
    switchToLive: (target) =>
      Promise.resolve({ ptsContiguous: true, livePts90k: target, completionUtcMs: target }),
    guide: (from, to) => [{
      startUtcMs: from,
      endUtcMs: to,
      kind: "file",
      path: "/a.mkv",
      segmentType: "standalone",
    }],
  };
}

/** A client wired to `target` the way a worker would answer it (messages cloned). */
function wired(target: RunnerCalls, timeouts: RunnerMethod[] = []) {
  const posted: CallRequest[] = [];
  const post = (request: CallRequest) => {
    const req = structuredClone(request);
    posted.push(req);
    dispatchCall(target, req.method, req.args).then(
      (value): CallResult => ({ type: "reply", id: req.id, ok: true, value }),
      (err): CallResult => ({ type: "reply", id: req.id, ok: false, error: toWireError(err) }),
    ).then((reply) => client.settle(structuredClone(reply)));
  };
  const client = new CallClient("channel 9", post, (method) => timeouts.push(method));
  return { client, posted };
}

const BLOCK: BlockPlan = {
  blockId: "b7",
  channelId: 9,
  startUtcMs: 0,
  endUtcMs: 1000,
  segments: [],
  broadcastDate: "",
  broadcastDayAnchorUtcMs: 0,
};

Deno.test("a call's arguments reach the runner method and its reply comes back", async () => {
  const { client, posted } = wired(standIn());
  const slots = await client.call("guide", [1000, 5000], 5000);
  assertEquals(slots.map((s) => [s.startUtcMs, s.endUtcMs]), [[1000, 5000]]);
  const stop = await client.call("stopBlockSession", [], 5000);
  assertEquals(stop, { finalCtMs: 1200, blocksExecuted: 3 });
  const sw = await client.call("switchToLive", [7777], 5000);
  assertEquals(sw.livePts90k, 7777);
  assertEquals(posted.map((p) => p.method), ["guide", "stopBlockSession", "switchToLive"]);
  assertEquals(new Set(posted.map((p) => p.id)).size, 3);
});

Deno.test("a refusal keeps its code across the thread; any other failure is FAILED", async () => {
  const runner = standIn();
  const { client } = wired(runner);
  const full = await assertRejects(() => client.call("feedBlock", [BLOCK], 5000), ControlError);
  assertEquals(full.code, "QUEUE_FULL");
  assert(full.message.includes("b7"), full.message);
  assertEquals(runner.fed.map((b) => b.blockId), ["b7"]);
  const failed = await assertRejects(
    () => client.call("playSegments", [[], false], 5000),
    ControlError,
  );
  assertEquals(failed.code, "FAILED");
  assertEquals(failed.message, "not a ControlError");
  assertEquals(fromWireError(toWireError("plain text")).code, "FAILED");
});

Deno.test("an unanswered call is refused with FAILED naming the method; late replies are ignored", async () => {
  const timeouts: RunnerMethod[] = [];
  const held: CallRequest[] = [];
  const client = new CallClient("channel 9", (r) => held.push(r), (m) => timeouts.push(m));
  const err = await assertRejects(() => client.call("guide", [0, 1], 10), ControlError);
  assertEquals(err.code, "FAILED");
  assert(err.message.includes("channel 9") && err.message.includes("guide"), err.message);
  assertEquals(timeouts, ["guide"]);
  // The answer that comes after the timeout settles nothing (and throws nothing).
  client.settle({ type: "reply", id: held[0].id, ok: true, value: [] });
});

Deno.test("failAll refuses every pending call with the given error", async () => {
  const client = new CallClient("channel 9", () => {}, () => {});
  const a = client.call("loadPreview", [{
    assetPath: "/a.mkv",
    startFrame: 0,
    frameCount: -1,
    fps: { num: 25, den: 1 },
  }], 60_000);
  const b = client.call("stopBlockSession", [], 60_000);
  client.failAll(new ControlError("FAILED", "channel stopped"));
  for (const p of [a, b]) {
    const err = await assertRejects(() => p, ControlError);
    assertEquals(err.message, "channel stopped");
  }
});
