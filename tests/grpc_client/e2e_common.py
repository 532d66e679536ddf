"""Shared parts of the end-to-end scenarios that drive the real engine the way RetroVue Core does.

Run with /usr/bin/python3. The scenarios spawn `deno run -A src/main.ts --port N`, poll
GetVersion (2 s per try, 10 s in all, like Core), bind a Unix socket that the engine writes
MPEG-TS into after AttachStream, and judge the capture with ffprobe.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc

from playout_stubs import load_stubs

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
WIDTH, HEIGHT, FPS = 320, 240, 25
FRAME_MS = 1000.0 / FPS
PROGRAM_FORMAT_JSON = json.dumps({
    "video": {"width": WIDTH, "height": HEIGHT, "frame_rate": "%d/1" % FPS},
    "audio": {"sample_rate": 48000, "channels": 2},
})


def now_ms():
    return int(time.time() * 1000)


class Report:
    """Collects checks and measurements; prints JSON; the exit code says whether all held."""

    def __init__(self, name):
        self.name = name
        self.checks = []
        self.values = {}

    def check(self, what, ok, detail=None):
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        sys.stderr.write("%s %s %s\n" % ("PASS" if ok else "FAIL", what,
                                         "" if detail is None else json.dumps(detail)))
        return bool(ok)

    def value(self, key, value):
        self.values[key] = value

    def finish(self):
        failed = [c for c in self.checks if not c["ok"]]
        json.dump({"scenario": self.name, "ok": not failed and bool(self.checks),
                   "checks": self.checks, "values": self.values}, sys.stdout)
        sys.stdout.write("\n")
        return 0 if not failed and self.checks else 1


class ScenarioAbort(Exception):
    """A step failed in a way that makes the rest of the scenario meaningless."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_clip(path, seconds, color, tone_hz):
    """A tiny H.264/AAC clip: a solid color with a frame counter, and a sine tone."""
    subprocess.run([
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "color=c=%s:s=%dx%d:r=%d:d=%s" % (color, WIDTH, HEIGHT, FPS, seconds),
        "-f", "lavfi", "-i", "sine=frequency=%d:sample_rate=48000:duration=%s" % (tone_hz, seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest", path,
    ], check=True)
    return path


class Engine:
    """The engine process, spawned like Core spawns it."""

    def __init__(self, deno, workdir):
        self.port = free_port()
        self.log_path = os.path.join(workdir, "engine.log")
        self.log = open(self.log_path, "wb")
        self.spawned_at = time.monotonic()
        self.proc = subprocess.Popen(
            [deno, "run", "-A", os.path.join(REPO, "src", "main.ts"), "--port", str(self.port)],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.address = "127.0.0.1:%d" % self.port
        self.channel = grpc.insecure_channel(self.address)

    def wait_version(self, stubs):
        """Polls GetVersion like Core (2 s per try, gives up after 10 s); returns (version, ms)."""
        deadline = time.monotonic() + 10
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ScenarioAbort("engine exited with %s before answering GetVersion; log: %s"
                                    % (self.proc.returncode, self.tail()))
            # A fresh channel per try: a grpcio channel whose first connect was refused backs
            # off for seconds, which would measure grpcio rather than the engine.
            with grpc.insecure_channel(self.address) as probe:
                stub = stubs.playout_grpc.PlayoutControlStub(probe)
                try:
                    reply = stub.GetVersion(stubs.playout_pb2.ApiVersionRequest(), timeout=2)
                    return reply.version, (time.monotonic() - self.spawned_at) * 1000
                except grpc.RpcError as err:
                    last = "%s %s" % (err.code().name, err.details())
            time.sleep(0.01)
        raise ScenarioAbort("GetVersion not answered within 10 s (%s); log: %s"
                            % (last, self.tail()))

    def tail(self, n=4000):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            data = f.read()
        return data[-n:].decode("utf-8", "replace")

    def stop(self):
        """SIGTERM, like a service manager; returns the exit code (or None if it hung)."""
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.log.close()
        return self.proc.returncode


class SocketCapture:
    """A Unix socket that Core binds; the engine connects and writes TS; bytes go to a file."""

    def __init__(self, path, out_path):
        self.path = path
        self.out_path = out_path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.bytes = 0
        self.first_byte = None
        self.connections = 0
        self.first_data_ms = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.server.settimeout(0.2)
        with open(self.out_path, "wb") as out:
            while not self._stop.is_set():
                try:
                    conn, _ = self.server.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                self.connections += 1
                conn.settimeout(0.2)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(65536)
                    except socket.timeout:
                        continue
                    if not data:
                        break
                    if self.first_byte is None:
                        self.first_byte = data[0]
                        self.first_data_ms = now_ms()
                    out.write(data)
                    self.bytes += len(data)
                conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.server.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def ffprobe_json(path, *args):
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip()}
    return json.loads(out.stdout)


def probe_capture(report, path, min_seconds):
    """Checks that the capture is MPEG-TS with H.264 video of the program raster and audio."""
    info = ffprobe_json(path, "-show_format", "-show_streams")
    report.check("ffprobe reads the capture", "error" not in info, info.get("error"))
    if "error" in info:
        return info
    fmt = info.get("format", {})
    report.check("capture is MPEG-TS", fmt.get("format_name") == "mpegts", fmt.get("format_name"))
    video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    report.check("one video stream at the program raster",
                 len(video) == 1 and video[0].get("width") == WIDTH
                 and video[0].get("height") == HEIGHT,
                 [(s.get("codec_name"), s.get("width"), s.get("height")) for s in video])
    report.check("an audio stream", len(audio) >= 1, [s.get("codec_name") for s in audio])
    duration = float(fmt.get("duration", 0) or 0)
    report.value("capture_duration_s", duration)
    report.check("capture covers at least %.1f s" % min_seconds, duration >= min_seconds, duration)
    return info


def video_pts(path):
    """Video packet PTS values (90 kHz) in presentation order."""
    info = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "packet=pts",
                        "-show_packets")
    return sorted(int(p["pts"]) for p in info.get("packets", []) if "pts" in p)


def scenario_main(name, body):
    """Runs body(report, stubs, deno, workdir); prints the report; exits with its status."""
    if len(sys.argv) < 4:
        sys.stderr.write("usage: %s STUBS_DIR DENO WORKDIR\n" % sys.argv[0])
        sys.exit(2)
    stubs = load_stubs(sys.argv[1])
    deno, workdir = sys.argv[2], sys.argv[3]
    report = Report(name)
    try:
        body(report, stubs, deno, workdir)
    except ScenarioAbort as err:
        report.check("scenario completed", False, str(err))
    sys.exit(report.finish())
