"""Time to the nanosecond: epochs, time arguments, microsecond bounds, durations.

Oracles are plain integers: every time is compared as nanoseconds since the
epoch, never through a float or a ``datetime``.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventkit as ek
from eventkit import query
from eventkit._time import Duration, Instant, cutoff, to_duration, to_instant, to_position
from eventkit.envelope import TIME, parse_times
from eventkit.exceptions import TimeArgumentError
from eventkit.schema import versions_over_time
from eventkit.widgets import _views
from tests.eventually import eventually

NOON_NS = 1_793_534_400 * 10**9  # 2026-11-01T12:00:00Z
UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# the magnitudes parse_times reads as each unit
RANGES = {"s": (0, 10**11 - 1), "ms": (10**11, 10**14 - 1), "us": (10**14, 10**17 - 1),
          "ns": (10**17, 2**63 - 1)}


def ns_of(series: pl.Series) -> list[int | None]:
    return series.dt.epoch("ns").to_list()


def frame_at(ns: list[int], **columns: list) -> pl.DataFrame:
    times = pl.Series(ns, dtype=pl.Int64).cast(TIME)
    return pl.DataFrame({"seq": list(range(1, len(ns) + 1)), "time": times,
                         "event_time": times, **columns}).with_columns(
        pl.col("seq").cast(pl.UInt64))


# -- 1. integer epochs of any unit are exact ------------------------------------------------


def test_an_epoch_in_milliseconds_is_exact():
    assert ns_of(parse_times(pl.Series(["1774740600650"]))) == [1_774_740_600_650_000_000]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(UNITS)).flatmap(
    lambda unit: st.tuples(st.just(unit), st.integers(*RANGES[unit]))),
    st.sampled_from(["", "-", " "]))
def test_integer_epochs_of_every_unit_convert_exactly(unit_and_value, prefix):
    unit, value = unit_and_value
    expected = value * UNITS[unit] * (-1 if prefix == "-" else 1)
    if not -(2**63) <= expected < 2**63:
        return  # past what Datetime(ns) holds
    assert ns_of(parse_times(pl.Series([f"{prefix}{value}"]))) == [expected]


def test_decimal_epochs_are_exact():
    assert ns_of(parse_times(pl.Series(["1774740600.650", "1774740600650.5"]))) == [
        1_774_740_600_650_000_000, 1_774_740_600_650_500_000]


def test_non_ascii_digits_are_not_an_epoch():
    assert parse_times(pl.Series(["١٧٧٤٧٤٠٦٠٠"])).to_list() == [None]


def test_a_tie_between_an_iso_time_and_an_epoch_goes_to_the_higher_sequence():
    raw = pl.Series(["2026-03-28T23:30:00.650Z", "1774740600650"])
    events = pl.DataFrame({
        "seq": pl.Series([1, 2], dtype=pl.UInt64),
        "time": pl.Series([NOON_NS, NOON_NS + 1]).cast(TIME),
        "event_time": parse_times(raw), "type": ["s", "s"], "key": ["k", "k"],
        "status": ["a", "b"]})
    assert query.state_at(events, on="event_time")["status"].to_list() == ["b"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**62), st.integers(1, 9))
def test_iso_times_keep_every_fraction_digit(ns, digits):
    seconds, frac = divmod(ns, 10**9)
    frac -= frac % 10 ** (9 - digits)
    whole = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    if whole.year > 2262:
        return
    text = whole.strftime("%Y-%m-%dT%H:%M:%S") + "." + f"{frac:09d}"[:digits] + "Z"
    assert ns_of(parse_times(pl.Series([text]))) == [seconds * 10**9 + frac]
    assert to_instant(text).ns == seconds * 10**9 + frac


# -- 2. time arguments keep their nanoseconds ------------------------------------------------

BOUND = "2026-11-01T12:00:00.000000500Z"
NS_BOUNDS = [
    BOUND,
    np.datetime64("2026-11-01T12:00:00.000000500", "ns"),
    pd.Timestamp(BOUND),
    pl.Series([NOON_NS + 500]).cast(TIME),
    Instant(NOON_NS + 500),
]


@pytest.mark.parametrize("bound", NS_BOUNDS, ids=["iso", "numpy", "pandas", "polars", "instant"])
def test_time_arguments_keep_nanoseconds(bound):
    events = frame_at([NOON_NS, NOON_NS + 300, NOON_NS + 999])
    assert to_instant(bound) == Instant(NOON_NS + 500)
    assert query.between(events, bound, None, on="time")["seq"].to_list() == [3]
    assert query.as_of(events, bound, on="time")["seq"].to_list() == [1, 2]
    assert query.as_of(events.lazy(), bound, on="event_time").collect()["seq"].to_list() == [1, 2]


times_ns = st.integers(NOON_NS - 5_000, NOON_NS + 5_000)


@settings(max_examples=200, deadline=None)
@given(st.lists(times_ns, min_size=1, max_size=20), times_ns, st.booleans())
def test_bounds_agree_with_integer_comparison(stamps, bound, lazy):
    stamps = sorted(stamps)  # transaction time never decreases along seq
    events = frame_at(stamps)
    frame = events.lazy() if lazy else events
    text = str(Instant(bound))

    def run(result):
        return (result.collect() if lazy else result)["seq"].to_list()

    numbered = list(enumerate(stamps, start=1))
    assert run(query.between(frame, text, None)) == [s for s, t in numbered if t >= bound]
    assert run(query.as_of(frame, text)) == [s for s, t in numbered if t <= bound]
    assert run(query.between(frame, None, text)) == [s for s, t in numbered if t < bound]


def test_naive_and_unknown_times_are_refused():
    with pytest.raises(TimeArgumentError, match="time zone"):
        to_instant(pd.Timestamp("2026-11-01T12:00:00"))
    with pytest.raises(TimeArgumentError, match="time zone"):
        to_instant(pl.Series([dt.datetime(2026, 11, 1)]))
    with pytest.raises(TimeArgumentError, match="ISO-8601"):
        to_instant("2026-11-01T12:00:00.0000000001Z")  # ten fraction digits
    with pytest.raises(TimeArgumentError, match="not a time"):
        to_instant(3.5)


# -- 3. a bound at microsecond precision covers its whole microsecond -----------------------


def test_cutoff_covers_a_microsecond_for_a_datetime_only():
    t = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    assert cutoff(to_instant(t), "<=") == NOON_NS + 999
    assert cutoff(to_instant(t), ">") == NOON_NS + 999
    assert cutoff(to_instant(t), ">=") == cutoff(to_instant(t), "<") == NOON_NS
    assert cutoff(to_instant(np.datetime64("2026-11-01T12:00:00", "ms")), "<=") == (
        NOON_NS + 999_999)
    assert cutoff(to_instant("2026-11-01T12:00:00Z"), "<=") == NOON_NS


@pytest.fixture
def picked():
    """Events whose times have nanoseconds, and a datetime taken from the table."""
    events = frame_at([NOON_NS + 100, NOON_NS + 1_250, NOON_NS + 1_999, NOON_NS + 2_000],
                      type=["t"] * 4, key=["k"] * 4, n=[1, 2, 3, 4],
                      subject=["s"] * 4)
    return events, events["time"][1]  # a Python datetime: 12:00:00.000001


def test_a_datetime_from_the_table_keeps_its_event_in_every_inclusive_bound(picked):
    events, t = picked
    assert events.filter(pl.col("time") <= t)["seq"].to_list() == [1, 2, 3]  # polars' answer
    for on in ("time", "event_time"):
        assert query.as_of(events, t, on=on)["seq"].to_list() == [1, 2, 3]
        assert query.as_of(events.lazy(), t, on=on).collect()["seq"].to_list() == [1, 2, 3]
        assert query.state_at(events, t, on=on)["n"].to_list() == [3]
        assert query.between(events, t, None, on=on)["seq"].to_list() == [2, 3, 4]
        assert query.between(events, None, t, on=on)["seq"].to_list() == [1]
    assert _views.between_positions(events, t, t + dt.timedelta(microseconds=1),
                                    on="time")["seq"].to_list() == [4]


def test_replay_and_events_keep_the_event_at_a_datetime_bound(picked):
    events, t = picked
    seen = ek.Replay(events, end=t).run(ek.Latest(), progress=False)
    assert seen["n"].to_list() == [3]
    start = ek.Replay(events, start=t)
    assert [int(s) for f in start.frames() for s in f["seq"]] == [2, 3, 4]


def test_replay_seek_to_a_datetime_keeps_its_microsecond(picked):
    events, t = picked
    run = ek.Replay(events).start(ek.Latest(), paused=True)
    try:
        run.seek(t)  # a seek ends paused at its target: wait for that, not for the end
        assert run.wait_until(lambda: run.paused and run.position == 3, timeout=10)
    finally:
        run.stop()



def test_replay_seek_back_to_a_snapshot_shows_the_time_reached_there(picked):
    """A seek that lands on a snapshot leaves ``time_reached`` the event's datetime."""
    events, _ = picked
    run = ek.Replay(events).start(ek.Latest(), snapshot_every=2, paused=True)
    try:
        run.step(2)  # a snapshot after the second event
        eventually(lambda: run.paused and run.position == 2)
        run.resume()
        assert run.wait(10)
        run.seek(2)  # back to that snapshot: nothing to play after it
        eventually(lambda: run.paused and run.position == 2)
        assert run.time_reached == events["time"][1]
        assert run.clock_reached == events["event_time"][1]
        assert f"time {events['time'][1].isoformat()}" in repr(run)
    finally:
        run.stop()

# -- 4. one duration grammar, exact -----------------------------------------------------------


def test_sessions_split_on_one_nanosecond_past_the_gap():
    ten = 600 * 10**9
    events = frame_at([NOON_NS, NOON_NS + ten, NOON_NS + 2 * ten + 1], key=["k"] * 3)
    assert query.sessions(events, "10m")["events"].to_list() == [2, 1]
    assert query.sessions(events, dt.timedelta(minutes=10))["events"].to_list() == [2, 1]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3_000), min_size=1, max_size=15), st.integers(0, 1_500))
def test_sessions_agree_with_integer_gaps(steps, gap):
    stamps, at = [], NOON_NS
    for step in steps:
        at += step
        stamps.append(at)
    events = frame_at(stamps, key=["k"] * len(stamps))
    expected = [1]
    for before, after in itertools.pairwise(stamps):
        if after - before > gap:
            expected.append(0)
        expected[-1] += 1
    assert query.sessions(events, f"{gap}ns")["events"].to_list() == expected


@pytest.mark.parametrize(("text", "ns"), [
    ("500ns", 500), ("1.5us", 1_500), ("1h30m", 5_400 * 10**9), ("0.000000001s", 1),
    ("2w", 14 * 86_400 * 10**9), ("250ms", 250_000_000)])
def test_durations_are_exact(text, ns):
    assert to_duration(text) == Duration(0, ns)


def test_calendar_durations_and_bad_ones():
    assert to_duration("1y1q1mo1d") == Duration(16, 86_400 * 10**9)
    for bad in ("1.5mo", "0.1ns", "5", "1 fortnight", "", "١s"):
        with pytest.raises(TimeArgumentError):
            to_duration(bad)


def test_one_grammar_for_windows_sessions_versions_and_positions():
    jan31 = int(dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC).timestamp()) * 10**9
    feb2 = int(dt.datetime(2026, 2, 2, tzinfo=dt.UTC).timestamp()) * 10**9
    events = frame_at([jan31, feb2], key=["k", "k"], type=["t", "t"],
                      data=[b"{}", b"{}"])
    starts = query.windows(events, "1mo")["window_start"].dt.month().to_list()
    assert starts == [1, 2]
    assert query.windows(events, "500ns")["count"].to_list() == [1, 1]
    assert query.sessions(events, "1mo")["events"].to_list() == [2]
    assert versions_over_time(events, "1mo")["count"].to_list() == [1, 1]
    now = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)
    assert str(to_position("1mo", now=now)) == "2026-02-28T00:00:00.000000000Z"
    assert to_position("500ns", now=Instant(NOON_NS)) == Instant(NOON_NS - 500)
    sliding = query.windows(events, "1mo", period="2mo")
    assert sliding["window_start"].dt.month().to_list() == [12, 1, 2]


# -- 5. one default clock ----------------------------------------------------------------------


def _clock_defaults() -> dict[str, object]:
    """Every ``on`` / ``pace_on`` parameter default of the public API, by where it is."""
    import inspect

    from eventkit import charts, events, replay, schema, widgets

    found: dict[str, object] = {}
    for module in (query, events, replay, charts, schema, widgets):
        for name in getattr(module, "__all__", dir(module)):
            thing = getattr(module, name)
            members = [thing] + ([m for k in thing.__mro__ if k.__module__.startswith("eventkit")
                                  for m in vars(k).values() if inspect.isfunction(m)]
                                 if inspect.isclass(thing) else [])
            for member in members:
                if not callable(member):
                    continue
                try:
                    params = inspect.signature(member).parameters
                except (TypeError, ValueError):
                    continue
                for p in ("on", "pace_on"):
                    if p in params and params[p].default is not inspect.Parameter.empty:
                        found[f"{module.__name__}.{getattr(member, '__qualname__', name)}"
                              f"({p})"] = params[p].default
    return found


def test_every_clock_default_of_the_api_is_event_time():
    defaults = _clock_defaults()
    assert len(defaults) >= 15, defaults  # queries, Events, Replay, charts, widgets, registry
    assert {k: v for k, v in defaults.items() if v != "event_time"} == {}


LATE = pl.DataFrame({
    "seq": pl.Series([1, 2, 3], dtype=pl.UInt64),
    "time": pl.Series([NOON_NS, NOON_NS + 300 * 10**9, NOON_NS + 360 * 10**9]).cast(TIME),
    # seq 2 is late: it happened before seq 1 but arrived after it
    "event_time": pl.Series([NOON_NS, NOON_NS - 120 * 10**9, NOON_NS + 10**9]).cast(TIME),
    "subject": ["r.r1"] * 3, "type": ["assigned", "requested", "located"],
    "key": ["r1"] * 3, "status": ["assigned", "requested", None],
})


def test_time_travel_and_state_at_answer_the_same_question():
    from eventkit.widgets import TimeTravel

    t = dt.datetime(2026, 11, 1, 12, 7, tzinfo=dt.UTC)
    travel = TimeTravel(LATE, at=t)
    assert travel.state_of("r1")["status"] == query.state_at(LATE, t)["status"][0] == "assigned"
    assert query.state_at(LATE, t, on="time")["status"][0] == "requested"  # the other clock
    assert "event time" in travel._title
    assert "event time" in travel._state_chart(
        travel.states.group_by("type").len("entities")).to_dict()["vconcat"][1]["title"]["text"]


def test_titles_name_their_clock():
    from eventkit import charts
    from eventkit.widgets import ReplayPlayer

    assert "event time" in charts.rate(LATE).title.text
    assert "server time" in charts.rate(LATE, on="time").title.text
    assert "server time" in charts.arrivals(LATE).title.text
    assert "event time" in charts.field_over_time(
        LATE.with_columns(n=pl.Series([1.0, 2.0, 3.0])), "n").title.text
    player = ReplayPlayer(LATE, tick=0.05)
    try:
        assert "stream order" in player._title
        assert "as they arrived" in player._chart(pl.DataFrame()).title.subtitle
    finally:
        player.close()


# -- properties: ties across forms, odd strings --------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4_000_000_000_000), st.sampled_from(["ms", "us", "ns"]),
       st.integers(1, 5))
def test_the_same_instant_in_any_form_is_a_tie_the_higher_sequence_wins(ms, unit, n):
    ns = ms * 10**6
    value = ns // UNITS[unit]
    whole, frac = divmod(ns, 10**9)
    iso = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=whole)).strftime(
        "%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"
    forms = [iso, str(value)] * n
    if not RANGES[unit][0] <= value <= RANGES[unit][1]:
        return  # parse_times reads the unit from the size
    times = parse_times(pl.Series(forms))
    assert set(ns_of(times)) == {ns}
    events = pl.DataFrame({
        "seq": pl.Series(range(1, len(forms) + 1), dtype=pl.UInt64),
        "time": pl.Series([NOON_NS] * len(forms)).cast(TIME), "event_time": times,
        "type": ["t"] * len(forms), "key": ["k"] * len(forms),
        "n": list(range(1, len(forms) + 1))})
    assert query.state_at(events)["n"].to_list() == [len(forms)]
    assert query.state_at(events, Instant(ns))["n"].to_list() == [len(forms)]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("0123456789-:.TtZz+ smhdwnuoqy\u09e8"), max_size=30))
def test_odd_strings_are_a_time_a_duration_a_sequence_or_a_clear_error(text):
    now = Instant(NOON_NS)
    try:
        got = to_position(text, now=now)
    except TimeArgumentError:
        return
    if isinstance(got, int):
        assert text.strip().isascii() and text.strip().isdigit() and got == int(text)
    else:
        assert isinstance(got, Instant)
        assert to_instant(str(got)).ns == got.ns  # its text reads back to the same instant
