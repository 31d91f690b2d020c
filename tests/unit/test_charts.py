"""Charts: aggregated in polars, never more than MAX_ROWS rows, binning told, drawn offline."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from types import SimpleNamespace

import altair as alt
import polars as pl
import pytest

import eventkit as ek
from eventkit import charts, query
from eventkit.envelope import ENVELOPE_SCHEMA, TIME
from eventkit.exceptions import ColumnNotFoundError
from tests.samples import sample_events

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


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
    binned = charts.field_over_time(events, "fare", event_type="trip_completed", max_points=100)
    assert all("binned" in subtitle(part) for part in binned.vconcat)  # one per currency
    layer = pl.concat([part.data for part in binned.vconcat])
    assert layer["count"].sum() == fares.len()
    assert layer["max"].max() == fares.max() and layer["min"].min() == fares.min()
    points = charts.field_over_time(events, "fare", event_type="trip_completed",
                                    max_points=10_000)
    assert sum(part.data.height for part in points.vconcat) == fares.len()
    with pytest.raises(ColumnNotFoundError, match="no column 'nope'"):
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
    late = pl.DataFrame({"lateness": [dt.timedelta(seconds=s) for s in (1, 5, 30)]})
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


def test_plain_charts_drawn_as_svg_on_request():
    before = alt.renderers.active
    try:
        charts.use_offline_renderer()
        assert alt.renderers.active == "svg"
        bundle = alt.renderers.get()(charts.totals(sample_events()).to_dict())
        assert "image/svg+xml" in bundle
    finally:
        alt.renderers.enable(before)


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


# -- what is drawn: marks read back from the SVG, not the data ----------------------------

def _frame_of(n_days: float, times: list[dt.timedelta], type_: str = "payment_failed"):
    return pl.DataFrame({
        "seq": range(1, len(times) + 1), "type": [type_] * len(times),
        "key": [f"r{i}" for i in range(len(times))],
        "event_time": [START + t for t in times], "time": [START + t for t in times],
    }, schema_overrides={"seq": pl.UInt64, "event_time": TIME, "time": TIME})


def test_rate_draws_nothing_in_empty_windows():
    # 76 rare events over two days (the sample's payment_failed): never a solid band
    from tests.drawing import draw

    rare = sample_events().to_polars().filter(pl.col("type") == "payment_failed")
    chart = charts.rate(rare)
    drawing = draw(chart)
    counts = chart.data
    plot_width, plot_height = drawing.plot_size
    windows = counts["window_start"].n_unique()
    span = (counts["window_end"].max() - counts["window_start"].min()).total_seconds()
    window_px = plot_width * (counts["window_end"][0] - counts["window_start"][0]
                              ).total_seconds() / span
    bars = drawing.bars
    assert len(bars) == counts.height == windows  # one bar per window with events, no more
    assert all(b.width <= window_px + 1 for b in bars)  # none spans an empty window
    assert sum(b.width for b in bars) < 0.5 * plot_width  # mostly empty: mostly blank
    assert all(abs(b.bottom - plot_height) < 0.5 for b in bars)  # from zero
    # one ride: one bar of one window, not a block
    one = draw(charts.rate(_frame_of(1, [dt.timedelta(hours=3)]), every="1m")).bars
    assert len(one) == 1 and one[0].height > 0


def test_arrivals_bars_are_stacked_from_zero():
    from tests.drawing import draw

    chart = charts.arrivals(sample_events().to_polars(), last="30m")
    drawing = draw(chart)
    _, plot_height = drawing.plot_size
    bars = drawing.bars
    assert len(bars) == chart.data.height > 30
    by_window: dict[float, list] = {}
    for bar in bars:
        by_window.setdefault(round(bar.x, 1), []).append(bar)
    for stack in by_window.values():
        stack.sort(key=lambda b: -b.bottom)
        assert abs(stack[0].bottom - plot_height) < 0.5  # the lowest stands on zero
        for lower, upper in itertools.pairwise(stack):
            assert abs(upper.bottom - lower.y) < 0.5  # each on the one below, no gap
        assert all(b.height >= 0.5 for b in stack)  # a count of 1 is a bar, not a sliver
    ticks = [float(t) for _, t in drawing.axis_ticks("y")]
    assert min(ticks) == 0  # the axis never goes below zero


def test_time_axes_use_the_24_hour_clock():
    from tests.drawing import draw

    times = [dt.timedelta(minutes=5 * i) for i in range(30)]  # 00:00 to 02:25
    frame = _frame_of(1, times)
    for chart in (charts.rate(frame), charts.timeline(frame), charts.lag(frame),
                  charts.arrivals(frame, last="3h"),
                  charts.field_over_time(frame.with_columns(fare=pl.lit(1.0)), "fare")):
        labels = [t for _, t in draw(chart).axis_ticks("x")]
        assert labels, chart
        assert any(t.startswith("00:") or t.startswith("01:") for t in labels), labels
        assert not any(t.startswith("12:") or "AM" in t or "PM" in t for t in labels), labels


def test_lag_chart_is_readable_on_the_sample():
    from tests.drawing import draw

    chart = charts.lag(sample_events().to_polars())
    drawing = draw(chart)
    _, height = drawing.plot_size
    ticks = sorted(y for y, _ in drawing.axis_ticks("y"))
    assert len(ticks) >= 3
    assert all(b - a >= 12 for a, b in itertools.pairwise(ticks))  # no overlap
    labels = {t for _, t in drawing.axis_ticks("y")}
    assert {"1 s", "10 s", "1 min"} <= labels  # round durations, said in words
    windows = chart.data["window_start"].n_unique()
    assert windows <= 150  # a line per statistic across ~100 windows, not 600
    # the median sits low and the maximum high: the lines are apart, not squashed at the top
    paths = re.findall(r'<path aria-label="[^"]*statistic: (p50|p95)[^"]*" '
                       r'role="graphics-symbol" aria-roledescription="line mark" d="([^"]*)"',
                       drawing.svg)
    ys = {s: [float(y) for y in re.findall(r"[ML][-\d.e]+,([-\d.e]+)", d)] for s, d in paths}

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    assert median(ys["p50"]) > 0.8 * height  # the typical lag (under a second) sits low
    assert median(ys["p50"]) - median(ys["p95"]) > 8  # and p95 is a separate line above it
    peaks = [b for b in re.findall(r'statistic: max', drawing.svg)]
    assert len(peaks) == windows  # the maximum, one tick per window


def test_a_field_with_a_currency_is_split_by_it_and_the_axis_says_it():
    from tests.drawing import draw

    fares = sample_events().of_type("trip_completed").with_columns(
        city=pl.col("subject").str.split(".").list.get(1))
    for chart in (charts.values(fares, "fare", by="city"), charts.field_over_time(fares, "fare"),
                  charts.field_over_time(sample_events(), "fare")):
        assert isinstance(chart, alt.VConcatChart)
        texts = draw(chart).texts
        assert "fare (EUR)" in texts and "fare (PLN)" in texts, texts
        assert "fare" not in texts  # no axis without its unit


def test_charts_split_by_unit_draw_each_group_in_its_own_colour():
    # the demo's fares: warsaw (PLN) alone in its chart was drawn in berlin's colour, since
    # the stacked charts shared one colour scale whose range came from the first chart
    from tests.drawing import draw

    fares = sample_events().of_type("trip_completed").with_columns(
        city=pl.col("subject").str.split(".").list.get(1))
    fills: dict[str, set[str]] = {}
    for bar in draw(charts.values(fares, "fare", by="city")).bars:
        city = re.search(r"city: ([a-z]+)", bar.label)[1]
        fills.setdefault(city, set()).add(bar.fill)
    assert "warsaw" in fills and len(fills) > 2, fills
    assert fills == {city: {charts.type_color(city)} for city in fills}


def test_one_type_one_colour_in_every_chart_and_under_filtering():
    from tests.drawing import draw

    env = sample_events().to_polars()
    few = env.filter(pl.col("type").is_in(["payment_failed", "trip_completed"]))
    fills: dict[str, set[str]] = {}
    for chart in (charts.rate(env), charts.rate(few), charts.arrivals(env, last="30m"),
                  charts.arrivals(few, last="6h")):
        for bar in draw(chart).bars:
            kind = re.search(r"type: ([a-z_]+)", bar.label)[1]
            fills.setdefault(kind, set()).add(bar.fill)
    assert all(len(f) == 1 for f in fills.values()), fills
    assert len({next(iter(f)) for f in fills.values()}) == len(fills)  # and types differ
    assert fills["payment_failed"] == {charts.type_color("payment_failed")}
    points = charts.timeline(env).to_dict()["layer"][1]["encoding"]["color"]["scale"]
    assert dict(zip(points["domain"], points["range"], strict=True))["trip_completed"] == \
        charts.type_color("trip_completed")


FRESH_SESSION = """
import json, sys
import altair as alt
before = alt.renderers.active
import eventkit.charts as c
colours = [c.type_color(n) for n in sys.argv[1:]]  # first: as the demo draws them
import eventkit.widgets, polars as pl
eventkit.widgets.Explorer(pl.DataFrame(
    {"seq": [1], "type": ["a"], "key": ["k"], "subject": ["s"], "time": [None],
     "event_time": [None]}, schema_overrides={"time": pl.Datetime("ns", "UTC"),
                                              "event_time": pl.Datetime("ns", "UTC")}))
print(json.dumps({"renderer": [before, alt.renderers.active], "colours": colours}))
"""


@pytest.fixture(scope="module")
def fresh_session() -> dict:
    """One fresh Python process, as a notebook starts one (a process costs seconds, so the
    tests of a fresh session share it): altair's renderer before eventkit's charts and
    widgets are imported and used and after, and the colours the sample's cities and
    types get there, in that order."""
    import subprocess
    import sys

    from eventkit.sample.rides import CITIES

    names = [*CITIES, "ride_requested", "driver_assigned", "trip_started", "trip_completed"]
    out = subprocess.run([sys.executable, "-c", FRESH_SESSION, *names], capture_output=True,
                         text=True, check=True)
    return {"names": names, "cities": len(CITIES), **json.loads(out.stdout)}


def test_importing_charts_leaves_altairs_renderer_alone(fresh_session):
    assert fresh_session["renderer"] == ["default", "default"]


def test_lag_axis_says_days_when_events_were_stored_long_after():
    from tests.drawing import draw

    month_late = sample_events().to_polars().with_columns(
        time=pl.col("event_time") + pl.duration(days=30, seconds=pl.col("seq") % 100))
    labels = [t for _, t in draw(charts.lag(month_late)).axis_ticks("y")]
    assert "30 d" in labels and "1 d" in labels


def test_every_error_a_user_can_cause_in_charts_is_an_eventkit_error():
    """A wrong input or a missing column is an EventkitError (a ConfigurationError, so a
    ValueError; a missing column also a KeyError), never a bare TypeError or KeyError."""
    events = sample_events()
    with pytest.raises(ek.ConfigurationError, match="expected events"):
        charts.rate(42)  # type: ignore[arg-type]
    for call in (lambda: charts.field_over_time(events, "nope"),
                 lambda: charts.rate(events.to_polars().drop("event_time"))):
        with pytest.raises(ColumnNotFoundError) as caught:
            call()
        assert isinstance(caught.value, ek.ConfigurationError | KeyError | ValueError)
        assert str(caught.value).startswith("no column")  # not quoted as a KeyError's repr


def test_names_in_one_session_get_colours_that_do_not_look_alike(fresh_session):
    # in a fresh process, as the demo draws them: the sample's cities, then its types
    names, colours = fresh_session["names"], fresh_session["colours"]
    assert len(set(colours)) == len(names)
    # CIE76 differences computed here from sRGB (D65) without eventkit's helper
    def lab(hex_colour: str) -> tuple[float, ...]:
        rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in rgb)
        xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
               0.2126 * r + 0.7152 * g + 0.0722 * b,
               (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
        fx, fy, fz = (v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in xyz)
        return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)
    cities = colours[:fresh_session["cities"]]  # the first eight names drawn: none alike
    closest = min(sum((p - q) ** 2 for p, q in zip(lab(a), lab(b), strict=True)) ** 0.5
                  for i, a in enumerate(cities) for b in cities[i + 1:])
    assert closest >= 30, (closest, dict(zip(names, colours, strict=True)))
