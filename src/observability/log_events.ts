/**
 * The stable names of the engine's structured log events and the logging policy.
 *
 * Policy:
 * - Every control call, channel state change, segment/block start and end, asset error,
 *   viewer connect/disconnect and attach (re)connect is one JSON event named here, with the
 *   channel id in the `channel` field (a number) wherever the event concerns one channel.
 * - Field names are snake_case; durations carry their unit (`duration_ms`).
 * - Events that a fault can repeat at frame or connection rate ({@link RATE_LIMITED_EVENTS})
 *   go through a {@link import("./log_limiter.ts").RateLimitedLog}; lifecycle events that
 *   happen a handful of times per hour (state changes, block start/end, control calls) may go
 *   straight to the logger, but passing them through the limiter is harmless.
 * - Names are part of the operator contract: add new ones, never rename.
 *
 * @module
 */

/** Stable event names. */
export const LOG_EVENTS = Object.freeze(
  {
    /** A gRPC control call finished: `method`, `channel`, `result`, `duration_ms`. */
    controlCall: "control_call",
    /** A channel changed state: `channel`, `from`, `to`, `reason`. */
    channelStateChanged: "channel_state_changed",
    /** A segment started on the output: `channel`, `segment_index`, `asset`, `event_id`. */
    segmentStarted: "segment_started",
    /** A segment ended on the output: `channel`, `segment_index`, `frames`, `fallback_frames`. */
    segmentEnded: "segment_ended",
    /** A block started: `channel`, `block_id`, `start_utc_ms`, `end_utc_ms`. */
    blockStarted: "block_started",
    /** A block completed: `channel`, `block_id`, `final_ct_ms`, `blocks_executed`. */
    blockCompleted: "block_completed",
    /** A block session ended: `channel`, `reason`. */
    sessionEnded: "session_ended",
    /** An asset could not be opened or decoded: `channel`, `asset`, `error`. */
    assetError: "asset_error",
    /** An HTTP viewer connected: `channel`, `viewer`, `remote`. */
    viewerConnected: "viewer_connected",
    /** An HTTP viewer went away or was dropped: `channel`, `viewer`, `reason`, `bytes`. */
    viewerDisconnected: "viewer_disconnected",
    /** The attached stream (Core's socket) connected: `channel`, `transport`, `endpoint`. */
    attachConnected: "attach_connected",
    /** The attached stream dropped and is being retried: `channel`, `attempt`, `error`. */
    attachReconnecting: "attach_reconnecting",
    /** The attached stream was detached: `channel`, `reason`. */
    attachDetached: "attach_detached",
    /** Summary of events suppressed by the rate limiter (see log_limiter.ts). */
    logSuppressed: "log_suppressed",
  } as const,
);

/** One of the stable event names. */
export type LogEventName = typeof LOG_EVENTS[keyof typeof LOG_EVENTS];

/** Events that must go through the rate limiter because a fault can repeat them quickly. */
export const RATE_LIMITED_EVENTS: ReadonlySet<LogEventName> = new Set<LogEventName>([
  LOG_EVENTS.assetError,
  LOG_EVENTS.viewerConnected,
  LOG_EVENTS.viewerDisconnected,
  LOG_EVENTS.attachReconnecting,
  LOG_EVENTS.segmentStarted,
  LOG_EVENTS.segmentEnded,
]);
