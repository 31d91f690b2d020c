"""MessagePack payloads to polars, in bulk.

Most maps are transcoded to JSON text (:func:`to_json`, msgspec: two C calls
a payload, no Python objects kept), so they take the JSON way and are typed
as JSON is, with what earlier batches taught. The rest (maps holding what
JSON has no word for, and bad payloads) are unpacked here: the payloads of a
batch in one call (an array header, written by
msgpack's packer, then the payloads end to end), and each event type's maps
become one frame through polars' row builder. Should one payload be bad, the
batch is unpacked one payload at a time to find it. Timestamps (extension
-1) read as UTC datetimes; ``bin`` as Binary.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import polars as pl

from eventkit._deps import missing

__all__ = ["frame", "to_json", "unpack"]


def _msgpack() -> Any:
    try:
        import msgpack
    except ImportError as exc:
        raise missing("msgpack", "reading MessagePack payloads") from exc
    return msgpack


def _msgspec() -> Any:
    try:
        import msgspec
    except ImportError as exc:
        raise missing("msgspec", "reading MessagePack payloads") from exc
    return msgspec


@functools.cache
def _coders() -> tuple[Any, Any]:
    """A MessagePack decoder that takes only maps of JSON values (text keys, no ``bin``, no
    extension types such as timestamps, nested at most 6 deep), and a JSON encoder."""
    msgspec = _msgspec()
    value: Any = str | int | float | bool | None
    for _ in range(5):
        value = str | int | float | bool | None | list[value] | dict[str, value]
    return msgspec.msgpack.Decoder(dict[str, value]), msgspec.json.Encoder()


def to_json(bodies: Sequence[bytes]) -> list[bytes | None]:
    """Each payload as the JSON text of its map, or None where that would not say the same
    (not a map, bad, or holding ``bin``, timestamps, non-text keys: see :func:`unpack`).

    >>> import datetime as dt, msgpack
    >>> to_json([msgpack.packb({"n": 1, "x": [1.5, None]}), msgpack.packb([1]),
    ...          msgpack.packb({"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, datetime=True)])
    [b'{"n":1,"x":[1.5,null]}', None, None]
    """
    decoder, encoder = _coders()
    loads, dumps = decoder.decode, encoder.encode
    refused = (_msgspec().DecodeError,)  # (ValidationError is one)
    out: list[bytes | None] = []
    add = out.append
    for body in bodies:
        try:
            add(dumps(loads(body)))
        except refused:
            add(None)
    return out


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
