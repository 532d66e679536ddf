/**
 * The engine's status page (`/`): every channel with its state and what is on now (from the
 * guide), and a player for the channel's HLS made with hls.js, which the engine serves itself
 * ({@link HLS_JS}, from the pinned npm package; no CDN). The page refreshes its table from
 * `/status.json` every 10 s.
 *
 * @module
 */

import hlsJs from "hls.js/dist/hls.min.js" with { type: "text" };
import { xmlEscape } from "./xmltv.ts";

/** hls.js's browser build (UMD, defines `Hls`), served at {@link HLS_JS_PATH}. */
export const HLS_JS: string = hlsJs;
/** Where the page loads hls.js from (below the public base URL). */
export const HLS_JS_PATH = "/assets/hls.min.js";

/** One row of the status table (also the `/status.json` shape). */
export interface StatusChannel {
  id: number;
  number: string;
  name: string;
  state: string;
  stateReason: string;
  /** Title on air now, from the guide. */
  nowTitle: string;
  /** UTC ms the current programme ends, when known. */
  nowEndsUtcMs: number | null;
  /** Playlist URLs. */
  hls: string | null;
  ts: string;
}

/** The status page's HTML for `channels`, with every URL below `base`. */
export function statusPageHtml(
  base: string,
  device: { name: string; id: string },
  channels: readonly StatusChannel[],
): string {
  const rows = channels.map((c) =>
    `<tr data-id="${c.id}"><td>${xmlEscape(c.number)}</td><td>${xmlEscape(c.name)}</td>` +
    `<td class="state">${xmlEscape(c.state)}</td><td class="now">${xmlEscape(c.nowTitle)}</td>` +
    `<td>${c.hls ? `<button data-play="${c.id}">Play</button> ` : ""}` +
    `<a href="${xmlEscape(c.ts)}">TS</a></td></tr>`
  ).join("\n");
  const config = JSON.stringify({ base, channels }).replaceAll("<", "\\u003c");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${xmlEscape(device.name)}</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { padding: .3rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }
video { width: min(100%, 960px); background: #000; aspect-ratio: 16 / 9; }
small { color: #666; }
</style>
</head>
<body>
<h1>${xmlEscape(device.name)}</h1>
<p><small>Device ${xmlEscape(device.id)} · <a href="${xmlEscape(base)}/channels.m3u">M3U</a> ·
<a href="${xmlEscape(base)}/xmltv.xml">XMLTV guide</a> ·
<a href="${xmlEscape(base)}/discover.json">HDHomeRun</a></small></p>
<table>
<thead><tr><th>No.</th><th>Channel</th><th>State</th><th>On now</th><th></th></tr></thead>
<tbody id="channels">
${rows}
</tbody>
</table>
<p id="playing"></p>
<video id="player" controls muted playsinline></video>
<script src="${xmlEscape(base)}${HLS_JS_PATH}"></script>
<script>
"use strict";
const config = ${config};
const video = document.getElementById("player");
let hls;
function play(id) {
  const channel = config.channels.find((c) => c.id === id);
  if (!channel || !channel.hls) return;
  document.getElementById("playing").textContent = "Playing " + channel.number + " " + channel.name;
  if (hls) hls.destroy();
  hls = undefined;
  video.muted = true;
  if (window.Hls && Hls.isSupported()) {
    hls = new Hls({ liveSyncDurationCount: 2 });
    hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) console.error("hls.js", data.type, data.details); });
    hls.loadSource(channel.hls);
    hls.attachMedia(video);
  } else {
    video.src = channel.hls;
  }
  video.play().catch((err) => console.error("play()", err));
}
document.getElementById("channels").addEventListener("click", (e) => {
  const id = e.target && e.target.dataset ? e.target.dataset.play : undefined;
  if (id !== undefined) play(Number(id));
});
async function refresh() {
  try {
    const res = await fetch(config.base + "/status.json", { cache: "no-store" });
    const data = await res.json();
    for (const c of data.channels) {
      const row = document.querySelector('tr[data-id="' + c.id + '"]');
      if (!row) continue;
      row.querySelector(".state").textContent = c.state;
      row.querySelector(".now").textContent = c.nowTitle;
    }
  } catch (err) {
    console.error("status refresh", err);
  }
}
setInterval(refresh, 10000);
const first = config.channels.find((c) => c.hls);
if (first) play(first.id);
</script>
</body>
</html>
`;
}
