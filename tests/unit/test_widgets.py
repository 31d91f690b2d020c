"""Widgets, driven by their traits as the browser drives them; what they show, checked against
the query layer; offline setup; the static fallback; nothing secret in their state."""

from __future__ import annotations

import datetime as dt
import json
import time

import altair as alt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ipywidgets.embed import embed_data

import eventkit as ek
from eventkit import query
from eventkit.widgets import Explorer, ReplayPlayer, TimeTravel, _views
from tests.samples import sample_events

END_TYPES = ["payment_captured", "payment_failed", "ride_cancelled"]
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def ms(value: dt.datetime) -> float:
    return value.timestamp() * 1000


def brush(explorer: Explorer, value: object) -> None:
    """What the browser sends when the brush moves (as the chart widget's JavaScript does)."""
    explorer.chart_view._vl_selections = {"brush": {"value": value, "store": []}}


def saved_state(widget: object) -> str:
    """Everything a saved notebook would keep of the widget (and its children), as JSON."""
    return json.dumps(embed_data(views=[widget])["manager_state"], default=str)


@pytest.fixture(scope="module")
def events() -> ek.Events:
    return sample_events()


@pytest.fixture(scope="module")
def timeline(events: ek.Events) -> pl.DataFrame:
    return events.wide().drop("headers", "data", "error")


# -- offline ---------------------------------------------------------------------------


def test_the_first_widget_makes_charts_load_vega_locally(events):
    explorer = Explorer(events)
    assert alt.JupyterChart._is_offline
    esm = explorer.chart_view._esm
    assert "esm.sh" not in esm and "https://" not in esm.split("\n", 5)[0]
    assert len(esm) > 500_000  # vega, vega-lite and vega-embed, bundled by vl-convert
    assert alt.renderers.active != "svg"  # the user's plain charts are left alone


def test_one_chart_widget_per_widget_updated_in_place(events):
    explorer = Explorer(events)
    view, spec = explorer.chart_view, explorer.chart_view.spec
    explorer.types = ("trip_completed",)
    assert explorer.chart_view is view and explorer.chart_view.spec != spec
    assert [c for c in explorer.children if isinstance(c, alt.JupyterChart)] == [view]


def test_a_chart_without_selections_is_redrawn_from_its_spec_unchecked(events, monkeypatch):
    """Altair's schema check of the whole spec runs for a widget's first chart and for charts
    with a selection; a chart with none, replacing one with none, is sent unchecked."""
    checked: list[bool] = []
    to_dict = alt.TopLevelMixin.to_dict

    def spy(self: alt.TopLevelMixin, *args: object, **kwargs: object) -> dict:
        checked.append(bool(kwargs.get("validate", True)))
        return to_dict(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(alt.TopLevelMixin, "to_dict", spy)
    travel = TimeTravel(events, end_types=END_TYPES)
    assert checked[0]  # the first chart
    checked.clear()
    travel.at = START + dt.timedelta(hours=5)
    assert checked and not any(checked)  # the chart and its parts, none checked
    assert travel.chart_view.spec == travel.chart.to_dict()  # the same spec, checked here
    explorer = Explorer(events)
    checked.clear()
    explorer.types = ("trip_completed",)  # a chart with a brush: altair's own path
    assert checked[0] and explorer.chart_view.selections.brush is not None


# -- Explorer ----------------------------------------------------------------------------


def test_explorer_brush_selects_a_time_range(events):
    explorer = Explorer(events)
    envelope = events.to_polars()
    assert explorer.matched == envelope.height
    t0, t1 = START + dt.timedelta(hours=6), START + dt.timedelta(hours=7)
    brush(explorer, {"window_start": [ms(t0), ms(t1)]})
    assert explorer.time_range == (t0, t1)
    expected = query.between(envelope, t0, t1, on="event_time")
    assert explorer.matched == expected.height == explorer.table.total
    assert explorer.selection["seq"].to_list() == expected["seq"].to_list()
    assert [int(r[0]) for r in explorer.table.rows] == expected["seq"].head(20).to_list()
    assert "events selected: 2026-11-01 06:00:00.000 .. 2026-11-01 07:00:00.000" in \
        explorer.status.value
    brush(explorer, {"window_start": ["2026-11-01T06:00:00.000Z", "2026-11-01T06:30:00.000Z"]})
    assert explorer.time_range == (t0, t0 + dt.timedelta(minutes=30))
    brush(explorer, {})  # a double click clears the brush
    assert explorer.time_range == (None, None) and explorer.matched == envelope.height


def test_explorer_time_range_from_python_moves_the_brush(events):
    explorer = Explorer(events)
    t0, t1 = START + dt.timedelta(hours=1), START + dt.timedelta(hours=2)
    explorer.time_range = (t1, t0)  # either order
    assert explorer.time_range == (t0, t1)
    value = explorer.chart_view.spec["params"][0]["value"]["x"]
    assert (value[0]["hours"], value[1]["hours"]) == (1, 2)
    # the redrawn chart first reports no brush, then its brush: the range stays
    brush(explorer, {})
    assert explorer.time_range == (t0, t1)
    with pytest.raises(ek.TimeArgumentError, match="no time zone"):
        explorer.time_range = (dt.datetime(2026, 11, 1), None)
    with pytest.raises(ek.ConfigurationError, match="two times"):
        explorer.time_range = (t0,)


def test_explorer_filters_sort_page_and_detail(events):
    explorer = Explorer(events, page_size=5)
    envelope = events.to_polars()
    explorer.type_filter.value = ("trip_completed", "ride_cancelled")  # the browser's picks
    explorer.subject_filter.value = "rides.paris.*"
    expected = envelope.filter(pl.col("type").is_in(["trip_completed", "ride_cancelled"])
                               & pl.col("subject").str.starts_with("rides.paris."))
    assert explorer.matched == expected.height
    explorer.table.sort_by = "key"  # a click on a header
    explorer.table.descending = True
    explorer.table.page = 2
    assert (explorer.sort_by, explorer.descending, explorer.page) == ("key", True, 2)
    want = expected.sort(["key", "seq"], descending=[True, False]).slice(10, 5)
    assert [int(r[0]) for r in explorer.table.rows] == want["seq"].to_list()
    explorer.table.selected = 1  # a click on a row
    assert explorer.selected_seq == want["seq"][1]
    assert "payload (" in explorer.detail.value and "ride_id" in explorer.detail.value
    explorer.key_filter.value = want["key"][1]
    assert set(explorer.selection["key"]) == {want["key"][1]}
    explorer.table.page = 10_000  # past the end: the last page
    assert explorer.page == explorer.table.page == 0


def test_explorer_shows_malformed_events_and_headers(events):
    explorer = Explorer(events)
    bad = events.malformed()["seq"][0]
    explorer.selected_seq = bad
    assert "did not decode" in explorer.detail.value
    with_headers = events.to_polars().filter(pl.col("headers").is_not_null())["seq"][0]
    explorer.selected_seq = with_headers
    assert "Nats-Msg-Id" in explorer.detail.value


def test_explorer_takes_a_lazy_frame_and_a_store_like_object(events):
    envelope = events.to_polars()
    assert Explorer(envelope.lazy()).matched == envelope.height

    class StoreLike:  # what eventkit.Store offers: scan(), types, of_type()
        def __init__(self) -> None:
            self.types = {t: 0 for t in events.types}

        def scan(self) -> pl.LazyFrame:
            return envelope.lazy()

        def of_type(self, name: str) -> pl.LazyFrame:
            return events.of_type(name).lazy()

    frames = _views.frames_of(StoreLike())
    assert frames.payload.height == envelope.height
    assert frames.payload.filter(pl.col("type") == "trip_completed")["fare"].null_count() < 50
    assert Explorer(StoreLike()).matched == envelope.height


# -- TimeTravel ----------------------------------------------------------------------


def test_timetravel_states_match_the_query_layer(events, timeline):
    travel = TimeTravel(events, end_types=END_TYPES)
    for hours in (0.5, 7, 23.9, 40):
        at = START + dt.timedelta(hours=hours)
        travel.at = at
        expected = query.state_at(timeline, at, on="event_time", fields=[])
        assert travel.entities == expected.height
        assert travel.states.sort("key").equals(expected.select(travel.states.columns))
        first = travel.state_table.rows[0]
        full = query.state_at(timeline.filter(pl.col("key") == first[0]), at, on="event_time")
        assert first[:3] == [full["key"][0], full["type"][0], str(full["seq"][0])]
        assert travel.state_of(first[0]) == full.row(0, named=True)


def test_timetravel_changes_match_a_full_diff(events, timeline):
    travel = TimeTravel(events, end_types=END_TYPES, at=START + dt.timedelta(hours=10))
    t1, t2 = travel.at, START + dt.timedelta(hours=11)
    travel.at = t2
    assert travel.previous == t1
    full = query.diff(timeline.select(pl.col("type").alias("type_"), pl.all()), t1, t2,
                      on="event_time", end_types=END_TYPES)
    assert travel.changes.equals(full.with_columns(  # the widget says "type" for type_
        pl.col("fields").list.eval(pl.element().replace("type_", "type")),
        *(pl.col(c).struct.rename_fields(["type", *full[c].struct.fields[1:]])
          for c in ("before", "after"))))
    assert f"{full.height:,} entities changed" in travel.changes_table.caption
    kinds = dict(full.group_by("change").len().iter_rows())
    assert f"{kinds['ended']:,} ended" in travel.summary
    travel.at = t1  # and back: the same entities, told as undone
    assert sorted(travel.changes["key"]) == sorted(full["key"])
    assert set(travel.changes["change"]) <= {"not yet created", "not yet ended", "changed"}
    assert "(moving back)" in travel.summary


def test_timetravel_slider_and_one_entity(events):
    travel = TimeTravel(events, end_types=END_TYPES, steps=100)
    assert travel.slider.value == 100 and travel.at == travel._last
    travel.slider.value = 50  # the browser moves the scrubber
    assert travel.at == travel._time_of(50) and travel.previous == travel._last
    travel.back_button.click()
    assert travel.slider.value == 49
    travel.key_filter.value = "ride-000004"
    assert travel.entities == 1 and travel.state_table.rows[0][0] == "ride-000004"
    assert "entity 'ride-000004' only" in travel.summary
    with pytest.raises(ek.TimeArgumentError):
        travel.at = dt.datetime(2026, 11, 1, 12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.sampled_from("abc")),
                min_size=1, max_size=40), st.integers(0, 32))
def test_last_events_is_state_at_without_fields(rows, minute):
    frame = pl.DataFrame(
        {"seq": list(range(1, len(rows) + 1)), "key": [f"k{k}" for k, _, _ in rows],
         "event_time": [START + dt.timedelta(minutes=m) for _, m, _ in rows],
         "type": [t for _, _, t in rows]},
        schema_overrides={"event_time": ek.ENVELOPE_SCHEMA["event_time"]})
    ordered = frame.sort("event_time", "seq")
    at = START + dt.timedelta(minutes=minute)
    known = query.as_of(ordered, at, on="event_time").height
    got = _views.last_events(ordered, _views.next_of_key(ordered), known)
    expected = query.state_at(frame, at, on="event_time", fields=[])
    assert got.sort("key").select(expected.columns).equals(expected)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.sampled_from("abc"),
                          st.sampled_from([None, 1.0, 2.0]), st.sampled_from([None, "x", "y"])),
                min_size=1, max_size=40), st.integers(0, 32), st.integers(0, 32),
       st.sampled_from(["time", "event_time"]))
def test_changes_between_is_a_diff_of_the_rows_crossed(rows, one, two, on):
    """A move's changes from the rows in between only, equal to a diff of two full states
    (late events, ties, fields set and unset, entities created and ended on the way)."""
    times = [START + dt.timedelta(minutes=m) for _, m, _, _, _ in rows]
    frame = pl.DataFrame(
        {"seq": list(range(1, len(rows) + 1)), "key": [f"k{k}" for k, *_ in rows],
         "time": times, "event_time": times, "type": [r[2] for r in rows],
         "fare": [r[3] for r in rows], "driver": [r[4] for r in rows]},
        schema_overrides={"time": ek.ENVELOPE_SCHEMA["time"],
                          "event_time": ek.ENVELOPE_SCHEMA["event_time"]})
    ordered = frame.sort(on, "seq")
    t1, t2 = sorted((START + dt.timedelta(minutes=one), START + dt.timedelta(minutes=two)))
    known = [query.as_of(ordered, t, on=on).height for t in (t1, t2)]
    got = _views.changes_between(ordered, *known, on=on, end_types=["c"])
    assert got.equals(query.diff(ordered, t1, t2, on=on, end_types=["c"]))


# -- ReplayPlayer (over eventkit.replay) --------------------------------------------------


def test_player_shows_the_projection_at_each_position(events, timeline):
    player = ReplayPlayer(events, tick=0.05)
    try:
        for seq in (1, 500, 20_000, int(timeline["seq"].max())):
            player.seek(seq)  # as the slider does
            player.wait_until(lambda seq=seq: player.run.position == seq and player.run.paused)
            player._render(force=True)
            assert player.position == seq and not player.playing
            expected = query.state_at(query.upto(timeline, seq), on="time")  # stream order
            assert player.run.state().select(expected.columns).equals(expected)
            counts = dict(player.chart.data.iter_rows())
            assert counts == dict(expected.group_by("type").len().iter_rows())
            assert f"(seq {seq:,})" in player.chart.title.subtitle
    finally:
        player.close()


def test_player_plays_pauses_steps_and_changes_speed(events):
    player = ReplayPlayer(events, speed=0, tick=0.05)  # 0: as fast as possible
    view = player.chart_view
    try:
        player.step_button.click()
        player.wait_until(lambda: player.events == 1)
        assert player.position == 1 and not player.playing
        player.play_button.value = True  # play from the browser
        player.wait_until(lambda: player.run.done and not player.playing)
        assert player.events == len(events) and "done" in player.status.value
        assert player.chart_view is view
        player.speed_menu.value = 60.0  # 60x the pace on event_time: slow
        player.play()  # from the end: starts again
        player.wait_until(lambda: 0 < player.events < 100 and player.playing)
        player.pause()
        assert player.run.paused and "paused" in player.status.value
        with pytest.raises(ek.ConfigurationError, match="at least 1"):
            player.step_size = 0
        with pytest.raises(ek.ConfigurationError, match="positive"):
            player.speed = -1
    finally:
        player.close()
    player.run._thread.join(2)
    assert not player.run._thread.is_alive()  # closing the player ends its replay


def test_player_takes_a_speed_set_before_the_first_play_and_says_when_a_click_restarts():
    at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)  # noqa: E731
    minutes = pl.DataFrame({"seq": list(range(1, 31)), "type": ["t"] * 30,
                            "key": [f"k{i % 3}" for i in range(30)], "subject": ["s"] * 30,
                            "time": [at(i) for i in range(30)],
                            "event_time": [at(i) for i in range(30)]})
    player = ReplayPlayer(minutes, speed=0, tick=0.05)  # built as fast as possible
    try:
        player.speed_menu.value = 60.0  # then set to 60x: one event a second
        player.play()
        player.wait_until(lambda: player.events >= 1)
        time.sleep(0.5)
        assert player.events <= 2, "the pace chosen before the first play was ignored"
        player.speed_menu.value = 0.0  # as fast as possible, from the next event on
        player.wait_until(lambda: player.run.done and not player.playing)
        assert player.events == 30
        assert player.play_button.description == "play again"  # never "play" at the end
    finally:
        player.close()


def test_player_with_a_fold_and_a_view(events, timeline):
    counted = ek.Fold(lambda n, event: {"events": n["events"] + 1}, {"events": 0})
    player = ReplayPlayer(events, counted, speed=0, tick=0.05,
                          view=lambda state: alt.Chart(state).mark_bar().encode(x="events:Q"))
    try:
        player.seek(100)
        player.wait_until(lambda: player.run.position == 100 and player.run.paused)
        player._render(force=True)
        keyed = timeline.filter((pl.col("seq") <= 100) & pl.col("key").is_not_null()).height
        assert player.chart.data["events"].sum() == keyed  # a Fold skips events of no entity
        assert player.table.columns == ["key", "events"]
    finally:
        player.close()


def test_explorer_pivot_tab_groups_the_selection(events):
    """The pivot follows the range and every filter; polars on the same rows is the oracle."""
    explorer = Explorer(events)
    try:
        assert explorer.pivot_view.value == ""  # not computed until its tab is opened
        explorer.tabs.selected_index = 1
        assert explorer.pivot().equals(events.pivot("type"))
        assert "trip_completed" in explorer.pivot_view.value
        explorer.types = ("trip_completed",)
        explorer.where = "fare > 20"
        explorer.pivot_by, explorer.pivot_sums = "city", ("fare",)
        wide = events.wide()
        oracle = (wide.filter(pl.col("type") == "trip_completed", pl.col("fare") > 20)
                  .group_by("city").agg(pl.len().alias("events"),
                                        pl.col("fare").sum().alias("fare_sum")))
        got = explorer.pivot()
        assert got.columns == ["city", "events", "fare_sum", "fare_mean"]
        assert got.select(oracle.columns).sort("city").equals(oracle.sort("city"))
        assert f"{explorer.matched:,} selected events in {got.height:,} groups by city" in (
            explorer.pivot_view.value)
        start = events.to_polars()["event_time"].sort()[events.to_polars().height // 2]
        explorer.time_range = (start, None)
        assert explorer.pivot()["events"].sum() == explorer.matched < oracle["events"].sum()
        with pytest.raises(ek.ConfigurationError, match="cannot pivot on 'nope'"):
            explorer.pivot_by = "nope"
        with pytest.raises(ek.ConfigurationError, match="cannot pivot on 'city'"):
            explorer.pivot_sums = ("city",)  # not a number
    finally:
        explorer.close()


def test_widget_misuse_raises_eventkit_errors(events):
    with pytest.raises(ek.ConfigurationError, match="expected events"):
        Explorer(42)
    with pytest.raises(ek.ConfigurationError, match="to travel through"):
        TimeTravel(events.to_polars().head(0))
    explorer = Explorer(events)
    try:
        with pytest.raises(ek.ConfigurationError, match="at least 1"):
            explorer.page_size = 0
    finally:
        explorer.close()


# -- the static fallback -----------------------------------------------------------------


def test_displayed_widget_is_followed_by_its_static_view(events, monkeypatch):
    """Two outputs: the widget view (its own output: a viewer with the saved widget state
    takes only that format of it), then the static view, hidden in a cell with the live
    widget."""
    import IPython.display

    shown: list[dict] = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False: shown.append(obj) if raw else None)
    for widget in (Explorer(events), TimeTravel(events, end_types=END_TYPES),
                   ReplayPlayer(events)):
        shown.clear()
        widget._ipython_display_()
        widget.close()
        assert len(shown) == 2
        live, static = shown
        assert "application/vnd.jupyter.widget-view+json" in live
        assert "text/html" not in live
        assert "eventkit-live" in widget._dom_classes
        assert list(static) == ["text/html"]
        page = static["text/html"]
        assert "static view" in page and '<img alt="chart" src="data:image/jpeg;base64,' in page
        assert "<table>" in page and ":has(.eventkit-live) .eventkit-static" in page
        assert len(page) < 300_000


# -- widgets that agree ------------------------------------------------------------------


def test_explorer_filter_keeps_the_brushed_range_and_its_axis(events):
    explorer = Explorer(events)
    t0 = START + dt.timedelta(hours=14, minutes=26, seconds=10)
    t1 = START + dt.timedelta(hours=21, minutes=12, seconds=33)
    brush(explorer, {"window_start": [ms(t0), ms(t1)]})
    domain = explorer.chart_view.spec["encoding"]["x"]["scale"]["domain"]
    explorer.types = ("payment_failed",)  # a type whose events end elsewhere
    spec = explorer.chart_view.spec
    assert explorer.time_range == (t0, t1)
    assert spec["encoding"]["x"]["scale"]["domain"] == domain  # the axis did not move
    value = spec["params"][0]["value"]["x"]
    assert (value[0]["hours"], value[0]["minutes"], value[1]["hours"], value[1]["minutes"]) == \
        (14, 26, 21, 12)
    # the redrawn chart reports no brush, then its brush rounded: the range stays exactly
    brush(explorer, {})
    brush(explorer, {"window_start": [ms(t0) + 0.4, ms(t1) - 0.3]})
    assert explorer.time_range == (t0, t1)
    explorer.types = ()
    assert explorer.time_range == (t0, t1)
    later = t1 + dt.timedelta(hours=1)
    brush(explorer, {"window_start": [ms(t0), ms(later)]})  # a real move still moves it
    assert explorer.time_range == (t0, later)


def test_explorer_filter_matching_nothing_clears_the_detail(events):
    explorer = Explorer(events)
    explorer.table.selected = 0
    assert explorer.selected_seq == 1 and "payload (" in explorer.detail.value
    explorer.key = "no-such-ride"
    assert explorer.matched == 0
    assert explorer.selected_seq is None and "payload (" not in explorer.detail.value
    assert explorer.detail.value == Explorer(events).detail.value  # the empty detail


def test_timetravel_key_narrows_the_chart(events):
    from eventkit.widgets import TimeTravel

    travel = TimeTravel(events)

    def charted() -> int:
        context = travel.chart.vconcat[0].layer[0]
        return int(context.data["count"].sum())

    everything = charted()
    travel.key = "ride-000042"
    mine = events.to_polars().filter(pl.col("key") == "ride-000042").height
    assert charted() == mine < everything
    travel.key = ""
    assert charted() == everything


def test_player_status_shows_the_clock_it_paces_by(events):
    player = ReplayPlayer(events, speed=0)
    try:
        player.step_size = 300
        player.step()
        player.wait_until(lambda: player.events >= 300)
        wide = events.to_polars()
        last = wide.filter(pl.col("seq") == player.position)["event_time"][0]
        shown = last.strftime("%Y-%m-%d %H:%M:%S")
        assert "event time (when it happened)" in player.status.value
        assert shown in player.status.value
    finally:
        player.close()


# -- browsing features in the Explorer -------------------------------------------------------


def test_explorer_search_by_content(events):
    explorer = Explorer(events)
    explorer.where_filter.value = "fare > 50"  # typed in the browser
    want = events.filter("fare > 50").to_polars()
    assert explorer.matched == want.height > 0
    assert explorer.selection["seq"].to_list() == want["seq"].to_list()
    assert "where fare &gt; 50" in explorer.status.value
    explorer.where = "tip > 1"  # a field these events lack: said, nothing else changes
    assert "tip" in explorer.message.value and explorer.matched == want.height
    explorer.where = ""
    assert explorer.matched == len(events) and explorer.message.value == ""


def test_explorer_exports_the_selection(events, tmp_path, monkeypatch):
    explorer = Explorer(events)
    explorer.types = ("payment_failed",)
    path = explorer.export(tmp_path / "failed.parquet")
    assert pl.read_parquet(path)["seq"].to_list() == explorer.selection["seq"].to_list()
    monkeypatch.chdir(tmp_path)
    explorer.export_format.value = "jsonl"
    explorer.export_button.click()
    written = list((tmp_path / "eventkit-export").glob("selection-*.jsonl"))
    assert len(written) == 1 and str(written[0].name) in explorer.message.value
    assert len(written[0].read_text().splitlines()) == explorer.matched == 76


def test_explorer_jumps_to_a_sequence_or_a_time(events):
    explorer = Explorer(events, page_size=10)
    explorer.jump_box.value = "12,345"
    assert explorer.selected_seq == 12_345 and explorer.sort_by == "seq"
    assert explorer.page == 12_344 // 10 and "12345" in [r[0] for r in explorer.table.rows]
    assert '"seq": 12345' in explorer.detail.value or "12345" in explorer.detail.value
    envelope = events.to_polars()
    at = START + dt.timedelta(hours=5)
    explorer.jump_box.value = "2026-11-01T05:00Z"
    first = envelope.filter(pl.col("event_time") >= at).sort("event_time", "seq")["seq"][0]
    assert explorer.selected_seq == first and explorer.sort_by == "event_time"
    explorer.types = ("payment_failed",)
    assert explorer.jump(12_345) is None and "not in the selection" in explorer.message.value
    explorer.jump_box.value = "yesterday"
    assert "cannot go to" in explorer.message.value


def test_explorer_shows_one_entity_history(events):
    explorer = Explorer(events)
    explorer.key = "ride-000042"
    steps = events.history("ride-000042")
    assert f"history of ride-000042: {steps.height:,} events" in explorer.history.value
    assert "city: ∅ → " in explorer.history.value
    explorer.key = ""
    assert explorer.history.value == ""
