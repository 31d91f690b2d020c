"""A mixed-format stream through a real nats-server: each message read by its own format."""

from __future__ import annotations

import base64
import gzip
from decimal import Decimal

import msgpack
import orjson
import polars as pl
import pytest

import eventkit as ek
from eventkit.replay import Replay

pytestmark = pytest.mark.integration


def _mixed(prefix: str) -> tuple[list[str], list[bytes], list[dict[str, str] | None]]:
    ce = orjson.dumps({"specversion": "1.0", "type": "trip_completed", "source": "/rides",
                       "id": "e1", "subject": "r3", "time": "2026-11-01T12:00:03Z",
                       "data": {"fare": 12.5}})
    ce64 = orjson.dumps({"specversion": "1.0", "type": "trip_completed", "source": "/rides",
                         "id": "e2", "subject": "r4", "datacontenttype": "application/msgpack",
                         "data_base64": base64.b64encode(msgpack.packb({"fare": 4.5})).decode()})
    rows = [
        ("ride_requested", b'{"type":"ride_requested","key":"r1","city":"Lisbon"}', None),
        ("ride_requested", msgpack.packb({"type": "ride_requested", "key": "r2", "city": "Porto"}),
         {"content-type": "application/msgpack"}),
        ("trip_completed", ce, {"content-type": "application/cloudevents+json"}),
        ("trip_completed", ce64, {"content-type": "application/cloudevents+json"}),
        ("trip_completed", b'{"fare": 7.0}',
         {"ce-specversion": "1.0", "ce-type": "trip_completed", "ce-id": "e3",
          "ce-source": "/rides", "ce-subject": "r5", "content-type": "application/json"}),
        ("ride_requested", gzip.compress(b'{"type":"ride_requested","key":"r6","city":"Faro"}'),
         {"content-encoding": "gzip"}),
        ("payment_captured", b"\x00\x00\x00\x00\x2a\x02\x04", None),  # Confluent, id 42 unknown
    ]
    return ([f"{prefix}.{t}" for t, _, _ in rows], [p for _, p, _ in rows],
            [h for _, _, h in rows])


def test_a_mixed_format_stream_reads_typed(conn: ek.Connection, stream: str) -> None:
    subjects, payloads, headers = _mixed(stream.lower())
    conn.publish_many(subjects, payloads, headers)
    events = conn.read(stream, progress=False)
    env = events.to_polars()
    assert env.get_column("data").to_list() == payloads  # the stored bytes, whatever the format
    assert env.get_column("key").to_list()[:6] == ["r1", "r2", "r3", "r4", "r5", "r6"]
    requested = events.of_type("ride_requested")
    assert requested.get_column("city").to_list() == ["Lisbon", "Porto", "Faro"]
    assert events.of_type("trip_completed").get_column("fare").to_list() == [12.5, 4.5, 7.0]
    assert env.get_column("error").to_list()[:6] == [None] * 6
    assert env.get_column("error")[6] == "confluent: unknown schema id 42"
    assert events.summary().malformed == 1
    # read as JSON only: MessagePack, gzip and Confluent payloads are flagged instead
    as_json = conn.read(stream, progress=False, format="json")
    assert as_json.summary().malformed == 3


def test_replay_republishes_non_json_bytes_and_headers_unchanged(
        conn: ek.Connection, stream: str) -> None:
    subjects, payloads, headers = _mixed(stream.lower())
    conn.publish_many(subjects, payloads, headers)
    conn.create_stream(f"{stream}_R", [f"again.{stream.lower()}.>"])
    try:
        events = conn.read(stream, progress=False)
        Replay(events, stream=stream).to_subject(conn, "again")
        copied = conn.read(f"{stream}_R", progress=False)
        env = copied.to_polars()
        assert env.get_column("data").to_list() == payloads
        for sent, got in zip(headers, env.get_column("headers").to_list(), strict=True):
            kept = orjson.loads(got)
            assert {k: kept[k] for k in (sent or {})} == (sent or {})
        # and the copy decodes as the source did
        assert copied.of_type("trip_completed").get_column("fare").to_list() == [12.5, 4.5, 7.0]
    finally:
        from eventkit.source import _loop

        _loop.run(conn.jetstream.delete_stream(f"{stream}_R"))


def test_avro_and_protobuf_decode_with_the_registrys_schemas(
        conn: ek.Connection, stream: str, tmp_path) -> None:
    import io

    import fastavro

    from tests.formats_data import confluent, descriptor_set, message

    reg = ek.SchemaRegistry.from_dir(tmp_path / "schemas")
    trip = {"type": "record", "name": "TripCompleted", "namespace": "rides", "fields": [
        {"name": "ride_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "fare", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9,
                                  "scale": 2}}]}
    reg.register("trip_completed", orjson.dumps(trip).decode(), format="avro")
    desc = descriptor_set(tmp_path)
    reg.register("location_updated", "rides.Loc", format="protobuf", descriptors=desc)
    trip_id = reg.entry("trip_completed").id
    loc_id = reg.entry("location_updated").id
    assert trip_id is not None and loc_id is not None
    parsed = fastavro.parse_schema(trip)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, {"ride_id": "r1", "event_time": 1793534400000,
                                             "fare": Decimal("12.50")})
    loc = message(desc, "rides.Loc")(lat=38.7, lon=-9.1).SerializeToString()
    prefix = stream.lower()
    conn.publish_many(
        [f"{prefix}.trip_completed", f"{prefix}.location_updated", f"{prefix}.trip_completed",
         f"{prefix}.location_updated"],
        [confluent(trip_id, out.getvalue()), confluent(loc_id, loc, b"\x00"),
         out.getvalue(), b"\xff\xff"],
        [None, None, {"content-type": "application/avro"},
         {"content-type": "application/x-protobuf"}])
    events = conn.read(stream, progress=False, registry=reg)
    trips = events.of_type("trip_completed")
    assert trips.get_column("fare").to_list() == [Decimal("12.50")] * 2
    assert trips.schema["fare"] == pl.Decimal(9, 2)
    # of_type lists every event of the type: the one that did not decode has no fields
    assert events.of_type("location_updated").get_column("lat").to_list() == [38.7, None]
    errors = events.to_polars().get_column("error").to_list()
    assert errors[:3] == [None] * 3
    assert errors[3].startswith("protobuf schema location_updated v1")
    # without the registry, the same stream is kept and flagged, never lost
    plain = conn.read(stream, progress=False)
    assert plain.summary().malformed == 4


@pytest.mark.parametrize("fmt", ["avro", "protobuf", "msgpack", "cloudevents"])
def test_the_sample_published_in_each_format_reads_as_its_json(
        fresh_server: ek.EmbeddedServer, fmt: str) -> None:
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    frame = generate(seed=5, n_events=1500)
    from eventkit.source import _loop

    with ek.connect(fresh_server.url) as conn:
        publish(conn, frame, stream="PLAIN")
        want = conn.read("PLAIN", progress=False)
        _loop.run(conn.jetstream.delete_stream("PLAIN"))  # the same subjects, in the format
        publish(conn, frame, stream="FORMATTED", format=fmt)
        got = conn.read("FORMATTED", progress=False, registry=ek.SchemaRegistry(conn))
    w, g = want.to_polars(), got.to_polars()
    for column in ("type", "key", "event_time"):
        assert g.get_column(column).equals(w.get_column(column)), column
    assert g.get_column("error").is_null().equals(w.get_column("error").is_null())
    for event_type in want.types:
        a, b = got.of_type(event_type), want.of_type(event_type)
        fields = [c for c in b.columns if c not in ("seq", "subject", "time")]
        assert a.select(fields).cast(dict(b.select(fields).schema)).equals(b.select(fields))


def test_a_store_syncs_an_avro_stream_into_typed_tables(
        fresh_server: ek.EmbeddedServer, tmp_path) -> None:
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    frame = generate(seed=6, n_events=1200)
    with ek.connect(fresh_server.url) as conn:
        publish(conn, frame, format="avro")
        reg = ek.SchemaRegistry(conn)
        trip_id = reg.entry("trip_completed").id
        assert trip_id is not None
        info = conn.publish_many(["rides.lisbon.trip_completed"],  # a truncated Avro record
                                 [b"\x00" + trip_id.to_bytes(4, "big") + b"\x1cride-0"], None)
        last = conn.stream("RIDES").last_seq
        read = conn.read("RIDES", progress=False, registry=reg)
        store = ek.Store(tmp_path / "store")
        store.sync(conn, "RIDES", progress=False, registry=reg)
        report = store.integrity(conn)
    bad = report.malformed.filter(pl.col("seq") == last)
    assert bad.height == 1 and bad.get_column("type")[0] == "trip_completed"
    assert bad.get_column("error")[0] == (
        f"avro schema trip_completed v1 (id {trip_id}): truncated record at field type")
    assert info.stored == 1 and report.malformed.height == read.summary().malformed
    stored = store.of_type("trip_completed").collect()
    want = read.of_type("trip_completed")
    assert stored.height == want.height > 10
    assert stored.get_column("fare").to_list() == want.get_column("fare").to_list()
    assert stored.filter(pl.col("seq") != last).get_column("fare").null_count() == 0
