"""An as-run receiver written from ../shared/spec/evidence-api.md, the way Core keeps evidence.

Usage: /usr/bin/python3 evidence_receiver.py STUBS_DIR PORT STORE_DIR

Serves retrovue.evidence.v1.ExecutionEvidenceService on 127.0.0.1:PORT. Every message gets an
ack. An event is written (and fsync'ed) to STORE_DIR/asrun.jsonl before it is acked; duplicates
(same event_uuid) are not written again but still acked. acked_sequence is the highest sequence
S of the session such that 1..S are all stored (what Core holds durably), also for Hello.
Hellos and streams are logged to STORE_DIR/connections.jsonl. The store survives a restart of
the receiver (it is re-read at start). Prints "listening" once serving; stops on SIGTERM.
"""

import json
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

from playout_stubs import load_stubs


def fields(msg):
    """A message as a dict of its set fields (plain scalars always; oneof members if set)."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        if f.containing_oneof is not None and not msg.HasField(f.name):
            continue
        value = getattr(msg, f.name)
        if f.message_type is not None:
            value = fields(value)
        out[f.name] = value
    return out


class Store:
    """The receiver's durable as-run log."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "asrun.jsonl")
        self.conn_path = os.path.join(directory, "connections.jsonl")
        self.lock = threading.Lock()
        self.uuids = set()
        self.sequences = {}  # (channel, session) -> set of stored sequences
        if os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    if line.strip():
                        self._index(json.loads(line))

    def _index(self, rec):
        self.uuids.add(rec["event_uuid"])
        key = (rec["channel_id"], rec["playout_session_id"])
        self.sequences.setdefault(key, set()).add(int(rec["sequence"]))

    def contiguous(self, key):
        seqs = self.sequences.get(key, set())
        n = 0
        while n + 1 in seqs:
            n += 1
        return n

    def put(self, rec):
        """Writes rec unless its uuid is known; returns whether it was new."""
        with self.lock:
            if rec["event_uuid"] in self.uuids:
                self.log_conn({"kind": "duplicate", "event_uuid": rec["event_uuid"],
                               "sequence": rec["sequence"],
                               "session": rec["playout_session_id"]})
                return False
            with open(self.path, "a") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._index(rec)
            return True

    def log_conn(self, entry):
        with open(self.conn_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()


class Evidence:
    def __init__(self, stubs, store):
        self.pb = stubs.evidence_pb2
        self.store = store

    def EvidenceStream(self, request_iterator, context):
        first = True
        for msg in request_iterator:
            kind = msg.WhichOneof("payload")
            key = (msg.channel_id, msg.playout_session_id)
            error = ""
            if first:
                self.store.log_conn({
                    "kind": "stream", "first": kind, "sequence": msg.sequence,
                    "event_uuid": msg.event_uuid, "emitted_utc": msg.emitted_utc,
                    "schema_version": msg.schema_version,
                    "channel_id": msg.channel_id, "session": msg.playout_session_id,
                    "hello": fields(msg.hello) if kind == "hello" else None,
                    "core_holds": self.store.contiguous(key),
                })
                first = False
            if kind == "hello":
                pass
            elif kind is None:
                error = "no payload"
            else:
                rec = {
                    "schema_version": msg.schema_version,
                    "channel_id": msg.channel_id,
                    "playout_session_id": msg.playout_session_id,
                    "sequence": msg.sequence,
                    "event_uuid": msg.event_uuid,
                    "emitted_utc": msg.emitted_utc,
                    "payload_type": kind,
                    "payload": fields(getattr(msg, kind)),
                }
                self.store.put(rec)
            yield self.pb.EvidenceAckFromCore(
                channel_id=msg.channel_id, playout_session_id=msg.playout_session_id,
                acked_sequence=self.store.contiguous(key), error=error)


def main():
    stubs = load_stubs(sys.argv[1])
    port = int(sys.argv[2])
    store = Store(sys.argv[3])
    # SIGTERM is blocked before gRPC starts its threads (they inherit the mask) and taken with
    # sigwait: a Python handler setting an Event is not enough, for a SIGTERM the kernel hands
    # to one of gRPC's threads never wakes a main thread asleep in Event.wait().
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    stubs.evidence_grpc.add_ExecutionEvidenceServiceServicer_to_server(
        Evidence(stubs, store), server)
    if server.add_insecure_port("127.0.0.1:%d" % port) == 0:
        sys.exit("cannot listen on 127.0.0.1:%d" % port)
    server.start()
    print("listening", flush=True)
    signal.sigwait({signal.SIGTERM})
    server.stop(0)


if __name__ == "__main__":
    main()
