"""Replay speed into projections, and pacing accuracy.

    python benchmarks/replay.py [--events 5000000] [--runs 3]

1. Events per second from a local store (the sample history, synced) into
   the built-in ``Latest()`` projection (target: 200,000/s on 5M events), into
   a trivial vectorised projection (a batch at a time: the replay's own cost),
   and into a per-event Python callback (``Fold``, on the first 200,000). Each
   with its peak memory over the process's before it (``VmHWM`` reset through
   ``/proc/self/clear_refs``), against the size of the whole envelope in
   memory and of the projection's state.
2. Pacing: a 20-second span of history replayed at ``speed=1.0`` and at
   ``speed=10``: the wall time against the intended one, and the timing error
   of each event (p50 / p99).

Medians of ``--runs`` runs; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

import eventkit as ek


class Count:
    """The trivial vectorised projection: how many events, by batch."""

    def __init__(self) -> None:
        self.n = 0

    def apply_batch(self, frame: pl.DataFrame) -> None:
        self.n += frame.height

    def state(self) -> pl.DataFrame:
        return pl.DataFrame({"events": [self.n]})


def _rss(field: str = "VmHWM") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _median(fn, runs: int = 3) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Median seconds and median peak MB over the memory in use before (Linux)."""
    times, peaks, out = [], [], None
    for _ in range(runs):
        out = None
        gc.collect()
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = _rss("VmRSS")
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        peaks.append(_rss() - before)
    return statistics.median(times), statistics.median(peaks), out


def throughput(n_events: int, runs: int) -> None:

    with tempfile.TemporaryDirectory() as tmp:
        _throughput(n_events, runs, tmp)


def _throughput(n_events: int, runs: int, tmp: str) -> None:
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        have = 0
        while have < n_events:  # in chunks of a million: each its own seed and days
            n = min(1_000_000, n_events - have)
            start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(days=2 * (have // 10**6))
            have = publish(conn, generate(seed=21 + have // 10**6, n_events=n, start=start),
                           create=have == 0).messages
        store = ek.Store(tmp)
        store.sync(conn, "RIDES", progress=False)
    n = len(store)
    envelope_mb = store.scan().collect().estimated_size() / 2**20
    latest_s, latest_mb, state = _median(
        lambda: ek.Replay(store).run(ek.Latest(), progress=False), runs)
    assert isinstance(state, pl.DataFrame)
    count_s, count_mb, _ = _median(lambda: ek.Replay(store).run(Count(), progress=False), runs)
    part = min(n, 200_000)
    each_s, each_mb, _ = _median(lambda: ek.Replay(store, until=part).run(
        ek.Fold(lambda state, event: (state or 0) + 1, key=None), progress=False), runs)
    print(f"{n:,} events from a store (whole envelope in memory: {envelope_mb:,.0f} MB):")
    print(f"  into Latest(): {latest_s:.2f} s, {n / latest_s:,.0f} events/s (target >= "
          f"200,000/s), peak +{latest_mb:,.0f} MB; its state {state.height:,} entities, "
          f"{state.estimated_size() / 2**20:,.0f} MB")
    print(f"  into a projection that only counts (the replay's own cost): {count_s:.2f} s, "
          f"{n / count_s:,.0f} events/s, peak +{count_mb:,.0f} MB")
    print(f"  into a per-event Python callback (Fold), the first {part:,}: "
          f"{part / each_s:,.0f} events/s, peak +{each_mb:,.0f} MB")


def pacing(span_s: float = 20.0, events: int = 2_000) -> None:
    t0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=span_s / (events - 1))
    frame = pl.DataFrame({
        "seq": pl.Series(range(1, events + 1), dtype=pl.UInt64),
        "subject": ["paced.x"] * events,
        "time": pl.Series([t0 + i * step for i in range(events)], dtype=pl.Datetime("ns", "UTC")),
        "type": ["ticked"] * events, "key": [f"k{i % 10}" for i in range(events)],
        "n": list(range(events)),
    })
    for speed in (1.0, 10.0):
        replay = ek.Replay(frame, speed=speed, pace_on="time")
        t = time.perf_counter()
        run = replay.start(Count())
        run.wait()
        if run.error is not None:
            raise run.error
        took = time.perf_counter() - t
        intended = span_s / speed
        errors = sorted(abs(e) for e in run.timing_errors)
        p50 = errors[len(errors) // 2] * 1e3
        p99 = errors[int(len(errors) * 0.99)] * 1e3
        print(f"speed {speed:>4}: {span_s:.0f} s of history in {took:.3f} s, intended "
              f"{intended:.3f} s: {abs(took - intended) / intended:.2%} off (target < 2%); "
              f"per-event timing error p50 {p50:.2f} ms, p99 {p99:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--span", type=float, default=20.0)
    args = parser.parse_args()
    throughput(args.events, args.runs)
    pacing(args.span)


if __name__ == "__main__":
    main()
