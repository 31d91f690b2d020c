"""Payload bytes to Arrow, in bulk: the envelope and one typed table per event type.

Pure: lists of bytes and polars Series in, polars DataFrames out, no I/O.

Decoding is done by the batch, never per message in Python: the payloads of a
batch are joined into one NDJSON buffer and parsed by polars twice, first
only the fields the envelope rules need (cheap, a fixed schema), then once per
event type with that type's own schema (given by the registry, or inferred),
so the fields of one type never collide with those of another.

A payload that is empty or not a JSON object is kept: its bytes stay in
``data``, ``error`` says why, and it is left out of the typed tables.
"""

from __future__ import annotations

import bisect
import codecs
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import polars as pl
import pyarrow as pa

from eventkit.envelope import ENVELOPE_SCHEMA, Rules, field_column, payload_column
from eventkit.source._wire import parse_headers

__all__ = ["Decoded", "combine", "decode", "header_json"]

EMPTY = "empty payload"


@dataclass(slots=True)
class Decoded:
    """The envelope rows of a batch, and the payload fields of each event type."""

    envelope: pl.DataFrame
    typed: dict[str, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Decoded:
        return cls(pl.DataFrame(schema=ENVELOPE_SCHEMA))


def header_json(block: bytes | None) -> str | None:
    """A ``NATS/1.0`` header block as a JSON object (repeated names joined with ", ").

    Examples
    --------
    >>> header_json(b"NATS/1.0\\r\\nce-type: trip_completed\\r\\nX: 1\\r\\nX: 2\\r\\n\\r\\n")
    '{"ce-type":"trip_completed","X":"1, 2"}'
    >>> header_json(None) is None
    True
    """
    if block is None:
        return None
    return orjson.dumps(parse_headers(block)[2]).decode()


def decode(
    seq: pl.Series,
    time: pl.Series,
    subjects: Sequence[bytes] | Sequence[str],
    headers: Sequence[bytes | None] | Mapping[int, bytes],
    payloads: Sequence[bytes],
    rules: Rules,
    *,
    schemas: Mapping[str, Mapping[str, pl.DataType]] | None = None,
) -> Decoded:
    """Decode one batch of messages (all lists in stream order, one entry per message).

    Parameters
    ----------
    seq, time
        Stream sequences (UInt64) and server times (Datetime ns UTC).
    subjects, headers, payloads
        Per message: subject, raw header block (or None) and payload bytes;
        ``headers`` may instead map row numbers to the blocks of the few
        messages that have one.
    rules
        How ``type``, ``key`` and ``event_time`` are found.
    schemas
        Per event type, the payload fields and their polars types (from a
        schema registry); types not listed are inferred from the batch.

    Examples
    --------
    >>> import datetime as dt
    >>> t = pl.Series([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * 3).cast(pl.Datetime("ns", "UTC"))
    >>> out = decode(pl.Series([1, 2, 3], dtype=pl.UInt64), t,
    ...              [b"rides.a", b"rides.a", b"rides.b"], [None, None, None],
    ...              [b'{"type":"ride_requested","key":"r1","city":"Lisbon"}',
    ...               b'{"type":"trip_completed","key":"r1","fare":9.5}', b'{oops'],
    ...              Rules())
    >>> out.envelope.select("seq", "type", "key", "error")
    shape: (3, 4)
    ┌─────┬────────────────┬──────┬─────────────────────────────────┐
    │ seq ┆ type           ┆ key  ┆ error                           │
    │ --- ┆ ---            ┆ ---  ┆ ---                             │
    │ u64 ┆ str            ┆ str  ┆ str                             │
    ╞═════╪════════════════╪══════╪═════════════════════════════════╡
    │ 1   ┆ ride_requested ┆ r1   ┆ null                            │
    │ 2   ┆ trip_completed ┆ r1   ┆ null                            │
    │ 3   ┆ b              ┆ null ┆ invalid JSON: unexpected chara… │
    └─────┴────────────────┴──────┴─────────────────────────────────┘
    >>> out.typed["trip_completed"]
    shape: (1, 2)
    ┌─────┬──────┐
    │ seq ┆ fare │
    │ --- ┆ ---  │
    │ u64 ┆ f64  │
    ╞═════╪══════╡
    │ 2   ┆ 9.5  │
    └─────┴──────┘
    """
    n = len(payloads)
    if n == 0:
        return Decoded.empty()
    data = pl.Series("data", pa.array(payloads, pa.binary()), dtype=pl.Binary)
    subject = pl.Series("subject", subjects)
    if subject.dtype == pl.Binary:
        subject = subject.cast(pl.String)
    blocks = headers if isinstance(headers, Mapping) else {
        i: h for i, h in enumerate(headers) if h is not None}
    header_text = _sparse("headers", n, {i: header_json(h) for i, h in blocks.items()})
    errors, lines = _classify(payloads, data)
    error = _sparse("error", n, errors)
    good = error.is_null().arg_true()
    fields = rules.fields()
    # Fast path: one parse of every line, when the types' fields agree with
    # each other (and no registry schema asks for per-type decoding).
    wide = None if schemas else _read_wide(lines)
    if wide is not None:  # one row per message; a payload that did not decode has none
        field_frame = pl.DataFrame([_rule_text(wide, f).rename(field_column(f)) for f in fields])
    else:
        projected, bad = _parse_projected(lines, good, fields)
        if bad:
            errors |= {int(good[j]): reason for j, reason in bad.items()}
            error = _sparse("error", n, errors)
            good = error.is_null().arg_true()
            projected, _ = _parse_projected(lines, good, fields)
        field_frame = _scatter(projected, good, n, fields)
    frame = pl.DataFrame(
        [seq.rename("seq").cast(pl.UInt64), subject, time.rename("time"), header_text, data,
         error]
    )
    envelope = rules.apply(pl.concat([frame, field_frame], how="horizontal")).select(
        list(ENVELOPE_SCHEMA))
    consumed = {
        name for name in ("type", "key", "event_time")
        if any(r.source == "field" and r.name == name for r in getattr(rules, name))
    }
    if wide is not None and _kinds_agree(wide.drop(*consumed, strict=False),
                                         envelope.get_column("type"), lines):
        typed = _split_types(envelope, envelope.get_column("error").is_null(), wide, consumed)
    else:
        typed = _typed_tables(envelope, good, lines, schemas or {}, consumed)
    return Decoded(envelope, typed)


def _read_wide(lines: pa.Array) -> pl.DataFrame | None:
    """Every field of every line in one parse, or None if the lines disagree.

    Rows of payloads that did not decode are empty (their line is ``{}``).
    """
    try:
        wide = _read(_text(lines, None), None)
    except pl.exceptions.PolarsError:
        return None
    if wide.width == 0:  # no fields at all: polars gives no rows either
        return pl.DataFrame(height=len(lines)) if len(lines) else None
    return wide if wide.height == len(lines) else None


def _kinds_agree(wide: pl.DataFrame, types: pl.Series, lines: pa.Array) -> bool:
    """Would each type, parsed alone, give its fields the types the shared parse gave?

    A shared parse widens a field two types use differently (text in one,
    numbers or objects in another; integers in one, decimals in another).
    Look for that, only in fields that more than one type uses; if it
    happened, the caller parses each type on its own.
    """
    text: pl.Series | None = None
    for name, dtype in wide.schema.items():
        if dtype not in (pl.String, pl.Float64):
            continue
        present = wide.get_column(name).is_not_null()
        if types.filter(present).n_unique() < 2:
            continue
        if dtype == pl.String:
            if text is None:  # the lines are UTF-8 (the others stand as {})
                text = pl.Series(lines.cast(pa.large_string())).cast(pl.String)
            # a value that is not a JSON string: compact JSON first (a plain,
            # fast search), the exact pattern only if some value is written otherwise
            odd = ~text.str.contains(f'"{name}":"', literal=True)
            if (odd & present).any():
                odd = ~text.str.contains('"' + re.escape(name) + r'"\s*:\s*"')
        else:
            values = wide.get_column(name)
            odd = values == values.floor()  # an integer value
        kinds = pl.DataFrame({"type": types, "odd": odd}).filter(present).group_by("type").agg(
            pl.col("odd").all().alias("all_odd"), pl.col("odd").any().alias("any_odd"))
        if kinds["all_odd"].any() and not kinds["any_odd"].all():
            return False
    return True


def _rule_text(wide: pl.DataFrame, name: str) -> pl.Series:
    """A payload field as text for the rules (null where it is absent or nested)."""
    if name not in wide.columns or wide.schema[name].is_nested():
        return pl.Series(name, [None] * wide.height, dtype=pl.String)
    return wide.get_column(name).cast(pl.String)


def _split_types(envelope: pl.DataFrame, ok: pl.Series, wide: pl.DataFrame,
                 consumed: set[str]) -> dict[str, pl.DataFrame]:
    """Per-type frames out of one wide parse (rows that decoded): each type keeps its fields."""
    tagged = wide.with_columns(
        envelope.get_column("type").alias("__type"),
        envelope.get_column("seq").alias("__seq"),
    ).filter(ok)
    typed: dict[str, pl.DataFrame] = {}
    for (event_type,), part in tagged.partition_by("__type", as_dict=True,
                                                  maintain_order=True).items():
        if event_type is None:
            continue
        present = [c for c in wide.columns if part.get_column(c).null_count() < part.height]
        fields = _payload_names(part.select("__seq", *present), consumed)
        typed[event_type] = fields.rename({"__seq": "seq"})
    return typed


def _sparse(name: str, n: int, values: Mapping[int, str]) -> pl.Series:
    """A text column of ``n`` nulls but for ``values`` (by row)."""
    column = pl.repeat(None, n, dtype=pl.String, eager=True).rename(name)
    if values:
        column = column.scatter(list(values), list(values.values()))
    return column


def _classify(payloads: Sequence[bytes], data: pl.Series) -> tuple[dict[int, str], pa.Array]:
    """Why payloads cannot be NDJSON lines (by row, for those that cannot), and the lines.

    The lines are one Arrow array over one buffer, a line per payload, each
    followed by a newline: any subset of them taken by index is an NDJSON
    text for polars, with no per-message work in Python. A payload that
    cannot be a line stands as ``{}`` there, so the whole buffer always
    parses with one row per message.
    """
    n = len(payloads)
    errors: dict[int, str] = {}
    joined = b"\n".join([*payloads, b""])
    sizes = data.bin.size().cast(pl.Int64)
    # Cheap, vectorised: a line polars will take starts with "{", ends with "}",
    # is UTF-8 and has no line breaks. Only the rest is looked at one by one.
    odd = ~(data.bin.starts_with(b"{") & data.bin.ends_with(b"}"))
    odd |= data.bin.contains(b"\n") | data.bin.contains(b"\r")
    replaced: dict[int, bytes] = {}
    for i in sorted({*odd.arg_true().to_list(), *_not_utf8(joined, (sizes + 1).cum_sum())}):
        raw = payloads[i]
        reason = EMPTY if not raw.strip() else _json_object_error(raw)
        if reason:
            errors[i] = reason
            replaced[i] = b"{}"
        else:  # JSON allows whitespace, and so line breaks, between tokens
            replaced[i] = raw.replace(b"\r", b" ").replace(b"\n", b" ")
    if replaced:
        text = [*payloads, b""]
        for i, line in replaced.items():
            text[i] = line
        joined = b"\n".join(text)
        sizes = sizes.scatter(list(replaced), [len(r) for r in replaced.values()])
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), (sizes + 1).cum_sum()]).to_arrow()
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, offsets.buffers()[1], pa.py_buffer(joined)])
    return errors, lines


def _not_utf8(joined: bytes, ends: pl.Series, *, piece: int = 2048) -> list[int]:
    """Indices of lines that are not UTF-8.

    The text is looked at in pieces of ``piece`` lines: an ASCII piece (the
    usual case) is skipped at memory speed; only the others are decoded, and
    after a bad line only the rest of its piece is decoded again.
    """
    if joined.isascii():
        return []
    bounds = [0, *ends.to_list()]
    bad: list[int] = []
    view = memoryview(joined)
    for first in range(0, len(bounds) - 1, piece):
        last = min(first + piece, len(bounds) - 1)
        pos, stop = bounds[first], bounds[last]
        if joined[pos:stop].isascii():
            continue
        while pos < stop:
            try:
                codecs.utf_8_decode(view[pos:stop], "strict", True)
                break
            except UnicodeDecodeError as exc:
                i = bisect.bisect_right(bounds, pos + exc.start) - 1
                bad.append(i)
                pos = bounds[i + 1]
    return bad


def _json_object_error(raw: bytes) -> str | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return f"not a JSON object: {type(value).__name__}"
    return None


def _text(lines: pa.Array, rows: pl.Series | None) -> bytes:
    """The NDJSON text of the lines at ``rows`` (all of them for None)."""
    part = lines if rows is None or len(rows) == len(lines) else lines.take(rows.to_arrow())
    offsets = pa.Array.from_buffers(pa.int64(), len(part) + 1, [None, part.buffers()[1]],
                                    offset=part.offset)
    start, stop = offsets[0].as_py(), offsets[-1].as_py()
    return part.buffers()[2][start:stop].to_pybytes()


def _read(text: bytes, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    buf = io.BytesIO(text)
    if schema is None:
        return pl.read_ndjson(buf, infer_schema_length=None)
    return pl.read_ndjson(buf, schema=dict(schema))


def _parse_projected(
    lines: pa.Array, rows: pl.Series, fields: list[str]
) -> tuple[pl.DataFrame, dict[int, str]]:
    """The rule fields of each line as text; or, if lines are bad, their reasons."""
    schema = {f: pl.String() for f in fields} or {"__none__": pl.String()}
    if not len(rows):
        return pl.DataFrame(schema=schema), {}
    try:
        out = _read(_text(lines, rows), schema)
        if out.height == len(rows):
            return out, {}
    except pl.exceptions.PolarsError:
        pass
    values = lines.take(rows.to_arrow()).to_pylist()
    bad = {j: reason for j, line in enumerate(values) if (reason := _json_object_error(line))}
    if not bad:  # polars refuses what orjson accepts: keep the events, flag them
        bad = dict.fromkeys(range(len(values)), "payload not readable as an NDJSON object")
    return pl.DataFrame(schema=schema), bad


def _scatter(projected: pl.DataFrame, good: pl.Series, n: int, fields: list[str]) -> pl.DataFrame:
    """Rule-field columns for all ``n`` rows (null where the payload did not decode)."""
    if len(good) == n:
        cols = projected
    else:
        idx = pl.DataFrame({"__row": good.cast(pl.UInt32)})
        cols = (
            pl.DataFrame({"__row": pl.int_range(n, dtype=pl.UInt32, eager=True)})
            .join(pl.concat([idx, projected.select(fields)], how="horizontal"),
                  on="__row", how="left")
            .drop("__row")
        ) if fields else pl.DataFrame()
    return pl.DataFrame([
        (cols[f] if f in cols.columns else pl.Series([None] * n, dtype=pl.String))
        .rename(field_column(f)) for f in fields
    ]) if fields else pl.DataFrame()


def _typed_tables(
    envelope: pl.DataFrame, good: pl.Series, lines: pa.Array,
    schemas: Mapping[str, Mapping[str, pl.DataType]], consumed: set[str],
) -> dict[str, pl.DataFrame]:
    """One frame per event type: ``seq``, then the payload fields."""
    if not len(good):
        return {}
    groups = (
        envelope.select("type").with_row_index("__row")[good]
        .group_by("type", maintain_order=True).agg("__row")
    )
    typed: dict[str, pl.DataFrame] = {}
    for event_type, rows in groups.iter_rows():
        if event_type is None:
            continue
        rows = pl.Series(rows, dtype=pl.UInt32)
        fields = _read_type(_text(lines, rows), schemas.get(event_type))
        seq = envelope["seq"].gather(rows).to_frame()
        fields = _payload_names(fields, consumed)
        typed[event_type] = pl.concat([seq, fields], how="horizontal") if fields.width else seq
    return typed


def _read_type(text: bytes, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    try:
        return _read(text, schema)
    except pl.exceptions.PolarsError:
        # fields whose JSON types disagree within one type: read every field as text
        names: dict[str, None] = {}
        for line in text.splitlines():
            names.update(dict.fromkeys(orjson.loads(line)))
        return _read(text, {name: pl.String() for name in names})


def _payload_names(fields: pl.DataFrame, consumed: set[str]) -> pl.DataFrame:
    """Payload fields under names that cannot collide with the envelope's.

    A field the envelope took by rule under its own name (``type``, ``key``,
    ``event_time``) is dropped; other envelope names get a ``payload_`` prefix.
    """
    fields = fields.drop(*consumed, strict=False)
    clash = {c: payload_column(c) for c in fields.columns if payload_column(c) != c}
    return fields.rename(clash) if clash else fields


def combine(parts: Sequence[Decoded]) -> Decoded:
    """Decoded batches concatenated in order; a type's fields are the union over batches."""
    if not parts:
        return Decoded.empty()
    envelope = pl.concat([p.envelope for p in parts], how="vertical", rechunk=False)
    by_type: dict[str, list[pl.DataFrame]] = {}
    for part in parts:
        for name, frame in part.typed.items():
            by_type.setdefault(name, []).append(frame)
    return Decoded(envelope, {name: union(frames) for name, frames in by_type.items()})


def union(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Frames stacked with the union of their columns; types widened where they differ.

    Numbers widen to a common numeric type; anything else that disagrees
    (text in one batch, a number in another) becomes text.
    """
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="diagonal_relaxed", rechunk=False)
    except pl.exceptions.PolarsError:
        dtypes: dict[str, set[pl.DataType]] = {}
        for f in frames:
            for name, dtype in f.schema.items():
                dtypes.setdefault(name, set()).add(dtype)
        clash = [name for name, ds in dtypes.items() if len(ds) > 1]
        frames = [f.with_columns(_as_text(f, clash)) for f in frames]
        return pl.concat(frames, how="diagonal_relaxed", rechunk=False)


def _as_text(frame: pl.DataFrame, names: list[str]) -> list[pl.Expr]:
    out = []
    for name in names:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if isinstance(dtype, pl.Struct):
            out.append(pl.col(name).struct.json_encode())
        elif dtype.is_nested():
            out.append(pl.col(name).map_elements(
                lambda v: orjson.dumps(v.to_list() if isinstance(v, pl.Series) else v).decode(),
                return_dtype=pl.String))
        else:
            out.append(pl.col(name).cast(pl.String))
    return out
