"""Hypothesis strategies for JSON Schema documents and the values they accept.

The strategies of the parts are built once (cached by what they depend on): a
strategy built inside a draw is built and validated again at every draw, which
cost more than the tests that use them.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from eventkit.schema._json_parse import Spec

INT, NUM, STR = {"type": "integer"}, {"type": "number"}, {"type": "string"}
NAMES = ["a", "b", "c"]
SCALARS = [
    STR, {"type": ["string", "null"]}, {"enum": ["x", "y"]}, {"enum": ["x", "y", "z"]},
    {"type": "string", "minLength": 1}, INT, {"type": ["integer", "null"]},
    {"type": "integer", "minimum": 0}, {"type": "integer", "maximum": 3}, NUM,
    {"type": "number", "exclusiveMinimum": 0}, {"type": "boolean"}, {},
    {"type": "string", "pattern": "^[A-Z]{3}$"},
    # no type: the keywords constrain objects (arrays) only, other values pass
    {"properties": {"a": INT}, "required": ["a"]}, {"items": INT},
]


@functools.cache
def _properties(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = st.sampled_from(SCALARS)
    if depth:
        fields = st.one_of(fields, schema_docs(depth - 1),
                           st.builds(lambda i: {"type": "array", "items": i},
                                     st.sampled_from(SCALARS)))
    return st.dictionaries(st.sampled_from(NAMES), fields, max_size=3)


@functools.cache
def schema_docs(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    return _schema_doc(depth)


@st.composite
def _schema_doc(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    props = draw(_properties(depth))
    doc: dict[str, Any] = {"type": "object", "properties": props}
    required = [n for n in props if draw(st.booleans())]
    if required:
        doc["required"] = required
    if draw(st.integers(0, 4)) == 0:
        doc["additionalProperties"] = False
    return doc


_TEXT = st.text(alphabet="xyz01", max_size=3)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from([0.5, -1.5, 2.25])
    | _TEXT,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
        st.sampled_from([*NAMES, "zz"]), inner, max_size=2),
    max_leaves=4)


@functools.cache
def _text(min_length: int) -> st.SearchStrategy[str]:
    return _TEXT.filter(lambda s: len(s) >= min_length)


@functools.cache
def _json_but(other: type) -> st.SearchStrategy[Any]:
    return _JSON.filter(lambda v: v is None or not isinstance(v, other))


@functools.cache
def valid_value(spec: Spec, undeclared: bool = True) -> st.SearchStrategy[Any]:
    """A value ``spec`` accepts (see :func:`_valid_value`), one strategy a spec."""
    return _valid_value(spec, undeclared)


@st.composite
def _valid_value(draw: st.DrawFn, spec: Spec, undeclared: bool = True) -> Any:
    """A value ``spec`` accepts (a JSON value; never an integral float). ``undeclared``:
    an open object may hold fields it does not declare, with any value (as JSON Schema
    allows); else only its own fields (what the lenient policy assumes of writers)."""
    if spec.nullable and draw(st.integers(0, 3)) == 0:
        return None
    if spec.enum is not None:
        return draw(st.sampled_from(spec.enum))
    kind = spec.kind
    if kind == "any" and spec.applies is not None and draw(st.booleans()):
        return draw(valid_value(replace(spec, kind=spec.applies, applies=None, nullable=False),
                                undeclared))
    if kind == "any":
        other = {"object": dict, "array": list}.get(spec.applies or "", type(None))
        return draw(_json_but(other))
    if kind == "string":
        if spec.pattern is not None:
            return draw(st.sampled_from(["EUR", "USD"]))
        return draw(_text(spec.min_length or 0))
    if kind in ("integer", "number"):
        lo = -5 if spec.minimum is None else int(spec.minimum[0]) + int(spec.minimum[1])
        hi = 5 if spec.maximum is None else int(spec.maximum[0]) - int(spec.maximum[1])
        whole = draw(st.integers(lo, max(lo, hi)))
        if kind == "number" and draw(st.booleans()) and whole + 0.5 <= hi:
            return whole + 0.5
        return whole
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "array":
        item = spec.items or Spec("any", nullable=True)
        return draw(st.lists(valid_value(item, undeclared), max_size=2))
    out = {}
    for name, sub in spec.properties:
        if name in spec.required or draw(st.booleans()):
            out[name] = draw(valid_value(sub, undeclared))
    other = [n for n in [*NAMES, "zz"] if n not in spec.fields]
    if undeclared and not spec.closed and other and draw(st.booleans()):
        out[draw(st.sampled_from(other))] = draw(_JSON)
    return out
