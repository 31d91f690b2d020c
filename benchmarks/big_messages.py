"""Reading streams of big messages: eventkit against nats-py, in one run.

    python benchmarks/big_messages.py [--runs 5]

Starts an embedded nats-server, publishes 2,000 x 100 KB and 300 x 1 MiB
messages, and reads each stream whole, alternately with

- eventkit: ``conn.read(...)``: the envelope (payloads kept as they are);
- nats-py: a pull consumer without acks, 16 messages per fetch (more would
  pass nats-py's 64 MB pending limit with 1 MiB messages), receive only.

Prints the median seconds of each and the ratio eventkit / nats-py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import nats
from nats.js.api import AckPolicy, ConsumerConfig

import eventkit as ek

STREAMS = {"BIG100K": (2_000, 100 << 10), "BIG1M": (300, 1 << 20)}


def nats_py(url: str, stream: str) -> float:
    async def run() -> float:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            total = (await js.stream_info(stream)).state.messages
            began = time.perf_counter()
            sub = await js.pull_subscribe("", stream=stream,
                                          config=ConsumerConfig(ack_policy=AckPolicy.NONE))
            n = 0
            while n < total:
                n += len(await sub.fetch(min(16, total - n), timeout=10))
            return time.perf_counter() - began
        finally:
            await nc.close()

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        blob = os.urandom(1 << 20)
        for name, (count, size) in STREAMS.items():
            conn.create_stream(name, [f"{name.lower()}.>"])
            for i in range(0, count, 50):
                n = min(50, count - i)
                conn.publish_many([f"{name.lower()}.x"] * n,
                                  [b"%08d" % (i + j) + blob[j:size - 8 + j] for j in range(n)])
        for name, (count, size) in STREAMS.items():
            ours, theirs = [], []
            for _ in range(args.runs):
                began = time.perf_counter()
                assert len(conn.read(name, progress=False)) == count
                ours.append(time.perf_counter() - began)
                theirs.append(nats_py(server.url, name))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{name} ({count:,} x {size >> 10:,} KiB): eventkit {a:.2f} s, "
                  f"nats-py {b:.2f} s, ratio {a / b:.2f} (median of {args.runs})")


if __name__ == "__main__":
    main()
