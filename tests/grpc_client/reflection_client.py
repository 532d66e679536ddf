"""A server-reflection client: discovers the engine's API the way generic tools do.

Usage: /usr/bin/python3 reflection_client.py STUBS_DIR TARGET VERSION > result.json
VERSION is "v1alpha" or "v1". Over one ServerReflectionInfo stream it lists the services,
fetches the file declaring retrovue.playout.PlayoutControl (with dependencies), builds a
protobuf DescriptorPool from the returned FileDescriptorProtos, and reports what it found:
the services, each PlayoutControl method with its types and streaming flags, the
PLAYOUT_API_VERSION file option, and the answers to the other request kinds.
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from playout_stubs import load_stubs

SERVICE = "retrovue.playout.PlayoutControl"


def build_pool(serialized_files):
    """Adds the files to a fresh pool, dependencies first."""
    files = {}
    for raw in serialized_files:
        fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
        files[fdp.name] = fdp
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name):
        if name in added:
            return
        for dep in files[name].dependency:
            add(dep)
        pool.Add(files[name])
        added.add(name)

    for name in files:
        add(name)
    return pool, files


def api_version(pool, fdp):
    """Reads the PLAYOUT_API_VERSION file option through the pool's own FileOptions class."""
    factory = message_factory.MessageFactory(pool)
    options_class = factory.GetPrototype(pool.FindMessageTypeByName("google.protobuf.FileOptions"))
    options = options_class.FromString(fdp.options.SerializeToString())
    extension = pool.FindExtensionByName("retrovue.playout.PLAYOUT_API_VERSION")
    return options.Extensions[extension]


def main():
    stubs = load_stubs(sys.argv[1])
    target, version = sys.argv[2], sys.argv[3]
    pb2 = getattr(stubs, "reflection_%s_pb2" % version)
    grpc_mod = getattr(stubs, "reflection_%s_grpc" % version)
    channel = grpc.insecure_channel(target)
    stub = grpc_mod.ServerReflectionStub(channel)
    R = pb2.ServerReflectionRequest
    requests = [
        R(list_services=""),
        R(file_containing_symbol=SERVICE),
        R(file_by_filename="retrovue/playout.proto"),
        R(file_containing_symbol="retrovue.playout.BlockEvent"),
        R(file_containing_symbol="grpc.health.v1.HealthCheckResponse.ServingStatus"),
        R(file_containing_extension=pb2.ExtensionRequest(
            containing_type="google.protobuf.FileOptions", extension_number=50000)),
        R(all_extension_numbers_of_type="google.protobuf.FileOptions"),
        R(file_containing_symbol="no.such.Symbol"),
        R(file_by_filename="no/such.proto"),
    ]
    responses = list(stub.ServerReflectionInfo(iter(requests), timeout=20))
    channel.close()

    def files_of(resp):
        names = []
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            names.append(descriptor_pb2.FileDescriptorProto.FromString(raw).name)
        return names

    listing, by_symbol, by_name, by_event, by_nested, by_ext, ext_numbers, bad_sym, bad_file = (
        responses
    )
    pool, files = build_pool(by_symbol.file_descriptor_response.file_descriptor_proto)
    service = pool.FindServiceByName(SERVICE)
    methods = {
        m.name: {
            "input": m.input_type.full_name,
            "output": m.output_type.full_name,
            "server_streaming": bool(files["retrovue/playout.proto"]
                                     .service[0].method[m.index].server_streaming),
        }
        for m in service.methods
    }
    result = {
        "services": sorted(s.name for s in listing.list_services_response.service),
        "symbol_files": files_of(by_symbol),
        "filename_files": files_of(by_name),
        "event_files": files_of(by_event),
        "nested_enum_files": files_of(by_nested),
        "extension_files": files_of(by_ext),
        "extension_numbers": {
            "base": ext_numbers.all_extension_numbers_response.base_type_name,
            "numbers": list(ext_numbers.all_extension_numbers_response.extension_number),
        },
        "unknown_symbol_error": bad_sym.error_response.error_code,
        "unknown_file_error": bad_file.error_response.error_code,
        "methods": methods,
        "block_event_oneof": [
            f.name for f in pool.FindMessageTypeByName("retrovue.playout.BlockEvent")
            .oneofs_by_name["event"].fields
        ],
        "api_version": api_version(pool, files["retrovue/playout.proto"]),
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
