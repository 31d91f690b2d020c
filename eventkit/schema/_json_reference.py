"""The per-event JSON Schema validator: the reference the bulk checks must equal.

One payload (a Python value) and a :class:`~eventkit.schema._json_parse.Spec` in, a
list of ``(path, reason)`` out, with the same wording as the bulk path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    pass

from eventkit.schema._json_parse import _I64, Spec, _join, _json_equal, _py_regex, json_kind
from eventkit.schema._json_types import (
    EXTRA,
    FORMAT,
    INT64,
    MISSING,
    NOT,
    NOT_OBJECT,
    NULL,
    RANGE,
    REQUIRED,
    _bound_reason,
    _enum_reason,
    _expected,
    _length_reason,
    _pattern_reason,
    _values_reason,
    rfc3339_ns,
)


# -- the per-event reference ----------------------------------------------------
def event_violations(payload: Any, spec: Spec) -> list[tuple[str, str]]:
    """Every way one decoded payload breaks ``spec``: ``(path, reason)`` pairs, in order.

    The reference the bulk validator is checked against, and what it uses
    for the few lines a column cannot judge.

    Examples
    --------
    >>> from eventkit.schema._json_parse import parse_schema
    >>> spec = parse_schema({"type": "object", "required": ["fare"], "properties": {
    ...     "fare": {"type": "number", "minimum": 0},
    ...     "method": {"enum": ["card", "wallet"]},
    ...     "stops": {"type": "array", "items": {"type": "integer"}}}})
    >>> event_violations({"fare": -1, "method": "cash", "stops": [1, "2"]}, spec)
    [('fare', 'less than the minimum 0'),
     ('method', 'not one of the allowed values ("card", "wallet")'),
     ('stops[1]', 'expected integer, got string')]
    >>> event_violations({"method": None}, spec)
    [('fare', 'required field is missing or null'), ('method', 'null is not allowed')]
    """
    out: list[tuple[str, str]] = []
    if not isinstance(payload, dict):
        return [("", NOT_OBJECT)]
    _py_object(payload, spec, "", out)
    return out


def _py_object(obj: dict[str, Any], spec: Spec, path: str, out: list[tuple[str, str]]) -> None:
    if spec.min_properties is not None and len(obj) < spec.min_properties:
        out.append((path, _length_reason(spec.min_properties, False, "fields")))
    if spec.max_properties is not None and len(obj) > spec.max_properties:
        out.append((path, _length_reason(spec.max_properties, True, "fields")))
    for name, needs in spec.dependent_required:
        if name in obj:
            out.extend((_join(path, n), f"required when {name!r} is present") for n in needs
                       if n not in obj)
    for rx, sub in spec.pattern_properties:
        compiled = _py_regex(rx)
        for name, value in obj.items():
            if compiled.search(name):
                if value is None:
                    if not sub.nullable:
                        out.append((_join(path, name), NULL))
                    continue
                _py_value(value, sub, _join(path, name), out)
    for name, sub in spec.properties:
        where = _join(path, name)
        value = obj.get(name)
        if value is None:
            if name in spec.required:
                if not sub.nullable:
                    out.append((where, REQUIRED))
                elif name not in obj:
                    out.append((where, MISSING))
            elif name in obj and not sub.nullable:
                out.append((where, NULL))
            continue
        _py_value(value, sub, where, out)
    if spec.closed:
        declared = spec.fields
        patterns = [_py_regex(rx) for rx, _ in spec.pattern_properties]
        out.extend((_join(path, name), EXTRA) for name in obj if name not in declared
                   and not any(p.search(name) for p in patterns))


def _py_value(value: Any, spec: Spec, path: str, out: list[tuple[str, str]]) -> None:
    got = json_kind(value)
    kind = spec.kind
    if kind == "integer" and got == "number" and float(value).is_integer():
        value, got = int(value), "integer"  # JSON Schema: 5.0 is an integer (the bulk path agrees)
    if spec.negated is not None and _valid(value, spec.negated):
        out.append((path, NOT))
    if spec.values is not None and not any(_json_equal(value, v) for v in spec.values):
        out.append((path, _values_reason(spec.values)))
    if spec.branches:
        n = sum(_valid(value, b) for b in spec.branches)
        if spec.one_of and n != 1:
            out.append((path, f"matches {n} of the oneOf schemas, not exactly one"))
        elif not spec.one_of and n == 0:
            out.append((path, "matches none of the anyOf schemas"))
        return
    if kind == "any":
        if spec.applies is not None and got == spec.applies:
            _py_value(value, replace(spec, kind=spec.applies, applies=None), path, out)
        return
    if not (got == kind or (kind == "number" and got == "integer")):
        out.append((path, _expected(spec, got)))
        return
    if kind == "integer" and not _I64[0] <= value <= _I64[1]:
        out.append((path, INT64))
        return
    if spec.enum is not None and value not in spec.enum:
        out.append((path, _enum_reason(spec)))
    if kind == "string":
        if spec.datetime:
            ns = rfc3339_ns(value)
            if ns is None:
                out.append((path, FORMAT))
            elif ns is False:
                out.append((path, RANGE))
        if spec.min_length is not None and len(value) < spec.min_length:
            out.append((path, _length_reason(spec.min_length, False, "characters")))
        if spec.max_length is not None and len(value) > spec.max_length:
            out.append((path, _length_reason(spec.max_length, True, "characters")))
        if spec.pattern is not None and not _py_regex(spec.pattern).search(value):
            out.append((path, _pattern_reason(spec)))
    elif kind in ("integer", "number"):
        if spec.minimum is not None and not _above(value, spec.minimum):
            out.append((path, _bound_reason(spec.minimum, False)))
        if spec.maximum is not None and not _below(value, spec.maximum):
            out.append((path, _bound_reason(spec.maximum, True)))
        if spec.multiple_of is not None and not _multiple(value, spec.multiple_of):
            out.append((path, f"not a multiple of {orjson.dumps(spec.multiple_of).decode()}"))
    elif kind == "object":
        _py_object(value, spec, path, out)
    elif kind == "array":
        if spec.min_items is not None and len(value) < spec.min_items:
            out.append((path, _length_reason(spec.min_items, False, "items")))
        if spec.max_items is not None and len(value) > spec.max_items:
            out.append((path, _length_reason(spec.max_items, True, "items")))
        if spec.unique_items and any(_json_equal(a, b) for i, a in enumerate(value)
                                     for b in value[:i]):
            out.append((path, "items are not unique"))
        if spec.items is not None:
            for i, item in enumerate(value):
                where = f"{path}[{i}]"
                if item is None:
                    if not spec.items.nullable:
                        out.append((where, NULL))
                    continue
                _py_value(item, spec.items, where, out)


def _valid(value: Any, spec: Spec) -> bool:
    """Whether one value (None: JSON null) is valid under ``spec``."""
    if value is None:
        return spec.nullable
    out: list[tuple[str, str]] = []
    _py_value(value, spec, "", out)
    return not out


def _multiple(value: float, step: float) -> bool:
    if isinstance(value, int) and isinstance(step, int):
        return value % step == 0
    try:
        quotient = value / step
        return quotient == int(quotient)
    except (OverflowError, ValueError):
        return False


def _above(value: float, bound: tuple[float, bool]) -> bool:
    return value > bound[0] if bound[1] else value >= bound[0]


def _below(value: float, bound: tuple[float, bool]) -> bool:
    return value < bound[0] if bound[1] else value <= bound[0]
