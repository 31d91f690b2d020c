"""Reading 1,000,000 events from JetStream into a typed table: eventkit against the naive way.

    python benchmarks/ingest.py [--events 1000000] [--runs 3]

Starts an embedded nats-server, publishes the sample ride-share history, then
reads it back three ways, each run in a fresh process (so peak memory is its
own):

- eventkit: ``conn.read(...)``: the envelope and a typed table per event type,
  decoded (``of_type`` then only joins the envelope columns to a type's fields);
- naive: nats-py push subscription, ``json.loads`` and ``msg.metadata`` per
  message, a list of dicts, ``pl.DataFrame``;
- nats-py floor: nats-py's ordered consumer doing nothing but receive.

Prints medians, events/s, the ratio to the naive way, and peak memory
against the size of the Arrow data eventkit produced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def _status(field: str) -> float:
    # /proc, not getrusage: ru_maxrss survives exec, so a child would report
    # the parent's size at fork time as its own peak.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    """Resident memory now, MB."""
    return _status("VmRSS")


def peak_mb() -> float:
    """Highest resident memory of this process since it started, MB."""
    return _status("VmHWM")


def way_eventkit(url: str, n: int, end: int | None = None) -> dict[str, float]:
    import eventkit as ek

    with ek.connect(url) as conn:
        base = rss_mb()
        t = time.perf_counter()
        # decoded and typed: the envelope, and every type's payload fields as typed columns
        events = conn.read("RIDES", progress=False, end=end)
        seconds = time.perf_counter() - t
        peak = peak_mb()
        arrow = events.to_arrow().nbytes + sum(f.to_arrow().nbytes for f in events._typed.values())
        assert len(events) == (n if end is None else end), (len(events), n)
    return {"seconds": seconds, "events": len(events), "base_mb": base, "peak_mb": peak,
            "arrow_mb": arrow / 1e6}


def way_naive(url: str, n: int) -> dict[str, float]:
    import asyncio

    import nats
    import polars as pl

    async def run() -> dict[str, float]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        base = rss_mb()
        rows: list[dict[str, object]] = []
        done = asyncio.Event()
        t = time.perf_counter()

        async def on_msg(msg):  # type: ignore[no-untyped-def]
            meta = msg.metadata
            try:
                row = json.loads(msg.data)
            except ValueError:
                row = {"error": "bad"}
            row["seq"] = meta.sequence.stream
            row["time"] = meta.timestamp
            row["subject"] = msg.subject
            rows.append(row)
            if len(rows) >= n:
                done.set()

        sub = await js.subscribe("rides.>", cb=on_msg)
        await done.wait()
        await sub.unsubscribe()
        frame = pl.DataFrame(rows, infer_schema_length=None, strict=False)
        seconds = time.perf_counter() - t
        await nc.close()
        return {"seconds": seconds, "events": frame.height, "base_mb": base, "peak_mb": peak_mb()}

    return asyncio.run(run())


def way_floor(url: str, n: int) -> dict[str, float]:
    import asyncio

    import nats

    async def run() -> dict[str, float]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        base = rss_mb()
        count = 0
        done = asyncio.Event()
        t = time.perf_counter()

        async def on_msg(msg):  # type: ignore[no-untyped-def]
            nonlocal count
            count += 1
            if count >= n:
                done.set()

        sub = await js.subscribe("rides.>", cb=on_msg, ordered_consumer=True)
        await done.wait()
        seconds = time.perf_counter() - t
        await sub.unsubscribe()
        await nc.close()
        return {"seconds": seconds, "events": count, "base_mb": base, "peak_mb": peak_mb()}

    return asyncio.run(run())


def way_eventkit_quarter(url: str, n: int) -> dict[str, float]:
    """eventkit on the first quarter of the stream: with the full read, the slope of memory."""
    return way_eventkit(url, n, end=n // 4)


WAYS = {"eventkit": way_eventkit, "naive": way_naive, "nats-py ordered, receive only": way_floor,
        "eventkit, first quarter": way_eventkit_quarter}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--way")
    parser.add_argument("--url")
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    if args.way:  # a child run
        print(json.dumps(WAYS[args.way](args.url, args.n)))
        return

    import eventkit as ek
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    t = time.perf_counter()
    frame = generate(seed=11, n_events=args.events)
    print(f"generated {frame.height:,} events in {time.perf_counter() - t:.1f} s")
    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        t = time.perf_counter()
        info = publish(conn, frame)
        seconds = time.perf_counter() - t
        print(f"published {info.messages:,} in {seconds:.1f} s "
              f"({info.messages / seconds:,.0f}/s, acked, eventkit publish_many)")
        n = info.messages
        del frame
        results: dict[str, list[dict[str, float]]] = {w: [] for w in WAYS}
        for _ in range(args.runs):
            for way in WAYS:
                out = subprocess.run(
                    [sys.executable, __file__, "--way", way, "--url", server.url, "--n", str(n)],
                    capture_output=True, text=True, check=True, timeout=600)
                results[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
    quarter = results.pop("eventkit, first quarter")
    naive = statistics.median(r["seconds"] for r in results["naive"])
    print(f"\n{n:,} events, median of {args.runs} runs, each in a fresh process")
    print(f"{'way':<32}{'seconds':>9}{'events/s':>12}{'vs naive':>10}{'peak MB':>10}")
    for way, runs in results.items():
        sec = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_mb"] - r["base_mb"] for r in runs)
        print(f"{way:<32}{sec:>9.2f}{n / sec:>12,.0f}{naive / sec:>9.1f}x{peak:>10.0f}")
    ek_runs = results["eventkit"]
    arrow = statistics.median(r["arrow_mb"] for r in ek_runs)
    peak = statistics.median(r["peak_mb"] - r["base_mb"] for r in ek_runs)
    q_arrow = statistics.median(r["arrow_mb"] for r in quarter)
    q_peak = statistics.median(r["peak_mb"] - r["base_mb"] for r in quarter)
    slope = (peak - q_peak) / (arrow - q_arrow)
    print(f"\neventkit memory: Arrow data {arrow:.0f} MB, peak above baseline {peak:.0f} MB "
          f"({peak / arrow:.2f}x); a quarter of the stream: {q_arrow:.0f} MB, peak {q_peak:.0f} MB."
          f"\npeak = {slope:.2f} x Arrow + {peak - slope * arrow:.0f} MB "
          f"(target: <= 1.5 x Arrow + a constant)")


if __name__ == "__main__":
    main()
