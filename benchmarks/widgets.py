"""Widget responsiveness on 1,000,000 events: one brush or scrub step, end to end.

    python benchmarks/widgets.py [--events 1000000] [--steps 31]

Generates the sample ride-share history at that size, decodes it as a read
would (no server: the step is what is timed, not the read), and builds the
widgets. Then it times what one interaction costs in the kernel, driving the
widgets exactly as the browser does:

- Explorer brush step: the chart widget reports a new brush range
  (``_vl_selections``); the widget selects the events in it with the
  filters, sorts and pages them, and sends the table (query + table data);
- TimeTravel scrub step: the slider moves one position; the widget computes
  every entity's state at the new time, the changes since the previous
  position, the page of full states, and the new chart (query + chart data);
- TimeTravel jump: the slider moves a quarter of the way (a larger diff);
- Explorer filter step: a type filter changes (query + a new rate chart);
- ReplayPlayer: a seek 10,000 events forward (the replay layer applies them
  to its projection in the background) with the redraw, and a redraw alone.

Prints the median and the 90th percentile of each, in milliseconds; the goal
is a median under 200 ms for a brush or scrub step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable

import orjson
import polars as pl

GOAL_MS = 200.0


def sample_events(n: int) -> object:
    """About ``n`` sample events, decoded into :class:`eventkit.Events` as a read would."""
    from eventkit.codec import decode
    from eventkit.envelope import TIME, Rules
    from eventkit.events import Events
    from eventkit.sample.rides import RULES, generate

    frame = generate(n_events=int(n * 1.03)).head(n)
    blocks = [None if h is None else (
        "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in orjson.loads(h).items()) + "\r\n"
    ).encode() for h in frame["headers"].to_list()]
    seq = pl.Series("seq", range(1, frame.height + 1), dtype=pl.UInt64)
    return Events(decode(seq, frame["arrival"].cast(TIME), frame["subject"].to_list(), blocks,
                         frame["data"].to_list(), Rules.from_metadata(RULES)))


def timed(steps: list[Callable[[], object]]) -> list[float]:
    """Milliseconds each step took."""
    out = []
    for step in steps:
        began = time.perf_counter()
        step()
        out.append((time.perf_counter() - began) * 1000)
    return out


def report(name: str, ms: list[float]) -> tuple[str, float]:
    median = statistics.median(ms)
    p90 = statistics.quantiles(ms, n=10)[-1] if len(ms) > 2 else max(ms)
    print(f"  {name:<50} median {median:7.1f} ms   p90 {p90:7.1f} ms   ({len(ms)} steps)")
    return name, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=31)
    args = parser.parse_args()
    rng = random.Random(7)

    from eventkit.widgets import Explorer, ReplayPlayer, TimeTravel

    began = time.perf_counter()
    events = sample_events(args.events)
    print(f"{len(events):,} events generated and decoded in "  # type: ignore[arg-type]
          f"{time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    explorer = Explorer(events)
    travel = TimeTravel(events, end_types=["payment_captured", "payment_failed",
                                           "ride_cancelled"], steps=400)
    player = ReplayPlayer(events, tick=3_600)  # redrawn here only, not by its poller
    print(f"widgets built in {time.perf_counter() - began:.1f} s (offline chart setup, "
          "one sort by event time)\n")

    lo, hi = travel._first, travel._last
    span = (hi - lo).total_seconds()

    def brush_step() -> Callable[[], object]:
        start = lo + dt.timedelta(seconds=rng.uniform(0, 0.8) * span)
        end = start + dt.timedelta(seconds=rng.uniform(0.01, 0.2) * span)
        value = {"window_start": [start.timestamp() * 1000, end.timestamp() * 1000]}
        return lambda: setattr(explorer.chart_view, "_vl_selections",
                               {"brush": {"value": value, "store": []}})

    def scrub_step(delta: int) -> Callable[[], object]:
        def step() -> None:
            value = travel.slider.value + delta
            travel.slider.value = value if 0 <= value <= 400 else travel.slider.value - delta
        return step

    types = sorted(events.types)  # type: ignore[attr-defined]
    travel.slider.value = 200
    timed([brush_step()])  # warm up the paths once
    results = [
        report("Explorer: brush step (query + table)",
               timed([brush_step() for _ in range(args.steps)])),
        report("TimeTravel: scrub one step (query + chart)",
               timed([scrub_step(rng.choice((-1, 1))) for _ in range(args.steps)])),
    ]
    report("TimeTravel: jump a quarter of the way", timed(
        [scrub_step(rng.choice((-100, 100))) for _ in range(max(args.steps // 3, 3))]))
    report("Explorer: type filter (query + rate chart)", timed(
        [lambda t=t: setattr(explorer, "types", (t,)) for t in types * 2]))
    def seek(seq: int) -> Callable[[], object]:
        def step() -> None:
            player.seek(seq)
            player.wait_until(lambda: player.run.position == seq and player.run.paused, 300)
            player._render(force=True)
        return step

    last = int(events.to_polars()["seq"].max())  # type: ignore[attr-defined]
    report("ReplayPlayer: seek forward 10,000 events", timed(
        [seek(s) for s in range(10_000, 10_000 * (min(args.steps, 9) + 1), 10_000)]))
    report("ReplayPlayer: redraw (projection state + chart)", timed(
        [lambda: player._render(force=True) for _ in range(args.steps)]))
    report("ReplayPlayer: seek on to the middle of the stream", timed([seek(last // 2)]))
    player.close()
    print()
    for name, median in results:
        verdict = "ok" if median < GOAL_MS else "SLOWER THAN THE GOAL"
        print(f"{name}: median {median:.0f} ms on {len(events):,} events "  # type: ignore[arg-type]
              f"(goal < {GOAL_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    main()
