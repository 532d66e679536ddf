/**
 * The programme guide: XMLTV from the engine's exact schedule, parsed by a real XML parser
 * (Python's xml.etree), matched against the M3U and the HDHomeRun lineup; block plans turned
 * into programmes per content segment.
 */

import { assert, assertEquals } from "./assert.ts";
import { ffmpegCli, ffprobe } from "./fixtures.ts";
import { TEST_FORMAT } from "./manager_fixtures.ts";
import { block, segment } from "./plan_builders.ts";
import { parseConfigText } from "../src/config/mod.ts";
import { startPlayout } from "../src/playout.ts";
import { Logger } from "../src/log/log.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { programmesFrom } from "../src/outputs/xmltv.ts";

const TITLE_A = 'Show A & <Friends> "Live"';
const dir = await Deno.makeTempDir({ prefix: "egress_guide_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** A cheap H.264 + AAC file of `seconds` (flat colour, 5 fps), with a `title` tag when given. */
async function clip(name: string, seconds: number, title?: string): Promise<string> {
  const path = `${dir}/${name}`;
  await ffmpegCli([
    ...["-v", "error", "-y", "-f", "lavfi", "-i", `color=c=navy:size=64x36:rate=5:d=${seconds}`],
    ...["-f", "lavfi", "-i", `anullsrc=r=8000:cl=mono:d=${seconds}`],
    ...(title === undefined ? [] : ["-metadata", `title=${title}`]),
    ...["-c:v", "libx264", "-preset", "ultrafast", "-g", "50"],
    ...["-c:a", "aac", "-b:a", "16k", "-shortest", path],
  ]);
  return path;
}

const showA = await clip("show_a.mkv", 600, TITLE_A);
const commercialB = await clip("commercial_b.mp4", 300);
const lengths = {
  a: Number(((await ffprobe(showA, ["-show_format"])).format as { duration: string }).duration),
  b: Number(
    ((await ffprobe(commercialB, ["-show_format"])).format as { duration: string }).duration,
  ),
};

interface ParsedXmltv {
  channels: { id: string; names: string[]; icon: string | null }[];
  programmes: { channel: string; start: string; stop: string; title: string }[];
}

/** Parses XMLTV with Python's xml.etree (a real XML parser, not ours). */
async function parseXml(xml: string): Promise<ParsedXmltv> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "tv", root.tag
out = {"channels": [], "programmes": []}
for c in root.findall("channel"):
    icon = c.find("icon")
    out["channels"].append({"id": c.get("id"), "names": [d.text for d in c.findall("display-name")],
                            "icon": icon.get("src") if icon is not None else None})
for p in root.findall("programme"):
    out["programmes"].append({"channel": p.get("channel"), "start": p.get("start"),
                              "stop": p.get("stop"), "title": p.find("title").text})
print(json.dumps(out))
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(xml));
  await writer.close();
  const out = await child.output();
  assert(out.success, `XML parser failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** `20261201203000 +0000` → UTC ms; the offset must be +0000. */
function xmltvMs(text: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d) \+0000$/.exec(text);
  assert(m !== null, `not an XMLTV UTC time: ${text}`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

Deno.test("guide: XMLTV ids match the M3U and lineup; programmes cover now to 24 h from the schedule", async () => {
  const toml = [
    `state_dir = "${dir}/state"`,
    `[grpc]\nunix_socket = "${dir}/playout.sock"`,
    `[http]\nbind = "127.0.0.1"\nport = 0`,
    `[metrics]\nenabled = false`,
    `[[channels]]\nid = 1\nname = "Loop"\nlogo = "https://img.example/loop.png"`,
    `source = { type = "playlist", files = ["${showA}", "${commercialB}"] }`,
    `frame_sink = { enabled = false }`,
    `[channels.format]\nwidth = 160\nheight = 90\nframe_rate = "25"`,
    `[channels.video]\npreset = "ultrafast"`,
    `[[channels]]\nid = 2\nname = "Pattern & Co"\nnumber = "7.1"\nframe_sink = { enabled = false }`,
    `[channels.format]\nwidth = 160\nheight = 90\nframe_rate = "25"`,
    `[channels.video]\npreset = "ultrafast"`,
    `[[channels]]\nid = 3\nname = "Core <driven>"\nsource = { type = "none" }`,
    `frame_sink = { enabled = false }`,
  ].join("\n");
  const config = await parseConfigText(toml, { source: "test", baseDir: dir });
  const logs: Record<string, unknown>[] = [];
  const handle = await startPlayout(
    config,
    new Logger({ level: "info", write: (l) => logs.push(JSON.parse(l)) }),
  );
  try {
    const listening = logs.find((l) => l.event === "http_egress_listening")!;
    const base = `http://127.0.0.1:${listening.port}`;
    const m3u = await (await fetch(`${base}/channels.m3u`)).text();
    const tvgUrl = /^#EXTM3U url-tvg="([^"]+)"/.exec(m3u)?.[1];
    assertEquals(tvgUrl, `${base}/xmltv.xml`);
    const tvgIds = [...m3u.matchAll(/tvg-id="([^"]+)"/g)].map((m) => m[1]);
    const discover = await (await fetch(`${base}/discover.json`)).json();
    const lineup: { GuideNumber: string }[] = await (await fetch(`${base}/lineup.json`)).json();

    const before = Date.now();
    const res = await fetch(tvgUrl!);
    assertEquals(res.headers.get("content-type"), "application/xml; charset=utf-8");
    const raw = await res.text();
    const xml = await parseXml(raw);

    // One id per channel, the M3U's tvg-id, derived from the lineup number and the DeviceID.
    const ids = xml.channels.map((c) => c.id);
    assertEquals(ids, tvgIds);
    assertEquals(
      ids,
      lineup.map((l) => `${l.GuideNumber}.${String(discover.DeviceID).toLowerCase()}`),
    );
    assertEquals(new Set(ids).size, 3);
    assertEquals(xml.channels[1].names, ["7.1 Pattern & Co", "7.1", "Pattern & Co"]);
    assertEquals(xml.channels[0].icon, "https://img.example/loop.png");
    assert(raw.includes("Pattern &amp; Co") && raw.includes("Core &lt;driven&gt;"), "escaped");

    for (const id of ids) {
      const list = xml.programmes.filter((p) => p.channel === id);
      assert(list.length > 0, `programmes of ${id}`);
      const first = xmltvMs(list[0].start);
      assert(first <= before, `${id} starts at ${list[0].start}, after now`);
      assert(xmltvMs(list[0].stop) > before - 1000, `${id}: first programme is on now`);
      for (let i = 1; i < list.length; i++) {
        assertEquals(list[i].start, list[i - 1].stop, `${id}: contiguous at ${i}`);
      }
      const last = xmltvMs(list.at(-1)!.stop);
      assert(last >= before + 24 * 3_600_000 - 1000, `${id} ends at ${list.at(-1)!.stop}`);
    }

    // The playlist channel: its files in order, each as long as the file (exact seconds).
    const loop = xml.programmes.filter((p) => p.channel === ids[0]);
    const expected = [TITLE_A, "commercial_b"];
    const start = loop.findIndex((p) => p.title === TITLE_A);
    assert(start >= 0 && start <= 1, `first ${TITLE_A} at ${start}`);
    for (let i = start; i < loop.length - 1; i++) {
      const p = loop[i];
      assertEquals(p.title, expected[(i - start) % 2], `programme ${i}`);
      // XMLTV has whole seconds: each length is the file's, to within that rounding.
      const seconds = (xmltvMs(p.stop) - xmltvMs(p.start)) / 1000;
      const want = p.title === TITLE_A ? lengths.a : lengths.b;
      assert(Math.abs(seconds - want) <= 1, `programme ${i}: ${seconds} s, file ${want} s`);
    }
    // The test pattern and the stopped channel: the channel's name, in whole hours.
    for (const [index, name] of [[1, "Pattern & Co"], [2, "Core <driven>"]] as const) {
      const list = xml.programmes.filter((p) => p.channel === ids[index]);
      assert(list.every((p) => p.title === name), `${name}: titles`);
      for (const p of list.slice(1)) assertEquals(xmltvMs(p.start) % 3_600_000, 0, p.start);
    }

    // The status page's "on now" is the guide's programme at the time of the request.
    const t0 = Date.now();
    const status = await (await fetch(`${base}/status.json`)).json();
    const page = await (await fetch(`${base}/`)).text();
    const t1 = Date.now();
    const onNow = loop.filter((p) =>
      xmltvMs(p.start) <= t1 + 1000 && t0 - 1000 < xmltvMs(p.stop) + 1000
    ).map((p) => p.title);
    assert(onNow.includes(status.channels[0].nowTitle), `${status.channels[0].nowTitle}`);
    assertEquals(status.channels[1].nowTitle, "Pattern & Co");
    const escaped = (t: string) =>
      t.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
        .replaceAll('"', "&quot;");
    assert(
      onNow.some((t) => page.includes(`<td class="now">${escaped(t)}</td>`)),
      "the status page shows what is on now",
    );
  } finally {
    await handle.stop();
  }
});

Deno.test("guide: a block plan gives one programme per content segment; filler and pad stay in it", () => {
  const epoch = Date.UTC(2026, 0, 1, 10, 0, 0);
  const spec: ChannelSpec = {
    id: 5,
    name: "Core",
    format: TEST_FORMAT,
    video: { codec: "libx264", preset: "ultrafast", crf: 30, keyintFrames: 50 },
    audio: { codec: "aac", bitrateKbps: 96 },
    source: { kind: "none" },
  };
  const runner = new ChannelRunner(
    { spec, time: new VirtualTimeSource(epoch), epochUtcMs: epoch, encode: false },
    { ts: () => {}, frame: () => {}, blockEvent: () => {}, log: () => {} },
  );
  try {
    const filler = (i: number, uri: string, ms: number) => ({
      ...segment(i, uri, ms),
      type: "filler" as const,
    });
    const t1 = epoch + 2000;
    const b1 = block("b1", t1, [
      segment(0, `file://${showA}`, 4000),
      filler(1, commercialB, 3000),
      segment(2, showA, 4000, 4000),
      segment(3, "", 1000),
    ], 5);
    const b2 = block("b2", b1.endUtcMs, [segment(0, commercialB, 3000)], 5);
    const b3 = block("b3", b2.endUtcMs, [
      segment(0, showA, 2000),
      segment(1, commercialB, 2000),
    ], 5);
    runner.startBlockSession([b1, b2, b3], t1);
    const to = epoch + 24 * 3_600_000;
    const slots = runner.guide(epoch, to);
    const programmes = programmesFrom(
      { id: 5, number: "5", name: "Core" },
      slots,
      epoch,
      to,
    ).map((p) => [p.title, p.startUtcMs - epoch, p.endUtcMs - epoch]);
    const hours = Array.from(
      { length: 23 },
      (_, h) => ["Core", (h + 1) * 3_600_000, (h + 2) * 3_600_000],
    );
    assertEquals(programmes, [
      ["Core", 0, 2000],
      [TITLE_A, 2000, 14000],
      ["commercial_b", 14000, 17000],
      [TITLE_A, 17000, 19000],
      ["commercial_b", 19000, 21000],
      ["Core", 21000, 3_600_000],
      ...hours,
    ]);
  } finally {
    runner.stop();
  }
});
