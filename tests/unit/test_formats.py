"""Every payload format decoded against payloads made by its own library."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import msgpack
import orjson
import polars as pl
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventkit.codec import decode
from eventkit.envelope import Rules
from eventkit.events import Events
from eventkit.formats.rules import FormatRules
from eventkit.formats.schemas import Schemas, WriterSchema
from tests.formats_data import (
    TRIP_AVRO,
    avro_record,
    confluent,
    descriptor_set,
    message,
    single_object,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RULES = Rules(key="header:ce-subject,field:ride_id,field:key")


def run(payloads: list[bytes], headers: list[dict[str, str] | None] | None = None, *,
        subjects: list[str] | None = None, writers: Schemas | None = None,
        formats: str | None = None, rules: Rules = RULES) -> Events:
    n = len(payloads)
    blocks = [None if not h else ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
                                  + "\r\n").encode() for h in (headers or [None] * n)]
    seq = pl.Series(range(1, n + 1), dtype=pl.UInt64)
    time = pl.Series([T0] * n).cast(pl.Datetime("ns", "UTC"))
    out = decode(seq, time, [(s or "rides.x").encode() for s in (subjects or [None] * n)],
                 blocks, payloads, rules, formats=FormatRules.parse(formats),
                 writers=writers or Schemas())
    return Events(out)


@pytest.fixture(scope="module")
def trip_avro() -> Any:
    return fastavro.parse_schema(TRIP_AVRO)


def trip(i: int, **over: Any) -> dict[str, Any]:
    record = {
        "type": "trip_completed", "ride_id": f"r{i}", "event_time": T0 + dt.timedelta(seconds=i),
        "at_ms": T0, "at_ns": 1_793_534_400_000_000_001, "local": dt.datetime(2026, 11, 1, 13),
        "day": dt.date(2026, 11, 1), "clock_ms": dt.time(1, 2, 3, 4000),
        "clock_us": dt.time(1, 2, 3, 5), "amount": Decimal("12.34"),
        "fixed_amount": Decimal("-7.125"), "id": str(uuid.UUID(int=i)),
        "fare": None if i % 2 else 9.5, "status": "DONE", "loc": {"lat": 1.5, "lon": -2.0},
        "path": [{"lat": 1.0, "lon": 2.0}] * (i % 3), "tags": ["a", "b"][: i % 3], "small": 0.5,
        "paid": True, "raw": b"\x00\x01"}
    record.update(over)
    return record


# -- Avro --------------------------------------------------------------------

def test_avro_confluent_every_logical_type(trip_avro: Any) -> None:
    writers = Schemas([WriterSchema("trip_completed", 1, "avro", trip_avro, 41)])
    events = run([confluent(41, avro_record(trip_avro, trip(i))) for i in range(3)],
                 writers=writers)
    assert events.malformed().height == 0
    table = events.of_type("trip_completed")
    assert table.schema["at_ms"] == pl.Datetime("ms", "UTC")
    assert table.schema["at_ns"] == pl.Datetime("ns", "UTC")
    assert table.schema["local"] == pl.Datetime("us")
    assert table.schema["day"] == pl.Date
    assert table.schema["clock_ms"] == pl.Time and table.schema["clock_us"] == pl.Time
    assert table.schema["amount"] == pl.Decimal(10, 2)
    assert table.schema["fixed_amount"] == pl.Decimal(12, 3)
    assert table.schema["status"] == pl.Enum(["REQUESTED", "DONE"])
    assert table.schema["loc"] == pl.Struct({"lat": pl.Float64, "lon": pl.Float64})
    assert table.schema["path"] == pl.List(pl.Struct({"lat": pl.Float64, "lon": pl.Float64}))
    row = table.row(1, named=True)
    assert row["amount"] == Decimal("12.34") and row["fixed_amount"] == Decimal("-7.125")
    assert row["id"] == str(uuid.UUID(int=1)) and row["fare"] is None
    assert row["clock_ms"] == dt.time(1, 2, 3, 4000) and row["day"] == dt.date(2026, 11, 1)
    assert table.get_column("fare").to_list() == [9.5, None, 9.5]
    assert table.get_column("path").list.len().to_list() == [0, 1, 2]
    assert table.row(2, named=True)["at_ns"] == dt.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert table.get_column("at_ns").cast(pl.Int64)[0] == 1_793_534_400_000_000_001
    env = events.to_polars()
    assert env.get_column("type").to_list() == ["trip_completed"] * 3
    assert env.get_column("key").to_list() == ["r0", "r1", "r2"]
    times = [T0 + dt.timedelta(seconds=i) for i in range(3)]
    assert env.get_column("event_time").to_list() == times
    # the oracle: fastavro's own reader gives the same values
    oracle = fastavro.schemaless_reader(__import__("io").BytesIO(avro_record(trip_avro, trip(1))),
                                        trip_avro)
    assert row["tags"] == oracle["tags"] and row["loc"] == oracle["loc"]


def test_avro_schemaless_by_type_and_single_object(trip_avro: Any) -> None:
    writers = Schemas([WriterSchema("trip_completed", 1, "avro", trip_avro, 41)])
    plain = avro_record(trip_avro, trip(0))
    events = run([plain, single_object(trip_avro, avro_record(trip_avro, trip(1)))],
                 [{"content-type": "application/avro"}, None],
                 subjects=["rides.trip_completed", "rides.other"], writers=writers)
    assert events.malformed().height == 0
    assert events.of_type("trip_completed").get_column("ride_id").to_list() == ["r0", "r1"]


def test_avro_writer_versions_union_and_defaults() -> None:
    v1 = fastavro.parse_schema({"type": "record", "name": "P", "fields": [
        {"name": "type", "type": "string"}, {"name": "n", "type": "long"}]})
    v2 = fastavro.parse_schema({"type": "record", "name": "P", "fields": [
        {"name": "type", "type": "string"}, {"name": "n", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "either", "type": ["null", "string", "long"], "default": None},
        {"name": "attrs", "type": {"type": "map", "values": "long"}, "default": {}}]})
    writers = Schemas([WriterSchema("paid", 1, "avro", v1, 1),
                       WriterSchema("paid", 2, "avro", v2, 2)])
    events = run([confluent(1, avro_record(v1, {"type": "paid", "n": 1})),
                  confluent(2, avro_record(v2, {"type": "paid", "n": 2, "note": "x",
                                                "either": 5, "attrs": {"a": 1}})),
                  confluent(2, avro_record(v2, {"type": "paid", "n": 3, "either": "s"}))],
                 writers=writers, rules=Rules(key="field:n"))
    table = events.of_type("paid")
    assert table.get_column("n").to_list() == [1, 2, 3]
    assert table.get_column("note").to_list() == [None, "x", None]
    assert table.get_column("either").to_list() == [None, "5", '"s"']  # several types: JSON text
    assert table.get_column("attrs").to_list() == [None, [{"key": "a", "value": 1}], []]


def test_avro_bad_input_is_kept_and_flagged(trip_avro: Any) -> None:
    writers = Schemas([WriterSchema("trip_completed", 3, "avro", trip_avro, 41)])
    good = avro_record(trip_avro, trip(0))
    payloads = [confluent(41, good), confluent(41, good[:-3]), confluent(99, good),
                confluent(41, good + b"\x02\x04"), confluent(41, good)]
    events = run(payloads, writers=writers)
    bad = events.malformed()
    reasons = dict(zip(bad.get_column("seq").to_list(), bad.get_column("error").to_list(),
                       strict=True))
    assert set(reasons) == {2, 3, 4}
    assert reasons[2].startswith("avro schema trip_completed v3 (id 41): truncated record at field")
    assert reasons[3] == "confluent: unknown schema id 99"
    assert "bytes after the record's end" in reasons[4]
    assert events.to_polars().get_column("data").to_list() == payloads  # nothing lost
    assert events.of_type("trip_completed").get_column("seq").to_list() == [1, 5]
    assert events.summary().malformed == 3


def test_avro_without_a_registered_schema_says_so() -> None:
    events = run([b"\x02\x04"], [{"content-type": "avro/binary"}], subjects=["rides.paid"])
    assert events.malformed().get_column("error").to_list() == [
        "avro: no avro schema registered for type 'paid' (register one, or send a Confluent "
        "schema id)"]


# -- Protobuf ------------------------------------------------------------------

@pytest.fixture(scope="module")
def desc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return descriptor_set(tmp_path_factory.mktemp("proto"))


def test_protobuf_well_known_types_nested_repeated(desc: Path) -> None:
    Trip = message(desc, "rides.TripCompleted")
    m = Trip(type="trip_completed", ride_id="r1", fare=9.5, status=2, tags=["a", "b"], n=7,
             raw=b"\x01", card="visa", small=3, delta=-4, ratio=0.5, paid=True)
    m.event_time.FromDatetime(T0)
    m.event_time.nanos += 7
    m.took.FromTimedelta(dt.timedelta(seconds=90))
    m.tip.value = 1.25
    m.loc.lat, m.loc.lon = 1.0, 2.0
    m.path.add(lat=3.0, lon=4.0)
    m.counts["x"] = 5
    empty = Trip(type="trip_completed", ride_id="r2")
    writers = Schemas([WriterSchema("trip_completed", 1, "protobuf", Trip, 7)])
    # message indexes [0] (the byte 00): the registered message; [1]: the file's 2nd message
    events = run([confluent(7, m.SerializeToString(), b"\x00"),
                  confluent(7, empty.SerializeToString(), b"\x02\x02")], writers=writers)
    assert events.malformed().height == 0
    table = events.of_type("trip_completed")
    s = table.schema
    assert s["event_time"] == pl.Datetime("ns", "UTC") and s["took"] == pl.Duration("ns")
    assert s["status"] == pl.Enum(["STATUS_UNKNOWN", "ACTIVE", "DONE"])
    assert s["tip"] == pl.Float64 and s["small"] == pl.UInt32 and s["ratio"] == pl.Float32
    assert s["counts"] == pl.List(pl.Struct({"key": pl.String, "value": pl.Int64}))
    one, two = table.rows(named=True)
    assert table.get_column("event_time").cast(pl.Int64)[0] == 1_793_534_400_000_000_007
    assert one["took"] == dt.timedelta(seconds=90) and one["tip"] == 1.25
    assert one["status"] == "DONE" and one["loc"] == {"lat": 1.0, "lon": 2.0}
    assert one["path"] == [{"lat": 3.0, "lon": 4.0}] and one["tags"] == ["a", "b"]
    assert one["counts"] == [{"key": "x", "value": 5}] and one["card"] == "visa"
    assert one["cash"] is None and one["delta"] == -4 and one["paid"] is True
    # unset: messages, wrappers, optional and oneof members are null; proto3 scalars default
    assert two["event_time"] is None and two["tip"] is None and two["loc"] is None
    assert two["note"] is None and two["card"] is None and two["coupon"] is None
    assert two["fare"] == 0.0 and two["status"] == "STATUS_UNKNOWN" and two["tags"] == []
    assert events.to_polars().get_column("event_time")[0] is not None


def test_protobuf_by_header_and_registry_and_bad(desc: Path) -> None:
    Trip = message(desc, "rides.TripCompleted")
    Loc = message(desc, "rides.Loc")
    writers = Schemas([WriterSchema("trip_completed", 1, "protobuf", Trip, 7),
                       WriterSchema("location_updated", 1, "protobuf", Loc, 8)])
    good = Trip(type="trip_completed", ride_id="r1").SerializeToString()
    events = run([good, Loc(lat=1.0).SerializeToString(), b"\xff\xff",
                  confluent(8, Loc(lat=2.0).SerializeToString(), b"\x00"),
                  confluent(8, b"", b"\x02")],
                 [{"content-type": "application/x-protobuf"}, None, None, None, None],
                 subjects=["rides.trip_completed", "rides.location_updated",
                           "rides.trip_completed", "rides.location_updated", "rides.y"],
                 writers=writers)
    env = events.to_polars()
    assert env.get_column("error").to_list()[:2] == [None, None]
    assert env.get_column("error")[2].startswith(
        "protobuf schema trip_completed v1 (id 7) rides.TripCompleted: Error parsing message")
    assert env.get_column("error")[3] is None  # indexes [0]: the registered message, Loc
    assert events.of_type("location_updated").get_column("lat").to_list() == [1.0, 2.0]
    assert env.get_column("error")[4] == "protobuf schema id 8: truncated message indexes"


def test_protobuf_missing_descriptor_is_flagged() -> None:
    events = run([b"\x08\x01"], [{"content-type": "application/protobuf"}],
                 subjects=["rides.trip_completed"])
    assert "no protobuf schema registered for type 'trip_completed'" in (
        events.malformed().get_column("error")[0])


# -- MessagePack ---------------------------------------------------------------

def test_msgpack_round_trip() -> None:
    rows = [{"type": "ride_requested", "ride_id": f"r{i}", "fare": 1.5 * i, "n": i,
             "at": T0 + dt.timedelta(seconds=i), "tags": ["x"], "loc": {"lat": 1.0},
             "blob": b"\x00"} for i in range(3)]
    packed = [msgpack.packb(r, datetime=True) for r in rows]
    events = run([*packed, msgpack.packb([1, 2]), packed[0][:-2]], formats="msgpack")
    table = events.of_type("ride_requested")
    assert table.get_column("n").to_list() == [0, 1, 2]
    assert table.get_column("at").to_list() == [r["at"] for r in rows]
    assert table.schema["loc"] == pl.Struct({"lat": pl.Float64})
    assert table.get_column("blob").to_list() == [b"\x00"] * 3
    errors = events.to_polars().get_column("error").to_list()
    assert errors[:3] == [None] * 3
    assert errors[3] == "msgpack: not a map: list"
    assert errors[4].startswith("msgpack: does not unpack")


def test_msgpack_maps_json_can_say_and_those_it_cannot_in_one_batch() -> None:
    plain = [{"type": "a", "ride_id": f"r{i}", "n": i, "x": [1.5, {"y": None}]} for i in range(4)]
    deep = {"type": "a", "ride_id": "r9", "n": 9, "x": [[[[[[[1]]]]]]]}  # deeper than the fast way
    packed = [msgpack.packb(r) for r in plain]
    batch = [packed[0], msgpack.packb({"type": "a", "ride_id": "r7", "n": 7, "blob": b"\x01"}),
             packed[1], b"\xc1", packed[2], msgpack.packb({1: "int key"}), packed[3],
             msgpack.packb(deep), packed[0] + b"\x00"]
    events = run(batch, formats="msgpack")
    errors = events.to_polars().get_column("error").to_list()
    assert [e is None for e in errors] == [True, True, True, False, True, False, True, True, False]
    assert errors[3].startswith("msgpack: does not unpack")
    assert errors[8].startswith("msgpack: does not unpack")
    table = events.of_type("a")
    assert table.get_column("n").to_list() == [0, 7, 1, 2, 3, 9]
    assert table.get_column("blob").to_list() == [None, b"\x01", None, None, None, None]
    assert table.get_column("key").to_list() == ["r0", "r7", "r1", "r2", "r3", "r9"]
    assert events.to_polars().get_column("data").to_list() == batch  # stored bytes kept


def test_msgpack_by_content_type_beside_json() -> None:
    events = run([msgpack.packb({"type": "a", "v": 1}), b'{"type":"b","w":2}'],
                 [{"content-type": "application/msgpack"}, None])
    assert events.of_type("a").get_column("v").to_list() == [1]
    assert events.of_type("b").get_column("w").to_list() == [2]
    assert events.to_polars().get_column("seq").to_list() == [1, 2]


# -- CloudEvents and compression ---------------------------------------------------

def test_cloudevents_structured_and_binary(trip_avro: Any) -> None:
    structured = orjson.dumps({"specversion": "1.0", "type": "trip_completed", "source": "/rides",
                               "id": "e1", "subject": "r9", "time": "2026-11-01T12:00:05Z",
                               "datacontenttype": "application/json", "data": {"fare": 9.5}})
    packed = msgpack.packb({"fare": 3.0})
    b64 = orjson.dumps({"specversion": "1.0", "type": "trip_completed", "source": "/rides",
                        "id": "e2", "subject": "r10", "datacontenttype": "application/msgpack",
                        "data_base64": base64.b64encode(packed).decode()})
    binary_headers = {"ce-specversion": "1.0", "ce-type": "trip_completed", "ce-id": "e3",
                      "ce-source": "/rides", "ce-subject": "r11",
                      "content-type": "application/json"}
    ce = {"content-type": "application/cloudevents+json"}
    events = run([structured, b64, b'{"fare": 4.0}', b"{not json"],
                 [ce, ce, binary_headers, ce])
    env = events.to_polars()
    assert env.get_column("type").to_list()[:3] == ["trip_completed"] * 3
    assert env.get_column("key").to_list()[:3] == ["r9", "r10", "r11"]
    assert env.get_column("event_time")[0] == T0 + dt.timedelta(seconds=5)
    assert env.get_column("data").to_list()[0] == structured  # stored bytes kept
    assert orjson.loads(env.get_column("headers")[0]) == ce     # stored headers kept
    assert events.of_type("trip_completed").get_column("fare").to_list() == [9.5, 3.0, 4.0]
    assert env.get_column("error")[3].startswith("cloudevents: structured event is not JSON")


def test_compressed_payloads() -> None:
    body = b'{"type":"a","v":1}'
    packed = msgpack.packb({"type": "a", "v": 2})
    events = run([gzip.compress(body), zstandard.ZstdCompressor().compress(packed), b"\x1f\x8bxx"],
                 [{"content-encoding": "gzip"},
                  {"content-encoding": "zstd", "content-type": "application/msgpack"},
                  {"content-encoding": "gzip"}])
    assert events.of_type("a").get_column("v").to_list() == [1, 2]
    assert events.to_polars().get_column("error")[2].startswith("content-encoding gzip:")


def test_json_only_rule_reads_everything_as_json() -> None:
    events = run([msgpack.packb({"type": "a"})], [{"content-type": "application/msgpack"}],
                 formats="json")
    assert events.malformed().height == 1


def test_format_rules_refuse_unknown_places() -> None:
    from eventkit.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="header:NAME"):
        FormatRules.parse("yaml")


# -- the sample in every format ------------------------------------------------------

@pytest.mark.parametrize("fmt", ["avro", "protobuf", "msgpack", "cloudevents"])
def test_the_sample_in_each_format_reads_as_its_json_does(fmt: str) -> None:
    from eventkit.sample import RULES, generate
    from eventkit.sample.formats import encode, writer_schemas

    frame = generate(seed=3, n_events=3000)
    rules = Rules(type=RULES["eventkit.type"], key=RULES["eventkit.key"],
                  event_time=RULES["eventkit.event_time"])
    payloads, headers, schemas = encode(frame, fmt)
    writers = writer_schemas(schemas, fmt)
    subjects = frame.get_column("subject").to_list()
    json_headers = [None if h is None else orjson.loads(h) for h in frame.get_column("headers")]
    want = run(frame.get_column("data").to_list(), json_headers, subjects=subjects, rules=rules,
               formats="json")
    got = run(payloads, headers, subjects=subjects, rules=rules, writers=writers)
    w, g = want.to_polars(), got.to_polars()
    for column in ("seq", "type", "key", "event_time"):
        assert g.get_column(column).equals(w.get_column(column)), column
    assert g.get_column("error").is_null().equals(w.get_column("error").is_null())
    assert g.get_column("data").to_list() == payloads
    for event_type in want.types:
        a, b = got.of_type(event_type), want.of_type(event_type)
        assert a.height == b.height
        assert a.select(b.columns).cast(dict(b.schema)).equals(b), event_type  # type: ignore[arg-type]


def test_an_unknown_content_encoding_is_flagged() -> None:
    events = run([b'{"type":"a"}'], [{"content-encoding": "br"}])
    assert events.malformed().get_column("error").to_list() == [
        "content-encoding br: unknown encoding (gzip and zstd are read)"]


def test_empty_payloads_have_the_codecs_reason_in_every_format() -> None:
    from eventkit import codec
    from eventkit.formats import mixed

    assert mixed.EMPTY == codec.EMPTY
    events = run([b"", b""], [{"content-type": "application/msgpack"}, None])
    assert events.malformed().get_column("error").to_list() == [codec.EMPTY] * 2


def test_a_json_stream_with_a_few_bad_payloads_reads_as_without_formats() -> None:
    from eventkit.sample import RULES, generate

    frame = generate(seed=4, n_events=2000)
    rules = Rules(type=RULES["eventkit.type"], key=RULES["eventkit.key"],
                  event_time=RULES["eventkit.event_time"])
    subjects = frame.get_column("subject").to_list()
    headers = [None if h is None else orjson.loads(h) for h in frame.get_column("headers")]
    payloads = frame.get_column("data").to_list()
    assert any(not p.startswith(b"{") for p in payloads)  # the sample's malformed ones
    plain = run(payloads, headers, subjects=subjects, rules=rules, formats="json")
    found = run(payloads, headers, subjects=subjects, rules=rules)
    assert found.to_polars().equals(plain.to_polars())
    for event_type in plain.types:
        assert found.of_type(event_type).equals(plain.of_type(event_type))


_JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6)
                        | st.text(max_size=5),
                        lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(
    st.sampled_from(["specversion", "type", "id", "source", "datacontenttype", "data",
                     "data_base64", "time", "extra"]),
    st.sampled_from(["1.0", "application/json", "text/plain", "", "aGk=", "!!"]) | _JSONISH,
    max_size=7), max_size=6))
def test_structured_cloudevents_unwrapped_in_bulk_as_one_by_one(events: list[Any]) -> None:
    from eventkit.formats._unwrap import unwrap, unwrap_many
    raws = [orjson.dumps(e) for e in events] + [b"{oops", b"[1]"]

    def alone(raw: bytes) -> Any:
        try:
            return unwrap(raw)
        except Exception as exc:
            return str(exc)
    bulk = [str(r) if isinstance(r, Exception) else r for r in unwrap_many(raws)]
    assert bulk == [alone(r) for r in raws]
