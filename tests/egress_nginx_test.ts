/**
 * packaging/nginx/retrovue-playout.conf in a real nginx (a child process with its own prefix
 * and a loopback port, no system service) in front of the engine, as shipped
 * (`proxy_buffering off` for live TS) and with `proxy_buffering on`: the live TS arrives
 * chunked and decodes from PAT/PMT/IDR, ffprobe plays the HLS through it, segments are cached,
 * and every URL the engine hands out points at nginx's /retrovue prefix.
 */

import { assert, assertEquals } from "./assert.ts";
import { concatBytes, PACKET, pidAt, pusiAt, randomAccessAt } from "./egress_fixtures.ts";
import { freePort } from "./core_managed_fixtures.ts";
import {
  channelToml,
  ffprobeUrl,
  httpToml,
  type MediaPlaylist,
  parsePlaylist,
  poll,
  startEngine,
} from "./viewer_fixtures.ts";

const EXAMPLE = new URL("../packaging/nginx/retrovue-playout.conf", import.meta.url).pathname;

/** Replaces `from` (which must occur) in `text`. */
function substitute(text: string, from: string, to: string): string {
  assert(text.includes(from), `the example no longer has ${JSON.stringify(from)}`);
  return text.replaceAll(from, to);
}

/** Runs nginx with the example pointed at `upstreamPort`; resolves once it accepts. */
async function startNginx(dir: string, upstreamPort: number, buffering: boolean) {
  const port = freePort();
  let site = await Deno.readTextFile(EXAMPLE);
  site = substitute(site, "listen 80;", `listen 127.0.0.1:${port};`);
  site = substitute(site, "server 127.0.0.1:8080;", `server 127.0.0.1:${upstreamPort};`);
  site = substitute(site, "/var/cache/nginx/retrovue", `${dir}/cache`);
  if (buffering) site = substitute(site, "proxy_buffering off;", "proxy_buffering on;");
  await Deno.mkdir(`${dir}/tmp`, { recursive: true });
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  await Deno.writeTextFile(`${dir}/site.conf`, site);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`).join("\n");
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    [
      Deno.uid() === 0 ? "user root;" : "",
      "daemon off;",
      "worker_processes 1;",
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/logs/error.log info;`,
      "events { worker_connections 256; }",
      "http {",
      `  access_log ${dir}/logs/access.log;`,
      temp,
      `  include ${dir}/site.conf;`,
      "}",
    ].join("\n"),
  );
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let errors = "";
  (async () => {
    for (let r = await stderr.read(); !r.done; r = await stderr.read()) errors += r.value;
  })();
  await poll(
    async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return undefined;
      }
    },
    `nginx on ${port} (${errors})`,
    20_000,
    50,
  );
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      try {
        child.kill("SIGQUIT");
      } catch {
        // already gone
      }
      await child.status;
    },
  };
}

/** A raw HTTP/1.1 GET: the response head, then body bytes until `bodyBytes` arrived. */
async function rawGet(port: number, path: string, bodyBytes: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`),
  );
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(65536);
  let headEnd = -1;
  while (headEnd < 0 || total - headEnd < bodyBytes) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
    total += n;
    if (headEnd < 0) {
      const all = concatBytes(parts);
      const i = new TextDecoder("latin1").decode(all).indexOf("\r\n\r\n");
      if (i >= 0) headEnd = i + 4;
    }
  }
  conn.close();
  const all = concatBytes(parts);
  return { head: new TextDecoder().decode(all.subarray(0, headEnd)), body: all.subarray(headEnd) };
}

/** Decodes an HTTP/1.1 chunked body (complete chunks only). */
function dechunk(body: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  let o = 0;
  for (;;) {
    const lineEnd = body.indexOf(0x0a, o);
    if (lineEnd < 0) break;
    const size = parseInt(new TextDecoder().decode(body.subarray(o, lineEnd)).trim(), 16);
    if (!(size > 0) || lineEnd + 1 + size + 2 > body.length) break;
    out.push(body.subarray(lineEnd + 1, lineEnd + 1 + size));
    o = lineEnd + 1 + size + 2;
  }
  return concatBytes(out);
}

for (const buffering of [false, true]) {
  Deno.test(`nginx (proxy_buffering ${buffering ? "on" : "off"}): TS passes chunked, HLS plays and caches, URLs carry the prefix`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "egress_nginx_" });
    const engine = await startEngine(
      dir,
      [httpToml('public_url = "/retrovue"'), channelToml(1)].join("\n"),
    );
    const nginx = await startNginx(dir, engine.port, buffering);
    try {
      // Live TS: chunked through nginx, starting at PAT, PMT, IDR, and it decodes.
      const { head, body } = await rawGet(nginx.port, "/retrovue/channel/1.ts", 200_000);
      assert(head.startsWith("HTTP/1.1 200"), head);
      assert(/^transfer-encoding: chunked$/im.test(head), head);
      assert(/^content-type: video\/mp2t$/im.test(head), head);
      const ts = dechunk(body);
      assert(ts.length >= 150_000, `${ts.length} bytes of TS`);
      assertEquals(pidAt(ts, 0), 0, "PAT first");
      assert(pusiAt(ts, 2 * PACKET) && randomAccessAt(ts, 2 * PACKET), "IDR third");
      await Deno.writeFile(`${dir}/via_nginx.ts`, ts.subarray(0, ts.length - ts.length % PACKET));
      const probed = await ffprobeUrl(`${dir}/via_nginx.ts`, [
        ...["-show_entries", "stream=codec_name", "-count_frames", "-select_streams", "v:0"],
        ...["-show_entries", "stream=nb_read_frames"],
      ]);
      const video = (probed.streams as { codec_name: string; nb_read_frames: string }[])[0];
      assertEquals(video.codec_name, "h264");
      assert(Number(video.nb_read_frames) > 25, `${video.nb_read_frames} frames decoded`);

      // URLs handed out through nginx name nginx's host and the prefix.
      const lineup = await (await fetch(`${nginx.base}/retrovue/lineup.json`)).json();
      assertEquals(lineup[0].URL, `${nginx.base}/retrovue/channel/1.ts`);
      const m3u = await (await fetch(`${nginx.base}/retrovue/channels.m3u`)).text();
      assert(m3u.includes(`url-tvg="${nginx.base}/retrovue/xmltv.xml"`), m3u);
      const xmltv = await fetch(`${nginx.base}/retrovue/xmltv.xml`);
      assertEquals(xmltv.status, 200);
      assert((await xmltv.text()).includes("<programme "), "the guide through nginx");
      const page = await (await fetch(`${nginx.base}/retrovue/`)).text();
      assert(page.includes(`src="${nginx.base}/retrovue/assets/hls.min.js"`), "status page");

      // HLS: ffprobe plays the playlist through nginx; a segment is served from the cache.
      const url = `${nginx.base}/retrovue/channel/1.m3u8`;
      const playlist = await poll<MediaPlaylist>(async () => {
        const res = await fetch(url);
        const p = parsePlaylist(await res.text());
        return p.segments.length >= 2 ? p : undefined;
      }, "two segments through nginx");
      const probe = await ffprobeUrl(url, ["-show_entries", "stream=codec_name"]);
      const codecs = (probe.streams as { codec_name: string }[]).map((s) => s.codec_name);
      assert(codecs.includes("h264") && codecs.includes("aac"), codecs.join());
      const segmentUrl = new URL(playlist.segments[0].uri, url).href;
      assert(segmentUrl.startsWith(`${nginx.base}/retrovue/channel/1/`), segmentUrl);
      const first = await fetch(segmentUrl);
      const firstBytes = await first.bytes();
      assertEquals(first.headers.get("cache-control"), "public, max-age=31536000, immutable");
      const again = await fetch(segmentUrl);
      const againBytes = await again.bytes();
      assertEquals(again.headers.get("x-cache-status"), "HIT", "served from nginx's cache");
      assertEquals(againBytes.length, firstBytes.length);
      assertEquals(pidAt(againBytes, 0), 0);
    } finally {
      await nginx.stop();
      await engine.handle.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
