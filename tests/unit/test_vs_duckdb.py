"""Every temporal operation against DuckDB SQL (the oracle) on random histories.

The SQL is the benchmark's (``benchmarks/vs_duckdb.py``), so what is timed
there is what is proved equal here: ``arg_max`` per key for a state, window
functions for sessions, durations and lateness, ``ASOF JOIN`` for the as-of
join, plain filters for selections.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit as ek
from eventkit import query
from eventkit.codec import Decoded

_spec = importlib.util.spec_from_file_location(
    "vs_duckdb", Path(__file__).parents[2] / "benchmarks" / "vs_duckdb.py")
assert _spec is not None and _spec.loader is not None
sql = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sql)

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
T0_NS = int(T0.timestamp()) * 10**9
FIELDS = ["x", "y"]
TYPES = ["a", "b", "c"]

# a few instants close together, so that ties in time and late events are common
_instant = st.integers(0, 12).map(lambda i: T0_NS + i * 10**9 + (i % 3))
_event = st.tuples(
    st.integers(1, 3),                                  # seq step (gaps in the stream)
    st.integers(0, 2),                                  # time step, in seconds
    st.sampled_from(TYPES),
    st.sampled_from(["k1", "k2", "k3", None]),
    st.one_of(st.none(), _instant),                     # event time, sometimes missing
    st.one_of(st.none(), st.integers(-5, 5)),
    st.one_of(st.none(), st.sampled_from(["p", "q"])),
)


def _frame(rows: list[tuple]) -> pl.DataFrame:
    seq, t, out = 0, T0_NS, []
    for step, pause, kind, key, event_time, x, y in rows:
        seq, t = seq + step, t + pause * 10**9
        out.append((seq, t, kind, key, event_time, x, y))
    return pl.DataFrame(
        out, orient="row",
        schema={"seq": pl.UInt64, "time": pl.Int64, "type": pl.String, "key": pl.String,
                "event_time": pl.Int64, "x": pl.Int64, "y": pl.String},
    ).with_columns(pl.col("time", "event_time").cast(pl.Datetime("ns", "UTC")),
                   pl.format("rides.{}", "type").alias("subject"))


histories = st.lists(_event, min_size=1, max_size=40).map(_frame)
# exact to the nanosecond (a datetime would cover its whole microsecond, see query)
instants = st.integers(0, 26).map(
    lambda s: (T0 + dt.timedelta(seconds=s // 2)).strftime("%Y-%m-%dT%H:%M:%S.")
    + f"{(s % 2) * 500_000_000 + s % 3:09d}Z")
settled = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])


# One connection for every example (connecting cost more than the queries), one table
# loaded an example; the other names the SQL reads are views of it.
_con = duckdb.connect()
_VIEWS = {"envelope": "SELECT * FROM wide", "picked_up": "SELECT * FROM wide WHERE type = 'a'",
          "assigned": "SELECT * FROM wide WHERE type = 'b'"}


def _oracle(frame: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    """DuckDB holding ``frame`` as ``wide`` (and ``envelope``, ``picked_up``: its ``a``
    events, ``assigned``: its ``b`` events), nothing of the example before."""
    sql.load(_con, {"wide": frame})
    for name, select in _VIEWS.items():
        _con.execute(f"CREATE VIEW IF NOT EXISTS {name} AS {select}")
    return _con


def _ns(text: str) -> int:
    return int(pl.Series([text]).str.to_datetime(time_unit="ns").dt.epoch("ns")[0])


@settled
@given(histories, instants, st.sampled_from(["time", "event_time"]))
def test_state_at_is_arg_max_per_key(frame, at, on):
    con = _oracle(frame)
    col = "t" if on == "time" else "et"
    ours = query.state_at(frame, at, on=on).rename({on: col})
    sql.same(ours, con.sql(sql.state_sql("wide", _ns(at), col, FIELDS)).to_arrow_table(),
             ["key"], "state_at")


@settled
@given(histories, instants, instants)
def test_diff_is_two_states_compared(frame, a, b):
    first, second = min(a, b), max(a, b)
    con = _oracle(frame)
    ours = query.diff(frame, first, second, end_types=["c"]).select("key", "change", "fields")
    theirs = con.sql(sql.diff_sql(_ns(first), _ns(second), FIELDS, ["c"])).to_arrow_table()
    sql.same(ours, theirs, ["key"], "diff")


@settled
@given(histories)
def test_windows_are_counts_per_bucket(frame):
    con = _oracle(frame)
    ours = query.windows(frame, "5s", by="type").select("window_start", "type", "count")
    theirs = con.sql("SELECT et // 5000000000 * 5000000000 AS window_start, type, count(*) "
                     "AS count FROM wide WHERE et IS NOT NULL GROUP BY ALL").to_arrow_table()
    sql.same(ours, theirs, ["window_start", "type"], "windows")


@settled
@given(histories, st.integers(0, 4))
def test_sessions_are_runs_without_a_longer_pause(frame, gap):
    con = _oracle(frame)
    ours = query.sessions(frame, dt.timedelta(seconds=gap))
    theirs = con.sql(sql.SESSIONS_SQL.format(gap=gap * 10**9)).to_arrow_table()
    sql.same(ours, theirs, ["key", "session"], "sessions")


@settled
@given(histories)
def test_durations_are_start_to_next_end(frame):
    con = _oracle(frame)
    ours = query.durations(frame, "a", "b")
    theirs = con.sql(sql.DURATIONS_SQL.format(a="a", b="b")).to_arrow_table()
    sql.same(ours, theirs, ["key", "start_seq"], "durations")


@settled
@given(histories)
def test_join_as_of_is_an_asof_join(frame):
    con = _oracle(frame)
    ours = query.join_asof(frame.filter(pl.col("type") == "a"),
                            frame.filter(pl.col("type") == "b"), fields=["x"]
                            ).select("seq", "seq_right",
                                     pl.col("event_time_right").alias("et_right"), "x_right")
    sql.same(ours, con.sql(sql.JOIN_SQL.format(field="x")).to_arrow_table(), ["seq"],
             "join_as_of")


@settled
@given(histories)
def test_late_events_are_behind_the_running_max(frame):
    con = _oracle(frame)
    ours = query.late_events(frame).select(
        "seq", "key", pl.col("event_time").alias("et"), pl.col("seen_event_time").alias("seen"))
    sql.same(ours, con.sql(sql.LATE_SQL).to_arrow_table(), ["seq"], "late_events")


def _events(frame: pl.DataFrame) -> ek.Events:
    typed = {name: frame.filter(pl.col("type") == name).select("seq", *FIELDS) for name in TYPES}
    return ek.Events(Decoded(frame.drop(FIELDS), {n: f for n, f in typed.items() if f.height}))


@settled
@given(histories, instants, instants, st.sampled_from(["time", "event_time"]))
def test_events_selections_are_filters_with_their_typed_tables(frame, a, b, on):
    con = _oracle(frame)
    events = _events(frame)
    col = "t" if on == "time" else "et"
    first, second = min(a, b), max(a, b)
    seq = int(frame["seq"][frame.height // 2])
    cases = [
        (events.between(first, second, on=on),
         f"SELECT seq FROM envelope WHERE {col} >= {_ns(first)} AND {col} < {_ns(second)}"),
        (events.as_of(second, on=on), f"SELECT seq FROM envelope WHERE {col} <= {_ns(second)}"),
        (events.upto(seq), f"SELECT seq FROM envelope WHERE seq <= {seq}"),
        (events.between(first, second, on=on).upto(seq),
         f"SELECT seq FROM envelope WHERE {col} >= {_ns(first)} AND {col} < {_ns(second)} "
         f"AND seq <= {seq}"),
    ]
    for selected, query_text in cases:
        theirs = con.sql(query_text).to_arrow_table()
        sql.same(selected.to_polars().select("seq"), theirs, ["seq"], query_text)
        # the typed tables hold exactly the selected events of each type
        for name in TYPES:
            wanted = frame.join(selected.to_polars().select("seq"), on="seq", how="semi")
            wanted = wanted.filter(pl.col("type") == name)
            if wanted.is_empty():
                assert name not in selected.types
            else:
                assert selected.of_type(name).select("seq", *FIELDS).equals(
                    wanted.select("seq", *FIELDS))
        if not len(selected):
            assert selected.types == []
            continue
        assert selected.wide().select("seq", *FIELDS).sort("seq").equals(
            frame.join(selected.to_polars().select("seq"), on="seq", how="semi")
            .select("seq", *FIELDS))


class _Watched(dict):
    """Typed tables that count how often all of them are gone through."""

    walks = 0

    def items(self):  # type: ignore[override]
        type(self).walks += 1
        return super().items()

    def values(self):  # type: ignore[override]
        type(self).walks += 1
        return super().values()


def test_a_selection_leaves_the_typed_tables_alone_until_they_are_used():
    n = 10_000
    frame = pl.DataFrame({
        "seq": pl.int_range(1, n + 1, dtype=pl.UInt64, eager=True),
        "time": pl.datetime_range(T0, T0 + dt.timedelta(seconds=n - 1), "1s", eager=True,
                                  time_unit="ns"),
        "type": ["a", "b"] * (n // 2), "key": ["k"] * n, "x": range(n), "y": ["p"] * n,
    }).with_columns(pl.col("time").alias("event_time"), pl.lit("r.x").alias("subject"))
    events = _events(frame)
    events._all_typed = _Watched(events._all_typed)
    _Watched.walks = 0
    selected = events.between(T0 + dt.timedelta(seconds=10), T0 + dt.timedelta(seconds=20),
                              on="time").as_of(T0 + dt.timedelta(seconds=15), on="time"
                                               ).upto(14)
    assert _Watched.walks == 0 and len(selected) == 4
    assert selected.of_type("a")["seq"].to_list() == [11, 13]  # narrowed on first use
    assert _Watched.walks == 1
    # a run of rows is a slice of each typed table: the same memory, not a copy
    assert selected.of_type("a")["x"].to_list() == [10, 12]


@pytest.mark.parametrize("on", ["time", "event_time"])
def test_store_state_at_folds_range_by_range_as_state_at_does(tmp_path, monkeypatch, on):
    from eventkit.envelope import Rules
    from eventkit.source.jetstream import RawBatch
    from eventkit.store import _state

    n, rng = 600, __import__("random").Random(7)
    rows = []
    for i in range(1, n + 1):
        late = rng.random() < 0.2
        when = T0 + dt.timedelta(seconds=i - (rng.randint(5, 60) if late else 0))
        fields = {"x": rng.choice([None, rng.randint(0, 9)]), "y": rng.choice([None, "p", "q"])}
        if rng.random() < 0.1:
            fields = {}  # a type that never sets them
        rows.append({"type": rng.choice(["a", "b", "c"]), "key": f"k{rng.randint(0, 20)}",
                     "event_time": None if rng.random() < 0.05 else when.isoformat(), **fields})
    import orjson

    times = pl.Series([T0 + dt.timedelta(seconds=i) for i in range(n)]).cast(
        pl.Datetime("ns", "UTC"))
    raw = RawBatch(pl.Series(range(1, n + 1), dtype=pl.UInt64), times, [b"r.x"] * n, {},
                   [orjson.dumps(r) for r in rows])
    store = ek.Store(tmp_path / "s")
    store.write(iter([raw]), stream="R", rules=Rules())
    monkeypatch.setattr(_state, "RANGE", 97)  # several ranges, merged
    wide = pl.concat([store.of_type(t).collect() for t in store.types], how="diagonal_relaxed")
    wide = store.scan().collect().drop("headers", "data", "error").join(
        wide.select("seq", *FIELDS), on="seq", how="left").sort("seq")
    for at in (None, 300, T0 + dt.timedelta(seconds=200)):
        expected = query.state_at(wide, at, on=on)
        got = store.state_at(at, on=on)
        assert got.select(expected.columns).equals(expected), (at, on)
    assert store.between(T0, T0 + dt.timedelta(seconds=10), on="time").collect()[
        "seq"].to_list() == list(range(1, 11))
    assert store.upto(5).collect()["seq"].to_list() == [1, 2, 3, 4, 5]
    assert store.as_of(T0 + dt.timedelta(seconds=3), on="time").collect().height == 4


def test_store_state_is_read_again_only_when_the_log_changes(tmp_path, monkeypatch):
    from eventkit.envelope import Rules
    from eventkit.source.jetstream import RawBatch
    from eventkit.store.table import Tables

    def raw(first: int, n: int) -> RawBatch:
        times = pl.Series([T0] * n).cast(pl.Datetime("ns", "UTC"))
        return RawBatch(pl.Series(range(first, first + n), dtype=pl.UInt64), times,
                        [b"r.x"] * n, {}, [b'{"type":"a","key":"k"}'] * n)

    store = ek.Store(tmp_path / "s")
    store.write(iter([raw(1, 3), raw(4, 2)]), stream="R", rules=Rules())
    reads = []
    real = Tables.state

    def counted(self, *args, **kwargs):
        reads.append(self is store._tables)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Tables, "state", counted)
    assert (store.last_seq, len(store), store.stream, store.types, store.type_counts()) == (
        5, 5, "R", ["a"], {"a": 5})
    assert reads == [True]  # one read of the log for four properties
    other = ek.Store(tmp_path / "s")  # another writer (here: another Store object) commits
    other.compact(retention_hours=None)
    older = store.at_version(0)
    assert older.last_seq == 3 and store.last_seq == 5
    assert sum(reads) == 3  # the version's state, and the latest again after a commit


def test_join_as_of_is_the_deprecated_name_of_join_asof():
    frame = _frame([(1, 0, "b", "k1", T0_NS, 1, None), (1, 1, "a", "k1", T0_NS + 1, None, None)])
    left, right = frame.filter(pl.col("type") == "a"), frame.filter(pl.col("type") == "b")
    with pytest.warns(DeprecationWarning, match="join_as_of is now join_asof"):
        old = query.join_as_of(left, right, fields=["x"])
    assert old.equals(query.join_asof(left, right, fields=["x"]))
    assert old["x_right"].to_list() == [1]
    with pytest.warns(DeprecationWarning, match="Events.join_as_of is now Events.join_asof"):
        old = _events(frame).join_as_of("a", "b", fields=["x"])
    assert old.equals(_events(frame).join_asof("a", "b", fields=["x"]))


def test_of_type_of_a_missing_type_is_one_error_on_events_and_on_a_store(tmp_path):
    from eventkit.envelope import Rules
    from eventkit.source.jetstream import RawBatch

    frame = _frame([(1, 0, "a", "k1", T0_NS, 1, None)])
    store = ek.Store(tmp_path / "s")
    store.write(iter([RawBatch(pl.Series([1], dtype=pl.UInt64), frame["time"], [b"r.a"], {},
                               [b'{"type":"a","key":"k1","x":1}'])]), stream="R", rules=Rules())
    for source in (_events(frame), store):
        with pytest.raises(ek.UnknownTypeError, match="types present: a") as caught:
            source.of_type("zzz")
        # what each raised before stays true
        assert isinstance(caught.value, ek.ConfigurationError | ek.StoreError | LookupError)
        assert isinstance(caught.value, ek.ConfigurationError)
        assert isinstance(caught.value, ek.StoreError)
