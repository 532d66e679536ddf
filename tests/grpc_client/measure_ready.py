"""Measures process start -> first GetVersion answer, like Core's poll (2 s per try).

Usage: /usr/bin/python3 measure_ready.py STUBS_DIR RUNS COMMAND... (COMMAND gets --port N)
Prints JSON: every run's milliseconds, the median and the worst.
"""

import json
import os
import signal
import subprocess
import sys
import time

import grpc

from e2e_common import REPO, free_port
from playout_stubs import load_stubs


def once(stubs, command):
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(command + ["--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 10:
            # A fresh channel per try: a channel whose first connect was refused backs off
            # for seconds before it tries again, which would measure grpcio, not the engine.
            with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
                stub = stubs.playout_grpc.PlayoutControlStub(channel)
                try:
                    stub.GetVersion(stubs.playout_pb2.ApiVersionRequest(), timeout=2)
                    return (time.monotonic() - started) * 1000
                except grpc.RpcError:
                    time.sleep(0.005)
        return None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    stubs = load_stubs(sys.argv[1])
    runs = int(sys.argv[2])
    command = sys.argv[3:]
    times = [once(stubs, command) for _ in range(runs)]
    ok = sorted(t for t in times if t is not None)
    json.dump({"command": command, "ms": [None if t is None else round(t, 1) for t in times],
               "median_ms": round(ok[len(ok) // 2], 1) if ok else None,
               "worst_ms": round(ok[-1], 1) if ok else None,
               "failed": len(times) - len(ok)}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
