"""Protobuf compatibility, a case per rule Confluent's schema registry checks (field numbers,
wire-compatible types, removed fields, oneofs, messages, enums), both directions.

The oracle for wire compatibility: protobuf's own parser. A message serialized with one
version and parsed with the other keeps its values where the registry says compatible.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
from google.protobuf import unknown_fields

import eventkit as ek
from eventkit.schema._entry import SchemaEntry, compile_protos, protobuf_message


@functools.cache
def compiled(body: str, package: str = "rides", syntax: str = "proto3") -> bytes:
    """A FileDescriptorSet of one file holding ``body``, compiled by protoc."""
    folder = Path(tempfile.mkdtemp(prefix="eventkit-proto-"))
    (folder / "t.proto").write_text(f'syntax = "{syntax}";\npackage {package};\n{body}\n')
    return compile_protos([folder / "t.proto"], "a test schema")


def _check(old: str, new: str, mode: str, *, name: str = "rides.M", new_name: str | None = None,
           syntax: str = "proto3", new_package: str = "rides") -> list[str]:
    reg = ek.SchemaRegistry()
    reg.register("t", name, format="protobuf", descriptors=compiled(old, syntax=syntax))
    return reg.incompatibilities("t", new_name or name, format="protobuf",
                                 descriptors=compiled(new, new_package, syntax),
                                 compatibility=mode)


# (case, old body, new body, BACKWARD problem or None, FORWARD problem or None)
CASES = [
    ("add a field", "message M { int32 a = 1; }", "message M { int32 a = 1; string b = 2; }",
     None, None),
    ("remove a field", "message M { int32 a = 1; string b = 2; }", "message M { int32 a = 1; }",
     None, None),
    ("remove a field and reserve its number", "message M { int32 a = 1; string b = 2; }",
     "message M { int32 a = 1; reserved 2; }", None, None),
    ("rename a field", "message M { int32 a = 1; }", "message M { int32 b = 1; }", None, None),
    ("change a field's number", "message M { int32 a = 1; }", "message M { int32 a = 2; }",
     ("changing a field's number", "a"), ("changing a field's number", "a")),
    ("reuse a number for another type", "message M { int32 a = 1; }",
     "message M { string b = 1; }", ("wire does not read", "b"), ("wire does not read", "a")),
    ("int32 to int64 (varint)", "message M { int32 a = 1; }", "message M { int64 a = 1; }",
     None, None),
    ("uint32 to bool (varint)", "message M { uint32 a = 1; }", "message M { bool a = 1; }",
     None, None),
    ("sint32 to sint64 (zigzag)", "message M { sint32 a = 1; }", "message M { sint64 a = 1; }",
     None, None),
    ("int32 to sint32 (varint, zigzag)", "message M { int32 a = 1; }",
     "message M { sint32 a = 1; }", ("wire does not read", "a"), ("wire does not read", "a")),
    ("fixed32 to sfixed32", "message M { fixed32 a = 1; }", "message M { sfixed32 a = 1; }",
     None, None),
    ("fixed64 to sfixed64", "message M { fixed64 a = 1; }", "message M { sfixed64 a = 1; }",
     None, None),
    ("fixed32 to fixed64", "message M { fixed32 a = 1; }", "message M { fixed64 a = 1; }",
     ("wire does not read", "a"), ("wire does not read", "a")),
    ("string to bytes", "message M { string a = 1; }", "message M { bytes a = 1; }",
     None, None),
    ("float to double", "message M { float a = 1; }", "message M { double a = 1; }",
     ("wire does not read", "a"), ("wire does not read", "a")),
    ("an enum to int32", "enum E { E0 = 0; E1 = 1; } message M { E a = 1; }",
     "message M { int32 a = 1; }", None, None),
    ("a scalar to a message", "message M { string a = 1; }",
     "message P { string s = 1; } message M { P a = 1; }",
     ("wire does not read", "a"), ("wire does not read", "a")),
    ("another message type", "message P { string s = 1; } message Q { string s = 1; } "
     "message M { P a = 1; }", "message P { string s = 1; } message Q { string s = 1; } "
     "message M { Q a = 1; }", ("message or enum type", "a"), ("message or enum type", "a")),
    ("a nested message changes a field's type",
     "message P { int32 s = 1; } message M { P a = 1; }",
     "message P { string s = 1; } message M { P a = 1; }",
     ("wire does not read", "a.s"), ("wire does not read", "a.s")),
    ("singular to repeated int32", "message M { int32 a = 1; }",
     "message M { repeated int32 a = 1; }",
     ("between singular and repeated", "a"), ("between singular and repeated", "a")),
    ("singular to repeated string", "message M { string a = 1; }",
     "message M { repeated string a = 1; }", None, None),
    ("move one field into a new oneof", "message M { int32 a = 1; string b = 2; }",
     "message M { oneof o { int32 a = 1; } string b = 2; }",
     None, ("moving a field out of a oneof", "a")),
    ("move a field out of a oneof", "message M { oneof o { int32 a = 1; string b = 2; } }",
     "message M { int32 a = 1; oneof o { string b = 2; } }",
     ("moving a field out of a oneof", "a"), ("moving a field into an existing oneof", "a")),
    ("move a field into an existing oneof", "message M { int32 a = 1; oneof o { string b = 2; } }",
     "message M { oneof o { int32 a = 1; string b = 2; } }",
     ("moving a field into an existing oneof", "a"), ("moving a field out of a oneof", "a")),
    ("add a new field to a oneof", "message M { oneof o { string b = 2; } }",
     "message M { oneof o { int32 a = 1; string b = 2; } }", None, None),
    ("add an enum value", "enum E { E0 = 0; } message M { E a = 1; }",
     "enum E { E0 = 0; E1 = 1; } message M { E a = 1; }", None, None),
    ("renumber an enum value", "enum E { E0 = 0; E1 = 1; } message M { E a = 1; }",
     "enum E { E0 = 0; E1 = 2; } message M { E a = 1; }",
     ("enum value another number", "a"), ("enum value another number", "a")),
]


@pytest.mark.parametrize(("case", "old", "new", "backward", "forward"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_protobuf_rule_in_each_direction(case, old, new, backward, forward):
    for mode, expected in (("BACKWARD", backward), ("FORWARD", forward)):
        found = _check(old, new, mode)
        if expected is None:
            assert found == [], (case, mode)
        else:
            rule, path = expected
            assert len(found) == 1, (case, mode, found)
            assert rule in found[0] and f"field {path!r}" in found[0], (case, mode, found)


def test_moving_several_fields_into_one_new_oneof_is_refused():
    found = _check("message M { int32 a = 1; string b = 2; }",
                   "message M { oneof o { int32 a = 1; string b = 2; } }", "BACKWARD")
    assert [s.split(":")[1].strip() for s in found] == ["field 'a'", "field 'b'"]
    assert all("moving several fields into one new oneof" in s for s in found)


def test_renaming_the_message_or_its_package_removes_it():
    body = "message M { int32 a = 1; } message N { int32 a = 1; }"
    assert "renaming or removing the message" in _check(body, body, "BACKWARD",
                                                        new_name="rides.N")[0]
    assert "renaming or removing the message" in _check(body, body, "FORWARD",
                                                        new_package="trips",
                                                        new_name="trips.M")[0]


def test_proto2_required_fields_and_closed_enums():
    old = "message M { required int32 a = 1; }"
    new = "message M { required int32 a = 1; required string b = 2; }"
    assert "adding a required field" in _check(old, new, "BACKWARD", syntax="proto2")[0]
    assert "removing a required field" in _check(old, new, "FORWARD", syntax="proto2")[0]
    assert _check("message M { optional int32 a = 1; }",
                  "message M { optional int32 a = 1; optional string b = 2; }",
                  "FULL", syntax="proto2") == []
    closed = "enum E { E0 = 0; E1 = 1; } message M { optional E a = 1; }"
    fewer = "enum E { E0 = 0; } message M { optional E a = 1; }"
    assert "removing a value from a closed (proto2) enum" in _check(
        closed, fewer, "BACKWARD", syntax="proto2")[0]
    assert _check(closed, fewer, "FORWARD", syntax="proto2") == []
    open_ = "enum E { E0 = 0; E1 = 1; } message M { E a = 1; }"
    assert _check(open_, "enum E { E0 = 0; } message M { E a = 1; }", "FULL") == []


def _entry(body: str) -> SchemaEntry:
    return SchemaEntry("t", 1, "protobuf", "rides.M", 1, compiled(body), "rides.M")


_SCALARS = ["int32", "uint32", "int64", "uint64", "bool", "sint32", "sint64", "fixed32",
            "sfixed32", "fixed64", "sfixed64", "string", "bytes", "float", "double"]
# 1: a value every type of a wire group holds (a varint group's bool reads 7 as true)
_VALUE = {"bool": True, "string": "1", "bytes": b"1", "float": 1.0, "double": 1.0}


@pytest.mark.parametrize("before", _SCALARS)
def test_protobufs_parser_agrees_on_every_scalar_change(before):
    """Serialize with the old type, parse with the new: the value comes back exactly where
    the registry says the change is compatible, and not where it says it is not."""
    for after in _SCALARS:
        old_cls = protobuf_message(_entry(f"message M {{ {before} a = 1; }}"))
        new_cls = protobuf_message(_entry(f"message M {{ {after} a = 1; }}"))
        value = _VALUE.get(before, 1)
        parsed = new_cls.FromString(old_cls(a=value).SerializeToString())
        back = old_cls.FromString(parsed.SerializeToString()).a  # and back: bool hides
        kept = not list(unknown_fields.UnknownFieldSet(parsed)) and back == value and (
            after == "bool" or parsed.a == value
            or (isinstance(parsed.a, bytes) and parsed.a == b"1")
            or (isinstance(parsed.a, str) and parsed.a == "1"))
        said = _check(f"message M {{ {before} a = 1; }}", f"message M {{ {after} a = 1; }}",
                      "BACKWARD") == []
        assert said == kept, (before, after, said, kept)
