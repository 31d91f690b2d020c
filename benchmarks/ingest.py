"""Reading 1,000,000 events from JetStream into a typed table: eventkit against the naive way.

    python benchmarks/ingest.py [--events 1000000] [--runs 3] [--shape sample|shop|both]
                                [--profile DIR]

Starts an embedded nats-server and publishes two histories of different shape:

- ``sample``: the ride-share sample (8 types, flat payloads, a few headers,
  a few malformed messages), with its rules in the stream's metadata;
- ``shop``: a shop's history as a new user would bring it (24 types, each
  with nested objects, lists, many optional fields, floats and ISO times;
  subjects ``shop.<region>.<type>``; no rules given: the defaults find
  ``type``, ``id`` and ``timestamp`` in the payload).

Each is read back three ways, each run in a fresh process (so peak memory is
its own):

- eventkit: ``conn.read(...)``: the envelope and a typed table per event type,
  decoded (``of_type`` then only joins the envelope columns to a type's fields);
- naive: nats-py push subscription, ``json.loads`` and ``msg.metadata`` per
  message, a list of dicts, ``pl.DataFrame``;
- nats-py floor: nats-py's ordered consumer doing nothing but receive.

Prints medians, events/s, the ratio to the naive way, and peak memory
against the size of the Arrow data eventkit produced. ``--profile DIR``
also records one eventkit read per shape with py-spy (raw folded stacks in
DIR) and prints the functions where most samples were.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

import orjson

#: stream, subject filter of each shape
STREAMS = {"sample": ("RIDES", "rides.>"), "shop": ("SHOP", "shop.>")}


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


# -- the shop history ----------------------------------------------------------

_REGIONS = ["eu-west", "eu-north", "us-east", "us-west", "ap-south"]
_TYPES = [
    "cart_created", "item_added", "item_removed", "coupon_applied", "checkout_started",
    "address_entered", "shipping_chosen", "order_placed", "payment_authorized",
    "payment_declined", "payment_captured", "invoice_issued", "order_packed",
    "parcel_shipped", "parcel_delayed", "parcel_delivered", "return_requested",
    "return_received", "refund_issued", "review_posted", "customer_registered",
    "customer_updated", "stock_reserved", "stock_released",
]


def _iso(rng: random.Random, base: float) -> str:
    t = base + rng.random() * 86_400
    sec = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{int((t - sec) * 1e6):06d}Z"


def _fields(rng: random.Random, base: float) -> dict[str, object]:
    """Generators of optional fields, by name (each type draws its own subset)."""
    return {
        "amount": lambda: round(rng.uniform(1, 900), 2),
        "currency": lambda: rng.choice(["EUR", "USD", "GBP", "SEK"]),
        "discount": lambda: round(rng.random() * 0.3, 4),
        "tax_rate": lambda: rng.choice([0.0, 0.07, 0.19, 0.23]),
        "quantity": lambda: rng.randint(1, 12),
        "sku": lambda: f"SKU-{rng.randint(1, 50_000):06d}",
        "coupon": lambda: rng.choice(["WINTER", "VIP10", "FREESHIP", "WELCOME"]),
        "note": lambda: rng.choice(["", "leave at door", "gift", "call first", "fragile"]),
        "channel": lambda: rng.choice(["web", "ios", "android", "store"]),
        "attempt": lambda: rng.randint(1, 4),
        "express": lambda: rng.random() < 0.2,
        "weight_kg": lambda: round(rng.uniform(0.1, 30), 3),
        "eta": lambda: _iso(rng, base + 86_400),
        "promised_at": lambda: _iso(rng, base + 2 * 86_400),
        "score": lambda: rng.randint(1, 5),
        "reason": lambda: rng.choice(["damaged", "late", "wrong size", "changed mind"]),
        "carrier": lambda: {"name": rng.choice(["DHL", "UPS", "PostNL"]),
                            "tracking": f"TR{rng.randint(0, 10**10):010d}",
                            "service": rng.choice(["standard", "express", None])},
        "address": lambda: {"city": rng.choice(["Lisbon", "Berlin", "Austin", "Pune"]),
                            "zip": f"{rng.randint(1000, 99999)}",
                            "geo": {"lat": round(rng.uniform(-60, 60), 6),
                                    "lon": round(rng.uniform(-180, 180), 6)}},
        "items": lambda: [{"sku": f"SKU-{rng.randint(1, 50_000):06d}",
                           "qty": rng.randint(1, 3), "price": round(rng.uniform(1, 200), 2)}
                          for _ in range(rng.randint(1, 4))],
        "tags": lambda: rng.sample(["new", "sale", "b2b", "prime", "bulk", "eco"],
                                   rng.randint(0, 3)),
        "device": lambda: {"os": rng.choice(["ios", "android", "linux", "windows"]),
                           "version": f"{rng.randint(1, 17)}.{rng.randint(0, 9)}",
                           "screen": {"w": rng.choice([390, 1280, 1920]),
                                      "h": rng.choice([844, 800, 1080])}},
        "rating": lambda: round(rng.uniform(1, 5), 1),
        "text": lambda: " ".join(rng.choices(["great", "ok", "bad", "would buy", "meh"], k=3)),
        "warehouse": lambda: rng.choice(["LIS1", "BER2", "AUS1"]),
        "latency_ms": lambda: round(rng.expovariate(1 / 40), 3),
    }


def shop_history(n: int, seed: int = 5) -> tuple[list[str], list[bytes]]:
    """Subjects and JSON payloads of ``n`` shop events of 24 types."""
    rng = random.Random(seed)
    base = 1_790_000_000.0
    gens = _fields(rng, base)
    names = list(gens)
    shapes = {}  # per type: its fields, each with the chance it is present
    for t in _TYPES:
        picked = rng.sample(names, rng.randint(5, 11))
        shapes[t] = [(f, rng.choice([1.0, 1.0, 0.9, 0.6, 0.3])) for f in picked]
    weights = [rng.uniform(0.2, 3) for _ in _TYPES]
    subjects: list[str] = []
    payloads: list[bytes] = []
    kinds = rng.choices(_TYPES, weights, k=n)
    for i, t in enumerate(kinds):
        row: dict[str, object] = {"type": t, "id": f"o-{rng.randint(1, n // 8 + 1)}",
                                  "timestamp": _iso(rng, base + i * 0.05),
                                  "customer": {"id": f"c{rng.randint(1, 90_000)}",
                                               "tier": rng.choice(["gold", "silver", None])}}
        for f, p in shapes[t]:
            if p >= 1.0 or rng.random() < p:
                row[f] = gens[f]()
        subjects.append(f"shop.{rng.choice(_REGIONS)}.{t}")
        payloads.append(orjson.dumps(row))
    return subjects, payloads


# -- the ways ------------------------------------------------------------------

def way_eventkit(url: str, stream: str, subjects: str, n: int,
                 end: int | None = None) -> dict[str, float]:
    import eventkit as ek

    with ek.connect(url) as conn:
        base = rss_mb()
        t = time.perf_counter()
        # decoded and typed: the envelope, and every type's payload fields as typed columns
        events = conn.read(stream, progress=False, end=end)
        seconds = time.perf_counter() - t
        peak = peak_mb()
        arrow = events.to_arrow().nbytes + sum(f.to_arrow().nbytes for f in events._typed.values())
        assert len(events) == (n if end is None else end), (len(events), n)
    return {"seconds": seconds, "events": len(events), "base_mb": base, "peak_mb": peak,
            "arrow_mb": arrow / 1e6}


def way_naive(url: str, stream: str, subjects: str, n: int) -> dict[str, float]:
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

        sub = await js.subscribe(subjects, cb=on_msg)
        await done.wait()
        await sub.unsubscribe()
        frame = pl.DataFrame(rows, infer_schema_length=None, strict=False)
        seconds = time.perf_counter() - t
        await nc.close()
        return {"seconds": seconds, "events": frame.height, "base_mb": base, "peak_mb": peak_mb()}

    return asyncio.run(run())


def way_floor(url: str, stream: str, subjects: str, n: int) -> dict[str, float]:
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

        sub = await js.subscribe(subjects, cb=on_msg, ordered_consumer=True)
        await done.wait()
        seconds = time.perf_counter() - t
        await sub.unsubscribe()
        await nc.close()
        return {"seconds": seconds, "events": count, "base_mb": base, "peak_mb": peak_mb()}

    return asyncio.run(run())


def way_eventkit_quarter(url: str, stream: str, subjects: str, n: int) -> dict[str, float]:
    """eventkit on the first quarter of the stream: with the full read, the slope of memory."""
    return way_eventkit(url, stream, subjects, n, end=n // 4)


WAYS = {"eventkit": way_eventkit, "naive": way_naive, "nats-py ordered, receive only": way_floor,
        "eventkit, first quarter": way_eventkit_quarter}


def _child(way: str, url: str, shape: str, n: int, python: str = sys.executable) -> list[str]:
    return [python, __file__, "--way", way, "--url", url, "--shape", shape, "--n", str(n)]


def _publish(conn: object, shape: str, n: int) -> int:
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    t = time.perf_counter()
    if shape == "sample":
        frame = generate(seed=11, n_events=n)
        made = time.perf_counter() - t
        t = time.perf_counter()
        info = publish(conn, frame)  # type: ignore[arg-type]
        count = info.messages
    else:
        subjects, payloads = shop_history(n)
        made = time.perf_counter() - t
        t = time.perf_counter()
        conn.create_stream("SHOP", ["shop.>"])  # type: ignore[attr-defined]
        conn.publish_many(subjects, payloads)  # type: ignore[attr-defined]
        count = len(payloads)
    seconds = time.perf_counter() - t
    print(f"{shape}: generated {count:,} events in {made:.1f} s, published in {seconds:.1f} s "
          f"({count / seconds:,.0f}/s, acked, eventkit publish_many)", flush=True)
    return count


def _profile(url: str, shape: str, n: int, out_dir: str, python: str = sys.executable,
             tag: str = "", top: int = 25) -> None:
    """One eventkit read under py-spy; the functions holding most samples (self and total)."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if spy is None:
        print("py-spy is not installed (pip install py-spy): no profile")
        return
    os.makedirs(out_dir, exist_ok=True)
    raw = os.path.join(out_dir, f"{shape}{tag}.txt")
    subprocess.run([spy, "record", "-o", raw, "-f", "raw", "-r", "200", "--threads",
                    "--nonblocking", "--", *_child("eventkit", url, shape, n, python)],
                   check=True, capture_output=True, timeout=600)
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    with open(raw) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            k = int(count)
            samples += k
            own[frames[-1]] += k
            for name in set(frames):
                total[name] += k
    print(f"\n{shape}{tag}: py-spy, {samples} samples (all threads), raw stacks in {raw}")
    print(f"{'self %':>7} {'total %':>8}  function")
    for name, k in own.most_common(top):
        print(f"{100 * k / samples:>7.1f} {100 * total[name] / samples:>8.1f}  {name[:110]}")


def _report(shape: str, n: int, runs: int, results: dict[str, list[dict[str, float]]]) -> None:
    quarter = results.pop("eventkit, first quarter")
    naive = statistics.median(r["seconds"] for r in results["naive"])
    print(f"\n{shape}: {n:,} events, median of {runs} runs, each in a fresh process")
    print(f"{'way':<32}{'seconds':>9}{'events/s':>12}{'vs naive':>10}{'peak MB':>10}"
          f"{'  ratios per run'}")
    for way, rs in results.items():
        sec = statistics.median(r["seconds"] for r in rs)
        peak = statistics.median(r["peak_mb"] - r["base_mb"] for r in rs)
        each = " ".join(f"{r_n['seconds'] / r['seconds']:.1f}"
                        for r, r_n in zip(rs, results["naive"], strict=True))
        print(f"{way:<32}{sec:>9.2f}{n / sec:>12,.0f}{naive / sec:>9.1f}x{peak:>10.0f}  {each}")
    ek_runs = results["eventkit"]
    arrow = statistics.median(r["arrow_mb"] for r in ek_runs)
    peak = statistics.median(r["peak_mb"] - r["base_mb"] for r in ek_runs)
    q_arrow = statistics.median(r["arrow_mb"] for r in quarter)
    q_peak = statistics.median(r["peak_mb"] - r["base_mb"] for r in quarter)
    slope = (peak - q_peak) / (arrow - q_arrow)
    print(f"eventkit memory: Arrow data {arrow:.0f} MB, peak above baseline {peak:.0f} MB "
          f"({peak / arrow:.2f}x); a quarter of the stream: {q_arrow:.0f} MB, peak {q_peak:.0f} MB."
          f"\npeak = {slope:.2f} x Arrow + {peak - slope * arrow:.0f} MB "
          f"(target: <= 1.5 x Arrow + a constant)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shape", choices=["sample", "shop", "both"], default="both")
    parser.add_argument("--profile", metavar="DIR", help="py-spy one eventkit read per shape")
    parser.add_argument("--compare", metavar="PYTHON",
                        help="also time 'eventkit before': the read in this interpreter "
                             "(another checkout's venv), in the same run")
    parser.add_argument("--way")
    parser.add_argument("--url")
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    if args.way:  # a child run
        stream, subjects = STREAMS[args.shape]
        print(json.dumps(WAYS[args.way](args.url, stream, subjects, args.n)))
        return

    import eventkit as ek

    shapes = ["sample", "shop"] if args.shape == "both" else [args.shape]
    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        counts = {shape: _publish(conn, shape, args.events) for shape in shapes}
        for shape in shapes:
            n = counts[shape]
            ways = {w: (w, sys.executable) for w in WAYS}
            if args.compare:
                ways["eventkit before"] = ("eventkit", args.compare)
            results: dict[str, list[dict[str, float]]] = {w: [] for w in ways}
            for _ in range(args.runs):
                for name, (way, python) in ways.items():
                    out = subprocess.run(_child(way, server.url, shape, n, python),
                                         capture_output=True, text=True, check=True, timeout=900)
                    results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            _report(shape, n, args.runs, results)
            if args.profile:
                _profile(server.url, shape, n, args.profile)
                if args.compare:
                    _profile(server.url, shape, n, args.profile, args.compare, "-before")


if __name__ == "__main__":
    main()
