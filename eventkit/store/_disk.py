"""What a store writes to disk, in types every engine reads, and how a batch fits a table.

Pure: polars frames in, polars frames out, no I/O.

On disk there is no unsigned integer and no nanosecond timestamp (Spark
refuses ``TIMESTAMP(NANOS)`` and reads ``UINT64`` as a decimal; Delta has
neither): ``seq`` is Int64, and each nanosecond time ``X`` is written twice,
as a microsecond UTC timestamp ``X`` that every engine filters on and as the
exact Int64 nanoseconds ``X_ns``. Reading undoes it, so a read from the store
equals a read from the stream.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import orjson
import polars as pl

from eventkit.schema._json_parse import json_kind

__all__ = [
    "GAP_SCHEMA",
    "MISFIT_SCHEMA",
    "fit",
    "from_disk",
    "to_disk",
    "type_dir",
]

GAP_SCHEMA: dict[str, pl.DataType] = {
    "first_seq": pl.UInt64(), "last_seq": pl.UInt64(), "messages": pl.UInt64(),
    "reason": pl.String(),
}
#: A payload value that does not fit its type's column: kept raw in the envelope, null here.
MISFIT_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.UInt64(), "type": pl.String(), "field": pl.String(), "column": pl.String(),
    "found": pl.String(),
}
_INT64_MAX = 2**63 - 1
_SAFE = frozenset(string.ascii_letters + string.digits + "-_")


def type_dir(name: str) -> str:
    """The directory of an event type's table: safe on every file system, one-to-one.

    Letters, digits, ``-`` and ``_`` stay; anything else (and a leading ``_``,
    which Spark and Delta would skip) becomes ``%XX`` of its UTF-8 bytes.

    Examples
    --------
    >>> type_dir("trip_completed"), type_dir("order.placed/v2"), type_dir("_x"), type_dir("")
    ('trip_completed', 'order%2Eplaced%2Fv2', '%5Fx', '%')
    """
    out = []
    for i, ch in enumerate(name):
        if ch in _SAFE and not (i == 0 and ch == "_"):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out) or "%"


def to_disk(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in the types written to disk (see the module docstring).

    Examples
    --------
    >>> import datetime as dt
    >>> t = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    >>> f = pl.DataFrame({"seq": [7], "time": [t]},
    ...                  schema={"seq": pl.UInt64, "time": pl.Datetime("ns", "UTC")})
    >>> dict(to_disk(f.with_columns(pl.col("time").dt.offset_by("1ns"))).schema)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'seq': Int64, 'time': Datetime(time_unit='us', time_zone='UTC'),
     'time_ns': Int64}
    >>> from_disk(to_disk(f).lazy()).collect().equals(f)
    True
    """
    cols: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns":
            tz = dtype.time_zone or "UTC"
            cols += [pl.col(name).dt.replace_time_zone(tz).dt.cast_time_unit("us"),
                     pl.col(name).dt.replace_time_zone(tz).dt.epoch("ns").alias(f"{name}_ns")]
        elif dtype in (pl.UInt8, pl.UInt16, pl.UInt32, pl.Int8, pl.Int16, pl.Int32):
            cols.append(pl.col(name).cast(pl.Int64))
        elif dtype == pl.UInt64 or dtype == pl.Int128:
            top = frame.get_column(name).max()
            wide = top is not None and int(top) > _INT64_MAX  # type: ignore[arg-type]
            cols.append(pl.col(name).cast(pl.Decimal(38, 0) if wide else pl.Int64))
        elif dtype == pl.Null or isinstance(dtype, pl.Categorical | pl.Enum):
            cols.append(pl.col(name).cast(pl.String))
        else:
            cols.append(pl.col(name))
    return frame.select(cols)


def from_disk(frame: pl.LazyFrame, schema: Mapping[str, pl.DataType] | None = None
              ) -> pl.LazyFrame:
    """Undo :func:`to_disk`: ``seq`` UInt64 again, each ``X``/``X_ns`` pair one ns time.

    ``schema`` (the disk schema) saves asking the frame for it.
    """
    names = dict(schema if schema is not None else frame.collect_schema())
    cols: list[pl.Expr] = []
    for name, dtype in names.items():
        if name.endswith("_ns") and isinstance(names.get(name[:-3]), pl.Datetime):
            continue
        if isinstance(dtype, pl.Datetime) and f"{name}_ns" in names:
            cols.append(pl.col(f"{name}_ns").cast(pl.Datetime("ns"))
                        .dt.replace_time_zone("UTC").alias(name))
        elif name in ("seq", "first_seq", "last_seq", "messages") and dtype != pl.UInt64:
            cols.append(pl.col(name).cast(pl.UInt64))
        else:
            cols.append(pl.col(name))
    return frame.select(cols)


# -- a batch against its table: new fields join, misfits are flagged ------------------------
def fit(frame: pl.DataFrame, table: Mapping[str, pl.DataType], payloads: pl.Series,
        event_type: str, head: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A type's batch (disk types) made to fit its table's columns; and the values that do not.

    A column the table lacks is added (the table's schema grows). A column
    the table has in another type is cast where every value converts exactly
    (an integer into a decimal column, an integral decimal into an integer
    one); any value that does not (text where numbers were, an object where
    a string was) is set to null and returned as a *misfit*: ``seq, type,
    field, column, found`` (the value's JSON type). The column never widens;
    the event's raw payload stays in the envelope.

    ``payloads`` are the rows' raw JSON payloads (for the value's own type,
    since a batch whose types disagree was read as text), ``head`` the
    envelope columns that are not payload fields.

    Examples
    --------
    >>> batch = pl.DataFrame({"seq": [1, 2], "fare": ["12.5", "12.50"], "tip": [1, 2]})
    >>> raw = pl.Series([b'{"fare": 12.5, "tip": 1}', b'{"fare": "12.50", "tip": 2}'])
    >>> fitted, bad = fit(batch, {"seq": pl.Int64, "fare": pl.Float64}, raw, "trip",
    ...                   frozenset({"seq"}))
    >>> fitted.rows(), bad.select("seq", "field", "column", "found").rows()
    ([(1, 12.5, 1), (2, None, 2)], [(2, 'fare', 'Float64', 'string')])
    """
    cols: list[pl.Expr | pl.Series] = []
    misfits: list[pl.DataFrame] = []
    for name, dtype in frame.schema.items():
        want = table.get(name)
        if want is None or want == dtype or name in head:
            cols.append(pl.col(name))
            continue
        column = frame.get_column(name)
        exact = _exact_cast(column, want)
        if exact is not None:
            cols.append(exact)
            continue
        values, bad = _fit_values(frame.get_column("seq"), payloads, name, want)
        cols.append(values)
        if bad:
            misfits.append(pl.DataFrame(
                [(s, event_type, name, str(want), v) for s, v in bad],
                schema=MISFIT_SCHEMA, orient="row"))
    fitted = frame.select(cols)
    missing = [pl.lit(None, dtype=d).alias(n) for n, d in table.items() if n not in frame.schema]
    if missing:
        fitted = fitted.with_columns(missing)
    out = (pl.concat(misfits) if misfits else pl.DataFrame(schema=MISFIT_SCHEMA))
    return fitted, out


def _exact_cast(column: pl.Series, want: pl.DataType) -> pl.Series | None:
    """``column`` as ``want`` if every value converts exactly, else None."""
    have = column.dtype
    if have == pl.Null:
        return column.cast(want)
    if not (have.is_numeric() and want.is_numeric()):
        return None
    try:
        cast = column.cast(want, strict=True)
    except pl.exceptions.PolarsError:
        return None
    back = cast.cast(have, strict=False)
    if not (back.eq_missing(column)).all():
        return None
    return cast


def _fit_values(seqs: pl.Series, payloads: pl.Series, name: str, want: pl.DataType
                ) -> tuple[pl.Series, list[tuple[int, str]]]:
    """Each row's value of field ``name`` as ``want`` (from the raw JSON), or null and why."""
    field_name = name.removeprefix("payload_") if name.startswith("payload_") else name
    values: list[Any] = []
    bad: list[tuple[int, str]] = []
    for seq, raw in zip(seqs, payloads, strict=True):
        try:
            value = orjson.loads(raw).get(field_name) if raw else None
        except (orjson.JSONDecodeError, AttributeError):
            value = None
        if value is None:
            values.append(None)
            continue
        try:
            converted = _convert(value, want)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            values.append(None)
            kind = json_kind(value)  # JSON Schema's words; an integer is a number here
            bad.append((int(seq), "number" if kind == "integer" else kind))
            continue
        values.append(converted)
    return pl.Series(name, values, dtype=want, strict=False), bad


def _convert(value: Any, want: pl.DataType) -> Any:
    if want.is_integer():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if want.is_float():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(value)
        return float(value)
    if want == pl.String:
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if want == pl.Boolean:
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    return pl.Series([value], dtype=want, strict=True)[0]
