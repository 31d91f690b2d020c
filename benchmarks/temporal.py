"""Temporal queries on 10M synthetic events: medians and ratios, in one run.

    python benchmarks/temporal.py [--events 10_000_000] [--entities 100_000]

Three checks, against the naive way:

* ``state_at`` with the default fold against the brute-force oracle (a
  Python loop over the events, as the tests use), timed on a slice and scaled
  to the same events: at least 50x faster;
* ``as_of`` on a sorted store is a binary search and a slice: its time does
  not grow with the store (O(log n)), unlike a filter;
* a count per type in 1-minute windows, well under a second.

The events are generated vectorised in polars (no Python loop): one day of a
ride-share stream, pairs of events sharing a timestamp, event times lagging
by up to 5 s, 1% of them late by up to 10 minutes and 2% missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from eventkit import query
from eventkit.envelope import ENVELOPE_SCHEMA, TIME

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY_NS = 86_400 * 10**9
TYPES = ["ride_requested", "driver_assigned", "driver_located", "ride_picked_up",
         "trip_completed", "ride_cancelled"]
PAYLOAD = ["status", "driver", "fare", "lat", "lon"]


def synthetic_events(n: int, entities: int) -> pl.DataFrame:
    """``n`` events over ``entities`` entities, in stream order, sorted flags set."""
    i = pl.int_range(n, dtype=pl.UInt64)

    def draw(seed: int, modulo: int) -> pl.Expr:
        return (i.hash(seed) % modulo).cast(pl.Int64)

    kind = pl.lit(pl.Series(TYPES)).get(draw(1, len(TYPES)))
    time_ns = pl.lit(START).cast(TIME).dt.epoch("ns") + (i // 2).cast(pl.Int64) * (2 * DAY_NS // n)
    lag_ns = pl.when(draw(4, 100) == 0).then(draw(5, 600) * 10**9).otherwise(draw(6, 5 * 10**9))
    located = pl.col("type") == "driver_located"
    return (
        pl.select(
            (i + 1).alias("seq"),
            time_ns.cast(TIME).alias("time"),
            kind.alias("type"),
            pl.format("ride-{}", draw(2, entities)).alias("key"),
            draw(3, 100).alias("null_draw"),
            lag_ns.alias("lag_ns"),
            draw(7, 5_000).alias("driver_no"),
            (draw(8, 5_000) / 100).alias("amount"),
        )
        .with_columns(
            pl.format("rides.{}", "type").alias("subject"),
            pl.when(pl.col("null_draw") < 2).then(None)
            .otherwise(pl.col("time") - pl.duration(nanoseconds=pl.col("lag_ns")))
            .alias("event_time"),
            pl.lit(None, pl.String).alias("headers"),
            pl.lit(None, pl.Binary).alias("data"),
            pl.lit(None, pl.String).alias("error"),
            pl.when(~located).then(pl.col("type").str.split("_").list.last()).alias("status"),
            pl.when(pl.col("type").is_in(["driver_assigned", "driver_located"]))
            .then(pl.format("driver-{}", "driver_no")).alias("driver"),
            pl.when(pl.col("type") == "trip_completed").then(pl.col("amount")).alias("fare"),
            pl.when(located).then(52 + pl.col("amount") / 1000).alias("lat"),
            pl.when(located).then(13 + pl.col("amount") / 1000).alias("lon"),
        )
        .select(*ENVELOPE_SCHEMA, *PAYLOAD)
        .set_sorted("seq")
        .set_sorted("time")
    )


def oracle_state_at(events: list[dict[str, Any]], t: dt.datetime) -> int:
    """The tests' brute force: merge each event's non-null fields into its entity."""
    states: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["time"] > t:
            continue
        state = states.setdefault(event["key"], dict.fromkeys(PAYLOAD))
        state.update(seq=event["seq"], time=event["time"], type=event["type"])
        for name in PAYLOAD:
            if event[name] is not None:
                state[name] = event[name]
    return len(states)


def tight_oracle_state_at(rows: list[tuple[Any, ...]], columns: list[str], t: dt.datetime) -> int:
    """The same loop at its fastest: tuples, indices looked up once."""
    at = {c: columns.index(c) for c in columns}
    seq, when, kind, key = at["seq"], at["time"], at["type"], at["key"]
    fields = [(f, at[f]) for f in PAYLOAD]
    states: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row[when] > t:
            continue
        state = states.get(row[key])
        if state is None:
            state = states[row[key]] = dict.fromkeys(PAYLOAD)
        state["seq"], state["time"], state["type"] = row[seq], row[when], row[kind]
        for name, index in fields:
            if row[index] is not None:
                state[name] = row[index]
    return len(states)


def seconds(run: Callable[[], object]) -> float:
    """One run's wall time, with Python's garbage collector paused (as timeit does)."""
    gc.disable()
    try:
        began = time.perf_counter()
        run()
        return time.perf_counter() - began
    finally:
        gc.enable()


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """The median of ``repeat`` timed runs, after one untimed run that warms up
    the allocator (the first pass over fresh memory pays its page faults)."""
    run()
    return statistics.median(seconds(run) for _ in range(repeat))


def time_oracles(part: pl.DataFrame, t: dt.datetime) -> tuple[float, float]:
    """Median seconds of both oracles over ``part``, its rows made outside the timer."""
    dicts, columns, rows = part.to_dicts(), part.columns, part.rows()
    return (
        median_seconds(lambda: oracle_state_at(dicts, t), repeat=3),
        median_seconds(lambda: tight_oracle_state_at(rows, columns, t), repeat=3),
    )


def show(rows: list[tuple[str, float, str]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    print(f"{'operation':<{width}}  {'median':>11}  note")
    for name, seconds, note in rows:
        shown = f"{seconds * 1e3:9.2f} ms" if seconds < 10 else f"{seconds:9.2f} s "
        print(f"{name:<{width}}  {shown}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--oracle-slice", type=int, default=200_000)
    args = parser.parse_args()
    n = args.events

    began = time.perf_counter()
    events = synthetic_events(n, args.entities)
    print(f"{n:,} events over {args.entities:,} entities generated in "
          f"{time.perf_counter() - began:.1f} s ({events.estimated_size('mb'):,.0f} MB)\n")
    t = START + dt.timedelta(hours=18)  # three quarters of the day
    known = query.as_of(events, t, on="time").height
    results: list[tuple[str, float, str]] = []

    # state_at against the Python-loop oracle, timed on a slice and scaled to
    # the same events.
    fast = median_seconds(lambda: query.state_at(events, t, on="time"), repeat=5)
    entities = query.state_at(events, t, on="time").height
    part = events.head(args.oracle_slice)
    scale = known / part.height
    loop, tight = (seconds * scale for seconds in time_oracles(part, t))
    ratio = loop / fast
    results += [
        (f"state_at(t), merge fold, {known:,} events", fast, f"{entities:,} entities"),
        ("oracle: loop over dict events (as the tests)", loop,
         f"x{ratio:.0f} slower; timed on {part.height:,} events and scaled"),
        ("oracle: tight loop over tuples", tight, f"x{tight / fast:.0f} slower"),
    ]
    valid = median_seconds(lambda: query.state_at(events, t, on="event_time"), repeat=3)
    results.append(("state_at(t, on='event_time')", valid, "sorts by (event_time, seq)"))

    # as_of: a binary search on a sorted store, against a full scan.
    small = events.head(n // 10)
    unflagged = events.with_columns(pl.col("time") + pl.duration(nanoseconds=0))
    sliced = median_seconds(lambda: query.as_of(events, t, on="time"), repeat=101)
    two_hours = START + dt.timedelta(hours=2)
    sliced_small = median_seconds(lambda: query.as_of(small, two_hours, on="time"), 101)
    scan = median_seconds(lambda: unflagged.filter(pl.col("time") <= t), repeat=5)
    checked = median_seconds(lambda: query.as_of(unflagged, t, on="time"), repeat=5)
    results += [
        (f"as_of(t) on a sorted store, {n:,} rows", sliced,
         f"x{scan / sliced:,.0f} faster than a full scan"),
        (f"as_of(t) on a sorted store, {n // 10:,} rows", sliced_small,
         f"10x the rows cost x{sliced / sliced_small:.1f}: O(log n)"),
        ("filter(time <= t), a full scan", scan, "the time column not flagged sorted"),
        ("as_of(t), time not flagged sorted", checked, "one pass checks the order, then a slice"),
    ]

    # 1-minute windows per type.
    windows = median_seconds(lambda: query.windows(events, "1m", by="type", on="time"),
                             repeat=5)
    groups = query.windows(events, "1m", by="type", on="time").height
    results.append(("windows('1m', by='type')", windows, f"{groups:,} rows"))

    show(results)
    print(f"\nstate_at vs oracle: x{ratio:.0f} (goal x50) {'ok' if ratio >= 50 else 'MISSED'}; "
          f"windows: {windows:.3f} s (goal < 1 s) {'ok' if windows < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
