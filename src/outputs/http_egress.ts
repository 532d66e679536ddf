/**
 * HTTP egress: what viewers, tuner clients and browsers get from an engine with a config.
 *
 * - `GET /channel/<id>.ts` — the channel's live TS (`video/mp2t`, chunked, not cached),
 *   starting at PAT, PMT and an IDR from the channel's {@link TsFanout}. Any query (Jellyfin's
 *   `?transcode=<profile>`) gets the same one stream.
 * - `GET /channel/<id>.m3u8` and `/channel/<id>/<segment>.ts` — HLS cut from that same TS at
 *   IDRs ({@link HlsSegmenter}, started on the first playlist request, stopped when no client
 *   asked for a minute). Playlists `max-age=1`; segments `max-age=31536000, immutable`.
 * - `GET /channels.m3u` — M3U of every channel (`url-tvg`, `tvg-id`, `tvg-chno`, `tvg-logo`,
 *   `group-title`); `GET /xmltv.xml` — the guide ({@link renderXmltv}).
 * - HDHomeRun emulation for Plex and Jellyfin: `/discover.json`, `/lineup.json` (with
 *   `VideoCodec`, `AudioCodec`, `HD`), `/lineup_status.json`, `/device.xml`,
 *   `POST /lineup.post`. The model is an HDHR5-4US, which Jellyfin treats as a tuner without
 *   transcoding: it asks for the plain stream URL, never a `?transcode=` variant per profile.
 * - `GET /` — the status page with an hls.js player; `/status.json`; `/assets/hls.min.js`.
 *
 * Every URL handed out starts with the public base URL: `http.public_url` when configured
 * (e.g. `https://tv.example.com/retrovue`), else `<X-Forwarded-Proto or http>://<Host>` plus
 * the configured path prefix. Requests may arrive with or without that prefix.
 *
 * Errors are JSON `{"error": "..."}`: 404 for unknown paths and channels, 405 (with `Allow`)
 * for other methods, 503 for a channel whose fan-out is closed. `HEAD` answers headers only
 * (Deno.serve drops the body and keeps its length; a live TS `HEAD` subscribes no viewer).
 *
 * ```ts
 * const egress = serveHttpEgress({ channels: manager, port: 8080, log });
 * // ...
 * await egress.close();
 * ```
 *
 * @module
 */

import type { GuideSlot } from "../engine/guide.ts";
import type { Logger } from "../log/log.ts";
import { HlsSegmenter } from "./hls_segmenter.ts";
import { parsePublicUrl, type PublicUrl } from "../endpoints/public_url.ts";
import { HLS_JS, HLS_JS_PATH, type StatusChannel, statusPageHtml } from "./status_page.ts";
import type { TsFanout, TsViewer } from "./ts_fanout.ts";
import {
  type GuideChannel,
  programmeAt,
  programmesFrom,
  renderXmltv,
  xmlEscape,
  xmltvChannelId,
} from "./xmltv.ts";

/** A channel as the egress offers it. */
export interface EgressChannel {
  id: number;
  name: string;
  /** Guide number (default: the id). */
  number?: string;
  /** Logo URL (M3U `tvg-logo`, XMLTV icon). */
  logo?: string;
  /** M3U `group-title`. */
  group?: string;
  /** Channel state for the status page (default "ready"). */
  state?: string;
  stateReason?: string;
  /** Encoder, for the lineup's `VideoCodec` (default libx264). */
  videoCodec?: "libx264" | "mpeg2video";
  /** Encoder, for the lineup's `AudioCodec` (default aac). */
  audioCodec?: "aac" | "mp2";
  /** Program height, for the lineup's `HD` (default 720). */
  height?: number;
}

/** What the egress needs of the engine. */
export interface EgressChannels {
  /** Channels to offer, in playlist order. */
  list(): readonly EgressChannel[];
  /** The channel's fan-out, or undefined for an unknown channel. */
  fanout(id: number): TsFanout | undefined;
  /** What the channel will play between two UTC times (none: the guide knows nothing). */
  guide?(id: number, fromUtcMs: number, toUtcMs: number): Promise<readonly GuideSlot[]>;
}

/** HLS settings. */
export interface HlsOptions {
  /** Serve HLS (default true). */
  enabled?: boolean;
  /** GOPs per segment (default 1). */
  gopsPerSegment?: number;
  /** Segments in the playlist (default 6). */
  window?: number;
}

/** Options of {@link serveHttpEgress}. */
export interface HttpEgressOptions {
  /** The channels to serve. */
  channels: EgressChannels;
  /** Address to bind (default `0.0.0.0`). */
  hostname?: string;
  /** Port to bind (default 8080; 0 picks a free port). */
  port?: number;
  /** Logs viewer connects/disconnects and request failures. */
  log?: Logger;
  /** Name shown by Plex/Jellyfin (default `RetroVue Playout`). */
  deviceName?: string;
  /** HDHomeRun device id, 8 hex digits (default `52565450`). */
  deviceId?: string;
  /** HDHomeRun `TunerCount` (default: at least 4, at least one per channel). */
  tunerCount?: number;
  /**
   * Public base URL (`https://host/prefix`) or path prefix (`/prefix`) of every URL handed
   * out; default: `http://<Host header>`.
   */
  publicUrl?: string;
  /** HLS output. */
  hls?: HlsOptions;
  /** Hours of guide from now (default 24). */
  guideHours?: number;
  /** How long one built guide is reused, ms (default 10 000; 0 = build per request). */
  guideCacheMs?: number;
  /** `generator-info-name` of the XMLTV (default `retrovue-playout`). */
  generator?: string;
  /**
   * How long {@link HttpEgress.close} waits for open connections (default 2000 ms). A client
   * that stopped reading holds its connection until it closes it (Deno.serve cannot force
   * a socket shut), so after this grace the server is left to die with the process.
   */
  shutdownGraceMs?: number;
}

/** A running HTTP egress. */
export interface HttpEgress {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Viewers streaming now, over all channels. */
  readonly viewerCount: number;
  /**
   * Ends every live stream and stops the server; resolves when all connections closed or
   * after the shutdown grace (then stuck connections no longer keep the process alive).
   */
  close(): Promise<void>;
}

/** The egress could not bind its address. */
export class EgressBindError extends Error {
  /** Error name. */
  override name = "EgressBindError";
  /** The address that could not be bound and why. */
  constructor(readonly hostname: string, readonly port: number, override readonly cause: unknown) {
    super(
      `cannot serve HTTP egress on ${hostname}:${port}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
    );
  }
}

/** A public URL setting that is neither an http(s) URL nor a path prefix. */
export class PublicUrlError extends Error {
  /** Error name. */
  override name = "PublicUrlError";
  /** The offending setting. */
  constructor(readonly value: string) {
    super(
      `public URL must be an http(s) URL or a path like "/retrovue", got ${JSON.stringify(value)}`,
    );
  }
}

const STREAM_PATH = /^\/channel\/([^/]+)\.ts$/;
const PLAYLIST_PATH = /^\/channel\/([^/]+)\.m3u8$/;
const SEGMENT_PATH = /^\/channel\/([^/]+)\/([0-9a-z]+-\d+\.ts)$/;
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const READ_METHODS = "GET, HEAD";
const NO_CACHE: Readonly<Record<string, string>> = Object.freeze({
  "cache-control": "no-cache, no-store, must-revalidate",
  "pragma": "no-cache",
  "expires": "0",
});
const CORS = { "access-control-allow-origin": "*" };
/** A segmenter nobody asked for in this long is stopped. */
const HLS_IDLE_MS = 60_000;
/** How long a first playlist request waits for the first segment. */
const HLS_FIRST_SEGMENT_WAIT_MS = 20_000;
/** How long the guide waits for one channel's schedule. */
const GUIDE_WAIT_MS = 5_000;
/** The HDHomeRun model presented: a tuner without transcoding (see the module doc). */
export const HDHOMERUN_MODEL = "HDHR5-4US";

/** Splits a public URL setting; throws {@link PublicUrlError} when malformed. */
function parsePublic(text: string): PublicUrl {
  const parsed = parsePublicUrl(text);
  if (parsed === undefined) throw new PublicUrlError(text);
  return parsed;
}

interface Hls {
  segmenter: HlsSegmenter;
  lastUsedMs: number;
}

/** Starts the HTTP egress; throws {@link EgressBindError} when the address is taken. */
export function serveHttpEgress(opts: HttpEgressOptions): HttpEgress {
  const hostname = opts.hostname ?? "0.0.0.0";
  const requestedPort = opts.port ?? 8080;
  const log = opts.log;
  const publicUrl = parsePublic(opts.publicUrl ?? "");
  const device = {
    name: opts.deviceName ?? "RetroVue Playout",
    id: (opts.deviceId ?? "52565450").toUpperCase(),
  };
  const hlsOpts = {
    enabled: opts.hls?.enabled ?? true,
    gopsPerSegment: opts.hls?.gopsPerSegment ?? 1,
    window: opts.hls?.window ?? 6,
  };
  const guideHours = opts.guideHours ?? 24;
  const guideCacheMs = opts.guideCacheMs ?? 10_000;
  const viewers = new Set<TsViewer>();
  const hls = new Map<number, Hls>();
  let guideCache: { atMs: number; guide: Promise<ChannelGuide[]> } | undefined;

  const guideChannel = (c: EgressChannel): GuideChannel => ({
    id: c.id,
    number: c.number ?? String(c.id),
    name: c.name,
    logo: c.logo,
  });

  /** Programmes of every channel from now on (built at most once per cache period). */
  const guide = (): Promise<ChannelGuide[]> => {
    const now = Date.now();
    if (guideCache && now - guideCache.atMs < guideCacheMs) return guideCache.guide;
    const to = now + guideHours * 3_600_000;
    const built = Promise.all(
      opts.channels.list().map(async (c) => {
        let slots: readonly GuideSlot[] = [];
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          // A busy or stuck channel must not hold the whole guide: it is "unknown" instead.
          const late = new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), GUIDE_WAIT_MS);
          });
          const got = await Promise.race([opts.channels.guide?.(c.id, now, to) ?? [], late]);
          if (got === undefined) {
            log?.warn("guide_unavailable", { channel: c.id, reason: "timeout" });
          }
          slots = got ?? [];
        } catch (error) {
          log?.warn("guide_unavailable", { channel: c.id, error });
        } finally {
          clearTimeout(timer);
        }
        const channel = guideChannel(c);
        return { source: c, channel, programmes: programmesFrom(channel, slots, now, to) };
      }),
    );
    guideCache = { atMs: now, guide: built };
    return built;
  };

  const handler = async (req: Request, info: Deno.ServeHandlerInfo<Deno.Addr>) => {
    const url = new URL(req.url);
    let path = url.pathname;
    if (publicUrl.prefix !== "" && (path + "/").startsWith(publicUrl.prefix + "/")) {
      path = path.slice(publicUrl.prefix.length) || "/";
    }
    const read = req.method === "GET" || req.method === "HEAD";
    const base = baseUrl(req, url, publicUrl);
    let m = STREAM_PATH.exec(path);
    if (m !== null) {
      if (!read) return notAllowed(READ_METHODS);
      return channelStream(m[1], req, info.remoteAddr);
    }
    m = PLAYLIST_PATH.exec(path);
    if (m !== null && hlsOpts.enabled) {
      if (!read) return notAllowed(READ_METHODS);
      return await hlsPlaylist(m[1]);
    }
    m = SEGMENT_PATH.exec(path);
    if (m !== null && hlsOpts.enabled) {
      if (!read) return notAllowed(READ_METHODS);
      return hlsSegment(m[1], m[2]);
    }
    if (path === "/lineup.post") {
      if (req.method !== "POST") return notAllowed("POST");
      return new Response(null, { status: 200, headers: NO_CACHE });
    }
    if (path === HLS_JS_PATH) {
      if (!read) return notAllowed(READ_METHODS);
      return new Response(HLS_JS, {
        headers: {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "public, max-age=86400",
        },
      });
    }
    const page = PAGES[path];
    if (page === undefined) return jsonError(404, `no such path: ${path}`);
    if (!read) return notAllowed(READ_METHODS);
    const { type, body } = await page({
      base,
      channels: opts.channels.list(),
      device,
      tunerCount: opts.tunerCount,
      guide,
      hlsEnabled: hlsOpts.enabled,
      generator: opts.generator ?? "retrovue-playout",
    });
    return new Response(body, {
      headers: { "content-type": type, ...NO_CACHE },
    });
  };

  const channelOf = (idText: string): { id: number; fanout: TsFanout | undefined } => {
    const id = /^\d{1,9}$/.test(idText) ? Number(idText) : NaN;
    return { id, fanout: Number.isNaN(id) ? undefined : opts.channels.fanout(id) };
  };

  const channelStream = (idText: string, req: Request, remoteAddr: Deno.Addr): Response => {
    const { id, fanout } = channelOf(idText);
    if (fanout === undefined) return jsonError(404, `unknown channel: ${idText}`);
    if (fanout.closed) return jsonError(503, `channel ${id} is not running`);
    const headers = {
      "content-type": "video/mp2t",
      "x-content-type-options": "nosniff",
      ...CORS,
      ...NO_CACHE,
    };
    if (req.method === "HEAD") return new Response(null, { headers });
    const remote = addrText(remoteAddr);
    const viewer = fanout.subscribe({ label: remote });
    viewers.add(viewer);
    const started = Date.now();
    log?.info("viewer_connected", { channel: id, remote, viewer: viewer.id });
    viewer.ended.then((reason) => {
      viewers.delete(viewer);
      log?.info("viewer_disconnected", {
        channel: id,
        remote,
        viewer: viewer.id,
        reason,
        bytes: viewer.bytesSent,
        seconds: (Date.now() - started) / 1000,
      });
    });
    return new Response(viewer.readable(), { headers });
  };

  const hlsPlaylist = async (idText: string): Promise<Response> => {
    const { id, fanout } = channelOf(idText);
    if (fanout === undefined) return jsonError(404, `unknown channel: ${idText}`);
    let entry = hls.get(id);
    if (entry === undefined || entry.segmenter.closed) {
      if (fanout.closed) return jsonError(503, `channel ${id} is not running`);
      entry = {
        segmenter: new HlsSegmenter(fanout, {
          name: String(id),
          gopsPerSegment: hlsOpts.gopsPerSegment,
          window: hlsOpts.window,
          log,
          channelId: id,
        }),
        lastUsedMs: Date.now(),
      };
      hls.set(id, entry);
      log?.info("hls_started", { channel: id, token: entry.segmenter.token });
      idleSweep();
    }
    entry.lastUsedMs = Date.now();
    const segmenter = entry.segmenter;
    if (segmenter.segments.length === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ok = await Promise.race([
        segmenter.ready,
        new Promise<false>((resolve) =>
          timer = setTimeout(() => resolve(false), HLS_FIRST_SEGMENT_WAIT_MS)
        ),
      ]);
      clearTimeout(timer);
      if (!ok) {
        return jsonError(503, `channel ${id} has no HLS segment yet`, { "retry-after": "2" });
      }
    }
    return new Response(segmenter.playlist(), {
      headers: {
        "content-type": "application/vnd.apple.mpegurl",
        "cache-control": "public, max-age=1",
        ...CORS,
      },
    });
  };

  const hlsSegment = (idText: string, name: string): Response => {
    const { id } = channelOf(idText);
    const entry = hls.get(id);
    const segment = entry?.segmenter.segment(name);
    if (entry === undefined || segment === undefined) {
      return jsonError(404, `no such segment: ${idText}/${name}`);
    }
    entry.lastUsedMs = Date.now();
    return new Response(segment.bytes, {
      headers: {
        "content-type": "video/mp2t",
        "content-length": String(segment.bytes.length),
        "cache-control": "public, max-age=31536000, immutable",
        ...CORS,
      },
    });
  };

  /** Stops segmenters nobody asked for lately (checked while any runs). */
  let sweepTimer: ReturnType<typeof setTimeout> | undefined;
  const idleSweep = () => {
    if (sweepTimer !== undefined) return;
    sweepTimer = setTimeout(() => {
      sweepTimer = undefined;
      const now = Date.now();
      for (const [id, entry] of hls) {
        if (entry.segmenter.closed || now - entry.lastUsedMs > HLS_IDLE_MS) {
          entry.segmenter.close();
          hls.delete(id);
          log?.info("hls_stopped", { channel: id, reason: "idle" });
        }
      }
      if (hls.size > 0) idleSweep();
    }, HLS_IDLE_MS / 4);
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port: requestedPort,
      onListen: () => {},
      onError: (error) => {
        log?.error("http_egress_request_failed", { error });
        return jsonError(500, "internal error");
      },
    }, handler);
  } catch (err) {
    throw new EgressBindError(hostname, requestedPort, err);
  }
  log?.info("http_egress_listening", { hostname, port: server.addr.port });

  let closing: Promise<void> | undefined;
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    get viewerCount() {
      return viewers.size;
    },
    close() {
      closing ??= (async () => {
        clearTimeout(sweepTimer);
        sweepTimer = undefined;
        for (const entry of hls.values()) entry.segmenter.close();
        hls.clear();
        const shutdown = server.shutdown();
        // A viewer whose channel already stopped still sends the stream's tail (the flushed
        // encoder and muxer); only live ones are cut.
        for (const v of [...viewers]) if (v.endReason === undefined) v.close();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), opts.shutdownGraceMs ?? 2000);
        });
        const outcome = await Promise.race([shutdown, grace]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          // Connections to clients that stopped reading: do not keep the process alive.
          server.unref();
          log?.warn("http_egress_shutdown_timeout", { port: server.addr.port });
        }
      })();
      return closing;
    },
  };
}

interface ChannelGuide {
  source: EgressChannel;
  channel: GuideChannel;
  programmes: ReturnType<typeof programmesFrom>;
}

interface PageContext {
  base: string;
  channels: readonly EgressChannel[];
  device: Device;
  tunerCount: number | undefined;
  guide: () => Promise<ChannelGuide[]>;
  hlsEnabled: boolean;
  generator: string;
}

type Device = { name: string; id: string };
type Page = (ctx: PageContext) =>
  | { type: string; body: string }
  | Promise<{ type: string; body: string }>;

const PAGES: Readonly<Record<string, Page>> = Object.freeze({
  "/": async (ctx) => ({
    type: "text/html; charset=utf-8",
    body: statusPageHtml(ctx.base, ctx.device, await statusChannels(ctx)),
  }),
  "/status.json": async (ctx) =>
    json({
      device: { name: ctx.device.name, id: ctx.device.id },
      channels: await statusChannels(ctx),
    }),
  "/channels.m3u": (ctx) => ({
    type: "audio/x-mpegurl; charset=utf-8",
    body: m3u(ctx.base, ctx.channels, ctx.device),
  }),
  "/xmltv.xml": async (ctx) => ({
    type: "application/xml; charset=utf-8",
    body: renderXmltv(await ctx.guide(), { deviceId: ctx.device.id, generator: ctx.generator }),
  }),
  "/discover.json": (ctx) => json(discover(ctx)),
  "/lineup.json": (ctx) =>
    json(ctx.channels.map((c) => ({
      GuideNumber: c.number ?? String(c.id),
      GuideName: c.name,
      VideoCodec: c.videoCodec === "mpeg2video" ? "MPEG2" : "H264",
      AudioCodec: c.audioCodec === "mp2" ? "MP2" : "AAC",
      HD: (c.height ?? 720) >= 720 ? 1 : 0,
      URL: streamUrl(ctx.base, c.id),
    }))),
  "/lineup_status.json": () =>
    json({ ScanInProgress: 0, ScanPossible: 1, Source: "Cable", SourceList: ["Cable"] }),
  "/device.xml": (ctx) => ({
    type: "application/xml; charset=utf-8",
    body: deviceXml(ctx.base, ctx.device),
  }),
});

async function statusChannels(ctx: PageContext): Promise<StatusChannel[]> {
  const guide = await ctx.guide();
  const now = Date.now();
  return ctx.channels.map((c) => {
    const programmes = guide.find((g) => g.source.id === c.id)?.programmes ?? [];
    const on = programmeAt(programmes, now);
    return {
      id: c.id,
      number: c.number ?? String(c.id),
      name: c.name,
      state: c.state ?? "ready",
      stateReason: c.stateReason ?? "",
      nowTitle: on?.title ?? c.name,
      nowEndsUtcMs: on?.endUtcMs ?? null,
      hls: ctx.hlsEnabled ? `${ctx.base}/channel/${c.id}.m3u8` : null,
      ts: streamUrl(ctx.base, c.id),
    };
  });
}

function json(value: unknown): { type: string; body: string } {
  return { type: "application/json; charset=utf-8", body: JSON.stringify(value) };
}

function streamUrl(base: string, id: number): string {
  return `${base}/channel/${id}.ts`;
}

/** Text for an M3U attribute value: one line, no double quotes. */
function attr(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replaceAll('"', "'");
}

function m3u(base: string, channels: readonly EgressChannel[], device: Device): string {
  const guide = `${base}/xmltv.xml`;
  const lines = [`#EXTM3U url-tvg="${attr(guide)}" x-tvg-url="${attr(guide)}"`];
  for (const c of channels) {
    const name = c.name.replace(/[\r\n]+/g, " ");
    const number = c.number ?? String(c.id);
    const fields = [
      `tvg-id="${attr(xmltvChannelId(number, device.id))}"`,
      `tvg-chno="${attr(number)}"`,
      `tvg-name="${attr(name)}"`,
    ];
    if (c.logo !== undefined) fields.push(`tvg-logo="${attr(c.logo)}"`);
    if (c.group !== undefined) fields.push(`group-title="${attr(c.group)}"`);
    lines.push(`#EXTINF:-1 ${fields.join(" ")},${name}`, streamUrl(base, c.id));
  }
  return lines.join("\n") + "\n";
}

function discover(ctx: PageContext): Record<string, unknown> {
  return {
    FriendlyName: ctx.device.name,
    Manufacturer: "RetroVue",
    ModelNumber: HDHOMERUN_MODEL,
    FirmwareName: "hdhomerun5_atsc",
    FirmwareVersion: "20200101",
    DeviceID: ctx.device.id,
    DeviceAuth: "retrovue",
    BaseURL: ctx.base,
    LineupURL: `${ctx.base}/lineup.json`,
    TunerCount: ctx.tunerCount ?? Math.max(4, ctx.channels.length),
  };
}

function deviceXml(base: string, device: Device): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <URLBase>${xmlEscape(base)}</URLBase>
  <device>
    <deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>
    <friendlyName>${xmlEscape(device.name)}</friendlyName>
    <manufacturer>RetroVue</manufacturer>
    <modelName>${HDHOMERUN_MODEL}</modelName>
    <modelNumber>${HDHOMERUN_MODEL}</modelNumber>
    <serialNumber>${xmlEscape(device.id)}</serialNumber>
    <UDN>uuid:${xmlEscape(device.id)}</UDN>
  </device>
</root>
`;
}

/**
 * The public base URL of a request: the configured origin and prefix, else
 * `<X-Forwarded-Proto or http>://<Host>` (when the Host header is a plain host[:port]) and the
 * prefix.
 */
function baseUrl(
  req: Request,
  url: URL,
  publicUrl: PublicUrl,
): string {
  if (publicUrl.origin !== undefined) return publicUrl.origin + publicUrl.prefix;
  const forwarded = req.headers.get("x-forwarded-proto")?.split(",")[0].trim().toLowerCase();
  const scheme = forwarded === "https" || forwarded === "http" ? forwarded : "http";
  const host = req.headers.get("host");
  const origin = host !== null && HOST_HEADER.test(host) ? `${scheme}://${host}` : url.origin;
  return origin + publicUrl.prefix;
}

function addrText(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return addr.transport;
}

function jsonError(status: number, error: string, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...NO_CACHE, ...extra },
  });
}

function notAllowed(allow: string): Response {
  return new Response(JSON.stringify({ error: "method not allowed" }), {
    status: 405,
    headers: { "content-type": "application/json; charset=utf-8", allow, ...NO_CACHE },
  });
}
