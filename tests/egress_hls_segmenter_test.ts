/**
 * The HLS segmenter on a known TS: cuts at every IDR (GOP 15 at 30 fps = 0.5 s), counts a
 * timeline restart as the one discontinuity, and chains PROGRAM-DATE-TIME by PTS.
 */

import { assert, assertEquals } from "./assert.ts";
import { feedLive, makeTs, PACKET, pidAt } from "./egress_fixtures.ts";
import { HlsSegmenter } from "../src/outputs/hls_segmenter.ts";
import { TsFanout } from "../src/outputs/ts_fanout.ts";
import { parsePlaylist } from "./viewer_fixtures.ts";

const dir = await Deno.makeTempDir({ prefix: "hls_segmenter_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const source = await makeTs(dir, { seconds: 3, gop: 15 });

Deno.test("segmenter: one segment per GOP; a restarted timeline is one EXT-X-DISCONTINUITY", async () => {
  const fanout = new TsFanout();
  let clock = Date.UTC(2026, 11, 1, 20, 0, 0);
  const hls = new HlsSegmenter(fanout, { name: "4", window: 30, now: () => clock });
  // The same 3 s twice: the second copy's PTS start over (a channel restart).
  await feedLive(fanout, source.bytes, { loops: 2, beforePush: () => void (clock += 5) });
  fanout.close();
  await hls.ready;
  await new Promise((resolve) => setTimeout(resolve, 0));
  const segments = hls.segments;
  // 6 GOPs per copy; the last GOP of the second copy never gets its end cut.
  assertEquals(segments.length, 11);
  const restart = segments.findIndex((s) => s.discontinuity);
  assertEquals(restart, 6, "the copy's first GOP follows the jump");
  assertEquals(segments.filter((s) => s.discontinuity).length, 1);
  for (const [i, s] of segments.entries()) {
    assertEquals(pidAt(s.bytes, 0), 0, `segment ${i} starts with the PAT`);
    assertEquals(s.bytes.length % PACKET, 0);
    if (i !== 5) assert(Math.abs(s.durationSeconds - 0.5) < 1e-9, `${i}: ${s.durationSeconds}`);
  }
  for (let i = 1; i < 5; i++) {
    assertEquals(
      segments[i].programDateTimeMs - segments[i - 1].programDateTimeMs,
      500,
      "dates follow the PTS",
    );
  }
  const playlist = parsePlaylist(hls.playlist());
  assertEquals(playlist.tags.filter((t) => t === "EXT-X-DISCONTINUITY").length, 1);
  assert(playlist.segments[6].discontinuity, "the tag precedes the restarted segment");
  assert(hls.playlist().includes("#EXT-X-ENDLIST"), "an ended stream ends its playlist");
  assertEquals(hls.segment(segments[3].name), segments[3]);
});

Deno.test("segmenter: the window slides; DISCONTINUITY-SEQUENCE counts tags that left it", async () => {
  const fanout = new TsFanout();
  const hls = new HlsSegmenter(fanout, { name: "4", window: 3, keepExtra: 0 });
  await feedLive(fanout, source.bytes, { loops: 2 });
  fanout.close();
  await hls.ready;
  await new Promise((resolve) => setTimeout(resolve, 0));
  const text = hls.playlist();
  const playlist = parsePlaylist(text);
  assertEquals(playlist.segments.length, 3);
  assertEquals(playlist.mediaSequence, 8);
  assert(text.includes("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), text);
  assert(!playlist.tags.includes("EXT-X-DISCONTINUITY"), text);
  assertEquals(hls.segments.length, 3, "nothing kept beyond the window");
  assertEquals(hls.segment(`${hls.token}-0.ts`), undefined);
});

Deno.test("segmenter: it gets the stream but is not a viewer (viewer count and total stay 0)", async () => {
  const fanout = new TsFanout();
  const hls = new HlsSegmenter(fanout, { name: "4", window: 30 });
  assertEquals([fanout.viewerCount, fanout.viewersTotal], [0, 0]);
  const viewer = fanout.subscribe({ label: "10.0.0.5:1234" });
  assertEquals([fanout.viewerCount, fanout.viewersTotal], [1, 1]);
  await feedLive(fanout, source.bytes, { loops: 1 });
  fanout.close();
  await hls.ready;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert(hls.segments.length >= 5, `the segmenter cut ${hls.segments.length} segments`);
  let bytes = 0;
  for await (const chunk of viewer.readable()) bytes += chunk.length;
  assert(bytes > 0, "the viewer got the stream too");
  assertEquals(fanout.viewersTotal, 1);
});
