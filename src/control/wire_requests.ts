/**
 * Validation of `retrovue.playout` requests as decoded by proto-loader (snake_case fields,
 * 64-bit integers as decimal strings, enums as names, defaults filled in) and their
 * conversion to engine values. Nothing reaches the engine before it passed through here.
 *
 * Every failure is a {@link WireValidationError} naming the offending field by its dotted path
 * in the request (e.g. `block_a.segments.2.segment_duration_ms`).
 *
 * Only structurally malformed input is refused: asset files are not required to exist (the
 * engine plays pad for a missing asset).
 *
 * @module
 */

import { z } from "zod";
import type {
  BlockPlan,
  BlockSegment,
  SegmentItem,
  SegmentType,
  Transition,
} from "../engine/plan.ts";
import type { StreamTransport } from "../../media/channel_status.ts";
import { parseHostPort } from "../endpoints/host_port.ts";
import { UNIX_SOCKET_PATH_MAX_BYTES, unixSocketPathFits } from "../endpoints/unix_socket.ts";
import { valueAt } from "../config/problems.ts";

/** Largest channel id (int32 max); ids start at 1. */
export const MAX_CHANNEL_ID = 2 ** 31 - 1;
/** Most segments in one block. */
export const MAX_SEGMENTS_PER_BLOCK = 10_000;
/** Longest block, ms (7 days). */
export const MAX_BLOCK_DURATION_MS = 7 * 24 * 3600 * 1000;
/** Latest accepted wall-clock time, ms since the epoch (end of year 9999). */
export const MAX_UTC_MS = 253_402_300_799_999;
/** Longest path or URI accepted. */
export const MAX_PATH_LENGTH = 4096;
/** Longest identifier (block id, event id, uuids, reasons) accepted. */
export const MAX_ID_LENGTH = 256;
/** Accepted segment gain range, dB (inclusive). */
export const GAIN_DB_RANGE: readonly [number, number] = Object.freeze([-100, 30] as const);
/** Largest accepted `max_queue_depth`. */
export const MAX_QUEUE_DEPTH = 1000;

/** A request field is missing, malformed or out of range. */
export class WireValidationError extends Error {
  override name = "WireValidationError";
  /**
   * @param field dotted path of the offending field in the request
   * @param value the offending value
   */
  constructor(readonly field: string, readonly value: unknown, message: string) {
    super(message);
  }
}

// ---- field schemas -------------------------------------------------------------------------

const channelId = z.number({
  required_error: "is required",
  invalid_type_error: "must be a number",
})
  .int("must be an integer")
  .min(1, `must be between 1 and ${MAX_CHANNEL_ID}`)
  .max(MAX_CHANNEL_ID, `must be between 1 and ${MAX_CHANNEL_ID}`);

/** A 64-bit integer field (decimal string on the wire side) as a safe JS number. */
function int64(min: number, max: number, rangeMessage?: string) {
  return z.union([z.string(), z.number()], { invalid_type_error: "must be an integer" })
    .transform((value, ctx) => {
      const n = typeof value === "number" ? value : /^-?\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(n)) {
        ctx.addIssue({ code: "custom", message: "must be an integer" });
        return z.NEVER;
      }
      if (n < min || n > max) {
        ctx.addIssue({
          code: "custom",
          message: rangeMessage ?? `must be between ${min} and ${max}`,
        });
        return z.NEVER;
      }
      return n;
    });
}

const utcMs = int64(0, MAX_UTC_MS, "must be a wall-clock time in ms since the epoch (>= 0)");

function text(max: number, opts: { nonEmpty?: boolean } = {}) {
  let s = z.string({ required_error: "is required", invalid_type_error: "must be a string" })
    .max(max, `must be at most ${max} characters`);
  if (opts.nonEmpty) s = s.min(1, "must not be empty");
  return s;
}

const segmentTypeNames = {
  SEGMENT_TYPE_CONTENT: "content",
  SEGMENT_TYPE_FILLER: "filler",
  SEGMENT_TYPE_PAD: "pad",
} as const satisfies Record<string, SegmentType>;

const transitionNames = { TRANSITION_NONE: "none", TRANSITION_FADE: "fade" } as const;

const transportNames = {
  STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET: "unix",
  STREAM_TRANSPORT_TCP_LOOPBACK: "tcp",
} as const satisfies Record<string, StreamTransport>;

function wireEnum<T extends Record<string, string>>(names: T) {
  const keys = Object.keys(names);
  return z.custom<keyof T & string>(
    (v) => typeof v === "string" && keys.includes(v),
    { message: `must be one of ${keys.join(", ")}` },
  );
}

const uint32Ms = z.number({ invalid_type_error: "must be a number" })
  .int("must be an integer")
  .min(0, "must not be negative");

const blockSegmentSchema = z.object({
  segment_index: z.number().int("must be an integer").min(0, "must not be negative"),
  asset_uri: text(MAX_PATH_LENGTH),
  asset_start_offset_ms: int64(0, MAX_BLOCK_DURATION_MS * 4),
  segment_duration_ms: int64(1, MAX_BLOCK_DURATION_MS, "must be positive (and at most 7 days)"),
  segment_type: wireEnum(segmentTypeNames),
  event_id: text(MAX_ID_LENGTH),
  transition_in: wireEnum(transitionNames),
  transition_in_duration_ms: uint32Ms,
  transition_out: wireEnum(transitionNames),
  transition_out_duration_ms: uint32Ms,
  segment_uuid: text(MAX_ID_LENGTH),
  asset_uuid: text(MAX_ID_LENGTH),
  gain_db: z.number({ invalid_type_error: "must be a number" })
    .refine((g) => Number.isFinite(g), "must be finite")
    .refine(
      (g) => g >= GAIN_DB_RANGE[0] && g <= GAIN_DB_RANGE[1],
      `must be between ${GAIN_DB_RANGE[0]} and ${GAIN_DB_RANGE[1]} dB`,
    ),
}, { required_error: "is required", invalid_type_error: "must be a message" });

const blockPlanSchema = z.object({
  block_id: text(MAX_ID_LENGTH, { nonEmpty: true }),
  channel_id: z.number().int("must be an integer").min(0, "must not be negative"),
  start_utc_ms: utcMs,
  end_utc_ms: utcMs,
  // Items are validated apart, in slices, so a long list does not hold the event loop.
  segments: z.array(z.unknown(), { invalid_type_error: "must be a list" })
    .min(1, "must hold at least one segment")
    .max(MAX_SEGMENTS_PER_BLOCK, `must hold at most ${MAX_SEGMENTS_PER_BLOCK} segments`),
  broadcast_date: text(64),
  broadcast_day_anchor_utc_ms: utcMs,
}, { required_error: "is required", invalid_type_error: "is required" });

type WireSegment = z.output<typeof blockSegmentSchema>;
type WireBlock = Omit<z.output<typeof blockPlanSchema>, "segments"> & { segments: WireSegment[] };

/** Segments validated between two yields to the event loop (about 2 ms of work). */
export const SEGMENTS_PER_SLICE = 250;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Cross-field rules of a block that passed the field schemas (run only then: zod runs
 * refinements on partially invalid objects too).
 */
function checkBlockStructure(b: WireBlock, field: string): void {
  const fail = (path: string, value: unknown, message: string): never => {
    throw new WireValidationError(`${field}.${path}`, value, `${field}.${path} ${message}`);
  };
  const span = b.end_utc_ms - b.start_utc_ms;
  if (span <= 0) fail("end_utc_ms", b.end_utc_ms, `must be after start_utc_ms (${b.start_utc_ms})`);
  if (span > MAX_BLOCK_DURATION_MS) {
    fail("end_utc_ms", b.end_utc_ms, `makes the block longer than ${MAX_BLOCK_DURATION_MS} ms`);
  }
  const first = b.segments[0].segment_index;
  b.segments.forEach((s, i) => {
    const at = `segments.${i}`;
    if (s.segment_index !== first + i) {
      fail(
        `${at}.segment_index`,
        s.segment_index,
        `must be ${first + i}: segments must be listed in order without gaps`,
      );
    }
    if (s.segment_type !== "SEGMENT_TYPE_PAD" && s.asset_uri === "") {
      fail(`${at}.asset_uri`, s.asset_uri, "must not be empty for a CONTENT or FILLER segment");
    }
    for (const edge of ["transition_in", "transition_out"] as const) {
      const ms = s[`${edge}_duration_ms`];
      if (ms > s.segment_duration_ms) {
        fail(
          `${at}.${edge}_duration_ms`,
          ms,
          `must not exceed the segment's duration (${s.segment_duration_ms} ms)`,
        );
      }
    }
  });
  const sum = b.segments.reduce((acc, s) => acc + s.segment_duration_ms, 0);
  if (sum !== span) {
    fail(
      "segments",
      sum,
      `durations sum to ${sum} ms but the block spans ${span} ms (${b.start_utc_ms}..${b.end_utc_ms})`,
    );
  }
}

// ---- helpers ---------------------------------------------------------------------------------

function parseWith<T extends z.ZodTypeAny>(
  schema: T,
  raw: unknown,
  prefix: readonly (string | number)[] = [],
): z.output<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [...prefix, ...issue.path];
  const field = path.join(".");
  throw new WireValidationError(field, valueAt(raw, issue.path), `${field} ${issue.message}`);
}

function requestObject(raw: unknown): Record<string, unknown> {
  if (raw === null || typeof raw !== "object") {
    throw new WireValidationError("", raw, "request must be a message");
  }
  return raw as Record<string, unknown>;
}

/** Validates a request's `channel_id`. */
export function parseChannelId(raw: unknown): number {
  return parseWith(channelId, requestObject(raw).channel_id, ["channel_id"]);
}

// ---- block plans -----------------------------------------------------------------------------

/**
 * Validates a wire `BlockPlan` (at `field` of the request, e.g. `block_a`) for channel
 * `channelId` and converts it. A block's own `channel_id` may be 0 (unset) or `channelId`.
 * Long segment lists are validated in slices with yields to the event loop between them.
 */
export async function parseBlockPlan(
  raw: unknown,
  field: string,
  channel: number,
): Promise<BlockPlan> {
  if (raw === null || raw === undefined) {
    throw new WireValidationError(field, raw, `${field} is required`);
  }
  const top = parseWith(blockPlanSchema, raw, [field]);
  const segments: WireSegment[] = [];
  for (let i = 0; i < top.segments.length; i++) {
    if (i > 0 && i % SEGMENTS_PER_SLICE === 0) await yieldToEventLoop();
    segments.push(parseWith(blockSegmentSchema, top.segments[i], [field, "segments", i]));
  }
  const b: WireBlock = { ...top, segments };
  checkBlockStructure(b, field);
  if (b.channel_id !== 0 && b.channel_id !== channel) {
    throw new WireValidationError(
      `${field}.channel_id`,
      b.channel_id,
      `${field}.channel_id ${b.channel_id} does not match the request's channel_id ${channel}`,
    );
  }
  return {
    blockId: b.block_id,
    channelId: channel,
    startUtcMs: b.start_utc_ms,
    endUtcMs: b.end_utc_ms,
    segments: b.segments.map((s): BlockSegment => ({
      segmentIndex: s.segment_index,
      assetUri: s.segment_type === "SEGMENT_TYPE_PAD" ? "" : s.asset_uri,
      assetStartOffsetMs: s.asset_start_offset_ms,
      durationMs: s.segment_duration_ms,
      type: segmentTypeNames[s.segment_type],
      eventId: s.event_id,
      transitionIn: transition(s.transition_in, s.transition_in_duration_ms),
      transitionOut: transition(s.transition_out, s.transition_out_duration_ms),
      segmentUuid: s.segment_uuid,
      assetUuid: s.asset_uuid,
      gainDb: s.gain_db,
    })),
    broadcastDate: b.broadcast_date,
    broadcastDayAnchorUtcMs: b.broadcast_day_anchor_utc_ms,
  };
}

function transition(type: keyof typeof transitionNames, durationMs: number): Transition {
  const t = transitionNames[type];
  return { type: t, durationMs: t === "none" ? 0 : durationMs };
}

/** The two time fields of a (not yet validated) wire block that contiguity checks compare. */
export function rawBlockTimes(raw: unknown): { startUtcMs: number; endUtcMs: number } | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const r = raw as Record<string, unknown>;
  const start = Number(r.start_utc_ms);
  const end = Number(r.end_utc_ms);
  if (!Number.isFinite(start) || !Number.isFinite(end)) return undefined;
  return { startUtcMs: start, endUtcMs: end };
}

// ---- requests --------------------------------------------------------------------------------

/** A validated StartChannelRequest. */
export interface StartChannelArgs {
  channelId: number;
  planHandle: string;
  port: number;
  /** Raw program_format_json, or undefined when empty. */
  programFormatJson: string | undefined;
}

const startChannelSchema = z.object({
  channel_id: channelId,
  plan_handle: text(MAX_PATH_LENGTH, { nonEmpty: true }),
  port: z.number().int("must be an integer").min(0, "must be between 0 and 65535")
    .max(65535, "must be between 0 and 65535"),
  program_format_json: text(64 * 1024),
});

/** Validates a StartChannelRequest. */
export function parseStartChannel(raw: unknown): StartChannelArgs {
  const r = parseWith(startChannelSchema, requestObject(raw));
  return {
    channelId: r.channel_id,
    planHandle: r.plan_handle,
    port: r.port,
    programFormatJson: r.program_format_json.trim() === "" ? undefined : r.program_format_json,
  };
}

const updatePlanSchema = z.object({
  channel_id: channelId,
  plan_handle: text(MAX_PATH_LENGTH, { nonEmpty: true }),
});

/** Validates an UpdatePlanRequest. */
export function parseUpdatePlan(raw: unknown): { channelId: number; planHandle: string } {
  const r = parseWith(updatePlanSchema, requestObject(raw));
  return { channelId: r.channel_id, planHandle: r.plan_handle };
}

const loadPreviewSchema = z.object({
  channel_id: channelId,
  asset_path: text(MAX_PATH_LENGTH, { nonEmpty: true }),
  start_frame: int64(0, Number.MAX_SAFE_INTEGER, "must not be negative"),
  frame_count: int64(-1, Number.MAX_SAFE_INTEGER, "must be -1 (to end of file) or positive")
    .refine((n) => n !== 0, "must be -1 (to end of file) or positive"),
  fps_numerator: z.number().int("must be an integer").min(1, "must be positive"),
  fps_denominator: z.number().int("must be an integer").min(1, "must be positive"),
});

/** Validates a LoadPreviewRequest into the engine's segment item. */
export function parseLoadPreview(raw: unknown): { channelId: number; item: SegmentItem } {
  const r = parseWith(loadPreviewSchema, requestObject(raw));
  return {
    channelId: r.channel_id,
    item: {
      assetPath: r.asset_path,
      startFrame: r.start_frame,
      frameCount: r.frame_count,
      fps: { num: r.fps_numerator, den: r.fps_denominator },
    },
  };
}

/** A validated SwitchToLiveRequest (times in ms since the epoch; 0 = unset). */
export interface SwitchToLiveArgs {
  channelId: number;
  targetBoundaryTimeMs: number;
  issuedAtTimeMs: number;
}

const switchToLiveSchema = z.object({
  channel_id: channelId,
  target_boundary_time_ms: utcMs,
  issued_at_time_ms: utcMs,
});

/** Validates a SwitchToLiveRequest (the lead-time rule is the service's). */
export function parseSwitchToLive(raw: unknown): SwitchToLiveArgs {
  const r = parseWith(switchToLiveSchema, requestObject(raw));
  return {
    channelId: r.channel_id,
    targetBoundaryTimeMs: r.target_boundary_time_ms,
    issuedAtTimeMs: r.issued_at_time_ms,
  };
}

/** A validated AttachStreamRequest. */
export interface AttachStreamArgs {
  channelId: number;
  transport: StreamTransport;
  endpoint: string;
  replaceExisting: boolean;
}

const attachStreamSchema = z.object({
  channel_id: channelId,
  transport: wireEnum(transportNames),
  endpoint: text(MAX_PATH_LENGTH, { nonEmpty: true }),
  replace_existing: z.boolean(),
});

/** The endpoint rules of a transport; a message when `endpoint` breaks them. */
function endpointProblem(transport: StreamTransport, endpoint: string): string | undefined {
  if (transport === "unix") {
    if (!endpoint.startsWith("/")) return "must be an absolute socket path";
    if (!unixSocketPathFits(endpoint)) {
      return `must be at most ${UNIX_SOCKET_PATH_MAX_BYTES} bytes (a Unix socket path)`;
    }
    return undefined;
  }
  return parseHostPort(endpoint) === undefined
    ? "must be host:port with a port between 1 and 65535"
    : undefined;
}

/** Validates an AttachStreamRequest. */
export function parseAttachStream(raw: unknown): AttachStreamArgs {
  const r = parseWith(attachStreamSchema, requestObject(raw));
  const transport = transportNames[r.transport];
  const problem = endpointProblem(transport, r.endpoint);
  if (problem !== undefined) {
    throw new WireValidationError("endpoint", r.endpoint, `endpoint ${problem}`);
  }
  return {
    channelId: r.channel_id,
    transport,
    endpoint: r.endpoint,
    replaceExisting: r.replace_existing,
  };
}

/** The wire name of an engine transport. */
export function wireTransport(t: StreamTransport): keyof typeof transportNames {
  return t === "unix" ? "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET" : "STREAM_TRANSPORT_TCP_LOOPBACK";
}

const detachStreamSchema = z.object({ channel_id: channelId, force: z.boolean() });

/** Validates a DetachStreamRequest. */
export function parseDetachStream(raw: unknown): { channelId: number; force: boolean } {
  const r = parseWith(detachStreamSchema, requestObject(raw));
  return { channelId: r.channel_id, force: r.force };
}

/** The session-level fields of a StartBlockPlanSessionRequest (blocks are validated apart). */
export interface StartBlockSessionArgs {
  channelId: number;
  joinUtcMs: number;
  programFormatJson: string | undefined;
  /** `max_queue_depth`, raised to 2 when below. */
  maxQueueDepth: number;
  evidenceEndpoint: string;
  channelIdStr: string;
}

const startBlockSessionSchema = z.object({
  channel_id: channelId,
  join_utc_ms: utcMs,
  program_format_json: text(64 * 1024),
  max_queue_depth: z.number().int("must be an integer")
    .max(MAX_QUEUE_DEPTH, `must be at most ${MAX_QUEUE_DEPTH}`),
  evidence_endpoint: text(MAX_PATH_LENGTH),
  channel_id_str: text(MAX_ID_LENGTH),
});

/** Validates the session-level fields of a StartBlockPlanSessionRequest. */
export function parseStartBlockSession(raw: unknown): StartBlockSessionArgs {
  const r = parseWith(startBlockSessionSchema, requestObject(raw));
  return {
    channelId: r.channel_id,
    joinUtcMs: r.join_utc_ms,
    programFormatJson: r.program_format_json.trim() === "" ? undefined : r.program_format_json,
    maxQueueDepth: Math.max(2, r.max_queue_depth),
    evidenceEndpoint: r.evidence_endpoint,
    channelIdStr: r.channel_id_str,
  };
}

const stopBlockSessionSchema = z.object({
  channel_id: channelId,
  reason: text(MAX_ID_LENGTH),
});

/** Validates a StopBlockPlanSessionRequest; an empty reason becomes "stopped". */
export function parseStopBlockSession(raw: unknown): { channelId: number; reason: string } {
  const r = parseWith(stopBlockSessionSchema, requestObject(raw));
  return { channelId: r.channel_id, reason: r.reason === "" ? "stopped" : r.reason };
}
