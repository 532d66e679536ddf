/**
 * The evidence wire vocabulary (`retrovue.evidence.v1`, see
 * `proto/retrovue/execution_evidence_v1.proto`): spool records are the `EvidenceFromAir`
 * messages as JSON (proto field names, 64-bit integers as numbers) with `payload_type` naming
 * the oneof member, plus the spool-only `final` mark on a session's last event.
 *
 * @module
 */

import type { AsRunEvent } from "../engine/as_run.ts";

/** Always 1 (EvidenceFromAir.schema_version). */
export const EVIDENCE_SCHEMA_VERSION = 1;

/** Names of the `payload` oneof members. */
export type PayloadType =
  | "hello"
  | "block_start"
  | "segment_end"
  | "block_fence"
  | "channel_terminated"
  | "segment_start";

/** One spooled event: an EvidenceFromAir as JSON plus spool bookkeeping. */
export interface EvidenceRecord {
  schema_version: number;
  channel_id: string;
  playout_session_id: string;
  sequence: number;
  event_uuid: string;
  emitted_utc: string;
  payload_type: PayloadType;
  /** The payload, under the key named by `payload_type` (as on the wire). */
  [payload: string]: unknown;
  /** The session's last event (last BlockFence or ChannelTerminated); spool-only. */
  final?: boolean;
}

/** A payload with its oneof member name. */
export interface EvidencePayload {
  type: PayloadType;
  body: Record<string, unknown>;
  final: boolean;
  emittedUtcMs: number;
}

/** ISO-8601 UTC with `Z` (ms precision) of a channel-clock time. */
export function isoUtc(ms: number): string {
  return new Date(Math.round(ms)).toISOString();
}

/** The wire payload of an as-run event. */
export function payloadOf(e: AsRunEvent): EvidencePayload {
  const ms = Math.round;
  switch (e.kind) {
    case "block_start":
      return {
        type: "block_start",
        emittedUtcMs: e.emittedUtcMs,
        final: false,
        body: {
          block_id: e.blockId,
          swap_tick: e.swapTick,
          fence_tick: e.fenceTick,
          actual_start_utc_ms: ms(e.actualStartUtcMs),
          primed_success: e.primedSuccess,
        },
      };
    case "segment_start": {
      const body: Record<string, unknown> = {
        block_id: e.blockId,
        event_id: e.eventId,
        segment_index: e.segmentIndex,
        actual_start_utc_ms: ms(e.actualStartUtcMs),
        asset_start_frame: e.assetStartFrame,
        scheduled_duration_ms: ms(e.scheduledDurationMs),
        segment_type_name: e.segmentTypeName,
        asset_uri: e.assetUri,
        segment_title: e.segmentTitle,
        segment_uuid: e.segmentUuid,
        asset_uuid: e.assetUuid,
      };
      if (e.joinInProgress !== undefined) body.join_in_progress = e.joinInProgress;
      return { type: "segment_start", emittedUtcMs: e.emittedUtcMs, final: false, body };
    }
    case "segment_end":
      return {
        type: "segment_end",
        emittedUtcMs: e.emittedUtcMs,
        final: false,
        body: {
          block_id: e.blockId,
          event_id_ref: e.eventIdRef,
          actual_start_utc_ms: ms(e.actualStartUtcMs),
          actual_end_utc_ms: ms(e.actualEndUtcMs),
          asset_start_frame: e.assetStartFrame,
          asset_end_frame: e.assetEndFrame,
          computed_duration_ms: ms(e.computedDurationMs),
          computed_duration_frames: e.computedDurationFrames,
          status: e.status,
          reason: e.reason,
          fallback_frames_used: e.fallbackFramesUsed,
          segment_uuid: e.segmentUuid,
          segment_type_name: e.segmentTypeName,
          asset_uuid: e.assetUuid,
        },
      };
    case "block_fence":
      return {
        type: "block_fence",
        emittedUtcMs: e.emittedUtcMs,
        final: e.final,
        body: {
          block_id: e.blockId,
          swap_tick: e.swapTick,
          fence_tick: e.fenceTick,
          actual_end_utc_ms: ms(e.actualEndUtcMs),
          ct_at_fence_ms: ms(e.ctAtFenceMs),
          total_frames_emitted: e.totalFramesEmitted,
          truncated_by_fence: e.truncatedByFence,
          early_exhaustion: e.earlyExhaustion,
          primed_success: e.primedSuccess,
        },
      };
  }
}

/** A ChannelTerminated payload (always final). */
export function terminatedPayload(utcMs: number, reason: string, detail: string): EvidencePayload {
  return {
    type: "channel_terminated",
    emittedUtcMs: utcMs,
    final: true,
    body: { termination_utc_ms: Math.round(utcMs), reason, detail },
  };
}

/** The EvidenceFromAir message of a record (drops spool-only keys). */
export function wireMessage(r: EvidenceRecord): Record<string, unknown> {
  return {
    schema_version: r.schema_version,
    channel_id: r.channel_id,
    playout_session_id: r.playout_session_id,
    sequence: r.sequence,
    event_uuid: r.event_uuid,
    emitted_utc: r.emitted_utc,
    [r.payload_type]: r[r.payload_type],
  };
}

/** The Hello opening every connection of a session. */
export function helloMessage(
  channelId: string,
  sessionId: string,
  lastSequenceEmitted: number,
): Record<string, unknown> {
  return {
    schema_version: EVIDENCE_SCHEMA_VERSION,
    channel_id: channelId,
    playout_session_id: sessionId,
    sequence: 0,
    event_uuid: "hello",
    emitted_utc: "",
    hello: { first_sequence_available: 1, last_sequence_emitted: lastSequenceEmitted },
  };
}
