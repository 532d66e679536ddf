/**
 * Prometheus metrics of the playout engine (prom-client registry).
 *
 * Metrics are read from the engine's control surface: `list()` for channel states,
 * `stats(id)` for per-channel counters and gauges, `fanout(id)` for viewers. The engine reports
 * cumulative totals; they become Prometheus counters by adding the increase since the last
 * sample. A total that goes down, or a channel whose `startedAtMs` changed (a new run), counts
 * as a reset: the new total is added whole, so counters never go backwards. `restarts`,
 * attach reconnects and fan-out totals are taken to span runs and reset only when they go
 * down.
 *
 * The surface is sampled on a timer (every 250 ms by default, so no stats refresh and no batch
 * of decode-latency samples is missed) and once more before every scrape.
 *
 * Process metrics come from prom-client's defaults minus those that do not work on Deno
 * (see {@link DENO_BROKEN_DEFAULT_METRICS}); event-loop lag comes from
 * {@link EventLoopLagProbe}.
 *
 * @module
 */

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  CHANNEL_STATE_VALUE,
  type ChannelState,
  type ChannelStats,
} from "../../media/channel_status.ts";
import type { EvidenceChannelStats } from "../evidence/hub.ts";
import { EventLoopLagProbe } from "./event_loop_lag.ts";
import { Logger } from "../log/log.ts";
import { RateLimitedLog } from "../log/log_limiter.ts";

/** What metrics read of a channel: a structural subset of `ChannelInfo`. */
export interface MetricsChannelInfo {
  id: number;
  name: string;
  state: ChannelState;
  startedAtMs: number | undefined;
  mode: string;
}

/** What metrics read of a channel's stats: the engine's {@link ChannelStats}. */
export type MetricsChannelStats = ChannelStats;

/** What metrics read of a channel's TS fan-out. */
export interface FanoutCounters {
  /** Viewers connected now. */
  readonly viewerCount: number;
  /** Viewers disconnected for falling behind, total. */
  readonly viewersDropped: number;
  /** TS bytes written to viewers, total. */
  readonly bytesOut?: number;
}

/** The read-only part of the control surface that metrics use. */
export interface MetricsSource {
  /** Channels known to the engine. */
  list(): readonly MetricsChannelInfo[];
  /** Latest stats of a channel, or undefined. */
  stats(id: number): MetricsChannelStats | undefined;
  /** The channel's fan-out, or undefined. */
  fanout(id: number): FanoutCounters | undefined;
}

/** FFmpeg libraries named in `retrovue_playout_build_info` (label `lib<name>`). */
export const FFMPEG_LIBRARIES = [
  "avformat",
  "avcodec",
  "avutil",
  "swscale",
  "swresample",
  "avfilter",
] as const;
/** One of {@link FFMPEG_LIBRARIES}. */
export type FfmpegLibrary = typeof FFMPEG_LIBRARIES[number];

/** Versions reported by `retrovue_playout_build_info` (Deno's own are read here). */
export interface BuildInfo {
  /** Engine version, e.g. "0.1.0". */
  version: string;
  /** PLAYOUT_API_VERSION of the gRPC contract, e.g. "1.0.0". */
  apiVersion: string;
  /**
   * FFmpeg library versions as "major.minor.micro" (the shape of `ffmpegVersions()` in
   * ffi/library.ts); missing ones read "unknown".
   */
  ffmpeg: Partial<Record<FfmpegLibrary, string>>;
}

/**
 * prom-client default metrics removed from the registry because they do not work on Deno:
 * - `nodejs_eventloop_lag_*`: `perf_hooks.monitorEventLoopDelay` does not see a blocked loop
 *   (a 300 ms busy loop reads as microseconds); replaced by
 *   `retrovue_playout_event_loop_lag_seconds` and `..._max_seconds`;
 * - `nodejs_active_{handles,requests,resources}` (and `_total`): Deno has no libuv handles to
 *   report, and the `_total` gauges fail `promtool check metrics`;
 * - `nodejs_gc_duration_seconds`: GC performance entries are never emitted on Deno;
 * - `nodejs_version_info`: reports Deno's Node-compat version; Deno's own version is a label
 *   of `retrovue_playout_build_info`.
 */
export const DENO_BROKEN_DEFAULT_METRICS: readonly string[] = Object.freeze([
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_min_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_eventloop_lag_mean_seconds",
  "nodejs_eventloop_lag_stddev_seconds",
  "nodejs_eventloop_lag_p50_seconds",
  "nodejs_eventloop_lag_p90_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_active_resources",
  "nodejs_active_resources_total",
  "nodejs_gc_duration_seconds",
  "nodejs_version_info",
]);

/** Options of {@link createPlayoutMetrics}. */
export interface PlayoutMetricsOptions {
  /** The engine's control surface (read-only use). */
  surface: MetricsSource;
  /** Versions for `retrovue_playout_build_info`. */
  buildInfo: BuildInfo;
  /** Where sampling errors are logged (rate-limited). Default: a JSON logger on stdout. */
  log?: Logger;
  /** Period of background sampling, ms; 0 samples only on scrape. Default 250. */
  sampleIntervalMs?: number;
  /** Include process metrics and the event-loop lag probe. Default true. */
  processMetrics?: boolean;
  /** The as-run evidence layer, for its per-channel counters. */
  evidence?: EvidenceMetricsSource;
}

/** Per-channel evidence counters, as `src/evidence/hub.ts` reports them. */
export interface EvidenceMetricsSource {
  stats(): Omit<EvidenceChannelStats, "sessionsOpen">[];
}

type ChannelLabel = "channel";
type EvidenceLabel = "channel" | "channel_id";
type StatCounter = keyof Pick<
  MetricsChannelStats,
  | "framesOut"
  | "framesDecoded"
  | "framesDropped"
  | "framesDuplicated"
  | "fallbackFrames"
  | "padFrames"
  | "bufferUnderruns"
  | "decodeFailures"
  | "assetTransitions"
  | "planUpdates"
  | "tsBytesOut"
  | "framesRepeated"
  | "framesLate"
  | "tsPicturesLost"
  | "framesShared"
>;

/** Per-run totals of ChannelStats and the counters they feed. */
const STAT_COUNTERS: ReadonlyArray<{ stat: StatCounter; name: string; help: string }> = [
  {
    stat: "framesDecoded",
    name: "retrovue_playout_frames_decoded_total",
    help: "Source video frames decoded.",
  },
  {
    stat: "framesDropped",
    name: "retrovue_playout_frames_dropped_total",
    help: "Source frames dropped by frame-rate conversion.",
  },
  {
    stat: "framesDuplicated",
    name: "retrovue_playout_frames_duplicated_total",
    help: "Output frames repeated from the previous source frame by frame-rate conversion.",
  },
  {
    stat: "framesOut",
    name: "retrovue_playout_frames_output_total",
    help: "Program frames released to the encoder.",
  },
  {
    stat: "fallbackFrames",
    name: "retrovue_playout_fallback_frames_total",
    help: "Output frames where the source ran short or failed and a held frame or black stood in.",
  },
  {
    stat: "padFrames",
    name: "retrovue_playout_pad_frames_total",
    help: "Output frames of planned PAD segments (black and silence by design).",
  },
  {
    stat: "bufferUnderruns",
    name: "retrovue_playout_buffer_underrun_total",
    help: "Times the frame buffer ran empty when a frame was due.",
  },
  {
    stat: "decodeFailures",
    name: "retrovue_playout_decode_failure_count",
    help: "Decode failures (assets that could not be opened or decoded), total.",
  },
  {
    stat: "assetTransitions",
    name: "retrovue_playout_asset_transitions_total",
    help: "Transitions from one asset to the next on the output.",
  },
  {
    stat: "planUpdates",
    name: "retrovue_playout_plan_updates_total",
    help: "Plan updates and fed blocks accepted.",
  },
  {
    stat: "tsBytesOut",
    name: "retrovue_playout_ts_bytes_total",
    help: "MPEG-TS bytes produced by the channel's muxer.",
  },
  {
    stat: "framesRepeated",
    name: "retrovue_playout_frames_repeated_total",
    help: "Output frames that repeated the picture on air because theirs was not made in time.",
  },
  {
    stat: "framesLate",
    name: "retrovue_playout_frames_late_total",
    help: "Output frames released more than one frame duration after their due time.",
  },
  {
    stat: "tsPicturesLost",
    name: "retrovue_playout_ts_pictures_lost_total",
    help:
      "Pictures made that never reached the TS (dropped where the encoder stepped down or up); the TS holds the picture before.",
  },
  {
    stat: "framesShared",
    name: "retrovue_playout_frames_shared_total",
    help:
      "Output frames copied from another channel's decode of the same file (shared sources) instead of decoded by this channel.",
  },
];

/** Buckets of the decode latency histogram, seconds per frame. */
const DECODE_LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.02,
  0.0334,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
];
/** Buckets of the event-loop lag histogram, seconds. */
const EVENT_LOOP_LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface TotalMark {
  run: number | undefined;
  total: number;
}

/** The playout engine's metrics: a registry fed from the control surface. */
export class PlayoutMetrics {
  /** The prom-client registry (serve with {@link PlayoutMetrics.scrape}). */
  readonly registry: Registry = new Registry();
  /** Content type of {@link PlayoutMetrics.scrape}: `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string = this.registry.contentType;

  readonly #surface: MetricsSource;
  readonly #errors: RateLimitedLog;
  readonly #totals = new Map<string, TotalMark>();
  readonly #latencyBatches = new Map<string, readonly number[]>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lagProbe: EventLoopLagProbe | undefined;

  // Snapshot gauges: rebuilt from scratch on every sample.
  readonly #state: Gauge<ChannelLabel | "state">;
  readonly #info: Gauge<ChannelLabel | "name" | "mode">;
  readonly #uptime: Gauge<ChannelLabel>;
  readonly #bufferDepth: Gauge<ChannelLabel>;
  readonly #frameGap: Gauge<ChannelLabel>;
  readonly #lag: Gauge<ChannelLabel>;
  readonly #encodeFps: Gauge<ChannelLabel>;
  readonly #decimation: Gauge<ChannelLabel>;
  readonly #boundaryError: Gauge<ChannelLabel>;
  readonly #viewers: Gauge<ChannelLabel>;
  readonly #snapshots: Gauge<string>[];

  // Counters fed from totals.
  readonly #statCounters: { stat: StatCounter; counter: Counter<ChannelLabel> }[];
  readonly #selfCheck: Counter<ChannelLabel | "check">;
  readonly #restarts: Counter<ChannelLabel>;
  readonly #attachReconnects: Counter<ChannelLabel>;
  readonly #sinkSent: Counter<ChannelLabel>;
  readonly #sinkDropped: Counter<ChannelLabel>;
  readonly #sinkReaders: Gauge<ChannelLabel>;
  readonly #viewersDropped: Counter<ChannelLabel>;
  readonly #egressBytes: Counter<ChannelLabel>;
  // As-run evidence, per channel.
  readonly #evidence: EvidenceMetricsSource | undefined;
  readonly #evidenceCounters: {
    stat: "eventsSpooled" | "eventsSent" | "eventsAcked" | "eventsRefused";
    counter: Counter<EvidenceLabel>;
  }[];
  readonly #evidenceSpoolBytes: Gauge<EvidenceLabel>;
  readonly #evidenceConnected: Gauge<EvidenceLabel>;
  readonly #decodeLatency: Histogram<ChannelLabel>;

  constructor(opts: PlayoutMetricsOptions) {
    this.#surface = opts.surface;
    this.#errors = new RateLimitedLog(opts.log ?? new Logger(), { limit: 1, windowMs: 60_000 });
    const registers = [this.registry];
    const channel = ["channel"] as const;
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers });

    const build = new Gauge({
      name: "retrovue_playout_build_info",
      help: "Versions of the engine, its gRPC contract, Deno and the FFmpeg libraries (value 1).",
      labelNames: [
        "version",
        "api_version",
        "deno_version",
        "v8_version",
        ...FFMPEG_LIBRARIES.map((lib) => `lib${lib}`),
      ],
      registers,
    });
    const b = opts.buildInfo;
    build.set({
      version: b.version,
      api_version: b.apiVersion,
      deno_version: Deno.version.deno,
      v8_version: Deno.version.v8,
      ...Object.fromEntries(
        FFMPEG_LIBRARIES.map((lib) => [`lib${lib}`, b.ffmpeg[lib] ?? "unknown"]),
      ),
    }, 1);

    this.#state = gauge(
      "retrovue_playout_channel_state",
      "Channel state: 0 stopped, 1 buffering, 2 ready, 3 error; the state label names it.",
      ["channel", "state"],
    );
    this.#info = gauge(
      "retrovue_playout_channel_info",
      "Channel name and mode (value 1).",
      ["channel", "name", "mode"],
    );
    this.#uptime = gauge(
      "retrovue_playout_channel_uptime_seconds",
      "Seconds since the channel's pipeline started; 0 while stopped or in error.",
      channel,
    );
    this.#bufferDepth = gauge(
      "retrovue_playout_buffer_depth_frames",
      "Frames decoded ahead of the output.",
      channel,
    );
    this.#frameGap = gauge(
      "retrovue_playout_frame_gap_seconds",
      "Largest gap between two frame releases in the last stats interval.",
      channel,
    );
    this.#lag = gauge(
      "retrovue_playout_wallclock_lag_seconds",
      "How far the output is behind the wall clock (negative: ahead).",
      channel,
    );
    this.#encodeFps = gauge(
      "retrovue_playout_encode_fps",
      "Frames encoded per second, recent rate.",
      channel,
    );
    this.#decimation = gauge(
      "retrovue_playout_picture_decimation",
      "Output frames per new picture (1: every frame; more while the channel sheds work).",
      channel,
    );
    this.#boundaryError = gauge(
      "retrovue_playout_segment_boundary_error_seconds",
      "Error of the last segment boundary against its planned time (positive: late).",
      channel,
    );
    this.#viewers = gauge(
      "retrovue_playout_viewers_connected",
      "HTTP viewers connected to the channel's TS stream.",
      channel,
    );
    this.#snapshots = [
      this.#state,
      this.#info,
      this.#uptime,
      this.#bufferDepth,
      this.#frameGap,
      this.#lag,
      this.#encodeFps,
      this.#decimation,
      this.#boundaryError,
      this.#viewers,
    ] as Gauge<string>[];

    this.#statCounters = STAT_COUNTERS.map(({ stat, name, help }) => ({
      stat,
      counter: counter(name, help, channel),
    }));
    this.#selfCheck = counter(
      "retrovue_playout_ts_selfcheck_errors_total",
      "Errors found by the output's own TS check: check=cc (continuity) or pcr (PCR timing).",
      ["channel", "check"],
    );
    this.#restarts = counter(
      "retrovue_playout_restart_total",
      "Times the channel's pipeline was restarted after a failure.",
      channel,
    );
    this.#attachReconnects = counter(
      "retrovue_playout_attach_reconnects_total",
      "Times the attached stream (Core's socket) was reconnected.",
      channel,
    );
    this.#sinkSent = counter(
      "retrovue_playout_frame_sink_frames_sent_total",
      "Program frames written to Renderer frame-sink readers (per reader).",
      channel,
    );
    this.#sinkDropped = counter(
      "retrovue_playout_frame_sink_frames_dropped_total",
      "Whole frames a slow Renderer reader lost (per reader).",
      channel,
    );
    this.#sinkReaders = gauge(
      "retrovue_playout_frame_sink_readers",
      "Renderer readers connected to the channel's frame sink.",
      channel,
    );
    this.#viewersDropped = counter(
      "retrovue_playout_viewers_dropped_total",
      "Viewers disconnected for falling behind the stream.",
      channel,
    );
    this.#egressBytes = counter(
      "retrovue_playout_egress_bytes_total",
      "TS bytes written to HTTP viewers.",
      channel,
    );
    this.#evidence = opts.evidence;
    const evidenceLabels: EvidenceLabel[] = ["channel", "channel_id"];
    this.#evidenceCounters = ([
      ["eventsSpooled", "spooled", "As-run evidence events written to the channel's spool."],
      ["eventsSent", "sent", "As-run evidence events sent to Core (replays count again)."],
      ["eventsAcked", "acked", "As-run evidence events Core acked as durable."],
      [
        "eventsRefused",
        "refused",
        "As-run events not spooled because the session ended on a full spool (EVIDENCE_SPOOL_FULL).",
      ],
    ] as const).map(([stat, name, help]) => ({
      stat,
      counter: counter(`retrovue_playout_evidence_events_${name}_total`, help, evidenceLabels),
    }));
    this.#evidenceSpoolBytes = gauge(
      "retrovue_playout_evidence_spool_bytes",
      "Bytes of the channel's evidence spools not yet acked to their end by Core.",
      evidenceLabels,
    );
    this.#evidenceConnected = gauge(
      "retrovue_playout_evidence_streams_connected",
      "Evidence streams to Core that are up (past Hello).",
      evidenceLabels,
    );
    this.#decodeLatency = new Histogram({
      name: "retrovue_playout_decode_latency_seconds",
      help: "Decode work per source frame.",
      labelNames: channel,
      buckets: DECODE_LATENCY_BUCKETS,
      registers,
    });

    if (opts.processMetrics ?? true) this.#startProcessMetrics();
    const every = opts.sampleIntervalMs ?? 250;
    if (every > 0) {
      const timer = setInterval(() => this.#sampleLogged(), every);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Reads the control surface now and updates every channel metric. */
  sample(): void {
    const snapshots = this.#snapshots;
    for (const g of snapshots) g.reset();
    const nowMs = Date.now();
    for (const info of this.#surface.list()) {
      const channel = String(info.id);
      const labels = { channel };
      this.#state.set({ channel, state: info.state }, CHANNEL_STATE_VALUE[info.state]);
      this.#info.set({ channel, name: info.name, mode: info.mode }, 1);
      const running =
        (info.state === "ready" || info.state === "degraded" || info.state === "buffering") &&
        info.startedAtMs !== undefined;
      this.#uptime.set(labels, running ? Math.max(0, (nowMs - info.startedAtMs!) / 1000) : 0);

      const stats = this.#surface.stats(info.id);
      if (stats !== undefined) this.#sampleStats(channel, info.startedAtMs, stats);
      const fanout = this.#surface.fanout(info.id);
      if (fanout !== undefined) {
        this.#viewers.set(labels, fanout.viewerCount);
        this.#advance(this.#viewersDropped, labels, "viewersDropped", fanout.viewersDropped);
        if (fanout.bytesOut !== undefined) {
          this.#advance(this.#egressBytes, labels, "egressBytes", fanout.bytesOut);
        }
      }
    }
    this.#sampleEvidence();
  }

  #sampleEvidence(): void {
    for (const e of this.#evidence?.stats() ?? []) {
      const labels = { channel: String(e.channel), channel_id: e.channelId };
      for (const { stat, counter } of this.#evidenceCounters) {
        this.#advance(counter, labels, `evidence_${stat}`, e[stat]);
      }
      this.#evidenceSpoolBytes.set(labels, e.spoolBytes);
      this.#evidenceConnected.set(labels, e.sessionsConnected);
    }
  }

  /** Samples, then returns the registry in the Prometheus text format 0.0.4. */
  scrape(): Promise<string> {
    this.sample();
    return this.registry.metrics();
  }

  /** Stops background sampling and the event-loop probe; writes pending log summaries. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lagProbe?.stop();
    this.#lagProbe = undefined;
    this.#errors.flush();
  }

  #sampleLogged(): void {
    try {
      this.sample();
    } catch (error) {
      this.#errors.error("metrics_sample_failed", { error });
    }
  }

  #sampleStats(channel: string, run: number | undefined, stats: MetricsChannelStats): void {
    const labels = { channel };
    this.#bufferDepth.set(labels, stats.bufferDepthFrames);
    this.#frameGap.set(labels, stats.frameGapSeconds);
    this.#lag.set(labels, stats.lagSeconds);
    this.#encodeFps.set(labels, stats.encodeFps);
    this.#decimation.set(labels, stats.pictureDecimation);
    this.#boundaryError.set(labels, stats.segmentBoundaryErrorMs / 1000);

    for (const { stat, counter } of this.#statCounters) {
      this.#advance(counter, labels, stat, stats[stat], run);
    }
    this.#advance(this.#selfCheck, { channel, check: "cc" }, "cc", stats.tsSelfCheckCcErrors, run);
    this.#advance(
      this.#selfCheck,
      { channel, check: "pcr" },
      "pcr",
      stats.tsSelfCheckPcrErrors,
      run,
    );
    this.#advance(this.#restarts, labels, "restarts", stats.restarts);
    if (stats.attachReconnects !== undefined) {
      this.#advance(this.#attachReconnects, labels, "attachReconnects", stats.attachReconnects);
    }
    if (stats.frameSink !== undefined) {
      this.#advance(this.#sinkSent, labels, "sinkSent", stats.frameSink.framesSent);
      this.#advance(this.#sinkDropped, labels, "sinkDropped", stats.frameSink.framesDropped);
      this.#sinkReaders.set(labels, stats.frameSink.readers);
    }

    const batch = stats.decodeLatencySamples;
    const last = this.#latencyBatches.get(channel);
    if (last === undefined) this.#decodeLatency.zero(labels); // series exist before samples do
    if (last === undefined || !sameSamples(last, batch)) {
      this.#latencyBatches.set(channel, batch);
      for (const s of batch) {
        if (Number.isFinite(s) && s >= 0) this.#decodeLatency.observe(labels, s);
      }
    }
  }

  /**
   * Adds the increase of a cumulative `total` to `counter`. With a `run` id, a changed run
   * resets the baseline; without, only a total that went down does.
   */
  #advance<L extends string>(
    counter: Counter<L>,
    labels: Record<L, string>,
    what: string,
    total: number,
    run?: number,
  ): void {
    if (!Number.isFinite(total) || total < 0) return;
    const key = `${what}\u0000${Object.values(labels).join("\u0000")}`;
    const mark = this.#totals.get(key);
    let delta: number;
    if (mark === undefined) delta = total;
    else if (run !== undefined && mark.run !== undefined && run !== mark.run) delta = total;
    else if (total < mark.total) delta = total;
    else delta = total - mark.total;
    this.#totals.set(key, { run: run ?? mark?.run, total });
    counter.inc(labels, delta);
  }

  #startProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
    for (const name of DENO_BROKEN_DEFAULT_METRICS) this.registry.removeSingleMetric(name);

    const registers = [this.registry];
    const lagHistogram = new Histogram({
      name: "retrovue_playout_event_loop_lag_seconds",
      help: "How late a 100 ms timer on the main thread fired.",
      buckets: EVENT_LOOP_LAG_BUCKETS,
      registers,
    });
    const window = { maxLag: 0 };
    new Gauge({
      name: "retrovue_playout_event_loop_lag_max_seconds",
      help: "Largest event-loop lag since the previous scrape.",
      registers,
      collect(this: Gauge) {
        this.set(window.maxLag);
        window.maxLag = 0;
      },
    });
    this.#lagProbe = new EventLoopLagProbe({
      intervalMs: 100,
      onSample: (lag) => {
        lagHistogram.observe(lag);
        if (lag > window.maxLag) window.maxLag = lag;
      },
    });
    this.#lagProbe.start();
  }
}

/** Creates the engine's metrics registry fed from `surface`. Call `close()` on shutdown. */
export function createPlayoutMetrics(opts: PlayoutMetricsOptions): PlayoutMetrics {
  return new PlayoutMetrics(opts);
}

function sameSamples(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
