"""Avro payloads to polars, in bulk: schemaless records, Confluent framing, single-object encoding.

The records of one writer schema are decoded in one call: they are laid end
to end in one block of an in-memory Avro object container file (the header
written by fastavro) and read by polars' Avro reader, which builds the
columns natively. Each record is followed in the block by an 8-byte mark (the
block's schema is a record of the writer's record and a ``fixed(8)``), so a
record that is shorter or longer than its bytes shows: the marks after it do
not read back. Then, and for schemas polars' reader does not take (maps,
unions of several types), the records are read one by one with
``fastavro.schemaless_reader``, which also names the field where a bad record
stops. Column types follow the schema (:func:`polars_type`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import polars as pl

from eventkit._deps import missing

__all__ = ["polars_type", "read_records"]

_MARK = os.urandom(8)   # after each record in a block; a record that misreads moves it
_SYNC = b"eventkit-avro-sy"  # the container's sync marker (16 bytes)
_BASE_TYPES: dict[str, pl.DataType] = {
    "null": pl.Null(), "boolean": pl.Boolean(), "int": pl.Int32(), "long": pl.Int64(),
    "float": pl.Float32(), "double": pl.Float64(), "bytes": pl.Binary(), "string": pl.String(),
}
_TIMES: dict[str, pl.DataType] = {
    "timestamp-millis": pl.Datetime("ms", "UTC"), "timestamp-micros": pl.Datetime("us", "UTC"),
    "timestamp-nanos": pl.Datetime("ns", "UTC"), "local-timestamp-millis": pl.Datetime("ms"),
    "local-timestamp-micros": pl.Datetime("us"), "local-timestamp-nanos": pl.Datetime("ns"),
    "date": pl.Date(), "time-millis": pl.Time(), "time-micros": pl.Time(), "uuid": pl.String(),
}


def _fastavro() -> Any:
    try:
        import fastavro
    except ImportError as exc:
        raise missing("fastavro", "reading Avro payloads") from exc
    return fastavro


def polars_type(schema: Any) -> pl.DataType:
    """The polars type of values of an Avro (parsed) schema.

    Records are structs, arrays lists, maps lists of ``key``/``value``
    structs, enums ``Enum`` of their symbols, ``[null, T]`` a nullable T and
    any other union text (JSON); logical types: timestamps (UTC, or naive
    for local ones), dates, times, decimals, UUIDs (as text).

    >>> polars_type({"type": "long", "logicalType": "timestamp-micros"})
    Datetime(time_unit='us', time_zone='UTC')
    >>> polars_type(["null", {"type": "enum", "name": "S", "symbols": ["A", "B"]}])
    Enum(categories=['A', 'B'])
    """
    if isinstance(schema, str):
        return _BASE_TYPES.get(schema, pl.String())
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return polars_type(branches[0]) if len(branches) == 1 else pl.String()
    logical = schema.get("logicalType")
    if logical == "decimal":
        return pl.Decimal(schema.get("precision", 38), schema.get("scale", 0))
    if logical in _TIMES:
        return _TIMES[logical]
    kind = schema["type"]
    if kind == "record" or kind == "error":
        return pl.Struct({f["name"]: polars_type(f["type"]) for f in schema["fields"]})
    if kind == "enum":
        return pl.Enum(schema["symbols"])
    if kind == "array":
        return pl.List(polars_type(schema["items"]))
    if kind == "map":
        return pl.List(pl.Struct({"key": pl.String(), "value": polars_type(schema["values"])}))
    if kind == "fixed":
        return pl.Binary()
    return polars_type(kind)


def read_records(bodies: Sequence[bytes], schema: Any, *, what: str = "avro"
                 ) -> tuple[pl.DataFrame, dict[int, str]]:
    """Schemaless Avro records written with ``schema`` as one frame, and the bad ones' reasons.

    Returns the frame of the records that decoded (in order) and, by
    position in ``bodies``, why the others did not (``what`` starts each
    reason, e.g. ``"avro schema id 7"``). A record schema gives one column per
    field; any other schema one column named ``value``.

    Examples
    --------
    >>> import io, fastavro
    >>> s = fastavro.parse_schema({"type": "record", "name": "T", "fields": [
    ...     {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    ...     {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]})
    >>> def write(record):
    ...     out = io.BytesIO(); fastavro.schemaless_writer(out, s, record); return out.getvalue()
    >>> good = write({"id": "6c1b0e3e-4a3b-4a53-9f36-1d1f0bd1f2a8", "at": 1793534400000})
    >>> frame, bad = read_records([good, good[:-1]], s)
    >>> frame.schema
    Schema([('id', String), ('at', Datetime(time_unit='ms', time_zone='UTC'))])
    >>> bad
    {1: 'avro: truncated record at field at'}
    """
    if not bodies:
        return _empty(schema), {}
    if not _takes(schema):
        bad = _find_bad(range(len(bodies)), bodies, schema, what)
        return _one_by_one([b for i, b in enumerate(bodies) if i not in bad], schema), bad
    bad = {}
    frames: list[pl.DataFrame] = []
    _halves(list(range(len(bodies))), bodies, schema, what, bad, frames)
    return (pl.concat(frames) if frames else _empty(schema)), bad


def _halves(rows: list[int], bodies: Sequence[bytes], schema: Any, what: str,
            bad: dict[int, str], frames: list[pl.DataFrame], *, small: int = 32) -> None:
    """Decode ``rows`` in bulk; if one of them is bad, each half again, down to ``small``
    records, which are looked at one by one: a few bad records among many cost a few
    bulk reads, not a per-record decode of all."""
    if len(rows) > small:
        frame = _bulk([bodies[i] for i in rows], schema)
        if frame is not None:
            frames.append(frame)
            return
        half = len(rows) // 2
        _halves(rows[:half], bodies, schema, what, bad, frames, small=small)
        _halves(rows[half:], bodies, schema, what, bad, frames, small=small)
        return
    found = _find_bad(rows, bodies, schema, what)
    bad.update(found)
    good = [bodies[i] for i in rows if i not in found]
    if good:
        frame = _bulk(good, schema)
        frames.append(frame if frame is not None else _one_by_one(good, schema))


def _empty(schema: Any) -> pl.DataFrame:
    return pl.DataFrame(schema=_frame_schema(schema))


def _frame_schema(schema: Any) -> dict[str, pl.DataType]:
    t = polars_type(_fastavro().parse_schema(schema, expand=True))  # named types inlined
    if isinstance(t, pl.Struct):
        return {f.name: f.dtype for f in t.fields}  # type: ignore[misc]
    return {"value": t}


_HEADERS: dict[str, bytes] = {}


def _header(schema: Any) -> bytes:
    """The container header for blocks of records of ``schema``, each followed by a mark.

    The block's record has the writer's fields (or ``value``) and then the
    mark; defaults are left out and top-level enums stand as their ``int``
    index (what polars' reader takes), named by :func:`_bulk` afterwards.
    """
    fastavro = _fastavro()
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
    head = _HEADERS.get(key)
    if head is None:
        fields = [{"name": f["name"], "type": _plain_type(f["type"])} for f in _fields(schema)]
        frame = {"type": "record", "name": "eventkit_framed", "fields": [
            *fields, {"name": "eventkit_mark", "type": {"type": "fixed", "name": "eventkit_mark",
                                                        "size": 8}}]}
        out = io.BytesIO()
        fastavro.writer(out, fastavro.parse_schema(frame), [], codec="null", sync_marker=_SYNC)
        head = _HEADERS[key] = out.getvalue()
    return head


def _fields(schema: Any) -> list[dict[str, Any]]:
    if isinstance(schema, dict) and schema.get("type") in ("record", "error"):
        return list(schema["fields"])
    return [{"name": "value", "type": schema}]


def _plain_type(schema: Any) -> Any:
    """``schema`` without defaults; an enum as its index (an Avro ``int`` on the wire)."""
    if isinstance(schema, list):
        return [_plain_type(b) for b in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "enum":
        return "int"
    out = {k: v for k, v in schema.items() if k != "default" and not k.startswith("__")}
    if "fields" in out:
        out["fields"] = [{"name": f["name"], "type": _nested(f["type"])} for f in out["fields"]]
    if "items" in out:
        out["items"] = _nested(out["items"])
    return out


def _nested(schema: Any) -> Any:
    """Below the top level, enums are kept (polars' reader refuses them: see _polars_reads)."""
    if isinstance(schema, dict) and schema.get("type") == "enum":
        return {k: v for k, v in schema.items() if k != "default" and not k.startswith("__")}
    return _plain_type(schema)


def _long(n: int) -> bytes:
    out = io.BytesIO()
    _fastavro().schemaless_writer(out, "long", n)
    return out.getvalue()


def _bulk(bodies: Sequence[bytes], schema: Any) -> pl.DataFrame | None:
    """All records read by polars in one block, or None if any misreads."""
    body = _MARK.join(bodies) + _MARK
    block = _header(schema) + _long(len(bodies)) + _long(len(body)) + body + _SYNC
    try:
        read = pl.read_avro(io.BytesIO(block))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a bad record (polars' reader panics on some)
        return None
    mark = read.get_column("eventkit_mark")
    if read.height != len(bodies) or not bool(mark.bin.starts_with(_MARK).all()):
        return None
    frame = read.drop("eventkit_mark")
    types = _frame_schema(schema)
    enums = {f["name"]: t for f in _fields(schema)
             if isinstance(t := types[f["name"]], pl.Enum)}
    try:
        if enums:  # index -> symbol
            frame = frame.with_columns(
                pl.col(name).replace_strict(list(range(len(t.categories))),
                                            t.categories.to_list(), return_dtype=pl.String)
                for name, t in enums.items())
        return frame.cast(types)  # type: ignore[arg-type]
    except pl.exceptions.PolarsError:
        return None


def _takes(schema: Any) -> bool:
    """Whether polars' reader takes records of ``schema`` as :func:`_header` frames them."""
    def top(t: Any) -> bool:
        branches = [b for b in t if b != "null"] if isinstance(t, list) else [t]
        one = branches[0] if len(branches) == 1 else None
        if isinstance(one, dict) and one.get("type") == "enum":
            return True
        return _polars_reads(t)
    return all(top(f["type"]) for f in _fields(schema))


def _polars_reads(schema: Any) -> bool:
    """Whether polars' Avro reader takes ``schema`` (no maps, no unions of several types)."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return len(branches) <= 1 and all(_polars_reads(b) for b in branches)
    if not isinstance(schema, dict):
        return True
    kind = schema.get("type")
    if kind in ("map", "enum") or (schema.get("logicalType") in ("uuid",) and kind == "fixed"):
        return False  # (top-level enums are read as their index, see _header)
    if kind in ("record", "error"):
        return all(_polars_reads(f["type"]) for f in schema["fields"])
    if kind == "array":
        return _polars_reads(schema["items"])
    return True if isinstance(kind, str) else _polars_reads(kind)


def _find_bad(rows: Iterable[int], bodies: Sequence[bytes], schema: Any, what: str
              ) -> dict[int, str]:
    """Why each record at ``rows`` that fastavro cannot read whole fails (by position)."""
    bad = {}
    for i in rows:
        reason = _why_bad(bodies[i], schema)
        if reason:
            bad[i] = f"{what}: {reason}"
    return bad


def _why_bad(body: bytes, schema: Any) -> str | None:
    fastavro = _fastavro()
    try:
        parts = [(f["name"], fastavro.parse_schema(f["type"]))
                 for f in _fields(fastavro.parse_schema(schema, expand=True))]
    except Exception:
        parts = [("", schema)]
    buf = io.BytesIO(body)
    for name, part in parts:  # field by field, to name the one where the record stops
        where = f" at field {name}" if name else ""
        try:
            fastavro.schemaless_reader(buf, part)
        except (EOFError, StopIteration, IndexError):
            return f"truncated record{where}"
        except Exception as exc:
            return f"record does not decode{where}: {exc}"
    if buf.tell() != len(body):
        return f"{len(body) - buf.tell()} bytes after the record's end"
    return None


def _one_by_one(bodies: Sequence[bytes], schema: Any) -> pl.DataFrame:
    """Records read by fastavro one at a time (maps and unions polars does not take)."""
    fastavro = _fastavro()
    values = [_plain(fastavro.schemaless_reader(io.BytesIO(b), schema), schema) for b in bodies]
    columns = _frame_schema(schema)
    if "value" in columns and not (isinstance(schema, dict) and schema.get("type") == "record"):
        values = [{"value": v} for v in values]
    return pl.DataFrame(values, schema=columns)


def _plain(value: Any, schema: Any) -> Any:
    """A fastavro value in the shape of :func:`polars_type` (maps as key/value lists, ...)."""
    if value is None:
        return None
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) == 1:
            return _plain(value, branches[0])
        return orjson.dumps(value, default=str).decode()
    if isinstance(schema, str):
        return value
    logical, kind = schema.get("logicalType"), schema.get("type")
    if logical == "uuid":
        return str(value)
    if kind in ("record", "error"):
        return {f["name"]: _plain(value.get(f["name"]), f["type"]) for f in schema["fields"]}
    if kind == "array":
        return [_plain(v, schema["items"]) for v in value]
    if kind == "map":
        return [{"key": k, "value": _plain(v, schema["values"])} for k, v in value.items()]
    if isinstance(kind, dict | list):
        return _plain(value, kind)
    return value
