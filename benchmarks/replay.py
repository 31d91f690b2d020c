"""Replay speed into projections, and pacing accuracy.

    python benchmarks/replay.py [--events 1000000]

1. Events per second from a local store into a trivial vectorised projection
   (a batch at a time), and into a per-event Python callback (``Fold``).
2. Pacing: a 20-second span of history replayed at ``speed=1.0`` and at
   ``speed=10``: the wall time against the intended one, and the timing error
   of each event (p50 / p99).

Medians of three runs; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time

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


def _median(fn, runs: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def throughput(n_events: int) -> None:
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with tempfile.TemporaryDirectory() as tmp, ek.EmbeddedServer() as server, \
            ek.connect(server.url) as conn:
        info = publish(conn, generate(seed=21, n_events=n_events))
        store = ek.Store(tmp)
        store.sync(conn, "RIDES", progress=False)
        n = info.messages
        batch_s, _ = _median(lambda: ek.Replay(store, batch=50_000).run(Count(), progress=False))
        part = min(n, 200_000)
        fold = ek.Fold(lambda state, event: (state or 0) + 1, key=None)
        each_s, _ = _median(lambda: ek.Replay(store, until=part, batch=50_000).run(
            fold, progress=False), runs=1)
        events = conn.read("RIDES", progress=False)
        mem_s, _ = _median(lambda: ek.Replay(events, batch=50_000).run(Count(), progress=False))
    print(f"{n:,} events from a store into a vectorised projection: {batch_s:.2f} s, "
          f"{n / batch_s:,.0f} events/s (target >= 200,000/s)")
    print(f"  the same from memory (what a read returned): {n / mem_s:,.0f} events/s")
    print(f"  per-event Python callback (Fold), {part:,} events from the store: "
          f"{part / each_s:,.0f} events/s ({(n / batch_s) / (part / each_s):.0f}x slower)")


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
        replay = ek.Replay(frame, speed=speed)
        t = time.perf_counter()
        run = replay.start(Count())
        run.wait()
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
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--span", type=float, default=20.0)
    args = parser.parse_args()
    throughput(args.events)
    pacing(args.span)


if __name__ == "__main__":
    main()
