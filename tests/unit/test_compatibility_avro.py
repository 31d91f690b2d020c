"""Avro compatibility, a case per rule of the Avro specification's schema resolution (as
Confluent's schema registry applies it), compatible and incompatible, both directions.

The oracle: fastavro itself. Each case writes records with the writer schema and reads them
with the reader schema; the registry's verdict must be fastavro's.
"""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit as ek


def rec(*fields: dict[str, Any], name: str = "Trip", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "rides", "fields": list(fields),
            **extra}


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


ENUM = {"type": "enum", "name": "Method", "symbols": ["CARD", "CASH"]}
ENUM_MORE = {"type": "enum", "name": "Method", "symbols": ["CARD", "CASH", "WALLET"]}
INNER = rec(f("city", "string"), name="Place")

# (case, old schema, new schema, records old writes, records new writes,
#  BACKWARD problem or None, FORWARD problem or None): a problem is (rule words, path)
CASES = [
    ("add a field with a default",
     rec(f("fare", "double")), rec(f("fare", "double"), f("tip", "double", default=0.0)),
     [{"fare": 1.0}], [{"fare": 1.0, "tip": 2.0}], None, None),
    ("add a field without a default",
     rec(f("fare", "double")), rec(f("fare", "double"), f("tip", "double")),
     [{"fare": 1.0}], [{"fare": 1.0, "tip": 2.0}],
     ("adding a field without a default", "tip"), None),
    ("remove a field with a default",
     rec(f("fare", "double"), f("tip", "double", default=0.0)), rec(f("fare", "double")),
     [{"fare": 1.0, "tip": 2.0}], [{"fare": 1.0}], None, None),
    ("remove a field without a default",
     rec(f("fare", "double"), f("tip", "double")), rec(f("fare", "double")),
     [{"fare": 1.0, "tip": 2.0}], [{"fare": 1.0}],
     None, ("removing a field without a default", "tip")),
    ("promote int to long",
     rec(f("n", "int")), rec(f("n", "long")), [{"n": 3}], [{"n": 3}],
     None, ("beyond Avro's promotions", "n")),
    ("promote int to double", rec(f("n", "int")), rec(f("n", "double")), [{"n": 3}],
     [{"n": 3.5}], None, ("beyond Avro's promotions", "n")),
    ("promote long to float", rec(f("n", "long")), rec(f("n", "float")), [{"n": 3}],
     [{"n": 3.5}], None, ("beyond Avro's promotions", "n")),
    ("promote float to double", rec(f("n", "float")), rec(f("n", "double")), [{"n": 1.5}],
     [{"n": 1.5}], None, ("beyond Avro's promotions", "n")),
    ("string and bytes read each other", rec(f("s", "string")), rec(f("s", "bytes")),
     [{"s": "ab"}], [{"s": b"ab"}], None, None),
    ("change int to string", rec(f("n", "int")), rec(f("n", "string")), [{"n": 1}],
     [{"n": "1"}], ("beyond Avro's promotions", "n"), ("beyond Avro's promotions", "n")),
    ("narrow double to int", rec(f("n", "double")), rec(f("n", "int")), [{"n": 1.5}],
     [{"n": 1}], ("beyond Avro's promotions", "n"), None),
    ("rename a field with an alias",
     rec(f("fare", "double")), rec(f("price", "double", aliases=["fare"])),
     [{"fare": 1.0}], [{"price": 1.0}], None, ("removing a field without a default", "fare")),
    ("rename a field without an alias",
     rec(f("fare", "double")), rec(f("price", "double")), [{"fare": 1.0}], [{"price": 1.0}],
     ("adding a field without a default", "price"),
     ("removing a field without a default", "fare")),
    ("rename a record with an alias",
     rec(f("fare", "double")), rec(f("fare", "double"), name="Ride", aliases=["rides.Trip"]),
     [{"fare": 1.0}], [{"fare": 1.0}], None, ("renaming a record", "")),
    ("rename a record without an alias",
     rec(f("fare", "double")), rec(f("fare", "double"), name="Ride"),
     [{"fare": 1.0}], [{"fare": 1.0}], ("renaming a record", ""), ("renaming a record", "")),
    ("add null to a field's type (a union)",
     rec(f("tip", "double")), rec(f("tip", ["null", "double"])),
     [{"tip": 1.0}], [{"tip": None}], None, ("adding a type to a union", "tip")),
    ("remove a type from a union",
     rec(f("tip", ["null", "double", "string"])), rec(f("tip", ["null", "double"])),
     [{"tip": "x"}], [{"tip": 1.0}], ("removing a type from a union", "tip"), None),
    ("a union branch read through a promotion",
     rec(f("n", ["null", "int"])), rec(f("n", ["null", "long"])), [{"n": 1}], [{"n": 2}],
     None, ("adding a type to a union", "n")),
    ("add an enum symbol",
     rec(f("m", ENUM)), rec(f("m", ENUM_MORE)), [{"m": "CASH"}], [{"m": "WALLET"}],
     None, ("adding enum symbols", "m")),
    ("add an enum symbol, the old enum has a default",
     rec(f("m", {**ENUM, "default": "CARD"})), rec(f("m", {**ENUM_MORE, "default": "CARD"})),
     [{"m": "CASH"}], [{"m": "WALLET"}], None, None),
    ("remove an enum symbol",
     rec(f("m", ENUM_MORE)), rec(f("m", ENUM)), [{"m": "WALLET"}], [{"m": "CASH"}],
     ("removing enum symbols", "m"), None),
    ("remove an enum symbol, the new enum has a default",
     rec(f("m", ENUM_MORE)), rec(f("m", {**ENUM, "default": "CARD"})),
     [{"m": "WALLET"}], [{"m": "CASH"}], None, None),
    ("change a fixed's size",
     rec(f("h", {"type": "fixed", "name": "Hash", "size": 4})),
     rec(f("h", {"type": "fixed", "name": "Hash", "size": 8})),
     [{"h": b"abcd"}], [{"h": b"abcdefgh"}],
     ("changing a fixed's size", "h"), ("changing a fixed's size", "h")),
    ("add a field without a default in a nested record",
     rec(f("at", INNER)), rec(f("at", rec(f("city", "string"), f("zip", "string"),
                                           name="Place"))),
     [{"at": {"city": "x"}}], [{"at": {"city": "x", "zip": "1"}}],
     ("adding a field without a default", "at.zip"), None),
    ("promote array items",
     rec(f("xs", {"type": "array", "items": "int"})),
     rec(f("xs", {"type": "array", "items": "long"})), [{"xs": [1]}], [{"xs": [2]}],
     None, ("beyond Avro's promotions", "xs[]")),
    ("change map values",
     rec(f("m", {"type": "map", "values": "int"})),
     rec(f("m", {"type": "map", "values": "string"})), [{"m": {"a": 1}}], [{"m": {"a": "1"}}],
     ("beyond Avro's promotions", "m{}"), ("beyond Avro's promotions", "m{}")),
    ("a logical type is its underlying type",
     rec(f("at", {"type": "long", "logicalType": "timestamp-millis"})), rec(f("at", "long")),
     [{"at": 5}], [{"at": 5}], None, None),
]


def _resolves(writer: dict[str, Any], reader: dict[str, Any],
              records: list[dict[str, Any]]) -> bool:
    """fastavro's verdict: records written with ``writer`` read with ``reader``."""
    w, r = fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    for record in records:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, w, record)
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, w, r)
        except (SchemaResolutionError, KeyError, ValueError):
            return False
    return True


@pytest.mark.parametrize(("case", "old", "new", "old_records", "new_records", "backward",
                          "forward"), CASES, ids=[c[0] for c in CASES])
def test_each_avro_rule_in_each_direction(case, old, new, old_records, new_records, backward,
                                          forward):
    reg = ek.SchemaRegistry()
    reg.register("trip", old, format="avro")
    for mode, expected in (("BACKWARD", backward), ("FORWARD", forward)):
        found = reg.incompatibilities("trip", new, format="avro", compatibility=mode)
        if expected is None:
            assert found == [], (case, mode)
        else:
            rule, path = expected
            assert len(found) == 1, (case, mode, found)
            assert rule in found[0], (case, mode, found)
            assert (f"field {path!r}" if path else "the payload") in found[0]
    full = reg.incompatibilities("trip", new, format="avro", compatibility="FULL")
    assert len(full) == (backward is not None) + (forward is not None)


@pytest.mark.parametrize(("case", "old", "new", "old_records", "new_records", "backward",
                          "forward"), CASES, ids=[c[0] for c in CASES])
def test_fastavro_agrees(case, old, new, old_records, new_records, backward, forward):
    assert _resolves(old, new, old_records) == (backward is None), case  # BACKWARD
    assert _resolves(new, old, new_records) == (forward is None), case   # FORWARD


def test_a_refused_avro_version_names_the_field_and_the_rule():
    reg = ek.SchemaRegistry()
    reg.register("trip", rec(f("fare", "double")), format="avro")
    with pytest.raises(ek.SchemaCompatibilityError, match=(
            r"not BACKWARD compatible with version 1: field 'tip': adding a field without a "
            r"default \(the new schema has no default for it and version 1 does not write it")):
        reg.register("trip", rec(f("fare", "double"), f("tip", "double")), format="avro")
    assert reg.versions("trip") == [1]
    assert reg.register("trip", rec(f("fare", "double"), f("tip", "double", default=0.0)),
                        format="avro") == 2


def test_transitive_avro_modes_check_every_earlier_version():
    v1 = rec(f("fare", "double"))
    v2 = rec(f("fare", "double"), f("tip", "double", default=0.0))
    v3 = rec(f("tip", "double", default=0.0))  # drops fare: v1 readers have no default
    for mode, refused in (("FORWARD", False), ("FORWARD_TRANSITIVE", True)):
        reg = ek.SchemaRegistry()
        reg.register("t", v1, format="avro", compatibility="NONE")
        reg.register("t", {**v2, "doc": "v2"}, format="avro")
        reg.register("t", rec(f("fare", "double", default=0.0),
                              f("tip", "double", default=0.0)), format="avro",
                     compatibility=mode)
        found = reg.incompatibilities("t", v3, format="avro")
        assert bool(found) == refused, mode
        if refused:
            assert found[0].startswith("version 1: field 'fare': removing a field without")


def test_a_recursive_record_is_checked_once_per_pair():
    node = {"type": "record", "name": "Node", "fields": [
        f("v", "int"), f("next", ["null", "Node"], default=None)]}
    wider = {"type": "record", "name": "Node", "fields": [
        f("v", "long"), f("next", ["null", "Node"], default=None)]}
    reg = ek.SchemaRegistry()
    reg.register("list", node, format="avro")
    assert reg.incompatibilities("list", wider, format="avro") == []
    assert reg.incompatibilities("list", wider, format="avro", compatibility="FORWARD") == [
        "version 1: field 'v': changing a field's type beyond Avro's promotions (version 1 "
        "reads int where the new schema writes long; Avro promotes only "
        "int->long->float->double and string<->bytes)"]


# -- a property: the registry's verdict is fastavro's, on generated schema pairs -------------
_ENUM_AB = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
_TYPES: list[Any] = [
    "int", "long", "float", "double", "string", "bytes", "boolean",
    ["null", "int"], ["null", "string"], ["int", "string"], ["null", "long", "string"],
    _ENUM_AB, {**_ENUM_AB, "symbols": ["A", "B", "C"]},
    {**_ENUM_AB, "symbols": ["A"], "default": "A"},
    {"type": "array", "items": "int"}, {"type": "array", "items": "double"},
    {"type": "map", "values": "string"}, {"type": "map", "values": "bytes"},
]
_SAMPLES = {"null": [None], "int": [1], "long": [2], "float": [1.5], "double": [2.5],
            "string": ["a"], "bytes": [b"a"], "boolean": [True]}
_DEFAULTS = {"int": 0, "long": 0, "float": 0.0, "double": 0.0, "string": "", "bytes": "",
             "boolean": False, "null": None}


def _samples(t: Any) -> list[Any]:
    """Values of ``t`` that use every union branch and every enum symbol."""
    if isinstance(t, list):
        return [v for branch in t for v in _samples(branch)]
    if isinstance(t, dict):
        if t["type"] == "enum":
            return list(t["symbols"])
        if t["type"] == "array":
            return [[v] for v in _samples(t["items"])]
        return [{"k": v} for v in _samples(t["values"])]
    return _SAMPLES[t]


def _default(t: Any) -> Any:
    if isinstance(t, list):
        return _default(t[0])
    if isinstance(t, dict):
        return {"enum": t["symbols"][0] if "symbols" in t else None, "array": [],
                "map": {}}[t["type"]]
    return _DEFAULTS[t]


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    n = draw(st.integers(1, 4))
    writer = [(f"f{i}", draw(st.sampled_from(_TYPES))) for i in range(n)]
    reader = []
    for name, t in writer:
        action = draw(st.sampled_from(["keep", "change", "drop"]))
        if action != "drop":
            reader.append((name, t if action == "keep" else draw(st.sampled_from(_TYPES)),
                           draw(st.booleans())))
    for i in range(draw(st.integers(0, 2))):
        reader.append((f"new{i}", draw(st.sampled_from(_TYPES)), draw(st.booleans())))

    def named(name: str, t: Any) -> Any:  # one enum per field: names are defined once
        return {**t, "name": f"E_{name}"} if isinstance(t, dict) and "symbols" in t else t

    def doc(fields: list[tuple[Any, ...]]) -> dict[str, Any]:
        return rec(*[f(name, named(name, t), **({"default": _default(t)} if x and x[0]
                                                else {}))
                     for name, t, *x in fields])

    return doc([(n_, t) for n_, t in writer]), doc(reader)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pairs())
def test_the_verdict_is_fastavros_on_generated_schemas(pair):
    writer, reader = pair
    records_by_field = {x["name"]: _samples(x["type"]) for x in writer["fields"]}
    longest = max(len(v) for v in records_by_field.values())
    records = [{k: v[i % len(v)] for k, v in records_by_field.items()} for i in range(longest)]
    reg = ek.SchemaRegistry()
    reg.register("t", writer, format="avro")
    said = reg.incompatibilities("t", reader, format="avro", compatibility="BACKWARD") == []
    assert said == _resolves(writer, reader, records), (writer, reader)
