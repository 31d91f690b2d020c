"""Bulk JSON Schema validation: every violation of a group of lines, vectorised.

The result equals :func:`~eventkit.schema._json_reference.event_violations`
line for line (tests hold them to it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    pass

from eventkit.schema._json_lines import _PLAIN_KEY, Lines, _parsed, _range, _read, _rx_escape
from eventkit.schema._json_parse import Spec, _join
from eventkit.schema._json_reference import event_violations
from eventkit.schema._json_types import (
    EXTRA,
    FORMAT,
    MISSING,
    NULL,
    RANGE,
    REQUIRED,
    _bound_reason,
    _enum_reason,
    _length_reason,
    _pattern_reason,
    _probe_dtype,
    _rfc3339_ok,
)

# -- bulk validation ------------------------------------------------------------
VIOLATIONS_SCHEMA = {"row": pl.UInt32(), "path": pl.String(), "reason": pl.String()}

Path = str | pl.Series


class _Found:
    """Violations found on columns, and the lines only the per-event path can judge."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.frames: list[pl.DataFrame] = []
        self.suspects: list[pl.Series] = []

    def add(self, rows: pl.Series, path: Path, reason: str) -> None:
        if len(rows):
            n = len(rows)
            self.frames.append(pl.DataFrame({
                "row": rows,
                "path": pl.repeat(path, n, dtype=pl.String, eager=True)
                if isinstance(path, str) else path,
                "reason": pl.repeat(reason, n, dtype=pl.String, eager=True),
            }))

    def suspect(self, rows: pl.Series) -> None:
        if len(rows):
            self.suspects.append(rows)

    def key_hits(self, rows: pl.Series, name: str, *, null: bool) -> pl.Series | None:
        """Whether each line at ``rows`` may hold the key ``name`` (followed by ``null``).

        A text search: a hit may be a key of a nested object too, but a line
        without a hit surely lacks the key. None when the key could be
        written escaped, so that no text search is safe.
        """
        if not _PLAIN_KEY.match(name):
            return None
        pattern = '"' + _rx_escape(name) + r'"\s*:'
        if null:
            pattern += r"\s*null"
        return self.lines.text.gather(rows).str.contains(pattern)

    def maybe_null(self, rows: pl.Series, name: str) -> None:
        """Lines that may hold ``"name": null`` go to the per-event path."""
        if len(rows):
            hits = self.key_hits(rows, name, null=True)
            self.suspect(rows if hits is None else rows.filter(hits))


def _take(path: Path, mask: pl.Series) -> Path:
    return path if isinstance(path, str) else path.filter(mask)


def _child(path: Path, name: str) -> Path:
    if isinstance(path, str):
        return _join(path, name)
    return path + f".{name}"


def validate_lines(lines: Lines, spec: Spec) -> pl.DataFrame:
    """Violations of ``spec`` by each line: ``row`` (index into ``lines``), ``path``, ``reason``.

    Equal, row for row, to :func:`event_violations` on each decoded line.

    Examples
    --------
    >>> from eventkit.schema._json_parse import parse_schema
    >>> spec = parse_schema({"type": "object", "required": ["fare"], "properties": {
    ...     "fare": {"type": "number"}, "method": {"enum": ["card", "wallet"]}}})
    >>> lines = Lines(pl.Series([b'{"fare": 9.5, "method": "card"}', b'{"method": "cash"}',
    ...                          b'{"fare": "9.5"}']))
    >>> validate_lines(lines, spec).rows()
    [(1, 'fare', 'required field is missing or null'),
     (1, 'method', 'not one of the allowed values ("card", "wallet")'),
     (2, 'fare', 'expected number, got string')]
    """
    found = _Found(lines)
    if spec.per_event:  # the payload's own keywords have no column form: every line alone
        found.suspect(_range(0, len(lines)))
    probe = {name: _probe_dtype(sub) for name, sub in spec.properties}
    failed: list[int] = []
    closed = _has_closed(spec)
    for rows, frame in _parsed(lines, probe, spec):
        if frame is None:
            failed.extend(rows.to_list())
            continue
        _object_columns(rows, "", frame, spec, found)
        if closed:
            _closed_check(lines, rows, spec, found)
    suspects = set(failed)
    for s in found.suspects:
        suspects.update(s.to_list())
    frames = [f for f in found.frames if f.height]
    bulk = (pl.concat(frames) if frames else pl.DataFrame(schema=VIOLATIONS_SCHEMA))
    if suspects:
        order = sorted(suspects)
        bulk = bulk.filter(~pl.col("row").is_in(pl.Series(order, dtype=pl.UInt32).implode()))
        exact = [(row, path, reason) for row, payload in zip(order, lines.loads(order),
                                                              strict=True)
                 for path, reason in event_violations(payload, spec)]
        bulk = pl.concat([bulk, pl.DataFrame(exact, schema=VIOLATIONS_SCHEMA, orient="row")])
    return _in_order(bulk)


def _in_order(found: pl.DataFrame) -> pl.DataFrame:
    """Violations by row, then path and reason: the same order whichever path found them."""
    return found.sort("row", "path", "reason") if found.height else found


def _object_columns(rows: pl.Series, path: Path, frame: pl.DataFrame, spec: Spec,
                    found: _Found) -> None:
    """Check the fields of objects given as the columns of ``frame`` (all present)."""
    for name, sub in spec.properties:
        column = frame.get_column(name) if name in frame.columns else pl.Series(
            [None] * frame.height)
        where = _child(path, name)
        nulls = column.is_null()
        if nulls.any():
            null_rows = rows.filter(nulls)
            if name in spec.required:
                if not sub.nullable:
                    found.add(null_rows, _take(where, nulls), REQUIRED)
                else:  # null is fine, absent is not: which is it?
                    hits = found.key_hits(null_rows, name, null=False)
                    if hits is None:
                        found.suspect(null_rows)
                    else:
                        absent = nulls.clone().scatter(nulls.arg_true(), ~hits)
                        found.add(null_rows.filter(~hits), _take(where, absent), MISSING)
                        found.suspect(null_rows.filter(hits))
            elif not sub.nullable:
                found.maybe_null(null_rows, name)
            keep = ~nulls
            _values(rows.filter(keep), _take(where, keep), column.filter(keep), sub, found)
        else:
            _values(rows, where, column, sub, found)


def _values(rows: pl.Series, path: Path, values: pl.Series, spec: Spec, found: _Found) -> None:
    """Check non-null values (their JSON type is already proven by the strict parse)."""
    if not len(values):
        return
    if spec.per_event:  # keywords with no column form: these values are judged one by one
        found.suspect(rows)
        return
    if spec.kind == "any":
        if spec.applies is not None:  # an object or array (its JSON text): judge it alone
            opens = "{" if spec.applies == "object" else "["
            found.suspect(rows.filter(values.cast(pl.String).str.starts_with(opens)))
        return
    kind = spec.kind
    if kind == "string":
        values = values.cast(pl.String)
        # polars lets an integer past 64 bits into a categorical, as "Static(I128(...))"
        odd = values.str.starts_with("Static(")
        if odd.any():
            found.suspect(rows.filter(odd))
    checks: list[tuple[pl.Series, str]] = []
    if spec.enum is not None:
        allowed = pl.Series(list(spec.enum), dtype=values.dtype)
        checks.append((~values.is_in(allowed.implode()), _enum_reason(spec)))
    if kind == "string":
        if spec.datetime:
            valid, in_range = _rfc3339_ok(values)
            checks.append((~valid, FORMAT))
            checks.append((valid & ~in_range, RANGE))
        if spec.min_length is not None or spec.max_length is not None:
            size = values.str.len_chars()
            if spec.min_length is not None:
                checks.append((size < spec.min_length,
                               _length_reason(spec.min_length, False, "characters")))
            if spec.max_length is not None:
                checks.append((size > spec.max_length,
                               _length_reason(spec.max_length, True, "characters")))
        if spec.pattern is not None:
            checks.append((~values.str.contains(spec.pattern), _pattern_reason(spec)))
    elif kind in ("integer", "number"):
        if spec.minimum is not None:
            bound, exclusive = spec.minimum
            checks.append(((values <= bound) if exclusive else (values < bound),
                           _bound_reason(spec.minimum, False)))
        if spec.maximum is not None:
            bound, exclusive = spec.maximum
            checks.append(((values >= bound) if exclusive else (values > bound),
                           _bound_reason(spec.maximum, True)))
    elif kind == "array" and (spec.min_items is not None or spec.max_items is not None):
        size = values.list.len()
        if spec.min_items is not None:
            checks.append((size < spec.min_items, _length_reason(spec.min_items, False, "items")))
        if spec.max_items is not None:
            checks.append((size > spec.max_items, _length_reason(spec.max_items, True, "items")))
    for bad, reason in checks:
        if bad.any():
            found.add(rows.filter(bad), _take(path, bad), reason)
    if kind == "object" and spec.properties:
        _object_columns(rows, path, values.struct.unnest(), spec, found)
    elif kind == "array" and spec.items is not None:
        _items(rows, path, values, spec.items, found)


def _exploded(rows: pl.Series, path: Path, values: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame({"row": rows, "path": path if isinstance(path, pl.Series) else
                          pl.Series([path] * len(rows), dtype=pl.String), "v": values})
    frame = frame.filter(pl.col("v").list.len() > 0)
    return frame.with_columns(i=pl.int_ranges(0, pl.col("v").list.len())).explode(["v", "i"])


def _items(rows: pl.Series, path: Path, values: pl.Series, items: Spec, found: _Found) -> None:
    flat = _exploded(rows, path, values)
    if not flat.height:
        return
    where = flat.select(pl.format("{}[{}]", "path", "i")).to_series()
    element, at = flat.get_column("v"), flat.get_column("row")
    nulls = element.is_null()
    if nulls.any() and not items.nullable:
        found.add(at.filter(nulls), where.filter(nulls), NULL)
    keep = ~nulls
    _values(at.filter(keep), where.filter(keep), element.filter(keep), items, found)


def _has_closed(spec: Spec) -> bool:
    if spec.closed:
        return True
    return any(_has_closed(sub) for _, sub in spec.properties) or (
        spec.items is not None and _has_closed(spec.items))


def _closed_check(lines: Lines, rows: pl.Series, spec: Spec, found: _Found) -> None:
    """Fields a closed object does not declare, found with a second, inferring parse."""
    contiguous = len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows)
    text = (lines.ndjson(int(rows[0]), int(rows[-1]) + 1) if contiguous
            else lines.take(rows).ndjson())
    try:
        frame = _read(text, None)
    except pl.exceptions.PolarsError:
        found.suspect(rows)  # the undeclared fields disagree in type: look line by line
        return
    if frame.height != len(rows):
        found.suspect(rows)
        return
    _extras(rows, "", frame, spec, found)


def _extras(rows: pl.Series, path: Path, frame: pl.DataFrame, spec: Spec, found: _Found) -> None:
    declared = spec.fields
    for name in frame.columns:
        column = frame.get_column(name)
        sub = declared.get(name)
        if sub is None:
            if spec.closed:
                given = column.is_not_null()
                found.add(rows.filter(given), _take(_child(path, name), given), EXTRA)
                found.maybe_null(rows.filter(~given), name)
            continue
        _extras_in(rows, _child(path, name), column, sub, found)


def _extras_in(rows: pl.Series, path: Path, values: pl.Series, spec: Spec,
               found: _Found) -> None:
    if not _has_closed(spec):
        return
    keep = values.is_not_null()
    rows, path, values = rows.filter(keep), _take(path, keep), values.filter(keep)
    if spec.kind == "object":
        if not isinstance(values.dtype, pl.Struct):
            found.suspect(rows)
            return
        _extras(rows, path, values.struct.unnest(), spec, found)
    elif spec.kind == "array" and spec.items is not None:
        if not isinstance(values.dtype, pl.List):
            found.suspect(rows)
            return
        flat = _exploded(rows, path, values)
        if flat.height:
            where = flat.select(pl.format("{}[{}]", "path", "i")).to_series()
            _extras_in(flat.get_column("row"), where, flat.get_column("v"), spec.items, found)
