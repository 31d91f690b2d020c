"""The sample ride-share history: shape, lifecycle, and the imperfections it promises."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter, defaultdict
from typing import Any

import orjson
import polars as pl
import pytest

import eventkit.sample
from eventkit.sample import RULES, SHIPPED_ARGS, STREAM, SUBJECTS, generate, load
from eventkit.sample.rides import CITIES, SHIPPED, main, payment_schema_switch

TYPES = {
    "ride_requested",
    "driver_assigned",
    "trip_started",
    "location_updated",
    "trip_completed",
    "ride_cancelled",
    "payment_captured",
    "payment_failed",
}
TERMINAL = {"ride_cancelled", "payment_captured", "payment_failed"}
# Which event may follow which, for one ride in event-time order.
NEXT = {
    "ride_requested": {"driver_assigned", "ride_cancelled"},
    "driver_assigned": {"trip_started", "ride_cancelled"},
    "trip_started": {"location_updated", "trip_completed"},
    "location_updated": {"location_updated", "trip_completed"},
    "trip_completed": {"payment_captured", "payment_failed"},
}
FIELDS = {
    "ride_requested": {
        "rider_id",
        "city",
        "product",
        "pickup_lat",
        "pickup_lon",
        "dropoff_lat",
        "dropoff_lon",
    },
    "driver_assigned": {"driver_id", "eta_s"},
    "trip_started": {"driver_id"},
    "location_updated": {"driver_id", "lat", "lon", "speed_kmh"},
    "trip_completed": {"driver_id", "fare", "distance_km", "duration_s", "currency"},
    "ride_cancelled": {"reason", "by"},
    "payment_failed": {"reason", "amount_cents"},
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ARGS: dict[str, Any] = {"seed": 11, "days": 2, "rides_per_day": 1200}


def _parse(data: bytes) -> dict | None:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def df() -> pl.DataFrame:
    return generate(**ARGS)


@pytest.fixture(scope="module")
def events(df: pl.DataFrame) -> list[dict]:
    """Every message that decodes, in arrival order, with its row's columns."""
    out = []
    for subject, headers, data, arrival in df.iter_rows():
        payload = _parse(data)
        if payload is not None:
            payload["_subject"], payload["_headers"] = subject, headers
            payload["_arrival"], payload["_data"] = arrival, data
            out.append(payload)
    return out


@pytest.fixture(scope="module")
def rides(events: list[dict]) -> dict[str, list[dict]]:
    """Each ride's distinct events (duplicates dropped) in event-time order."""
    seen: set[bytes] = set()
    out: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["_data"] not in seen:
            seen.add(e["_data"])
            out[e["ride_id"]].append(e)
    for ride in out.values():
        ride.sort(key=lambda e: e["event_time"])
    return out


def test_public_names() -> None:
    assert set(eventkit.sample.__all__) >= {"generate", "load", "RULES", "STREAM", "SUBJECTS"}
    assert STREAM == "RIDES"
    assert SUBJECTS == ["rides.>"]
    assert RULES == {
        "eventkit.type": "field:type,subject:-1",
        "eventkit.key": "field:ride_id",
        "eventkit.event_time": "field:event_time",
    }


def test_columns_and_arrival_order(df: pl.DataFrame) -> None:
    expected: dict[str, pl.DataType] = {
        "subject": pl.String(),
        "headers": pl.String(),
        "data": pl.Binary(),
        "arrival": pl.Datetime("ns", "UTC"),
    }
    assert df.schema == pl.Schema(expected)
    assert df["arrival"].is_sorted()
    assert 35_000 < df.height < 55_000


def test_deterministic() -> None:
    a = generate(seed=3, n_events=5_000)
    b = generate(seed=3, n_events=5_000)
    assert a.equals(b)
    assert a["data"].to_list() == b["data"].to_list()
    assert not a.equals(generate(seed=4, n_events=5_000))


@pytest.mark.parametrize("n", [1_000, 20_000])
def test_n_events_is_about_right(n: int) -> None:
    assert abs(generate(seed=5, n_events=n).height - n) < 0.1 * n


def test_payloads_are_compact_json_with_the_promised_fields(events: list[dict]) -> None:
    for e in events:
        kind = e["type"]
        city = e["_subject"].split(".")[1]
        assert e["_subject"] == f"rides.{city}.{kind}"
        assert re.fullmatch(r"ride-\d{6}", e["ride_id"])
        assert ISO_MS.match(e["event_time"])
        fields = set(e) - {"type", "ride_id", "event_time"} - {k for k in e if k[0] == "_"}
        if kind == "payment_captured":
            assert fields in (
                {"amount", "currency"},
                {"schema_version", "amount_cents", "currency", "method"},
            )
        else:
            assert fields == FIELDS[kind], kind
        clean = {k: v for k, v in e.items() if k[0] != "_"}
        assert orjson.dumps(clean) == e["_data"]  # compact, in field order, no spaces


def test_every_type_and_city_present(events: list[dict]) -> None:
    assert {e["type"] for e in events} == TYPES
    cities = Counter(e["_subject"].split(".")[1] for e in events if e["type"] == "ride_requested")
    assert set(cities) == set(SHIPPED_ARGS["cities"])
    assert cities["paris"] > cities["berlin"] > cities["warsaw"] > cities["lisbon"]


def test_coordinates_near_the_city_centre(events: list[dict]) -> None:
    for e in events:
        if e["type"] == "ride_requested":
            lat, lon = CITIES[e["city"]][:2]
            assert abs(e["pickup_lat"] - lat) < 0.2 and abs(e["pickup_lon"] - lon) < 0.3
            assert abs(e["dropoff_lat"] - lat) < 0.4 and abs(e["dropoff_lon"] - lon) < 0.6


def test_rides_per_hour_follow_the_time_of_day(events: list[dict]) -> None:
    hours = Counter(_time(e["event_time"]).hour for e in events if e["type"] == "ride_requested")
    # Mostly UTC+1: the 07-08 UTC morning rush is busier than 02-03 UTC.
    assert hours[7] > 3 * hours[2]


def test_lifecycle_order(rides: dict[str, list[dict]]) -> None:
    assert len(rides) > 2_000
    for ride_id, ride in rides.items():
        kinds = [e["type"] for e in ride]
        assert kinds[0] == "ride_requested", ride_id
        assert kinds[-1] in TERMINAL, (ride_id, kinds)
        assert sum(k in TERMINAL for k in kinds) == 1, (ride_id, kinds)
        for a, b in itertools.pairwise(kinds):
            assert b in NEXT[a], (ride_id, kinds)
        times = [e["event_time"] for e in ride]
        assert len(set(times)) == len(times)  # strictly increasing
    outcomes = Counter(ride[-1]["type"] for ride in rides.values())
    assert outcomes["ride_cancelled"] > 0.05 * len(rides)
    assert outcomes["payment_failed"] > 0
    before = [r for r in rides.values() if [e["type"] for e in r][1:] == ["ride_cancelled"]]
    assert before and len(before) < outcomes["ride_cancelled"]  # some after assignment too


def test_arrival_follows_event_time_with_a_small_delay(events: list[dict]) -> None:
    delays = sorted((e["_arrival"] - _time(e["event_time"])).total_seconds() for e in events)
    assert delays[0] > 0
    median = delays[len(delays) // 2]
    assert 0.05 < median < 1.0
    late = sum(d > 2.0 for d in delays) / len(delays)
    assert 0.01 <= late <= 0.025
    assert delays[-1] < 10 * 60


def test_late_events_arrive_out_of_order_within_a_ride(events: list[dict]) -> None:
    newest: dict[str, str] = {}
    overtaken = 0
    for e in events:  # arrival order
        ride, t = e["ride_id"], e["event_time"]
        if ride in newest and t < newest[ride]:
            overtaken += 1
        newest[ride] = max(t, newest.get(ride, t))
    assert overtaken > 50


def test_payment_schema_versions(events: list[dict]) -> None:
    switch = payment_schema_switch("2026-11-01T00:00:00Z", ARGS["days"])
    assert switch == dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    versions: Counter[int] = Counter()
    for e in events:
        if e["type"] != "payment_captured":
            continue
        if "schema_version" in e:
            assert e["schema_version"] == 2
            assert isinstance(e["amount_cents"], int)
            assert e["method"] in ("card", "wallet")
            assert _time(e["event_time"]) >= switch
            versions[2] += 1
        else:
            assert isinstance(e["amount"], float)
            assert _time(e["event_time"]) < switch
            versions[1] += 1
    assert versions[1] > 500 and versions[2] > 500


def test_payment_amount_matches_the_fare(rides: dict[str, list[dict]]) -> None:
    for ride in rides.values():
        if ride[-1]["type"] == "payment_captured":
            fare, pay = ride[-2]["fare"], ride[-1]
            assert pay.get("amount", fare) == fare
            assert pay.get("amount_cents", round(fare * 100)) == round(fare * 100)


def test_duplicates_share_a_msg_id(df: pl.DataFrame) -> None:
    with_ids = df.filter(pl.col("headers").is_not_null()).with_columns(
        msg_id=pl.col("headers").str.json_path_match("$.Nats-Msg-Id")
    )
    assert with_ids["msg_id"].null_count() == 0
    assert with_ids.height < 0.1 * df.height  # most messages carry no headers
    copies = with_ids.group_by("msg_id").agg(
        n=pl.len(), payloads=pl.col("data").n_unique(), subjects=pl.col("subject").n_unique()
    )
    assert set(copies["n"]) == {1, 2}
    assert (copies["payloads"] == 1).all() and (copies["subjects"] == 1).all()
    twice = copies.filter(pl.col("n") == 2).height
    assert 0.0005 * df.height < twice < 0.002 * df.height
    # Every payload seen twice is a duplicate with a msg id.
    repeated = df.filter(pl.col("data").is_duplicated() & (pl.col("data").bin.size() > 0))
    assert repeated.height == 2 * twice
    assert repeated["headers"].null_count() == 0


def _malformed(df: pl.DataFrame) -> Counter:
    kinds: Counter = Counter()
    for subject, headers, data in df.select("subject", "headers", "data").iter_rows():
        if _parse(data) is not None:
            continue
        _, city, kind = subject.split(".")
        assert city in CITIES and kind in TYPES and headers is None
        if data == b"":
            kinds["empty"] += 1
        else:
            try:
                data.decode()
            except UnicodeDecodeError:
                kinds["not_utf8"] += 1
            else:
                kinds["truncated"] += 1
                assert data.startswith(b'{"type":"' + kind.encode())
    return kinds


def test_malformed_messages(df: pl.DataFrame) -> None:
    kinds = _malformed(df)
    assert set(kinds) == {"empty", "not_utf8", "truncated"}
    assert 0.0003 * df.height < sum(kinds.values()) < 0.001 * df.height


def test_malformed_messages_even_in_a_tiny_history() -> None:
    tiny = generate(seed=2, n_events=60)
    assert set(_malformed(tiny)) == {"empty", "not_utf8", "truncated"}
    assert tiny["headers"].str.contains("Nats-Msg-Id").any()  # at least one duplicate


def test_shipped_file_is_what_generate_makes() -> None:
    shipped = load()
    assert SHIPPED.stat().st_size < 3_000_000
    assert 40_000 < shipped.height < 60_000
    assert shipped.equals(generate(**SHIPPED_ARGS))
    recorded = orjson.loads(pl.read_parquet_metadata(SHIPPED)["sample_data.args"])
    assert recorded == {k: list(v) if isinstance(v, tuple) else v for k, v in SHIPPED_ARGS.items()}


def test_command_line_writes_a_file(tmp_path, capsys) -> None:
    out = tmp_path / "small.parquet"
    main(["--out", str(out), "--n-events", "500", "--seed", "9", "--cities", "paris,madrid"])
    assert "messages" in capsys.readouterr().out
    assert load(out).equals(generate(seed=9, cities=("paris", "madrid"), n_events=500))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cities": ("atlantis",)}, "unknown cities"),
        ({"cities": ()}, "at least one city"),
        ({"rides_per_day": 10, "n_events": 100}, "not both"),
        ({"start": "2026-11-01T00:00:00"}, "timezone-aware"),
        ({"days": 0}, "days"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(**kwargs)
