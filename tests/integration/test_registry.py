"""The schema registry on a real server: the key-value backend passes the same contract as
the others, is a bucket other NATS tools read, settles concurrent registrations, and reads
the sample stream's two payment versions into one typed table."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import nats
import polars as pl
import pytest

import eventkit as ek
from eventkit.cli import main
from eventkit.schema._kv import _KVBackend
from tests.registry_contract import V1, V2, V3, RegistryContract, payments_registry

pytestmark = pytest.mark.integration


@pytest.fixture()
def bucket() -> str:
    return f"schemas_{secrets.token_hex(4)}"


class TestKeyValueRegistry(RegistryContract):
    @pytest.fixture()
    def backend_factory(self, server, bucket) -> Iterator[Callable[[], Any]]:
        conns: list[ek.Connection] = []

        def client() -> _KVBackend:  # each client its own connection
            conn = ek.connect(server.url)
            conns.append(conn)
            return _KVBackend(conn, bucket, 8)

        yield client
        for conn in conns:
            conn.close()


def _nats_py(url: str, work: Callable[[Any], Any]) -> Any:
    async def run() -> Any:
        nc = await nats.connect(url)
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


def test_the_bucket_is_a_key_value_bucket_other_nats_clients_read(server, conn, bucket):
    reg = ek.SchemaRegistry(conn, bucket=bucket, history=5, policy="lenient")
    reg.register("trip_completed", V1)
    reg.register("trip_completed", V2, compatibility="FULL")
    reg.register("trip_completed", V3, compatibility="BACKWARD")

    async def look(js: Any) -> dict[str, Any]:
        kv = await js.key_value(bucket)
        info = await js.stream_info(f"KV_{bucket}")
        return {
            "keys": sorted(await kv.keys()),
            "v1": json.loads((await kv.get("trip_completed.v1")).value),
            "id3": json.loads((await kv.get("=ids.3")).value),
            "config": json.loads((await kv.get("trip_completed.config")).value),
            "history": [json.loads(e.value)["compatibility"]
                        for e in await kv.history("trip_completed.config")],
            "per_subject": info.config.max_msgs_per_subject,
            "direct": info.config.allow_direct, "deny_delete": info.config.deny_delete,
        }

    seen = _nats_py(server.url, look)
    assert seen["keys"] == ["=ids.1", "=ids.2", "=ids.3", "trip_completed.config",
                            "trip_completed.v1", "trip_completed.v2", "trip_completed.v3"]
    assert seen["id3"] == {"type": "trip_completed", "version": 3}  # global schema ids
    assert seen["v1"] == V1 and seen["config"] == {"compatibility": "BACKWARD"}
    assert seen["history"] == ["FULL", "BACKWARD"]
    assert (seen["per_subject"], seen["direct"], seen["deny_delete"]) == (5, True, True)


def test_a_schema_another_client_put_is_found(server, conn, bucket):
    reg = ek.SchemaRegistry(conn, bucket=bucket)
    reg.register("trip_completed", V1)  # makes the bucket

    async def put(js: Any) -> None:
        kv = await js.key_value(bucket)
        await kv.put("ride=20requested.v1", json.dumps(V2).encode())

    _nats_py(server.url, put)
    assert reg.types == ["ride requested", "trip_completed"]
    assert reg.get("ride requested") == V2


def test_a_registry_with_no_bucket_yet_is_empty_and_reads_fine(conn, bucket):
    reg = ek.SchemaRegistry(conn, bucket=bucket)
    assert reg.types == [] and reg.versions("t") == []
    with pytest.raises(ek.SchemaNotFoundError):
        reg.get("t")
    assert reg.check(pl.DataFrame({"seq": [1], "type": ["t"], "data": [b"{}"]})).height == 0


def test_clients_racing_on_one_type_never_share_a_version(server, bucket):
    """Two connections register at the same moment, round after round: every version is
    taken once, and a client that lost a race was told so."""
    conns = [ek.connect(server.url) for _ in range(2)]
    regs = [ek.SchemaRegistry(c, bucket=bucket, compatibility="NONE") for c in conns]
    regs[0].register("t", V1)
    outcomes: list[tuple[int, Any]] = []
    try:
        for round_ in range(6):
            start = threading.Barrier(2)

            def go(i: int, round_: int = round_, start: threading.Barrier = start) -> None:
                schema = {"type": "object", "properties": {f"f{round_}_{i}": {"type": "string"}}}
                start.wait()
                try:
                    outcomes.append((i, regs[i].register("t", schema)))
                except ek.SchemaConflictError as exc:
                    outcomes.append((i, exc))

            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        for c in conns:
            c.close()
    versions = [v for _, v in outcomes if isinstance(v, int)]
    assert len(versions) == len(set(versions)), outcomes
    reg = ek.SchemaRegistry(ek.connect(server.url), bucket=bucket)
    try:
        assert reg.versions("t") == list(range(1, len(versions) + 2))
    finally:
        reg.backend._conn.close()  # type: ignore[attr-defined]


def test_a_read_with_the_registry_gives_one_typed_table_of_both_payment_versions(
        server, rides, conn, bucket):
    reg = payments_registry()
    kv = ek.SchemaRegistry(conn, bucket=bucket)
    for v in reg.versions("payment_captured"):
        kv.register("payment_captured", reg.get("payment_captured", v), compatibility="NONE")
    kv._upcasters.update(reg._upcasters)
    with ek.connect(server.url) as other:  # the registry lives on another connection
        events = other.read("RIDES", registry=kv, progress=False)
        payments = events.of_type("payment_captured")
        assert payments.schema["amount_cents"] == pl.Int64
        assert payments["amount_cents"].null_count() == 0
        assert set(payments["schema_version"]) == {1, 2}
        first = payments["seq"][10]
        early = other.read("RIDES", end=int(first), registry=kv, progress=False)
        assert early.of_type("payment_captured").schema == payments.schema
        assert set(early.of_type("payment_captured")["schema_version"]) == {1}
    found = kv.check(events)
    assert found.height == 0
    plain = conn.read("RIDES", subjects="rides.*.payment_captured", progress=False)
    assert plain.of_type("payment_captured").height == payments.height


def test_the_schema_commands(server, rides, tmp_path, capsys, bucket):
    url = server.url
    proposed, folder = tmp_path / "proposed", tmp_path / "registry"
    assert main(["schema", "infer", "--server", url, "--stream", "RIDES", "--out",
                 str(proposed), "--no-progress"]) == 0
    assert (proposed / "payment_captured" / "v2.json").exists()
    out = capsys.readouterr().out
    assert "wrote" in out and "eventkit schema register --from" in out
    # version 2 of payment_captured adds required fields: the history broke BACKWARD, and
    # infer said so in the type's config.json, which register --from honours
    assert "payment_captured: the history changed it incompatibly" in out
    config = proposed / "payment_captured" / "config.json"
    assert json.loads(config.read_text()) == {"compatibility": "NONE"}
    config.unlink()  # without it BACKWARD refuses v2, by name
    assert main(["schema", "register", "--from", str(proposed), "--dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "payment_captured" in err and "adding a required field" in err
    assert main(["schema", "register", "--from", str(proposed), "--dir", str(folder),
                 "--compatibility", "none"]) == 0
    assert "payment_captured: version 2" in capsys.readouterr().out
    assert main(["schema", "list", "--dir", str(folder)]) == 0
    assert "8 types, 9 versions" in capsys.readouterr().out
    # the malformed messages of the sample are violations: exit 1, and listed
    assert main(["schema", "check", "--server", url, "--stream", "RIDES", "--dir", str(folder),
                 "--no-progress", "--out", str(tmp_path / "v.parquet")]) == 1
    out = capsys.readouterr().out
    assert "payload did not decode" in out and "nothing dropped" in out
    assert pl.read_parquet(tmp_path / "v.parquet")["reason"].str.starts_with(
        "payload did not decode").all()
    # the same through the server's key-value bucket
    schema = proposed / "trip_completed" / "v1.json"
    assert main(["schema", "register", "trip_completed", str(schema), "--server", url,
                 "--bucket", bucket]) == 0
    assert main(["schema", "list", "--server", url, "--bucket", bucket]) == 0
    assert f"key-value bucket {bucket!r}" in capsys.readouterr().out


def test_cloudevents_headers_give_the_type_and_the_version(conn):
    name = f"ORDERS_{secrets.token_hex(3)}"
    conn.create_stream(name, [f"{name.lower()}.>"])
    v1 = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}
    v2 = {"type": "object", "required": ["total_cents"], "properties": {
        "total_cents": {"type": "integer"}, "note": {"type": "string"}}}
    reg = ek.SchemaRegistry(compatibility="NONE")
    reg.register("com.example.order.placed", v1)
    reg.register("com.example.order.placed", v2)

    @reg.upcaster("com.example.order.placed", 1, 2)
    def to_cents(old: pl.DataFrame) -> pl.DataFrame:
        return old.with_columns(total_cents=(pl.col("total") * 100).round().cast(pl.Int64))

    def ce(version: int | None) -> dict[str, str]:
        headers = {"ce-specversion": "1.0", "ce-type": "com.example.order.placed",
                   "ce-id": secrets.token_hex(4), "ce-source": "/shop"}
        if version is not None:
            headers["ce-dataschema"] = f"https://schemas.example.com/order/placed/v{version}.json"
        return headers

    conn.publish_many([f"{name.lower()}.o1"] * 4,
                      [b'{"total": 9.5}', b'{"total_cents": 1200}', b'{"total_cents": "12"}',
                       b'{"total": 3}'],
                      [ce(1), ce(2), ce(2), ce(None)])
    events = conn.read(name, registry=reg, progress=False)
    assert events.types == ["com.example.order.placed"]
    table = events.of_type("com.example.order.placed")
    assert table.select("schema_version", "total_cents").rows() == [
        (1, 950), (2, 1200), (2, None), (1, 300)]
    assert reg.check(events).select("seq", "version", "path", "reason").rows() == [
        (3, 2, "total_cents", "expected integer, got string")]


def test_avro_and_protobuf_schemas_in_the_bucket_decode_a_stream_nats_py_wrote(
        server, conn, bucket, stream):
    """Schemas registered in the server's bucket by one client; Confluent-framed payloads
    made by fastavro and protobuf, published by nats-py; another client's read decodes them
    with the schemas and upcasts the old versions."""
    import io

    import fastavro

    from tests.schemas import descriptor_set, generated_rides

    writer_reg = ek.SchemaRegistry(conn, bucket=bucket, compatibility="FULL")
    paid_v1 = {"type": "record", "name": "Paid", "fields": [
        {"name": "type", "type": "string"}, {"name": "amount", "type": "double"}]}
    paid_v2 = {"type": "record", "name": "Paid", "fields": [
        {"name": "type", "type": "string"}, {"name": "amount", "type": "double"},
        {"name": "currency", "type": "string", "default": "EUR"}]}
    assert writer_reg.register("paid", paid_v1, format="avro") == 1
    assert writer_reg.register("paid", paid_v2, format="avro") == 2
    assert writer_reg.register("trip", "rides.TripCompleted", format="protobuf",
                               descriptors=descriptor_set()) == 1
    with pytest.raises(ek.SchemaCompatibilityError, match="field 'amount': changing"):
        writer_reg.register("paid", {**paid_v2, "fields": [
            {"name": "type", "type": "string"}, {"name": "amount", "type": "string"}]},
            format="avro")

    def avro(schema: dict[str, Any], schema_id: int, record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
        return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()

    ids = {(t, v): writer_reg.entry(t, v).id for t, v in (("paid", 1), ("paid", 2),
                                                          ("trip", 1))}
    trip = generated_rides().TripCompleted(ride_id="r7", fare=12.5).SerializeToString()
    subject = f"{stream.lower()}.events"
    payloads = [avro(paid_v1, ids["paid", 1], {"type": "paid", "amount": 9.5}),
                avro(paid_v2, ids["paid", 2], {"type": "paid", "amount": 3.0,
                                               "currency": "USD"}),
                b"\x00" + ids["trip", 1].to_bytes(4, "big") + b"\x00" + trip]

    async def publish(js: Any) -> None:
        for payload, kind in zip(payloads, ["paid", "paid", "trip"], strict=True):
            await js.publish(subject, payload, headers={"ce-type": kind})

    _nats_py(server.url, publish)
    with ek.connect(server.url) as other:
        reader_reg = ek.SchemaRegistry(other, bucket=bucket)

        @reader_reg.upcaster("paid", 1, 2, per="event")
        def in_euros(event: dict[str, Any]) -> dict[str, Any]:
            return {**event, "currency": "EUR (v1)"}

        events = other.read(stream, registry=reader_reg, progress=False,
                            rules=ek.Rules(type="header:ce-type"))
    assert events.malformed().height == 0
    assert events.of_type("paid").select("amount", "currency").rows() == [
        (9.5, "EUR (v1)"), (3.0, "USD")]
    assert events.of_type("trip").select("ride_id", "fare").rows() == [("r7", 12.5)]
