"""Schemas in other formats for the registry's tests: an Avro record, rides.proto compiled
by protoc (grpcio-tools) into a descriptor set and into protoc's own Python classes."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

import orjson

PROTOS = Path(__file__).parent / "protos"

AVRO_TRIP = orjson.dumps({
    "type": "record", "name": "TripCompleted", "namespace": "rides",
    "fields": [{"name": "ride_id", "type": "string"},
               {"name": "fare", "type": "double"},
               {"name": "tip", "type": ["null", "double"], "default": None}]}).decode()


def _protoc(*args: str) -> None:
    """grpcio-tools' protoc, in its own process (as a user runs it)."""
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}",
                    f"-I{well_known}", *args], check=True, capture_output=True)


@functools.cache
def _made(tmp: str) -> Path:
    out = Path(tmp)
    _protoc("--include_imports", f"--descriptor_set_out={out / 'rides.desc'}",
            f"--python_out={out}", str(PROTOS / "rides.proto"))
    return out


@functools.cache
def descriptor_set() -> bytes:
    """rides.proto as ``protoc --include_imports -o`` writes it."""
    import tempfile

    return (_made(tempfile.mkdtemp(prefix="eventkit-protos-")) / "rides.desc").read_bytes()


def generated_rides() -> object:
    """The module protoc's Python generator writes for rides.proto (an independent class)."""
    import tempfile

    folder = _made(tempfile.mkdtemp(prefix="eventkit-protos-"))
    spec = importlib.util.spec_from_file_location("rides_pb2_oracle", folder / "rides_pb2.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
