/**
 * Restores the plans a previous run of the same engine instance left in its plan store:
 * re-attaches Core's stream, resumes block sessions from now with the blocks not yet over,
 * restarts segment-mode plans.
 *
 * Rules (issue #13):
 * - Each channel being restored is held ({@link ChannelManager.hold}): control calls for it
 *   wait until its restore is done; calls for other channels and GetVersion do not wait.
 * - A restore never replaces what a live call set up: it attaches with
 *   `replace_existing=false` and gives up on a channel that a live call has attached or
 *   started meanwhile.
 * - An attach target that cannot be reached is tried {@link RESTORE_ATTACH_TRIES} times in
 *   all (1 s, 2 s, 4 s, ... apart, in the background); then the entry is dropped with one
 *   `plan_restore_dropped` log line and leaves the store.
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import type { ChannelManager } from "./channel_manager.ts";
import type { ChannelPlanState } from "./plan_store.ts";

/** Attach attempts of a restored entry before it is dropped. */
export const RESTORE_ATTACH_TRIES = 5;
/** Delay before the second attempt, ms; doubles per attempt. */
export const RESTORE_RETRY_INITIAL_MS = 1000;

/** Options of {@link PlanRestore}. */
export interface PlanRestoreOptions {
  manager: ChannelManager;
  log: Logger;
  /** Told when the set of entries still waiting for their target changes (persist). */
  onPendingChanged?: () => void;
  /** Attempts per attach target (default {@link RESTORE_ATTACH_TRIES}). */
  attachTries?: number;
  /** Delay before the second attempt (default {@link RESTORE_RETRY_INITIAL_MS}). */
  retryInitialMs?: number;
  /** Wall clock, ms since the epoch. */
  now?: () => number;
}

/** Restores stored plans into a {@link ChannelManager}. */
export class PlanRestore {
  #opts: PlanRestoreOptions;
  #pending = new Map<number, ChannelPlanState>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  /** Releases of the holds {@link hold} took, by channel. */
  #releases = new Map<number, () => void>();

  constructor(opts: PlanRestoreOptions) {
    this.#opts = opts;
  }

  /** Entries still waiting for their attach target; the plan store keeps them. */
  pending(): ChannelPlanState[] {
    return [...this.#pending.values()];
  }

  /**
   * Holds every channel in `saved` until {@link start} has made its first attempt. Call it
   * before control calls are accepted, so that none can slip in ahead of the restore.
   */
  hold(saved: readonly ChannelPlanState[]): void {
    for (const entry of saved) {
      const released = new Promise<void>((resolve) => this.#releases.set(entry.id, resolve));
      this.#opts.manager.hold(entry.id, released);
    }
  }

  /** Restores `saved`; resolves when each had its first attempt (retries go on). */
  async start(saved: readonly ChannelPlanState[]): Promise<void> {
    await Promise.all(saved.map(async (entry) => {
      try {
        await this.#attempt(entry, 1);
      } finally {
        this.#release(entry.id);
      }
    }));
  }

  /** Cancels pending retries and releases holds (engine stopping); pending entries stay stored. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const id of [...this.#releases.keys()]) this.#release(id);
  }

  #release(id: number): void {
    this.#releases.get(id)?.();
    this.#releases.delete(id);
  }

  async #attempt(entry: ChannelPlanState, tryNo: number): Promise<void> {
    const { manager, log } = this.#opts;
    const id = entry.id;
    if (this.#closed) return;
    const live = manager.get(id);
    if (live?.attached !== undefined || live?.mode === "block" || live?.mode === "segment") {
      this.#settle(id);
      log.info("plan_restore_skipped", {
        channel: id,
        reason: "a control call set the channel up meanwhile",
      });
      return;
    }
    if (entry.attached) {
      const { transport, endpoint } = entry.attached;
      try {
        await manager.attachStream(id, transport, endpoint, false);
        log.info("plan_restored", { channel: id, what: "attach", tries: tryNo });
      } catch (err) {
        const reason = (err as Error).message;
        const tries = this.#opts.attachTries ?? RESTORE_ATTACH_TRIES;
        if (tryNo >= tries) {
          this.#settle(id);
          log.error("plan_restore_dropped", {
            channel: id,
            transport,
            endpoint,
            tries: tryNo,
            reason,
          });
          return;
        }
        const delay = (this.#opts.retryInitialMs ?? RESTORE_RETRY_INITIAL_MS) * 2 ** (tryNo - 1);
        if (!this.#pending.has(id)) {
          this.#pending.set(id, entry);
          this.#opts.onPendingChanged?.();
          log.warn("plan_restore_waiting", {
            channel: id,
            transport,
            endpoint,
            reason,
            tries_left: tries - tryNo,
            retry_in_ms: delay,
          });
        } else {
          log.debug("plan_restore_retry_failed", { channel: id, tries: tryNo, reason });
        }
        this.#retryLater(entry, tryNo + 1, delay);
        return;
      }
    }
    this.#settle(id);
    await this.#resumePlan(entry);
  }

  #retryLater(entry: ChannelPlanState, tryNo: number, delay: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed) return;
      const attempt = this.#attempt(entry, tryNo);
      this.#opts.manager.hold(entry.id, attempt);
    }, delay);
    this.#timers.add(timer);
  }

  /** The entry is done with (restored, skipped or dropped): it leaves the pending set. */
  #settle(id: number): void {
    if (this.#pending.delete(id)) this.#opts.onPendingChanged?.();
  }

  async #resumePlan(entry: ChannelPlanState): Promise<void> {
    const { manager, log } = this.#opts;
    const id = entry.id;
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        log.info("plan_restored", { channel: id, what });
      } catch (err) {
        log.error("plan_restore_failed", { channel: id, what, reason: (err as Error).message });
      }
    };
    const now = (this.#opts.now ?? Date.now)();
    const blocks = entry.blockSession?.blocks.filter((b) => b.endUtcMs > now) ?? [];
    if (entry.blockSession && blocks.length > 0) {
      const depth = entry.blockSession.maxQueueDepth;
      await step(
        "block_session",
        () => manager.startBlockSession(id, blocks, now, entry.format, depth),
      );
    }
    if (entry.segmentPlan) {
      const handle = entry.segmentPlan.planHandle;
      await step("segment_plan", () => manager.startChannel(id, handle, entry.format));
    }
  }
}
