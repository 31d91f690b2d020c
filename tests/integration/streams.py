"""Events to fill a test's own stream (the ``stream`` fixture is in conftest.py)."""

from __future__ import annotations

import eventkit as ek


def publish_numbered(conn: ek.Connection, stream: str, n: int, start: int = 0) -> None:
    """Events ``start .. start+n-1`` on ``<stream>.t0..t2``: type t<i%3>, key k<i%7>, n=i."""
    prefix = stream.lower()
    conn.publish_many(
        [f"{prefix}.t{i % 3}" for i in range(start, start + n)],
        [b'{"type":"t%d","key":"k%d","n":%d}' % (i % 3, i % 7, i) for i in range(start, start + n)],
    )
