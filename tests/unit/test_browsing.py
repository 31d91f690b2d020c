"""What stream browsers have: search by content, export, one entity's history, a pivot."""

from __future__ import annotations

import base64

import duckdb
import orjson
import polars as pl
import pytest

import eventkit as ek
from eventkit import query
from tests.samples import sample_events


@pytest.fixture(scope="module")
def events() -> ek.Events:
    return sample_events()


def test_filter_by_content_as_text_or_expression(events):
    wide = events.wide()
    rich = events.filter("fare > 50")
    want = wide.filter(pl.col("fare") > 50)["seq"]
    assert rich.to_polars()["seq"].to_list() == want.to_list() and len(rich) > 0
    assert rich.of_type("trip_completed")["fare"].min() > 50  # typed tables follow
    both = events.filter("city = paris and product = pool")
    assert both.to_polars()["seq"].to_list() == wide.filter(
        (pl.col("city") == "paris") & (pl.col("product") == "pool"))["seq"].to_list()
    assert len(events.filter(pl.col("fare") > 50)) == len(rich)
    with pytest.raises(ek.ConfigurationError, match="tip"):
        events.filter("tip > 1")
    with pytest.raises(ek.ConfigurationError):
        events.filter(42)  # type: ignore[arg-type]


def test_write_csv_ndjson_parquet_keep_the_payload(events, tmp_path):
    few = events.filter("fare > 60")
    envelope = few.to_polars()
    csv = few.write_csv(tmp_path / "x.csv")
    lines = few.write_ndjson(tmp_path / "x.ndjson")
    parquet = few.write_parquet(tmp_path / "x.parquet")
    back = duckdb.sql(f"select seq, data from read_csv('{csv}') order by seq").pl()
    assert back["data"].to_list() == [d.decode() for d in envelope["data"]]
    rows = [orjson.loads(line) for line in lines.read_bytes().splitlines()]
    assert [r["seq"] for r in rows] == envelope["seq"].to_list()
    assert all((base64.b64decode(r["data"]) if r["data_encoding"] == "base64"
                else r["data"].encode()) == d for r, d in zip(rows, envelope["data"], strict=True))
    stored = duckdb.sql(f"select data from '{parquet}' order by seq").fetchall()
    assert [s[0] for s in stored] == envelope["data"].to_list()  # the bytes as they are
    wide = few.write_csv(tmp_path / "wide.csv", wide=True)
    assert "fare" in duckdb.sql(f"select * from read_csv('{wide}')").columns


def test_history_of_one_entity(events):
    key = "ride-000042"
    steps = events.history(key)
    mine = events.wide().filter(pl.col("key") == key).sort("seq")
    assert steps["seq"].to_list() == mine["seq"].to_list()
    assert {"event_time", "time", "changes"} <= set(steps.columns)
    # replaying the changes rebuilds the entity's state (query.state_at is the oracle)
    state: dict[str, str] = {}
    for changes in steps["changes"]:
        for change in changes:
            name, _, moved = change.partition(": ")
            state[name] = moved.split(" → ")[1]
    final = events.state_at(None).filter(pl.col("key") == key).row(0, named=True)
    for name, value in state.items():
        assert str(final[name]) == value, name
    assert steps["changed"].sum() > 0


def test_pivot_counts_and_sums_like_duckdb(events):
    wide = events.wide().drop("headers", "data")
    got = events.pivot("city", sums=["fare"], where="fare > 0").sort("city")
    want = duckdb.sql("select city, count(*) as events, sum(fare) as fare_sum from wide "
                      "where fare > 0 group by city order by city").pl()
    assert got["events"].to_list() == want["events"].to_list()
    assert got["fare_sum"].to_list() == pytest.approx(want["fare_sum"].to_list())
    by_type = events.pivot("type")
    assert by_type["events"].sum() == len(events)
    assert query.pivot(wide, ["type", "subject"]).height > by_type.height
    with pytest.raises(ek.ConfigurationError, match="nope"):
        events.pivot("nope")
