"""Python stubs for the engine's protos, generated at run time with Debian's grpc_tools.

Run with /usr/bin/python3 (the interpreter that has python3-grpcio and python3-grpc-tools).
`load_stubs(out_dir)` compiles proto/ into out_dir (unless already there) and returns the
generated modules.
"""

import importlib
import os
import re
import shutil
import sys
from types import SimpleNamespace

PROTO_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "proto"))
PROTO_FILES = ["retrovue/playout.proto", "retrovue/execution_evidence_v1.proto"]
# The standard gRPC protos live in package directories named "grpc", which would shadow the
# grpcio module of the same name; they are compiled from a copy under STD_PREFIX instead.
# Only the file names change; packages and service names stay grpc.health.v1 etc.
STD_PREFIX = "stdproto"
STD_PROTO_FILES = [
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1alpha/reflection.proto",
    "grpc/reflection/v1/reflection.proto",
]


OPTIONAL_FIELD = re.compile(r"^(\s*)optional\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", re.M)


class ProtocFailed(RuntimeError):
    """grpc_tools.protoc returned non-zero."""


def generate(out_dir):
    """Compiles the protos into out_dir with grpc_tools.protoc (messages and gRPC stubs)."""
    from grpc_tools import protoc
    import grpc_tools

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    os.makedirs(out_dir, exist_ok=True)
    # Debian's grpc_tools bundles protoc 3.5.1, which predates proto3 `optional`; the files are
    # compiled in the wire-identical synthetic-oneof spelling (`oneof _name { T name = N; }`),
    # so HasField() gives the same explicit presence.
    own = os.path.join(out_dir, "_staging_own")
    for name in PROTO_FILES:
        target = os.path.join(own, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(os.path.join(PROTO_DIR, name)) as src, open(target, "w") as dst:
            dst.write(OPTIONAL_FIELD.sub(r"\1oneof _\3 { \2 \3 = \4; }", src.read()))
    args = [
        "protoc",
        "-I" + own,
        "-I" + well_known,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
    ] + PROTO_FILES
    code = protoc.main(args)
    if code != 0:
        raise ProtocFailed("protoc exited with %d for %s" % (code, PROTO_FILES))
    staging = os.path.join(out_dir, "_staging")
    for name in STD_PROTO_FILES:
        target = os.path.join(staging, STD_PREFIX, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(PROTO_DIR, name), target)
    std = [os.path.join(STD_PREFIX, name) for name in STD_PROTO_FILES]
    args = [
        "protoc",
        "-I" + staging,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
    ] + std
    code = protoc.main(args)
    if code != 0:
        raise ProtocFailed("protoc exited with %d for %s" % (code, std))


def load_stubs(out_dir):
    """Generates (if needed) and imports the stubs; returns them as attributes."""
    marker = os.path.join(out_dir, STD_PREFIX, "grpc", "reflection", "v1", "reflection_pb2_grpc.py")
    if not os.path.exists(marker):
        generate(out_dir)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    mod = importlib.import_module
    return SimpleNamespace(
        playout_pb2=mod("retrovue.playout_pb2"),
        playout_grpc=mod("retrovue.playout_pb2_grpc"),
        evidence_pb2=mod("retrovue.execution_evidence_v1_pb2"),
        evidence_grpc=mod("retrovue.execution_evidence_v1_pb2_grpc"),
        health_pb2=mod(STD_PREFIX + ".grpc.health.v1.health_pb2"),
        health_grpc=mod(STD_PREFIX + ".grpc.health.v1.health_pb2_grpc"),
        reflection_v1alpha_pb2=mod(STD_PREFIX + ".grpc.reflection.v1alpha.reflection_pb2"),
        reflection_v1alpha_grpc=mod(STD_PREFIX + ".grpc.reflection.v1alpha.reflection_pb2_grpc"),
        reflection_v1_pb2=mod(STD_PREFIX + ".grpc.reflection.v1.reflection_pb2"),
        reflection_v1_grpc=mod(STD_PREFIX + ".grpc.reflection.v1.reflection_pb2_grpc"),
    )
