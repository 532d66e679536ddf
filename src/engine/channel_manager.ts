/**
 * The registry of an engine's channels: reconciles configured channels, routes control calls
 * to each channel's {@link ChannelHandle} (the only speaker of the worker protocol), feeds the
 * handle's events to the channel's {@link ChannelOutputs} and keeps what `list()`, health and
 * the plan store need. Implements the engine's {@link ControlSurface}.
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import { RateLimitedLog } from "../log/log_limiter.ts";
import { type LogEventName, RATE_LIMITED_EVENTS } from "../log/log_events.ts";
import type { ChannelSpec } from "../../media/channel_spec.ts";
import { defaultEncoders } from "../../media/encoder_settings.ts";
import type { BlockSessionState } from "./channel_protocol.ts";
import { ChannelHandle, type ChannelWorkerEvents } from "./channel_handle.ts";
import type {
  ChannelFrameConsumer,
  ChannelOutputs,
  ChannelOutputsFactory,
} from "./channel_outputs.ts";
import type {
  ChannelInfo,
  ChannelState,
  ChannelStats,
  StreamTransport,
} from "../../media/channel_status.ts";
import {
  ControlError,
  type ControlSurface,
  type PreviewResult,
  type SwitchResult,
} from "./control_surface.ts";
import type { BlockEvent, BlockPlan, SegmentItem } from "./plan.ts";
import {
  checkCanAttach,
  checkCanStartBlockSession,
  checkContiguous,
  checkStartedBySegment,
} from "./control_rules.ts";
import { DEFAULT_PROGRAM_FORMAT, type ProgramFormat } from "../../media/program_format.ts";
import type { ChannelPlanState } from "./plan_store.ts";
import type { GuideSlot } from "./guide.ts";
import type { EvidenceSessions } from "./evidence_sessions.ts";
import { availableCores, channelThreads } from "./thread_policy.ts";
import { setSharingChannels } from "./producers/shared_source.ts";

/** Turns a segment-mode plan handle into items (a plan file or a single asset). */
export type PlanHandleParser = (handle: string) => Promise<SegmentItem[]>;

/** Options of a {@link ChannelManager}. */
export interface ChannelManagerOptions<O extends ChannelOutputs = ChannelOutputs> {
  log: Logger;
  /** Makes each channel's outputs (TS fan-out, attach link, frame sink); `main` wires them. */
  outputs: ChannelOutputsFactory<O>;
  /** Parses segment-mode plan handles. */
  parsePlanHandle: PlanHandleParser;
  /** Run channels on a virtual clock (tests, soak runs). */
  virtualClock?: boolean;
  /** Production lead over the wall clock, ms. */
  leadMs?: number;
  /** Told whenever what a channel plays changes (to persist {@link ChannelManager.activePlans}). */
  onPlansChanged?: () => void;
  /** The as-run evidence layer; without it `evidence_endpoint` is refused. */
  evidence?: EvidenceSessions;
  /** How long a control call may wait for the channel's worker, ms (default 5000). */
  callTimeoutMs?: number;
  /** How long a stopping worker may take to free everything before it is terminated, ms. */
  stopGraceMs?: number;
  /** A running worker silent this long is failed and restarted, ms (default 15 000). */
  workerSilenceTimeoutMs?: number;
  /**
   * Starts a channel worker (default: `channel_worker.ts`). What it starts must speak the worker
   * protocol of `channel_protocol.ts`; tests use stand-ins that wrap the real worker (e.g. one
   * whose output fails mid-session) to drive the manager's failure paths. A factory, not a URL,
   * so the program's own `new Worker(...)` stays one the packager can follow.
   */
  createWorker?: () => Worker;
  /** Cores the channels share, for the thread policy (default: this machine's). */
  cores?: number;
}

interface Channel<O extends ChannelOutputs> {
  id: number;
  name: string;
  /** From config (kept across sessions) or created by a control call. */
  configured: ChannelSpec | undefined;
  spec: ChannelSpec | undefined;
  state: ChannelState;
  reason: string;
  mode: ChannelInfo["mode"];
  /** Meant to be on air: a configured source, or started by a control call and not stopped. */
  meantOnAir: boolean;
  /** The source has nothing playable (every item unplayable); set by the worker. */
  nothingPlayable: string | undefined;
  /** The only speaker of the worker protocol for this channel. */
  handle: ChannelHandle;
  /** The worker says the channel cannot make every picture in time. */
  degraded: { reason: string } | undefined;
  startedAtMs: number | undefined;
  outputs: O;
  stats: ChannelStats | undefined;
  restarts: number;
  listeners: Set<(e: BlockEvent) => void>;
  /** The block session as the runner last reported it (for the plan store). */
  session: BlockSessionState | undefined;
  /** The last plan handle of segment mode. */
  planHandle: string | undefined;
  /** Evidence sessions whose as-run record is not complete yet. */
  evidenceSessions: Set<string>;
  log: Logger;
}

/** How long shutdown waits for an attach link to write the stream's tail, ms. */
const ATTACH_DRAIN_MS = 1000;
/**
 * How long standalone channels started together wait, once the first is ready, for the rest
 * before they run (one whose worker is slow to start then runs on its own), ms.
 */
const TOGETHER_WAIT_MS = 3000;

/** State reason of a configured `type = "none"` channel that no control call started yet. */
export const IDLE_REASON = "idle: waiting for a control call";
/** State reason of a channel stopped by StopChannel / StopBlockPlanSession. */
export const STOPPED_BY_CONTROL_REASON = "stopped by control";

/** Owns the channels of one engine process. */
/** Owns the channels of one engine process. */
export class ChannelManager<O extends ChannelOutputs = ChannelOutputs> implements ControlSurface {
  #opts: ChannelManagerOptions<O>;
  #log: Logger;
  #channels = new Map<number, Channel<O>>();
  #limited: RateLimitedLog;
  #closing = false;
  /**
   * Stops in progress, whichever path started them (shutdown, StopBlockPlanSession in the
   * background, a failed worker retiring, a restart): {@link close} waits for all of them, so
   * the process never ends while a worker still owns FFmpeg objects or is inside FFmpeg.
   */
  readonly #stops = new Set<Promise<void>>();
  /** Channels a plan restore holds, and what releases them. */
  #holds = new Map<number, Promise<void>>();
  /** Configured channels with a standalone source (they all get a worker). */
  #configuredRunning = 0;

  constructor(opts: ChannelManagerOptions<O>) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#limited = new RateLimitedLog(opts.log);
  }

  // ---- configuration ------------------------------------------------------------------------

  /**
   * Applies configured channels: new ones are created (and started when they have a standalone
   * source), removed ones are stopped, changed ones restarted. Returns the ids that changed.
   */
  async applyConfig(specs: ChannelSpec[]): Promise<number[]> {
    const changed: number[] = [];
    const starting: { ch: Channel<O>; spec: ChannelSpec }[] = [];
    const wanted = new Map(specs.map((s) => [s.id, s]));
    this.#configuredRunning = specs.filter((s) => s.source.kind !== "none").length;
    for (const ch of this.#channels.values()) {
      if (ch.configured && !wanted.has(ch.id)) {
        changed.push(ch.id);
        await this.#stopWorker(ch, "removed from config");
        ch.outputs.detach();
        ch.outputs.close();
        this.#channels.delete(ch.id);
      }
    }
    for (const spec of specs) {
      const ch = this.#channels.get(spec.id);
      if (ch && ch.configured && JSON.stringify(ch.configured) === JSON.stringify(spec)) continue;
      changed.push(spec.id);
      const entry = ch ?? this.#create(spec.id, spec.name);
      const prev = entry.configured;
      entry.configured = spec;
      entry.name = spec.name;
      if (prev && sameBinding(prev, spec)) {
        // Only the name changed: nothing restarts.
        changed.pop();
        continue;
      }
      entry.meantOnAir = spec.source.kind !== "none" || entry.mode === "segment" ||
        entry.mode === "block";
      if (spec.source.kind === "none" && entry.mode === "standalone") {
        // Its configured source is gone: the standalone worker stops; control calls may start it.
        entry.mode = "idle";
        await this.#stopWorker(entry, IDLE_REASON);
      }
      if (spec.source.kind === "none" && !entry.handle.running) {
        this.#setState(entry, "stopped", IDLE_REASON);
      }
      if (spec.source.kind !== "none") {
        await this.#stopWorker(entry, "configuration changed");
        entry.mode = "standalone";
        entry.handle.resetBackoff();
        starting.push({ ch: entry, spec });
      }
    }
    await this.#startTogether(starting);
    return changed;
  }

  /**
   * Starts standalone channels together: their workers start at once, and once all are ready
   * (or {@link TOGETHER_WAIT_MS} after the first was) they run from one epoch, the moment they
   * start. Channels airing the same file from the start are then in step and share one decode
   * (producers/shared_source.ts); started one after another, each would begin a worker's
   * start-up behind the one before, and past a ring's worth of frames behind the first it
   * decodes again. A channel whose start fails is reported by #failed; the others go on.
   */
  async #startTogether(starting: { ch: Channel<O>; spec: ChannelSpec }[]): Promise<void> {
    const ready: Channel<O>[] = [];
    let released = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A virtual clock keeps the epoch it started at (it jumps; "now" means nothing to it).
    const now = () => this.#opts.virtualClock ? undefined : Date.now();
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      const epoch = now();
      for (const ch of ready) ch.handle.run(epoch);
    };
    const started = await Promise.allSettled(starting.map(async ({ ch, spec }) => {
      await this.#startWorker(ch, spec);
      if (released) return ch.handle.run(now());
      ready.push(ch);
      timer ??= setTimeout(release, TOGETHER_WAIT_MS);
    }));
    release();
    for (const r of started) {
      // ControlErrors are reported by #failed (state error, restart scheduled).
      if (r.status === "rejected" && !(r.reason instanceof ControlError)) throw r.reason;
    }
  }

  /** Attaches a frame consumer (Renderer sink) to a channel. */
  setFrameConsumer(id: number, consumer: ChannelFrameConsumer | undefined): void {
    const ch = this.#channels.get(id);
    if (!ch) throw new ControlError("NOT_FOUND", `no channel ${id}`, id);
    ch.outputs.frameConsumer = consumer;
    if (consumer) consumer.onReadersChanged = (has) => ch.handle.wantFrames(has);
    ch.handle.wantFrames(consumer?.hasReaders ?? false);
  }

  /**
   * Stops every channel and closes every output. Resolves only once every worker this manager
   * started has answered its stop (freed its FFmpeg objects) or was found dead: workers being
   * stopped by another path are waited for too, and no new worker starts from here on.
   */
  async close(): Promise<void> {
    this.#closing = true;
    for (const ch of this.#channels.values()) ch.handle.cancelRestart();
    await Promise.all([...this.#channels.values()].map(async (ch) => {
      // Graceful: the worker flushes encoder and muxer into the fan-out, the fan-out ends its
      // viewers after what they have queued, and the attach link writes that tail to Core.
      await this.#stopWorker(ch, "engine shutting down");
      ch.outputs.close();
      await ch.outputs.drain(ATTACH_DRAIN_MS);
      ch.outputs.detach();
    }));
    // Stops started elsewhere (a session stopped in the background, a failed worker retiring).
    while (this.#stops.size > 0) await Promise.all(this.#stops);
  }

  // ---- ControlSurface: reading --------------------------------------------------------------

  list(): ChannelInfo[] {
    return [...this.#channels.values()].map((ch) => this.#info(ch));
  }

  get(id: number): ChannelInfo | undefined {
    const ch = this.#channels.get(id);
    return ch && this.#info(ch);
  }

  /** The outputs of channel `id` (its TS fan-out for HTTP egress, ...), or undefined. */
  outputs(id: number): O | undefined {
    return this.#channels.get(id)?.outputs;
  }

  /**
   * Holds control calls for channel `id` (see {@link settled}) until `until` settles. A plan
   * restore holds each channel it restores, so a live call never races it.
   */
  hold(id: number, until: Promise<unknown>): void {
    const previous = this.#holds.get(id) ?? Promise.resolve();
    const held: Promise<void> = Promise.all([previous, until.catch(() => {})]).then(() => {
      if (this.#holds.get(id) === held) this.#holds.delete(id);
    });
    this.#holds.set(id, held);
  }

  settled(id: number): Promise<void> {
    return this.#holds.get(id) ?? Promise.resolve();
  }

  /** What every channel driven by control calls is playing now (for the plan store). */
  activePlans(): ChannelPlanState[] {
    const out: ChannelPlanState[] = [];
    for (const ch of this.#channels.values()) {
      const state: ChannelPlanState = { id: ch.id };
      if (ch.spec && ch.mode !== "standalone") state.format = ch.spec.format;
      const attached = ch.outputs.attached;
      if (attached) state.attached = { ...attached };
      if (ch.mode === "block" && ch.session && ch.session.blocks.length > 0) {
        state.blockSession = {
          blocks: ch.session.blocks,
          maxQueueDepth: ch.session.maxQueueDepth,
        };
      }
      if (ch.mode === "segment" && ch.planHandle !== undefined) {
        state.segmentPlan = { planHandle: ch.planHandle };
      }
      if (state.attached || state.blockSession || state.segmentPlan) out.push(state);
    }
    return out;
  }

  #plansChanged(): void {
    // Shutting down ends sessions, but the plans stay stored for the next start.
    if (this.#closing) return;
    try {
      this.#opts.onPlansChanged?.();
    } catch (err) {
      this.#log.error("plan_store_failed", { reason: (err as Error).message });
    }
  }

  /**
   * What channel `id` will play between two UTC times, from the schedule its worker plays;
   * empty when the channel is unknown or not running.
   */
  async guide(id: number, fromUtcMs: number, toUtcMs: number): Promise<GuideSlot[]> {
    const ch = this.#channels.get(id);
    if (!ch?.handle.running) return [];
    return await ch.handle.call("guide", [fromUtcMs, toUtcMs]);
  }

  stats(id: number): ChannelStats | undefined {
    const ch = this.#channels.get(id);
    if (!ch?.stats) return undefined;
    const sink = ch.outputs.frameConsumer?.stats;
    return {
      ...ch.stats,
      restarts: ch.restarts,
      attachReconnects: ch.outputs.attachReconnects,
      frameSink: sink && {
        framesSent: sink.framesSent,
        framesDropped: sink.framesDropped,
        readers: sink.readers,
      },
    };
  }

  #info(ch: Channel<O>): ChannelInfo {
    return {
      id: ch.id,
      name: ch.name,
      state: ch.state,
      stateReason: ch.reason,
      format: ch.spec?.format ?? ch.configured?.format ?? { ...DEFAULT_PROGRAM_FORMAT },
      startedAtMs: ch.startedAtMs,
      mode: ch.mode,
      meantOnAir: ch.meantOnAir,
      attached: ch.outputs.attached,
    };
  }

  // ---- ControlSurface: segment mode ---------------------------------------------------------

  async startChannel(
    id: number,
    planHandle: string,
    format: ProgramFormat | undefined,
    items?: SegmentItem[],
  ): Promise<void> {
    const existing = this.#channels.get(id);
    if (existing?.handle.running && existing.mode === "segment") return; // idempotent
    items ??= await this.#parseHandle(planHandle);
    const ch = existing ?? this.#create(id, `Channel ${id}`);
    const hadWorker = ch.handle.running;
    try {
      await this.#ensureWorker(ch, format);
      await ch.handle.call("playSegments", [items, isSingleAsset(planHandle)]);
    } catch (err) {
      await this.#rollback(ch, hadWorker, existing === undefined, "StartChannel refused");
      throw err;
    }
    ch.handle.run();
    ch.mode = "segment";
    ch.meantOnAir = true;
    ch.planHandle = planHandle;
    this.#plansChanged();
    this.#log.info("channel_started", { channel: id, plan_handle: planHandle });
  }

  async updatePlan(id: number, planHandle: string, items?: SegmentItem[]): Promise<void> {
    const ch = this.#channels.get(id);
    checkStartedBySegment(id, ch && this.#info(ch));
    if (!ch?.handle.running) throw new ControlError("NOT_READY", `channel ${id} is stopped`, id);
    items ??= await this.#parseHandle(planHandle);
    await ch.handle.call("playSegments", [items, isSingleAsset(planHandle)]);
    ch.planHandle = planHandle;
    this.#plansChanged();
    this.#log.info("plan_updated", { channel: id, plan_handle: planHandle });
  }

  async stopChannel(id: number): Promise<void> {
    const ch = this.#channels.get(id);
    if (!ch) return; // idempotent
    await this.#stopWorker(ch, STOPPED_BY_CONTROL_REASON);
    ch.mode = "idle";
    ch.meantOnAir = false;
    ch.planHandle = undefined;
    this.#plansChanged();
    this.#log.info("channel_stopped", { channel: id });
    this.#forgetIfUnused(ch);
  }

  async loadPreview(id: number, item: SegmentItem): Promise<PreviewResult> {
    const ch = this.#channels.get(id);
    checkStartedBySegment(id, ch && this.#info(ch));
    if (!ch?.handle.running) throw new ControlError("NOT_READY", `channel ${id} is stopped`, id);
    // The runner refuses while a switch is armed (REJECTED_BUSY).
    const r = await ch.handle.call("loadPreview", [item]);
    this.#log.info("preview_loaded", {
      channel: id,
      asset: item.assetPath,
      shadow_decode_started: r.shadowDecodeStarted,
      reason: r.reason || undefined,
    });
    return r;
  }

  async switchToLive(id: number, targetUtcMs: number): Promise<SwitchResult> {
    const ch = this.#channels.get(id);
    if (!ch?.handle.running) {
      throw new ControlError(
        "PROTOCOL_VIOLATION",
        `channel ${id} has nothing loaded in preview`,
        id,
      );
    }
    // The runner refuses without a preview (PROTOCOL_VIOLATION) or with a switch armed
    // (REJECTED_BUSY). The answer comes when the switch lands: allow until the target time.
    const wait = targetUtcMs > 0 ? targetUtcMs - Date.now() : 0;
    const r = await ch.handle.call("switchToLive", [targetUtcMs], wait);
    this.#log.info("switched_to_live", { channel: id, ...r });
    return r;
  }

  // ---- ControlSurface: attached stream ------------------------------------------------------

  async attachStream(
    id: number,
    transport: StreamTransport,
    endpoint: string,
    replaceExisting: boolean,
  ): Promise<void> {
    const existing = this.#channels.get(id);
    const ch = existing ?? this.#create(id, `Channel ${id}`);
    checkCanAttach(id, this.#info(ch), replaceExisting);
    try {
      await ch.outputs.attach(transport, endpoint);
    } catch (err) {
      // A refused attach leaves no trace: a channel this call created goes again.
      if (existing === undefined) this.#forgetIfUnused(ch, "debug");
      throw new ControlError("FAILED", (err as Error).message, endpoint);
    }
    this.#plansChanged();
    this.#log.info("stream_attached", { channel: id, transport, endpoint });
  }

  detachStream(id: number, _force: boolean): Promise<void> {
    const ch = this.#channels.get(id);
    const attached = ch?.outputs.attached;
    if (ch && attached) {
      this.#log.info("stream_detached", { channel: id, endpoint: attached.endpoint });
      ch.outputs.detach();
      this.#plansChanged();
      this.#forgetIfUnused(ch);
    }
    return Promise.resolve();
  }

  // ---- ControlSurface: block mode -----------------------------------------------------------

  async startBlockSession(
    id: number,
    blocks: BlockPlan[],
    joinUtcMs: number,
    format: ProgramFormat | undefined,
    maxQueueDepth: number,
    evidence?: { endpoint: string; channelIdStr: string },
  ): Promise<void> {
    const found = this.#channels.get(id);
    checkCanStartBlockSession(id, found && this.#info(found));
    const ch = found!;
    checkContiguous(blocks.map((b) => ({
      startUtcMs: b.startUtcMs,
      endUtcMs: b.endUtcMs,
      startName: `block ${b.blockId} start`,
      endName: `block ${b.blockId} end`,
    })));
    const hadWorker = ch.handle.running;
    let sessionId: string | undefined;
    try {
      await this.#ensureWorker(ch, format);
      if (evidence && evidence.endpoint !== "") {
        if (!this.#opts.evidence) {
          throw new ControlError("FAILED", "evidence_endpoint given but evidence is not available");
        }
        sessionId = await this.#opts.evidence.open({
          channel: id,
          channelIdStr: evidence.channelIdStr,
          endpoint: evidence.endpoint,
        });
        ch.evidenceSessions.add(sessionId);
      }
      await ch.handle.call("startBlockSession", [blocks, joinUtcMs, { sessionId, maxQueueDepth }]);
    } catch (err) {
      if (sessionId) this.#evidenceClosed(ch, sessionId);
      await this.#rollback(ch, hadWorker, false, "StartBlockPlanSession refused");
      throw err;
    }
    ch.handle.run();
    ch.mode = "block";
    ch.meantOnAir = true;
    this.#plansChanged();
    // block_session_started is logged by the worker when the session is set up there.
  }

  async feedBlock(id: number, block: BlockPlan): Promise<void> {
    const ch = this.#channels.get(id);
    // Whether a session runs is the runner's to say (NO_SESSION); a channel without a worker
    // has no runner, so no session either.
    if (!ch?.handle.running) {
      throw new ControlError("NO_SESSION", `channel ${id} has no block session`, id);
    }
    await ch.handle.call("feedBlock", [block]);
    this.#plansChanged();
    this.#log.info("block_fed", { channel: id, block_id: block.blockId });
  }

  async stopBlockSession(
    id: number,
    reason: string,
  ): Promise<{ finalCtMs: number; blocksExecuted: number }> {
    const ch = this.#channels.get(id);
    if (!ch?.handle.running || ch.mode !== "block") return { finalCtMs: 0, blocksExecuted: 0 };
    const r = await ch.handle.call("stopBlockSession", []);
    const standalone = ch.configured !== undefined && ch.configured.source.kind !== "none";
    ch.mode = standalone ? "standalone" : "idle";
    ch.meantOnAir = standalone;
    this.#log.info("block_session_stop", { channel: id, reason, ...r });
    if (!standalone) {
      // Answer at once; the worker flushes and exits in the background.
      void this.#stopWorker(ch, `${STOPPED_BY_CONTROL_REASON}: ${reason || "session stopped"}`)
        .then(() => this.#forgetIfUnused(ch));
    }
    return r;
  }

  subscribeBlockEvents(id: number, listener: (event: BlockEvent) => void): () => void {
    const ch = this.#channels.get(id);
    if (!ch || ch.mode !== "block") {
      throw new ControlError("NOT_FOUND", `channel ${id} has no block session`, id);
    }
    ch.listeners.add(listener);
    return () => ch.listeners.delete(listener);
  }

  // ---- internals ----------------------------------------------------------------------------

  #create(id: number, name: string): Channel<O> {
    const log = this.#log.child({ channel: id });
    const ch: Channel<O> = {
      id,
      name,
      configured: undefined,
      spec: undefined,
      state: "stopped",
      reason: "not started",
      mode: "idle",
      meantOnAir: false,
      nothingPlayable: undefined,
      handle: new ChannelHandle({
        channelId: id,
        log: this.#log,
        events: this.#eventsOf(() => ch),
        createWorker: this.#opts.createWorker,
        callTimeoutMs: this.#opts.callTimeoutMs,
        stopGraceMs: this.#opts.stopGraceMs,
        silenceTimeoutMs: this.#opts.workerSilenceTimeoutMs,
        closing: () => this.#closing,
        trackStop: (stopped) => {
          this.#stops.add(stopped);
          void stopped.then(() => this.#stops.delete(stopped));
        },
      }),
      degraded: undefined,
      startedAtMs: undefined,
      outputs: this.#opts.outputs(id),
      stats: undefined,
      restarts: 0,
      listeners: new Set(),
      session: undefined,
      planHandle: undefined,
      evidenceSessions: new Set(),
      log,
    };
    this.#channels.set(id, ch);
    return ch;
  }

  /**
   * Where the events of a channel's worker go. `get` returns the channel's record (the handle
   * that sends these events is made with the record, so the record is read at event time).
   */
  #eventsOf(get: () => Channel<O>): ChannelWorkerEvents {
    return {
      ts: (data) => {
        const ch = get();
        ch.outputs.pushTs(data);
        if (ch.state === "buffering") {
          ch.handle.resetBackoff();
          if (ch.nothingPlayable === undefined) this.#setOnAir(ch);
          else this.#setState(ch, "error", `nothing playable: ${ch.nothingPlayable}`);
        }
      },
      frame: (frame) => get().outputs.pushFrame(frame),
      content: (playable, reason) => {
        const ch = get();
        ch.nothingPlayable = playable ? undefined : reason;
        if (!playable && ch.state !== "stopped") {
          this.#setState(ch, "error", `nothing playable: ${reason}`);
        } else if (playable && ch.state === "error" && ch.reason.startsWith("nothing playable")) {
          this.#setOnAir(ch);
        }
      },
      health: (degraded, reason) => {
        const ch = get();
        ch.degraded = degraded ? { reason } : undefined;
        if (ch.state === "ready" || ch.state === "degraded") this.#setOnAir(ch);
      },
      blockEvent: (event) => this.#blockEvent(get(), event),
      blockSession: (session) => get().session = session,
      asRun: (sessionId, event) => {
        if (this.#opts.evidence && get().evidenceSessions.has(sessionId)) {
          this.#opts.evidence.event(sessionId, event);
        }
      },
      asRunClosed: (sessionId) => {
        if (this.#opts.evidence && get().evidenceSessions.has(sessionId)) {
          this.#evidenceClosed(get(), sessionId);
        }
      },
      log: (level, event, fields) => {
        if (RATE_LIMITED_EVENTS.has(event as LogEventName)) {
          this.#limited.log(level, event, { channel: get().id, ...fields });
        } else {
          get().log.log(level, event, fields);
        }
      },
      stats: (stats) => get().stats = stats,
      failed: (message) => this.#failed(get(), message),
    };
  }

  /**
   * Undoes what a refused control call started: a worker it started is stopped again, and a
   * channel it created (and nothing else uses) leaves the list.
   */
  async #rollback(ch: Channel<O>, hadWorker: boolean, created: boolean, reason: string) {
    if (!hadWorker && ch.handle.running) await this.#stopWorker(ch, reason);
    if (created) this.#forgetIfUnused(ch, "debug");
  }

  /**
   * A channel that no configuration binds, that plays nothing and has no stream attached
   * leaves the list (its outputs close), so that nothing shows a channel nobody runs. One a
   * refused call created only for itself goes quietly (`level` debug).
   */
  #forgetIfUnused(ch: Channel<O>, level: "info" | "debug" = "info"): void {
    if (ch.configured || ch.handle.running || ch.outputs.attached || ch.meantOnAir) return;
    if (this.#channels.get(ch.id) !== ch) return;
    ch.handle.cancelRestart();
    ch.outputs.close();
    this.#channels.delete(ch.id);
    this.#log.log(level, "channel_removed", { channel: ch.id, reason: ch.reason });
  }

  async #parseHandle(handle: string): Promise<SegmentItem[]> {
    try {
      return await this.#opts.parsePlanHandle(handle);
    } catch (err) {
      if (err instanceof ControlError) throw err;
      throw new ControlError("FAILED", `plan_handle: ${(err as Error).message}`, handle);
    }
  }

  /** Makes sure a worker runs with `format` (restarting it if the format differs). */
  async #ensureWorker(ch: Channel<O>, format: ProgramFormat | undefined): Promise<void> {
    const want = format ?? ch.spec?.format ?? ch.configured?.format ?? DEFAULT_PROGRAM_FORMAT;
    if (ch.handle.running && JSON.stringify(ch.spec?.format) === JSON.stringify(want)) {
      await ch.handle.ready();
      return;
    }
    await this.#stopWorker(ch, "program format changed");
    const base = ch.configured;
    const enc = defaultEncoders(want);
    const spec: ChannelSpec = {
      id: ch.id,
      name: ch.name,
      format: { ...want },
      video: base && sameFormat(base.format, want) ? base.video : enc.video,
      audio: base?.audio ?? enc.audio,
      source: { kind: "none" },
    };
    await this.#startWorker(ch, spec);
  }

  async #startWorker(ch: Channel<O>, spec: ChannelSpec): Promise<void> {
    // A failed worker frees everything before its successor allocates anything.
    if (ch.handle.retiring) await ch.handle.retiring;
    // A worker started now would outlive close(): the process would end with it in FFmpeg.
    if (this.#closing) throw new ControlError("NOT_READY", "engine is shutting down", ch.id);
    ch.spec = spec;
    ch.startedAtMs = Date.now();
    ch.stats = undefined;
    ch.degraded = undefined;
    this.#setState(ch, "buffering", "starting");
    const channels = this.#channelCount(ch);
    setSharingChannels(channels);
    const cores = this.#opts.cores ?? availableCores();
    const started = ch.handle.start({
      spec,
      virtual: this.#opts.virtualClock ?? false,
      leadMs: this.#opts.leadMs ?? 500,
      threads: channelThreads(channels, cores),
      shareCores: cores / channels,
    });
    const frames = ch.outputs.frameConsumer;
    if (frames) ch.handle.wantFrames(frames.hasReaders);
    return await started;
  }

  /**
   * Channels sharing the machine, for the thread policy: every channel with a worker (this one
   * included) or about to get one from the configuration. Threads are fixed when a worker
   * starts; channels started later by control calls get a smaller share as the count grows.
   */
  #channelCount(starting?: Channel<O>): number {
    let workers = 0;
    for (const ch of this.#channels.values()) if (ch.handle.running || ch === starting) workers++;
    return Math.max(workers, this.#configuredRunning);
  }

  #blockEvent(ch: Channel<O>, e: BlockEvent): void {
    for (const l of ch.listeners) {
      try {
        l(e);
      } catch (err) {
        ch.log.error("block_event_listener_failed", { reason: (err as Error).message });
      }
    }
    if (e.kind === "block_completed") this.#plansChanged();
    if (e.kind === "session_ended") {
      ch.listeners.clear();
      ch.session = undefined;
      if (ch.mode === "block") ch.mode = "idle";
      // A session that ran out or was stopped is no longer meant to air; a failed one still is
      // (so that health reports the error until a control call says otherwise).
      if (e.reason !== "error") {
        ch.meantOnAir = ch.configured !== undefined && ch.configured.source.kind !== "none";
      }
      this.#plansChanged();
    }
  }

  #evidenceClosed(ch: Channel<O>, sessionId: string): void {
    ch.evidenceSessions.delete(sessionId);
    this.#opts.evidence?.closed(sessionId);
  }

  /** The channel's worker is gone: open evidence sessions end with ChannelTerminated. */
  #evidenceTerminated(ch: Channel<O>, reason: string, detail: string): void {
    for (const id of ch.evidenceSessions) {
      this.#opts.evidence?.terminated(id, reason, detail);
      this.#evidenceClosed(ch, id);
    }
  }

  /** Ready, or degraded with the worker's reason. */
  #setOnAir(ch: Channel<O>): void {
    if (ch.degraded) this.#setState(ch, "degraded", ch.degraded.reason);
    else this.#setState(ch, "ready", "on air");
  }

  #setState(ch: Channel<O>, state: ChannelState, reason: string): void {
    if (ch.state === state && ch.reason === reason) return;
    const from = ch.state;
    ch.state = state;
    ch.reason = reason;
    this.#log.info("channel_state_changed", { channel: ch.id, from, to: state, reason });
  }

  /** The handle reports its worker failed (and is retiring it). */
  #failed(ch: Channel<O>, message: string): void {
    this.#evidenceTerminated(ch, "CHANNEL_FAILED", message.split("\n")[0]);
    if (ch.mode === "block") {
      this.#blockEvent(ch, {
        kind: "session_ended",
        reason: "error",
        finalCtMs: 0,
        blocksExecutedTotal: 0,
      });
    }
    ch.nothingPlayable = undefined;
    ch.outputs.streamEnded();
    ch.restarts++;
    this.#setState(ch, "error", message.split("\n")[0]);
    this.#scheduleRestart(ch);
  }

  /**
   * A configured standalone channel that failed is restarted (the handle backs off while it
   * keeps failing); channels driven by control calls wait for the next call.
   */
  #scheduleRestart(ch: Channel<O>): void {
    const spec = ch.configured;
    if (!spec || spec.source.kind === "none" || ch.mode !== "standalone" || this.#closing) return;
    ch.handle.scheduleRestart((attempt, delay) => {
      if (ch.handle.running || this.#closing || ch.configured !== spec) return;
      this.#log.warn("channel_restart", { channel: ch.id, attempt, after_ms: delay });
      this.#startWorker(ch, spec).then(
        () => ch.handle.run(),
        // A failed start has already been reported by #failed, which schedules the next try.
        () => {},
      );
    });
  }

  async #stopWorker(ch: Channel<O>, reason: string): Promise<void> {
    if (!ch.handle.running) return;
    await ch.handle.stop();
    ch.nothingPlayable = undefined;
    // The stream this worker muxed is over: a viewer or attach that comes later must start
    // with the next stream's PAT/PMT and IDR, never with this one's last GOP.
    ch.outputs.streamEnded();
    // A worker that did not answer in time left its sessions' records open.
    this.#evidenceTerminated(
      ch,
      "CHANNEL_STOPPED",
      `channel stopped (${reason}) before its record closed`,
    );
    if (ch.mode === "block") ch.mode = "idle";
    this.#setState(ch, "stopped", reason);
    setSharingChannels(this.#channelCount());
  }
}

/** A handle naming one media file (not a `.json` plan file): it must be playable. */
function isSingleAsset(handle: string): boolean {
  return !handle.trim().toLowerCase().endsWith(".json");
}

/** Two bindings that play out the same (the name is only a label). */
function sameBinding(a: ChannelSpec, b: ChannelSpec): boolean {
  return JSON.stringify({ ...a, name: "" }) === JSON.stringify({ ...b, name: "" });
}

function sameFormat(a: ProgramFormat, b: ProgramFormat): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
