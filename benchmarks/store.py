"""Syncing a local store: peak memory stays flat as the stream grows; re-syncs are instant.

    python benchmarks/store.py [--small 1000000] [--large 5000000] [--runs 3]

Starts an embedded nats-server, publishes the sample ride-share history in
chunks of a million events (each chunk its own seed and days), and syncs it
into a fresh store, each run in a fresh process so that its peak memory
(``VmHWM``) is its own:

- a full sync of ``--small`` events, then a re-sync with nothing new;
- the stream grown to ``--large`` events: a full sync of it from scratch, and
  an incremental sync of the grown part into the first store.

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
    print(json.dumps({"seconds": seconds, "events": result.events, "base_mb": base,
                      "peak_mb": peak_mb()}))


def _run(url: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", url, str(path)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"a sync failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _grow(conn: object, have: int, want: int) -> int:
    from sample_data import generate
    from sample_data.publish import publish

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
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    import eventkit as ek

    work = Path(tempfile.mkdtemp(prefix="eventkit-bench-store-"))
    try:
        with ek.EmbeddedServer(work / "js") as server, ek.connect(server.url) as conn:
            print(f"publishing {args.small:,} sample events...", flush=True)
            small_n = _grow(conn, 0, args.small)
            small, resync = [], []
            for i in range(args.runs):
                path = work / f"small-{i}"
                small.append(_run(server.url, path))
                resync.append(_run(server.url, path))
                if i:
                    shutil.rmtree(path)
            print(f"growing the stream to {args.large:,} events...", flush=True)
            large_n = _grow(conn, small_n, args.large)
            large, incremental = [], []
            for i in range(args.runs):
                path = work / f"large-{i}"
                large.append(_run(server.url, path))
                shutil.rmtree(path)
            incremental.append(_run(server.url, work / "small-0"))

        def med(runs: list[dict[str, float]], key: str) -> float:
            return statistics.median(r[key] for r in runs)

        peak_small, peak_large = med(small, "peak_mb"), med(large, "peak_mb")
        print(f"\nafter imports and connecting: {med(small, 'base_mb'):.0f} MB")
        print(f"full sync of {small_n:,} events: {med(small, 'seconds'):.2f} s "
              f"({small_n / med(small, 'seconds'):,.0f} events/s), peak {peak_small:.0f} MB")
        print(f"re-sync with nothing new: {med(resync, 'seconds') * 1000:.1f} ms "
              f"(process peak {med(resync, 'peak_mb'):.0f} MB)")
        print(f"full sync of {large_n:,} events: {med(large, 'seconds'):.2f} s "
              f"({large_n / med(large, 'seconds'):,.0f} events/s), peak {peak_large:.0f} MB")
        print(f"incremental sync of the {large_n - small_n:,} newer events: "
              f"{incremental[0]['seconds']:.2f} s, peak {incremental[0]['peak_mb']:.0f} MB")
        print(f"peak memory {large_n:,} / {small_n:,}: {peak_large / peak_small:.2f} "
              "(aim: at most 1.3)")
        print("runs:", json.dumps({"small": small, "resync": resync, "large": large,
                                   "incremental": incremental}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
