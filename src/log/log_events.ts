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
 * - `Logger` and `RateLimitedLog` accept only {@link LogEventName}s, so a name logged anywhere
 *   (the channel workers' forwarded events included) is registered here or does not compile.
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
    /** A running channel worker sent nothing for too long (hung, e.g. in FFmpeg) and is failed
     * so the channel restarts: `channel`, `silent_ms`, `limit_ms`. */
    channelWorkerUnresponsive: "channel_worker_unresponsive",
    /** A channel's threads could not be given a lower priority: `channel`, `nice`, `reason`. */
    channelPriorityUnchanged: "channel_priority_unchanged",
    /** info, engine/channel_priority.ts (worker): `nice`, `threads`, `degraded`. A degraded
     * channel's threads were lowered, or a recovered one's restored. */
    channelPriorityChanged: "channel_priority_changed",
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
    /** A channel reading another channel's decode of a file decodes it itself from here on:
     * `channel`, `asset`, `reason`. */
    sharedSourceFallback: "shared_source_fallback",

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
    /** A viewer was dropped for falling behind: `channel`, `viewer`, `bytes_sent`. */
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

    // Process lifecycle (main.ts, playout.ts).
    /** info, main.ts: `setting`, `path`. */
    runtimePath: "runtime_path",
    /** warn, main.ts: `setting`, `path`, `default`, `reason`. */
    runtimePathFallback: "runtime_path_fallback",
    /** info, main.ts: `version`, `api_version`, `config`, `mode`, `channels`, `pid`. */
    starting: "starting",
    /** info, main.ts: `release`, `versions`. */
    ffmpegLoaded: "ffmpeg_loaded",
    /** error, main.ts: `reason`. */
    ffmpegRefused: "ffmpeg_refused",
    /** error, main.ts: `error`. */
    startupFailed: "startup_failed",
    /** info, main.ts: `url`. */
    egressUrl: "egress_url",
    /** info, main.ts: `grpc_unix`, `grpc_tcp`, `urls`. */
    ready: "ready",
    /** error, main.ts: `config`, `error`. */
    configReloadFailed: "config_reload_failed",
    /** warn, main.ts: `reason`. */
    configReloadSkipped: "config_reload_skipped",
    /** info, main.ts: `config`. */
    configReloadRequested: "config_reload_requested",
    /** error, main.ts: `config`, `problems`. */
    configReloadRejected: "config_reload_rejected",
    /** warn, main.ts: `setting`, `reason`. */
    configReloadPartial: "config_reload_partial",
    /** info, main.ts: `config`, `changed_channels`. */
    configReloaded: "config_reloaded",
    /** warn, main.ts: `signal`, `reason`, `stage`. */
    shutdownInProgress: "shutdown_in_progress",
    /** info, main.ts: `signal`, `reason`, `deadline_ms`. */
    shutdownRequested: "shutdown_requested",
    /** error, main.ts: `stage`, `waited_ms`. */
    shutdownDeadlineExceeded: "shutdown_deadline_exceeded",
    /** error, main.ts: `stage`, `error`. */
    shutdownFailed: "shutdown_failed",
    /** info, main.ts: `signal`, `reason`, `exit_code`, `duration_ms`. */
    stopped: "stopped",
    /** info, main.ts: `path`. */
    socketRemoved: "socket_removed",
    /** warn, main.ts: `path`, `error`. */
    socketRemoveFailed: "socket_remove_failed",
    /** error, playout.ts, engine/channel_manager.ts: `path`, `reason`. */
    planStoreFailed: "plan_store_failed",
    /** error, playout.ts: `channel`, `reason`. */
    evidenceSessionStopFailed: "evidence_session_stop_failed",
    /** error, playout.ts: `reason`. */
    shutdownStepFailed: "shutdown_step_failed",
    /** error, playout.ts: `error`. */
    evidenceRecoveryFailed: "evidence_recovery_failed",
    /** info, playout.ts, control/grpc_server.ts: `addresses`, `api_version`. */
    grpcListening: "grpc_listening",
    /** warn, playout.ts: `device_id`, `reason`. */
    deviceIdUnsaved: "device_id_unsaved",
    /** info, playout.ts: `device_id`, `source`, `path`. */
    deviceId: "device_id",
    /** error, playout.ts: `path`, `reason`. */
    planStoreUnreadable: "plan_store_unreadable",
    /** error, playout.ts: `dir`, `reason`. */
    metricsTargetFailed: "metrics_target_failed",

    /** warn, main.ts: `reason`, `channels`. Windows: frame sinks listen on TCP, not named pipes. */
    frameSinkNamedPipeUnavailable: "frame_sink_named_pipe_unavailable",
    // The main thread's scheduling.
    /** info, control_thread_priority.ts: `policy` ("SCHED_RR" or "normal"), `priority` or
     * `reason`. Whether gRPC, viewers and metrics run ahead of the channels' media work. */
    controlThreadPriority: "control_thread_priority",
    /** info, heap_policy.ts: `policy` ("mapped" or "default"), `map_threshold_bytes` or
     * `reason`. Whether large allocations are mapped on their own (freed, they leave RSS). */
    heapPolicy: "heap_policy",
    // Parent process watch (Core-managed mode).
    /** info, parent_watch.ts: `reason`. */
    parentWatchSkipped: "parent_watch_skipped",
    /** warn, parent_watch.ts: `reason`. */
    parentWatchUnavailable: "parent_watch_unavailable",
    /** info, parent_watch.ts: `parent_pid`, `reason`. */
    parentDeathSignalIgnored: "parent_death_signal_ignored",
    /** warn, parent_watch.ts: `reason`, `fallback`. */
    parentDeathSignalUnavailable: "parent_death_signal_unavailable",
    /** info, parent_watch.ts: `parent_pid`, `poll_ms`. */
    parentWatchStarted: "parent_watch_started",

    // Engine: channels, workers, plan restore.
    /** error, engine/channel_manager.ts: `reason`. */
    blockEventListenerFailed: "block_event_listener_failed",
    /** warn, engine/channel_manager.ts: `owner`. */
    ffmpegOpenLockReleased: "ffmpeg_open_lock_released",
    /** warn, engine/channel_manager.ts: `channel`, `attempt`, `after_ms`. */
    channelRestart: "channel_restart",
    /** error, engine/channel_runner.ts: `source`, `reason`. */
    playlistEmpty: "playlist_empty",
    /** error, engine/channel_runner.ts: `reason`. */
    encoderFlushFailed: "encoder_flush_failed",
    /** error, engine/channel_runner.ts: `path`, `reason`. */
    playlistDirectoryError: "playlist_directory_error",
    /** info, engine/plan_restore.ts: `channel`, `reason`. */
    planRestoreSkipped: "plan_restore_skipped",
    /** info, engine/plan_restore.ts: `channel`, `what`, `tries`. */
    planRestored: "plan_restored",
    /** debug, engine/plan_restore.ts: `channel`, `tries`, `reason`. */
    planRestoreRetryFailed: "plan_restore_retry_failed",
    /** error, engine/plan_restore.ts: `channel`, `what`, `reason`. */
    planRestoreFailed: "plan_restore_failed",

    /** warn, engine/channel_runner.ts (worker): `step_ms`, `utc_offset_ms`, `frame`. The UTC clock stepped. */
    utcStepDetected: "utc_step_detected",
    /** info, engine/channel_runner.ts (worker): the step's fields. The output absorbed a UTC step. */
    utcStepAbsorbed: "utc_step_absorbed",
    /** warn, engine/channel_runner.ts (worker): `reason`, `frame`, `picture_cost_ms`, ... The
     * channel repeats pictures it cannot make in time. */
    channelDegraded: "channel_degraded",
    /** info, engine/channel_runner.ts (worker): `frame`, `repeated_frames`. Degradation ended. */
    channelRecovered: "channel_recovered",
    /** warn, engine/channel_runner.ts (worker): `preset`, `configured_preset`, `frame`,
     * `retry_after_s`. A channel that could not keep up encodes with a faster, low-delay x264. */
    encoderSteppedDown: "encoder_stepped_down",
    /** info, engine/channel_runner.ts (worker): `preset`, `frame`. The configured encoder again. */
    encoderRestored: "encoder_restored",
    /** error, engine/channel_worker.ts: `reason`. Freeing the channel after a failure failed. */
    channelStopFailed: "channel_stop_failed",
    /** warn, engine/channel_manager.ts: `channel`, `method`, `timeout_ms`. A worker call timed out. */
    controlCallTimeout: "control_call_timeout",
    /** warn, engine/channel_manager.ts: `channel`, `grace_ms`. A worker did not stop in time. */
    channelStopTimeout: "channel_stop_timeout",
    /** warn, engine/channel_manager.ts: `channel`, `reason`. The stop message could not be posted. */
    channelStopPostFailed: "channel_stop_post_failed",
    // Outputs: frame sinks.
    /** info, outputs/frame_sink.ts: `endpoints`, `protocol_version`. */
    frameSinkOpen: "frame_sink_open",
    /** warn, outputs/frame_sink.ts: `reader`, `remote`, `queue_frames`. */
    frameSinkReaderSlow: "frame_sink_reader_slow",
    /** error, outputs/frame_sink.ts: `frame_number`, `video_bytes`, `expected_video_bytes`, `audio_values`, `expected_audio_values`, `error`. */
    frameSinkFrameRejected: "frame_sink_frame_rejected",
    /** info, outputs/frame_sink.ts: `frames_pushed`, `frames_sent`, `frames_dropped`, `frames_discarded`, `frames_rejected`, `bytes_sent`, `readers`. */
    frameSinkClosed: "frame_sink_closed",
    /** warn, outputs/frame_sink.ts: `error`. */
    frameSinkAcceptFailed: "frame_sink_accept_failed",
    /** error, outputs/frame_sink.ts: `where`, `error`. */
    frameSinkInternalError: "frame_sink_internal_error",
    /** warn, outputs/frame_sink.ts: `remote`, `max_readers`. */
    frameSinkReaderRefused: "frame_sink_reader_refused",
    /** info, outputs/frame_sink.ts: `reader`, `remote`. */
    frameSinkReaderConnected: "frame_sink_reader_connected",
    /** info, outputs/frame_sink.ts: `reader`, `dropped`. */
    frameSinkReaderCaughtUp: "frame_sink_reader_caught_up",
    /** info, outputs/frame_sink.ts: `reader`, `remote`, `reason`, `frames_sent`, `frames_dropped`. */
    frameSinkReaderDisconnected: "frame_sink_reader_disconnected",

    // Outputs: HTTP egress, HLS, guide, fan-out, attach.
    /** warn, outputs/hls_segmenter.ts: `channel`, `error`. */
    hlsSegmenterStopped: "hls_segmenter_stopped",
    /** warn, outputs/http_egress.ts: `channel`, `reason`, `error`. */
    guideUnavailable: "guide_unavailable",
    /** info, outputs/http_egress.ts: `channel`, `token`. */
    hlsStarted: "hls_started",
    /** info, outputs/http_egress.ts: `channel`, `reason`. */
    hlsStopped: "hls_stopped",
    /** error, outputs/http_egress.ts: `error`. */
    httpEgressRequestFailed: "http_egress_request_failed",
    /** info, outputs/http_egress.ts: `hostname`, `port`. */
    httpEgressListening: "http_egress_listening",
    /** warn, outputs/http_egress.ts: `port`. */
    httpEgressShutdownTimeout: "http_egress_shutdown_timeout",
    /** warn, outputs/stream_attach.ts: no fields. */
    streamAttachReadFailed: "stream_attach_read_failed",
    /** error, outputs/ts_fanout.ts: `channel`, `error`. */
    viewerListenerFailed: "viewer_listener_failed",

    // Control: gRPC server and services.
    /** warn, control/grpc_server.ts: `path`. */
    grpcStaleSocketRemoved: "grpc_stale_socket_removed",
    /** info, control/grpc_server.ts: `addresses`. */
    grpcClosed: "grpc_closed",
    /**
     * debug, control/grpc_server.ts: a relayed client connection ended by an error (a reset,
     * the private server gone), or accepting one failed: `listener`, `reason`.
     */
    grpcConnectionError: "grpc_connection_error",
    /** error, control/health_service.ts: `error`. */
    grpcHealthWatchFailed: "grpc_health_watch_failed",
    /** error, control/playout_service.ts: `rpc`, `channel`, `error`. */
    grpcEngineError: "grpc_engine_error",
    /** error, control/playout_service.ts: `rpc`, `error`. */
    grpcHandlerFailed: "grpc_handler_failed",
    /** warn, control/reflection_service.ts: `error`. */
    grpcReflectionStreamError: "grpc_reflection_stream_error",

    // Evidence to Core.
    /** error, evidence/hub.ts: `dir`, `session`, `error`. */
    evidenceSpoolUnreadable: "evidence_spool_unreadable",
    /** info, evidence/hub.ts: `dir`, `session`. */
    evidenceSpoolInUse: "evidence_spool_in_use",
    /** warn, evidence/hub.ts: `channel_id`, `session`, `last_sequence`, `acked`, `endpoint`. */
    evidenceSpoolRecovered: "evidence_spool_recovered",
    /** info, evidence/hub.ts: `channel`, `channel_id`, `session`, `endpoint`. */
    evidenceSessionOpened: "evidence_session_opened",
    /** error, evidence/hub.ts: `session`, `last_sequence`. */
    evidenceSessionUnterminated: "evidence_session_unterminated",
    /** error, evidence/hub.ts: `session`, `payload`. */
    evidenceUnknownSession: "evidence_unknown_session",
    /** warn, evidence/hub.ts: `channel_id`, `session`, `payload`, `reason`, `note`. */
    evidenceEventRefused: "evidence_event_refused",
    /** error, evidence/hub.ts: `channel`, `channel_id`, `session`, `cap_bytes`, `refused`. */
    evidenceSpoolFull: "evidence_spool_full",
    /** info, evidence/hub.ts: `channel_id`, `session`. */
    evidenceSessionDone: "evidence_session_done",
    /** error, evidence/hub.ts: `session`, `error`, `path`. */
    evidenceSpoolRemoveFailed: "evidence_spool_remove_failed",
    /** warn, evidence/sender.ts: `channel_id`, `session`, `endpoint`, `sent_up_to`, `acked`, `waited_ms`. */
    evidenceAckTimeout: "evidence_ack_timeout",
    /** info, evidence/sender.ts: `channel_id`, `session`, `endpoint`, `core_acked`, `replay`, `connects`. */
    evidenceConnected: "evidence_connected",
    /** warn, evidence/sender.ts: `channel_id`, `session`, `error`, `acked_sequence`. */
    evidenceCoreError: "evidence_core_error",
    /** warn, evidence/sender.ts: `channel_id`, `session`, `endpoint`, `reason`, `retry_ms`. */
    evidenceStreamFailed: "evidence_stream_failed",

    /** error, evidence/spool.ts (via the hub): `path`, `dropped_bytes`. A torn last line was cut off. */
    evidenceSpoolTornLine: "evidence_spool_torn_line",
    /** error, evidence/spool.ts (via the hub): `path`, `offset`. An unreadable record was skipped. */
    evidenceSpoolBadLine: "evidence_spool_bad_line",
    /** error, evidence/spool.ts (via the hub): `path`, `records`, `error`, `note`. */
    evidenceSpoolWriteFailed: "evidence_spool_write_failed",
    /** info, evidence/spool.ts (via the hub): `path`. Writes succeed again. */
    evidenceSpoolWriteRecovered: "evidence_spool_write_recovered",
    /** error, evidence/spool.ts (via the hub): `path`, `records`, `first_sequence`. */
    evidenceSpoolUnwrittenAtClose: "evidence_spool_unwritten_at_close",
    /** error, evidence/spool.ts (via the hub): `path`, `error`. */
    evidenceSpoolIoFailed: "evidence_spool_io_failed",
    // Observability: metrics and health listeners.
    /** error, observability/health_server.ts: `path`, `error`. */
    observabilityRequestFailed: "observability_request_failed",
    /** info, observability/health_server.ts: `host`, `port`. */
    metricsServerListening: "metrics_server_listening",
    /** info, observability/health_server.ts: `port`. */
    metricsServerClosed: "metrics_server_closed",
    /** error, observability/metrics.ts: `error`. */
    metricsSampleFailed: "metrics_sample_failed",
    /** info, observability/metrics_targets.ts: `path`. */
    metricsTargetRemoved: "metrics_target_removed",
    /** warn, observability/metrics_targets.ts: `path`, `reason`. */
    metricsTargetRemoveFailed: "metrics_target_remove_failed",
    /** debug, observability/metrics_targets.ts: `path`, `reason`. */
    metricsTargetUnreadable: "metrics_target_unreadable",
    /** info, observability/metrics_targets.ts: `path`, `pid`. */
    metricsTargetStaleRemoved: "metrics_target_stale_removed",

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
  LOG_EVENTS.sharedSourceFallback,
  LOG_EVENTS.viewerConnected,
  LOG_EVENTS.viewerDisconnected,
  LOG_EVENTS.viewerDropped,
  LOG_EVENTS.streamAttachLost,
  LOG_EVENTS.streamAttachRetryFailed,
  LOG_EVENTS.streamAttachReconnected,
]);
