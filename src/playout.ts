/**
 * Wires the engine: the channel manager (one Worker per channel), gRPC control, HTTP egress,
 * Renderer frame sinks and the metrics/health listener, from one validated configuration.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { toChannelSpec } from "./config/channel_spec.ts";
import type { ChannelConfig, PlayoutConfig } from "./config/schema.ts";
import { parsePlanHandle } from "./control/plan_handle.ts";
import { startGrpcServer } from "./control/grpc_server.ts";
import { PLAYOUT_API_VERSION } from "./config/api_version.ts";
import { ChannelManager } from "./engine/channel_manager.ts";
import { PlanStore } from "./engine/plan_store.ts";
import type { Logger } from "./observability/log.ts";
import { createPlayoutMetrics } from "./observability/metrics.ts";
import { MetricsListenError, startMetricsServer } from "./observability/health_server.ts";
import { EgressBindError, serveHttpEgress } from "./outputs/http_egress.ts";
import { FrameSink, type FrameSinkEndpoint, parseFrameSinkEndpoint } from "./outputs/frame_sink.ts";
import { ffmpegVersions } from "../ffi/mod.ts";

/** A running engine. */
export interface PlayoutHandle {
  /** Applies a new configuration to channels whose binding changed; returns their ids. */
  reload(config: PlayoutConfig): Promise<{ changedChannels: number[] }>;
  /** Stops channels and listeners and removes socket files. */
  stop(): Promise<void>;
  /** HTTP egress URLs of the channels, e.g. `http://host:8080/channel/1.ts`. */
  urls: string[];
}

/** Options beyond the config (tests, soak runs). */
export interface PlayoutOptions {
  /** Run channels on a virtual clock. */
  virtualClock?: boolean;
}

/** Starts the engine for `config`. */
export async function startPlayout(
  config: PlayoutConfig,
  log: Logger,
  opts: PlayoutOptions = {},
): Promise<PlayoutHandle> {
  const store = new PlanStore(config.state_dir);
  const persist = coalesced(async () => {
    try {
      await store.write(manager.activePlans());
    } catch (err) {
      log.error("plan_store_failed", { path: store.path, reason: (err as Error).message });
    }
  });
  const manager = new ChannelManager({
    log,
    parsePlanHandle,
    virtualClock: opts.virtualClock,
    onPlansChanged: persist,
  });
  const closers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        log.error("shutdown_step_failed", { reason: (err as Error).message });
      }
    }
    closers.length = 0;
  };

  try {
    // Control first: Core polls GetVersion right after spawning the engine.
    const grpc = await startGrpcServer({
      surface: manager,
      listen: {
        unix: config.grpc.unix_socket !== undefined
          ? { path: config.grpc.unix_socket, mode: config.grpc.unix_socket_mode }
          : undefined,
        tcp: config.grpc.tcp,
      },
      log,
      apiVersion: PLAYOUT_API_VERSION,
    });
    closers.push(() => grpc.close());
    log.info("grpc_listening", { addresses: grpc.addresses });

    let current = config;
    const egressIds = () => new Set(current.channels.filter((c) => c.http_egress).map((c) => c.id));
    const http = await optionalListener(log, "http_egress", () =>
      serveHttpEgress({
        hostname: config.http.bind,
        port: config.http.port,
        log,
        channels: {
          // Configured channels with egress off stay off HTTP; gRPC-created ones are served.
          list: () => {
            const off = new Set(current.channels.filter((c) => !c.http_egress).map((c) => c.id));
            return manager.list().filter((c) => !off.has(c.id));
          },
          fanout: (id: number) =>
            egressIds().has(id) || !current.channels.some((c) => c.id === id)
              ? manager.fanout(id)
              : undefined,
        },
      }));
    if (http) closers.push(() => http.close());

    if (config.metrics.enabled) {
      const metrics = createPlayoutMetrics({
        surface: manager,
        buildInfo: {
          version: denoJson.version,
          apiVersion: PLAYOUT_API_VERSION,
          ffmpeg: ffmpegVersions(),
        },
        log,
      });
      const server = await optionalListener(log, "metrics", () =>
        startMetricsServer({
          port: config.metrics.port,
          host: config.metrics.bind,
          metrics,
          surface: manager,
          log,
        }));
      closers.push(async () => {
        await server?.close();
        metrics.close();
      });
    }

    const sinks = new Map<number, FrameSink>();
    const applySinks = async (channels: ChannelConfig[], changed: Set<number>) => {
      for (const [id, sink] of sinks) {
        if (changed.has(id) || !channels.some((c) => c.id === id)) {
          await sink.close();
          sinks.delete(id);
        }
      }
      for (const c of channels) {
        if (!c.frame_sink.enabled || sinks.has(c.id)) continue;
        const endpoints: FrameSinkEndpoint[] = [];
        if (c.frame_sink.unix) endpoints.push({ transport: "unix", path: c.frame_sink.unix });
        if (c.frame_sink.tcp) endpoints.push(parseFrameSinkEndpoint(c.frame_sink.tcp));
        const sink = await FrameSink.open({
          channelId: c.id,
          format: toChannelSpec(c).format,
          endpoints,
          log,
        });
        sinks.set(c.id, sink);
        manager.setFrameConsumer(c.id, sink);
      }
    };
    closers.push(async () => {
      for (const sink of sinks.values()) await sink.close();
      sinks.clear();
    });
    closers.push(() => manager.close());

    const specs = config.channels.map(toChannelSpec);
    await manager.applyConfig(specs);
    await applySinks(config.channels, new Set(specs.map((s) => s.id)));
    await restorePlans(store, manager, log);

    return {
      urls: http ? egressUrls(config, http.port) : [],
      async reload(next: PlayoutConfig) {
        const changed = await manager.applyConfig(next.channels.map(toChannelSpec));
        current = next;
        await applySinks(next.channels, new Set(changed));
        return { changedChannels: changed.sort((a, b) => a - b) };
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Picks up the plans a previous run (or, after `state import`, another host) left in the
 * state directory: re-attaches Core's stream, resumes block sessions from now with the blocks
 * not yet over, restarts segment-mode plans. Each failure is logged; none stops the engine.
 */
async function restorePlans(store: PlanStore, manager: ChannelManager, log: Logger) {
  let saved;
  try {
    saved = await store.read();
  } catch (err) {
    log.error("plan_store_unreadable", { path: store.path, reason: (err as Error).message });
    return;
  }
  if (!saved) return;
  const now = Date.now();
  for (const ch of saved.channels) {
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        log.info("plan_restored", { channel: ch.id, what });
      } catch (err) {
        log.error("plan_restore_failed", { channel: ch.id, what, reason: (err as Error).message });
      }
    };
    if (ch.attached) {
      const { transport, endpoint } = ch.attached;
      await step("attach", () => manager.attachStream(ch.id, transport, endpoint, true));
    }
    const blocks = ch.blockSession?.blocks.filter((b) => b.endUtcMs > now) ?? [];
    if (ch.blockSession && blocks.length > 0) {
      const depth = ch.blockSession.maxQueueDepth;
      await step(
        "block_session",
        () => manager.startBlockSession(ch.id, blocks, now, ch.format, depth),
      );
    }
    if (ch.segmentPlan) {
      const handle = ch.segmentPlan.planHandle;
      await step("segment_plan", () => manager.startChannel(ch.id, handle, ch.format));
    }
  }
}

/** Runs `fn` after the current turn; calls while it is pending or running coalesce. */
function coalesced(fn: () => Promise<void>): () => void {
  let pending = false;
  let running = false;
  const run = async () => {
    pending = false;
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (pending) queueMicrotask(run);
    }
  };
  return () => {
    if (pending) return;
    pending = true;
    if (!running) queueMicrotask(run);
  };
}

function egressUrls(config: PlayoutConfig, port: number): string[] {
  const host = config.http.bind === "0.0.0.0" || config.http.bind === "::"
    ? Deno.hostname()
    : config.http.bind;
  return config.channels
    .filter((c) => c.http_egress)
    .map((c) => `http://${host}:${port}/channel/${c.id}.ts`);
}

/**
 * Starts a listener whose address may be taken (e.g. by a second engine that Core spawned
 * with `--port` on the embedded default). Failing to bind is logged as an error and the
 * engine runs on without it: control and the attached stream matter more than a side door.
 */
async function optionalListener<T>(
  log: Logger,
  what: string,
  start: () => T | Promise<T>,
): Promise<T | undefined> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof EgressBindError || err instanceof MetricsListenError) {
      log.error("listener_unavailable", { what, reason: err.message });
      return undefined;
    }
    throw err;
  }
}
