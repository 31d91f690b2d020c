"""MessagePack payloads to polars, in bulk.

The payloads of a batch are unpacked in one call (an array header, written by
msgpack's packer, then the payloads end to end), and each event type's maps
become one frame through polars' row builder. Should one payload be bad, the
batch is unpacked one payload at a time to find it. Timestamps (extension
-1) read as UTC datetimes; ``bin`` as Binary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from eventkit._deps import missing

__all__ = ["frame", "unpack"]


def _msgpack() -> Any:
    try:
        import msgpack
    except ImportError as exc:
        raise missing("msgpack", "reading MessagePack payloads") from exc
    return msgpack


def unpack(bodies: Sequence[bytes]) -> tuple[list[dict[str, Any] | None], dict[int, str]]:
    """Each payload's map (None where it is not one), and why those are not.

    >>> import msgpack
    >>> unpack([msgpack.packb({"n": 1}), msgpack.packb([1]), b"\\xc1"])
    ([{'n': 1}, None, None], {1: 'msgpack: not a map: list', 2: 'msgpack: does not unpack: ...'})
    """
    msgpack = _msgpack()
    if not bodies:
        return [], {}
    whole = msgpack.Packer().pack_array_header(len(bodies)) + b"".join(bodies)
    try:
        values = msgpack.unpackb(whole, timestamp=3, strict_map_key=True)
    except Exception:
        values = None
    if values is None or len(values) != len(bodies):
        values = []
        for body in bodies:
            try:
                values.append(msgpack.unpackb(body, timestamp=3))
            except Exception as exc:
                values.append(_Bad(f"does not unpack: {exc}"))
    bad: dict[int, str] = {}
    for i in [i for i, value in enumerate(values) if type(value) is not dict]:
        value = values[i]
        why = value.why if isinstance(value, _Bad) else f"not a map: {type(value).__name__}"
        bad[i] = f"msgpack: {why}"
        values[i] = None
    return values, bad


class _Bad:
    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def frame(maps: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Maps of one event type as a frame (types inferred over all of them).

    >>> frame([{"n": 1, "at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)}]).schema
    Schema([('n', Int64), ('at', Datetime(time_unit='us', time_zone='UTC'))])
    """
    if not maps:
        return pl.DataFrame()
    try:
        return pl.from_dicts(maps, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        # values of several kinds in one field: such fields as text
        names = dict.fromkeys(k for m in maps for k in m)
        return pl.from_dicts([{k: _text(m.get(k)) for k in names} for m in maps],
                             schema=dict.fromkeys(names, pl.String()))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
