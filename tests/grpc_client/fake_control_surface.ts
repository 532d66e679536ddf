/**
 * A small in-test {@link ControlSurface} for the gRPC layer's tests: it records every call
 * with its (engine-typed) arguments, keeps just enough state to behave like the engine
 * (channels, attach, block sessions, a loaded preview, an armed switch), and lets a test
 * override any method to return or throw what the test wants.
 *
 * @module
 */

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
} from "../../src/engine/control_surface.ts";
import type { BlockEvent, BlockPlan, SegmentItem } from "../../src/engine/plan.ts";
import { DEFAULT_PROGRAM_FORMAT, type ProgramFormat } from "../../media/program_format.ts";
import type { TsFanout } from "../../src/outputs/ts_fanout.ts";

/** One recorded call. */
export interface RecordedCall {
  method: string;
  args: unknown[];
}

type Listener = (event: BlockEvent) => void;

/** Methods a test may override. */
export type OverridableMethod =
  | "startChannel"
  | "updatePlan"
  | "stopChannel"
  | "loadPreview"
  | "switchToLive"
  | "attachStream"
  | "detachStream"
  | "startBlockSession"
  | "feedBlock"
  | "stopBlockSession"
  | "subscribeBlockEvents";

/** The fake engine. */
export class FakeControlSurface implements ControlSurface {
  /** Every call, in order. */
  readonly calls: RecordedCall[] = [];
  /** Channel infos by id (tests may edit states). */
  readonly channels = new Map<number, ChannelInfo>();
  /** Block-event listeners by channel. */
  readonly listeners = new Map<number, Set<Listener>>();
  /** Number of listeners removed by unsubscribe. */
  unsubscribed = 0;
  /** Result a successful switch returns. */
  switchResult: SwitchResult = { ptsContiguous: true, livePts90k: 540540, completionUtcMs: 0 };
  /** Channels with a loaded preview. */
  readonly loaded = new Set<number>();
  /** Releases of armed switches, by channel. */
  readonly armed = new Map<number, (r: SwitchResult) => void>();
  /** Blocks executed per channel (for stopBlockSession). */
  readonly blocksExecuted = new Map<number, number>();

  #overrides = new Map<OverridableMethod, (...args: never[]) => unknown>();
  #waiters: { method: string; resolve: (c: RecordedCall) => void }[] = [];

  /** Replaces a method's behaviour (return a value or throw). */
  override<M extends OverridableMethod>(method: M, fn: ControlSurface[M]): void {
    this.#overrides.set(method, fn as (...args: never[]) => unknown);
  }

  /** Calls of one method. */
  callsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  /** Resolves when `method` is next called (or has been called already, if `past`). */
  waitFor(method: string, past = true): Promise<RecordedCall> {
    const earlier = past ? this.calls.find((c) => c.method === method) : undefined;
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve) => this.#waiters.push({ method, resolve }));
  }

  /** Adds a channel directly (e.g. a configured one) with a state. */
  addChannel(id: number, patch: Partial<ChannelInfo> = {}): ChannelInfo {
    const info: ChannelInfo = {
      id,
      name: `ch${id}`,
      state: "ready",
      stateReason: "",
      format: { ...DEFAULT_PROGRAM_FORMAT },
      startedAtMs: undefined,
      mode: "idle",
      attached: undefined,
      meantOnAir: patch.state !== "stopped",
      ...patch,
    };
    this.channels.set(id, info);
    return info;
  }

  /** Sets a channel's state. */
  setState(id: number, state: ChannelState): void {
    const info = this.channels.get(id) ?? this.addChannel(id);
    info.state = state;
  }

  /** Sends a block event to the channel's subscribers. */
  emit(id: number, event: BlockEvent): void {
    for (const l of [...(this.listeners.get(id) ?? [])]) l(event);
    if (event.kind === "session_ended") {
      const info = this.channels.get(id);
      if (info) info.mode = "idle";
    }
  }

  #record(method: string, args: unknown[]): void {
    const call = { method, args };
    this.calls.push(call);
    const ready = this.#waiters.filter((w) => w.method === method);
    this.#waiters = this.#waiters.filter((w) => w.method !== method);
    for (const w of ready) w.resolve(call);
  }

  #override(method: OverridableMethod, args: unknown[]): { hit: boolean; value?: unknown } {
    const fn = this.#overrides.get(method);
    if (!fn) return { hit: false };
    return { hit: true, value: (fn as (...a: unknown[]) => unknown)(...args) };
  }

  list(): ChannelInfo[] {
    return [...this.channels.values()];
  }

  get(id: number): ChannelInfo | undefined {
    return this.channels.get(id);
  }

  startChannel(id: number, planHandle: string, format: ProgramFormat | undefined): Promise<void> {
    this.#record("startChannel", [id, planHandle, format]);
    const o = this.#override("startChannel", [id, planHandle, format]);
    if (o.hit) return o.value as Promise<void>;
    const info = this.channels.get(id);
    if (info?.mode === "segment") {
      return Promise.reject(new ControlError("ALREADY_ACTIVE", `channel ${id} is running`, id));
    }
    this.addChannel(id, {
      mode: "segment",
      format: format ?? { ...DEFAULT_PROGRAM_FORMAT },
      attached: info?.attached,
      startedAtMs: Date.now(),
    });
    return Promise.resolve();
  }

  updatePlan(id: number, planHandle: string): Promise<void> {
    this.#record("updatePlan", [id, planHandle]);
    const o = this.#override("updatePlan", [id, planHandle]);
    if (o.hit) return o.value as Promise<void>;
    if (this.channels.get(id)?.mode !== "segment") {
      return Promise.reject(new ControlError("NOT_FOUND", `channel ${id} is not running`, id));
    }
    return Promise.resolve();
  }

  stopChannel(id: number): Promise<void> {
    this.#record("stopChannel", [id]);
    const o = this.#override("stopChannel", [id]);
    if (o.hit) return o.value as Promise<void>;
    const info = this.channels.get(id);
    if (info?.mode !== "segment") {
      return Promise.reject(new ControlError("NOT_FOUND", `channel ${id} is not running`, id));
    }
    info.mode = "idle";
    this.loaded.delete(id);
    return Promise.resolve();
  }

  loadPreview(id: number, item: SegmentItem): Promise<PreviewResult> {
    this.#record("loadPreview", [id, item]);
    const o = this.#override("loadPreview", [id, item]);
    if (o.hit) return o.value as Promise<PreviewResult>;
    if (this.armed.has(id)) {
      return Promise.reject(new ControlError("REJECTED_BUSY", "a switch is armed", id));
    }
    this.loaded.add(id);
    return Promise.resolve({ shadowDecodeStarted: true, reason: "" });
  }

  switchToLive(id: number, targetUtcMs: number): Promise<SwitchResult> {
    this.#record("switchToLive", [id, targetUtcMs]);
    const o = this.#override("switchToLive", [id, targetUtcMs]);
    if (o.hit) return o.value as Promise<SwitchResult>;
    if (!this.loaded.has(id)) {
      return Promise.reject(new ControlError("PROTOCOL_VIOLATION", "nothing loaded", id));
    }
    return new Promise((resolve) => {
      this.armed.set(id, (r) => {
        this.armed.delete(id);
        this.loaded.delete(id);
        resolve(r);
      });
    });
  }

  /** Completes the armed switch of a channel. */
  releaseSwitch(id: number, result: SwitchResult = this.switchResult): void {
    const release = this.armed.get(id);
    if (!release) throw new Error(`no switch armed on channel ${id}`);
    release(result);
  }

  attachStream(
    id: number,
    transport: StreamTransport,
    endpoint: string,
    replaceExisting: boolean,
  ): Promise<void> {
    this.#record("attachStream", [id, transport, endpoint, replaceExisting]);
    const o = this.#override("attachStream", [id, transport, endpoint, replaceExisting]);
    if (o.hit) return o.value as Promise<void>;
    const info = this.channels.get(id) ?? this.addChannel(id);
    if (info.attached && !replaceExisting) {
      return Promise.reject(new ControlError("REJECTED_BUSY", "already attached", id));
    }
    info.attached = { transport, endpoint };
    return Promise.resolve();
  }

  detachStream(id: number, force: boolean): Promise<void> {
    this.#record("detachStream", [id, force]);
    const o = this.#override("detachStream", [id, force]);
    if (o.hit) return o.value as Promise<void>;
    const info = this.channels.get(id);
    if (!info?.attached) {
      return Promise.reject(new ControlError("STREAM_NOT_ATTACHED", "not attached", id));
    }
    info.attached = undefined;
    return Promise.resolve();
  }

  startBlockSession(
    id: number,
    blocks: BlockPlan[],
    joinUtcMs: number,
    format: ProgramFormat | undefined,
    maxQueueDepth: number,
  ): Promise<void> {
    this.#record("startBlockSession", [id, blocks, joinUtcMs, format, maxQueueDepth]);
    const o = this.#override("startBlockSession", [id, blocks, joinUtcMs, format, maxQueueDepth]);
    if (o.hit) return o.value as Promise<void>;
    const info = this.channels.get(id) ?? this.addChannel(id);
    if (info.mode === "block") {
      return Promise.reject(new ControlError("ALREADY_ACTIVE", "session active", id));
    }
    if (!info.attached) {
      return Promise.reject(new ControlError("STREAM_NOT_ATTACHED", "not attached", id));
    }
    info.mode = "block";
    return Promise.resolve();
  }

  feedBlock(id: number, block: BlockPlan): Promise<void> {
    this.#record("feedBlock", [id, block]);
    const o = this.#override("feedBlock", [id, block]);
    if (o.hit) return o.value as Promise<void>;
    // The engine owns the rule (the service does not check it): answer as the engine does.
    if (this.channels.get(id)?.mode !== "block") {
      return Promise.reject(
        new ControlError("NO_SESSION", `channel ${id} has no block session`, id),
      );
    }
    return Promise.resolve();
  }

  stopBlockSession(
    id: number,
    reason: string,
  ): Promise<{ finalCtMs: number; blocksExecuted: number }> {
    this.#record("stopBlockSession", [id, reason]);
    const o = this.#override("stopBlockSession", [id, reason]);
    if (o.hit) return o.value as Promise<{ finalCtMs: number; blocksExecuted: number }>;
    if (this.channels.get(id)?.mode !== "block") {
      return Promise.reject(new ControlError("NO_SESSION", "no session", id));
    }
    const blocksExecuted = this.blocksExecuted.get(id) ?? 0;
    const result = { finalCtMs: 12345, blocksExecuted };
    this.emit(id, {
      kind: "session_ended",
      reason: "stopped",
      finalCtMs: result.finalCtMs,
      blocksExecutedTotal: blocksExecuted,
    });
    return Promise.resolve(result);
  }

  subscribeBlockEvents(id: number, listener: Listener): () => void {
    this.#record("subscribeBlockEvents", [id]);
    const o = this.#override("subscribeBlockEvents", [id, listener]);
    if (o.hit) return o.value as () => void;
    if (this.channels.get(id)?.mode !== "block") {
      throw new ControlError("NOT_FOUND", `channel ${id} has no session`, id);
    }
    const set = this.listeners.get(id) ?? new Set();
    set.add(listener);
    this.listeners.set(id, set);
    return () => {
      if (set.delete(listener)) this.unsubscribed++;
    };
  }

  fanout(_id: number): TsFanout | undefined {
    return undefined;
  }

  stats(_id: number): ChannelStats | undefined {
    return undefined;
  }
}
