/**
 * HLS on the real engine: ffprobe and ffmpeg play `/channel/1.m3u8`; segments are whole GOPs
 * cut from the channel's one TS (their bytes are in `/channel/1.ts`), start with PAT, PMT and
 * an IDR, carry continuous PTS across file boundaries, and are cached the way a CDN needs.
 */

import { assert, assertEquals } from "./assert.ts";
import { indexOfBytes, PACKET, pidAt, pusiAt, randomAccessAt } from "./egress_fixtures.ts";
import {
  channelToml,
  clip,
  ffprobeUrl,
  httpToml,
  type MediaPlaylist,
  parsePlaylist,
  poll,
  startEngine,
} from "./viewer_fixtures.ts";

const dir = await Deno.makeTempDir({ prefix: "egress_hls_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
// Two short files: their boundaries fall inside segments every few seconds.
const a = await clip(dir, "a.mp4", 3);
const b = await clip(dir, "b.mp4", 2, "smptebars");

/** Video PTS (90 kHz) of every packet of a TS file, per ffprobe. */
async function videoPts(path: string): Promise<number[]> {
  const json = await ffprobeUrl(path, [
    ...["-select_streams", "v:0", "-show_entries", "packet=pts", "-show_packets"],
  ]);
  return (json.packets as { pts: number }[]).map((p) => Number(p.pts));
}

Deno.test("hls: ffprobe plays the playlist; 2 s GOP segments from the one TS, PTS continuous, no discontinuity", async () => {
  const engine = await startEngine(
    dir,
    [httpToml(), channelToml(1, `{ type = "playlist", files = ["${a}", "${b}"] }`)].join("\n"),
  );
  const ts = await fetch(`${engine.base}/channel/1.ts`);
  const tsReader = ts.body!.getReader();
  const tsChunks: Uint8Array[] = [];
  let tsBytes = 0;
  try {
    const url = `${engine.base}/channel/1.m3u8`;
    const first = await fetch(url);
    assertEquals(first.status, 200);
    assertEquals(first.headers.get("content-type"), "application/vnd.apple.mpegurl");
    assertEquals(first.headers.get("cache-control"), "public, max-age=1");
    await first.body?.cancel();

    // Wait (by content, not time) until the window is full and has slid once.
    const playlist = await poll<MediaPlaylist>(async () => {
      const p = parsePlaylist(await (await fetch(url)).text());
      return p.segments.length >= 6 && p.mediaSequence >= 1 ? p : undefined;
    }, "a full window of six segments");
    assertEquals(playlist.segments.length, 6, "a sliding window of six");
    assert(!playlist.tags.includes("EXT-X-DISCONTINUITY"), "no discontinuity across files");
    assert(playlist.tags.includes("EXT-X-INDEPENDENT-SEGMENTS"));
    assertEquals(playlist.targetDuration, 2);
    for (const [i, s] of playlist.segments.entries()) {
      // keyint defaults to 2 s: 50 frames at 25 fps.
      assert(Math.abs(s.duration - 2) < 1e-6, `segment ${i}: EXTINF ${s.duration}`);
      assert(s.programDateTimeMs !== undefined && Number.isFinite(s.programDateTimeMs));
      if (i > 0) {
        const prev = playlist.segments[i - 1];
        assertEquals(
          Math.round(s.programDateTimeMs - prev.programDateTimeMs!),
          Math.round(prev.duration * 1000),
          "PROGRAM-DATE-TIME advances by each segment's duration",
        );
      }
    }

    // Each segment: PAT, PMT, IDR first; cached for a year, immutable; PTS continue.
    let lastPts: number | undefined;
    const segments: Uint8Array[] = [];
    for (const [i, s] of playlist.segments.entries()) {
      const res = await fetch(new URL(s.uri, url));
      assertEquals(res.status, 200, s.uri);
      assertEquals(res.headers.get("content-type"), "video/mp2t");
      assertEquals(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
      const bytes = await res.bytes();
      assertEquals(Number(res.headers.get("content-length")), bytes.length);
      const head = await fetch(new URL(s.uri, url), { method: "HEAD" });
      assertEquals(Number(head.headers.get("content-length")), bytes.length, "HEAD: the length");
      assertEquals((await head.bytes()).length, 0, "HEAD: no body");
      assertEquals(bytes.length % PACKET, 0);
      assertEquals(pidAt(bytes, 0), 0, `${s.uri}: PAT first`);
      const videoPacket = 2 * PACKET;
      assert(pusiAt(bytes, videoPacket) && randomAccessAt(bytes, videoPacket), `${s.uri}: IDR`);
      const path = `${dir}/seg${i}.ts`;
      await Deno.writeFile(path, bytes);
      const pts = await videoPts(path);
      assertEquals(pts.length, 50, `${s.uri}: one GOP of 50 frames`);
      const min = Math.min(...pts);
      if (lastPts !== undefined) assertEquals(min, lastPts + 3600, `${s.uri}: PTS continue`);
      lastPts = Math.max(...pts);
      segments.push(bytes);
    }

    // No second encoder: the newest segment's bytes (after its PAT and PMT) are in the TS.
    const newest = segments.at(-1)!.subarray(2 * PACKET);
    for (;;) {
      const { value, done } = await tsReader.read();
      assert(!done, "the TS stream ended");
      tsChunks.push(value);
      tsBytes += value.length;
      const all = new Uint8Array(tsBytes);
      let at = 0;
      for (const c of tsChunks) {
        all.set(c, at);
        at += c.length;
      }
      const head = indexOfBytes(all, newest.subarray(0, 4 * PACKET));
      if (head >= 0 && all.length - head >= newest.length) {
        assertEquals(indexOfBytes(all, newest), head, "the whole segment is in the channel's TS");
        break;
      }
      assert(tsBytes < 64 * 1024 * 1024, "segment bytes never showed up in the TS");
    }

    // ffprobe and ffmpeg play the playlist itself.
    const probe = await ffprobeUrl(url, ["-show_entries", "stream=codec_name,codec_type"]);
    const streams = (probe.streams as { codec_type: string; codec_name: string }[])
      .map((s) => `${s.codec_type}:${s.codec_name}`).sort();
    assertEquals([...new Set(streams)], ["audio:aac", "video:h264"]);
    const decode = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", url, "-t", "4", "-map", "0:v:0", "-f", "framemd5", "-"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(decode.success, new TextDecoder().decode(decode.stderr));
    const frames = new TextDecoder().decode(decode.stdout).split("\n")
      .filter((l) => /^\d+,/.test(l)).length;
    assert(frames >= 99, `ffmpeg decoded ${frames} frames of 4 s at 25 fps`);

    // Gone segments and unknown channels are 404; HEAD answers without a body.
    assertEquals((await fetch(`${engine.base}/channel/1/zz-0.ts`)).status, 404);
    const unknown = await fetch(`${engine.base}/channel/9.m3u8`);
    assertEquals(unknown.status, 404);
    await unknown.body?.cancel();
    const head = await fetch(url, { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals((await head.text()).length, 0);
  } finally {
    await tsReader.cancel();
    await engine.handle.stop();
  }
});

Deno.test("hls: segment_gops and window from the config", async () => {
  const engine = await startEngine(
    dir,
    [
      httpToml(),
      "[hls]\nsegment_gops = 2\nwindow = 7",
      channelToml(2),
      "keyint = 25",
    ].join("\n"),
  );
  try {
    const url = `${engine.base}/channel/2.m3u8`;
    const playlist = await poll<MediaPlaylist>(async () => {
      const p = parsePlaylist(await (await fetch(url)).text());
      return p.mediaSequence >= 1 ? p : undefined;
    }, "the window sliding");
    assertEquals(playlist.segments.length, 7);
    for (const s of playlist.segments) {
      assert(Math.abs(s.duration - 2) < 1e-6, `two 1 s GOPs per segment: ${s.duration}`);
      const path = `${dir}/g.ts`;
      await Deno.writeFile(path, await (await fetch(new URL(s.uri, url))).bytes());
      const json = await ffprobeUrl(path, [
        ...["-select_streams", "v:0", "-show_entries", "packet=flags", "-show_packets"],
      ]);
      const keys = (json.packets as { flags: string }[]).filter((p) => p.flags.startsWith("K"));
      assertEquals(keys.length, 2, `${s.uri}: two keyframes`);
    }
  } finally {
    await engine.handle.stop();
  }
});
