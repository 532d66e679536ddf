/**
 * The wire's result codes and how the engine's {@link ControlErrorCode}s map onto them.
 *
 * Segment-mode responses carry a `ResultCode`; block-mode responses a `BlockPlanResultCode`.
 * Each engine code has exactly one wire code in each family: the direct one where it exists,
 * otherwise the closest meaning (e.g. an unknown channel is NOT_READY for LoadPreview and
 * NO_SESSION for FeedBlockPlan).
 *
 * @module
 */

import type { ControlErrorCode } from "../engine/control_surface.ts";

/** `retrovue.playout.ResultCode` value names. */
export type ResultCodeName =
  | "RESULT_CODE_UNSPECIFIED"
  | "RESULT_CODE_OK"
  | "RESULT_CODE_NOT_READY"
  | "RESULT_CODE_REJECTED_BUSY"
  | "RESULT_CODE_PROTOCOL_VIOLATION"
  | "RESULT_CODE_FAILED";

/** `retrovue.playout.BlockPlanResultCode` value names. */
export type BlockPlanResultCodeName =
  | "BLOCKPLAN_RESULT_UNSPECIFIED"
  | "BLOCKPLAN_RESULT_OK"
  | "BLOCKPLAN_RESULT_INVALID_BLOCK"
  | "BLOCKPLAN_RESULT_NOT_CONTIGUOUS"
  | "BLOCKPLAN_RESULT_QUEUE_FULL"
  | "BLOCKPLAN_RESULT_NO_SESSION"
  | "BLOCKPLAN_RESULT_ALREADY_ACTIVE"
  | "BLOCKPLAN_RESULT_STREAM_NOT_ATTACHED";

const RESULT_CODES: Readonly<Record<ControlErrorCode, ResultCodeName>> = Object.freeze({
  NOT_READY: "RESULT_CODE_NOT_READY",
  REJECTED_BUSY: "RESULT_CODE_REJECTED_BUSY",
  PROTOCOL_VIOLATION: "RESULT_CODE_PROTOCOL_VIOLATION",
  FAILED: "RESULT_CODE_FAILED",
  INVALID_BLOCK: "RESULT_CODE_PROTOCOL_VIOLATION",
  NOT_CONTIGUOUS: "RESULT_CODE_PROTOCOL_VIOLATION",
  QUEUE_FULL: "RESULT_CODE_REJECTED_BUSY",
  NO_SESSION: "RESULT_CODE_NOT_READY",
  ALREADY_ACTIVE: "RESULT_CODE_REJECTED_BUSY",
  STREAM_NOT_ATTACHED: "RESULT_CODE_NOT_READY",
  NOT_FOUND: "RESULT_CODE_NOT_READY",
});

const BLOCK_PLAN_RESULT_CODES: Readonly<Record<ControlErrorCode, BlockPlanResultCodeName>> = Object
  .freeze({
    NOT_READY: "BLOCKPLAN_RESULT_UNSPECIFIED",
    REJECTED_BUSY: "BLOCKPLAN_RESULT_UNSPECIFIED",
    PROTOCOL_VIOLATION: "BLOCKPLAN_RESULT_INVALID_BLOCK",
    FAILED: "BLOCKPLAN_RESULT_UNSPECIFIED",
    INVALID_BLOCK: "BLOCKPLAN_RESULT_INVALID_BLOCK",
    NOT_CONTIGUOUS: "BLOCKPLAN_RESULT_NOT_CONTIGUOUS",
    QUEUE_FULL: "BLOCKPLAN_RESULT_QUEUE_FULL",
    NO_SESSION: "BLOCKPLAN_RESULT_NO_SESSION",
    ALREADY_ACTIVE: "BLOCKPLAN_RESULT_ALREADY_ACTIVE",
    STREAM_NOT_ATTACHED: "BLOCKPLAN_RESULT_STREAM_NOT_ATTACHED",
    NOT_FOUND: "BLOCKPLAN_RESULT_NO_SESSION",
  });

/** The segment-mode `ResultCode` for a refusal. */
export function resultCodeFor(code: ControlErrorCode): ResultCodeName {
  return RESULT_CODES[code] ?? "RESULT_CODE_FAILED";
}

/**
 * The block-mode `BlockPlanResultCode` for a refusal. Refusals without a block-mode meaning
 * (NOT_READY, REJECTED_BUSY, FAILED) are UNSPECIFIED, with `success=false` and the message.
 */
export function blockPlanResultCodeFor(code: ControlErrorCode): BlockPlanResultCodeName {
  return BLOCK_PLAN_RESULT_CODES[code] ?? "BLOCKPLAN_RESULT_UNSPECIFIED";
}
