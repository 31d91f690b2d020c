"""Replay speed into projections, and pacing accuracy.

    python benchmarks/replay.py [--events 5000000] [--runs 3] [--store DIR]

1. Events per second from a local store (the sample history, synced) into
   the built-in ``Latest()`` projection (target: 200,000/s on 5M events), into
   a trivial vectorised projection (a batch at a time: the replay's own cost),
   and into a per-event Python callback (``Fold``, on the first 200,000). Each
   replay runs in a fresh process, its peak memory (``VmHWM``) over the
   process's after opening the store, against the size of the whole envelope
   in memory and of the projection's state. ``--store DIR`` replays a store
   synced before instead of publishing and syncing one.
2. Pacing: a 20-second span of history replayed at ``speed=1.0`` and at
   ``speed=10``: the wall time against the intended one, and the timing error
   of each event (p50 / p99).

Medians of ``--runs`` runs; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
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


def _peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``: a fresh process's own)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _child(kind: str, path: str) -> None:
    """One replay of the store at ``path`` in this (fresh) process; prints JSON."""
    store = ek.Store(path)
    n = len(store) if kind != "fold" else min(len(store), 200_000)
    base = _peak_mb()
    t = time.perf_counter()
    if kind == "latest":
        state = ek.Replay(store).run(ek.Latest(), progress=False)
    elif kind == "count":
        state = ek.Replay(store).run(Count(), progress=False)
    else:
        state = ek.Replay(store, end=n).run(
            ek.Fold(lambda s, event: (s or 0) + 1, key=None), progress=False)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "events": n, "base_mb": base, "peak_mb": _peak_mb(),
                      "entities": state.height, "state_mb": state.estimated_size() / 2**20}))


def _run(kind: str, path: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, path], capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"a replay failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput(n_events: int, runs: int, path: str | None) -> None:
    if path is not None:
        _throughput(runs, path)
        return
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with tempfile.TemporaryDirectory() as tmp:
        with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
            have = 0
            while have < n_events:  # in chunks of a million: each its own seed and days
                n = min(1_000_000, n_events - have)
                start = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
                         + dt.timedelta(days=2 * (have // 10**6)))
                have = publish(conn, generate(seed=21 + have // 10**6, n_events=n, start=start),
                               create=have == 0).messages
            ek.Store(tmp).sync(conn, "RIDES", progress=False)
        _throughput(runs, tmp)


def _throughput(runs: int, path: str) -> None:
    store = ek.Store(path)
    envelope_mb = store.scan().collect().estimated_size() / 2**20
    print(f"{len(store):,} events from a store (the whole envelope in memory: "
          f"{envelope_mb:,.0f} MB); each replay in a fresh process, medians of {runs}:")
    for kind, what in (("latest", "into Latest() (target >= 200,000 events/s)"),
                       ("count", "into a projection that only counts (the replay's own cost)"),
                       ("fold", "into a per-event Python callback (Fold), the first events")):
        got = [_run(kind, path) for _ in range(runs)]
        seconds = statistics.median(r["seconds"] for r in got)
        over = statistics.median(r["peak_mb"] - r["base_mb"] for r in got)
        n = got[0]["events"]
        state = (f"; the state: {got[0]['entities']:,} entities, {got[0]['state_mb']:,.0f} MB"
                 if kind == "latest" else "")
        print(f"  {what}: {n:,} in {seconds:.2f} s, {n / seconds:,.0f} events/s, peak "
              f"{over:,.0f} MB over the opened store{state}")


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
    parser.add_argument("--store", help="replay this synced store (no publishing)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    throughput(args.events, args.runs, args.store)
    pacing(args.span)


if __name__ == "__main__":
    main()
