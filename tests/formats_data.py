"""Payloads made by the formats' own libraries (fastavro, protobuf, msgpack), for the tests."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro

RIDES_PROTO = """
syntax = "proto3";
package rides;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
enum Status { STATUS_UNKNOWN = 0; ACTIVE = 1; DONE = 2; }
message Loc { double lat = 1; double lon = 2; }
message TripCompleted {
  string type = 1; string ride_id = 2;
  google.protobuf.Timestamp event_time = 3;
  double fare = 4; Status status = 5; Loc loc = 6; repeated string tags = 7;
  google.protobuf.Duration took = 8; google.protobuf.DoubleValue tip = 9;
  repeated Loc path = 10; int64 n = 11; optional string note = 12; bytes raw = 13;
  oneof pay { string card = 14; string cash = 15; }
  map<string, int64> counts = 16; uint32 small = 17; sint64 delta = 18; float ratio = 19;
  bool paid = 20; google.protobuf.StringValue coupon = 21;
}
"""

TRIP_AVRO: dict[str, Any] = {
    "type": "record", "name": "TripCompleted", "namespace": "rides", "fields": [
        {"name": "type", "type": "string"},
        {"name": "ride_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_ns", "type": {"type": "long", "logicalType": "timestamp-nanos"}},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "clock_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "clock_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                    "precision": 10, "scale": 2}},
        {"name": "fixed_amount", "type": {"type": "fixed", "name": "Money", "size": 8,
                                          "logicalType": "decimal", "precision": 12, "scale": 3}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "fare", "type": ["null", "double"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status",
                                    "symbols": ["REQUESTED", "DONE"]}},
        {"name": "loc", "type": {"type": "record", "name": "Loc", "fields": [
            {"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}},
        {"name": "path", "type": {"type": "array", "items": "Loc"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "rating", "type": "int", "default": 5},
        {"name": "small", "type": "float"},
        {"name": "paid", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
    ]}


def avro_record(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def confluent(schema_id: int, body: bytes, indexes: bytes = b"") -> bytes:
    """Confluent's wire format: magic 0, the id big-endian, (message indexes), the body."""
    return b"\x00" + schema_id.to_bytes(4, "big") + indexes + body


def single_object(schema: Any, body: bytes) -> bytes:
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    digest = fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
    return b"\xc3\x01" + int(digest, 16).to_bytes(8, "little") + body


def descriptor_set(tmp: Path, proto: str = RIDES_PROTO, name: str = "rides.proto") -> Path:
    """A FileDescriptorSet compiled by protoc (grpcio-tools), imports included."""
    import grpc_tools

    (tmp / name).write_text(proto)
    out = tmp / "rides.desc"
    include = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp}", f"-I{include}",
                    "--include_imports", f"--descriptor_set_out={out}", name],
                   check=True, cwd=tmp)
    return out


def message(descriptors: bytes | Path, name: str) -> Any:
    """A message class from a descriptor set, built as the registry builds it."""
    from eventkit.schema._entry import SchemaEntry, protobuf_message

    raw = descriptors.read_bytes() if isinstance(descriptors, Path) else descriptors
    return protobuf_message(SchemaEntry("t", 1, "protobuf", name, None, raw, name))
