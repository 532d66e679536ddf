"""A reference gRPC server for the benchmarks: grpcio (C core) answering
PlayoutControl.GetVersion, to measure what the box gives any gRPC server beside the same
load as the engine.

Usage: get_version_server.py STUBS_DIR PORT. Prints "listening PORT" once bound; runs until
killed.
"""
import sys
from concurrent import futures

import grpc
from playout_stubs import load_stubs


def main():
    stubs = load_stubs(sys.argv[1])
    port = int(sys.argv[2])

    class Playout(stubs.playout_grpc.PlayoutControlServicer):
        def GetVersion(self, request, context):
            return stubs.playout_pb2.ApiVersion(version="reference")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    stubs.playout_grpc.add_PlayoutControlServicer_to_server(Playout(), server)
    bound = server.add_insecure_port("127.0.0.1:%d" % port)
    if bound == 0:
        sys.exit("cannot listen on 127.0.0.1:%d" % port)
    server.start()
    print("listening %d" % bound, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
