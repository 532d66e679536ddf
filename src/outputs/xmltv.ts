/**
 * The programme guide as XMLTV (`/xmltv.xml`), built from what each channel's schedule will
 * really play ({@link GuideSlot}s from the channel's worker):
 *
 * - a file: one programme per airing, titled by the file's `title` tag, else its file name;
 * - block mode: one programme per content segment; filler and pad segments of a block belong
 *   to the content before them (a break in the show), and consecutive segments of one block
 *   with the same title are one programme;
 * - black, test pattern, or nothing known (a stopped channel, the far future): the channel's
 *   name, in slots aligned to whole UTC hours.
 *
 * Channel ids are `<number>.<device id>` (e.g. `7.1a2b3c4d`): the M3U's `tvg-id`, unique per
 * engine, derived from the lineup's `GuideNumber`. Display names are `<number> <name>`,
 * `<number>` and `<name>`, the forms Plex and Jellyfin match on. Times are UTC (`+0000`).
 *
 * @module
 */

import type { GuideSlot } from "../engine/guide.ts";

/** A channel as the guide lists it. */
export interface GuideChannel {
  id: number;
  /** Guide number (lineup `GuideNumber`), e.g. "7" or "7.1". */
  number: string;
  name: string;
  /** Logo URL. */
  logo?: string;
}

/** One programme of one channel. */
export interface Programme {
  startUtcMs: number;
  endUtcMs: number;
  title: string;
  /** True when the engine knows nothing more than the channel's name for this time. */
  placeholder: boolean;
}

const HOUR_MS = 3_600_000;

/** The XMLTV channel id (= M3U `tvg-id`) of a channel with guide number `number`. */
export function xmltvChannelId(number: string, deviceId: string): string {
  return `${number}.${deviceId.toLowerCase()}`;
}

/** `/srv/media/The Show.s01e02.mkv` → `The Show.s01e02`. */
export function titleFromPath(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * The programmes of a channel covering `[fromUtcMs, toUtcMs)` without gaps, from its slots
 * (possibly none); what the slots leave uncovered is the channel's name.
 */
export function programmesFrom(
  channel: GuideChannel,
  slots: readonly GuideSlot[],
  fromUtcMs: number,
  toUtcMs: number,
): Programme[] {
  const out: Programme[] = [];
  const placeholder = (start: number, end: number) => {
    // Whole UTC hours, so that guides show tidy slots and repeated requests agree.
    for (let at = start; at < end;) {
      const next = Math.min(end, (Math.floor(at / HOUR_MS) + 1) * HOUR_MS);
      const prev = out.at(-1);
      if (prev?.placeholder && prev.endUtcMs === at && at % HOUR_MS !== 0) {
        prev.endUtcMs = next;
      } else {
        out.push({ startUtcMs: at, endUtcMs: next, title: channel.name, placeholder: true });
      }
      at = next;
    }
  };
  // From the start of what is on air at `fromUtcMs` (or the hour, when nothing is known).
  let covered = slots[0]?.startUtcMs ?? Math.floor(fromUtcMs / HOUR_MS) * HOUR_MS;
  let block: { id: string; title: string | undefined } | undefined;
  let mergeKey: string | undefined;
  for (const slot of slots) {
    if (slot.endUtcMs <= covered) continue;
    const start = Math.max(slot.startUtcMs, covered);
    if (start > covered) placeholder(covered, start);
    let title: string | undefined;
    if (slot.blockId !== undefined) {
      if (block?.id !== slot.blockId) block = { id: slot.blockId, title: undefined };
      if (slot.kind === "file" && slot.segmentType === "content") {
        title = slot.title ?? titleFromPath(slot.path!);
        block.title = title;
      } else {
        title = block.title; // filler or pad inside a programme: part of it
      }
    } else if (slot.kind === "file") {
      title = slot.title ?? titleFromPath(slot.path!);
    }
    const key = title !== undefined && slot.blockId !== undefined
      ? `${slot.blockId}\n${title}`
      : undefined;
    const prev = out.at(-1);
    if (title === undefined) {
      placeholder(start, slot.endUtcMs);
    } else if (key !== undefined && key === mergeKey && prev?.endUtcMs === start) {
      prev.endUtcMs = slot.endUtcMs;
    } else {
      out.push({ startUtcMs: start, endUtcMs: slot.endUtcMs, title, placeholder: false });
    }
    mergeKey = key;
    covered = slot.endUtcMs;
  }
  if (covered < toUtcMs) placeholder(covered, Math.ceil(toUtcMs / HOUR_MS) * HOUR_MS);
  // What the last slot runs past the end: a real programme stays, a placeholder goes.
  return out.filter((p) =>
    p.endUtcMs > p.startUtcMs && p.endUtcMs > fromUtcMs &&
    !(p.placeholder && p.startUtcMs >= toUtcMs)
  );
}

/** The programme on air at `atUtcMs`, if any. */
export function programmeAt(programmes: readonly Programme[], atUtcMs: number) {
  return programmes.find((p) => p.startUtcMs <= atUtcMs && atUtcMs < p.endUtcMs);
}

/** Text safe inside XML elements and double-quoted attributes (invalid characters dropped). */
export function xmlEscape(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** XMLTV time: `YYYYMMDDhhmmss +0000` (UTC). */
export function xmltvTime(utcMs: number): string {
  const d = new Date(Math.floor(utcMs / 1000) * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())} +0000`;
}

/** The XMLTV document of `channels` and their programmes. */
export function renderXmltv(
  channels: readonly { channel: GuideChannel; programmes: readonly Programme[] }[],
  opts: { deviceId: string; generator: string },
): string {
  const lines = [
    // No DOCTYPE: .NET's XmlReader (Jellyfin) refuses DTDs by default.
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<tv generator-info-name="${xmlEscape(opts.generator)}">`,
  ];
  for (const { channel } of channels) {
    const id = xmlEscape(xmltvChannelId(channel.number, opts.deviceId));
    const number = xmlEscape(channel.number);
    const name = xmlEscape(channel.name);
    lines.push(
      `  <channel id="${id}">`,
      `    <display-name>${number} ${name}</display-name>`,
      `    <display-name>${number}</display-name>`,
      `    <display-name>${name}</display-name>`,
    );
    if (channel.logo !== undefined) lines.push(`    <icon src="${xmlEscape(channel.logo)}"/>`);
    lines.push(`    <lcn>${number}</lcn>`, "  </channel>");
  }
  for (const { channel, programmes } of channels) {
    const id = xmlEscape(xmltvChannelId(channel.number, opts.deviceId));
    for (const p of programmes) {
      lines.push(
        `  <programme start="${xmltvTime(p.startUtcMs)}" stop="${
          xmltvTime(p.endUtcMs)
        }" channel="${id}">`,
        `    <title>${xmlEscape(p.title)}</title>`,
        "  </programme>",
      );
    }
  }
  lines.push("</tv>", "");
  return lines.join("\n");
}
