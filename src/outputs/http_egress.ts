/**
 * HTTP egress: live MPEG-TS per channel plus the playlists tuner-style clients use.
 *
 * - `GET /channel/<id>.ts` — the channel's live TS (`video/mp2t`, chunked, not cached),
 *   starting at PAT, PMT and an IDR from the channel's {@link TsFanout}.
 * - `GET /channels.m3u` — M3U playlist of every channel, absolute URLs from the Host header.
 * - HDHomeRun emulation for Plex and Jellyfin: `/discover.json`, `/lineup.json`,
 *   `/lineup_status.json`, `/device.xml`, `POST /lineup.post`.
 *
 * Errors are JSON `{"error": "..."}`: 404 for unknown paths and channels, 405 (with `Allow`)
 * for other methods, 503 for a channel whose fan-out is closed. `HEAD` answers headers only.
 *
 * ```ts
 * const egress = serveHttpEgress({ channels: manager, port: 8080, log });
 * // ...
 * await egress.close();
 * ```
 *
 * @module
 */

import type { Logger } from "../observability/log.ts";
import type { TsFanout, TsViewer } from "./ts_fanout.ts";

/** What the egress needs of the engine: a subset of `ControlSurface`. */
export interface EgressChannels {
  /** Channels to offer, in playlist order. */
  list(): readonly { id: number; name: string }[];
  /** The channel's fan-out, or undefined for an unknown channel. */
  fanout(id: number): TsFanout | undefined;
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

const STREAM_PATH = /^\/channel\/([^/]+)\.ts$/;
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const READ_METHODS = "GET, HEAD";
const NO_CACHE: Readonly<Record<string, string>> = Object.freeze({
  "cache-control": "no-cache, no-store, must-revalidate",
  "pragma": "no-cache",
  "expires": "0",
});

/** Starts the HTTP egress; throws {@link EgressBindError} when the address is taken. */
export function serveHttpEgress(opts: HttpEgressOptions): HttpEgress {
  const hostname = opts.hostname ?? "0.0.0.0";
  const requestedPort = opts.port ?? 8080;
  const log = opts.log;
  const device = {
    name: opts.deviceName ?? "RetroVue Playout",
    id: opts.deviceId ?? "52565450",
  };
  const viewers = new Set<TsViewer>();

  const handler = (req: Request, info: Deno.ServeHandlerInfo<Deno.Addr>): Response => {
    const url = new URL(req.url);
    const path = url.pathname;
    const stream = STREAM_PATH.exec(path);
    if (stream !== null) {
      if (req.method !== "GET" && req.method !== "HEAD") return notAllowed(READ_METHODS);
      return channelStream(stream[1], req, info.remoteAddr);
    }
    if (path === "/lineup.post") {
      if (req.method !== "POST") return notAllowed("POST");
      return new Response(null, { status: 200, headers: NO_CACHE });
    }
    const page = PAGES[path];
    if (page === undefined) return jsonError(404, `no such path: ${path}`);
    if (req.method !== "GET" && req.method !== "HEAD") return notAllowed(READ_METHODS);
    const base = baseUrl(req, url);
    const { type, body } = page(base, opts.channels.list(), device);
    return new Response(req.method === "HEAD" ? null : body, {
      headers: { "content-type": type, ...NO_CACHE },
    });
  };

  const channelStream = (idText: string, req: Request, remoteAddr: Deno.Addr): Response => {
    const id = /^\d{1,9}$/.test(idText) ? Number(idText) : NaN;
    const fanout = Number.isNaN(id) ? undefined : opts.channels.fanout(id);
    if (fanout === undefined) return jsonError(404, `unknown channel: ${idText}`);
    if (fanout.closed) return jsonError(503, `channel ${id} is not running`);
    const headers = {
      "content-type": "video/mp2t",
      "x-content-type-options": "nosniff",
      "access-control-allow-origin": "*",
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
        const shutdown = server.shutdown();
        for (const v of [...viewers]) v.close();
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

type Device = { name: string; id: string };
type Page = (
  base: string,
  channels: readonly { id: number; name: string }[],
  device: Device,
) => { type: string; body: string };

const PAGES: Readonly<Record<string, Page>> = Object.freeze({
  "/channels.m3u": (base, channels) => ({
    type: "audio/x-mpegurl; charset=utf-8",
    body: m3u(base, channels),
  }),
  "/discover.json": (base, channels, device) => json(discover(base, channels.length, device)),
  "/lineup.json": (base, channels) =>
    json(channels.map((c) => ({
      GuideNumber: String(c.id),
      GuideName: c.name,
      URL: streamUrl(base, c.id),
    }))),
  "/lineup_status.json": () =>
    json({ ScanInProgress: 0, ScanPossible: 1, Source: "Cable", SourceList: ["Cable"] }),
  "/device.xml": (base, _channels, device) => ({
    type: "application/xml; charset=utf-8",
    body: deviceXml(base, device),
  }),
});

function json(value: unknown): { type: string; body: string } {
  return { type: "application/json; charset=utf-8", body: JSON.stringify(value) };
}

function streamUrl(base: string, id: number): string {
  return `${base}/channel/${id}.ts`;
}

/** One-line text for playlist fields (no line breaks, no quotes in attributes). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}

function m3u(base: string, channels: readonly { id: number; name: string }[]): string {
  const lines = ["#EXTM3U"];
  for (const c of channels) {
    const name = oneLine(c.name);
    const attr = name.replaceAll('"', "'");
    lines.push(
      `#EXTINF:-1 tvg-id="${c.id}" tvg-chno="${c.id}" tvg-name="${attr}",${name}`,
      streamUrl(base, c.id),
    );
  }
  return lines.join("\n") + "\n";
}

function discover(base: string, tuners: number, device: Device): Record<string, unknown> {
  return {
    FriendlyName: device.name,
    Manufacturer: "RetroVue",
    ModelNumber: "HDTC-2US",
    FirmwareName: "hdhomeruntc_atsc",
    FirmwareVersion: "20200101",
    DeviceID: device.id,
    DeviceAuth: "retrovue",
    BaseURL: base,
    LineupURL: `${base}/lineup.json`,
    TunerCount: Math.max(1, tuners),
  };
}

function xmlText(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function deviceXml(base: string, device: Device): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <URLBase>${xmlText(base)}</URLBase>
  <device>
    <deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>
    <friendlyName>${xmlText(device.name)}</friendlyName>
    <manufacturer>RetroVue</manufacturer>
    <modelName>HDTC-2US</modelName>
    <modelNumber>HDTC-2US</modelNumber>
    <serialNumber>${xmlText(device.id)}</serialNumber>
    <UDN>uuid:${xmlText(device.id)}</UDN>
  </device>
</root>
`;
}

/** `http://<Host header>` when it is a plain host[:port], else the request URL's origin. */
function baseUrl(req: Request, url: URL): string {
  const host = req.headers.get("host");
  if (host !== null && HOST_HEADER.test(host)) return `http://${host}`;
  return url.origin;
}

function addrText(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return addr.transport;
}

function jsonError(status: number, error: string): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...NO_CACHE },
  });
}

function notAllowed(allow: string): Response {
  return new Response(JSON.stringify({ error: "method not allowed" }), {
    status: 405,
    headers: { "content-type": "application/json; charset=utf-8", allow, ...NO_CACHE },
  });
}
