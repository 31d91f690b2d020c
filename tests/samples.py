"""The shipped sample history decoded as a read would decode it, without a server."""

from __future__ import annotations

import functools

import orjson
import polars as pl

from eventkit.codec import Decoded, decode
from eventkit.envelope import TIME, Rules
from eventkit.events import Events
from eventkit.sample.rides import RULES, load


def header_blocks(headers: pl.Series) -> list[bytes | None]:
    """The sample's JSON header column back as ``NATS/1.0`` header blocks."""
    return [None if h is None else (
        "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in orjson.loads(h).items()) + "\r\n"
    ).encode() for h in headers.to_list()]


def sample_batches(batch: int) -> list[Decoded]:
    """The sample decoded ``batch`` events at a time, as a read's batches are."""
    frame = load()
    rules = Rules.from_metadata(RULES)
    seq = pl.int_range(1, frame.height + 1, dtype=pl.UInt64, eager=True)
    time = frame["arrival"].cast(TIME)
    blocks = header_blocks(frame["headers"])
    subjects, payloads = frame["subject"].to_list(), frame["data"].to_list()
    return [decode(seq[i:i + batch], time[i:i + batch], subjects[i:i + batch],
                   blocks[i:i + batch], payloads[i:i + batch], rules)
            for i in range(0, frame.height, batch)]


@functools.cache
def sample_events() -> Events:
    """The whole sample as one decoded batch."""
    return Events(sample_batches(load().height)[0])
