"""The registry holds Avro and Protobuf schemas: entries, ids, parse helpers, the package.

Oracles: fastavro writes the payloads the parsed schemas read; protoc (grpcio-tools) makes
the descriptor sets and the generated ``_pb2`` classes whose bytes our message classes parse.
"""

from __future__ import annotations

import ast
import io
import sys
import warnings
from pathlib import Path

import fastavro
import orjson
import pytest

import eventkit as ek
from eventkit.schema import _entry
from eventkit.schema._entry import SchemaEntry, avro_schema, protobuf_message
from tests.schemas import AVRO_TRIP, PROTOS, descriptor_set, generated_rides


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
    with pytest.raises(ek.ConfigurationError, match="avro schema for t is not JSON"):
        reg.register("t", {"type": object()}, format="avro")
    assert reg.types == []


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
    oracle = generated_rides().LocationUpdated(ride_id="r1", lat=1.5, tags=["a", "b"])
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
    oracle = generated_rides().TripCompleted(ride_id="r9", fare=3.25)
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


# -- upcasters, whatever the format ---------------------------------------------------------
def _avro_paid(*fields: tuple[str, str]) -> str:
    return orjson.dumps({"type": "record", "name": "Paid", "fields": [
        {"name": n, "type": t} for n, t in fields]}).decode()


def test_upcasters_bring_avro_versions_to_the_newest_shape_by_frame_and_by_event():
    import polars as pl

    reg = ek.SchemaRegistry(compatibility="NONE")
    reg.register("paid", _avro_paid(("amount", "double")), format="avro")
    reg.register("paid", _avro_paid(("amount_cents", "long")), format="avro")
    reg.register("paid", _avro_paid(("amount_cents", "long"), ("currency", "string")),
                 format="avro")

    @reg.upcaster("paid", 1, 2)
    def to_cents(v1: pl.DataFrame) -> pl.DataFrame:
        return v1.select("seq", amount_cents=(pl.col("amount") * 100).round().cast(pl.Int64))

    @reg.upcaster("paid", 2, 3, per="event")
    def with_currency(event: dict) -> dict:
        return {**event, "currency": "EUR"}

    snap = reg.snapshot()
    v1 = pl.DataFrame({"seq": [3, 5], "amount": [9.5, 0.25]})
    assert snap.upcast("paid", 1, v1).rows() == [(3, 950, "EUR"), (5, 25, "EUR")]
    v2 = pl.DataFrame({"seq": [8], "amount_cents": [100]})
    assert snap.upcast("paid", 2, v2).rows() == [(8, 100, "EUR")]
    v3 = pl.DataFrame({"seq": [9], "amount_cents": [1], "currency": ["USD"]})
    assert snap.upcast("paid", 3, v3).equals(v3)  # the newest: as it is
    with pytest.raises(ek.SchemaNotFoundError, match="no version 4"):
        snap.upcast("paid", 4, v3)


def test_a_protobuf_type_upcasts_and_a_bad_upcaster_is_a_clear_error():
    import polars as pl

    reg = ek.SchemaRegistry(compatibility="NONE")
    for name in ("rides.TripCompleted", "rides.LocationUpdated"):
        reg.register("moved", name, format="protobuf", descriptors=descriptor_set())

    @reg.upcaster("moved", 1, 2, per="frame")
    def drops_seq(v1: pl.DataFrame) -> pl.DataFrame:
        return v1.drop("seq")

    frame = pl.DataFrame({"seq": [1], "ride_id": ["r1"], "fare": [2.0]})
    with pytest.raises(ek.ConfigurationError, match=r"upcaster of moved from version 1 to 2 "
                       r"must return a polars DataFrame with one row per row it was given"):
        reg.snapshot().upcast("moved", 1, frame)

    @reg.upcaster("moved", 1, 2, per="event")
    def fails(event: dict) -> dict:
        raise KeyError("lat")

    with pytest.raises(ek.ConfigurationError, match="failed: KeyError"):
        reg.snapshot().upcast("moved", 1, frame)


# -- the command -----------------------------------------------------------------------------
def test_the_command_registers_avro_and_protobuf_schemas(tmp_path, capsys):
    from eventkit.cli import main

    folder = tmp_path / "registry"
    avsc = tmp_path / "trip.avsc"
    avsc.write_text(AVRO_TRIP)
    desc = tmp_path / "rides.desc"
    desc.write_bytes(descriptor_set())
    assert main(["schema", "register", "trip_completed", str(avsc), "--dir", str(folder)]) == 0
    assert "trip_completed: version 1" in capsys.readouterr().out
    assert main(["schema", "register", "location_updated", "rides.proto:LocationUpdated",
                 "--descriptors", str(desc), "--dir", str(folder)]) == 0
    assert "location_updated: version 1" in capsys.readouterr().out
    assert main(["schema", "register", "moved", str(PROTOS / "rides.proto") + ":TripCompleted",
                 "--format", "protobuf", "--descriptors", str(PROTOS / "rides.proto"),
                 "--dir", str(folder)]) == 0
    reg = ek.SchemaRegistry.from_dir(folder)
    assert [(reg.entry(t).format, reg.entry(t).id) for t in reg.types] == [
        ("protobuf", 2), ("protobuf", 3), ("avro", 1)]
    assert reg.entry("moved").message == "rides.TripCompleted"
    # an incompatible Avro version: refused with the rule, and how to force it
    narrower = tmp_path / "v2.avsc"
    narrower.write_text(AVRO_TRIP.replace('"double"}', '"double"},{"name":"city","type":'
                                          '"string"}', 1))
    capsys.readouterr()
    assert main(["schema", "register", "trip_completed", str(narrower), "--dir",
                 str(folder)]) == 2
    said = capsys.readouterr().err
    assert "field 'city': adding a field without a default" in said
    assert f"eventkit schema register trip_completed {narrower} --compatibility NONE" in said
    assert main(["schema", "list", "--dir", str(folder)]) == 0
    listed = capsys.readouterr().out
    assert "3 types, 3 versions" in listed and "avro" in listed and "protobuf" in listed


def test_the_command_registers_a_directory_of_avro_and_json_schemas(tmp_path, capsys):
    from eventkit.cli import main

    source = tmp_path / "schemas"
    (source / "trip_completed").mkdir(parents=True)
    (source / "trip_completed" / "v1.avsc").write_text(AVRO_TRIP)
    (source / "paid").mkdir()
    (source / "paid" / "v1.json").write_text('{"type": "object"}')
    assert main(["schema", "register", "--from", str(source), "--dir",
                 str(tmp_path / "reg")]) == 0
    reg = ek.SchemaRegistry.from_dir(tmp_path / "reg")
    assert {t: reg.entry(t).format for t in reg.types} == {"paid": "json",
                                                             "trip_completed": "avro"}
    capsys.readouterr()
    assert main(["schema", "register", "x", str(source / "paid" / "v1.json"), "--format",
                 "json", "--descriptors", "a.desc", "--dir", str(tmp_path / "reg")]) == 2
    assert "--descriptors is for --format protobuf" in capsys.readouterr().err


def test_a_read_upcasts_old_avro_and_protobuf_versions_to_the_newest_shape():
    """Payloads framed as Confluent's (magic byte, schema id) by fastavro and protobuf,
    decoded through the registry: old versions come out in the newest shape."""
    import datetime as dt

    import polars as pl

    from eventkit.codec import decode
    from eventkit.connection import registry_writers
    from eventkit.envelope import Rules
    from eventkit.formats.rules import FormatRules

    reg = ek.SchemaRegistry(compatibility="NONE")
    reg.register("paid", _avro_paid(("type", "string"), ("amount", "double")), format="avro")
    reg.register("paid", _avro_paid(("type", "string"), ("amount_cents", "long")),
                 format="avro")
    reg.register("moved", "rides.TripCompleted", format="protobuf",
                 descriptors=descriptor_set())
    reg.register("moved", "rides.LocationUpdated", format="protobuf",
                 descriptors=descriptor_set())

    @reg.upcaster("paid", 1, 2)
    def to_cents(v1: pl.DataFrame) -> pl.DataFrame:
        return v1.select("seq", "type", amount_cents=(pl.col("amount") * 100).cast(pl.Int64))

    @reg.upcaster("moved", 1, 2, per="event")
    def to_location(event: dict) -> dict:
        return {"ride_id": event["ride_id"], "lat": 0.0, "lon": 0.0, "tags": ["old"]}

    def avro(version: int, record: dict) -> bytes:
        entry = reg.entry("paid", version)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(orjson.loads(entry.text)), record)
        return b"\x00" + entry.id.to_bytes(4, "big") + out.getvalue()

    rides = generated_rides()
    payloads = [avro(1, {"type": "paid", "amount": 9.5}),
                avro(2, {"type": "paid", "amount_cents": 120}),
                avro(1, {"type": "paid", "amount": 0.25}),
                b"\x00" + reg.entry("moved", 1).id.to_bytes(4, "big") + b"\x00"
                + rides.TripCompleted(ride_id="r1", fare=3.0).SerializeToString(),
                b"\x00" + reg.entry("moved", 2).id.to_bytes(4, "big") + b"\x00"
                + rides.LocationUpdated(ride_id="r2", lat=1.5, tags=["new"])
                .SerializeToString()]
    subjects = ["rides.paid"] * 3 + ["rides.moved"] * 2
    n = len(payloads)
    out = decode(pl.Series(range(1, n + 1), dtype=pl.UInt64),
                 pl.Series([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * n).cast(
                     pl.Datetime("ns", "UTC")),
                 [s.encode() for s in subjects], [None] * n, payloads,
                 Rules(type="field:type,subject:1"), formats=FormatRules.parse(None),
                 writers=registry_writers(reg.snapshot()))
    events = ek.Events(out)
    assert events.malformed().height == 0
    assert events.of_type("paid").select("seq", "amount_cents").rows() == [
        (1, 950), (2, 120), (3, 25)]
    moved = events.of_type("moved")
    assert moved.select("seq", "ride_id", "tags").rows() == [(4, "r1", ["old"]),
                                                              (5, "r2", ["new"])]


def test_check_lists_avro_and_protobuf_events_that_did_not_decode():
    import polars as pl

    reg = ek.SchemaRegistry()
    reg.register("paid", _avro_paid(("amount", "double")), format="avro")
    reg.register("fare", {"type": "object", "properties": {"x": {"type": "integer"}}})
    env = pl.DataFrame({
        "seq": pl.Series([1, 2, 3, 4], dtype=pl.UInt64),
        "type": ["paid", "paid", "other", "fare"],
        "data": [b"\x00\x00\x00\x00\x09", b"\x00", b"x", b'{"x": "1"}'],
        "error": [None, "avro: unknown schema id 9", "not json", None]})
    assert reg.check(env).rows() == [
        (2, "paid", None, "", "payload did not decode: avro: unknown schema id 9"),
        (4, "fare", 1, "x", "expected integer, got string")]
    assert reg.check(env.filter(pl.col("type") == "paid")).height == 1  # no JSON type left
