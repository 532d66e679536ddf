"""Runs a batch of gRPC calls against the engine with Python stubs and prints the results.

Usage: /usr/bin/python3 call_runner.py STUBS_DIR < batch.json > results.json

batch.json: {"target": "unix:/path" | "127.0.0.1:PORT", "calls": [CALL, ...]} where CALL is
  {"rpc": "StartChannel", "request": {...}}                 a unary PlayoutControl call
  {"service": "health", "rpc": "Check", "request": {...}}    a call on grpc.health.v1.Health
  {"rpc": "SubscribeBlockEvents", "request": {...}, "stream": true, "max_messages": N}
  {"rpc": ..., "background": true}                           started now, joined at the end
  {"rpc": ..., "stream": true, "background": true, "await_first": true}
      a stream read in a thread; with await_first the batch goes on once its first message
      arrived (so the server has registered the subscription)
Requests are protobuf JSON with the .proto field names. Each result is
  {"ok": true, "response": {...}}  (or "messages": [...] for streams; all fields present)
  {"ok": false, "code": "NOT_FOUND", "details": "..."}
in the order of the calls.
"""

import json
import sys
import threading

import grpc
from google.protobuf import json_format

from playout_stubs import load_stubs

TIMEOUT_S = 20


def to_dict(message):
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, including_default_value_fields=True
    )


def failure(err):
    return {"ok": False, "code": err.code().name, "details": err.details()}


def main():
    stubs = load_stubs(sys.argv[1])
    batch = json.load(sys.stdin)
    channel = grpc.insecure_channel(batch["target"])
    services = {
        "playout": (stubs.playout_grpc.PlayoutControlStub(channel), stubs.playout_pb2),
        "health": (stubs.health_grpc.HealthStub(channel), stubs.health_pb2),
    }
    results = []
    pending = []
    for call in batch["calls"]:
        stub, pb2 = services[call.get("service", "playout")]
        method = getattr(stub, call["rpc"])
        request = json_format.ParseDict(call.get("request", {}), request_class(pb2, call)())
        if call.get("stream") and call.get("background"):
            index = len(results)
            results.append(None)
            pending.append((index, start_stream_thread(method, request, call)))
        elif call.get("stream"):
            results.append(read_stream(method, request, call.get("max_messages", 1000)))
        elif call.get("background"):
            index = len(results)
            results.append(None)
            pending.append((index, method.future(request, timeout=TIMEOUT_S)))
        else:
            try:
                results.append({"ok": True, "response": to_dict(method(request, timeout=TIMEOUT_S))})
            except grpc.RpcError as err:
                results.append(failure(err))
    for index, future in pending:
        if isinstance(future, StreamThread):
            future.join(TIMEOUT_S)
            results[index] = future.result
            continue
        try:
            results[index] = {"ok": True, "response": to_dict(future.result())}
        except grpc.RpcError as err:
            results[index] = failure(err)
    json.dump(results, sys.stdout)
    channel.close()


REQUEST_TYPES = {
    "StartChannel": "StartChannelRequest",
    "UpdatePlan": "UpdatePlanRequest",
    "StopChannel": "StopChannelRequest",
    "GetVersion": "ApiVersionRequest",
    "LoadPreview": "LoadPreviewRequest",
    "SwitchToLive": "SwitchToLiveRequest",
    "AttachStream": "AttachStreamRequest",
    "DetachStream": "DetachStreamRequest",
    "StartBlockPlanSession": "StartBlockPlanSessionRequest",
    "FeedBlockPlan": "FeedBlockPlanRequest",
    "StopBlockPlanSession": "StopBlockPlanSessionRequest",
    "SubscribeBlockEvents": "SubscribeBlockEventsRequest",
    "Check": "HealthCheckRequest",
    "Watch": "HealthCheckRequest",
}


def request_class(pb2, call):
    return getattr(pb2, REQUEST_TYPES[call["rpc"]])


class StreamThread(threading.Thread):
    """Reads a server stream in the background."""

    def __init__(self, method, request, max_messages):
        super().__init__(daemon=True)
        self.first = threading.Event()
        self.result = {"ok": False, "code": "DEADLINE_EXCEEDED", "details": "stream not done"}
        self._args = (method, request, max_messages)

    def run(self):
        self.result = read_stream(*self._args, on_message=self.first.set)
        self.first.set()


def start_stream_thread(method, request, call):
    thread = StreamThread(method, request, call.get("max_messages", 1000))
    thread.start()
    if call.get("await_first"):
        thread.first.wait(TIMEOUT_S)
    return thread


def read_stream(method, request, max_messages, on_message=None):
    messages = []
    stream = method(request, timeout=TIMEOUT_S)
    try:
        for message in stream:
            messages.append(to_dict(message))
            if on_message is not None:
                on_message()
            if len(messages) >= max_messages:
                stream.cancel()
                break
        return {"ok": True, "messages": messages}
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.CANCELLED and len(messages) >= max_messages:
            return {"ok": True, "messages": messages}
        result = failure(err)
        result["messages"] = messages
        return result


if __name__ == "__main__":
    main()
