"""Streams of big messages (100 KB, 1 MiB) read completely, and a store sync of them
holds a bounded amount in memory whatever the stream's size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

import eventkit as ek

from .oracles import digest, nats_py_read

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STREAMS = {"BIG100K": (2_000, 100 << 10), "BIG1M": (300, 1 << 20)}


@pytest.fixture(scope="module")
def big() -> Iterator[ek.EmbeddedServer]:
    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        blob = os.urandom(1 << 20)
        for name, (count, size) in STREAMS.items():
            conn.create_stream(name, [f"{name.lower()}.>"])
            for i in range(0, count, 50):  # 50 at a time: the test holds little
                n = min(50, count - i)
                conn.publish_many([f"{name.lower()}.m{(i + j) % 7}" for j in range(n)],
                                  [b"%08d" % (i + j) + blob[j:size - 8 + j] for j in range(n)])
        yield server


@pytest.mark.parametrize("stream", list(STREAMS))
def test_big_messages_read_completely_and_as_nats_py_reads_them(big, stream):
    expected, nats_py_seconds = nats_py_read(big.url, stream)
    assert len(expected) == STREAMS[stream][0]
    with ek.connect(big.url) as conn:
        began = time.perf_counter()
        events = conn.read(stream, progress=False)
        seconds = time.perf_counter() - began
        env = events.to_polars()
        got = [digest(*row) for row in zip(env["seq"], env["subject"], env["data"], strict=True)]
    assert got == expected
    print(f"{stream}: eventkit {seconds:.2f} s, nats-py {nats_py_seconds:.2f} s")


CHILD = textwrap.dedent("""
    import json, sys
    import eventkit as ek

    def peak_mb():  # this process's own peak (ru_maxrss would count the parent's, from fork)
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    url, stream, path = sys.argv[1:4]
    with ek.connect(url) as conn:
        conn.read(stream, end=1, progress=False)  # every import and thread up first
        base = peak_mb()
        result = ek.Store(path).sync(conn, stream, progress=False)
        peak = peak_mb()
    print(json.dumps({"grew_mb": peak - base, "events": result.events, "base_mb": base}))
""")


def _sync_growth(url: str, stream: str, path: str) -> dict[str, float]:
    run = subprocess.run([sys.executable, "-c", CHILD, url, stream, path],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_store_sync_of_big_messages_holds_a_bounded_amount_in_memory(big, tmp_path):
    with ek.connect(big.url) as conn:  # the first half of BIG1M, as a stream of its own
        conn.create_stream("HALF1M", ["half1m.>"])
        env = conn.read("BIG1M", end=150, progress=False).to_polars()
        conn.publish_many([s.replace("big1m.", "half1m.") for s in env["subject"]],
                          env["data"].to_list())
        del env
    half = _sync_growth(big.url, "HALF1M", str(tmp_path / "half"))
    full = _sync_growth(big.url, "BIG1M", str(tmp_path / "full"))
    small = _sync_growth(big.url, "BIG100K", str(tmp_path / "small"))
    assert (half["events"], full["events"], small["events"]) == (150, 300, 2_000)
    # Peak memory grows by a few batches of bytes (16 MiB each) and the store's own
    # constant, not with the stream: twice the stream (150 -> 300 MiB) adds far less
    # than the 150 MiB more it holds. (Before: 2 x 10,000 messages in flight, and the
    # server cut the reader off; with smaller batches, 613 MB for 150 MB, 1.3 GB for 600.)
    assert full["grew_mb"] < half["grew_mb"] + 100, (half, full)
    print(f"sync grew the process by {half['grew_mb']:.0f} MB for 150 x 1 MiB, "
          f"{full['grew_mb']:.0f} MB for 300 x 1 MiB, {small['grew_mb']:.0f} MB for "
          "2,000 x 100 KB")
