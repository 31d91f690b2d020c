"""Syncing a store (Delta Lake): as fast as a plain read, flat memory, instant re-syncs.

    python benchmarks/store.py [--small 1000000] [--large 5000000] [--runs 3] [--no-queries]
    python benchmarks/store.py --queries-on STORE_DIR     # the query memory figures alone

Starts an embedded nats-server, publishes the sample ride-share history in
chunks of a million events (each chunk its own seed and days), and syncs it
into a fresh store, each run in a fresh process so that its peak memory
(``VmHWM``) is its own:

- a full sync of ``--small`` events, then a re-sync with nothing new;
- the stream grown to ``--large`` events: a full sync of it from scratch, and
  an incremental sync of the grown part into the first store.

- a plain ``conn.read`` of the same events, for the sync's speed ratio (aim >= 0.8);
- on the large store, a filter (``scan().filter(...).collect()``) and
  ``Store.state_at`` at the median server time on both clocks, against DuckDB's
  own Parquet reader over the same files (``arg_max`` per key), each in a
  fresh process: the query's peak memory over that process's baseline (after
  imports, opening the store, listing its files), polars' over DuckDB's (aim
  <= 1.5). ``vs_duckdb.py --memory`` measures the same way (it calls this).

Prints medians and the ratio of peak memory large/small (the aim: at most 1.3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl


def peak_mb() -> float:
    """This process's peak resident memory.

    ``VmHWM``, not ``ru_maxrss``: on Linux the latter carries over the peak of
    the parent a child was forked from, so a child of a big parent would report
    the parent's memory.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _child(url: str, path: str) -> None:
    import eventkit as ek

    with ek.connect(url) as conn:
        store = ek.Store(path)
        base = peak_mb()
        t = time.perf_counter()
        result = store.sync(conn, "RIDES", progress=False)
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        store.sync(conn, "RIDES", progress=False)  # nothing new, in the same process
        again = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "events": result.events, "base_mb": base,
                      "peak_mb": peak_mb(), "again_s": again}))


def _read(url: str, _path: str) -> None:
    import eventkit as ek

    with ek.connect(url) as conn:
        base = peak_mb()
        t = time.perf_counter()
        events = conn.read("RIDES", progress=False)
        seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "events": len(events), "base_mb": base,
                      "peak_mb": peak_mb()}))


# -- query memory: one method, used by vs_duckdb.py --memory too ---------------------------
# Each query runs in a fresh process that has imported eventkit, polars and DuckDB, opened
# the store and listed its files; its peak resident memory is then set back to what it
# holds (Linux ``clear_refs``), and the query's memory is the peak over that baseline.
# DuckDB reads the same Parquet files (the tables' current files) with its own reader.
HEAD = ("seq", "subject", "time", "time_ns", "type", "key", "event_time", "event_time_ns")
QUERIES = ("filter", "state_time", "state_event_time")


def rss_kb(*, reset: bool = False) -> int:
    """Resident memory in KiB: the peak so far; with ``reset``, the current size, after
    setting the peak back to it (so the next peak is of what follows)."""
    status = Path("/proc/self/status")
    if not status.exists():  # not Linux: the process's peak, never reset
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
    return int(fields["VmRSS" if reset else "VmHWM"].split()[0])


def _files(store: object, name: str | None) -> list[str]:
    tables = store._tables  # type: ignore[attr-defined]
    table = tables.open(tables.envelope if name is None else tables.of_type(name))
    return tables.files(table)[0] if table is not None else []


def duckdb_sql(query: str, env: list[str], typed: list[str], fields: list[str],
               at_ns: int) -> str:
    """DuckDB's SQL for ``query`` on the store's files, as a SQL author would write it."""
    if query == "filter":
        return (f"SELECT * FROM read_parquet({env!r}) WHERE type = 'trip_completed' "
                f"AND time_ns <= {at_ns}")
    col = "time_ns" if query == "state_time" else "event_time_ns"
    order = "seq" if query == "state_time" else "(o, seq)"
    on = col.removesuffix("_ns")
    values = ", ".join(f'arg_max("{f}", {order}) FILTER (WHERE "{f}" IS NOT NULL) AS "{f}"'
                       for f in fields)
    exclude = ", ".join(HEAD)
    return f"""
    WITH head AS (
      SELECT key, arg_max(seq, {order}) AS seq, max(o) AS {on}, arg_max(type, {order}) AS type
      FROM (SELECT seq, key, type, {col} AS o FROM read_parquet({env!r}))
      WHERE o <= {at_ns} AND key IS NOT NULL GROUP BY key),
    vals AS (
      SELECT key, {values}
      FROM (SELECT seq, key, {col} AS o, * EXCLUDE ({exclude})
            FROM read_parquet({typed!r}, union_by_name = true))
      WHERE o <= {at_ns} AND key IS NOT NULL GROUP BY key)
    SELECT * FROM head LEFT JOIN vals USING (key)"""


def _query(engine: str, query: str, path: str, at_ns: int) -> None:
    import duckdb

    import eventkit as ek

    store = ek.Store(path)
    state = store.state()
    assert state is not None
    env = _files(store, None)
    typed = [f for name in state.types for f in _files(store, name)]
    fields = sorted({c for name in state.types
                     for c in store.of_type(name).collect_schema().names()} - set(HEAD))
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    at = dt.datetime.fromtimestamp(at_ns // 1000 / 1e6, dt.UTC)  # whole microseconds
    sql = duckdb_sql(query, env, typed, fields, at_ns + 999)  # at covers its microsecond
    base = rss_kb(reset=True)
    began = time.perf_counter()
    if engine == "duckdb":
        rows = con.sql(sql).to_arrow_table().num_rows
    elif query == "filter":
        rows = store.scan().filter((pl.col("type") == "trip_completed")
                                   & (pl.col("time") <= at)).collect().height
    else:
        rows = store.state_at(at, on="time" if query == "state_time" else "event_time").height
    print(json.dumps({"seconds": time.perf_counter() - began, "rows": rows,
                      "mb": (rss_kb() - base) / 1024, "base_mb": base / 1024}))


def query_memory(path: str | Path, query: str, at_ns: int) -> dict[str, dict[str, float]]:
    """``query`` on the store at ``path`` in polars (eventkit) and in DuckDB, each in a fresh
    process: seconds, rows and MB of peak memory over the process's baseline."""
    return {engine: _run(f"{engine}:{query}", Path(path), "--query-child", str(at_ns))
            for engine in ("polars", "duckdb")}


def at_median(path: str | Path) -> int:
    """The median server time of the store's events, in nanoseconds (the queries' bound)."""
    import eventkit as ek

    median = ek.Store(path).scan().select(pl.col("time").dt.epoch("ns").median()).collect()
    return int(median.item()) // 1000 * 1000


def all_queries(path: str | Path, runs: int = 1) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Each query on each engine ``runs`` times, each run in a fresh process."""
    at_ns = at_median(path)
    out: dict[str, dict[str, list[dict[str, float]]]] = {}
    for query in QUERIES:
        for _ in range(runs):
            for engine, run in query_memory(path, query, at_ns).items():
                out.setdefault(query, {}).setdefault(engine, []).append(run)
    return out


def print_queries(queries: dict[str, dict[str, list[dict[str, float]]]], n: int) -> None:
    print("query memory: peak RSS over the process's baseline (after imports and opening the "
          "store), a fresh process each, medians")
    for query, by in queries.items():
        p, d = ({k: statistics.median(r[k] for r in by[e]) for k in ("seconds", "mb", "rows")}
                for e in ("polars", "duckdb"))
        same = "" if p["rows"] == d["rows"] else f" (ROWS DIFFER: {p['rows']} vs {d['rows']})"
        print(f"  {query} on {n:,} events: polars {p['seconds']:.2f} s, {p['mb']:.0f} MB; "
              f"DuckDB {d['seconds']:.2f} s, {d['mb']:.0f} MB; memory polars/DuckDB "
              f"{p['mb'] / max(d['mb'], 1):.2f} (aim: at most 1.5){same}")


def _run(url: str, path: Path, mode: str = "--child", *more: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, mode, url, str(path), *more],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"a sync failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _grow(conn: object, have: int, want: int) -> int:
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    while have < want:
        n = min(1_000_000, want - have)
        start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(days=2 * (have // 1_000_000))
        frame = generate(seed=100 + have // 1_000_000, n_events=n, start=start)
        info = publish(conn, frame, create=have == 0)  # type: ignore[arg-type]
        have = info.messages
        print(f"  stream holds {have:,} events", flush=True)
    return have


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-queries", action="store_true",
                        help="leave out the filter and state-at queries on the large store")
    parser.add_argument("--queries-on", metavar="STORE",
                        help="only the query memory figures, on this existing store")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--read-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--query-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if args.read_child:
        _read(*args.read_child)
        return
    if args.query_child:
        engine, query = args.query_child[0].split(":")
        _query(engine, query, args.query_child[1], int(args.query_child[2]))
        return

    import eventkit as ek

    if args.queries_on:
        print_queries(all_queries(args.queries_on, args.runs), len(ek.Store(args.queries_on)))
        return

    work = Path(tempfile.mkdtemp(prefix="eventkit-bench-store-"))
    try:
        with ek.EmbeddedServer(work / "js") as server, ek.connect(server.url) as conn:
            print(f"publishing {args.small:,} sample events...", flush=True)
            small_n = _grow(conn, 0, args.small)
            small, resync, read_small = [], [], []
            for i in range(args.runs):
                path = work / f"small-{i}"
                read_small.append(_run(server.url, path, "--read-child"))
                small.append(_run(server.url, path))
                resync.append(_run(server.url, path))
                if i:
                    shutil.rmtree(path)
            print(f"growing the stream to {args.large:,} events...", flush=True)
            large_n = _grow(conn, small_n, args.large)
            large, incremental, read_large = [], [], []
            for i in range(args.runs):
                path = work / f"large-{i}"
                read_large.append(_run(server.url, path, "--read-child"))
                large.append(_run(server.url, path))
                if i < args.runs - 1:
                    shutil.rmtree(path)
            incremental.append(_run(server.url, work / "small-0"))
            queries = {} if args.no_queries else all_queries(work / f"large-{args.runs - 1}",
                                                             args.runs)

        def med(runs: list[dict[str, float]], key: str) -> float:
            return statistics.median(r[key] for r in runs)

        peak_small, peak_large = med(small, "peak_mb"), med(large, "peak_mb")
        print(f"\nafter imports and connecting: {med(small, 'base_mb'):.0f} MB")
        print(f"full sync of {small_n:,} events: {med(small, 'seconds'):.2f} s "
              f"({small_n / med(small, 'seconds'):,.0f} events/s), peak {peak_small:.0f} MB")
        print(f"re-sync with nothing new right after the full sync: "
              f"{med(small, 'again_s') * 1000:.1f} ms in-process (aim: under 100 ms)")
        print(f"re-sync with nothing new: {med(resync, 'again_s') * 1000:.1f} ms in-process "
              f"(aim: under 100 ms); {med(resync, 'seconds') * 1000:.1f} ms as the first call "
              f"of a fresh process (process peak {med(resync, 'peak_mb'):.0f} MB)")
        print(f"full sync of {large_n:,} events: {med(large, 'seconds'):.2f} s "
              f"({large_n / med(large, 'seconds'):,.0f} events/s), peak {peak_large:.0f} MB")
        print(f"incremental sync of the {large_n - small_n:,} newer events: "
              f"{incremental[0]['seconds']:.2f} s, peak {incremental[0]['peak_mb']:.0f} MB")
        print(f"peak memory {large_n:,} / {small_n:,}: {peak_large / peak_small:.2f} "
              "(aim: at most 1.3)")
        for n, reads, syncs in ((small_n, read_small, small), (large_n, read_large, large)):
            r, sy = med(reads, "seconds"), med(syncs, "seconds")
            print(f"conn.read of {n:,} events: {r:.2f} s, peak {med(reads, 'peak_mb'):.0f} MB; "
                  f"sync speed / read speed: {r / sy:.2f} (aim: at least 0.8)")
        print_queries(queries, large_n)
        print("runs:", json.dumps({"small": small, "resync": resync, "large": large,
                                   "incremental": incremental, "read_small": read_small,
                                   "read_large": read_large, "queries": queries}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
