"""Payload bytes to Arrow, in bulk: the envelope and one typed table per event type.

Pure: lists of bytes and polars Series in, polars DataFrames out, no I/O.

Decoding is done by the batch, never per message in Python: the payloads of a
batch are joined into one NDJSON buffer and parsed twice, first only the
fields the envelope rules need (cheap, a fixed schema), then once per event
type, so the fields of one type never collide with those of another. A type's
schema comes from the registry, or from the earlier batches of the same read
(exact, see :func:`_read_learning`), or else is inferred. Once a read has
seen that each subject carries one type, later batches skip the first pass
and check the types afterwards instead (see :func:`_decode_by_subject`).

A payload that is empty or not a JSON object is kept: its bytes stay in
``data``, ``error`` says why, and it is left out of the typed tables.
"""

from __future__ import annotations

import bisect
import codecs
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, overload

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json

from eventkit.envelope import ENVELOPE_SCHEMA, Rules, field_column, payload_column
from eventkit.source._protocol import parse_headers

if TYPE_CHECKING:
    from eventkit.formats.rules import FormatRules
    from eventkit.formats.schemas import Schemas

__all__ = ["Decoded", "Hints", "combine", "decode", "header_json"]

EMPTY = "empty payload"
T = TypeVar("T")


@dataclass(slots=True)
class Decoded:
    """The envelope rows of a batch, and the payload fields of each event type."""

    envelope: pl.DataFrame
    typed: dict[str, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Decoded:
        return cls(pl.DataFrame(schema=ENVELOPE_SCHEMA))


@overload
def header_json(block: bytes) -> str: ...
@overload
def header_json(block: None) -> None: ...
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
    hints: Hints | None = None,
    formats: FormatRules | None = None,
    writers: Schemas | None = None,
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
    hints
        What earlier batches of the same read taught (see :class:`Hints`),
        updated here: pass one to every batch of a read.
    formats, writers
        How each message's format is found, and the Avro/Protobuf writer
        schemas; without ``formats`` every payload is read as JSON (see
        :mod:`eventkit.formats.mixed` for the other formats).

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
    if formats is not None:  # the one door to the other formats
        from eventkit.formats import mixed
        from eventkit.formats.schemas import Schemas

        given = headers if isinstance(headers, Mapping) else {
            i: h for i, h in enumerate(headers) if h is not None}
        if mixed.needs_formats(given, payloads, formats, writers=writers):
            parts = mixed.decode_mixed(seq, time, subjects, given, payloads, rules,
                                       formats=formats, writers=writers or Schemas(),
                                       json_decode=decode, schemas=schemas, hints=hints)
            by_type: dict[str, list[pl.DataFrame]] = {}
            for part in parts:
                for name, frames in part.typed.items():
                    by_type.setdefault(name, []).extend(frames)
            return Decoded(pl.concat([p.envelope for p in parts]).sort("seq"),
                           {t: union(fs).sort("seq") if len(fs) > 1 else fs[0]
                            for t, fs in by_type.items()})
    data = pl.Series("data", payloads, dtype=pl.Binary)
    subject = pl.Series("subject", subjects)
    if subject.dtype == pl.Binary:
        subject = subject.cast(pl.String)
    blocks = headers if isinstance(headers, Mapping) else {
        i: h for i, h in enumerate(headers) if h is not None}
    header_text = _sparse("headers", n, {i: header_json(h) for i, h in blocks.items()})
    errors, lines = _classify(payloads, data)
    frame = pl.DataFrame([seq.rename("seq").cast(pl.UInt64), subject, time.rename("time"),
                          header_text, data])
    fields = rules.fields()
    learned = hints if hints is not None else Hints(enabled=False)
    consumed = {
        name for name in ("type", "key", "event_time")
        if any(r.source == "field" and r.name == name for r in getattr(rules, name))
    }
    if learned.enabled and not schemas:  # each type's lines read once, if subjects tell types
        fast = _decode_by_subject(frame, errors, lines, rules, learned, consumed)
        if fast is not None:
            return fast
    projected, bad = _parse_projected(lines, fields)
    if bad:
        errors = bad | errors  # a reason found before stays
        lines = _blank(payloads, bad)
        projected, _ = _parse_projected(lines, fields)
    error = _sparse("error", n, errors)
    field_frame = pl.DataFrame([projected.get_column(f).rename(field_column(f)) for f in fields])
    envelope = _envelope(frame, error, field_frame, rules)
    good = error.is_null().arg_true()
    typed = _typed_tables(envelope, good, lines, schemas or {}, consumed, learned.schemas)
    if learned.enabled:
        learned.learn(envelope.get_column("subject"), envelope.get_column("type"), good)
    return Decoded(envelope, typed)


@dataclass(slots=True)
class Hints:
    """What one read learns from batch to batch, to decode the next ones faster.

    One read decodes its batches one at a time (a single worker), so nothing
    here is locked.

    Attributes
    ----------
    schemas
        Each event type's Arrow schema (None where Arrow's JSON reader cannot
        take it).
    types
        Each subject's event type; None once a subject carried more than one.
    enabled
        False once subjects cannot tell types: too many of them (an entity id
        in every subject, say), or rule fields that are not text.
    by_subject
        How many batches were decoded the short way.

    Examples
    --------
    >>> import datetime as dt
    >>> hints = Hints()
    >>> t = pl.Series([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * 2).cast(pl.Datetime("ns", "UTC"))
    >>> for first in (1, 3):
    ...     _ = decode(pl.Series([first, first + 1], dtype=pl.UInt64), t, [b"o.placed"] * 2,
    ...                [None, None], [b'{"type":"placed","n":1}'] * 2, Rules(), hints=hints)
    >>> hints.types, hints.by_subject
    ({'o.placed': 'placed'}, 1)
    """

    schemas: dict[str, pa.Schema | None] = field(default_factory=dict)
    types: dict[str, str | None] = field(default_factory=dict)
    enabled: bool = True
    by_subject: int = 0
    max_subjects: int = 10_000

    def learn(self, subject: pl.Series, event_type: pl.Series, good: pl.Series) -> None:
        """Remember which type each subject carried in a decoded batch (rows ``good``)."""
        pairs = pl.DataFrame([subject, event_type]).select(pl.all().gather(good)).unique()
        if len(self.types) + pairs.height > self.max_subjects:
            self.stop()
            return
        several = pairs.get_column("subject").is_duplicated()
        for (name, kind), many in zip(pairs.iter_rows(), several, strict=True):
            if many or self.types.get(name, kind) != kind:
                self.types[name] = None
            else:
                self.types[name] = kind

    def stop(self) -> None:
        """Decode the general way from now on (schemas are still learned)."""
        self.enabled = False
        self.types = {}


def _envelope(frame: pl.DataFrame, error: pl.Series, field_frame: pl.DataFrame,
              rules: Rules) -> pl.DataFrame:
    return rules.apply(pl.concat([frame.with_columns(error), field_frame],
                                 how="horizontal")).select(list(ENVELOPE_SCHEMA))


def _decode_by_subject(
    frame: pl.DataFrame, errors: dict[int, str], lines: pa.Array, rules: Rules,
    hints: Hints, consumed: set[str],
) -> Decoded | None:
    """Decode with no pass over the payloads for the rule fields, or None if that cannot be exact.

    Where every subject of the batch carried one event type in the batches
    before, the lines are grouped by that type and each group read once;
    the rule fields (``type``, ``key``, ...) come out of those reads. The
    result stands only if the rules then give each event the type its group
    assumed, and every rule field read as text; otherwise None, and the
    caller takes the general way (which also finds payloads that are not JSON).
    """
    n = frame.height
    if not any(hints.types.values()):  # no subject has told a type (yet)
        return None
    error = _sparse("error", n, errors)
    good = error.is_null().arg_true()
    if not len(good):
        return None
    guess = frame.get_column("subject").replace_strict(
        list(hints.types), list(hints.types.values()), default=None, return_dtype=pl.String)
    if guess.gather(good).null_count():
        return None
    fields = rules.fields()
    parts: dict[str, tuple[pl.Series, pl.DataFrame]] = {}
    columns = []
    schemas = dict(hints.schemas)  # kept only if the groups prove to be the types
    groups: list[tuple[str, pl.Series]] = []
    for event_type, rows in _rows_by_type(guess, good):
        if event_type is None:  # not so (no row of ``good`` is without a guess)
            return None
        groups.append((event_type, rows))
    try:
        reads = _each(lambda event_type, rows: _read_learning(_text(lines, rows), event_type,
                                                              schemas), groups)
        for (event_type, rows), read in zip(groups, reads, strict=True):
            if read.height != len(rows):
                return None
            schema = read.schema
            picked = [rows.rename("__row")]
            for f in fields:
                if f not in schema:  # null for this type (the concat below fills it in)
                    continue
                if schema[f] not in (pl.String, pl.Null):  # a rule field that is not text (an
                    hints.stop()  # id, an epoch time): the general way reads it as text,
                    return None   # every batch; so stop trying
                picked.append(read.get_column(f).cast(pl.String).rename(field_column(f)))
            columns.append(pl.DataFrame(picked))
            parts[event_type] = (rows, read)
    except (pl.exceptions.PolarsError, pa.ArrowInvalid, orjson.JSONDecodeError):
        return None  # a payload that is not JSON after all
    names = [field_column(f) for f in fields]
    rule_fields = pl.concat(columns, how="diagonal")
    rule_fields = rule_fields.select(
        "__row", *(pl.col(c) if c in rule_fields.columns else pl.lit(None, pl.String).alias(c)
                   for c in names)).sort("__row")
    if rule_fields.height != n:
        rule_fields = pl.DataFrame({"__row": pl.int_range(n, dtype=pl.UInt32, eager=True)}).join(
            rule_fields, on="__row", how="left", maintain_order="left")
    envelope = _envelope(frame, error, rule_fields.drop("__row"), rules)
    if not envelope.get_column("type").gather(good).equals(guess.gather(good)):
        return None
    hints.schemas.update(schemas)
    hints.by_subject += 1
    typed: dict[str, pl.DataFrame] = {}
    seq = envelope.get_column("seq")
    for event_type, (rows, read) in parts.items():
        typed[event_type] = _typed(seq, rows, read, consumed)
    hints.learn(envelope.get_column("subject"), envelope.get_column("type"), good)
    return Decoded(envelope, typed)


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
    ends = (sizes + 1).cum_sum()
    for i in sorted({*odd.arg_true().to_list(), *_not_utf8(joined, ends)}):
        raw = payloads[i]
        reason = EMPTY if not raw.strip() else _json_object_error(raw)
        if reason:
            errors[i] = reason
            replaced[i] = b"{}"
        else:  # JSON allows whitespace, and so line breaks, between tokens
            replaced[i] = raw.replace(b"\r", b" ").replace(b"\n", b" ")
    if replaced:  # the text spliced around the few lines replaced (one copy, no join again)
        view = memoryview(joined)
        pieces: list[bytes | memoryview] = []
        pos = 0
        for i, end in zip(replaced, ends.gather(list(replaced)).to_list(), strict=True):
            pieces += [view[pos:end - len(payloads[i]) - 1], replaced[i], b"\n"]
            pos = end
        pieces.append(view[pos:])
        joined = b"".join(pieces)
        sizes = sizes.scatter(list(replaced), [len(r) for r in replaced.values()])
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), (sizes + 1).cum_sum()]).to_arrow()
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, offsets.buffers()[1], pa.py_buffer(joined)])
    return errors, lines


def _not_utf8(joined: bytes, ends: pl.Series, *, piece: int = 2048,
              piece_bytes: int = 1 << 20) -> list[int]:
    """Indices of lines that are not UTF-8.

    The text is looked at in pieces of ``piece`` lines and at most
    ``piece_bytes`` bytes (or one line): an ASCII piece (the usual case) is
    skipped at memory speed; only the others are decoded, and after a bad
    line only the rest of its piece is decoded again (each failure copies
    what it looked at into the error, so pieces stay small in bytes).
    """
    if joined.isascii():
        return []
    bounds = [0, *ends.to_list()]
    bad: list[int] = []
    view = memoryview(joined)
    first = 0
    while first < len(bounds) - 1:
        last = min(first + piece, len(bounds) - 1,
                   max(bisect.bisect_right(bounds, bounds[first] + piece_bytes) - 1, first + 1))
        pos, stop = bounds[first], bounds[last]
        first = last
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


def _text(lines: pa.Array, rows: pl.Series | None) -> pa.Buffer:
    """The NDJSON text of the lines at ``rows`` (all of them for None), not copied again."""
    part = lines if rows is None or len(rows) == len(lines) else lines.take(rows.to_arrow())
    offsets = pa.Array.from_buffers(pa.int64(), len(part) + 1, [None, part.buffers()[1]],
                                    offset=part.offset)
    start, stop = offsets[0].as_py(), offsets[-1].as_py()
    return part.buffers()[2][start:stop]


def _read(text: pa.Buffer, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    buf = io.BytesIO(text)
    if schema is None:
        return pl.read_ndjson(buf, infer_schema_length=None)
    return pl.read_ndjson(buf, schema=dict(schema))


def _parse_projected(lines: pa.Array, fields: list[str]) -> tuple[pl.DataFrame, dict[int, str]]:
    """The rule fields of every line as text; or, if some lines are not JSON, their reasons.

    Only the rule fields are converted (a fixed schema, no inference), but
    polars still checks every line whole.
    """
    schema = {f: pl.String() for f in fields} or {"__none__": pl.String()}
    try:
        out = _read(_text(lines, None), schema)
        if out.height == len(lines):
            return out, {}
    except pl.exceptions.PolarsError:
        pass
    values = lines.to_pylist()
    bad = {i: reason for i, line in enumerate(values) if (reason := _json_object_error(line))}
    if not bad:  # polars refuses what orjson accepts: keep the events, flag them
        bad = dict.fromkeys(range(len(values)), "payload not readable as an NDJSON object")
    return pl.DataFrame(schema=schema), bad


def _blank(payloads: Sequence[bytes], rows: Mapping[int, str]) -> pa.Array:
    """NDJSON lines of the payloads, with those at ``rows`` standing as ``{}``."""
    fixed = list(payloads)
    for i in rows:
        fixed[i] = b"{}"
    return _classify(fixed, pl.Series(fixed, dtype=pl.Binary))[1]


def _typed_tables(
    envelope: pl.DataFrame, good: pl.Series, lines: pa.Array,
    schemas: Mapping[str, Mapping[str, pl.DataType]], consumed: set[str],
    hints: dict[str, pa.Schema | None],
) -> dict[str, pl.DataFrame]:
    """One frame per event type: ``seq``, then the payload fields."""
    def read(event_type: str, rows: pl.Series) -> pl.DataFrame:
        text = _text(lines, rows)
        if event_type in schemas:
            return _read_type(text, schemas[event_type])
        return _read_learning(text, event_type, hints)

    groups = [(t, rows) for t, rows in _rows_by_type(envelope.get_column("type"), good)
              if t is not None]
    seq = envelope.get_column("seq")
    return {event_type: _typed(seq, rows, fields, consumed)
            for (event_type, rows), fields in zip(groups, _each(read, groups), strict=True)}


_readers: ThreadPoolExecutor | None = None
_readers_lock = threading.Lock()


def _each(read: Callable[[str, pl.Series], T], groups: list[tuple[str, pl.Series]]) -> list[T]:
    """``read`` of each type's rows, in order, the types read side by side.

    Arrow's JSON reader and polars' work without the GIL, and a type's lines
    are mostly too few for either to spread over the cores by itself: a few
    types at a time use them (the first failure raises, as a plain loop).
    """
    global _readers
    if len(groups) < 2:
        return [read(event_type, rows) for event_type, rows in groups]
    with _readers_lock:
        if _readers is None:
            _readers = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                          thread_name_prefix="eventkit-json")
    return list(_readers.map(read, *zip(*groups, strict=True)))


def _rows_by_type(types: pl.Series, good: pl.Series) -> Iterator[tuple[str | None, pl.Series]]:
    """Each type and its rows among ``good``, in order of first appearance."""
    if not len(good):
        return
    groups = (pl.DataFrame({"type": types}).with_row_index("__row")[good]
              .group_by("type", maintain_order=True).agg("__row"))
    yield from zip(groups.get_column("type"), groups.get_column("__row"), strict=True)


def _typed(seq: pl.Series, rows: pl.Series, fields: pl.DataFrame,
           consumed: set[str]) -> pl.DataFrame:
    """A type's table: the ``seq`` of its rows, then its payload fields.

    A field the envelope took by rule under its own name (``type``, ``key``,
    ``event_time``) is left out; other envelope names get a ``payload_`` prefix.
    """
    # Series by Series: a frame op per type and batch costs more than the columns' work here
    return pl.DataFrame([seq.gather(rows), *(fields.get_column(c).rename(payload_column(c))
                                             for c in fields.columns if c not in consumed)])


_JSON_READ = pa_json.ReadOptions(block_size=1 << 20)  # 1 MiB: a type's lines in a few pieces
_HEAD = 128 << 10  # what a type's first lines infer its schema from (see _read_learning)


def _read_learning(text: pa.Buffer, event_type: str, hints: dict[str, pa.Schema | None]
                   ) -> pl.DataFrame:
    """A type's lines read with the schema its earlier batches had, or else inferred.

    The schema of an earlier batch saves polars' inference (most of its
    cost). Arrow's JSON reader, told to, refuses a field the schema lacks and
    a value of another JSON type, and then the lines are inferred again and
    the new schema kept. The one thing it lets through, an integer in a
    field learned as decimals, reads as a decimal: :func:`union` gives the
    same when batches are stacked, so a read's result does not change.

    A type met for the first time with many lines learns the same way within
    its batch: its first :data:`_HEAD` bytes of lines are inferred, and all
    its lines read with what they say (or inferred whole if refused).
    """
    known = hints.get(event_type)
    if event_type not in hints and text.size > 2 * _HEAD:
        cut = text[:_HEAD].to_pybytes().rfind(b"\n") + 1
        known = _json_schema(_read_type(text[:cut], None)) if cut else None
    if known is not None:
        try:
            options = pa_json.ParseOptions(explicit_schema=known, unexpected_field_behavior="error")
            table = pa_json.read_json(pa.BufferReader(text), read_options=_JSON_READ,
                                      parse_options=options)
            hints[event_type] = known
            return pl.from_arrow(table)  # type: ignore[return-value]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    fields = _read_type(text, None)
    hints[event_type] = _json_schema(fields)
    return fields


def _json_schema(frame: pl.DataFrame) -> pa.Schema | None:
    """The Arrow schema Arrow's JSON reader takes for ``frame``'s columns (None if none)."""
    try:
        types = frame.clear().to_arrow().schema.types  # the types, not the rows, converted
        return pa.schema([pa.field(name, _json_type(t))
                          for name, t in zip(frame.columns, types, strict=True)])
    except (TypeError, pa.ArrowException):  # e.g. an integer past int64 (Int128)
        return None


def _json_type(t: pa.DataType) -> pa.DataType:
    """``t`` in the types Arrow's JSON reader converts to (it takes no large or view types)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list(t) or pa.types.is_list_view(t):
        return pa.list_(_json_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _json_type(f.type)) for f in t])
    if t in (pa.int64(), pa.float64(), pa.bool_(), pa.null()):
        return t
    raise TypeError(f"no JSON reading for {t}")


def _read_type(text: pa.Buffer, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    try:
        return _read(text, schema)
    except pl.exceptions.PolarsError:
        # fields whose JSON types disagree within one type: read every field as text
        names: dict[str, None] = {}
        for line in text.to_pybytes().splitlines():
            names.update(dict.fromkeys(orjson.loads(line)))
        return _read(text, {name: pl.String() for name in names})


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
    (text in one batch, a number in another) becomes text, numbers written as
    decimals where the field held decimals anywhere (so ``2`` reads "2.0"
    whether or not its batch also had a decimal).
    """
    if len(frames) == 1:
        return frames[0]
    dtypes: dict[str, set[pl.DataType]] = {}
    for f in frames:
        for name, dtype in f.schema.items():
            if dtype != pl.Null:  # a column of nulls takes any type
                dtypes.setdefault(name, set()).add(dtype)
    # Kinds that cannot widen into each other become text here, whatever the
    # order of the batches (polars would widen some pairs and refuse others).
    decimals = {name for name, ds in dtypes.items() if any(d.is_float() for d in ds)}
    clash = [name for name, ds in dtypes.items() if len(ds) > 1 and not _widens(ds)]
    if clash:
        frames = [f.with_columns(_as_text(f, clash, decimals)) for f in frames]
    try:
        return pl.concat(frames, how="diagonal_relaxed", rechunk=False)
    except pl.exceptions.PolarsError:  # nested types that do not merge
        clash = [name for name, ds in dtypes.items() if len(ds) > 1]
        frames = [f.with_columns(_as_text(f, clash, decimals)) for f in frames]
        return pl.concat(frames, how="diagonal_relaxed", rechunk=False)


def _json_text(value: object) -> str:
    """A nested value as JSON text: keys sorted, keys whose value is null left out.

    In a struct column a key that was absent and a key that was null are the
    same null, and a batch read with a learned schema fills in every key of
    it: leaving null keys out writes ``{}`` for ``{}`` however the batches were
    cut. A struct's key order is the order its batch first saw, so the keys
    are sorted: one object, one text (the payload itself stays in ``data``).

    >>> _json_text({"x": None, "y": [{"z": None, "w": 1}]})
    '{"y":[{"w":1}]}'
    """
    return orjson.dumps(_without_nulls(value.to_list() if isinstance(value, pl.Series)
                                       else value), option=orjson.OPT_SORT_KEYS).decode()


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _widens(dtypes: set[pl.DataType]) -> bool:
    """Numbers widen to a common number; structs and lists merge their own way."""
    return (all(d.is_numeric() for d in dtypes) or all(isinstance(d, pl.Struct) for d in dtypes)
            or all(isinstance(d, pl.List) for d in dtypes))


def _as_text(frame: pl.DataFrame, names: list[str], decimals: set[str]) -> list[pl.Expr]:
    out = []
    for name in names:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if dtype.is_nested():  # a missing object stays missing, not "null"
            out.append(pl.col(name).map_elements(_json_text, return_dtype=pl.String))
        elif dtype.is_integer() and name in decimals:
            out.append(pl.col(name).cast(pl.Float64).cast(pl.String))
        else:
            out.append(pl.col(name).cast(pl.String))
    return out
