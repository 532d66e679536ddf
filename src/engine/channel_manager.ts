/**
 * The main thread's view of all channels: starts one Worker per running channel, routes
 * control calls to it, fans its TS out, and keeps its state, stats and events. Implements the
 * engine's {@link ControlSurface}.
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import { RateLimitedLog } from "../log/log_limiter.ts";
import { type LogEventName, RATE_LIMITED_EVENTS } from "../log/log_events.ts";
import { TsFanout } from "../outputs/ts_fanout.ts";
import { StreamAttach } from "../outputs/stream_attach.ts";
import type { ChannelSpec } from "../../media/channel_spec.ts";
import { defaultEncoders } from "../../media/encoder_settings.ts";
import type { FromWorker, RunnerMethod, ToWorker } from "./channel_messages.ts";
import { openLockBuffer, releaseOpenLockOf } from "../../ffi/mod.ts";
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
import { DEFAULT_PROGRAM_FORMAT, type ProgramFormat } from "../../media/program_format.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import type { ChannelPlanState } from "./plan_store.ts";
import type { GuideSlot } from "./guide.ts";
import type { EvidenceSessions } from "./evidence_sessions.ts";
import { availableCores, channelThreads } from "./thread_policy.ts";

/** Turns a segment-mode plan handle into items (a plan file or a single asset). */
export type PlanHandleParser = (handle: string) => Promise<SegmentItem[]>;

/** A consumer of a channel's program frames (Renderer frame sink). */
export interface ChannelFrameConsumer {
  /** Whether anyone wants frames now (the worker sends none otherwise). */
  readonly hasReaders: boolean;
  /** Takes a released frame. Must not block. */
  push(frame: ProgramFrame): void;
  /** Called when readers come and go. */
  onReadersChanged?: (has: boolean) => void;
  /** Counters, for metrics. */
  readonly stats?: { framesSent: number; framesDropped: number; readers: number };
}

/** Options of a {@link ChannelManager}. */
export interface ChannelManagerOptions {
  log: Logger;
  /** Parses segment-mode plan handles. */
  parsePlanHandle: PlanHandleParser;
  /** Run channels on a virtual clock (tests, soak runs). */
  virtualClock?: boolean;
  /** Production lead over the wall clock, ms. */
  leadMs?: number;
  /** Per-viewer queue bound of the TS fan-out, bytes. */
  viewerQueueBytes?: number;
  /** Told whenever what a channel plays changes (to persist {@link ChannelManager.activePlans}). */
  onPlansChanged?: () => void;
  /** The as-run evidence layer; without it `evidence_endpoint` is refused. */
  evidence?: EvidenceSessions;
  /** How long a control call may wait for the channel's worker, ms (default 5000). */
  callTimeoutMs?: number;
  /** How long a stopping worker may take to free everything before it is terminated, ms. */
  stopGraceMs?: number;
  /**
   * Starts a channel worker (default: `channel_worker.ts`). What it starts must speak the worker
   * messages of `channel_messages.ts`; tests use stand-ins that wrap the real worker (e.g. one
   * whose output fails mid-session) to drive the manager's failure paths. A factory, not a URL,
   * so the program's own `new Worker(...)` stays one the packager can follow.
   */
  createWorker?: () => Worker;
  /** Cores the channels share, for the thread policy (default: this machine's). */
  cores?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Channel {
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
  worker: Worker | undefined;
  workerReady: Promise<void> | undefined;
  /** A failed worker being stopped (it frees its native memory before it is terminated). */
  retiring: Promise<void> | undefined;
  /** The worker says the channel cannot make every picture in time. */
  degraded: { reason: string } | undefined;
  startedAtMs: number | undefined;
  fanout: TsFanout;
  attach: { transport: StreamTransport; endpoint: string; link: StreamAttach } | undefined;
  frames: ChannelFrameConsumer | undefined;
  stats: ChannelStats | undefined;
  restarts: number;
  /** Reconnects of attach links that have been replaced or detached. */
  attachReconnectsBase: number;
  /** Failures since the channel was last on air (backs off restarts). */
  failuresInARow: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  pending: Map<number, Pending>;
  listeners: Set<(e: BlockEvent) => void>;
  maxQueueDepth: number;
  previewLoaded: boolean;
  switchArmed: boolean;
  /** Blocks queued or on air (block mode), for the plan store. */
  sessionBlocks: BlockPlan[];
  /** The last plan handle of segment mode. */
  planHandle: string | undefined;
  /** Evidence sessions whose as-run record is not complete yet. */
  evidenceSessions: Set<string>;
  log: Logger;
}

const WORKER_URL = new URL("./channel_worker.ts", import.meta.url);

/** How long shutdown waits for an attach link to write the stream's tail, ms. */
const ATTACH_DRAIN_MS = 1000;

/** State reason of a configured `type = "none"` channel that no control call started yet. */
export const IDLE_REASON = "idle: waiting for a control call";
/** State reason of a channel stopped by StopChannel / StopBlockPlanSession. */
export const STOPPED_BY_CONTROL_REASON = "stopped by control";

/** Owns the channels of one engine process. */
export class ChannelManager implements ControlSurface {
  #opts: ChannelManagerOptions;
  #log: Logger;
  #channels = new Map<number, Channel>();
  #nextCall = 1;
  /** FFmpeg open-lock owner ids of the workers (1 is this thread). */
  #nextLockOwner = 2;
  readonly #lockOwners = new WeakMap<Worker, number>();
  #limited: RateLimitedLog;
  #closing = false;
  /**
   * Stops in progress, whichever path started them (shutdown, StopBlockPlanSession in the
   * background, a failed worker retiring, a restart): {@link close} waits for all of them, so
   * the process never ends while a worker still owns FFmpeg objects or is inside FFmpeg.
   */
  readonly #stops = new Set<Promise<void>>();
  /** Workers that raised an error event (possibly dead: not waited for past the grace). */
  readonly #errored = new WeakSet<Worker>();
  /** Channels a plan restore holds, and what releases them. */
  #holds = new Map<number, Promise<void>>();
  /** Configured channels with a standalone source (they all get a worker). */
  #configuredRunning = 0;

  constructor(opts: ChannelManagerOptions) {
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
    const wanted = new Map(specs.map((s) => [s.id, s]));
    this.#configuredRunning = specs.filter((s) => s.source.kind !== "none").length;
    for (const ch of this.#channels.values()) {
      if (ch.configured && !wanted.has(ch.id)) {
        changed.push(ch.id);
        await this.#stopWorker(ch, "removed from config");
        this.#dropAttach(ch);
        ch.fanout.close();
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
      if (spec.source.kind === "none" && !entry.worker) {
        this.#setState(entry, "stopped", IDLE_REASON);
      }
      if (spec.source.kind !== "none") {
        await this.#stopWorker(entry, "configuration changed");
        entry.mode = "standalone";
        entry.failuresInARow = 0;
        try {
          await this.#startWorker(entry, spec);
          this.#post(entry, { type: "run" });
        } catch (err) {
          // Reported by #fail (state error, restart scheduled); the other channels go on.
          if (!(err instanceof ControlError)) throw err;
        }
      }
    }
    return changed;
  }

  /** Attaches a frame consumer (Renderer sink) to a channel. */
  setFrameConsumer(id: number, consumer: ChannelFrameConsumer | undefined): void {
    const ch = this.#channels.get(id);
    if (!ch) throw new ControlError("NOT_FOUND", `no channel ${id}`, id);
    ch.frames = consumer;
    if (consumer) {
      consumer.onReadersChanged = (has) => this.#post(ch, { type: "want_frames", value: has });
    }
    this.#post(ch, { type: "want_frames", value: consumer?.hasReaders ?? false });
  }

  /**
   * Stops every channel and closes every output. Resolves only once every worker this manager
   * started has answered its stop (freed its FFmpeg objects) or was found dead: workers being
   * stopped by another path are waited for too, and no new worker starts from here on.
   */
  async close(): Promise<void> {
    this.#closing = true;
    for (const ch of this.#channels.values()) clearTimeout(ch.restartTimer);
    await Promise.all([...this.#channels.values()].map(async (ch) => {
      // Graceful: the worker flushes encoder and muxer into the fan-out, the fan-out ends its
      // viewers after what they have queued, and the attach link writes that tail to Core.
      await this.#stopWorker(ch, "engine shutting down");
      ch.fanout.close();
      const link = ch.attach?.link;
      if (link) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<void>((r) => timer = setTimeout(r, ATTACH_DRAIN_MS));
        await Promise.race([link.stopped, late]);
        clearTimeout(timer);
      }
      this.#dropAttach(ch);
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
      if (ch.attach) {
        state.attached = { transport: ch.attach.transport, endpoint: ch.attach.endpoint };
      }
      if (ch.mode === "block" && ch.sessionBlocks.length > 0) {
        state.blockSession = { blocks: ch.sessionBlocks, maxQueueDepth: ch.maxQueueDepth };
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

  fanout(id: number): TsFanout | undefined {
    return this.#channels.get(id)?.fanout;
  }

  /**
   * What channel `id` will play between two UTC times, from the schedule its worker plays;
   * empty when the channel is unknown or not running.
   */
  async guide(id: number, fromUtcMs: number, toUtcMs: number): Promise<GuideSlot[]> {
    const ch = this.#channels.get(id);
    if (!ch?.worker) return [];
    return await this.#call(ch, "guide", [fromUtcMs, toUtcMs]) as GuideSlot[];
  }

  stats(id: number): ChannelStats | undefined {
    const ch = this.#channels.get(id);
    if (!ch?.stats) return undefined;
    return {
      ...ch.stats,
      restarts: ch.restarts,
      attachReconnects: ch.attachReconnectsBase + (ch.attach?.link.reconnects ?? 0),
      frameSink: ch.frames?.stats && {
        framesSent: ch.frames.stats.framesSent,
        framesDropped: ch.frames.stats.framesDropped,
        readers: ch.frames.stats.readers,
      },
    };
  }

  #info(ch: Channel): ChannelInfo {
    return {
      id: ch.id,
      name: ch.name,
      state: ch.state,
      stateReason: ch.reason,
      format: ch.spec?.format ?? ch.configured?.format ?? { ...DEFAULT_PROGRAM_FORMAT },
      startedAtMs: ch.startedAtMs,
      mode: ch.mode,
      meantOnAir: ch.meantOnAir,
      attached: ch.attach && { transport: ch.attach.transport, endpoint: ch.attach.endpoint },
    };
  }

  // ---- ControlSurface: segment mode ---------------------------------------------------------

  async startChannel(id: number, planHandle: string, format: ProgramFormat | undefined) {
    const existing = this.#channels.get(id);
    if (existing?.worker && existing.mode === "segment") return; // idempotent
    const items = await this.#parseHandle(planHandle);
    const ch = existing ?? this.#create(id, `Channel ${id}`);
    const hadWorker = ch.worker !== undefined;
    try {
      await this.#ensureWorker(ch, format);
      await this.#call(ch, "playSegments", [items, isSingleAsset(planHandle)]);
    } catch (err) {
      await this.#rollback(ch, hadWorker, existing === undefined, "StartChannel refused");
      throw err;
    }
    this.#post(ch, { type: "run" });
    ch.mode = "segment";
    ch.meantOnAir = true;
    ch.planHandle = planHandle;
    this.#plansChanged();
    this.#log.info("channel_started", { channel: id, plan_handle: planHandle });
  }

  async updatePlan(id: number, planHandle: string): Promise<void> {
    const ch = this.#channels.get(id);
    if (!ch?.worker || ch.mode !== "segment") {
      throw new ControlError("NOT_READY", `channel ${id} is not started`, id);
    }
    const items = await this.#parseHandle(planHandle);
    await this.#call(ch, "playSegments", [items, isSingleAsset(planHandle)]);
    ch.planHandle = planHandle;
    this.#plansChanged();
    this.#log.info("plan_updated", { channel: id, plan_handle: planHandle });
  }

  async stopChannel(id: number): Promise<void> {
    const ch = this.#channels.get(id);
    if (!ch) return; // idempotent
    ch.previewLoaded = false;
    ch.switchArmed = false;
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
    if (!ch?.worker || ch.mode !== "segment") {
      throw new ControlError("NOT_READY", `channel ${id} is not started (StartChannel first)`, id);
    }
    if (ch.switchArmed) throw new ControlError("REJECTED_BUSY", "a switch is armed");
    const r = await this.#call(ch, "loadPreview", [item]) as PreviewResult;
    ch.previewLoaded = true;
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
    if (!ch?.worker || !ch.previewLoaded) {
      throw new ControlError(
        "PROTOCOL_VIOLATION",
        `channel ${id} has nothing loaded in preview`,
        id,
      );
    }
    ch.switchArmed = true;
    try {
      // The answer comes when the switch lands: allow until the target time.
      const wait = targetUtcMs > 0 ? targetUtcMs - Date.now() : 0;
      const r = await this.#call(ch, "switchToLive", [targetUtcMs], wait) as SwitchResult;
      ch.previewLoaded = false;
      this.#log.info("switched_to_live", { channel: id, ...r });
      return r;
    } finally {
      ch.switchArmed = false;
    }
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
    if (ch.attach) {
      if (!replaceExisting) {
        throw new ControlError(
          "FAILED",
          `channel ${id} is already attached to ${ch.attach.endpoint}`,
        );
      }
      this.#dropAttach(ch);
    }
    let link: StreamAttach;
    try {
      link = await StreamAttach.connect({
        transport,
        endpoint,
        fanout: ch.fanout,
        log: this.#log,
        channelId: id,
      });
    } catch (err) {
      // A refused attach leaves no trace: a channel this call created goes again.
      if (existing === undefined) this.#forgetIfUnused(ch, "debug");
      throw new ControlError("FAILED", (err as Error).message, endpoint);
    }
    ch.attach = { transport, endpoint, link };
    this.#plansChanged();
    this.#log.info("stream_attached", { channel: id, transport, endpoint });
  }

  detachStream(id: number, _force: boolean): Promise<void> {
    const ch = this.#channels.get(id);
    if (ch?.attach) {
      this.#log.info("stream_detached", { channel: id, endpoint: ch.attach.endpoint });
      this.#dropAttach(ch);
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
    const ch = this.#channels.get(id);
    if (ch?.mode === "block") {
      throw new ControlError("ALREADY_ACTIVE", `channel ${id} already has a block session`, id);
    }
    if (!ch?.attach) {
      throw new ControlError("STREAM_NOT_ATTACHED", `channel ${id} has no attached stream`, id);
    }
    for (let i = 1; i < blocks.length; i++) {
      if (blocks[i].startUtcMs !== blocks[i - 1].endUtcMs) {
        throw new ControlError(
          "NOT_CONTIGUOUS",
          `block ${blocks[i].blockId} starts at ${blocks[i].startUtcMs}, ` +
            `previous ends at ${blocks[i - 1].endUtcMs}`,
          blocks[i].startUtcMs,
        );
      }
    }
    const hadWorker = ch.worker !== undefined;
    let sessionId: string | undefined;
    try {
      await this.#ensureWorker(ch, format);
      ch.maxQueueDepth = Math.max(2, maxQueueDepth);
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
      await this.#call(ch, "startBlockSession", [
        blocks,
        joinUtcMs,
        ...(sessionId ? [{ sessionId }] : []),
      ]);
    } catch (err) {
      if (sessionId) this.#evidenceClosed(ch, sessionId);
      await this.#rollback(ch, hadWorker, false, "StartBlockPlanSession refused");
      throw err;
    }
    this.#post(ch, { type: "run" });
    ch.mode = "block";
    ch.meantOnAir = true;
    ch.sessionBlocks = [...blocks];
    this.#plansChanged();
    // block_session_started is logged by the worker when the session is set up there.
  }

  async feedBlock(id: number, block: BlockPlan): Promise<void> {
    const ch = this.#channels.get(id);
    if (!ch?.worker || ch.mode !== "block") {
      throw new ControlError("NO_SESSION", `channel ${id} has no block session`, id);
    }
    await this.#call(ch, "feedBlock", [block, ch.maxQueueDepth]);
    ch.sessionBlocks.push(block);
    this.#plansChanged();
    this.#log.info("block_fed", { channel: id, block_id: block.blockId });
  }

  async stopBlockSession(
    id: number,
    reason: string,
  ): Promise<{ finalCtMs: number; blocksExecuted: number }> {
    const ch = this.#channels.get(id);
    if (!ch?.worker || ch.mode !== "block") return { finalCtMs: 0, blocksExecuted: 0 };
    const r = await this.#call(ch, "stopBlockSession", []) as {
      finalCtMs: number;
      blocksExecuted: number;
    };
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

  #create(id: number, name: string): Channel {
    const log = this.#log.child({ channel: id });
    const ch: Channel = {
      id,
      name,
      configured: undefined,
      spec: undefined,
      state: "stopped",
      reason: "not started",
      mode: "idle",
      meantOnAir: false,
      nothingPlayable: undefined,
      worker: undefined,
      workerReady: undefined,
      retiring: undefined,
      degraded: undefined,
      startedAtMs: undefined,
      fanout: new TsFanout({ maxQueueBytes: this.#opts.viewerQueueBytes, channelId: id, log }),
      attach: undefined,
      frames: undefined,
      stats: undefined,
      restarts: 0,
      attachReconnectsBase: 0,
      failuresInARow: 0,
      restartTimer: undefined,
      pending: new Map(),
      listeners: new Set(),
      maxQueueDepth: 2,
      previewLoaded: false,
      switchArmed: false,
      sessionBlocks: [],
      planHandle: undefined,
      evidenceSessions: new Set(),
      log,
    };
    this.#channels.set(id, ch);
    return ch;
  }

  #dropAttach(ch: Channel): void {
    if (!ch.attach) return;
    ch.attach.link.detach();
    ch.attachReconnectsBase += ch.attach.link.reconnects;
    ch.attach = undefined;
  }

  /**
   * Undoes what a refused control call started: a worker it started is stopped again, and a
   * channel it created (and nothing else uses) leaves the list.
   */
  async #rollback(ch: Channel, hadWorker: boolean, created: boolean, reason: string) {
    if (!hadWorker && ch.worker) await this.#stopWorker(ch, reason);
    if (created) this.#forgetIfUnused(ch, "debug");
  }

  /**
   * A channel that no configuration binds, that plays nothing and has no stream attached
   * leaves the list (its fan-out closes), so that nothing shows a channel nobody runs. One a
   * refused call created only for itself goes quietly (`level` debug).
   */
  #forgetIfUnused(ch: Channel, level: "info" | "debug" = "info"): void {
    if (ch.configured || ch.worker || ch.attach || ch.meantOnAir) return;
    if (this.#channels.get(ch.id) !== ch) return;
    clearTimeout(ch.restartTimer);
    ch.fanout.close();
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
  async #ensureWorker(ch: Channel, format: ProgramFormat | undefined): Promise<void> {
    const want = format ?? ch.spec?.format ?? ch.configured?.format ?? DEFAULT_PROGRAM_FORMAT;
    if (ch.worker && JSON.stringify(ch.spec?.format) === JSON.stringify(want)) {
      await ch.workerReady;
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

  async #startWorker(ch: Channel, spec: ChannelSpec): Promise<void> {
    // A failed worker frees everything before its successor allocates anything.
    if (ch.retiring) await ch.retiring;
    // A worker started now would outlive close(): the process would end with it in FFmpeg.
    if (this.#closing) throw new ControlError("NOT_READY", "engine is shutting down", ch.id);
    ch.spec = spec;
    ch.startedAtMs = Date.now();
    ch.stats = undefined;
    ch.degraded = undefined;
    this.#setState(ch, "buffering", "starting");
    const worker = this.#opts.createWorker?.() ?? new Worker(WORKER_URL, { type: "module" });
    ch.worker = worker;
    ch.workerReady = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "ready") resolve();
        if (e.data.type === "fatal") reject(new ControlError("FAILED", e.data.message));
        this.#onMessage(ch, worker, e.data);
      };
    });
    worker.onerror = (e) => {
      e.preventDefault();
      this.#errored.add(worker);
      this.#fail(ch, worker, `worker error: ${e.message}`);
    };
    const owner = this.#nextLockOwner++;
    this.#lockOwners.set(worker, owner);
    const init: ToWorker = {
      type: "init",
      openLock: openLockBuffer(),
      openLockOwner: owner,
      spec,
      epochUtcMs: Math.round(Date.now()),
      virtual: this.#opts.virtualClock ?? false,
      leadMs: this.#opts.leadMs ?? 500,
      threads: channelThreads(this.#channelCount(), this.#opts.cores ?? availableCores()),
    };
    worker.postMessage(init);
    if (ch.frames) this.#post(ch, { type: "want_frames", value: ch.frames.hasReaders });
    return ch.workerReady.catch((err) => {
      throw err instanceof ControlError ? err : new ControlError("FAILED", String(err));
    });
  }

  /**
   * Channels sharing the machine, for the thread policy: every channel with a worker (this one
   * included) or about to get one from the configuration. Threads are fixed when a worker
   * starts; channels started later by control calls get a smaller share as the count grows.
   */
  #channelCount(): number {
    let workers = 0;
    for (const ch of this.#channels.values()) if (ch.worker) workers++;
    return Math.max(workers, this.#configuredRunning);
  }

  #onMessage(ch: Channel, worker: Worker, msg: FromWorker): void {
    if (ch.worker !== worker) return; // a stopped worker's last words
    switch (msg.type) {
      case "ts":
        ch.fanout.push(msg.data);
        if (ch.state === "buffering") {
          ch.failuresInARow = 0;
          if (ch.nothingPlayable === undefined) this.#setOnAir(ch);
          else this.#setState(ch, "error", `nothing playable: ${ch.nothingPlayable}`);
        }
        break;
      case "content":
        ch.nothingPlayable = msg.playable ? undefined : msg.reason;
        if (!msg.playable && ch.state !== "stopped") {
          this.#setState(ch, "error", `nothing playable: ${msg.reason}`);
        } else if (
          msg.playable && ch.state === "error" && ch.reason.startsWith("nothing playable")
        ) {
          this.#setOnAir(ch);
        }
        break;
      case "health":
        ch.degraded = msg.degraded ? { reason: msg.reason } : undefined;
        if (ch.state === "ready" || ch.state === "degraded") this.#setOnAir(ch);
        break;
      case "frame":
        ch.frames?.push(msg.frame);
        break;
      case "block_event":
        this.#blockEvent(ch, msg.event);
        break;
      case "as_run":
      case "as_run_closed":
        this.#asRun(ch, msg);
        break;
      case "log":
        if (RATE_LIMITED_EVENTS.has(msg.event as LogEventName)) {
          this.#limited.log(msg.level, msg.event, { channel: ch.id, ...msg.fields });
        } else {
          ch.log.log(msg.level, msg.event, msg.fields);
        }
        break;
      case "stats":
        ch.stats = msg.stats;
        break;
      case "reply": {
        const p = ch.pending.get(msg.id);
        if (!p) break;
        ch.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new ControlError(msg.error!.code, msg.error!.message));
        break;
      }
      case "fatal":
        this.#fail(ch, worker, msg.message);
        break;
      case "ready":
      case "stopped":
        break;
    }
  }

  #blockEvent(ch: Channel, e: BlockEvent): void {
    for (const l of ch.listeners) {
      try {
        l(e);
      } catch (err) {
        ch.log.error("block_event_listener_failed", { reason: (err as Error).message });
      }
    }
    if (e.kind === "block_completed") {
      ch.sessionBlocks = ch.sessionBlocks.filter((b) => b.blockId !== e.blockId);
      this.#plansChanged();
    }
    if (e.kind === "session_ended") {
      ch.listeners.clear();
      ch.sessionBlocks = [];
      if (ch.mode === "block") ch.mode = "idle";
      // A session that ran out or was stopped is no longer meant to air; a failed one still is
      // (so that health reports the error until a control call says otherwise).
      if (e.reason !== "error") {
        ch.meantOnAir = ch.configured !== undefined && ch.configured.source.kind !== "none";
      }
      this.#plansChanged();
    }
  }

  #asRun(
    ch: Channel,
    msg: Extract<FromWorker, { type: "as_run" } | { type: "as_run_closed" }>,
  ): void {
    const evidence = this.#opts.evidence;
    if (!evidence || !ch.evidenceSessions.has(msg.sessionId)) return;
    if (msg.type === "as_run") evidence.event(msg.sessionId, msg.event);
    else this.#evidenceClosed(ch, msg.sessionId);
  }

  #evidenceClosed(ch: Channel, sessionId: string): void {
    ch.evidenceSessions.delete(sessionId);
    this.#opts.evidence?.closed(sessionId);
  }

  /** The channel's worker is gone: open evidence sessions end with ChannelTerminated. */
  #evidenceTerminated(ch: Channel, reason: string, detail: string): void {
    for (const id of ch.evidenceSessions) {
      this.#opts.evidence?.terminated(id, reason, detail);
      this.#evidenceClosed(ch, id);
    }
  }

  /** Ready, or degraded with the worker's reason. */
  #setOnAir(ch: Channel): void {
    if (ch.degraded) this.#setState(ch, "degraded", ch.degraded.reason);
    else this.#setState(ch, "ready", "on air");
  }

  #setState(ch: Channel, state: ChannelState, reason: string): void {
    if (ch.state === state && ch.reason === reason) return;
    const from = ch.state;
    ch.state = state;
    ch.reason = reason;
    this.#log.info("channel_state_changed", { channel: ch.id, from, to: state, reason });
  }

  /**
   * Ends `worker` after its stop. One that answered has freed everything and closes itself:
   * it is not terminated, so that its thread ends on its own (the process does not exit before
   * a worker that was not terminated has ended). One that did not answer is terminated (it may
   * be stuck, or dead), and the FFmpeg open lock is freed if it died holding it (terminate()
   * runs no `finally`): the other channels' next open would otherwise wait forever.
   */
  #end(worker: Worker, answered: boolean): void {
    if (!answered) worker.terminate();
    const owner = this.#lockOwners.get(worker);
    if (owner !== undefined && releaseOpenLockOf(owner)) {
      this.#log.warn("ffmpeg_open_lock_released", { owner });
    }
  }

  #fail(ch: Channel, worker: Worker, message: string): void {
    if (ch.worker !== worker) return;
    this.#log.error("channel_failed", { channel: ch.id, reason: message });
    for (const p of ch.pending.values()) p.reject(new ControlError("FAILED", message));
    ch.pending.clear();
    this.#evidenceTerminated(ch, "CHANNEL_FAILED", message.split("\n")[0]);
    if (ch.mode === "block") {
      this.#blockEvent(ch, {
        kind: "session_ended",
        reason: "error",
        finalCtMs: 0,
        blocksExecutedTotal: 0,
      });
    }
    ch.retiring = this.#retire(ch, worker);
    ch.worker = undefined;
    ch.workerReady = undefined;
    ch.nothingPlayable = undefined;
    ch.fanout.resetCache();
    ch.restarts++;
    this.#setState(ch, "error", message.split("\n")[0]);
    this.#scheduleRestart(ch);
  }

  /**
   * A configured standalone channel that failed is restarted, after 1 s, 2 s, 4 s ... up to
   * 30 s while it keeps failing; channels driven by control calls wait for the next call.
   */
  #scheduleRestart(ch: Channel): void {
    const spec = ch.configured;
    if (!spec || spec.source.kind === "none" || ch.mode !== "standalone" || this.#closing) return;
    const attempt = ++ch.failuresInARow;
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(5, attempt - 1));
    clearTimeout(ch.restartTimer);
    ch.restartTimer = setTimeout(() => {
      ch.restartTimer = undefined;
      if (ch.worker || this.#closing || ch.configured !== spec) return;
      this.#log.warn("channel_restart", { channel: ch.id, attempt, after_ms: delay });
      this.#startWorker(ch, spec).then(
        () => this.#post(ch, { type: "run" }),
        // A failed start has already been reported by #fail, which schedules the next try.
        () => {},
      );
    }, delay);
  }

  /**
   * Asks the worker; refused with FAILED when it does not answer within the call timeout
   * (plus `extraMs`, for calls that answer when something lands later, e.g. a switch).
   */
  #call(ch: Channel, method: RunnerMethod, args: unknown[], extraMs = 0): Promise<unknown> {
    const worker = ch.worker;
    if (!worker) {
      return Promise.reject(new ControlError("NOT_READY", `channel ${ch.id} is stopped`));
    }
    const id = this.#nextCall++;
    const timeoutMs = (this.#opts.callTimeoutMs ?? 5000) + Math.max(0, extraMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!ch.pending.delete(id)) return;
        this.#log.warn("control_call_timeout", { channel: ch.id, method, timeout_ms: timeoutMs });
        reject(
          new ControlError(
            "FAILED",
            `channel ${ch.id} did not answer ${method} within ${timeoutMs} ms`,
            method,
          ),
        );
      }, timeoutMs);
      ch.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      worker.postMessage({ type: "call", id, method, args } satisfies ToWorker);
    });
  }

  /** Stops a failed worker: it frees its channel and closes (terminated if it does not answer). */
  async #retire(ch: Channel, worker: Worker): Promise<void> {
    this.#end(worker, await this.#awaitStopped(ch, worker, false));
    ch.retiring = undefined;
  }

  /**
   * Posts stop; resolves true on "stopped" (the worker freed everything and closes itself),
   * false when the worker died or, outside shutdown, did not answer within the grace. While the
   * engine shuts down a slow worker is waited for (the stop deadline of main.ts bounds it):
   * terminating it could end the process with the worker inside FFmpeg. Forwards the last TS
   * when `flush`.
   */
  #awaitStopped(ch: Channel, worker: Worker, flush: boolean): Promise<boolean> {
    const grace = this.#opts.stopGraceMs ?? 2000;
    const stopped = new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (answered: boolean) => {
        clearTimeout(timer);
        worker.removeEventListener("message", onMessage);
        resolve(answered);
      };
      const onGrace = () => {
        // A worker that raised an error may be dead: it would never answer.
        const wait = this.#closing && !this.#errored.has(worker);
        this.#log.warn("channel_stop_timeout", {
          channel: ch.id,
          grace_ms: grace,
          action: wait ? "waiting (shutdown)" : "terminating",
        });
        if (wait) timer = undefined;
        else done(false);
      };
      timer = setTimeout(onGrace, grace);
      const onMessage = (e: MessageEvent<FromWorker>) => {
        if (flush && e.data.type === "ts") ch.fanout.push(e.data.data);
        if (flush && e.data.type === "block_event") this.#blockEvent(ch, e.data.event);
        if (flush && (e.data.type === "as_run" || e.data.type === "as_run_closed")) {
          this.#asRun(ch, e.data);
        }
        if (e.data.type === "stopped") {
          if (flush) {
            ch.log.info("channel_flushed", {
              frames_released: e.data.framesReleased,
              last_video_pts_90k: e.data.lastVideoPts90k ?? null,
            });
          }
          done(true);
        }
      };
      worker.addEventListener("message", onMessage);
    });
    try {
      worker.postMessage({ type: "stop" } satisfies ToWorker);
    } catch (err) {
      // A worker that is already gone cannot take messages: nothing is left to free.
      this.#log.warn("channel_stop_post_failed", { channel: ch.id, reason: String(err) });
    }
    const tracked = stopped.then(() => {});
    this.#stops.add(tracked);
    void tracked.then(() => this.#stops.delete(tracked));
    return stopped;
  }

  #post(ch: Channel, msg: ToWorker): void {
    ch.worker?.postMessage(msg);
  }

  async #stopWorker(ch: Channel, reason: string): Promise<void> {
    const worker = ch.worker;
    if (!worker) return;
    ch.worker = undefined;
    ch.workerReady = undefined;
    this.#end(worker, await this.#awaitStopped(ch, worker, true));
    ch.nothingPlayable = undefined;
    // The stream this worker muxed is over: a viewer or attach that comes later must start
    // with the next stream's PAT/PMT and IDR, never with this one's last GOP.
    ch.fanout.resetCache();
    // A worker that did not answer in time left its sessions' records open.
    this.#evidenceTerminated(
      ch,
      "CHANNEL_STOPPED",
      `channel stopped (${reason}) before its record closed`,
    );
    for (const p of ch.pending.values()) p.reject(new ControlError("FAILED", "channel stopped"));
    ch.pending.clear();
    if (ch.mode === "block") ch.mode = "idle";
    this.#setState(ch, "stopped", reason);
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
