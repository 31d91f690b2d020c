"""What every schema registry backend must do (memory, directory, KV bucket), as a test base.

A test module subclasses :class:`RegistryContract` with its ``backend_factory``;
the shared JSON Schemas and the sample's two payment versions live here too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

import eventkit as ek
from eventkit.codec import decode
from eventkit.envelope import Rules
from tests.schemas import AVRO_TRIP, PROTOS, descriptor_set


def envelope(payloads: list[bytes], event_type: str = "trip_completed") -> pl.DataFrame:
    n = len(payloads)
    t = pl.Series([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * n).cast(pl.Datetime("ns", "UTC"))
    return decode(pl.int_range(1, n + 1, dtype=pl.UInt64, eager=True), t,
                  [f"rides.{event_type}"] * n, [None] * n, payloads, Rules()).envelope

V1 = {"type": "object", "required": ["fare"], "properties": {"fare": {"type": "number"}}}
V2 = {"type": "object", "required": ["fare"], "properties": {
    "fare": {"type": "number"}, "tip": {"type": ["number", "null"]}}}
V3 = {"type": "object", "required": ["fare"], "properties": {
    "fare": {"type": "number"}, "tip": {"type": ["number", "null"]},
    "rating": {"enum": [1, 2, 3, 4, 5]}}}


class _Together:
    """A backend view whose version reads wait for one another: two clients see one history."""

    def __init__(self, inner: Any, barrier: asyncio.Barrier) -> None:
        self._inner, self._barrier = inner, barrier

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def versions(self, event_type: str) -> list[int]:
        seen = await self._inner.versions(event_type)
        await self._barrier.wait()
        return seen


class RegistryContract:
    """Passed by every backend. A subclass gives ``backend_factory``: each call a new client's
    view of one shared, initially empty storage."""

    @pytest.fixture()
    def clients(self, backend_factory: Callable[[], Any]) -> Callable[[], ek.SchemaRegistry]:
        # V1 -> V2 -> V3 add optional fields to open objects: lenient (the policies are
        # tested in test_compatibility; here the storage)
        return lambda: ek.SchemaRegistry(backend_factory(), policy="lenient")

    def test_versions_count_from_one_and_every_version_is_kept(self, clients):
        a, b = clients(), clients()
        assert [a.register("trip_completed", v) for v in (V1, V2, V3)] == [1, 2, 3]
        for reg in (a, b):
            assert reg.versions("trip_completed") == [1, 2, 3]
            assert [reg.get("trip_completed", version=v) for v in (1, 2, 3)] == [V1, V2, V3]
            assert reg.get("trip_completed") == V3
            assert reg.types == ["trip_completed"]
        assert b.versions("other") == []

    def test_the_same_schema_again_is_the_same_version(self, clients):
        a, b = clients(), clients()
        assert a.register("t", V1) == 1 and a.register("t", V2) == 2
        assert b.register("t", json.dumps(V1)) == 1  # JSON text works too
        assert a.versions("t") == [1, 2]

    def test_a_refused_schema_leaves_nothing_behind(self, clients):
        a, b = clients(), clients()
        a.register("t", V1)
        breaking = {"type": "object", "required": ["fare", "tip"], "properties": {
            "fare": {"type": "number"}, "tip": {"type": "number"}}}
        with pytest.raises(ek.SchemaCompatibilityError, match="field 'tip'"):
            b.register("t", breaking)
        assert a.versions("t") == [1] and b.versions("t") == [1]

    def test_unknown_types_and_versions_are_lookup_errors(self, clients):
        reg = clients()
        reg.register("t", V1)
        with pytest.raises(ek.SchemaNotFoundError, match=r"no schema for 'u'.*types registered: t"):
            reg.get("u")
        with pytest.raises(LookupError, match=r"t has no version 7.*versions: \[1\]"):
            reg.get("t", version=7)

    def test_the_compatibility_of_a_type_is_kept_for_every_client(self, clients):
        a, b = clients(), clients()
        a.register("t", V1, compatibility="FORWARD")
        assert b.compatibility("t") == "FORWARD" and b.compatibility("u") == "BACKWARD"
        # FORWARD: the old schema must read new events, so a required field may be added
        assert b.register("t", {"type": "object", "required": ["fare", "tip"], "properties": {
            "fare": {"type": "number"}, "tip": {"type": "number"}}}) == 2

    def test_two_clients_registering_at_once_one_wins_the_other_gets_a_conflict(self, clients):
        a, b = clients(), clients()
        a.register("t", V1)
        barrier = asyncio.Barrier(2)
        a.backend = _Together(a.backend, barrier)
        b.backend = _Together(b.backend, barrier)

        async def both() -> list[Any]:
            return await asyncio.gather(a.aregister("t", V2), b.aregister("t", V3),
                                        return_exceptions=True)

        results = asyncio.run(both())
        won = [r for r in results if r == 2]
        lost = [r for r in results if isinstance(r, ek.SchemaConflictError)]
        assert len(won) == 1 and len(lost) == 1, results
        assert "another client registered a different schema as version 2" in str(lost[0])
        winner = V2 if results[0] == 2 else V3
        assert clients().get("t", version=2) == winner and clients().versions("t") == [1, 2]

    def test_the_same_schema_from_two_clients_at_once_is_no_conflict(self, clients):
        a, b = clients(), clients()
        barrier = asyncio.Barrier(2)
        a.backend = _Together(a.backend, barrier)
        b.backend = _Together(b.backend, barrier)

        async def both() -> list[Any]:
            return await asyncio.gather(a.aregister("t", V1), b.aregister("t", V1))

        assert asyncio.run(both()) == [1, 1]

    def test_any_type_name_is_stored_and_found_again(self, clients):
        a, b = clients(), clients()
        odd = "com.example/Ride Requested=é%"
        a.register(odd, V1)
        a.register("plain", V1)
        assert b.types == sorted([odd, "plain"]) and b.get(odd) == V1

    def test_a_snapshot_checks_events_offline(self, clients):
        reg = clients()
        reg.register("trip_completed", V3)
        found = reg.check(envelope([b'{"fare": 1}', b'{"fare": "1"}', b'{"rating": 9}']))
        assert found.select("seq", "path", "reason").rows() == [
            (2, "fare", "expected number, got string"),
            (3, "fare", "required field is missing or null"),
            (3, "rating", "not one of the allowed values (1, 2, 3, 4, 5)"),
        ]

    def test_to_polars_lists_every_version(self, clients):
        reg = clients()
        reg.register("t", V1)
        reg.register("t", V2)
        table = reg.to_polars()
        assert table.select("type", "version", "compatibility").rows() == [
            ("t", 1, "BACKWARD"), ("t", 2, "BACKWARD")]
        assert table["fields"].to_list() == [["fare"], ["fare", "tip"]]


    # -- formats: every backend stores Avro and Protobuf versions and their ids ------------
    def test_avro_and_protobuf_versions_round_trip_with_global_ids(self, clients):
        a = clients()
        assert a.register("trip_completed", AVRO_TRIP, format="avro") == 1
        assert a.register("location_updated", "rides.LocationUpdated", format="protobuf",
                          descriptors=descriptor_set()) == 1
        assert a.register("paid", V1) == 1
        b = clients()  # another client (a reopen), reading the same storage
        trip, location, paid = (b.entry(t) for t in ("trip_completed", "location_updated",
                                                    "paid"))
        assert (trip.format, location.format, paid.format) == ("avro", "protobuf", "json")
        assert json.loads(trip.text) == json.loads(AVRO_TRIP)
        assert location.message == "rides.LocationUpdated"
        assert location.descriptors == descriptor_set()
        assert sorted([trip.id, location.id, paid.id]) == [1, 2, 3]
        assert [a.entry(t).id for t in ("trip_completed", "location_updated", "paid")] == [
            trip.id, location.id, paid.id]  # stable
        snap = b.snapshot()
        assert snap.by_id(location.id) == location == snap.entry("location_updated", 1)
        assert snap.formats() == {"trip_completed": "avro", "location_updated": "protobuf",
                                  "paid": "json"}
        assert set(snap.specs) == {"paid"}  # the JSON decoding path types JSON types only
        # the same schema again is the same version and id; a new version a new id
        assert b.register("trip_completed", json.loads(AVRO_TRIP), format="avro") == 1
        assert b.entry("trip_completed").id == trip.id
        assert b.register("paid", V2) == 2 and b.entry("paid").id == 4
        assert PROTOS.is_dir()


def payments_registry() -> ek.SchemaRegistry:
    reg = ek.SchemaRegistry()
    common = {"type": {"type": "string"}, "ride_id": {"type": "string"},
              "event_time": {"type": "string", "format": "date-time"},
              "currency": {"enum": ["EUR", "GBP", "PLN", "CZK"]}}
    reg.register("payment_captured", {"type": "object", "properties": {
        **common, "amount": {"type": "number", "exclusiveMinimum": 0}},
        "required": ["ride_id", "event_time", "amount", "currency"]})
    reg.register("payment_captured", {"type": "object", "properties": {
        **common, "schema_version": {"const": 2}, "amount_cents": {"type": "integer"},
        "method": {"enum": ["card", "wallet"]}},
        "required": ["ride_id", "event_time", "schema_version", "amount_cents", "currency",
                     "method"]}, compatibility="NONE")

    @reg.upcaster("payment_captured", 1, 2)
    def to_cents(v1: pl.DataFrame) -> pl.DataFrame:
        return v1.with_columns(amount_cents=(pl.col("amount") * 100).round().cast(pl.Int64))

    return reg
