"""Reads over a slow link and a link that keeps dropping (a hostile proxy on loopback):
they finish, and hold exactly what nats-py reads."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

import eventkit as ek

from .oracles import digest, nats_py_read
from .proxy import proxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def links() -> Iterator[ek.EmbeddedServer]:
    with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
        blob = os.urandom(1 << 20)
        conn.create_stream("SLOW", ["slow.>"])
        conn.publish_many(["slow.x"] * 3, [b"%08d" % i + blob[i:(1 << 20) - 8 + i]
                                           for i in range(3)])
        conn.create_stream("CUT", ["cut.>"])
        for i in range(0, 40, 10):
            conn.publish_many([f"cut.{j % 3}" for j in range(10)],
                              [b"%08d" % (i + j) + blob[j:(1 << 20) - 8 - 1000 * j]
                               for j in range(10)])
        conn.create_stream("SMALL", ["small.>"])
        conn.publish_many(["small.x"] * 200_000, [b'{"type":"t","key":"%d"}' % i
                                                  for i in range(200_000)])
        yield server


def read_digests(url: str, stream: str) -> tuple[list[tuple[int, str, str]], float]:
    with ek.connect(url) as conn:
        began = time.perf_counter()
        env = conn.read(stream, progress=False).to_polars()
        seconds = time.perf_counter() - began
    return [digest(*r) for r in zip(env["seq"], env["subject"], env["data"], strict=True)], seconds


def test_a_slow_link_with_big_messages_finishes(links):
    # 300 KB/s: each 1 MiB message takes ~3.5 s, longer than the stall limit
    with proxy(links.client_port, rate=300_000) as slow:
        got, seconds = read_digests(slow.url, "SLOW")
    expected, _ = nats_py_read(links.url, "SLOW")
    assert got == expected
    print(f"3 x 1 MiB at 300 KB/s: {seconds:.1f} s over {slow.connections} connection(s)")


@pytest.mark.parametrize("stream", ["CUT", "SMALL"])
def test_a_link_cut_every_few_megabytes_gets_through(links, stream):
    with proxy(links.client_port, rate=20_000_000, cut=(1 << 20, 4 << 20), seed=7) as cutting:
        got, seconds = read_digests(cutting.url, stream)
    expected, _ = nats_py_read(links.url, stream)
    assert len(got) == len(expected)
    assert got == expected  # (same length: pytest shows the first difference)
    assert cutting.cuts >= 3  # the link really dropped, more than the read's retries allow
    print(f"{stream}: {seconds:.1f} s, {cutting.cuts} cuts, {cutting.connections} connections")
