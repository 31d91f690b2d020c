"""Load sample events into a JetStream stream, quickly and in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

if TYPE_CHECKING:
    from eventkit import Connection, StreamInfo


def publish(
    conn: Connection, events: pl.DataFrame | None = None, *, stream: str = "RIDES",
    create: bool = True, config: Mapping[str, Any] | None = None,
) -> StreamInfo:
    """Publish sample events (``generate()`` output; the shipped file by default).

    Creates the stream (subjects ``rides.>``) with the sample's envelope rules
    in its metadata, so every reader finds type, key and event time without
    configuration. Each message is acknowledged by JetStream (acks are
    pipelined: fire-and-forget publishing into a stream loses messages under
    load). ``config`` holds further fields of the stream's configuration (see
    :meth:`eventkit.Connection.create_stream`).
    """
    from eventkit.sample.rides import RULES, SUBJECTS, load

    frame = load() if events is None else events
    if create:
        conn.create_stream(stream, SUBJECTS, metadata=dict(RULES), config=config)
    headers = [None if h is None else orjson.loads(h) for h in frame["headers"].to_list()]
    conn.publish_many(frame["subject"].to_list(), frame["data"].to_list(), headers)
    return conn.stream(stream)
