import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  concatBytes,
  feedLive,
  keyframeOffsets,
  makeTs,
  PACKET,
  pidAt,
  pusiAt,
  randomAccessAt,
  sameBytes,
} from "./egress_fixtures.ts";
import {
  TsFanout,
  type TsViewer,
  type ViewerEvent,
  ViewerOverflowError,
} from "../src/outputs/ts_fanout.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";

const dir = await Deno.makeTempDir({ prefix: "egress_fanout_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const source = await makeTs(dir, { seconds: 3, gop: 15 });
const summary = analyzeTs(source.bytes);
const videoPid = summary.programs[0].pcrPid!;
const pmtPid = summary.programs[0].pmtPid;
const keyframes = keyframeOffsets(source.bytes, videoPid);

/** Reads a viewer to its end. */
async function drain(viewer: TsViewer): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of viewer) parts.push(chunk);
  return concatBytes(parts);
}

/**
 * Checks that `got` is PAT, PMT, then the source from one of its keyframes to the end, the
 * PAT/PMT being those just before that keyframe. Returns the keyframe offset.
 */
function assertStartsAtKeyframe(got: Uint8Array): number {
  assertEquals(pidAt(got, 0), 0, "first packet is the PAT");
  assertEquals(pidAt(got, PACKET), pmtPid, "second packet is the PMT");
  assertEquals(pidAt(got, 2 * PACKET), videoPid, "third packet is video");
  assert(pusiAt(got, 2 * PACKET) && randomAccessAt(got, 2 * PACKET), "third packet is an IDR");
  const body = got.subarray(2 * PACKET);
  const k = source.bytes.length - body.length;
  assert(keyframes.includes(k), `join offset ${k} is not a keyframe`);
  assert(sameBytes(body, source.bytes.subarray(k)), "bytes after the join differ from source");
  // FFmpeg writes PAT and PMT right before each keyframe; the viewer got exactly those.
  assert(sameBytes(got.subarray(0, 2 * PACKET), source.bytes.subarray(k - 2 * PACKET, k)));
  return k;
}

Deno.test("fanout: a viewer joining mid-stream starts at PAT, PMT, IDR and then gets every byte", async () => {
  const fanout = new TsFanout();
  const viewers: { at: number; viewer: TsViewer; done: Promise<Uint8Array> }[] = [];
  await feedLive(fanout, source.bytes, {
    beforePush: (n) => {
      if (n % 20 === 10) {
        const viewer = fanout.subscribe({ label: `v${n}` });
        viewers.push({ at: n, viewer, done: drain(viewer) });
      }
    },
  });
  fanout.close();
  assert(viewers.length >= 4, `viewers ${viewers.length}`);
  const joins = new Set<number>();
  for (const v of viewers) {
    const got = await v.done;
    joins.add(assertStartsAtKeyframe(got));
    assertEquals(v.viewer.endReason, "fanout_closed");
    assertEquals(v.viewer.bytesSent, got.length);
    assertEquals(analyzeTs(got).ccErrors, 0, "a joined stream is continuous");
  }
  assert(joins.size >= 2, "viewers should join at different keyframes");
  assertEquals(fanout.viewerCount, 0);
  assertEquals(fanout.viewersDropped, 0);
  assertEquals(fanout.bytesIn, source.bytes.length);
});

Deno.test("fanout: a viewer subscribed before any keyframe starts at the first one", async () => {
  const fanout = new TsFanout();
  const early = fanout.subscribe();
  const done = drain(early);
  // Misaligned chunks: the fan-out realigns packets.
  for (let o = 0; o < source.bytes.length; o += 1000) {
    fanout.push(source.bytes.slice(o, o + 1000));
  }
  fanout.close();
  const got = await done;
  assertEquals(assertStartsAtKeyframe(got), keyframes[0]);
  assertEquals(fanout.bytesDiscarded, 0);
});

Deno.test("fanout: a GOP larger than the cache bound is not replayed; the viewer waits", async () => {
  const fanout = new TsFanout({ gopCacheMaxBytes: 4 * PACKET });
  fanout.push(source.bytes.slice(0, keyframes[1] + 40 * PACKET));
  assertEquals(fanout.gopCacheBytes, 0);
  const viewer = fanout.subscribe();
  assertEquals(viewer.bytesQueued, 0);
  fanout.push(source.bytes.slice(keyframes[1] + 40 * PACKET));
  fanout.close();
  assertEquals(assertStartsAtKeyframe(await drain(viewer)), keyframes[2]);
});

Deno.test("fanout: a viewer that stops reading is dropped and counted; others get every byte", async () => {
  const events: ViewerEvent[] = [];
  const fanout = new TsFanout({ maxQueueBytes: 64 * 1024 });
  fanout.onViewer((e) => events.push(e));
  fanout.push(source.bytes.slice(0, keyframes[0] + PACKET));
  const stalled = fanout.subscribe({ label: "stalled" });
  const readers = [fanout.subscribe(), fanout.subscribe()];
  const done = readers.map(drain);
  await feedLive(fanout, source.bytes.subarray(keyframes[0] + PACKET), { intervalMs: 0 });
  fanout.close();
  assertEquals(stalled.endReason, "overflow");
  assertEquals(fanout.viewersDropped, 1);
  const err = await assertRejects(() => stalled.read(), ViewerOverflowError);
  assertEquals(err.label, "stalled");
  for (const d of done) {
    assert(sameBytes(await d, source.bytes.subarray(keyframes[0] - 2 * PACKET)), "reader bytes");
  }
  const kinds = events.map((e) => `${e.type}:${e.viewer.label}:${e.reason ?? ""}`);
  assertEquals(kinds.filter((k) => k.startsWith("disconnect:stalled")), [
    "disconnect:stalled:overflow",
  ]);
  assertEquals(events.filter((e) => e.type === "connect").length, 3);
  assertEquals(fanout.bytesOut, 2 * (source.bytes.length - keyframes[0] + 2 * PACKET));
});

Deno.test("fanout: ReadableStream viewer; cancel closes it; close() ends late subscribers", async () => {
  const fanout = new TsFanout();
  fanout.push(source.bytes.slice(0, keyframes[1] + 10 * PACKET));
  const viewer = fanout.subscribe();
  const reader = viewer.readable().getReader();
  const first = await reader.read();
  assert(!first.done && first.value[0] === 0x47 && pidAt(first.value, 0) === 0);
  assertEquals(fanout.viewerCount, 1);
  await reader.cancel();
  assertEquals(viewer.endReason, "closed");
  assertEquals(fanout.viewerCount, 0);
  assertEquals(fanout.viewersDropped, 0);
  fanout.close();
  const late = fanout.subscribe();
  assertEquals(await late.read(), null);
  assertEquals(await late.ended, "fanout_closed");
});

Deno.test("fanout: breaking out of async iteration closes the viewer", async () => {
  const fanout = new TsFanout();
  fanout.push(source.bytes.slice(0, keyframes[1] + PACKET));
  const viewer = fanout.subscribe();
  for await (const chunk of viewer) {
    assertEquals(chunk[0], 0x47);
    break;
  }
  assertEquals(viewer.endReason, "closed");
  assertEquals(fanout.viewerCount, 0);
  fanout.close();
});
