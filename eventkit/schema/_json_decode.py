"""Decoding NDJSON lines into a typed polars frame by a JSON Schema.

Bulk first; one payload at a time only for the lines that do not fit (a value
of the wrong type becomes null there, and the check says why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

from eventkit._time import TIME
from eventkit.schema._json_lines import Lines, _parsed
from eventkit.schema._json_parse import _I64, Spec, json_kind
from eventkit.schema._json_types import _rfc3339_time, arrow_schema


# -- decoding -------------------------------------------------------------------
def decode_lines(lines: Lines, spec: Spec) -> pl.DataFrame:
    """The fields of each line in the schema's polars types (null where a value does not fit).

    Columns are the schema's properties, in order, whatever the lines hold.

    Examples
    --------
    >>> from eventkit.schema._json_parse import parse_schema
    >>> spec = parse_schema({"type": "object", "properties": {
    ...     "cents": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}})
    >>> decode_lines(Lines(pl.Series([b'{"cents": 950, "at": "2026-11-01T12:00:00Z"}',
    ...                               b'{"cents": "oops"}'])), spec)
    shape: (2, 2)
    ┌───────┬─────────────────────────┐
    │ cents ┆ at                      │
    │ ---   ┆ ---                     │
    │ i64   ┆ datetime[ns, UTC]       │
    ╞═══════╪═════════════════════════╡
    │ 950   ┆ 2026-11-01 12:00:00 UTC │
    │ null  ┆ null                    │
    └───────┴─────────────────────────┘
    """
    schema = arrow_schema(spec)
    # date-times are read as text and parsed after: polars' own JSON date-time
    # parsing guesses the format of each value, many times slower
    texts = {name: _text_dtype(dtype) for name, dtype in schema.items()}
    parts: list[tuple[pl.Series, pl.DataFrame]] = []
    for rows, frame in _parsed(lines, texts, spec):
        if frame is None:
            frame = _coerced(lines.loads(rows), spec, schema)
        else:
            frame = frame.with_columns(_from_text(pl.col(name), dtype).alias(name)
                                       for name, dtype in schema.items()
                                       if texts[name] != dtype)
        parts.append((rows, frame))
    if not parts:
        return pl.DataFrame(schema=schema)
    if len(parts) == 1:
        return parts[0][1]
    out = pl.concat([f for _, f in parts], how="vertical")
    where = pl.concat([r for r, _ in parts])
    return out if where.is_sorted() else out[where.arg_sort()]


def coerce_payloads(payloads: Sequence[Any], spec: Spec) -> pl.DataFrame:
    """Decoded payloads (dicts) as a frame of the schema's fields; a wrong value becomes null."""
    return _coerced(payloads, spec, arrow_schema(spec))


def _coerced(payloads: Sequence[Any], spec: Spec, schema: Mapping[str, pl.DataType]
             ) -> pl.DataFrame:
    """Decoded payloads as a frame of ``schema``; a value of the wrong type becomes null."""
    texts = {name: _text_dtype(dtype) for name, dtype in schema.items()}
    rows = [_py_coerce(p if isinstance(p, dict) else {}, spec) for p in payloads]
    frame = pl.DataFrame(rows, schema=texts, orient="row") if rows else pl.DataFrame(
        schema=texts)
    return frame.with_columns(
        _from_text(pl.col(name), dtype).alias(name) for name, dtype in schema.items()
        if texts[name] != dtype)


def _py_coerce(obj: dict[str, Any], spec: Spec) -> tuple[Any, ...]:
    return tuple(_py_fit(obj.get(name), sub) for name, sub in spec.properties)


def _py_fit(value: Any, spec: Spec) -> Any:
    """``value`` as the Python value of its polars column, or None if it is not of the type.

    A text column takes any value as its text, as polars' parse does (the
    check says when that value was not a string).
    """
    if value is None:
        return None
    kind, got = spec.kind, json_kind(value)
    if kind == "integer" and got == "number" and float(value).is_integer():
        value, got = int(value), "integer"
    if kind in ("any", "string") or (kind == "object" and not spec.properties):
        return value if got == "string" else _json_text(value)
    if kind == "number":
        return float(value) if got in ("integer", "number") else None
    if got != kind:
        return None
    if kind == "integer":
        return value if _I64[0] <= value <= _I64[1] else None
    if kind == "object":
        return dict(zip(spec.fields, _py_coerce(value, spec), strict=True))
    if kind == "array":
        items = spec.items or Spec("any", nullable=True)
        return [_py_fit(v, items) for v in value]
    return value


def _json_text(value: Any) -> str:
    """JSON text the way polars writes a nested value into a string column."""
    return json.dumps(value, ensure_ascii=False)


def _text_dtype(dtype: PolarsDataType) -> pl.DataType:
    """``dtype`` with date-times and enums as text (what a value is built as, then parsed)."""
    if dtype == TIME or isinstance(dtype, pl.Enum):
        return pl.String()
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _text_dtype(f.dtype) for f in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(_text_dtype(dtype.inner))
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def _from_text(expr: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if dtype == TIME:
        return _rfc3339_time(expr)
    if isinstance(dtype, pl.Enum):  # a text outside the enum does not fit: null
        return expr.cast(dtype, strict=False)
    if isinstance(dtype, pl.Struct):
        fields = [_from_text(expr.struct.field(f.name), f.dtype).alias(f.name)
                  for f in dtype.fields]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))
    if isinstance(dtype, pl.List):
        return expr.list.eval(_from_text(pl.element(), dtype.inner))
    return expr


def conform(frame: pl.DataFrame, spec: Spec, keep: Sequence[str] = ("seq",)) -> pl.DataFrame:
    """``frame`` in the shape of ``spec``: its fields in order and type, missing ones null.

    Columns named in ``keep`` stay in front; other columns are dropped.
    """
    schema = arrow_schema(spec)
    front = [pl.col(c) for c in keep if c in frame.columns]
    return frame.select(*front, *(
        (_cast(pl.col(name), frame.schema[name], dtype) if name in frame.columns
         else pl.lit(None, dtype)).alias(name)
        for name, dtype in schema.items()))


def _cast(expr: pl.Expr, have: PolarsDataType, want: PolarsDataType) -> pl.Expr:
    """``expr`` as ``want``: structs field by field by name, text times parsed, else a cast."""
    if have == want:
        return expr
    if want == TIME and have == pl.String:
        return _from_text(expr, want)
    if isinstance(want, pl.Struct) and isinstance(have, pl.Struct):
        had = {f.name: f.dtype for f in have.fields}
        fields = [(_cast(expr.struct.field(f.name), had[f.name], f.dtype) if f.name in had
                   else pl.lit(None, f.dtype)).alias(f.name) for f in want.fields]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))
    if isinstance(want, pl.List) and isinstance(have, pl.List):
        return expr.list.eval(_cast(pl.element(), have.inner, want.inner))
    if have == pl.Null:
        return pl.lit(None, want)
    return expr.cast(want, strict=False)
