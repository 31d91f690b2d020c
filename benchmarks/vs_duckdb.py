"""Every temporal operation against DuckDB SQL on the same history, in one process.

    python benchmarks/vs_duckdb.py                       # 1M and 10M events (heavy)
    python benchmarks/vs_duckdb.py --sizes 200k --repeat 3   # a quick run
    python benchmarks/vs_duckdb.py --sizes 1M --memory 1M,2M,4M  # + state_at peak RSS

For each size the same ride-share history (JSON payloads, six types, one
day, 2% of events without an event time, 1% late by up to 10 minutes) is
decoded once into an ``Events`` and written once into an ``eventkit.Store``
(kept under ``--store-dir`` for the next run). DuckDB gets the same tables as
native tables (the envelope, the payload-wide table and two event types),
times as exact nanosecond integers, and for the store the same Parquet
files. Every operation runs ``--repeat`` times on each side after one
untimed run; the table prints the medians and the ratio eventkit / DuckDB
(at most 1.0 is the goal), and each answer is checked against DuckDB's
(the oracle) before it is timed.

DuckDB's SQL is written as a SQL author would: ``arg_max`` per key for a
state, window functions for sessions, durations and lateness, ``ASOF JOIN``
for the as-of join, a filter on a sorted native table for selections. Its
results are fetched as Arrow, eventkit's are polars frames.

``--memory`` runs the store queries of ``benchmarks/store.py`` (a filter,
``Store.state_at`` on both clocks) and DuckDB's SQL for them on stores of
growing size, measured as that script does: each in a fresh process, the
peak RSS over the baseline after imports and opening the store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

import eventkit as ek
from eventkit import query
from eventkit.codec import decode
from eventkit.envelope import Rules
from eventkit.source.jetstream import RawBatch

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY_NS = 86_400 * 10**9
START_NS = int(START.timestamp()) * 10**9
TYPES = ["ride_requested", "driver_assigned", "driver_located", "ride_picked_up",
         "trip_completed", "ride_cancelled"]
FIELDS = ["status", "driver", "fare", "lat", "lon"]
ENDS = ["trip_completed", "ride_cancelled"]
BATCH = 500_000


# -- the history ------------------------------------------------------------------

def history(first: int, n: int, total: int, entities: int) -> pl.DataFrame:
    """Rows ``first .. first + n - 1`` of a ``total``-event history: seq, time, subject, payload."""
    i = pl.int_range(first, first + n, dtype=pl.UInt64)

    def draw(seed: int, modulo: int) -> pl.Expr:
        return (i.hash(seed) % modulo).cast(pl.Int64)

    kind = pl.lit(pl.Series(TYPES)).get(draw(1, len(TYPES)))
    time_ns = START_NS + (i // 2).cast(pl.Int64) * (2 * DAY_NS // total)
    lag = pl.when(draw(4, 100) == 0).then(draw(5, 600) * 10**9).otherwise(draw(6, 5 * 10**9))
    located = pl.col("type") == "driver_located"
    frame = pl.select(
        (i + 1).alias("seq"), time_ns.alias("time_ns"), kind.alias("type"),
        pl.format("ride-{}", draw(2, entities)).alias("key"), draw(3, 100).alias("null_draw"),
        lag.alias("lag"), draw(7, 5_000).alias("driver_no"), (draw(8, 5_000) / 100).alias("amt"),
    ).with_columns(
        pl.when(pl.col("null_draw") >= 2).then(pl.col("time_ns") - pl.col("lag"))
        .cast(pl.Datetime("ns", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S.%9fZ").alias("event_time"),
        pl.when(~located).then(pl.col("type").str.split("_").list.last()).alias("status"),
        pl.when(pl.col("type").is_in(["driver_assigned", "driver_located"]))
        .then(pl.format("driver-{}", "driver_no")).alias("driver"),
        pl.when(pl.col("type") == "trip_completed").then(pl.col("amt")).alias("fare"),
        pl.when(located).then(52 + pl.col("amt") / 1000).alias("lat"),
        pl.when(located).then(13 + pl.col("amt") / 1000).alias("lon"),
    )
    payload = pl.struct("type", "key", "event_time", *FIELDS).struct.json_encode()
    return frame.select(
        "seq", pl.col("time_ns").cast(pl.Datetime("ns", "UTC")).alias("time"),
        pl.format("rides.{}", "type").alias("subject"), payload.alias("payload"))


def batches(total: int, entities: int) -> Any:
    for first in range(0, total, BATCH):
        part = history(first, min(BATCH, total - first), total, entities)
        yield RawBatch(part["seq"], part["time"], part["subject"].to_list(), {},
                       [p.encode() for p in part["payload"]])


def read_events(total: int, entities: int) -> ek.Events:
    from eventkit.codec import combine

    parts = [decode(b.seq, b.time, b.subjects, b.headers, b.payloads, Rules())
             for b in batches(total, entities)]
    return ek.Events(combine(parts))


def open_store(root: Path, total: int, entities: int) -> ek.Store:
    path = root / f"rides-{total}-{entities}"
    store = ek.Store(path)
    if len(store) != total:
        if path.exists():
            import shutil
            shutil.rmtree(path)
        store = ek.Store(path)
        began = time.perf_counter()
        store.write(batches(total, entities), stream="RIDES", rules=Rules())
        print(f"  store of {total:,} events written in {time.perf_counter() - began:.0f} s")
    return store


# -- timing -----------------------------------------------------------------------

def median_seconds(runs: list[Callable[[], object]], repeat: int) -> list[float]:
    """The median wall time of each run, taken in turns (a, b, a, b...) so that both
    sides see the same load on a shared machine; after one untimed run of each (the
    first pass over fresh memory pays its page faults)."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, taken in zip(runs, times, strict=True):
            gc.disable()
            began = time.perf_counter()
            run()
            taken.append(time.perf_counter() - began)
            gc.enable()
    return [statistics.median(taken) for taken in times]


def normal(frame: Any, order: list[str]) -> pl.DataFrame:
    """A result as polars, times as nanosecond integers, rows in ``order``."""
    df = frame if isinstance(frame, pl.DataFrame) else pl.from_arrow(frame)
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(
        [pl.col(c).dt.epoch("ns") if isinstance(t, pl.Datetime) else
         pl.col(c).dt.total_nanoseconds() if isinstance(t, pl.Duration) else
         pl.col(c).cast(pl.Int64) if t.is_integer() else pl.col(c)
         for c, t in df.schema.items()])
    return df.sort(order) if order else df


def same(ours: Any, theirs: Any, order: list[str], what: str) -> None:
    """Raise AssertionError unless the two answers hold the same rows."""
    a, b = normal(ours, order), normal(theirs, order)
    b = b.select(a.columns) if set(a.columns) <= set(b.columns) else b
    if a.columns != b.columns or a.shape != b.shape or not a.equals(b):
        raise AssertionError(f"{what}: eventkit and DuckDB disagree\n{a}\n{b}")


def load(con: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame]) -> None:
    """The frames as native DuckDB tables, ordered by seq, clocks as nanoseconds ``t``, ``et``."""
    for name, frame in tables.items():
        arrow = frame.with_columns(  # noqa: F841 (DuckDB reads the local variable)
            pl.col("time").dt.epoch("ns").alias("t"), pl.col("event_time").dt.epoch("ns")
            .alias("et")).drop("time", "event_time").to_arrow()
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM arrow ORDER BY seq")


# -- DuckDB's SQL -----------------------------------------------------------------

def state_sql(table: str, t_ns: int, on: str, fields: list[str]) -> str:
    """The state at ``t``: per key, each field's value at its latest non-null event."""
    order = "seq" if on == "t" else f"({on}, seq)"
    cols = ", ".join(f"arg_max({f}, {order}) FILTER (WHERE {f} IS NOT NULL) AS {f}"
                     for f in fields)
    return (f"SELECT key, arg_max(seq, {order}) AS seq, max({on}) AS {on}, "
            f"arg_max(type, {order}) AS type, {cols} FROM {table} "
            f"WHERE {on} <= {t_ns} AND key IS NOT NULL AND {on} IS NOT NULL GROUP BY key "
            "ORDER BY key")


def diff_sql(t1: int, t2: int, fields: list[str] = FIELDS, ends: list[str] = ENDS) -> str:
    """Entities ended, created or changed between two states (on event time)."""
    ended = ", ".join(f"'{e}'" for e in ends)
    differs = [f"a.{f} IS DISTINCT FROM b.{f}" for f in fields]
    names = ", ".join(f"CASE WHEN {d} THEN '{f}' END"
                      for d, f in zip(differs, fields, strict=True))
    return f"""
    WITH b AS ({state_sql('wide', t1, 'et', fields)}), a AS ({state_sql('wide', t2, 'et', fields)})
    SELECT * FROM (
      SELECT a.key,
        CASE WHEN a.type IN ({ended}) AND NOT (b.type IS NOT NULL AND b.type IN ({ended}))
               THEN 'ended'
             WHEN b.type IS NULL THEN 'created'
             WHEN {' OR '.join(differs)} THEN 'changed' END AS change,
        list_filter([{names}], lambda x: x IS NOT NULL) AS fields
      FROM a LEFT JOIN b USING (key)) WHERE change IS NOT NULL ORDER BY key"""


SESSIONS_SQL = """
    SELECT key, session, min(et) AS start, max(et) AS "end", max(et) - min(et) AS duration,
           count(*) AS events FROM (
      SELECT key, et, sum(CASE WHEN prev IS NULL OR et - prev > {gap} THEN 1 ELSE 0 END)
               OVER (PARTITION BY key ORDER BY et, seq ROWS UNBOUNDED PRECEDING) AS session
      FROM (SELECT key, et, seq, lag(et) OVER (PARTITION BY key ORDER BY et, seq) AS prev
            FROM wide WHERE key IS NOT NULL AND et IS NOT NULL))
    GROUP BY key, session ORDER BY key, session"""

DURATIONS_SQL = """
    SELECT key, et AS start, next_et AS "end", next_et - et AS duration, seq AS start_seq,
           next_seq AS end_seq FROM (
      SELECT *, lead(et) OVER w AS next_et, lead(seq) OVER w AS next_seq FROM (
        SELECT key, et, seq, type FROM (
          SELECT key, et, seq, type, lag(type) OVER (PARTITION BY key ORDER BY et, seq) AS prev
          FROM wide WHERE key IS NOT NULL AND et IS NOT NULL AND type IN ('{a}', '{b}'))
        WHERE prev IS NULL OR prev <> type)
      WINDOW w AS (PARTITION BY key ORDER BY et, seq))
    WHERE type = '{a}' ORDER BY key, start_seq"""

# (event_time, seq) as one number: ASOF JOIN takes one inequality
JOIN_SQL = """
    SELECT l.seq, r.seq AS seq_right, r.et AS et_right, r.{field} AS {field}_right
    FROM (SELECT *, et::HUGEINT * 1099511627776 + seq AS o FROM picked_up) l
    ASOF LEFT JOIN (SELECT *, et::HUGEINT * 1099511627776 + seq AS o FROM assigned
                    WHERE key IS NOT NULL AND et IS NOT NULL) r
    ON l.key = r.key AND l.o > r.o ORDER BY l.seq"""

LATE_SQL = """
    SELECT * FROM (
      SELECT seq, key, et, max(et) OVER (PARTITION BY key ORDER BY seq
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen
      FROM envelope WHERE key IS NOT NULL)
    WHERE et < seen ORDER BY seq"""


# -- the run ----------------------------------------------------------------------

def ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def exact(t: dt.datetime) -> str:
    """``t`` as text with nine fraction digits: exact to the nanosecond (a ``datetime``
    bound covers its whole microsecond, and SQL compares the nanosecond)."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def run_size(total: int, args: argparse.Namespace) -> list[tuple[str, float, float]]:
    began = time.perf_counter()
    events = read_events(total, args.entities)
    print(f"{total:,} events decoded in {time.perf_counter() - began:.0f} s")
    store = open_store(Path(args.store_dir), total, args.entities)
    env = events.to_polars()
    wide = events.wide().drop("headers", "data", "error")
    picked_up, assigned = events.of_type("ride_picked_up"), events.of_type("driver_assigned")
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    load(con, {"envelope": env, "wide": wide, "picked_up": picked_up, "assigned": assigned})
    files = [str(p) for p in Path(store.path, "envelope").glob("*.parquet")]
    con.execute(f"CREATE VIEW stored AS SELECT * FROM read_parquet({files!r})")

    t0, t1 = START + dt.timedelta(hours=6), START + dt.timedelta(hours=9)
    at = START + dt.timedelta(hours=18)
    e0, e1, eat = exact(t0), exact(t1), exact(at)
    seq = total * 3 // 4
    rows: list[tuple[str, float, float]] = []

    def measure(name: str, ours: Callable[[], Any], sql: str, order: list[str],
                check: Callable[[Any], Any] | None = None) -> None:
        mine = ours()
        theirs = con.sql(sql).to_arrow_table()
        same(check(mine) if check else mine, theirs, order, name)
        a, b = median_seconds([ours, lambda: con.sql(sql).to_arrow_table()], args.repeat)
        rows.append((name, a, b))
        print(f"  {name:<34} {a * 1e3:9.1f} ms  DuckDB {b * 1e3:9.1f} ms  x{a / b:.2f}",
              flush=True)

    def seqs(selected: Any) -> pl.DataFrame:
        frame = selected.to_polars() if isinstance(selected, ek.Events) else selected
        return frame.select("seq")

    # selections: Events (a slice or a filter of the envelope; typed tables narrowed lazily)
    for on, col in (("time", "t"), ("event_time", "et")):
        measure(f"Events.between on {on}", lambda on=on: events.between(e0, e1, on=on),
                f"SELECT * FROM envelope WHERE {col} >= {ns(t0)} AND {col} < {ns(t1)}",
                ["seq"], seqs)
        measure(f"Events.as_of on {on}", lambda on=on: events.as_of(eat, on=on),
                f"SELECT * FROM envelope WHERE {col} <= {ns(at)}", ["seq"], seqs)
    measure("Events.upto", lambda: events.upto(seq),
            f"SELECT * FROM envelope WHERE seq <= {seq}", ["seq"], seqs)
    # selections on the store: the same Parquet files
    for on, col in (("time", "time_ns"), ("event_time", "event_time_ns")):
        measure(f"Store.between on {on}",
                lambda on=on: store.between(e0, e1, on=on).collect(),
                f"SELECT * FROM stored WHERE {col} >= {ns(t0)} AND {col} < {ns(t1)}",
                ["seq"], seqs)
        measure(f"Store.as_of on {on}", lambda on=on: store.as_of(eat, on=on).collect(),
                f"SELECT * FROM stored WHERE {col} <= {ns(at)}", ["seq"], seqs)
    measure("Store.upto", lambda: store.upto(seq).collect(),
            f"SELECT * FROM stored WHERE seq <= {seq}", ["seq"], seqs)

    # answers
    for on, col in (("time", "t"), ("event_time", "et")):
        measure(f"state_at on {on}", lambda on=on: query.state_at(wide, eat, on=on),
                state_sql("wide", ns(at), col, FIELDS), ["key"],
                lambda r, on=on, col=col: r.rename({on: col}))
    measure("diff", lambda: query.diff(wide, e1, eat, end_types=ENDS),
            diff_sql(ns(t1), ns(at)), ["key"], lambda r: r.select("key", "change", "fields"))
    measure("windows 1m by type", lambda: query.windows(wide, "1m", by="type"),
            "SELECT et // 60000000000 * 60000000000 AS window_start, type, count(*) AS count "
            "FROM wide WHERE et IS NOT NULL GROUP BY ALL ORDER BY ALL", ["window_start", "type"],
            lambda r: r.select("window_start", "type", "count"))
    measure("sessions 10m", lambda: query.sessions(wide, "10m"),
            SESSIONS_SQL.format(gap=600 * 10**9), ["key", "session"])
    measure("durations", lambda: query.durations(wide, "ride_requested", "driver_assigned"),
            DURATIONS_SQL.format(a="ride_requested", b="driver_assigned"),
            ["key", "start_seq"])
    measure("join_as_of",
            lambda: query.join_asof(picked_up, assigned, fields=["driver"]),
            JOIN_SQL.format(field="driver"), ["seq"],
            lambda r: r.select("seq", "seq_right", pl.col("event_time_right").alias("et_right"),
                               "driver_right"))
    measure("late_events", lambda: query.late_events(env), LATE_SQL, ["seq"],
            lambda r: r.select("seq", "key", pl.col("event_time").alias("et"),
                               pl.col("seen_event_time").alias("seen")))
    con.close()
    return rows


def run_memory(sizes: list[int], args: argparse.Namespace) -> None:
    """The store queries' memory, measured as ``benchmarks/store.py`` does (one method)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("store_benchmark",
                                                  Path(__file__).with_name("store.py"))
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    print("\nqueries on a store, peak RSS over the process's baseline (after imports and "
          "opening the store), a fresh process each (MB)")
    print(f"{'events':>12}  {'query':<17}  {'eventkit':>9}  {'DuckDB':>9}  ratio")
    for total in sizes:
        store = open_store(Path(args.store_dir), total, args.entities)
        at_ns = bench.at_median(store.path)
        for name in bench.QUERIES:
            mb = {engine: run["mb"] for engine, run in
                  bench.query_memory(store.path, name, at_ns).items()}
            ratio = f"x{mb['polars'] / mb['duckdb']:.2f}" if mb["duckdb"] > 0 else "-"
            print(f"{total:>12,}  {name:<17}  {mb['polars']:>9.0f}  {mb['duckdb']:>9.0f}  "
                  f"{ratio}", flush=True)


def size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1M,10M", help="e.g. 200k or 1M,10M")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store-dir", default="/tmp/eventkit-vs-duckdb")
    parser.add_argument("--memory", default="", help="store sizes for the peak-RSS runs")
    args = parser.parse_args()
    results = {}
    for total in [size(s) for s in args.sizes.split(",") if s]:
        results[total] = run_size(total, args)
        gc.collect()
    names = [name for name, _, _ in next(iter(results.values()), [])]
    if names:
        print("\nmedian eventkit time / DuckDB time (at most 1.0 is the goal)")
        print(f"{'operation':<34}" + "".join(f"{n:>14,}" for n in results))
        for i, name in enumerate(names):
            print(f"{name:<34}" + "".join(f"{rows[i][1] / rows[i][2]:>14.2f}"
                                          for rows in results.values()))
    if args.memory:
        run_memory([size(s) for s in args.memory.split(",")], args)


if __name__ == "__main__":
    main()
