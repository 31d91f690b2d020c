"""The registry holds Avro and Protobuf schemas: entries, ids, parse helpers, the package.

Oracles: fastavro writes the payloads the parsed schemas read; protoc (grpcio-tools) makes
the descriptor sets and the generated ``_pb2`` classes whose bytes our message classes parse.
"""

from __future__ import annotations

import ast
import functools
import importlib
import io
import subprocess
import sys
import warnings
from pathlib import Path

import fastavro
import orjson
import pytest

import eventkit as ek
from eventkit.schema import _entry
from eventkit.schema._entry import SchemaEntry, avro_schema, protobuf_message

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


def _generated_rides() -> object:
    """The module protoc's Python generator writes for rides.proto (an independent class)."""
    import tempfile

    folder = _made(tempfile.mkdtemp(prefix="eventkit-protos-"))
    spec = importlib.util.spec_from_file_location("rides_pb2_oracle", folder / "rides_pb2.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- Avro ------------------------------------------------------------------------------
def test_an_avro_schema_registers_from_text_or_dict_and_parses_for_fastavro():
    reg = ek.SchemaRegistry()
    assert reg.register("trip_completed", AVRO_TRIP, format="avro") == 1
    entry = reg.entry("trip_completed")
    assert (entry.event_type, entry.version, entry.format, entry.id) == (
        "trip_completed", 1, "avro", 1)
    assert entry.descriptors is None and entry.message is None
    parsed = avro_schema(entry)
    assert avro_schema(entry) is parsed  # cached
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(orjson.loads(AVRO_TRIP)),
                               {"ride_id": "r1", "fare": 9.5, "tip": None})
    assert fastavro.schemaless_reader(io.BytesIO(out.getvalue()), parsed) == {
        "ride_id": "r1", "fare": 9.5, "tip": None}
    assert reg.register("trip_completed", orjson.loads(AVRO_TRIP), format="avro") == 1
    assert reg.get("trip_completed")["name"] == "TripCompleted"
    table = reg.to_polars()
    assert table.select("format", "id", "fields", "required").rows() == [
        ("avro", 1, ["ride_id", "fare", "tip"], ["fare", "ride_id"])]


@pytest.mark.parametrize(("schema", "why"), [
    ('{"type": "record", "name": "T", "fields": [{"name": "a", "type": "nope"}]}', "nope"),
    ('{"type": "record", "fields": []}', "name"),
    ("{not json", "not JSON"),
])
def test_a_schema_fastavro_refuses_is_a_clear_error(schema, why):
    with pytest.raises(ek.ConfigurationError, match=why):
        ek.SchemaRegistry().register("t", schema, format="avro")


def test_an_unknown_format_and_misplaced_descriptors_are_refused():
    reg = ek.SchemaRegistry()
    with pytest.raises(ek.ConfigurationError, match="format must be one of"):
        reg.register("t", "{}", format="xml")  # type: ignore[arg-type]
    with pytest.raises(ek.ConfigurationError, match="Protobuf schemas only"):
        reg.register("t", AVRO_TRIP, format="avro", descriptors=b"x")
    assert reg.types() == []


# -- Protobuf --------------------------------------------------------------------------
def test_a_protobuf_message_registers_from_a_descriptor_set_and_parses_protocs_bytes(tmp_path):
    reg = ek.SchemaRegistry()
    desc = tmp_path / "rides.desc"
    desc.write_bytes(descriptor_set())
    assert reg.register("location_updated", "rides.proto:LocationUpdated", format="protobuf",
                        descriptors=desc) == 1
    assert reg.register("trip_completed", "rides.TripCompleted", format="protobuf",
                        descriptors=descriptor_set()) == 1
    location = reg.entry("location_updated")
    assert (location.format, location.message, location.text) == (
        "protobuf", "rides.LocationUpdated", "rides.proto:LocationUpdated")
    assert location.descriptors == descriptor_set()
    cls = protobuf_message(location)
    assert protobuf_message(location) is cls  # cached
    oracle = _generated_rides().LocationUpdated(ride_id="r1", lat=1.5, tags=["a", "b"])
    oracle.at.FromSeconds(1_700_000_000)
    decoded = cls.FromString(oracle.SerializeToString())
    assert (decoded.ride_id, decoded.lat, list(decoded.tags), decoded.at.seconds) == (
        "r1", 1.5, ["a", "b"], 1_700_000_000)
    assert reg.get("location_updated")["message"] == "rides.LocationUpdated"
    assert [f["name"] for f in reg.get("location_updated")["field"]] == [
        "ride_id", "lat", "lon", "at", "tags"]
    table = reg.to_polars().filter(type="trip_completed")
    assert table.select("fields", "format").rows() == [(["ride_id", "fare"], "protobuf")]


def test_proto_files_compile_with_the_protoc_of_grpcio_tools(monkeypatch):
    reg = ek.SchemaRegistry()
    assert reg.register("location_updated", "LocationUpdated", format="protobuf",
                        descriptors=PROTOS / "rides.proto") == 1
    monkeypatch.chdir(PROTOS)  # "file.proto:Message" alone names the file to compile
    assert reg.register("trip_completed", "rides.proto:TripCompleted", format="protobuf") == 1
    assert reg.entry("trip_completed").message == "rides.TripCompleted"
    oracle = _generated_rides().TripCompleted(ride_id="r9", fare=3.25)
    assert protobuf_message(reg.entry("trip_completed")).FromString(
        oracle.SerializeToString()).fare == 3.25


def test_a_proto_that_does_not_compile_says_what_protoc_said(tmp_path):
    bad = tmp_path / "bad.proto"
    bad.write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    with pytest.raises(ek.ConfigurationError, match=r"protoc refused .*strin"):
        ek.SchemaRegistry().register("a", "bad.proto:A", format="protobuf", descriptors=bad)


def test_without_grpcio_tools_compiling_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "grpc_tools", None)  # as if not installed
    with pytest.raises(ek.MissingDependencyError, match=r"eventkit\[protoc\]"):
        ek.SchemaRegistry().register("a", "rides.proto:TripCompleted", format="protobuf",
                                     descriptors=PROTOS / "rides.proto")
    # a descriptor set needs no protoc
    assert ek.SchemaRegistry().register("a", "rides.TripCompleted", format="protobuf",
                                        descriptors=descriptor_set()) == 1


@pytest.mark.parametrize(("schema", "descriptors", "why"), [
    ("rides.Nope", "set", r"message 'rides.Nope' is not there \(messages: .*rides.LocationUpdated"),
    ("other.proto:TripCompleted", "set", "is not there"),
    ("rides.TripCompleted", b"\xff\xffnot a set", "holds no FileDescriptorSet"),
    ("rides.TripCompleted", None, "needs descriptors="),
    ("", "set", "a Protobuf schema is"),
])
def test_a_protobuf_registration_that_cannot_be_resolved_is_refused(schema, descriptors, why):
    given = descriptor_set() if descriptors == "set" else descriptors
    with pytest.raises(ek.ConfigurationError, match=why):
        ek.SchemaRegistry().register("t", schema, format="protobuf", descriptors=given)


def test_a_descriptor_set_without_its_imports_is_refused_unless_well_known():
    from google.protobuf import descriptor_pb2

    full = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set())
    only_rides = descriptor_pb2.FileDescriptorSet(
        file=[f for f in full.file if f.name == "rides.proto"])
    # timestamp.proto is left out (protoc without --include_imports): the runtime has it
    reg = ek.SchemaRegistry()
    reg.register("l", "rides.LocationUpdated", format="protobuf",
                 descriptors=only_rides.SerializeToString())
    assert protobuf_message(reg.entry("l")).DESCRIPTOR.fields_by_name["at"].message_type \
        .full_name == "google.protobuf.Timestamp"
    only_rides.file[0].dependency.append("not/there.proto")
    with pytest.raises(ek.ConfigurationError, match=r"lack 'not/there\.proto'"):
        reg.register("m", "rides.TripCompleted", format="protobuf",
                     descriptors=only_rides.SerializeToString())


def test_an_entry_record_round_trips_and_a_foreign_record_is_refused():
    entry = SchemaEntry("l", 3, "protobuf", "rides.LocationUpdated", 9, descriptor_set(),
                        "rides.LocationUpdated")
    record = orjson.loads(orjson.dumps(_entry.to_record(entry)))
    assert _entry.from_record("l", 3, record, 9, "here") == entry
    with pytest.raises(ek.EventkitError, match="newer eventkit"):
        _entry.from_record("l", 3, {**record, "format": "thrift"}, 9, "here")
    assert "descriptors=<" in repr(entry) and "\\x" not in repr(entry)


def test_a_version_changes_format_only_under_none():
    reg = ek.SchemaRegistry()
    reg.register("t", {"type": "object", "properties": {"fare": {"type": "number"}}})
    with pytest.raises(ek.SchemaCompatibilityError, match="changing the schema format"):
        reg.register("t", AVRO_TRIP, format="avro")
    assert reg.register("t", AVRO_TRIP, format="avro", compatibility="NONE") == 2
    assert reg.snapshot().formats() == {"t": "avro"}


# -- ids ---------------------------------------------------------------------------------
def test_ids_are_unique_across_types_and_stable_across_reopen(tmp_path):
    reg = ek.SchemaRegistry.from_dir(tmp_path)
    made = [(t, reg.register(t, AVRO_TRIP, format="avro")) for t in ("a", "b", "c")]
    ids = [reg.entry(t, v).id for t, v in made]
    assert ids == [1, 2, 3]
    again = ek.SchemaRegistry.from_dir(tmp_path)
    assert [again.entry(t).id for t in ("a", "b", "c")] == ids
    assert again.snapshot().by_id(2).event_type == "b"
    with pytest.raises(ek.SchemaNotFoundError, match=r"no schema has id 4 .*ids: 1-3"):
        again.snapshot().by_id(4)
    assert sorted(p.name for p in (tmp_path / "%ids").iterdir()) == [
        "1.json", "2.json", "3.json"]


def test_a_version_registered_before_ids_gets_one_when_registered_again(tmp_path):
    doc = {"type": "object", "properties": {"fare": {"type": "number"}}}
    (tmp_path / "paid").mkdir()
    (tmp_path / "paid" / "v1.json").write_bytes(orjson.dumps(doc))  # an older eventkit's
    reg = ek.SchemaRegistry.from_dir(tmp_path)
    assert reg.entry("paid").id is None
    assert reg.register("paid", doc) == 1
    assert reg.entry("paid").id == 1


def test_a_taken_id_makes_a_registration_take_the_next(tmp_path):
    from eventkit.schema._backends import _DirBackend

    backend = _DirBackend(tmp_path)
    reg = ek.SchemaRegistry(backend)

    class Racing(_DirBackend):  # another client claims the number first, every time once
        async def schema_ids(self):  # type: ignore[no-untyped-def]
            seen = await super().schema_ids()
            free = max(seen, default=0) + 1
            await backend.claim_id(free, "other", 1)
            return seen

    racing = ek.SchemaRegistry(Racing(tmp_path))
    reg.register("a", AVRO_TRIP, format="avro")
    assert racing.register("b", AVRO_TRIP, format="avro") == 1
    assert racing.entry("b").id == 3  # 2 was taken under it
    with pytest.raises(ek.SchemaNotFoundError):  # 2 names a version that does not exist
        reg.snapshot().by_id(2)


# -- the package -----------------------------------------------------------------------
def test_the_old_module_path_works_and_warns():
    import eventkit.registry as old

    with pytest.warns(DeprecationWarning, match="eventkit.registry moved to eventkit.schema"):
        assert old.SchemaRegistry is ek.SchemaRegistry
    with pytest.warns(DeprecationWarning):
        assert old.versions_over_time is ek.schema.versions_over_time
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            old.no_such_name  # noqa: B018


def test_the_schema_package_does_not_import_the_connection():
    """The registry sits below the connection: no import of it, not even for types."""
    folder = Path(ek.__file__).parent / "schema"
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                     for a in n.names}
        above = {m for m in imported if m and m.split(".")[:2] in (
            ["eventkit", "connection"], ["eventkit", "store"], ["eventkit", "replay"],
            ["eventkit", "widgets"], ["eventkit", "cli"], ["eventkit", "charts"])}
        assert not above, (path.name, above)
    connection = (Path(ek.__file__).parent / "connection.py").read_text()
    assert "_Snapshot" not in connection


def test_the_package_gives_its_public_names():
    from eventkit import schema

    assert set(schema.__all__) <= set(dir(schema))
    assert schema.SchemaRegistry is ek.SchemaRegistry
