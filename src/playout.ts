/**
 * Wires the engine: the channel manager (one Worker per channel), gRPC control, HTTP egress,
 * Renderer frame sinks and the metrics/health listener, from one validated configuration.
 *
 * Listener policy (one rule for gRPC, HTTP egress, metrics/health and frame sinks): every
 * listener the configuration asks for is required at start. If one cannot bind, startup
 * fails with an error naming the listener and its address (`startup_failed`, exit 1) before
 * the engine reports ready — so a running engine always has `/healthz`, and an operator sees
 * a missing listener as a failed unit (systemd restarts it with backoff). Once running, no
 * bind failure stops the engine: a frame sink that a SIGHUP adds or changes and that cannot
 * bind is logged (`listener_unavailable`), its channel runs on without it, and the next
 * SIGHUP tries again. Conflicts inside one configuration are refused by `--check-config`.
 * (The Core-managed mode asks for no HTTP egress and a free metrics port, so engines side by
 * side never collide.)
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
import { ChannelOutputSet } from "./outputs/channel_output_set.ts";
import { type ChannelPlanState, PlanStore } from "./engine/plan_store.ts";
import { PlanRestore } from "./engine/plan_restore.ts";
import { instanceName } from "./config/instance.ts";
import { type MetricsTarget, publishMetricsTarget } from "./observability/metrics_targets.ts";
import { processControls } from "../ffi/process.ts";
import { EvidenceHub } from "./evidence/hub.ts";
import type { Logger } from "./log/log.ts";
import { createPlayoutMetrics } from "./observability/metrics.ts";
import { startMetricsServer } from "./observability/health_server.ts";
import { serveHttpEgress } from "./outputs/http_egress.ts";
import { loadDeviceId } from "./outputs/tuner_identity.ts";
import { parsePublicUrl } from "./endpoints/public_url.ts";
import {
  FrameSink,
  type FrameSinkEndpoint,
  FrameSinkListenError,
  parseFrameSinkEndpoint,
} from "./outputs/frame_sink.ts";
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

/** Options beyond the config. */
export interface PlayoutOptions {
  /** Run channels on a virtual clock (tests, soak runs). */
  virtualClock?: boolean;
  /**
   * Instance name (`src/config/instance.ts`): keys the plan store file and the metrics
   * target file. Default: derived from `config`.
   */
  instance?: string;
  /** Serve HTTP egress (default true; off in the Core-managed mode). */
  httpEgress?: boolean;
  /**
   * Store active plans and restore them at start (default true). Off in the Core-managed
   * mode: Core re-seeds an engine it restarts (`docs/core-managed.md`).
   */
  persistPlans?: boolean;
  /** Directory to publish a Prometheus file_sd target file in (default: none). */
  metricsTargetsDir?: string;
}

/** Starts the engine for `config`. */
export async function startPlayout(
  config: PlayoutConfig,
  log: Logger,
  opts: PlayoutOptions = {},
): Promise<PlayoutHandle> {
  const instance = opts.instance ?? instanceName(config);
  const persistPlans = opts.persistPlans ?? true;
  const store = new PlanStore(config.state_dir, instance);
  const persist = coalesced(async () => {
    if (!persistPlans) return;
    try {
      const active = manager.activePlans();
      const waiting = restore.pending().filter((p) => !active.some((a) => a.id === p.id));
      await store.write([...active, ...waiting].sort((a, b) => a.id - b.id));
    } catch (err) {
      log.error("plan_store_failed", { path: store.path, reason: (err as Error).message });
    }
  });
  const evidence = new EvidenceHub({
    stateDir: config.state_dir,
    log,
    maxSpoolBytesPerChannel: config.evidence.spool_max_bytes_per_channel,
    onSpoolFull: (channel) => {
      manager.stopBlockSession(channel, "EVIDENCE_SPOOL_FULL").catch((err) =>
        log.error("evidence_session_stop_failed", { channel, reason: (err as Error).message })
      );
    },
  });
  const manager = new ChannelManager({
    log,
    outputs: (id) => new ChannelOutputSet({ channelId: id, log }),
    parsePlanHandle,
    virtualClock: opts.virtualClock,
    onPlansChanged: persist,
    evidence,
  });
  const restore = new PlanRestore({ manager, log, onPendingChanged: persist });
  const saved = persistPlans ? await readStoredPlans(store, log) : [];
  // Before control opens: a call for a channel being restored waits for its restore.
  restore.hold(saved);
  const closers: (() => Promise<void>)[] = [() => Promise.resolve(restore.close())];
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
    // Spools of earlier runs are offered to Core again (in the background).
    closers.push(() => evidence.close());
    evidence.start().catch((err) => log.error("evidence_recovery_failed", { error: err }));
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
    // Viewer-facing HTTP (and the tuner identity it presents) only where viewers are served.
    const device = opts.httpEgress === false
      ? undefined
      : await loadDeviceId(config.state_dir, config.tuner.device_id);
    if (device?.source === "unsaved") {
      log.warn("device_id_unsaved", { device_id: device.id, reason: device.reason });
    } else if (device) {
      log.info("device_id", { device_id: device.id, source: device.source, path: device.path });
    }
    const http = device === undefined ? undefined : await serveHttpEgress({
      hostname: config.http.bind,
      port: config.http.port,
      log,
      deviceId: device.id,
      deviceName: config.tuner.friendly_name,
      tunerCount: config.tuner.tuner_count,
      publicUrl: config.http.public_url,
      hls: {
        enabled: config.hls.enabled,
        gopsPerSegment: config.hls.segment_gops,
        window: config.hls.window,
      },
      generator: `retrovue-playout ${denoJson.version}`,
      channels: {
        // Configured channels with egress off stay off HTTP; gRPC-created ones are served.
        list: () => {
          const configured = new Map(current.channels.map((c) => [c.id, c]));
          return manager.list().flatMap((info) => {
            const c = configured.get(info.id);
            if (c && !c.http_egress) return [];
            return [{
              id: info.id,
              name: info.name,
              number: c?.number,
              logo: c?.logo,
              group: c?.group,
              state: info.state,
              stateReason: info.stateReason,
              videoCodec: c?.video.codec,
              audioCodec: c?.audio.codec,
              height: info.format.height,
            }];
          });
        },
        fanout: (id: number) =>
          egressIds().has(id) || !current.channels.some((c) => c.id === id)
            ? manager.outputs(id)?.fanout
            : undefined,
        guide: (id: number, from: number, to: number) => manager.guide(id, from, to),
      },
    });
    if (http) closers.push(() => http.close());

    if (config.metrics.enabled) {
      const metrics = createPlayoutMetrics({
        surface: {
          list: () => manager.list(),
          stats: (id) => manager.stats(id),
          fanout: (id) => manager.outputs(id)?.fanout,
        },
        evidence,
        buildInfo: {
          version: denoJson.version,
          apiVersion: PLAYOUT_API_VERSION,
          ffmpeg: ffmpegVersions(),
        },
        log,
      });
      let server;
      try {
        server = await startMetricsServer({
          port: config.metrics.port,
          host: config.metrics.bind,
          metrics,
          surface: manager,
          log,
        });
      } catch (err) {
        metrics.close();
        throw err;
      }
      const target = opts.metricsTargetsDir !== undefined
        ? await publishTarget(opts.metricsTargetsDir, instance, config, server.port, log)
        : undefined;
      closers.push(async () => {
        await target?.remove();
        await server.close();
        metrics.close();
      });
    }

    const sinks = new Map<number, FrameSink>();
    /** Opens missing sinks; `required` (at start) makes a bind failure fatal. */
    const applySinks = async (
      channels: ChannelConfig[],
      changed: Set<number>,
      required: boolean,
    ) => {
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
        let sink: FrameSink;
        try {
          sink = await FrameSink.open({
            channelId: c.id,
            format: toChannelSpec(c).format,
            endpoints,
            log,
          });
        } catch (err) {
          if (required || !(err instanceof FrameSinkListenError)) throw err;
          log.error("listener_unavailable", {
            listener: "frame_sink",
            channel: c.id,
            reason: err.message,
            retry: "at the next SIGHUP",
          });
          continue;
        }
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
    await applySinks(config.channels, new Set(specs.map((s) => s.id)), true);
    await restore.start(saved);

    return {
      urls: http ? egressUrls(config, http.port) : [],
      async reload(next: PlayoutConfig) {
        const changed = await manager.applyConfig(next.channels.map(toChannelSpec));
        // A sink is reopened when its channel restarted or its own settings changed.
        const sinkChanged = new Set(changed);
        for (const c of next.channels) {
          const before = current.channels.find((p) => p.id === c.id);
          if (before && JSON.stringify(before.frame_sink) !== JSON.stringify(c.frame_sink)) {
            sinkChanged.add(c.id);
          }
        }
        current = next;
        await applySinks(next.channels, sinkChanged, false);
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
 * The plans a previous run of this instance (or, after `state import`, another host) left in
 * the state directory; none when the file is missing or unreadable (logged).
 */
async function readStoredPlans(store: PlanStore, log: Logger): Promise<ChannelPlanState[]> {
  try {
    return (await store.read())?.channels ?? [];
  } catch (err) {
    log.error("plan_store_unreadable", { path: store.path, reason: (err as Error).message });
    return [];
  }
}

/**
 * Publishes the metrics listener as a Prometheus file_sd target. A failure is logged; the
 * engine runs on (its metrics are still served, only not discovered).
 */
async function publishTarget(
  dir: string,
  instance: string,
  config: PlayoutConfig,
  port: number,
  log: Logger,
): Promise<MetricsTarget | undefined> {
  const bind = config.metrics.bind;
  const host = bind === "0.0.0.0" || bind === "::" ? "127.0.0.1" : bind;
  try {
    const controls = processControls();
    return await publishMetricsTarget({
      dir,
      instance,
      address: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`,
      labels: {
        grpc_endpoint: [config.grpc.unix_socket, ...config.grpc.tcp].filter((a) => a !== undefined)
          .join(","),
      },
      processExists: (pid) => controls.processExists(pid),
      log,
    });
  } catch (err) {
    log.error("metrics_target_failed", { dir, reason: (err as Error).message });
    return undefined;
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
  const url = parsePublicUrl(config.http.public_url);
  const base = url?.origin !== undefined
    ? url.origin + url.prefix
    : `http://${host}:${port}${url?.prefix ?? ""}`;
  return config.channels
    .filter((c) => c.http_egress)
    .map((c) => `${base}/channel/${c.id}.ts`);
}
