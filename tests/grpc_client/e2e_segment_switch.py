"""End to end, segment mode (Core's older path) against the real engine.

Usage: /usr/bin/python3 e2e_segment_switch.py STUBS_DIR DENO WORKDIR [CHANNEL_ID]

spawn `deno run -A src/main.ts --port N` -> poll GetVersion -> StartChannel(red clip) ->
LoadPreview(blue clip) -> bind a Unix socket -> AttachStream(UNIX, path, replace=true) ->
SwitchToLive(target = now + 6 s). Checks that the call returns once the switch happened,
within one frame of the target, with pts_contiguous; that the TS read from the socket shows
red then blue with video PTS advancing one frame at a time across the switch; and the
idempotent StopChannel / DetachStream. Prints a JSON report.
"""

import itertools
import os
import sys
import time

from e2e_common import (
    FPS, FRAME_MS, PROGRAM_FORMAT_JSON, Engine, ScenarioAbort, SocketCapture, ffprobe_json,
    make_clip, now_ms, probe_capture, scenario_main, video_pts,
)

LEAD_MS = 6000


def frame_colors(path):
    """(pts, "red"|"blue"|"other") per decoded video frame, from signalstats' chroma means."""
    info = ffprobe_json(
        "movie=%s,signalstats" % path.replace(":", "\\:"), "-f", "lavfi",
        "-show_entries", "frame=pts:frame_tags=lavfi.signalstats.UAVG,lavfi.signalstats.VAVG",
    )
    out = []
    for f in info.get("frames", []):
        tags = f.get("tags", {})
        u = float(tags.get("lavfi.signalstats.UAVG", 128))
        v = float(tags.get("lavfi.signalstats.VAVG", 128))
        color = "red" if v > 180 and u < 128 else "blue" if u > 180 and v < 150 else "other"
        out.append((int(f.get("pts", -1)), color))
    return out


def run(report, stubs, deno, workdir):
    pb = stubs.playout_pb2
    channel_id = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    live = make_clip(os.path.join(workdir, "live.mp4"), 12, "red", 440)
    nxt = make_clip(os.path.join(workdir, "next.mp4"), 6, "blue", 880)

    engine = Engine(deno, workdir)
    capture = None
    try:
        version, ready_ms = engine.wait_version(stubs)
        report.value("spawn_to_get_version_ms", round(ready_ms, 1))
        report.check("GetVersion is 1.0.0", version == "1.0.0", version)
        stub = stubs.playout_grpc.PlayoutControlStub(engine.channel)

        early = stub.LoadPreview(pb.LoadPreviewRequest(
            channel_id=channel_id, asset_path=nxt, frame_count=-1, fps_numerator=FPS,
            fps_denominator=1), timeout=10)
        report.check("LoadPreview before StartChannel fails", not early.success,
                     [early.result_code, early.message])

        start = stub.StartChannel(pb.StartChannelRequest(
            channel_id=channel_id, plan_handle=live, program_format_json=PROGRAM_FORMAT_JSON),
            timeout=10)
        report.check("StartChannel succeeds", start.success, start.message)
        if not start.success:
            raise ScenarioAbort("channel did not start: %s" % start.message)
        again = stub.StartChannel(pb.StartChannelRequest(
            channel_id=channel_id, plan_handle=live, program_format_json=PROGRAM_FORMAT_JSON),
            timeout=10)
        report.check("repeated StartChannel succeeds (idempotent)", again.success, again.message)

        preview = stub.LoadPreview(pb.LoadPreviewRequest(
            channel_id=channel_id, asset_path=nxt, start_frame=0, frame_count=-1,
            fps_numerator=FPS, fps_denominator=1), timeout=10)
        report.check("LoadPreview OK with shadow decode",
                     preview.success and preview.shadow_decode_started
                     and preview.result_code == pb.RESULT_CODE_OK,
                     [preview.result_code, preview.message])

        sock_path = os.path.join(workdir, "core.sock")
        capture = SocketCapture(sock_path, os.path.join(workdir, "capture.ts"))
        attach = stub.AttachStream(pb.AttachStreamRequest(
            channel_id=channel_id, transport=pb.STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET,
            endpoint=sock_path, replace_existing=True), timeout=10)
        report.check("AttachStream succeeds", attach.success, attach.message)

        short = stub.SwitchToLive(pb.SwitchToLiveRequest(
            channel_id=channel_id, target_boundary_time_ms=now_ms() + 1000), timeout=10)
        report.check("SwitchToLive with 1 s lead is PROTOCOL_VIOLATION",
                     not short.success and short.result_code == pb.RESULT_CODE_PROTOCOL_VIOLATION
                     and short.violation_reason != "",
                     [short.result_code, short.violation_reason])

        issued = now_ms()
        target = issued + LEAD_MS
        switched = stub.SwitchToLive(pb.SwitchToLiveRequest(
            channel_id=channel_id, target_boundary_time_ms=target, issued_at_time_ms=issued),
            timeout=LEAD_MS / 1000.0 + 20)
        returned = now_ms()
        report.value("switch", {
            "target": target, "completion": switched.switch_completion_time_ms,
            "returned": returned, "live_start_pts": switched.live_start_pts,
            "pts_contiguous": switched.pts_contiguous, "message": switched.message,
        })
        report.check("SwitchToLive succeeds", switched.success
                     and switched.result_code == pb.RESULT_CODE_OK,
                     [switched.result_code, switched.message, switched.violation_reason])
        report.check("pts_contiguous is true", switched.pts_contiguous)
        report.check("switch completed within one frame of the target",
                     abs(switched.switch_completion_time_ms - target) <= FRAME_MS,
                     switched.switch_completion_time_ms - target)
        report.check("SwitchToLive returned only once the switch happened",
                     returned >= target - FRAME_MS, returned - target)

        time.sleep(1.5)
        stop = stub.StopChannel(pb.StopChannelRequest(channel_id=channel_id), timeout=10)
        report.check("StopChannel succeeds", stop.success, stop.message)
        stop2 = stub.StopChannel(pb.StopChannelRequest(channel_id=channel_id), timeout=10)
        report.check("repeated StopChannel succeeds (idempotent)", stop2.success, stop2.message)
        detach = stub.DetachStream(pb.DetachStreamRequest(channel_id=channel_id), timeout=10)
        report.check("DetachStream succeeds", detach.success, detach.message)

        time.sleep(0.5)
        capture.stop()
        report.check("first byte on the socket is 0x47", capture.first_byte == 0x47,
                     capture.first_byte)
        probe_capture(report, capture.out_path, LEAD_MS / 1000.0)
        pts = video_pts(capture.out_path)
        steps = sorted({b - a for a, b in zip(pts, pts[1:])})
        report.check("video PTS advance by exactly one frame (3600) throughout",
                     len(pts) > FPS and steps == [90000 // FPS], steps[:10])
        colors = frame_colors(capture.out_path)
        first_blue = next((i for i, (_, c) in enumerate(colors) if c == "blue"), None)
        report.value("color_runs",
                     [(c, sum(1 for _ in g)) for c, g in itertools.groupby(c for _, c in colors)])
        report.check("the capture switches from red to blue", first_blue is not None
                     and first_blue > 0
                     and all(c == "red" for _, c in colors[:first_blue])
                     and all(c == "blue" for _, c in colors[first_blue:]),
                     None if first_blue is None else
                     [colors[max(0, first_blue - 2):first_blue + 2], len(colors)])
        if first_blue:
            gap = colors[first_blue][0] - colors[first_blue - 1][0]
            report.check("the first new frame is one frame after the last old one",
                         gap == 90000 // FPS, gap)
            report.value("first_new_frame_pts", colors[first_blue][0])
            report.check("live_start_pts is the PTS of the first new frame in the TS",
                         colors[first_blue][0] == switched.live_start_pts,
                         [colors[first_blue][0], switched.live_start_pts])
    finally:
        if capture is not None and capture._thread.is_alive():
            capture.stop()
        code = engine.stop()
        report.check("engine exits 0 on SIGTERM", code == 0, code)


if __name__ == "__main__":
    scenario_main("segment_switch", run)
