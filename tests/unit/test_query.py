"""The temporal query layer against brute-force oracles.

Each oracle loops over events one by one in plain Python; hypothesis draws
histories with ties in time, late and missing event times, missing fields and
events without a key, and checks that every query agrees with its oracle.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections import defaultdict
from typing import Any, get_args

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventkit import query
from eventkit._typing import TimeColumn
from eventkit.envelope import TIME
from eventkit.exceptions import ConfigurationError, TimeArgumentError

BASE = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
KEYS = ["a", "b", "c"]
TYPES = ["created", "updated", "located", "picked", "ended"]
FIELDS = ["status", "fare", "driver"]
SCHEMA = {
    "seq": pl.UInt64(),
    "subject": pl.String(),
    "time": TIME,
    "type": pl.String(),
    "key": pl.String(),
    "event_time": TIME,
    "status": pl.String(),
    "fare": pl.Int64(),
    "driver": pl.String(),
}
EXAMPLES = settings(max_examples=100, deadline=None)

Row = dict[str, Any]


# -- histories ----------------------------------------------------------------------


# The strategies of one event's parts, built once (a strategy made inside the loop is
# built and validated again at every draw: most of what drawing a history cost).
_SEQ_STEPS = st.integers(1, 3)
_PAUSES = st.sampled_from([0, 0, 20, 60, 90, 420])
_HAPPENED = st.one_of(  # (relative to its arrival?, seconds)
    st.none(),
    st.sampled_from([-360, -60, 0, 0, 30]).map(lambda lag: (True, lag)),
    st.integers(0, 10).map(lambda minute: (False, 60 * minute)),  # ties across entities
)
_TYPES = st.sampled_from(TYPES)
_KEYS = st.sampled_from([*KEYS, None])
_STATUSES = st.sampled_from([None, None, "open", "busy"])
_FARES = st.sampled_from([None, None, 0, 5])
_DRIVERS = st.sampled_from([None, *KEYS])


@st.composite
def histories(draw: st.DrawFn, max_size: int = 24) -> list[Row]:
    """Events in stream order: time never decreases (ties are common); event
    times are missing, late or early; payload fields are often missing."""
    rows, seq, second = [], 0, 0
    for _ in range(draw(st.integers(0, max_size))):
        seq += draw(_SEQ_STEPS)
        second += draw(_PAUSES)
        happened = draw(_HAPPENED)
        kind = draw(_TYPES)
        rows.append({
            "seq": seq,
            "subject": f"rides.{kind}",
            "time": BASE + second * SECOND,
            "type": kind,
            "key": draw(_KEYS),
            "event_time": None if happened is None else
            BASE + (second * happened[0] + happened[1]) * SECOND,
            "status": draw(_STATUSES),
            "fare": draw(_FARES),
            "driver": draw(_DRIVERS),
        })
    return rows


def frame(rows: list[Row], lazy: bool) -> Any:
    df = pl.DataFrame(rows, schema=SCHEMA)
    return df.lazy() if lazy else df


def collect(result: pl.DataFrame | pl.LazyFrame, lazy: bool) -> pl.DataFrame:
    assert isinstance(result, pl.LazyFrame if lazy else pl.DataFrame)
    return result.collect() if isinstance(result, pl.LazyFrame) else result


def positions(rows: list[Row]) -> st.SearchStrategy[int | dt.datetime]:
    """A sequence, or a time: often exactly an event's time, to hit the ties."""
    last = rows[-1]["seq"] if rows else 0
    times = [r["time"] for r in rows] + [r["event_time"] for r in rows if r["event_time"]]
    moments = st.integers(-400, 4000).map(lambda s: BASE + s * SECOND)
    return st.one_of(
        st.integers(0, last + 2),
        moments,
        st.sampled_from(times) if times else moments,
    )


clocks: st.SearchStrategy[TimeColumn] = st.sampled_from(["time", "event_time"])


# -- oracles: one event at a time -----------------------------------------------------


def holds(row: Row, position: int | dt.datetime, on: str, op: Any) -> bool:
    value = row["seq"] if isinstance(position, int) else row[on]
    return value is not None and op(value, position)


def fold_order(rows: list[Row], on: str) -> list[Row]:
    """Events with an entity and an ``on`` time, in (on, seq) order."""
    events = [r for r in rows if r["key"] is not None and r[on] is not None]
    return sorted(events, key=lambda r: (r[on], r["seq"]))


def oracle_state(
    rows: list[Row], t: Any, on: str, fold: Any = "merge", initial: Any = None
) -> list[Row]:
    known = [r for r in rows if t is None or holds(r, t, on, operator.le)]
    states: dict[str, Row] = {}
    for event in fold_order(known, on):
        k = event["key"]
        meta = {"key": k, "seq": event["seq"], on: event[on], "type": event["type"]}
        if callable(fold):
            before = states[k]["state"] if k in states else initial
            states[k] = {**meta, "state": fold(before, event)}
            continue
        state = states.setdefault(k, dict.fromkeys(FIELDS))
        state.update(meta)
        for f in FIELDS:
            if fold == "last" or event[f] is not None:
                state[f] = event[f]
    if callable(fold):
        return [
            {**{c: v for c, v in s.items() if c != "state"}, **s["state"]}
            for s in (states[k] for k in sorted(states))
        ]
    return [{c: states[k][c] for c in ("key", "seq", on, "type", *FIELDS)} for k in sorted(states)]


def oracle_diff(rows: list[Row], t1: Any, t2: Any, on: str, ends: list[str]) -> list[Row]:
    old = {s["key"]: s for s in oracle_state(rows, t1, on)}
    out = []
    for new in oracle_state(rows, t2, on):
        before = old.get(new["key"])
        values = {f: before[f] for f in FIELDS} if before else None
        changed = [f for f in FIELDS if (values or {}).get(f) != new[f]]
        if new["type"] in ends and not (before and before["type"] in ends):
            change = "ended"
        elif before is None:
            change = "created"
        elif changed:
            change = "changed"
        else:
            continue
        after = {f: new[f] for f in FIELDS}
        out.append({"key": new["key"], "change": change, "fields": changed,
                    "before": values, "after": after})
    return out


def nulls_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else "")


def oracle_windows(
    rows: list[Row], every: dt.timedelta, period: dt.timedelta, by: list[str], on: str
) -> list[Row]:
    count: dict[tuple[Any, ...], int] = defaultdict(int)
    fares: dict[tuple[Any, ...], int] = defaultdict(int)
    step, length = every // SECOND, period // SECOND
    for event in rows:
        if event[on] is None:
            continue
        x = (event[on] - EPOCH) // SECOND
        for k in range(math.floor((x - length) / step) - 1, x // step + 2):
            if k * step <= x < k * step + length:
                group = (k * step, *(event[b] for b in by))
                count[group] += 1
                fares[group] += event["fare"] or 0
    out = []
    for group in sorted(count, key=lambda g: (g[0], *map(nulls_first, g[1:]))):
        start = EPOCH + group[0] * SECOND
        out.append({"window_start": start, "window_end": start + period,
                    **dict(zip(by, group[1:], strict=True)),
                    "count": count[group], "fares": fares[group]})
    return out


def oracle_sessions(rows: list[Row], gap: dt.timedelta, on: str) -> list[Row]:
    out: dict[str, list[Row]] = defaultdict(list)
    for event in fold_order(rows, on):
        runs = out[event["key"]]
        if runs and event[on] - runs[-1]["end"] <= gap:
            runs[-1]["end"] = event[on]
            runs[-1]["events"] += 1
        else:
            runs.append({"key": event["key"], "session": len(runs) + 1,
                         "start": event[on], "end": event[on], "events": 1})
    return [{**s, "duration": s["end"] - s["start"]} for k in sorted(out) for s in out[k]]


def oracle_durations(rows: list[Row], begin: str, finish: str, on: str) -> list[Row]:
    cycles: list[Row] = []
    open_cycle: dict[str, Row] = {}
    for event in fold_order(rows, on):
        k = event["key"]
        if event["type"] == begin and k not in open_cycle:
            open_cycle[k] = {"key": k, "start": event[on], "end": None, "duration": None,
                             "start_seq": event["seq"], "end_seq": None}
            cycles.append(open_cycle[k])
        elif event["type"] == finish and k in open_cycle:
            cycle = open_cycle.pop(k)
            cycle.update(end=event[on], duration=event[on] - cycle["start"],
                         end_seq=event["seq"])
    return sorted(cycles, key=lambda c: (c["key"], c["start_seq"]))


def oracle_join(
    rows: list[Row], left_type: str, right_type: str, by: tuple[str | None, str | None], on: str
) -> list[Row]:
    left_by, right_by = by
    out = []
    for left in (r for r in rows if r["type"] == left_type):
        match = None
        for right in (r for r in rows if r["type"] == right_type):
            if left[on] is None or right[on] is None:
                continue
            if left_by is not None and (
                left[left_by] is None or left[left_by] != right[right_by or left_by]
            ):
                continue
            if (right[on], right["seq"]) < (left[on], left["seq"]) and (
                match is None or (right[on], right["seq"]) > (match[on], match["seq"])
            ):
                match = right
        out.append({"seq": left["seq"], "seq_right": match and match["seq"],
                    f"{on}_right": match and match[on],
                    "status_right": match and match["status"],
                    "fare_right": match and match["fare"]})
    return out


def oracle_late(rows: list[Row], by_entity: bool) -> list[Row]:
    seen: dict[Any, dt.datetime] = {}
    out = []
    for event in rows:
        if by_entity and event["key"] is None:
            continue
        entity = event["key"] if by_entity else None
        mark, when = seen.get(entity), event["event_time"]
        if when is not None and mark is not None and when < mark:
            out.append({"seq": event["seq"], "seen_event_time": mark, "lateness": mark - when})
        if when is not None and (mark is None or when > mark):
            seen[entity] = when
    return out


# -- properties -----------------------------------------------------------------------


@EXAMPLES
@given(data=st.data(), rows=histories(), lazy=st.booleans(), on=clocks)
def test_between_as_of_upto(
    data: st.DataObject, rows: list[Row], lazy: bool, on: TimeColumn
) -> None:
    t0, t1 = data.draw(st.one_of(st.none(), positions(rows))), data.draw(positions(rows))
    events = frame(rows, lazy)

    got = collect(query.between(events, t0, t1, on=on), lazy)["seq"].to_list()
    assert got == [
        r["seq"] for r in rows
        if (t0 is None or holds(r, t0, on, operator.ge)) and holds(r, t1, on, operator.lt)
    ]
    got = collect(query.as_of(events, t1, on=on), lazy)["seq"].to_list()
    assert got == [r["seq"] for r in rows if holds(r, t1, on, operator.le)]
    last = data.draw(st.integers(0, 80))
    got = collect(query.upto(events, last), lazy)["seq"].to_list()
    assert got == [r["seq"] for r in rows if r["seq"] <= last]


@EXAMPLES
@given(data=st.data(), rows=histories(), lazy=st.booleans(), on=clocks,
       fold=st.sampled_from(get_args(query.BuiltinFold)))
def test_state_at(
    data: st.DataObject, rows: list[Row], lazy: bool, on: TimeColumn, fold: query.BuiltinFold
) -> None:
    t = data.draw(st.one_of(st.none(), positions(rows)))
    got = collect(query.state_at(frame(rows, lazy), t, on=on, fold=fold), lazy)
    assert got.columns == ["key", "seq", on, "type", *FIELDS]
    assert got.to_dicts() == oracle_state(rows, t, on, fold)


def tally(state: dict[str, Any], event: Row) -> dict[str, Any]:
    """A reducer that mutates its state in place: the fold must copy `initial`."""
    state["n"] += 1
    state["trail"] += event["status"] or "-"
    return state


@EXAMPLES
@given(data=st.data(), rows=histories(), lazy=st.booleans(), on=clocks)
def test_state_at_with_a_python_fold(
    data: st.DataObject, rows: list[Row], lazy: bool, on: TimeColumn
) -> None:
    t = data.draw(st.one_of(st.none(), positions(rows)))
    initial = {"n": 0, "trail": ""}
    got = collect(query.state_at(frame(rows, lazy), t, on=on, fold=tally, initial=initial), lazy)
    assert initial == {"n": 0, "trail": ""}
    expected = oracle_state(rows, t, on, lambda s, e: tally(dict(s), e), initial)
    assert got.to_dicts() == expected


@EXAMPLES
@given(data=st.data(), rows=histories(), lazy=st.booleans(), on=clocks,
       ends=st.sampled_from([[], ["ended"], ["ended", "picked"]]))
def test_diff(
    data: st.DataObject, rows: list[Row], lazy: bool, on: TimeColumn, ends: list[str]
) -> None:
    kind = data.draw(st.sampled_from(["seq", "time"]))
    points = st.integers(0, 80) if kind == "seq" else positions(rows).filter(
        lambda p: not isinstance(p, int))
    t1, t2 = sorted([data.draw(points), data.draw(points)])
    got = collect(query.diff(frame(rows, lazy), t1, t2, on=on, end_types=ends), lazy)
    assert got.to_dicts() == oracle_diff(rows, t1, t2, on, ends)


@EXAMPLES
@given(rows=histories(), lazy=st.booleans(), on=clocks,
       every=st.sampled_from([60, 120, 300]),
       period=st.sampled_from([None, 1.0, 2.0, 1.5, 0.5]),
       by=st.sampled_from([[], ["type"], ["key"], ["type", "key"]]))
def test_windows(rows: list[Row], lazy: bool, on: TimeColumn, every: int, period: float | None,
                 by: list[str]) -> None:
    step = every * SECOND
    length = None if period is None else period * step
    got = collect(query.windows(frame(rows, lazy), f"{every}s", period=length, by=by or None,
                                aggs={"fares": pl.col("fare").sum()}, on=on), lazy)
    assert got.to_dicts() == oracle_windows(rows, step, length or step, by, on)


@EXAMPLES
@given(rows=histories(), lazy=st.booleans(), on=clocks, gap=st.sampled_from([0, 60, 90, 400]))
def test_sessions(rows: list[Row], lazy: bool, on: TimeColumn, gap: int) -> None:
    got = collect(query.sessions(frame(rows, lazy), gap * SECOND, on=on), lazy)
    expected = oracle_sessions(rows, gap * SECOND, on)
    assert got.select("key", "session", "start", "end", "events", "duration").to_dicts() == expected


@EXAMPLES
@given(rows=histories(), lazy=st.booleans(), on=clocks,
       types=st.lists(st.sampled_from(TYPES), min_size=2, max_size=2, unique=True))
def test_durations(rows: list[Row], lazy: bool, on: TimeColumn, types: list[str]) -> None:
    begin, finish = types
    got = collect(query.durations(frame(rows, lazy), begin, finish, on=on), lazy)
    assert got.to_dicts() == oracle_durations(rows, begin, finish, on)


@EXAMPLES
@given(rows=histories(), lazy=st.booleans(), on=clocks,
       types=st.tuples(st.sampled_from(TYPES), st.sampled_from(TYPES)),
       by=st.sampled_from([("driver", "key"), ("key", "key"), (None, None)]))
def test_join_as_of(rows: list[Row], lazy: bool, on: TimeColumn, types: tuple[str, str],
                    by: tuple[str | None, str | None]) -> None:
    left_type, right_type = types
    events = frame(rows, lazy)
    left = events.filter(pl.col("type") == left_type)
    right = events.filter(pl.col("type") == right_type)
    got = collect(query.join_asof(left, right, by=None, by_left=by[0], by_right=by[1],
                                   fields=["status", "fare"], on=on), lazy)
    columns = ["seq", "seq_right", f"{on}_right", "status_right", "fare_right"]
    assert got.select(columns).to_dicts() == oracle_join(rows, left_type, right_type, by, on)


@EXAMPLES
@given(rows=histories(), lazy=st.booleans(), by_entity=st.booleans())
def test_late_events(rows: list[Row], lazy: bool, by_entity: bool) -> None:
    got = collect(query.late_events(frame(rows, lazy), key="key" if by_entity else None), lazy)
    columns = ["seq", "seen_event_time", "lateness"]
    assert got.select(columns).to_dicts() == oracle_late(rows, by_entity)


# -- plain unit tests ---------------------------------------------------------------


@pytest.fixture
def events() -> pl.DataFrame:
    rows = [
        {"seq": 1, "time": BASE, "type": "created", "key": "a", "event_time": BASE,
         "status": "open", "fare": None, "driver": None},
        {"seq": 2, "time": BASE + 60 * SECOND, "type": "ended", "key": "a",
         "event_time": BASE, "status": "done", "fare": 5, "driver": "d"},
    ]
    return pl.DataFrame(rows, schema={k: v for k, v in SCHEMA.items() if k != "subject"})


def test_public_names() -> None:
    assert sorted(query.__all__) == [
        "BuiltinFold", "Reducer", "as_of", "between", "diff", "durations", "history",
        "join_as_of", "join_asof", "late_events", "pivot", "sessions", "state_at", "upto",
        "windows",
    ]


def test_naive_datetime_is_refused(events: pl.DataFrame) -> None:
    with pytest.raises(TimeArgumentError, match="has no time zone"):
        query.as_of(events, dt.datetime(2026, 11, 1, 12))
    with pytest.raises(TimeArgumentError, match="has no time zone"):
        query.state_at(events, "2026-11-01T12:00:00")


def test_unknown_column_is_named(events: pl.DataFrame) -> None:
    with pytest.raises(ConfigurationError, match=r"no column 'ride_id'.*columns are: seq"):
        query.state_at(events, key="ride_id")
    with pytest.raises(ConfigurationError, match="no column 'zone'"):
        query.windows(events, "1m", by="zone")
    with pytest.raises(ConfigurationError, match="choose 'time'"):
        query.as_of(events, BASE, on="valid_time")  # type: ignore[arg-type]


def test_a_clock_must_carry_a_time_zone(events: pl.DataFrame) -> None:
    for clock in ("time", "event_time"):
        naive = events.with_columns(pl.col(clock).dt.replace_time_zone(None))
        with pytest.raises(ConfigurationError, match="replace_time_zone"):
            query.as_of(naive, BASE, on=clock)  # type: ignore[arg-type]
    naive = events.with_columns(pl.col("event_time").dt.replace_time_zone(None))
    with pytest.raises(ConfigurationError, match="event_time"):
        query.as_of(naive, BASE)  # the default clock is event time


def test_time_arguments(events: pl.DataFrame) -> None:
    on = "time"
    assert query.as_of(events, "2026-11-01T13:00:00+01:00", on=on)["seq"].to_list() == [1]
    assert query.as_of(events, "2", on=on)["seq"].to_list() == [1, 2]  # digits: a sequence
    assert query.as_of(events, "1d", on=on)["seq"].to_list() == [1, 2]  # a day ago: all of it
    assert query.as_of(events, dt.timedelta(days=365 * 100), on=on)["seq"].to_list() == []
    with pytest.raises(TimeArgumentError, match="upto takes a stream sequence"):
        query.upto(events, "2026-11-01T12:00:00Z")


def test_diff_arguments(events: pl.DataFrame) -> None:
    with pytest.raises(TimeArgumentError, match="two sequences or two times"):
        query.diff(events, 1, BASE)
    with pytest.raises(TimeArgumentError, match="before t1"):
        query.diff(events, 2, 1)
    with pytest.raises(ConfigurationError, match="none"):
        query.diff(events.select("seq", "time", "event_time", "type", "key"), 1, 2)


@pytest.mark.parametrize("field", ["fare", "fa\x1fre"])
def test_diff_names_the_fields_that_changed_whatever_their_names(field: str) -> None:
    """The names of changed fields are listed exactly, even a name with the separator the
    list is built with; an entity that ended without a field changing lists none."""
    at = [BASE + i * SECOND for i in range(4)]
    events = pl.DataFrame({"seq": [1, 2, 3, 4], "event_time": at, "type": ["a", "a", "a", "x"],
                           "key": ["k1", "k2", "k1", "k2"], field: [1.0, 2.0, 3.0, None],
                           "zone": ["n", None, None, None]},
                          schema_overrides={"event_time": TIME})
    got = query.diff(events, at[1], at[3], end_types=["x"])
    assert got.select("key", "change", "fields").rows() == [("k1", "changed", [field]),
                                                            ("k2", "ended", [])]
    got = query.diff(events, at[0], at[1])  # created with every field set, then none
    assert got["fields"].to_list() == [[field]]


def test_other_bad_arguments(events: pl.DataFrame) -> None:
    with pytest.raises(ConfigurationError, match="two event types"):
        query.durations(events, "created", "created")
    with pytest.raises(TimeArgumentError, match="positive duration"):
        query.windows(events, "0s")
    with pytest.raises(ConfigurationError, match="fold="):
        query.state_at(events, fold="sum")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="DataFrame or LazyFrame"):
        query.as_of(events.to_dicts(), 1)  # type: ignore[type-var]


def test_a_sorted_frame_is_sliced_not_copied(events: pl.DataFrame) -> None:
    store = pl.concat([events] * 3).with_columns(
        pl.int_range(1, 7, dtype=pl.UInt64).alias("seq"),
        pl.datetime_range(BASE, BASE + 5 * SECOND, "1s", time_unit="ns", time_zone="UTC")
        .alias("time"),
    ).set_sorted("time")
    sliced = query.between(store, BASE + SECOND, BASE + 4 * SECOND, on="time")
    assert sliced["seq"].to_list() == [2, 3, 4]
    assert sliced.get_column("time").flags["SORTED_ASC"]  # a slice keeps the flag


def test_a_python_fold_whose_state_names_the_entity_is_refused(events: pl.DataFrame) -> None:
    with pytest.raises(ConfigurationError, match="rename them"):
        query.state_at(events, fold=lambda state, event: {"key": event["key"]})


def test_a_hash_collision_falls_back_to_grouping_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        {"seq": i, "time": BASE + i * SECOND, "type": "updated", "key": k, "event_time": None,
         "status": s, "fare": i, "driver": None}
        for i, (k, s) in enumerate([("a", "x"), ("b", None), ("c", "y"), ("a", None)], start=1)
    ]
    events = pl.DataFrame(rows, schema={k: v for k, v in SCHEMA.items() if k != "subject"})
    expected = query.state_at(events, on="time")
    real = query._hash

    def colliding(keys: list[str], *, seed: int) -> pl.Expr:  # "a" and "c" share a hash
        if seed == 1:
            return pl.col(keys[0]).replace({"c": "a"}).hash(seed)
        return real(keys, seed=seed)

    monkeypatch.setattr(query, "_hash", colliding)
    got = query.state_at(events, on="time")
    assert got.equals(expected)
    assert got.select("key", "status", "fare").rows() == [("a", "x", 4), ("b", None, 2),
                                                          ("c", "y", 3)]


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("sort_flag", [True, False])
def test_bounds_between_ticks_of_a_coarse_clock(unit: str, sort_flag: bool) -> None:
    times = [BASE + dt.timedelta(milliseconds=m) for m in (0, 1, 1, 2)]
    events = pl.DataFrame({"seq": [1, 2, 3, 4], "time": times}).with_columns(
        pl.col("time").dt.cast_time_unit(unit)  # type: ignore[arg-type]
    )
    events = events.set_sorted("time") if sort_flag else events.with_columns(
        pl.col("time") + pl.duration(nanoseconds=0))
    half = BASE + dt.timedelta(microseconds=500)
    on = "time"
    assert query.as_of(events, half, on=on)["seq"].to_list() == [1]
    assert query.between(events, half, None, on=on)["seq"].to_list() == [2, 3, 4]
    assert query.between(events.lazy(), half, None, on=on).collect()["seq"].to_list() == [
        2, 3, 4]
    assert query.as_of(events, BASE + dt.timedelta(milliseconds=1), on=on)["seq"].to_list() == [
        1, 2, 3]


def test_window_bounds_keep_the_clock_unit():
    frame = pl.DataFrame({
        "seq": pl.Series([1, 2], dtype=pl.UInt64),
        "time": pl.Series([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * 2,
                          dtype=pl.Datetime("ns", "UTC")),
        "type": ["a", "b"],
    })
    for period in (None, "5m"):
        out = query.windows(frame, "1m", period=period, by="type", on="time")
        assert out.schema["window_end"] == out.schema["window_start"] == pl.Datetime("ns", "UTC")
