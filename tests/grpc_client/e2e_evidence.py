"""End to end: the as-run ExecutionEvidence stream, received by an independent receiver
(evidence_receiver.py, written from the spec) while Core's flow drives the real engine.

Usage: /usr/bin/python3 e2e_evidence.py STUBS_DIR DENO WORKDIR

1. A mixed session (content, a missing file, filler, pad, content that runs out early, a fence
   that cuts a segment, a zero-length segment); the receiver is killed mid-session and started
   again. Its events must be complete, in order, contiguous, with the statuses the spec's
   rules give, and their frame counts must equal the runs of colours in the TS from the socket.
2. The engine is SIGKILLed mid-session, a torn line is appended to the session's spool, the
   engine is started again on the same state directory: the earlier session's spool is replayed
   (same event_uuid for every spooled event), closed with ChannelTerminated ENGINE_RESTARTED.
   Then a session that joins mid-block: SKIPPED before the join, join_in_progress on the first.
3. The receiver is down and a session fills the channel's spool cap: the session ends with
   ChannelTerminated EVIDENCE_SPOOL_FULL, a new session is refused, metrics say so; once the
   receiver is back every event arrives and a new session is accepted again.
Prints a JSON report (see e2e_common.Report).
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

import grpc

from e2e_common import (
    FPS, PROGRAM_FORMAT_JSON, Engine, ScenarioAbort, SocketCapture, free_port, make_clip, now_ms,
    scenario_main,
)

CHANNEL = 5
CHANNEL_STR = "evidence-e2e"
FRAME_MS = 1000 // FPS  # 40 at 25 fps
SPOOL_CAP = 24 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))


class ConfiguredEngine(Engine):
    """The engine with a configuration file (state dir, ports, spool cap) and --port."""

    def __init__(self, deno, workdir, config_path, tag):
        self.port = free_port()
        self.log_path = os.path.join(workdir, "engine-%s.log" % tag)
        self.log = open(self.log_path, "wb")
        self.spawned_at = time.monotonic()
        self.proc = subprocess.Popen(
            [deno, "run", "-A", os.path.join(HERE, "..", "..", "src", "main.ts"),
             "--config", config_path, "--port", str(self.port)],
            cwd=os.path.join(HERE, "..", ".."), stdout=self.log, stderr=subprocess.STDOUT)
        self.address = "127.0.0.1:%d" % self.port
        self.channel = grpc.insecure_channel(self.address)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.channel.close()
        self.log.close()


class Receiver:
    """evidence_receiver.py as a process (Core's evidence server)."""

    def __init__(self, stubs_dir, port, store):
        self.stubs_dir, self.port, self.store = stubs_dir, port, store
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "evidence_receiver.py"), self.stubs_dir,
             str(self.port), self.store],
            cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        line = self.proc.stdout.readline().decode().strip()
        if line != "listening":
            raise ScenarioAbort("receiver did not start: %r %s" % (
                line, self.proc.stderr.read().decode()[-2000:]))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def records(self):
        path = os.path.join(self.store, "asrun.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def connections(self):
        path = os.path.join(self.store, "connections.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]


def wait_until(what, predicate, timeout_s):
    """Polls predicate (generous bound, not a timing judgement); returns its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise ScenarioAbort("gave up waiting (%d s) for %s" % (timeout_s, what))


def sessions_of(records):
    """playout_session_id -> its records in sequence order."""
    out = {}
    for r in records:
        out.setdefault(r["playout_session_id"], []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: int(r["sequence"]))
    return out


def session_with_block(records, block_id):
    for sid, rs in sessions_of(records).items():
        if any(r["payload_type"] == "block_start" and r["payload"]["block_id"] == block_id
               for r in rs):
            return sid, rs
    return None, []


def has_event(records, block_id, kind):
    return any(r["payload_type"] == kind and r["payload"].get("block_id") == block_id
               for r in records)


def frames_for(ms):
    """round(D · fps / 1000), halves up (the spec's frame rule)."""
    return int((ms * FPS) / 1000.0 + 0.5)


def layout(seg_ms):
    """Frames of each segment: round(D·fps/1000); the fence (block end) cuts; the last takes the
    rest so the block ends on its boundary frame."""
    total = frames_for(sum(seg_ms))
    out, at = [], 0
    for i, ms in enumerate(seg_ms):
        n = total - at if i == len(seg_ms) - 1 else min(frames_for(ms), total - at)
        out.append(max(0, n))
        at += max(0, n)
    return out


def check_contiguous(report, what, rs):
    seqs = [int(r["sequence"]) for r in rs]
    uuids = [r["event_uuid"] for r in rs]
    report.check("%s: sequences 1..%d contiguous, one record each" % (what, len(seqs)),
                 seqs == list(range(1, len(seqs) + 1)), seqs[:80])
    report.check("%s: event_uuid unique" % what, len(set(uuids)) == len(uuids))
    report.check("%s: schema_version 1, channel_id %s" % (what, CHANNEL_STR),
                 all(r["schema_version"] == 1 and r["channel_id"] == CHANNEL_STR for r in rs))
    bad = [r["emitted_utc"] for r in rs if not r["emitted_utc"].endswith("Z")]
    for r in rs:
        try:
            datetime.strptime(r["emitted_utc"], "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            bad.append(r["emitted_utc"])
    report.check("%s: emitted_utc is ISO-8601 UTC with Z" % what, not bad, bad[:3])


def brief(r):
    p = r["payload"]
    k = r["payload_type"]
    if k == "block_start":
        return ("BS", p["block_id"])
    if k == "block_fence":
        return ("BF", p["block_id"])
    if k == "segment_start":
        return ("SS", p["block_id"], p["event_id"])
    if k == "segment_end":
        return ("SE", p["block_id"], p["event_id_ref"], p["status"], p["reason"],
                int(p["computed_duration_frames"]))
    if k == "channel_terminated":
        return ("CT", p["reason"])
    return (k,)


def frame_colors(path):
    """Colour name of the picture on screen at every frame tick of the capture, in order (1x1
    RGB means). A repeated frame (a tick without a new picture: the channel fell behind) is
    sent as no picture at all, and a decoder keeps showing the last one; ffmpeg's constant
    frame rate mode fills those ticks with it, as a screen would."""
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-fps_mode",
         "cfr", "-r", str(FPS), "-vf", "scale=1:1:flags=area,format=rgb24", "-f", "rawvideo",
         "-"],
        capture_output=True, check=True).stdout
    refs = {"red": (255, 0, 0), "lime": (0, 255, 0), "blue": (0, 0, 255),
            "yellow": (255, 255, 0), "black": (0, 0, 0)}
    colors = []
    for i in range(0, len(out) - 2, 3):
        px = out[i:i + 3]
        colors.append(min(refs, key=lambda c: sum((a - b) ** 2 for a, b in zip(px, refs[c]))))
    return colors


def runs(colors):
    out = []
    for c in colors:
        if out and out[-1][0] == c:
            out[-1][1] += 1
        else:
            out.append([c, 1])
    return [tuple(r) for r in out]


def metrics_text(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + "{") and 'channel_id="%s"' % CHANNEL_STR in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def run(report, stubs, deno, workdir):
    pb = stubs.playout_pb2
    stubs_dir = sys.argv[1]
    clips = {
        "red": make_clip(os.path.join(workdir, "red.mp4"), 6, "red", 440),
        "lime": make_clip(os.path.join(workdir, "lime.mp4"), 6, "lime", 550),
        "blue": make_clip(os.path.join(workdir, "blue.mp4"), 6, "blue", 660),
        "yellow1s": make_clip(os.path.join(workdir, "yellow.mp4"), 1, "yellow", 770),
    }
    missing = os.path.join(workdir, "no-such-file.mp4")
    state_dir = os.path.join(workdir, "state")
    spool_dir = os.path.join(state_dir, "evidence", CHANNEL_STR)
    http_port, metrics_port, core_port = free_port(), free_port(), free_port()
    config = os.path.join(workdir, "engine.toml")
    with open(config, "w") as f:
        f.write('state_dir = "%s"\n[http]\nbind = "127.0.0.1"\nport = %d\n'
                '[metrics]\nbind = "127.0.0.1"\nport = %d\n'
                '[evidence]\nspool_max_bytes_per_channel = %d\n'
                % (state_dir, http_port, metrics_port, SPOOL_CAP))
    endpoint = "127.0.0.1:%d" % core_port
    receiver = Receiver(stubs_dir, core_port, os.path.join(workdir, "core-store"))
    receiver.start()

    def seg(i, uri, ms, kind=pb.SEGMENT_TYPE_CONTENT, offset=0):
        if uri == "":
            kind = pb.SEGMENT_TYPE_PAD
        return pb.BlockSegment(segment_index=i, asset_uri=uri, segment_duration_ms=ms,
                               segment_type=kind, asset_start_offset_ms=offset, event_id="ev%d" % i,
                               segment_uuid="seg-uuid-%d" % i, asset_uuid="asset-uuid-%d" % i)

    def block(block_id, start, segments):
        return pb.BlockPlan(block_id=block_id, channel_id=CHANNEL, start_utc_ms=start,
                            end_utc_ms=start + sum(s.segment_duration_ms for s in segments),
                            segments=segments)

    def start_session(stub, a, b, join=0, depth=2, evidence=True):
        return stub.StartBlockPlanSession(pb.StartBlockPlanSessionRequest(
            channel_id=CHANNEL, block_a=a, block_b=b, join_utc_ms=join,
            program_format_json=PROGRAM_FORMAT_JSON, max_queue_depth=depth,
            evidence_endpoint=endpoint if evidence else "", channel_id_str=CHANNEL_STR),
            timeout=20)

    def attach(stub, path):
        r = stub.AttachStream(pb.AttachStreamRequest(
            channel_id=CHANNEL, transport=pb.STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET, endpoint=path,
            replace_existing=True), timeout=20)
        if not r.success:
            raise ScenarioAbort("AttachStream failed: %s" % r.message)

    engine = ConfiguredEngine(deno, workdir, config, "1")
    engine2 = None
    capture = None
    try:
        engine.wait_version(stubs)
        stub = stubs.playout_grpc.PlayoutControlStub(engine.channel)
        sock = os.path.join(workdir, "core.sock")
        capture = SocketCapture(sock, os.path.join(workdir, "capture.ts"))
        attach(stub, sock)

        # ---- 1. the mixed session, receiver killed and restarted mid-session -------------
        t0 = (now_ms() // 1000 + 3) * 1000
        plan = {
            "A": [(clips["red"], 1520, "red"), (missing, 1000, "black"),
                  (clips["lime"], 1000, "lime", pb.SEGMENT_TYPE_FILLER), ("", 480, "black")],
            "B": [(clips["blue"], 2000, "blue"), (clips["yellow1s"], 2000, "yellow")],
            "C": [(clips["blue"], 1020, "blue"), (clips["lime"], 1020, "lime"),
                  (clips["blue"], 1020, "blue"), (clips["lime"], 1020, "lime"),
                  ("", 10, "black"), (clips["red"], 110, "red")],
            "D": [(clips["blue"], 4000, "blue")],
        }
        blocks, at = {}, t0
        for bid in "ABCD":
            segs = [seg(i, s[0], s[1], *(s[3:] or [pb.SEGMENT_TYPE_CONTENT]))
                    for i, s in enumerate(plan[bid])]
            blocks[bid] = block(bid, at, segs)
            at = blocks[bid].end_utc_ms
        r = start_session(stub, blocks["A"], blocks["B"], depth=4)
        report.check("StartBlockPlanSession with evidence_endpoint OK", r.success, r.message)
        if not r.success:
            raise ScenarioAbort(r.message)
        for bid in "CD":
            f = stub.FeedBlockPlan(pb.FeedBlockPlanRequest(channel_id=CHANNEL,
                                                           block=blocks[bid]), timeout=20)
            report.check("FeedBlockPlan %s OK" % bid, f.success, f.message)

        wait_until("BlockStart B at the receiver",
                   lambda: has_event(receiver.records(), "B", "block_start"), 40)
        receiver.stop(signal.SIGKILL)  # Core crashes
        held_before = len(receiver.records())
        # Core stays down while C airs (its events are spooled, the channel stays on air).
        wait_until("C on air (wall clock)", lambda: now_ms() > blocks["C"].start_utc_ms + 1500, 30)
        receiver.start()
        _, s1 = wait_until("BlockFence D (end of session 1) at the receiver",
                           lambda: (lambda sid, rs: (sid, rs) if has_event(rs, "D", "block_fence")
                                    else None)(*session_with_block(receiver.records(), "A")), 60)
        sid1 = s1[0]["playout_session_id"]
        report.value("session1_events", len(s1))
        report.value("events_at_receiver_when_killed", held_before)
        check_contiguous(report, "session 1", s1)

        expected = []
        for bid in "ABCD":
            frames = layout([s[1] for s in plan[bid]])
            expected.append(("BS", bid))
            for i, s in enumerate(plan[bid]):
                ev = "ev%d" % i
                n = frames[i]
                if s[0] == missing:
                    expected.append(("SE", bid, ev, "ERROR", "ASSET_MISSING", n))
                    continue
                if n == 0:
                    reason = "ZERO_DURATION" if frames_for(s[1]) == 0 else "FENCE_TERMINATION"
                    expected.append(("SE", bid, ev, "SKIPPED", reason, 0))
                    continue
                expected.append(("SS", bid, ev))
                if s[1] - n * FRAME_MS >= FRAME_MS:
                    expected.append(("SE", bid, ev, "TRUNCATED", "FENCE_TERMINATION", n))
                else:
                    expected.append(("SE", bid, ev, "AIRED", "", n))
            expected.append(("BF", bid))
        got = [brief(r) for r in s1]
        report.check("session 1: events in order with the spec's statuses and frame counts",
                     got == expected, {"got": got, "expected": expected})

        by = lambda kind: [r["payload"] for r in s1 if r["payload_type"] == kind]
        ends, starts = by("segment_end"), by("segment_start")
        report.check("every SegmentEnd: duration_ms = frames x 40 and end - start",
                     all(int(e["computed_duration_ms"]) == int(e["computed_duration_frames"])
                         * FRAME_MS == int(e["actual_end_utc_ms"]) - int(e["actual_start_utc_ms"])
                         for e in ends), ends[:3])
        aired = [e for e in ends if int(e["computed_duration_frames"]) > 0]
        report.check("segments that aired are back to back on the output clock",
                     all(int(a["actual_end_utc_ms"]) == int(b["actual_start_utc_ms"])
                         for a, b in zip(aired, aired[1:])))
        report.check("first segment airs at the block's start (t0, within a frame)",
                     abs(int(aired[0]["actual_start_utc_ms"]) - t0) <= FRAME_MS,
                     int(aired[0]["actual_start_utc_ms"]) - t0)
        report.check("SegmentStart echoes the plan (uuids, type names, uri empty for pad)",
                     all(s["segment_uuid"] == "seg-uuid-%d" % s["segment_index"]
                         and s["asset_uuid"] == "asset-uuid-%d" % s["segment_index"]
                         and (s["asset_uri"] == "") == (s["segment_type_name"] == "pad")
                         for s in starts), starts[:2])
        report.check("only the session's first SegmentStart has join_in_progress (false)",
                     "join_in_progress" in starts[0] and starts[0]["join_in_progress"] is False
                     and all("join_in_progress" not in s for s in starts[1:]),
                     [s.get("join_in_progress") for s in starts])
        filler = [s for s in starts if s["block_id"] == "A" and s["event_id"] == "ev2"]
        report.check("filler is named filler", filler and filler[0]["segment_type_name"] == "filler")
        missing_end = [e for e in ends if e["status"] == "ERROR"][0]
        report.check("the missing file's slot: all stand-in frames",
                     int(missing_end["fallback_frames_used"])
                     == int(missing_end["computed_duration_frames"]) == 25, missing_end)
        short = [e for e in ends if e["block_id"] == "B" and e["event_id_ref"] == "ev1"][0]
        report.check("1 s clip in a 2 s slot: 25 frames of it, 25 held",
                     int(short["fallback_frames_used"]) == 25, short)

        fences = {f["block_id"]: f for f in by("block_fence")}
        bstarts = {b["block_id"]: b for b in by("block_start")}
        ct = 0
        for bid in "ABCD":
            f, b, p = fences[bid], bstarts[bid], blocks[bid]
            total = sum(layout([s[1] for s in plan[bid]]))
            ct += total * FRAME_MS
            report.check("BlockFence %s: frames, ticks, end within a frame, CT" % bid,
                         int(f["total_frames_emitted"]) == total
                         and int(f["fence_tick"]) - int(f["swap_tick"]) == total
                         and int(b["swap_tick"]) == int(f["swap_tick"])
                         and int(b["fence_tick"]) == int(f["fence_tick"])
                         and abs(int(f["actual_end_utc_ms"]) - p.end_utc_ms) <= FRAME_MS
                         and int(f["ct_at_fence_ms"]) == ct
                         and f["primed_success"] == b["primed_success"], [b, f])
        for a, b in zip("ABC", "BCD"):
            report.check("BlockStart %s on %s's fence frame" % (b, a),
                         int(bstarts[b]["swap_tick"]) == int(fences[a]["fence_tick"]))
        report.check("early_exhaustion only on B, truncated_by_fence only on C",
                     [(k, fences[k]["early_exhaustion"], fences[k]["truncated_by_fence"])
                      for k in "ABCD"]
                     == [("A", False, False), ("B", True, False), ("C", False, True),
                         ("D", False, False)], fences)

        conns = [c for c in receiver.connections()
                 if c["kind"] == "stream" and c["session"] == sid1]
        report.value("session1_streams", conns)
        report.check("every stream of session 1 opened with a spec Hello",
                     conns and all(c["first"] == "hello" and c["sequence"] == 0
                                   and c["event_uuid"] == "hello" and c["emitted_utc"] == ""
                                   and c["hello"]["first_sequence_available"] == 1
                                   for c in conns), conns)
        report.check("the receiver's restart made a second stream that replayed the gap",
                     len(conns) >= 2 and any(c["hello"]["last_sequence_emitted"] > c["core_holds"]
                                             for c in conns[1:]), conns)

        # The TS from the socket: colour runs = the segments' frame counts.
        time.sleep(1.0)
        capture.stop()
        colors = frame_colors(capture.out_path)
        seg_colors = []
        for bid in "ABCD":
            for (s, n) in zip(plan[bid], layout([s[1] for s in plan[bid]])):
                if n > 0:
                    seg_colors.append((s[2], n))
        want = []
        for c, n in seg_colors:  # adjacent segments of one colour make one run
            if want and want[-1][0] == c:
                want[-1] = (c, want[-1][1] + n)
            else:
                want.append((c, n))
        got_runs = runs(colors)
        found = any(got_runs[i:i + len(want)] == want for i in range(len(got_runs)))
        aired_runs = []
        for e in ends:
            if int(e["computed_duration_frames"]) > 0:
                aired_runs.append(int(e["computed_duration_frames"]))
        report.check("TS colour runs match the layout (and so the as-run frame counts)",
                     found and [n for _, n in seg_colors] == aired_runs,
                     {"ts_runs": got_runs[:40], "want": want, "asrun": aired_runs})
        capture = SocketCapture(sock, os.path.join(workdir, "capture2.ts"))

        # ---- 2. engine SIGKILLed mid-session; torn line; restart; mid-block join ---------
        t1 = (now_ms() // 1000 + 2) * 1000
        e_blk = block("E", t1, [seg(0, clips["red"], 1000), seg(1, clips["lime"], 1000),
                                seg(2, clips["blue"], 4000)])
        f_blk = block("F", e_blk.end_utc_ms, [seg(0, "", 2000)])
        r = start_session(stub, e_blk, f_blk)
        report.check("session 2 starts", r.success, r.message)
        sid2 = wait_until("SegmentStart E/ev0 at the receiver",
                          lambda: session_with_block(receiver.records(), "E")[0], 40)
        receiver.stop(signal.SIGKILL)  # Core goes away; the engine keeps spooling
        spool = os.path.join(spool_dir, "%s.jsonl" % sid2)

        def spooled_lines():
            with open(spool) as f:
                return [json.loads(line) for line in f if line.endswith("\n")]

        wait_until("E/ev2 started (in the spool, Core down)",
                   lambda: any(r["payload_type"] == "segment_start"
                               and r["segment_start"]["event_id"] == "ev2" for r in spooled_lines()), 30)
        engine.kill()  # mid-session, mid-segment
        spooled = spooled_lines()
        report.value("session2_spooled_at_kill", len(spooled))
        with open(spool, "a") as f:
            f.write('{"schema_version":1,"channel_id":"evidence-e2e","sequ')  # torn by a crash
        engine2 = ConfiguredEngine(deno, workdir, config, "2")
        engine2.wait_version(stubs)
        receiver.start()
        _, s2 = wait_until("session 2 closed with ChannelTerminated at the receiver",
                           lambda: (lambda sid, rs: (sid, rs) if rs and
                                    rs[-1]["payload_type"] == "channel_terminated" else None)(
                               *session_with_block(receiver.records(), "E")), 60)
        check_contiguous(report, "session 2", s2)
        report.check("session 2: every spooled event arrived with its own uuid, then "
                     "ChannelTerminated ENGINE_RESTARTED",
                     [(r["sequence"], r["event_uuid"]) for r in s2[:-1]]
                     == [(r["sequence"], r["event_uuid"]) for r in spooled]
                     and s2[-1]["payload"]["reason"] == "ENGINE_RESTARTED"
                     and int(s2[-1]["sequence"]) == len(spooled) + 1,
                     [brief(r) for r in s2])
        stub = stubs.playout_grpc.PlayoutControlStub(engine2.channel)

        def joined_session():
            # The restarted engine resumes the stored block session on its own (without
            # evidence; it may still be doing so): stop whatever runs, then start ours, with a
            # join time still ahead of the engine.
            stub.StopBlockPlanSession(pb.StopBlockPlanSessionRequest(
                channel_id=CHANNEL, reason="resync"), timeout=20)
            attach(stub, sock)
            s_start = now_ms() - 1000
            g = block("G", s_start, [seg(0, clips["red"], 2000), seg(1, clips["lime"], 4000),
                                     seg(2, "", 2000)])
            h = block("H", g.end_utc_ms, [seg(0, "", 2000)])
            # 2 s into G's lime segment (which starts at 2000).
            r = start_session(stub, g, h, join=s_start + 4000)
            return r if r.success else None

        wait_until("session 3 (mid-block join) starts", joined_session, 30)
        _, s3 = wait_until("BlockFence H at the receiver",
                           lambda: (lambda sid, rs: (sid, rs) if has_event(rs, "H", "block_fence")
                                    else None)(*session_with_block(receiver.records(), "G")), 60)
        check_contiguous(report, "session 3", s3)
        got3 = [brief(r) for r in s3]
        want3 = [("BS", "G"), ("SE", "G", "ev0", "SKIPPED", "JOIN_IN_PROGRESS", 0),
                 ("SS", "G", "ev1"), ("SE", "G", "ev1", "AIRED", "", frames_for(2000)),
                 ("SS", "G", "ev2"), ("SE", "G", "ev2", "AIRED", "", frames_for(2000)),
                 ("BF", "G"), ("BS", "H"), ("SS", "H", "ev0"),
                 ("SE", "H", "ev0", "AIRED", "", frames_for(2000)), ("BF", "H")]
        report.check("session 3: skipped before the join, then the rest", got3 == want3,
                     {"got": got3, "want": want3})
        first = [r["payload"] for r in s3 if r["payload_type"] == "segment_start"]
        report.check("session 3: join_in_progress true on its first segment only, which "
                     "starts 2 s (50 frames) into its asset",
                     first[0].get("join_in_progress") is True
                     and int(first[0]["asset_start_frame"]) == frames_for(2000)
                     and all("join_in_progress" not in s for s in first[1:]), first)

        # ---- 3. Core down, the spool fills its cap ----------------------------------------
        receiver.stop()
        t2 = (now_ms() // 1000 + 2) * 1000
        many = block("M", t2, [seg(i, "", 200) for i in range(80)])
        tail = block("N", many.end_utc_ms, [seg(0, "", 2000)])
        r = start_session(stub, many, tail)
        report.check("session 4 starts while Core is down", r.success, r.message)
        refused = wait_until(
            "a new session refused for a full spool",
            lambda: (lambda r: r if (not r.success and "EVIDENCE_SPOOL_FULL" in r.message)
                     else None)(start_session(stub, block("X", now_ms() + 3000,
                                                          [seg(0, "", 1000)]),
                                              block("Y", now_ms() + 4000, [seg(0, "", 1000)]))),
            60)
        report.check("refusal names EVIDENCE_SPOOL_FULL", "EVIDENCE_SPOOL_FULL" in refused.message,
                     refused.message)
        text = metrics_text(metrics_port)
        report.value("metrics_at_cap", {n: metric_value(text, "retrovue_playout_evidence_" + n)
                                        for n in ["events_spooled_total", "events_sent_total",
                                                  "events_acked_total", "events_refused_total",
                                                  "spool_bytes"]})
        report.check("metrics: refused > 0 and spool bytes near the cap",
                     (metric_value(text, "retrovue_playout_evidence_events_refused_total") or 0) > 0
                     and (metric_value(text, "retrovue_playout_evidence_spool_bytes") or 0)
                     > SPOOL_CAP / 2, report.values["metrics_at_cap"])
        receiver.start()
        _, s4 = wait_until("session 4 delivered to its ChannelTerminated",
                           lambda: (lambda sid, rs: (sid, rs) if rs and
                                    rs[-1]["payload_type"] == "channel_terminated" else None)(
                               *session_with_block(receiver.records(), "M")), 60)
        check_contiguous(report, "session 4", s4)
        report.check("session 4 ends EVIDENCE_SPOOL_FULL",
                     s4[-1]["payload"]["reason"] == "EVIDENCE_SPOOL_FULL", brief(s4[-1]))
        report.value("session4_events", len(s4))
        ok = wait_until("a new session accepted once Core took the spool",
                        lambda: (lambda r: r if r.success else None)(
                            start_session(stub, block("P", now_ms() + 3000, [seg(0, "", 1000)]),
                                          block("Q", now_ms() + 4000, [seg(0, "", 1000)]))), 60)
        report.check("session accepted after the spool drained", ok.success, ok.message)
        stub.StopBlockPlanSession(pb.StopBlockPlanSessionRequest(channel_id=CHANNEL), timeout=20)
        wait_until("spools acked to their end are deleted",
                   lambda: not [n for n in os.listdir(spool_dir) if n.endswith(".jsonl")
                                and n.split(".")[0] in (sid1, sid2)], 30)
        text = metrics_text(metrics_port)
        spooled_n = metric_value(text, "retrovue_playout_evidence_events_spooled_total") or 0
        acked_n = metric_value(text, "retrovue_playout_evidence_events_acked_total") or 0
        report.value("metrics_end", {"spooled": spooled_n, "acked": acked_n})
        report.check("metrics: events acked > 0 and <= spooled + recovered", acked_n > 0)
        dups = [c for c in receiver.connections() if c["kind"] == "duplicate"]
        report.value("duplicates_at_receiver", len(dups))
    finally:
        if capture is not None and capture._thread.is_alive():
            capture.stop()
        if engine2 is not None:
            code = engine2.stop()
            report.check("engine exits 0 on SIGTERM", code == 0, code)
        elif engine.proc.poll() is None:
            engine.stop()
        receiver.stop()


if __name__ == "__main__":
    scenario_main("evidence", run)
