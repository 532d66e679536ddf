import { assert, assertEquals } from "./assert.ts";
import {
  concatBytes,
  feedLive,
  keyframeOffsets,
  makeTs,
  PACKET,
  pidAt,
  pusiAt,
  randomAccessAt,
  runWithInput,
  sameBytes,
  until,
} from "./egress_fixtures.ts";
import {
  type EgressChannels,
  type HttpEgress,
  type HttpEgressOptions,
  PublicUrlError,
  serveHttpEgress,
} from "../src/outputs/http_egress.ts";
import { TsFanout, type TsViewer } from "../src/outputs/ts_fanout.ts";
import { analyzeTs } from "../media/ts_analyzer.ts";
import { Logger } from "../src/log/log.ts";

const dir = await Deno.makeTempDir({ prefix: "egress_http_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const source = await makeTs(dir, { seconds: 3, gop: 15 });
const program = analyzeTs(source.bytes).programs[0];
const videoPid = program.pcrPid!;

interface Setup {
  egress: HttpEgress;
  fanouts: Map<number, TsFanout>;
  logs: Record<string, unknown>[];
  base: string;
}

async function withEgress(
  fn: (s: Setup) => Promise<void>,
  fanoutOpts: { maxQueueBytes?: number } = {},
  egressOpts: Partial<HttpEgressOptions> = {},
): Promise<void> {
  const logs: Record<string, unknown>[] = [];
  const log = new Logger({ write: (line) => logs.push(JSON.parse(line)) });
  const fanouts = new Map([
    [1, new TsFanout({ channelId: 1, log, ...fanoutOpts })],
    [2, new TsFanout({ channelId: 2, log, ...fanoutOpts })],
  ]);
  const names = new Map([[1, "One"], [2, 'Two "Quoted"']]);
  const channels: EgressChannels = {
    list: () => [...fanouts.keys()].map((id) => ({ id, name: names.get(id)! })),
    fanout: (id) => fanouts.get(id),
  };
  const egress = serveHttpEgress({ channels, hostname: "127.0.0.1", port: 0, log, ...egressOpts });
  try {
    await fn({ egress, fanouts, logs, base: `http://127.0.0.1:${egress.port}` });
  } finally {
    for (const f of fanouts.values()) f.close();
    await egress.close();
  }
}

/** Checks PAT, PMT, IDR at the start and returns the source offset the body continues from. */
function joinOffset(got: Uint8Array, stream: Uint8Array): number {
  assertEquals(pidAt(got, 0), 0, "first packet is the PAT");
  assertEquals(pidAt(got, PACKET), program.pmtPid, "second packet is the PMT");
  assertEquals(pidAt(got, 2 * PACKET), videoPid);
  assert(pusiAt(got, 2 * PACKET) && randomAccessAt(got, 2 * PACKET), "third packet is an IDR");
  const body = got.subarray(2 * PACKET);
  const k = stream.length - body.length;
  assert(keyframeOffsets(stream, videoPid).includes(k), `join at ${k} is not a keyframe`);
  assert(sameBytes(body, stream.subarray(k)), "body differs from the pushed stream");
  return k;
}

/** Sends a raw HTTP/1.1 request and returns the whole response text (server closes). */
async function rawRequest(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    parts.push(buf.slice(0, n));
  }
  conn.close();
  return new TextDecoder().decode(concatBytes(parts));
}

Deno.test("http: 50 concurrent viewers get identical bytes from their join point", async () => {
  await withEgress(async ({ fanouts, base, logs }) => {
    const fanout = fanouts.get(1)!;
    const bodies: Promise<{ headers: Headers; bytes: Uint8Array }>[] = [];
    const joinAt = new Set([5, 25, 45, 65, 85]);
    await feedLive(fanout, source.bytes, {
      beforePush: async (n) => {
        if (!joinAt.has(n)) return;
        const before = fanout.viewerCount;
        for (let i = 0; i < 10; i++) {
          bodies.push(
            fetch(`${base}/channel/1.ts`).then(async (res) => ({
              headers: res.headers,
              bytes: await res.bytes(),
            })),
          );
        }
        await until(() => fanout.viewerCount === before + 10, "10 more viewers");
      },
    });
    assertEquals(fanout.viewerCount, 50);
    fanout.close();
    const results = await Promise.all(bodies);
    const byJoin = new Map<number, Uint8Array[]>();
    for (const r of results) {
      assertEquals(r.headers.get("content-type"), "video/mp2t");
      assert(r.headers.get("cache-control")!.includes("no-cache"), "no-cache");
      assertEquals(r.headers.get("content-length"), null);
      const k = joinOffset(r.bytes, source.bytes);
      byJoin.set(k, [...(byJoin.get(k) ?? []), r.bytes]);
    }
    assert(byJoin.size >= 3, `join points ${[...byJoin.keys()]}`);
    for (const group of byJoin.values()) {
      for (const b of group) assert(sameBytes(b, group[0]), "same join point, same bytes");
    }
    assertEquals(fanout.viewersDropped, 0);
    assertEquals(fanout.bytesOut, results.reduce((n, r) => n + r.bytes.length, 0));
    await until(
      () => logs.filter((l) => l.event === "viewer_disconnected").length === 50,
      "disconnect logs",
    );
    const connected = logs.filter((l) => l.event === "viewer_connected");
    assertEquals(connected.length, 50);
    assert(connected.every((l) => l.channel === 1 && /^127\.0\.0\.1:\d+$/.test(`${l.remote}`)));
    const sent = logs.filter((l) => l.event === "viewer_disconnected").map((l) => l.bytes as number)
      .sort((a, b) => a - b);
    assertEquals(sent, results.map((r) => r.bytes.length).sort((a, b) => a - b));
  });
});

Deno.test("http: a viewer that stops reading is dropped; the others receive everything", async () => {
  await withEgress(async ({ egress, fanouts, logs, base }) => {
    const fanout = fanouts.get(1)!;
    const viewers: TsViewer[] = [];
    fanout.onViewer((e) => {
      if (e.type === "connect") viewers.push(e.viewer);
    });
    const start = source.bytes.slice(0, 300 * PACKET);
    fanout.push(start);
    // The stalled client reads the response head, then nothing: kernel buffers fill, then the
    // viewer's 256 KiB queue. Closed in `finally` so that a failure cannot hang the server.
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port: egress.port });
    try {
      await stalled.write(
        new TextEncoder().encode("GET /channel/1.ts HTTP/1.1\r\nHost: x\r\n\r\n"),
      );
      assert((await stalled.read(new Uint8Array(1024)))! > 0);
      await until(() => viewers.length === 1, "stalled viewer");
      const healthy = [0, 1, 2].map(() => fetch(`${base}/channel/1.ts`).then((r) => r.bytes()));
      await until(() => viewers.length === 4, "healthy viewers");
      // The live channel: 64 KiB pushes, 16 MiB in all, as fast as the healthy viewers read.
      const loops = 45;
      await feedLive(fanout, source.bytes, {
        loops,
        packetsPerPush: [348],
        intervalMs: 0,
        beforePush: () =>
          until(
            () => viewers.slice(1).every((v) => v.bytesQueued < 512 * 1024),
            "healthy viewers to read",
          ),
      });
      assertEquals(viewers[0].endReason, "overflow");
      assertEquals(fanout.viewersDropped, 1);
      assertEquals(fanout.viewerCount, 3);
      fanout.close();
      const full = concatBytes([start, ...Array(loops).fill(source.bytes)]);
      const got = await Promise.all(healthy);
      for (const b of got) joinOffset(b, full);
      assert(got.every((b) => sameBytes(b, got[0])), "healthy viewers got the same bytes");
      // The dropped client's connection is closed once what was in flight is read.
      const buf = new Uint8Array(65536);
      let received = 0;
      try {
        for (let n = await stalled.read(buf); n !== null; n = await stalled.read(buf)) {
          received += n;
        }
      } catch (err) {
        if (!(err instanceof Deno.errors.ConnectionReset)) throw err;
      }
      assert(received > 0, "the stalled client had received some bytes");
    } finally {
      stalled.close();
    }
    const dropLog = logs.find((l) => l.event === "viewer_disconnected" && l.reason === "overflow");
    assert(dropLog !== undefined, "overflow disconnect logged");
    assert(logs.some((l) => l.event === "viewer_dropped" && l.channel === 1), "drop warning");
  }, { maxQueueBytes: 256 * 1024 });
});

Deno.test("http: a fresh viewer's first 1 MB decodes at once (PAT, PMT, IDR first)", async () => {
  await withEgress(async ({ fanouts, base }) => {
    const fanout = fanouts.get(2)!;
    const keyframes = keyframeOffsets(source.bytes, videoPid);
    // Mid-GOP: the viewer must be served from the GOP cache.
    fanout.push(source.bytes.slice(0, keyframes[2] + 30 * PACKET));
    const res = await fetch(`${base}/channel/2.ts`);
    const reader = res.body!.getReader();
    const feeding = feedLive(fanout, source.bytes.subarray(keyframes[2] + 30 * PACKET), {
      packetsPerPush: [50],
    }).then(() => feedLive(fanout, source.bytes, { loops: 3, packetsPerPush: [50] }));
    const parts: Uint8Array[] = [];
    let n = 0;
    while (n < 1024 * 1024) {
      const { done, value } = await reader.read();
      assert(!done, "stream ended early");
      parts.push(value);
      n += value.length;
    }
    await reader.cancel();
    await feeding;
    const first = concatBytes(parts).subarray(0, 1024 * 1024);
    assertEquals(pidAt(first, 0), 0);
    assertEquals(pidAt(first, PACKET), program.pmtPid);
    assert(randomAccessAt(first, 2 * PACKET) && pidAt(first, 2 * PACKET) === videoPid);
    assert(
      sameBytes(
        first.subarray(2 * PACKET, 2 * PACKET + 1000),
        source.bytes.subarray(keyframes[2], keyframes[2] + 1000),
      ),
      "starts at the cached keyframe",
    );
    const decode = await runWithInput("ffmpeg", [
      ...["-v", "error", "-f", "mpegts", "-i", "-", "-frames:v", "1", "-f", "null", "-"],
    ], first.subarray(0, Math.floor(first.length / PACKET) * PACKET));
    assert(decode.success && decode.stderr.trim() === "", `ffmpeg: ${decode.stderr}`);
    const probe = await runWithInput("ffprobe", [
      ...["-v", "error", "-of", "json", "-show_frames", "-select_streams", "v"],
      ...["-read_intervals", "%+#1", "-show_entries", "frame=key_frame,pict_type", "-i", "-"],
    ], first);
    assert(probe.success, probe.stderr);
    const frames = JSON.parse(probe.stdout).frames as { key_frame: number; pict_type: string }[];
    assertEquals(frames[0], { key_frame: 1, pict_type: "I" });
  });
});

Deno.test("http: 404, 405 with Allow, HEAD without body or viewer", async () => {
  await withEgress(async ({ fanouts, base }) => {
    for (const path of ["/channel/9.ts", "/channel/abc.ts", "/nope", "/channel/1.mp4"]) {
      const res = await fetch(base + path);
      assertEquals(res.status, 404, path);
      assertEquals(res.headers.get("content-type"), "application/json; charset=utf-8");
      const body = await res.json();
      assertEquals(Object.keys(body), ["error"]);
      assert(typeof body.error === "string" && body.error.length > 0);
    }
    for (const [method, path] of [["POST", "/channel/1.ts"], ["DELETE", "/channels.m3u"]]) {
      const res = await fetch(base + path, { method });
      assertEquals(res.status, 405, `${method} ${path}`);
      assertEquals(res.headers.get("allow"), "GET, HEAD");
      assertEquals(Object.keys(await res.json()), ["error"]);
    }
    const head = await fetch(`${base}/channel/1.ts`, { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(head.headers.get("content-type"), "video/mp2t");
    assertEquals((await head.bytes()).length, 0);
    assertEquals(fanouts.get(1)!.viewersTotal, 0, "HEAD subscribes no viewer");
    const lineupHead = await fetch(`${base}/lineup.json`, { method: "HEAD" });
    assertEquals(lineupHead.status, 200);
    assertEquals((await lineupHead.bytes()).length, 0);
    fanouts.get(2)!.close();
    const stopped = await fetch(`${base}/channel/2.ts`);
    assertEquals(stopped.status, 503);
    assertEquals(Object.keys(await stopped.json()), ["error"]);
  });
});

Deno.test("http: M3U and HDHomeRun endpoints use the Host header and plain stream URLs", async () => {
  await withEgress(
    async ({ egress, base }) => {
      const m3u = await rawRequest(
        egress.port,
        "GET /channels.m3u HTTP/1.1\r\nHost: tuner.example:8080\r\nConnection: close\r\n\r\n",
      );
      assert(m3u.startsWith("HTTP/1.1 200"), m3u);
      assert(/content-type: audio\/x-mpegurl/i.test(m3u));
      const body = m3u.slice(m3u.indexOf("\r\n\r\n") + 4);
      const guide = "http://tuner.example:8080/xmltv.xml";
      assertEquals(
        body,
        [
          `#EXTM3U url-tvg="${guide}" x-tvg-url="${guide}"`,
          '#EXTINF:-1 tvg-id="1.5256545a" tvg-chno="1" tvg-name="One",One',
          "http://tuner.example:8080/channel/1.ts",
          `#EXTINF:-1 tvg-id="2.5256545a" tvg-chno="2" tvg-name="Two 'Quoted'",Two "Quoted"`,
          "http://tuner.example:8080/channel/2.ts",
          "",
        ].join("\n"),
      );

      const discover = await (await fetch(`${base}/discover.json`)).json();
      assertEquals(discover.BaseURL, base);
      assertEquals(discover.LineupURL, `${base}/lineup.json`);
      assertEquals(discover.TunerCount, 4, "at least 4 tuners by default");
      assertEquals(discover.DeviceID, "5256545A");
      // Jellyfin offers ?transcode= profiles only for models whose number contains "hdtc".
      assert(!/hdtc/i.test(discover.ModelNumber), discover.ModelNumber);
      for (const key of ["FriendlyName", "ModelNumber", "FirmwareName", "DeviceAuth"]) {
        assert(typeof discover[key] === "string" && discover[key] !== "", key);
      }
      const lineup = await (await fetch(`${base}/lineup.json`)).json();
      assertEquals(lineup, [
        {
          GuideNumber: "1",
          GuideName: "One",
          VideoCodec: "H264",
          AudioCodec: "AAC",
          HD: 1,
          URL: `${base}/channel/1.ts`,
        },
        {
          GuideNumber: "2",
          GuideName: 'Two "Quoted"',
          VideoCodec: "H264",
          AudioCodec: "AAC",
          HD: 1,
          URL: `${base}/channel/2.ts`,
        },
      ]);
      const status = await (await fetch(`${base}/lineup_status.json`)).json();
      assertEquals(status, {
        ScanInProgress: 0,
        ScanPossible: 1,
        Source: "Cable",
        SourceList: ["Cable"],
      });
      const xml = await (await fetch(`${base}/device.xml`)).text();
      assert(xml.includes(`<URLBase>${base}</URLBase>`), xml);
      assert(xml.includes(`<UDN>uuid:${discover.DeviceID}</UDN>`), xml);
      const post = await fetch(`${base}/lineup.post?scan=start`, { method: "POST" });
      assertEquals(post.status, 200);
      await post.body?.cancel();
    },
    {},
    { deviceId: "5256545a" },
  );
});

Deno.test("http: identity, tuner count, codecs, logo, group and the public URL come from the options", async () => {
  const fanout = new TsFanout();
  const channels: EgressChannels = {
    list: () => [{
      id: 9,
      name: "Movies",
      number: "5.1",
      logo: "https://img.example/m.png",
      group: "Retro",
      videoCodec: "mpeg2video",
      audioCodec: "mp2",
      height: 480,
    }],
    fanout: (id) => id === 9 ? fanout : undefined,
  };
  const egress = serveHttpEgress({
    channels,
    hostname: "127.0.0.1",
    port: 0,
    deviceId: "0badf00d",
    deviceName: "Den",
    tunerCount: 2,
    publicUrl: "https://tv.example.com/retrovue/",
  });
  const base = `http://127.0.0.1:${egress.port}`;
  const pub = "https://tv.example.com/retrovue";
  try {
    // Served with and without the prefix (a proxy may strip it or not).
    for (const path of ["/discover.json", "/retrovue/discover.json"]) {
      const d = await (await fetch(base + path)).json();
      assertEquals(
        [d.FriendlyName, d.DeviceID, d.TunerCount, d.BaseURL, d.LineupURL],
        ["Den", "0BADF00D", 2, pub, `${pub}/lineup.json`],
      );
    }
    const lineup = await (await fetch(`${base}/lineup.json`)).json();
    assertEquals(lineup, [{
      GuideNumber: "5.1",
      GuideName: "Movies",
      VideoCodec: "MPEG2",
      AudioCodec: "MP2",
      HD: 0,
      URL: `${pub}/channel/9.ts`,
    }]);
    const m3u = await (await fetch(`${base}/channels.m3u`)).text();
    assertEquals(m3u.split("\n"), [
      `#EXTM3U url-tvg="${pub}/xmltv.xml" x-tvg-url="${pub}/xmltv.xml"`,
      '#EXTINF:-1 tvg-id="5.1.0badf00d" tvg-chno="5.1" tvg-name="Movies" ' +
      'tvg-logo="https://img.example/m.png" group-title="Retro",Movies',
      `${pub}/channel/9.ts`,
      "",
    ]);
    // Jellyfin's profile variants get the one stream: the same fan-out, one viewer each.
    const variant = await fetch(`${base}/channel/9.ts?transcode=mobile`);
    assertEquals(variant.status, 200);
    assertEquals(variant.headers.get("content-type"), "video/mp2t");
    await until(() => fanout.viewerCount === 1, "the variant is a viewer of the channel");
    await variant.body?.cancel();
  } finally {
    fanout.close();
    await egress.close();
  }
});

Deno.test("http: a path-only public URL keeps the request's host and X-Forwarded-Proto", async () => {
  await withEgress(
    async ({ egress }) => {
      const res = await rawRequest(
        egress.port,
        "GET /tv/lineup.json HTTP/1.1\r\nHost: proxy.example\r\nX-Forwarded-Proto: https\r\n" +
          "Connection: close\r\n\r\n",
      );
      const lineup = JSON.parse(res.slice(res.indexOf("\r\n\r\n") + 4));
      assertEquals(lineup[0].URL, "https://proxy.example/tv/channel/1.ts");
    },
    {},
    { publicUrl: "/tv" },
  );
});

Deno.test("http: a malformed public URL is refused naming it", () => {
  let error: unknown;
  try {
    serveHttpEgress({ channels: { list: () => [], fanout: () => undefined }, publicUrl: "tv" });
  } catch (e) {
    error = e;
  }
  assert(error instanceof PublicUrlError, String(error));
  assertEquals((error as PublicUrlError).value, "tv");
});

Deno.test("http: close() ends live streams and stops the server", async () => {
  const fanout = new TsFanout();
  fanout.push(source.bytes.slice());
  const egress = serveHttpEgress({
    channels: { list: () => [{ id: 1, name: "One" }], fanout: () => fanout },
    hostname: "127.0.0.1",
    port: 0,
  });
  const res = await fetch(`http://127.0.0.1:${egress.port}/channel/1.ts`);
  const body = res.bytes();
  await until(() => egress.viewerCount === 1 && fanout.bytesOut > 0, "viewer reading");
  await egress.close();
  const got = await body;
  assertEquals(got[0], 0x47);
  assertEquals(fanout.viewerCount, 0);
  const refused = await fetch(`http://127.0.0.1:${egress.port}/channels.m3u`).then(
    () => false,
    (err) => err instanceof TypeError,
  );
  assert(refused, "server still answers after close");
  fanout.close();
});

Deno.test("http: close() returns after its grace even when a dropped client never reads", async () => {
  const logs: Record<string, unknown>[] = [];
  const log = new Logger({ write: (line) => logs.push(JSON.parse(line)) });
  const fanout = new TsFanout({ maxQueueBytes: 64 * 1024 });
  const egress = serveHttpEgress({
    channels: { list: () => [{ id: 1, name: "One" }], fanout: () => fanout },
    hostname: "127.0.0.1",
    port: 0,
    log,
    shutdownGraceMs: 200,
  });
  fanout.push(source.bytes.slice());
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port: egress.port });
  try {
    await stalled.write(new TextEncoder().encode("GET /channel/1.ts HTTP/1.1\r\nHost: x\r\n\r\n"));
    await until(() => fanout.viewersTotal === 1, "viewer");
    // Small pushes: the viewer overflows only once the socket's buffers are full.
    for (let o = 0; fanout.viewersDropped === 0; o = (o + 64 * PACKET) % source.bytes.length) {
      fanout.push(source.bytes.slice(o, o + 64 * PACKET));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert(fanout.bytesOut > 1024 * 1024, `only ${fanout.bytesOut} bytes reached the socket`);
    await egress.close();
    assert(logs.some((l) => l.event === "http_egress_shutdown_timeout"), "grace expiry logged");
  } finally {
    stalled.close();
    fanout.close();
  }
});
