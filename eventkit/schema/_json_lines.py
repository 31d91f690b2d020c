"""NDJSON lines over one Arrow buffer, parsed by polars in bulk.

Where a group of lines does not parse with the schema's strict types, the
ranges that fail are found by bisection and parsed one line at a time.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    pass

from eventkit.schema._json_parse import Spec
from eventkit.schema._json_types import _probe_dtype


# -- lines: NDJSON over one Arrow buffer ---------------------------------------
class Lines:
    """Payloads as NDJSON lines: one Arrow buffer, any range of lines a text for polars.

    Built from payloads that decoded (JSON objects, UTF-8): a line break
    between tokens becomes a space, so each payload is exactly one line.
    """

    __slots__ = ("_array", "_offsets", "text")

    def __init__(self, payloads: pl.Series) -> None:
        text = payloads.cast(pl.String) if payloads.dtype == pl.Binary else payloads
        breaks = text.str.contains("\n", literal=True) | text.str.contains("\r", literal=True)
        if breaks.any():
            text = pl.select(pl.when(breaks).then(text.str.replace_all(r"[\r\n]", " "))
                             .otherwise(text)).to_series()
        self.text: pl.Series = text.rechunk()
        array = (self.text + "\n").to_arrow()
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        self._array = array.cast(pa.large_string())
        self._offsets = pa.Array.from_buffers(
            pa.int64(), len(self._array) + 1, [None, self._array.buffers()[1]],
            offset=self._array.offset)

    def __len__(self) -> int:
        return len(self._array)

    def ndjson(self, lo: int = 0, hi: int | None = None) -> bytes:
        """The text of lines ``lo`` to ``hi`` (exclusive)."""
        hi = len(self) if hi is None else hi
        start, stop = self._offsets[lo].as_py(), self._offsets[hi].as_py()
        text: bytes = self._array.buffers()[2][start:stop].to_pybytes()
        return text

    def take(self, rows: pl.Series) -> Lines:
        """The lines at ``rows``, as lines of their own."""
        return Lines(self.text.gather(rows))

    def loads(self, rows: Sequence[int] | pl.Series) -> list[Any]:
        """Lines at ``rows`` decoded one by one (the per-event path)."""
        values = self.text.gather(rows if isinstance(rows, pl.Series) else list(rows)
                                  ).to_list() if len(rows) else []
        return [_loads(v) for v in values]


_PLAIN_KEY = re.compile(r'^[\x20-\x7e]*$')


_LONG_NUMBER = re.compile(r"\d{19}")


def _loads(text: str) -> Any:
    """One JSON text; integers past 64 bits stay integers (orjson would make them floats)."""
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _read(text: bytes, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    if schema is None:
        return pl.read_ndjson(io.BytesIO(text), infer_schema_length=None)
    return pl.read_ndjson(io.BytesIO(text), schema=dict(schema))


_BLOCK = 8192   # lines per block when a whole group does not parse
_SMALL = 256    # below this, a range that does not parse goes line by line
_NESTED_SMALL = 8  # the same, for one field's values (small texts, few faults)


def _parsed(lines: Lines, schema: Mapping[str, pl.DataType], spec: Spec
            ) -> Iterator[tuple[pl.Series, pl.DataFrame | None]]:
    """``(rows, frame)`` covering all lines; ``frame`` is None for rows to take one by one.

    One parse when everything fits the schema (the usual case; a parse that does
    not fit fails at once). Otherwise one loose parse (each top-level value as
    text) and the columns built from the text (:func:`_rebuild`): the lines at
    fault are the only ones set aside. Where the text cannot tell (a key that
    may be written escaped), blocks of lines, each halved until the lines that
    do not fit are in small ranges.
    """
    n = len(lines)
    if n == 0:
        return
    try:
        frame = _read(lines.ndjson(), schema)
        if frame.height == n:
            yield _range(0, n), frame
            return
    except pl.exceptions.PolarsError:
        pass
    rebuilt = _rebuild(lines, schema, spec)
    if rebuilt is not None:
        misfits, rest, frame = rebuilt
        if len(misfits):
            yield misfits, None
        if len(rest):
            yield rest, frame
        return
    for lo in range(0, n, _BLOCK):
        for a, b, part in _bisect(lines, schema, lo, min(lo + _BLOCK, n)):
            yield _range(a, b), part


def _range(lo: int, hi: int) -> pl.Series:
    return pl.int_range(lo, hi, dtype=pl.UInt32, eager=True)


def _misfits(lines: Lines, spec: Spec) -> pl.Series | None:
    """Lines holding a value of the wrong JSON type (or that may: see :func:`_rebuild`)."""
    rebuilt = _rebuild(lines, {name: _probe_dtype(sub) for name, sub in spec.properties}, spec)
    return None if rebuilt is None else rebuilt[0]


def _rebuild(lines: Lines, schema: Mapping[str, pl.DataType], spec: Spec
             ) -> tuple[pl.Series, pl.Series, pl.DataFrame] | None:
    """The lines whose values do not fit ``schema``, the others, and their frame, built
    from one loose parse (every top-level value as text) instead of parsing again.

    A value's text tells its JSON type, except for a string that reads like a
    number, a boolean, an object or an array: the quote after the key tells
    that (a literal search for ``"name":"`` or ``"name": "``). A key found twice
    (a nested object may reuse it) makes such a line a misfit, to be safe.
    Scalar columns are casts of the text; an object or array column is its text
    decoded with the schema's type, and when a value inside does not fit (an
    item of the wrong type in an array of objects) that field's values are
    halved down to a few, so that only the lines at fault go one by one. None
    when a key could be written escaped (no text search is safe then).
    """
    n = len(lines)
    if any(not _PLAIN_KEY.match(name) or '"' in name or "\\" in name for name in schema):
        return None
    try:
        loose = _read(lines.ndjson(), {name: pl.String() for name in schema})
    except pl.exceptions.PolarsError:
        return None
    if loose.height != n:
        return None
    text = lines.text
    bad = pl.Series([False] * n)
    specs = spec.fields
    typed: dict[str, tuple[pl.Series, pl.Series]] = {}
    for name, dtype in schema.items():
        value = loose.get_column(name)
        present = value.is_not_null()
        if not present.any():
            continue
        rows = present.arg_true()
        fits, typed_values = _fits(text.gather(rows), value.gather(rows), name, specs[name],
                                   dtype)
        bad = bad.scatter(rows, bad.gather(rows) | ~fits)
        if typed_values is not None:
            typed[name] = (rows, typed_values)
    decoded: dict[str, tuple[pl.Series, pl.Series]] = {}
    for name, dtype in schema.items():
        if not isinstance(dtype, pl.Struct | pl.List):
            continue
        value = loose.get_column(name)
        rows = (value.is_not_null() & ~bad).arg_true()
        if not len(rows):
            continue
        found = _inner_misfits(value.gather(rows), dtype)
        if found is None:
            return None
        misfit, values = found
        if len(misfit):
            bad = bad.scatter(rows.gather(misfit), True)
        if values is not None:
            decoded[name] = (rows, values)
    keep = (~bad).arg_true()
    columns: dict[str, pl.Series] = {}
    for name, dtype in schema.items():
        found = decoded.get(name) or typed.get(name)  # decoded once, while looking
        if found is None:  # no value, or some did not fit: the others decoded now
            column = loose.get_column(name)
            columns[name] = _from_loose(column.gather(keep) if len(keep) < n else column,
                                        pl.String() if dtype == pl.Categorical else dtype)
            continue
        rows, values = found
        where = pl.Series([None] * n, dtype=pl.UInt32).scatter(
            rows, pl.int_range(len(rows), dtype=pl.UInt32, eager=True))
        columns[name] = values.gather(where.gather(keep)).alias(name)
    return bad.arg_true(), keep, pl.DataFrame(columns)


def _fits(text: pl.Series, value: pl.Series, name: str, spec: Spec, dtype: pl.DataType
          ) -> tuple[pl.Series, pl.Series | None]:
    """Whether each value (non-null, ``value`` its text, ``text`` its line) fits, and the
    values as ``dtype`` where a cast gives them (None for nested types)."""
    key = f'"{name}"'
    kind = "string" if dtype in (pl.String, pl.Categorical) and spec.kind in (
        "string", "any") else spec.kind
    if dtype == pl.String and kind == "any":
        return pl.Series([True] * len(value)), value  # any value: its text
    if dtype == pl.Categorical:  # the probe of a string: text is what the checks read
        dtype = pl.String()
    if kind == "string":  # only text that reads like another type may be another type
        first = value.str.slice(0, 1)
        other = first.is_in(["-", "{", "[", *"0123456789"]) | value.is_in(["true", "false"])
        fits = ~other
        maybe = other.arg_true()
        if len(maybe):
            lines = text.gather(maybe)
            quoted = (lines.str.contains(f'{key}:"', literal=True)
                      | lines.str.contains(f'{key}: "', literal=True))
            once = lines.str.count_matches(key, literal=True) == 1
            fits = fits.scatter(maybe, (quoted & once).fill_null(False))
        return fits, _from_loose(value, dtype)
    cast = None
    if kind == "object":
        looks = value.str.starts_with("{")
    elif kind == "array":
        looks = value.str.starts_with("[")
    elif kind == "boolean":
        looks = value.is_in(["true", "false"])
    else:  # a string that casts is told by its quote, below
        cast = value.cast(pl.Int64 if kind == "integer" else pl.Float64, strict=False)
        looks = cast.is_not_null()
    rows = looks.arg_true()
    if len(rows):  # a string may read like the right type: was it quoted?
        lines = text.gather(rows)
        quoted = (lines.str.contains(f'{key}:"', literal=True)
                  | lines.str.contains(f'{key}: "', literal=True))
        looks = looks.scatter(rows, ~quoted)
    looks = looks.fill_null(False)
    if isinstance(dtype, pl.Struct | pl.List):
        return looks, None
    if cast is not None and cast.dtype == dtype:
        return looks, cast
    return looks, _from_loose(value, dtype, strict=False)


def _inner_misfits(texts: pl.Series, dtype: pl.DataType
                   ) -> tuple[pl.Series, pl.Series | None] | None:
    """Which of the JSON texts (objects or arrays) do not decode into ``dtype``, and the
    decoded values when all do."""
    wrapped = Lines('{"v":' + texts + "}")
    probe = {"v": dtype}
    try:
        frame = _read(wrapped.ndjson(), probe)
        if frame.height == len(texts):
            return pl.Series([], dtype=pl.UInt32), frame.get_column("v")
    except pl.exceptions.PolarsError:
        pass
    bad = [_range(a, b) for a, b, part in _bisect(wrapped, probe, 0, len(texts),
                                                  small=_NESTED_SMALL) if part is None]
    return (pl.concat(bad) if bad else pl.Series([], dtype=pl.UInt32)), None


def _from_loose(value: pl.Series, dtype: pl.DataType, *, strict: bool = True) -> pl.Series:
    """A column of ``dtype`` from the texts of values that fit it."""
    if dtype == pl.String:
        return value
    if dtype == pl.Boolean:
        return value == "true"
    if isinstance(dtype, pl.Struct | pl.List):
        frame = _read(Lines(('{"v":' + value + "}").fill_null('{"v":null}')).ndjson(),
                      {"v": dtype})
        return frame.get_column("v").alias(value.name)
    return value.cast(dtype, strict=strict)


def _rx_escape(text: str) -> str:
    """``text`` as a literal in polars' (Rust) regular expressions."""
    return re.sub(r"([\\.+*?()|\[\]{}^$#&\-~])", r"\\\1", text)


def _bisect(lines: Lines, schema: Mapping[str, pl.DataType], lo: int, hi: int, *,
            small: int | None = None) -> Iterator[tuple[int, int, pl.DataFrame | None]]:
    small = _SMALL if small is None else small
    try:
        frame = _read(lines.ndjson(lo, hi), schema)
        if frame.height == hi - lo:
            yield lo, hi, frame
            return
    except pl.exceptions.PolarsError:
        pass
    if hi - lo <= small:
        yield lo, hi, None
        return
    mid = (lo + hi) // 2
    yield from _bisect(lines, schema, lo, mid, small=small)
    yield from _bisect(lines, schema, mid, hi, small=small)
