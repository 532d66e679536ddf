/**
 * The observability listener: `/metrics` (Prometheus text 0.0.4), `/healthz` and `/livez` on
 * their own `Deno.serve` listener, apart from TS egress, so they stay up when egress is busy.
 *
 * - `GET /metrics` → the registry of {@link PlayoutMetrics}.
 * - `GET /healthz` → 200 when every channel that is meant to be on air is on air: ready, or
 *   degraded (on air, but repeating pictures it cannot make in time; status "degraded" then);
 *   503 otherwise. A channel is meant to be on air when it is configured with something to
 *   play, or was started by a control call and not stopped since; an idle `type = "none"`
 *   channel waiting for Core, or one stopped by control, does not count. The body lists every
 *   channel either way: `{"status":"ready","channels":[{"id":1,"name":"retro","state":"ready",
 *   "reason":"on air","on_air_expected":true}]}`. With no such channel the engine is ready.
 * - `GET /livez` → 200 `{"status":"alive"}` while the process runs.
 *
 * @module
 */

import type { ChannelState } from "../../media/channel_status.ts";
import type { Logger } from "../log/log.ts";
import type { PlayoutMetrics } from "./metrics.ts";

/** What the health endpoint reads of a channel. */
export interface HealthChannelInfo {
  id: number;
  name: string;
  state: ChannelState;
  stateReason: string;
  /** Meant to be on air (see the module doc); only these decide the status. */
  meantOnAir: boolean;
}

/** The part of the control surface the health endpoint reads. */
export interface HealthSource {
  /** Channels known to the engine. */
  list(): readonly HealthChannelInfo[];
}

/** Body of `/healthz`. */
export interface HealthReport {
  status: "ready" | "degraded" | "not_ready";
  channels: {
    id: number;
    name: string;
    state: ChannelState;
    reason: string;
    on_air_expected: boolean;
  }[];
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Interface to bind. Default "0.0.0.0". */
  host?: string;
  /** The registry to serve on `/metrics`. */
  metrics: Pick<PlayoutMetrics, "scrape" | "contentType">;
  /** Channels for `/healthz`. */
  surface: HealthSource;
  /** Logger for the listener's lifecycle and handler failures. */
  log: Logger;
}

/** A running metrics/health listener. */
export interface MetricsServer {
  /** The bound port. */
  readonly port: number;
  /** Stops listening and waits for in-flight requests. */
  close(): Promise<void>;
}

/** The listener could not bind its address. */
export class MetricsListenError extends Error {
  override name = "MetricsListenError";
  constructor(readonly host: string, readonly port: number, options?: ErrorOptions) {
    super(`metrics listener cannot bind ${host}:${port}`, options);
  }
}

/** Builds the `/healthz` report from the channel list. */
export function healthReport(surface: HealthSource): HealthReport {
  const channels = surface.list().map((c) => ({
    id: c.id,
    name: c.name,
    state: c.state,
    reason: c.stateReason,
    on_air_expected: c.meantOnAir,
  }));
  const meant = channels.filter((c) => c.on_air_expected);
  const onAir = meant.every((c) => c.state === "ready" || c.state === "degraded");
  if (!onAir) return { status: "not_ready", channels };
  return { status: meant.some((c) => c.state === "degraded") ? "degraded" : "ready", channels };
}

/** Starts the `/metrics`, `/healthz`, `/livez` listener. */
export function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const host = opts.host ?? "0.0.0.0";
  const { metrics, surface, log } = opts;

  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path !== "/metrics" && path !== "/healthz" && path !== "/livez") {
      return text(404, "not found\n");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
      });
    }
    const head = req.method === "HEAD";
    try {
      if (path === "/metrics") {
        const body = await metrics.scrape();
        return new Response(head ? null : body, {
          status: 200,
          headers: { "content-type": metrics.contentType, "cache-control": "no-store" },
        });
      }
      if (path === "/livez") return json(200, { status: "alive" }, head);
      const report = healthReport(surface);
      return json(report.status === "not_ready" ? 503 : 200, report, head);
    } catch (error) {
      log.error("observability_request_failed", { path, error });
      return text(500, "internal error\n");
    }
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ port: opts.port, hostname: host, onListen: () => {} }, handler);
  } catch (error) {
    return Promise.reject(new MetricsListenError(host, opts.port, { cause: error }));
  }
  const port = server.addr.port;
  log.info("metrics_server_listening", { host, port });
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    port,
    close(): Promise<void> {
      closing ??= server.shutdown().then(() => log.info("metrics_server_closed", { port }));
      return closing;
    },
  });
}

function json(status: number, body: unknown, head: boolean): Response {
  return new Response(head ? null : JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
