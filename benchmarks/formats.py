"""Decoding 1,000,000 sample events in each payload format: eventkit against the naive way.

    python benchmarks/formats.py [--events 1000000] [--runs 3] [--naive 200000]

Generates the sample ride-share history (8 event types, a few malformed
payloads) and writes it in each format with the formats' own libraries
(``eventkit.sample.formats``: Avro and Protobuf in Confluent's wire format
with the schema id, MessagePack and structured CloudEvents with a
``content-type`` header). Then times, in this process:

- eventkit: ``codec.decode`` of the raw messages in batches of 50,000, as a
  read does (format found per message by the default rules, the envelope
  and one typed table per type);
- naive: per message, the format's own library into a dict (fastavro's
  ``schemaless_reader`` with the writer schema of the message's id;
  protobuf's ``FromString`` + ``MessageToDict``; ``msgpack.unpackb``;
  ``orjson.loads`` for JSON and CloudEvents), then one polars frame per
  type; on ``--naive`` events, scaled to ``--events``.

Prints the medians, events per second and the ratios. Targets: eventkit at
least 5x faster than the naive way for Avro and Protobuf; MessagePack within
1.5x of JSON's time (both eventkit).
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
import polars as pl

BATCH = 50_000
FORMATS = ("json", "avro", "protobuf", "msgpack", "cloudevents")


def _median(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _blocks(headers: list[dict[str, str] | None]) -> list[bytes | None]:
    return [None if not h else ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
                                + "\r\n").encode() for h in headers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive", type=int, default=200_000,
                        help="events decoded the naive way (then scaled)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()


    from eventkit.codec import Hints, combine, decode
    from eventkit.envelope import Rules
    from eventkit.formats.rules import FormatRules
    from eventkit.formats.schemas import Schemas
    from eventkit.sample import RULES, generate
    from eventkit.sample.formats import encode, writer_schemas

    t = time.perf_counter()
    frame = generate(seed=7, n_events=args.events)
    n = frame.height
    print(f"{n:,} sample events generated in {time.perf_counter() - t:.1f} s")
    rules = Rules(type=RULES["eventkit.type"], key=RULES["eventkit.key"],
                  event_time=RULES["eventkit.event_time"])
    subjects = frame.get_column("subject").to_list()
    seq = pl.Series(range(1, n + 1), dtype=pl.UInt64)
    times = frame.get_column("arrival")
    formats = FormatRules.parse(None)
    results: dict[str, tuple[float, float]] = {}
    for fmt in args.formats.split(","):
        payloads, headers, schemas = encode(frame, fmt)
        blocks = _blocks(headers)
        writers = writer_schemas(schemas, fmt)

        def ours(blocks: list[bytes | None] = blocks, payloads: list[bytes] = payloads,
                 writers: Schemas = writers) -> Any:
            hints = Hints()
            parts = [decode(seq[i:i + BATCH], times[i:i + BATCH], subjects[i:i + BATCH],
                            blocks[i:i + BATCH], payloads[i:i + BATCH], rules, hints=hints,
                            formats=formats, writers=writers)
                     for i in range(0, n, BATCH)]
            return combine(parts)

        check = ours()
        bad = check.envelope.get_column("error").drop_nulls().len()
        ek = _median(args.runs, ours)
        k = min(args.naive, n)
        naive_one = _naive(fmt, payloads[:k], writers)
        nv = _median(args.runs, naive_one) * n / k
        results[fmt] = (ek, nv)
        print(f"{fmt:12s} eventkit {ek:6.2f} s ({n / ek:>9,.0f} ev/s, {bad} flagged)   "
              f"naive {nv:6.2f} s ({n / nv:>9,.0f} ev/s, on {k:,} scaled)   "
              f"ratio {nv / ek:5.1f}x", flush=True)
    if "json" in results and "msgpack" in results:
        print(f"MessagePack / JSON (eventkit): {results['msgpack'][0] / results['json'][0]:.2f}x "
              "(target <= 1.5x)")
    for fmt in ("avro", "protobuf"):
        if fmt in results:
            ek, nv = results[fmt]
            print(f"{fmt}: eventkit {nv / ek:.1f}x faster than naive (target >= 5x)")


def _naive(fmt: str, payloads: list[bytes], writers: Any) -> Callable[[], Any]:
    """Per message: the format's own library into a dict; then a polars frame per type."""
    def frames(rows: list[dict[str, Any]]) -> dict[str, pl.DataFrame]:
        by_type: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_type.setdefault(str(r.get("type")), []).append(r)
        return {t: pl.from_dicts(rs, infer_schema_length=None) for t, rs in by_type.items()}

    def loads(p: bytes) -> Any:
        try:
            return orjson.loads(p)
        except orjson.JSONDecodeError:
            return None

    if fmt == "json":
        return lambda: frames([r for p in payloads if isinstance(r := loads(p), dict)])
    if fmt == "cloudevents":
        return lambda: frames([r.get("data", r) for p in payloads
                               if isinstance(r := loads(p), dict)])
    if fmt == "msgpack":
        import msgpack

        def unpack() -> Any:
            rows = []
            for p in payloads:
                try:
                    r = msgpack.unpackb(p, timestamp=3)
                except Exception:
                    continue
                if isinstance(r, dict):
                    rows.append(r)
            return frames(rows)
        return unpack
    if fmt == "avro":
        import fastavro

        def avro_rows() -> Any:
            rows = []
            for p in payloads:
                entry = writers.by_id(int.from_bytes(p[1:5], "big")) if p[:1] == b"\0" else None
                if entry is not None:
                    rows.append(fastavro.schemaless_reader(io.BytesIO(p[5:]), entry.schema))
            return frames(rows)
        return avro_rows
    from google.protobuf.json_format import MessageToDict

    from eventkit.formats._unwrap import message_indexes

    def proto_rows() -> Any:
        rows = []
        for p in payloads:
            entry = writers.by_id(int.from_bytes(p[1:5], "big")) if p[:1] == b"\0" else None
            if entry is not None:
                at = message_indexes(p, 5)[1]  # the sample's messages: indexes of one file
                message = entry.schema  # (the entry's class is the message the id names)
                rows.append(MessageToDict(message.FromString(p[at:]),
                                          preserving_proto_field_name=True))
        return frames(rows)
    return proto_rows


if __name__ == "__main__":
    main()
