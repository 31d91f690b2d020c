"""Charts: aggregated in polars, never more than MAX_ROWS rows, binning told, drawn offline."""

from __future__ import annotations

import datetime as dt
import functools
import json
from types import SimpleNamespace

import altair as alt
import orjson
import polars as pl
import pytest

from eventkit import charts, query
from eventkit.codec import decode
from eventkit.envelope import ENVELOPE_SCHEMA, TIME, Rules
from eventkit.events import Events

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@functools.cache
def sample_events() -> Events:
    """The shipped sample history, decoded as a read would, without a server."""
    from eventkit.sample.rides import RULES, load

    frame = load()
    blocks = [None if h is None else (
        "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in orjson.loads(h).items()) + "\r\n"
    ).encode() for h in frame["headers"].to_list()]
    seq = pl.Series("seq", range(1, frame.height + 1), dtype=pl.UInt64)
    time = frame["arrival"].cast(TIME)
    return Events(decode(seq, time, frame["subject"].to_list(), blocks, frame["data"].to_list(),
                         Rules.from_metadata(RULES)))


def synthetic(n: int, *, types: int = 40, keys: int = 50_000, days: int = 365) -> pl.DataFrame:
    """``n`` events over ``days``, many types and keys: large enough to need binning."""
    i = pl.int_range(n, dtype=pl.UInt64)
    step_ns = days * 86_400 * 10**9 // n
    return pl.select(
        (i + 1).alias("seq"),
        (pl.lit(START).cast(TIME).dt.epoch("ns") + i.cast(pl.Int64) * step_ns).cast(TIME)
        .alias("time"),
        pl.format("type_{}", i.hash(1) % types).alias("type"),
        pl.format("k{}", i.hash(2) % keys).alias("key"),
        (i.hash(3) % 1000 / 10).alias("fare"),
    ).with_columns(
        (pl.col("time") - pl.duration(milliseconds=pl.col("fare") * 10)).alias("event_time"),
        pl.format("rides.{}", "type").alias("subject"),
    )


def rows_sent(chart: alt.TopLevelMixin) -> int:
    """How many data rows the chart's spec carries to the browser."""
    spec = chart.to_dict()
    return sum(len(v) for v in spec.get("datasets", {}).values())


def subtitle(chart: alt.TopLevelMixin) -> str:
    title = chart.to_dict().get("title", {})
    return title.get("subtitle", "") if isinstance(title, dict) else ""


# -- at most MAX_ROWS, whatever the size ---------------------------------------------


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    return synthetic(400_000)


@pytest.mark.parametrize("build", [
    lambda f: charts.rate(f),
    lambda f: charts.rate(f, on="time", every="1s"),  # far too fine: coarsened
    lambda f: charts.arrivals(f, last="30d"),
    lambda f: charts.timeline(f, limit=200),
    lambda f: charts.timeline(f, keys=f["key"].unique().head(500).to_list(), limit=500),
    lambda f: charts.field_over_time(f, "fare"),
    lambda f: charts.field_over_time(f, "fare", by="type"),
    lambda f: charts.lag(f),
    lambda f: charts.schema_versions(f),
    lambda f: charts.totals(f, top=10_000),
    lambda f: charts.values(f, "fare", by="type", bins=400),
], ids=["rate", "rate-every", "arrivals", "timeline", "timeline-keys", "field", "field-by",
        "lag", "schema", "totals", "values"])
def test_no_chart_sends_more_than_max_rows(big, build):
    assert rows_sent(build(big)) <= charts.MAX_ROWS


def test_binning_is_told(big):
    assert "binned" in subtitle(charts.field_over_time(big, "fare"))
    assert "binned" in subtitle(charts.lag(big))
    crowded = synthetic(100_000, keys=100)
    timeline = charts.timeline(crowded, limit=100)
    assert "binned" in timeline.title.subtitle
    assert rows_sent(timeline) <= charts.MAX_ROWS
    rate = charts.rate(big)
    assert f"{big.height:,} events in" in subtitle(rate) and "per" in subtitle(rate)
    assert "binned" not in subtitle(charts.field_over_time(big.head(50), "fare"))


# -- each chart says what the data says ----------------------------------------------


def test_rate_counts_every_event_and_has_a_brush():
    events = sample_events()
    chart = charts.rate(events)
    timed = events.to_polars()["event_time"].drop_nulls().len()
    assert chart.data["count"].sum() == timed
    params = chart.to_dict()["params"]
    assert params[0]["name"] == "brush" and params[0]["select"]["encodings"] == ["x"]
    t0, t1 = START + dt.timedelta(hours=3), START + dt.timedelta(hours=9)
    placed = charts.rate(events, brush_range=(t0, t1)).to_dict()["params"][0]["value"]
    assert placed["x"][0] == {"year": 2026, "month": 11, "date": 1, "hours": 3, "minutes": 0,
                              "seconds": 0, "milliseconds": 0, "utc": True}
    assert "params" not in charts.rate(events, brush=False).to_dict()


def test_rate_on_an_empty_frame_is_a_chart():
    empty = pl.DataFrame(schema={k: ENVELOPE_SCHEMA[k] for k in ("seq", "type", "event_time")})
    assert subtitle(charts.rate(empty)) == "no events"


def test_timeline_draws_the_entities_asked_for_with_their_lifecycle():
    events = sample_events()
    chart = charts.timeline(events, keys=["ride-000004", "ride-000010"])
    lives, marks = chart.layer[0].data, chart.layer[1].data
    assert sorted(lives["key"].to_list()) == ["ride-000004", "ride-000010"]
    frame = events.to_polars().filter(pl.col("key").is_in(["ride-000004", "ride-000010"])
                                      & pl.col("event_time").is_not_null())
    assert marks.height == frame.height
    last = frame.sort("seq").group_by("key").agg(pl.col("type").last()).sort("key")
    assert lives.sort("key")["state"].to_list() == last["type"].to_list()


def test_field_over_time_points_then_bins():
    events = sample_events()
    fares = events.of_type("trip_completed")["fare"].drop_nulls()
    binned = charts.field_over_time(events, "fare", event_type="trip_completed")
    assert "binned" in subtitle(binned)
    layer = binned.data
    assert layer["count"].sum() == fares.len()
    assert layer["max"].max() == fares.max() and layer["min"].min() == fares.min()
    points = charts.field_over_time(events, "fare", event_type="trip_completed",
                                    max_points=10_000)
    assert points.data.height == fares.len()
    with pytest.raises(KeyError, match="no column 'nope'"):
        charts.field_over_time(events, "nope")


def test_lag_is_time_minus_event_time():
    at = START
    frame = pl.DataFrame({"time": [at + dt.timedelta(seconds=s) for s in (2, 4, 70)],
                          "event_time": [at, at + dt.timedelta(seconds=1), at]})
    data = charts.lag(frame, every="1m").data
    assert data.filter(pl.col("statistic") == "max")["lag_s"].item() == 70.0
    assert data.filter(pl.col("statistic") == "p50")["lag_s"].item() == 3.0


def test_schema_versions_find_the_payment_switch():
    from eventkit.sample import SHIPPED_ARGS, payment_schema_switch

    data = charts.schema_versions(sample_events()).data
    payments = data.filter(pl.col("type") == "payment_captured").sort("first")
    assert payments["version"].to_list() == ["v1", "v2"]
    assert "amount_cents" in payments["fields"][1] and "amount_cents" not in payments["fields"][0]
    switch = payment_schema_switch(SHIPPED_ARGS["start"], SHIPPED_ARGS["days"])
    assert payments["first"][1] >= switch > payments["last"][0] - dt.timedelta(minutes=5)
    assert data.filter(pl.col("type") != "payment_captured")["version"].unique().to_list() \
        == ["v1"]


def test_integrity_chart_from_a_report_shape():
    late = pl.DataFrame({"late_by": [dt.timedelta(seconds=s) for s in (1, 5, 30)]})
    report = SimpleNamespace(
        stream="RIDES", missing=2, kept=0, behind=5,
        gaps=pl.DataFrame({"messages": [3, 2], "reason": ["deleted", "missing"]},
                          schema={"messages": pl.UInt64, "reason": pl.String}),
        duplicates=pl.DataFrame({"events": [2, 3]}), malformed=pl.DataFrame({"seq": [1]}),
        late=late)
    chart = charts.integrity(report)
    findings = dict(chart.hconcat[0].data.select("finding", "events").iter_rows())
    assert findings == {"missing from the store": 2, "gap: deleted": 3, "gap: missing": 2,
                        "duplicate Nats-Msg-Id": 5, "malformed": 1, "late for their entity": 3,
                        "kept, dropped by the stream": 0, "not synced yet": 5}
    assert chart.hconcat[1].data["count"].sum() == 3
    charts.to_svg(chart)


@pytest.mark.integration
def test_integrity_chart_of_a_real_store(rides, server, tmp_path):
    import eventkit as ek

    with ek.connect(server.url) as conn:
        store = ek.Store(tmp_path / "store")
        store.sync(conn, "RIDES", progress=False)
        report = store.integrity(conn)
    chart = charts.integrity(report)
    findings = dict(chart.hconcat[0].data.select("finding", "events").iter_rows())
    assert findings["malformed"] == report.malformed.height > 0
    assert findings["late for their entity"] == report.late.height > 0
    assert "<svg" in charts.to_svg(chart)


# -- drawn offline ---------------------------------------------------------------------


def test_every_chart_draws_offline_as_svg():
    events = sample_events()
    for chart in (charts.rate(events), charts.timeline(events),
                  charts.field_over_time(events, "speed_kmh", by="type"), charts.lag(events),
                  charts.schema_versions(events), charts.totals(events),
                  charts.arrivals(events.to_polars(), last="10m"),
                  charts.values(events, "fare")):
        svg = charts.to_svg(chart)
        assert svg.startswith("<svg") and "mark" in svg


def test_importing_charts_draws_plain_charts_as_svg():
    assert alt.renderers.active == "svg"
    bundle = alt.renderers.get()(charts.totals(sample_events()).to_dict())
    assert "image/svg+xml" in bundle


def test_times_are_utc_on_every_axis():
    spec = json.dumps(charts.rate(sample_events()).to_dict())
    assert '"scale": {"type": "utc"}' in spec


def test_many_groups_are_lumped_into_other(big):
    chart = charts.rate(big)
    assert chart.data["type"].n_unique() == charts.MAX_GROUPS
    assert "(other)" in chart.data["type"].to_list()
    assert "smaller type groups drawn as (other)" in subtitle(chart)
    assert chart.data["count"].sum() == big.height
    by_key = charts.rate(big, by="key")  # 50,000 keys
    assert rows_sent(by_key) <= charts.MAX_ROWS


def test_windows_agree_with_the_query_layer():
    frame = synthetic(20_000, days=2, types=8)
    chart = charts.rate(frame, every="1h")
    expected = query.windows(frame, "1h", by="type", on="event_time")
    assert chart.data.height == expected.height
    assert chart.data["count"].sum() == frame.height
