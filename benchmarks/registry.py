"""Validating 1,000,000 events against their schemas: eventkit's bulk check against decoding
them, and against validating one event at a time.

    python benchmarks/registry.py [--events 1000000] [--runs 3] [--naive 50000]

Generates the sample ride-share history (8 event types, ``payment_captured``
in two versions, a few malformed payloads), registers a schema per type and
version (inferred from the data, then checked by hand to be what the
generator writes), and times, in this process:

- decode: ``codec.decode`` of the raw messages in batches of 50,000, as a
  read does (the envelope and one typed table per type);
- validate: ``SchemaRegistry.check`` of the decoded events (every event
  against the schema of its own version: one strict parse per type and
  version, vectorised checks, per-event only where a column cannot judge);
- validate, 1% faulty: the same with one event in a hundred spoiled (a
  field set to null or to a value of the wrong type), so that the strict
  parses fail and the lines at fault must be found and judged one by one;
- typed decode: the registry's decoding on top (each version parsed with
  its schema, version 1 payments upcast to version 2);
- per event: ``jsonschema`` (and ``fastjsonschema`` if installed) on
  ``json.loads`` of each payload, on ``--naive`` events, scaled.

Prints medians, events per second and the ratios. Targets: validate within 2x
decode; with 1% of events faulty, at most 1.5x the clean time (clean and
faulty runs alternate, and the ratio is the median of each pair's, so that
a busy machine moves both alike); and at least 5x faster than ``jsonschema``
one event at a time, clean or faulty.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
import polars as pl

BATCH = 50_000


def _median(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive", type=int, default=50_000,
                        help="events validated one at a time (then scaled)")
    args = parser.parse_args()

    import eventkit as ek
    from eventkit.codec import combine, decode
    from eventkit.envelope import Rules
    from eventkit.sample import generate
    from eventkit.sample.rides import RULES

    t = time.perf_counter()
    frame = generate(seed=11, n_events=args.events)
    n = frame.height
    print(f"generated {n:,} events in {time.perf_counter() - t:.1f} s")
    rules = Rules.from_metadata(RULES)
    seq = pl.int_range(1, n + 1, dtype=pl.UInt64, eager=True)
    blocks = [None if h is None else ("NATS/1.0\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in orjson.loads(h).items()) + "\r\n").encode()
        for h in frame["headers"].to_list()]
    subjects, payloads, arrival = frame["subject"].to_list(), frame["data"].to_list(), \
        frame["arrival"]
    batches = [(seq[i:i + BATCH], arrival[i:i + BATCH], subjects[i:i + BATCH],
                blocks[i:i + BATCH], payloads[i:i + BATCH]) for i in range(0, n, BATCH)]

    def decode_all() -> list[Any]:
        return [decode(*b, rules) for b in batches]

    decode_s, parts = _median(args.runs, decode_all)
    events = ek.Events(combine(parts))

    reg = ek.SchemaRegistry()
    for event_type, versions in reg.infer(events, by_version=True, limit=20_000).items():
        for _, schema in sorted(versions.items()):
            reg.register(event_type, schema, compatibility="NONE")

    @reg.upcaster("payment_captured", 1, 2)
    def to_cents(v1: pl.DataFrame) -> pl.DataFrame:
        return v1.with_columns(amount_cents=(pl.col("amount") * 100).round().cast(pl.Int64),
                               method=pl.lit(None, pl.String))

    snapshot = reg.snapshot()
    spoiled = _spoil(events.to_polars(), share=0.01)
    clean_times, faulty_times = [], []
    for _ in range(args.runs):  # alternating, so that both see the same machine
        t = time.perf_counter()
        found = snapshot.check(events)
        clean_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        faulty = snapshot.check(spoiled)
        faulty_times.append(time.perf_counter() - t)
    check_s, faulty_s = statistics.median(clean_times), statistics.median(faulty_times)
    paired = statistics.median(f / c for f, c in zip(faulty_times, clean_times, strict=True))
    typed_s, _ = _median(args.runs, lambda: [snapshot.apply(p, rules) for p in parts])
    malformed = events.malformed().height
    assert found["seq"].n_unique() == malformed, (found.height, malformed)

    # one event at a time, the usual way
    env = events.to_polars().filter(pl.col("error").is_null()).head(args.naive)
    docs = {(t, v): reg.get(t, v) for t in reg.types for v in reg.versions(t)}
    naive: dict[str, float] = {}
    try:
        import jsonschema

        checkers = {k: jsonschema.Draft202012Validator(d) for k, d in docs.items()}
        naive["jsonschema"] = _per_event(env, lambda k, p: list(checkers[k].iter_errors(p)))
    except ImportError:
        pass
    try:
        import fastjsonschema

        compiled = {k: fastjsonschema.compile(d) for k, d in docs.items()}

        def fast(k: tuple[str, int], p: Any) -> None:
            try:
                compiled[k](p)
            except fastjsonschema.JsonSchemaException:
                pass

        naive["fastjsonschema"] = _per_event(env, fast)
    except ImportError:
        pass

    print(f"\n{n:,} events, {len(docs)} schemas (8 types, payment_captured in 2 versions), "
          f"median of {args.runs} runs")
    rows = [("decode (codec, batches of 50,000)", decode_s),
            ("validate (SchemaRegistry.check)", check_s),
            ("validate, 1% of events faulty", faulty_s),
            ("typed decode on top (registry schemas + upcaster)", typed_s)]
    rows += [(f"per event: json.loads + {name} (scaled from {env.height:,})", per * n)
             for name, per in naive.items()]
    for name, seconds in rows:
        print(f"  {name:<58} {seconds:7.2f} s  {n / seconds:>12,.0f} events/s")
    print(f"\nvalidate / decode = {check_s / decode_s:.2f}  (target: within 2.0) "
          f"{'OK' if check_s <= 2 * decode_s else 'OVER'}")
    print(f"validate with 1% faulty events / decode = {faulty_s / decode_s:.2f}  "
          f"({faulty.height:,} violations found)")
    print(f"validate with 1% faulty events / clean = {paired:.2f}  (median of {args.runs} "
          f"alternating pairs; target: at most 1.5) {'OK' if paired <= 1.5 else 'OVER'}")
    print(f"read with a registry / plain read decode = {(decode_s + typed_s) / decode_s:.2f}")
    for name, per in naive.items():
        slowest = per * n / faulty_s
        target = "  (target: at least 5x " + ("OK)" if slowest >= 5 else "OVER)") if (
            name == "jsonschema") else ""
        print(f"{name} one event at a time / bulk validate = {per * n / check_s:.1f}x slower "
              f"(clean), {slowest:.1f}x (1% faulty){target}")
    print(f"violations found: {found.height:,} ({malformed:,} malformed payloads, kept and "
          "flagged; the rest conform)")


def _spoil(env: pl.DataFrame, share: float) -> pl.DataFrame:
    """``env`` with a field of about ``share`` of the events set to null or a wrong value."""
    import random

    rnd = random.Random(5)
    data, errors = env["data"].to_list(), env["error"].to_list()
    for i, (raw, error) in enumerate(zip(data, errors, strict=True)):
        if error is None and rnd.random() < share:
            payload = orjson.loads(raw)
            payload[rnd.choice(list(payload))] = rnd.choice([None, "oops", 7, [1], {"a": 1}])
            data[i] = orjson.dumps(payload)
    return env.with_columns(data=pl.Series(data, dtype=pl.Binary))


def _per_event(env: pl.DataFrame, validate: Callable[[tuple[str, int], Any], Any]) -> float:
    """Seconds per event: parse each payload, find its version, validate it alone."""
    rows = list(zip(env["type"].to_list(), env["data"].to_list(), strict=True))
    t = time.perf_counter()
    for event_type, data in rows:
        payload = json.loads(data)
        version = payload.get("schema_version", 1)
        validate((event_type, version), payload)
    return (time.perf_counter() - t) / max(len(rows), 1)


if __name__ == "__main__":
    main()
