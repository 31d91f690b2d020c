"""Syncing a store (Delta Lake): as fast as a plain read, flat memory, instant re-syncs.

    python benchmarks/store.py [--small 1000000] [--large 5000000] [--runs 3] [--no-queries]

Starts an embedded nats-server, publishes the sample ride-share history in
chunks of a million events (each chunk its own seed and days), and syncs it
into a fresh store, each run in a fresh process so that its peak memory
(``VmHWM``) is its own:

- a full sync of ``--small`` events, then a re-sync with nothing new;
- the stream grown to ``--large`` events: a full sync of it from scratch, and
  an incremental sync of the grown part into the first store.

- a plain ``conn.read`` of the same events, for the sync's speed ratio (aim >= 0.8);
- on the large store, a filter (``scan().filter(...).collect()``) and the
  state of every key at a time on both clocks, in polars and in DuckDB
  (``store.sql``), each in a fresh process: polars' peak over DuckDB's (aim <= 1.5).

Prints medians and the ratio of peak memory large/small (the aim: at most 1.3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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


QUERIES = {
    "filter": (
        lambda s, t: s.scan().filter((pl.col("type") == "trip_completed")
                                     & (pl.col("time") <= t)).collect(),
        "SELECT * FROM envelope WHERE type = 'trip_completed' AND time <= TIMESTAMP '{t}'"),
    "state_time": (
        lambda s, t: ek_query().state_at(s.scan().select("seq", "key", "type", "time",
                                                         "event_time"),
                                         t, on="time", fold="last").collect(),
        "SELECT key, arg_max(type, seq) AS type FROM envelope WHERE time <= TIMESTAMP '{t}' "
        "GROUP BY key"),
    "state_event_time": (
        lambda s, t: ek_query().state_at(s.scan().select("seq", "key", "type", "time",
                                                         "event_time"),
                                         t, on="event_time", fold="last").collect(),
        "SELECT key, arg_max(type, [event_time_ns, seq]) AS type FROM envelope "
        "WHERE event_time <= TIMESTAMP '{t}' GROUP BY key"),
}


def ek_query():
    from eventkit import query

    return query


def _query(engine_query: str, path: str) -> None:
    import eventkit as ek

    engine, name = engine_query.split(":")
    store = ek.Store(path)
    t = store.scan().select(pl.col("time").median()).collect().item()
    base = peak_mb()
    began = time.perf_counter()
    run, sql = QUERIES[name]
    if engine == "polars":
        rows = run(store, t).height
    else:
        rows = store.sql(sql.format(t=t.strftime("%Y-%m-%d %H:%M:%S.%f+00"))).height
    print(json.dumps({"seconds": time.perf_counter() - began, "rows": rows, "base_mb": base,
                      "peak_mb": peak_mb()}))


def _run(url: str, path: Path, mode: str = "--child") -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, mode, url, str(path)],
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
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--read-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--query-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if args.read_child:
        _read(*args.read_child)
        return
    if args.query_child:
        _query(*args.query_child)
        return

    import eventkit as ek

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
            queries: dict[str, dict[str, dict[str, float]]] = {}
            for name in () if args.no_queries else QUERIES:
                for engine in ("polars", "duckdb"):
                    queries.setdefault(name, {})[engine] = _run(
                        f"{engine}:{name}", work / f"large-{args.runs - 1}", "--query-child")

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
        for name, by in queries.items():
            p, d = by["polars"], by["duckdb"]
            print(f"{name} on {large_n:,}: polars {p['seconds']:.2f} s, "
                  f"{p['peak_mb'] - p['base_mb']:.0f} MB over base; DuckDB {d['seconds']:.2f} s, "
                  f"{d['peak_mb'] - d['base_mb']:.0f} MB over base; peak ratio polars/DuckDB "
                  f"{p['peak_mb'] / d['peak_mb']:.2f} (aim: at most 1.5)")
        print("runs:", json.dumps({"small": small, "resync": resync, "large": large,
                                   "incremental": incremental, "read_small": read_small,
                                   "read_large": read_large, "queries": queries}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
