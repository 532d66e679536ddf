/**
 * The control rules about a channel's state that more than one caller must apply before it
 * acts, each written once: the gRPC service applies them before it reads a request's blocks
 * (the spec's order: state before structure), the channel manager for every caller (a plan
 * restore, tests). Rules only the runner can judge (a session still running, the queue's depth,
 * the next block's start) stay in the runner.
 *
 * @module
 */

import type { ChannelInfo } from "../../media/channel_status.ts";
import { ControlError } from "./control_surface.ts";

/**
 * StartBlockPlanSession's state rules, in the spec's order: a block session is active →
 * ALREADY_ACTIVE; no stream attached → STREAM_NOT_ATTACHED.
 */
export function checkCanStartBlockSession(id: number, info: ChannelInfo | undefined): void {
  if (info?.mode === "block") {
    throw new ControlError("ALREADY_ACTIVE", `channel ${id} already has a block session`, id);
  }
  if (info?.attached === undefined) {
    throw new ControlError(
      "STREAM_NOT_ATTACHED",
      `channel ${id} has no attached stream (call AttachStream first)`,
      id,
    );
  }
}

/** LoadPreview, SwitchToLive and UpdatePlan need a channel StartChannel started: else NOT_READY. */
export function checkStartedBySegment(id: number, info: ChannelInfo | undefined): void {
  if (info === undefined || info.mode !== "segment") {
    throw new ControlError(
      "NOT_READY",
      `channel ${id} is not started in segment mode (call StartChannel first)`,
      id,
    );
  }
}

/** One block's times, with how to name them in a refusal. */
export interface BlockSpan {
  startUtcMs: number;
  endUtcMs: number;
  /** Names of the start and the end, e.g. `block_b.start_utc_ms`. */
  startName: string;
  endName: string;
}

/** Each block starts where the one before it ends: else NOT_CONTIGUOUS naming both times. */
export function checkContiguous(blocks: readonly BlockSpan[]): void {
  for (let i = 1; i < blocks.length; i++) {
    const [a, b] = [blocks[i - 1], blocks[i]];
    if (b.startUtcMs !== a.endUtcMs) {
      throw new ControlError(
        "NOT_CONTIGUOUS",
        `${a.endName} (${a.endUtcMs}) != ${b.startName} (${b.startUtcMs})`,
        { end: a.endUtcMs, start: b.startUtcMs },
      );
    }
  }
}

/** AttachStream on an attached channel needs `replaceExisting`: else REJECTED_BUSY. */
export function checkCanAttach(id: number, info: ChannelInfo | undefined, replace: boolean): void {
  const current = info?.attached;
  if (current !== undefined && !replace) {
    throw new ControlError(
      "REJECTED_BUSY",
      `channel ${id} is already attached to ${current.transport}:${current.endpoint}; ` +
        "set replace_existing to replace it",
      current,
    );
  }
}
