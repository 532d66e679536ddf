/**
 * The stable names of the engine's structured log events and the logging policy.
 *
 * Policy:
 * - Every control call, channel state change, segment/block start and end, asset error,
 *   viewer connect/disconnect and attach (re)connect is one JSON event named here, with the
 *   channel id in the `channel` field (a number) wherever the event concerns one channel.
 * - Field names are snake_case; durations carry their unit (`duration_ms`).
 * - Events that a fault or a misbehaving peer can repeat quickly ({@link RATE_LIMITED_EVENTS})
 *   go through a {@link import("./log_limiter.ts").RateLimitedLog}; lifecycle events that
 *   happen a handful of times per hour may go straight to the logger.
 * - Names are part of the operator contract: add new ones, never rename.
 *
 * @module
 */

/** Stable event names, grouped by what they report. */
export const LOG_EVENTS = Object.freeze(
  {
    // Control calls (gRPC).
    /** A control call succeeded: `rpc`, `channel`. */
    controlOk: "grpc_ok",
    /** A control call was refused: `rpc`, `channel`, `code`, `reason`. */
    controlRefused: "grpc_refused",

    // Channel lifecycle.
    /** A channel changed state: `channel`, `from`, `to`, `reason`. */
    channelStateChanged: "channel_state_changed",
    /** A channel's pipeline failed: `channel`, `reason`. */
    channelFailed: "channel_failed",
    /** Segment mode started a channel: `channel`, `plan_handle`. */
    channelStarted: "channel_started",
    /** A channel was stopped by control: `channel`. */
    channelStopped: "channel_stopped",
    /** A channel's worker stopped after flushing encoder and muxer: `channel`,
     * `frames_released`, `last_video_pts_90k`. */
    channelFlushed: "channel_flushed",
    /** A channel no config binds and nothing uses left the list: `channel`, `reason`. */
    channelRemoved: "channel_removed",
    /** Segment mode replaced a plan: `channel`, `plan_handle`. */
    planUpdated: "plan_updated",
    /** Segment mode previewed the next item: `channel`, `asset`. */
    previewLoaded: "preview_loaded",
    /** Segment mode switched the preview live: `channel`, switch result fields. */
    switchedToLive: "switched_to_live",

    // Segments and blocks on the output.
    /** A segment started on the output: `channel`, `segment_index`, `source`, `frame`. */
    segmentStarted: "segment_started",
    /** A segment ended on the output: `channel`, `segment_index`, `frames`, `fallback_frames`. */
    segmentEnded: "segment_ended",
    /** A block session started: `channel`. */
    blockSessionStarted: "block_session_started",
    /** A block was queued: `channel`, `block_id`. */
    blockFed: "block_fed",
    /** A block started on the output: `channel`, block id and times. */
    blockStarted: "block_started",
    /** A block completed on the output: `channel`, block id, final content time. */
    blockCompleted: "block_completed",
    /** A block session ended on the output: `channel`, `reason`. */
    sessionEnded: "session_ended",
    /** A block session was stopped by control: `channel`, `reason`. */
    blockSessionStopped: "block_session_stop",

    // Sources.
    /** An asset could not be opened or decoded: `channel`, `asset`, `reason`, `phase`. */
    assetError: "asset_error",
    /** Items that failed while a playlist looped are left out from its next lap: `channel`,
     * `assets`, `remaining`. */
    sourceItemsLeftOut: "source_items_left_out",

    // Configuration and listeners.
    /** A configured media path is missing now; the engine starts without it: `setting`. */
    configMediaMissing: "config_media_missing",
    /** A listener a reload asked for could not bind; retried at the next reload: `listener`. */
    listenerUnavailable: "listener_unavailable",

    // Viewers and the attached stream.
    /** An HTTP viewer connected: `channel`, `viewer`, `remote`. */
    viewerConnected: "viewer_connected",
    /** An HTTP viewer went away: `channel`, `viewer`, `reason`. */
    viewerDisconnected: "viewer_disconnected",
    /** A viewer was dropped for falling behind: `channel`, `viewer`. */
    viewerDropped: "viewer_dropped",
    /** The attached stream (Core's socket) was attached: `channel`, `transport`, `endpoint`. */
    streamAttached: "stream_attached",
    /** The attached stream was detached: `channel`, `endpoint`. */
    streamDetached: "stream_detached",
    /** The attached stream's first connect failed: `channel`, `error`. */
    streamAttachFailed: "stream_attach_failed",
    /** The attached stream's link was lost: `channel`, `reason`. */
    streamAttachLost: "stream_attach_lost",
    /** A reconnect attempt of the attached stream failed: `channel`, `error`. */
    streamAttachRetryFailed: "stream_attach_retry_failed",
    /** The attached stream reconnected: `channel`, `reconnects`. */
    streamAttachReconnected: "stream_attach_reconnected",

    // Engine instance (Core-managed mode, restarts).
    /** The process that spawned the engine (`--port`) died; the engine stops: `parent_pid`. */
    parentExited: "parent_exited",
    /** A stored attach target is unreachable; retried in the background: `channel`, `endpoint`. */
    planRestoreWaiting: "plan_restore_waiting",
    /** A stored plan was dropped after its attach target stayed unreachable: `channel`, `tries`. */
    planRestoreDropped: "plan_restore_dropped",
    /** The metrics listener was announced in a Prometheus file_sd target file: `path`, `target`. */
    metricsTargetPublished: "metrics_target_published",

    // Logging itself.
    /** Summary of events suppressed by the rate limiter (see log_limiter.ts). */
    logSuppressed: "log_suppressed",
  } as const,
);

/** One of the stable event names. */
export type LogEventName = typeof LOG_EVENTS[keyof typeof LOG_EVENTS];

/** Events that must go through the rate limiter because they can repeat quickly. */
export const RATE_LIMITED_EVENTS: ReadonlySet<LogEventName> = new Set<LogEventName>([
  LOG_EVENTS.controlOk,
  LOG_EVENTS.controlRefused,
  LOG_EVENTS.segmentStarted,
  LOG_EVENTS.segmentEnded,
  LOG_EVENTS.assetError,
  LOG_EVENTS.viewerConnected,
  LOG_EVENTS.viewerDisconnected,
  LOG_EVENTS.viewerDropped,
  LOG_EVENTS.streamAttachLost,
  LOG_EVENTS.streamAttachRetryFailed,
  LOG_EVENTS.streamAttachReconnected,
]);
