"""JSON Schema, the subset that maps to Arrow: parsing, polars types, validation, inference.

Pure: schema documents, NDJSON lines and polars frames in, polars frames out.

The subset (draft 2020-12 keywords): ``type`` (``string``, ``integer``,
``number``, ``boolean``, ``object``, ``array``, each optionally with
``"null"``), ``properties``, ``required``, ``additionalProperties``
(``true``/``false``), ``items``, ``enum``, ``const``, ``format: date-time``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``,
``minLength``/``maxLength``/``pattern`` and ``minItems``/``maxItems`` map to
one Arrow column each. Composition keywords get the Arrow shape they have:

* ``$ref`` to ``#/$defs/...`` (or ``#/definitions/...``, any pointer into the
  same document) is resolved, so a shared definition is a struct wherever it
  is used; a recursive or remote reference is refused.
* ``allOf`` is merged into one schema (types intersected, properties and
  required joined, the tighter bound and the common enum values kept);
  branches that set one keyword two ways eventkit cannot combine are refused.
* ``anyOf``/``oneOf`` of a type and ``null`` is that type, nullable (the
  common optional field); of consts or enums of one type, an enum; of
  branches of one scalar type (or integer and number), that type's column;
  of anything else, a JSON text column (like ``{}``). The branches are
  checked one value at a time (``oneOf``: exactly one must match).
* ``type`` as a list of several types (with nothing type-specific beside it)
  is the ``anyOf`` of those types.
* ``not``, ``enum``/``const`` with objects, arrays or mixed types (JSON
  equality: ``1`` equals ``1.0``, never ``true``), ``patternProperties``,
  ``dependentRequired``, ``minProperties``/``maxProperties``,
  ``uniqueItems`` and ``multipleOf`` change no column; the values they
  constrain are checked one at a time (slower than the column checks: a
  field with such keywords sends the lines that hold it to the per-event
  path).

Annotations (``title``, ``description``, ``default``, ``examples``, ``$id``,
``$schema``, ``$comment``, other formats, ``x-`` extensions) are kept in the
document and ignored. Anything else (``if``/``then``/``else``,
``dependentSchemas``, ``prefixItems``, ``contains``, ``propertyNames``,
``unevaluated*``, ``additionalProperties`` as a schema, ``$dynamicRef``...)
is refused when a schema is parsed, rather than silently not checked.

Validation runs in bulk: each group of lines (one type at one version) is
parsed once by polars with strict "probe" types (a JSON string only into a
string column, an integer only into an integer column, an object only into a
struct), so a successful parse proves every value's JSON type; required
fields, enums, formats and bounds are then vectorised checks on the columns.
What a column cannot tell apart (a field absent or explicitly ``null``, a
line that did not parse) goes to :func:`event_violations`, the per-event
reference, for those lines only. Both give the same reasons, so the bulk
result equals the per-event result line for line.

Decoding (:func:`decode_lines`) parses the same way with the schema's own
polars types (:func:`decode_dtype`, the one place JSON Schema meets polars),
date-times as text parsed after, and falls back to one event at a time
(:func:`coerce_payloads`) only for the ranges of lines that do not fit: a
value of the wrong type becomes null there, and the check says why.

Where this subset is stricter than JSON Schema, it is because Arrow is: an
``integer`` must be written without a fraction (``5``, not ``5.0``) and fit
64 bits, and ``format: date-time`` is asserted (RFC 3339: ASCII digits, ``T``
and ``Z`` in either case, a leap second only at 23:59:60 UTC, decoded as
23:59:59.999999999), not only annotated; a valid date-time outside what a
nanosecond timestamp holds (1677-09-21 to 2262-04-11) is refused with its
own reason, so a value that passes never decodes to null or to another
instant. A ``pattern`` runs as polars' (Rust) regular expression in bulk and
Python's per event, with ``$`` meaning the end of the text on both (as in
ECMA-262; Python's own ``$`` also matches before a final newline): keep to
the syntax both share. Object keywords (``properties``, ``required``,
``additionalProperties``) or array keywords (``items``, ``minItems``,
``maxItems``) on a field without ``type`` constrain objects (arrays) only;
any other JSON value passes, and the column holds the value's JSON text.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl
import pyarrow as pa

from eventkit.exceptions import ConfigurationError

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

__all__ = [
    "Lines",
    "Spec",
    "arrow_schema",
    "coerce_payloads",
    "conform",
    "decode_dtype",
    "decode_lines",
    "event_violations",
    "infer_schema",
    "parse_schema",
    "validate_lines",
]

KINDS = ("string", "integer", "number", "boolean", "object", "array")
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_I64 = (-(2**63), 2**63 - 1)
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding",
})
_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
    "maxLength", "pattern", "minItems", "maxItems",
    # resolved or merged while parsing
    "$ref", "$defs", "definitions", "allOf",
    # checked, with no Arrow shape of their own (a union of shapes is a JSON text column)
    "anyOf", "oneOf", "not", "patternProperties", "dependentRequired", "minProperties",
    "maxProperties", "uniqueItems", "multipleOf",
}) | _ANNOTATIONS
_SUPPORTED = ("type, properties, required, additionalProperties (true/false), items, enum, "
              "const, format: date-time, minimum/maximum/exclusiveMinimum/exclusiveMaximum, "
              "minLength/maxLength/pattern, minItems/maxItems, $ref to $defs/definitions in "
              "the same document, allOf, anyOf, oneOf, not, patternProperties, "
              "dependentRequired, minProperties/maxProperties, uniqueItems, multipleOf")


@dataclass(frozen=True, slots=True)
class Spec:
    """One node of a parsed schema: what a value at this place may be."""

    kind: str                                   # one of KINDS, or "any"
    nullable: bool = False
    enum: tuple[Any, ...] | None = None         # allowed non-null values
    datetime: bool = False                      # string with format date-time
    properties: tuple[tuple[str, Spec], ...] = ()
    required: frozenset[str] = frozenset()
    closed: bool = False                        # additionalProperties: false
    items: Spec | None = None
    minimum: tuple[float, bool] | None = None   # (bound, exclusive)
    maximum: tuple[float, bool] | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    # kind "any" with object (or array) keywords but no type: they constrain a value
    # of that kind only, any other JSON value passes (JSON Schema's rule)
    applies: str | None = None
    # checked one value at a time (no vectorised form): see _event_keywords
    branches: tuple[Spec, ...] = ()             # anyOf / oneOf
    one_of: bool = False
    negated: Spec | None = None                 # not
    values: tuple[Any, ...] | None = None       # enum / const with objects, arrays or mixed types
    pattern_properties: tuple[tuple[str, Spec], ...] = ()
    dependent_required: tuple[tuple[str, tuple[str, ...]], ...] = ()
    min_properties: int | None = None
    max_properties: int | None = None
    unique_items: bool = False
    multiple_of: float | None = None

    @property
    def per_event(self) -> bool:
        """Whether a value here is judged one at a time (keywords with no column form)."""
        return bool(self.branches or self.negated is not None or self.values is not None
                    or self.pattern_properties or self.dependent_required
                    or self.min_properties is not None or self.max_properties is not None
                    or self.unique_items or self.multiple_of is not None)

    @property
    def fields(self) -> dict[str, Spec]:
        return dict(self.properties)

    def describe(self) -> str:
        """The type in words: ``integer``, ``string (date-time)``, ``number or null``."""
        text = "any JSON value" if self.kind == "any" else self.kind
        if self.datetime:
            text += " (date-time)"
        if self.nullable and self.kind != "any":
            text += " or null"
        return text


# -- parsing -------------------------------------------------------------------
def parse_schema(doc: Any, *, what: str = "schema") -> Spec:
    """A JSON Schema document (the Arrow subset) as a :class:`Spec`, or a clear error.

    The top level describes a payload: an object with properties.

    Examples
    --------
    >>> spec = parse_schema({"type": "object", "required": ["fare"],
    ...                      "properties": {"fare": {"type": "number", "minimum": 0},
    ...                                     "note": {"type": ["string", "null"]}}})
    >>> spec.fields["fare"].describe(), spec.fields["note"].describe(), sorted(spec.required)
    ('number', 'string or null', ['fare'])
    >>> parse_schema({"type": "object", "properties": {"a": {"if": {}}}}, what="x v1")
    Traceback (most recent call last):
    ...
    eventkit.exceptions.ConfigurationError: x v1: keyword 'if' at 'a' is not supported: ...
    """
    if not isinstance(doc, Mapping):
        raise ConfigurationError(f"{what}: a schema is a JSON object, got {type(doc).__name__}")
    spec = _parse(_resolve(doc, doc, "", what, ()), "", what, top=True)
    if spec.kind != "object" or spec.nullable:
        raise ConfigurationError(
            f"{what}: the top level of an event schema must be {{\"type\": \"object\", "
            f"\"properties\": {{...}}}} (a payload is a JSON object), got {spec.describe()}"
        )
    return spec


def _resolve(doc: Any, root: Mapping[str, Any], path: str, what: str,
             refs: tuple[str, ...]) -> Any:
    """``doc`` with every ``$ref`` replaced by its target in ``root`` and every ``allOf``
    merged into one schema (so that the result has one Arrow shape)."""
    if isinstance(doc, list):
        return [_resolve(d, root, path, what, refs) for d in doc]
    if not isinstance(doc, Mapping):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("$defs", "definitions", "const", "enum", "default", "examples"):
            out[key] = value  # definitions are reached through $ref; values are data
        elif key in ("properties", "patternProperties"):
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"{what}: {key} at {_where(path)} must be an object")
            out[key] = {name: _resolve(sub, root, _join(path, name), what, refs)
                        for name, sub in value.items()}
        else:
            out[key] = _resolve(value, root, path, what, refs)
    if "$ref" in out:
        ref = out.pop("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ConfigurationError(
                f"{what}: $ref {ref!r} at {_where(path)} is not supported: only references "
                "inside the same document ('#/$defs/name') are resolved")
        if ref in refs:
            raise ConfigurationError(
                f"{what}: $ref {ref!r} at {_where(path)} refers to itself: recursive schemas "
                "are not supported (an Arrow column has a fixed depth)")
        target = _pointer(root, ref, path, what)
        resolved = _resolve(target, root, path, what, (*refs, ref))
        out = _merge([resolved, out], path, what) if out else resolved
    if "allOf" in out:
        branches = out.pop("allOf")
        if not isinstance(branches, list) or not branches:
            raise ConfigurationError(f"{what}: allOf at {_where(path)} must be a non-empty list")
        out = _merge([*branches, out], path, what)
    return out


def _pointer(root: Mapping[str, Any], ref: str, path: str, what: str) -> Any:
    node: Any = root
    for token in ref[1:].split("/")[1:] if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise ConfigurationError(f"{what}: $ref {ref!r} at {_where(path)} points nowhere "
                                     "in this document")
    return node


_LOWER = {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}
_UPPER = {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}


def _merge(docs: list[Any], path: str, what: str) -> Any:
    """One schema accepting exactly what every one of ``docs`` accepts (allOf), or a clear
    refusal where no single schema of the subset says it."""
    if any(d is False for d in docs):
        raise ConfigurationError(f"{what}: allOf at {_where(path)} holds false: nothing valid")
    docs = [d for d in docs if d is not True and d != {}]
    if not docs:
        return {}
    out: dict[str, Any] = {}
    for doc in docs:
        if not isinstance(doc, Mapping):
            raise ConfigurationError(f"{what}: allOf at {_where(path)} holds {doc!r}, not a "
                                     "schema")
        for key, value in doc.items():
            if key not in out:
                out[key] = value
                continue
            have = out[key]
            if key == "type":
                a = {have} if isinstance(have, str) else set(have)
                b = {value} if isinstance(value, str) else set(value)
                both = a & b | ({"integer"} if ("number" in a and "integer" in b) or (
                    "integer" in a and "number" in b) else set())
                if not both:
                    raise ConfigurationError(f"{what}: allOf at {_where(path)} asks for types "
                                             f"{sorted(a)} and {sorted(b)}: nothing is both")
                out[key] = sorted(both) if len(both) > 1 else both.pop()
            elif key == "properties":
                merged = dict(have)
                for name, sub in value.items():
                    merged[name] = _merge([merged[name], sub], _join(path, name), what) if (
                        name in merged) else sub
                out[key] = merged
            elif key in ("required",):
                out[key] = list(dict.fromkeys([*have, *value]))
            elif key in _LOWER:
                out[key] = max(have, value)
            elif key in _UPPER:
                out[key] = min(have, value)
            elif key == "items":
                out[key] = _merge([have, value], f"{path}[]", what)
            elif key in ("enum", "const"):
                pass  # intersected below
            elif key in ("anyOf", "oneOf"):
                raise ConfigurationError(
                    f"{what}: allOf at {_where(path)} holds two {key}: not supported")
            elif have != value:
                raise ConfigurationError(
                    f"{what}: allOf at {_where(path)} sets {key} to {have!r} and {value!r}:"
                    " eventkit merges only keywords it can combine into one schema")
    allowed = [list(d["enum"]) if "enum" in d else [d["const"]] for d in docs
               for k in ("enum", "const") if k in d]
    if len(allowed) > 1:
        common = [v for v in allowed[0] if all(any(_json_equal(v, w) for w in other)
                                               for other in allowed[1:])]
        if not common:
            raise ConfigurationError(f"{what}: allOf at {_where(path)} allows no value: its "
                                     "enums (consts) have none in common")
        out.pop("const", None)
        out["enum"] = common
    closed = [d for d in docs if isinstance(d, Mapping) and d.get("additionalProperties") is False]
    declared = set(out.get("properties", {}))
    for doc in closed:
        if declared - set(doc.get("properties", {})):
            raise ConfigurationError(
                f"{what}: allOf at {_where(path)} has a branch with additionalProperties: "
                "false that does not declare every field of the others: no object fits both")
    return out


def _json_equal(a: Any, b: Any) -> bool:
    """JSON Schema equality: numbers by value (1 == 1.0), booleans only with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _where(path: str) -> str:
    return repr(path) if path else "the top level"


def _parse(doc: Any, path: str, what: str, *, top: bool = False) -> Spec:
    if doc is True or doc == {}:
        return Spec("any", nullable=True)
    if not isinstance(doc, Mapping):
        raise ConfigurationError(
            f"{what}: the schema at {_where(path)} must be an object (or true), got {doc!r}")
    for key in doc:
        if key not in _KEYWORDS and not key.startswith("x-"):
            raise ConfigurationError(
                f"{what}: keyword {key!r} at {_where(path)} is not supported: eventkit checks "
                f"the JSON Schema keywords that map to Arrow ({_SUPPORTED})"
            )
    if "not" in doc:
        rest = {k: v for k, v in doc.items() if k != "not"}
        base = _parse(rest, path, what, top=top)
        negated = _parse(doc["not"], path, what)
        return replace(base, negated=negated, nullable=base.nullable and not negated.nullable)
    if "anyOf" in doc or "oneOf" in doc:
        return _union(doc, path, what)
    raw = doc["enum"] if "enum" in doc else [doc["const"]] if "const" in doc else None
    if isinstance(raw, list) and raw and _mixed(raw):
        rest = {k: v for k, v in doc.items() if k not in ("enum", "const")}
        base = _parse(rest, path, what, top=top)
        return replace(base, values=tuple(raw),
                       nullable=base.nullable and any(v is None for v in raw))
    kinds = doc.get("type")
    names = [kinds] if isinstance(kinds, str) else list(kinds) if kinds is not None else []
    for name in names:
        if name not in (*KINDS, "null"):
            raise ConfigurationError(f"{what}: type {name!r} at {_where(path)} is not a JSON "
                                     f"Schema type ({', '.join(KINDS)} or null)")
    nullable = "null" in names
    real = [n for n in names if n != "null"]
    enum = _enum(doc, path, what)
    if len(real) > 1 and all(k == "type" or k in _ANNOTATIONS for k in doc):
        return _union({"anyOf": [{"type": t} for t in names]}, path, what)
    if len(real) > 1:
        raise ConfigurationError(
            f"{what}: {_where(path)} has types {real} and keywords for some of them: write "
            "it as anyOf, one branch per type (a JSON text column), or give it one type")
    if real:
        kind = real[0]
    elif kinds is not None:  # {"type": "null"}
        raise ConfigurationError(f"{what}: {_where(path)} can only be null: leave it out, or "
                                 "give it a type")
    elif enum is not None:
        kind, nullable = _enum_kind(enum, path, what), None in enum
    elif any(k in doc for k in _OBJECT_KEYWORDS):
        kind = "object"
        if not top:  # no type: the keywords apply to objects, other values pass
            return replace(_parse({**doc, "type": "object"}, path, what), kind="any",
                           nullable=True, applies="object")
    elif any(k in doc for k in _ARRAY_KEYWORDS):
        kind = "array"
        if not top:
            return replace(_parse({**doc, "type": "array"}, path, what), kind="any",
                           nullable=True, applies="array")
    else:
        kind = "any"
    if enum is not None:
        nullable = nullable and None in enum  # both type and enum must allow null
        values = tuple(v for v in enum if v is not None)
        for v in values:
            if not _is_kind(v, kind):
                raise ConfigurationError(
                    f"{what}: enum value {v!r} at {_where(path)} is not of type {kind}")
        enum = tuple(float(v) if kind == "number" else v for v in values)
    extra: dict[str, Any] = {}
    fmt = doc.get("format")
    if fmt == "date-time":
        if kind != "string":
            raise ConfigurationError(f"{what}: format date-time at {_where(path)} needs "
                                     "type string")
        extra["datetime"] = True
    if kind in ("integer", "number"):
        extra |= _bounds(doc, path, what)
        if "multipleOf" in doc:
            step = doc["multipleOf"]
            if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
                raise ConfigurationError(f"{what}: multipleOf at {_where(path)} must be a "
                                         "number above 0")
            extra["multiple_of"] = step
    elif kind == "string":
        extra |= _lengths(doc, path, what, "minLength", "maxLength", "min_length", "max_length")
        if "pattern" in doc:
            extra["pattern"] = _pattern(doc["pattern"], path, what)
    elif kind == "array":
        extra |= _lengths(doc, path, what, "minItems", "maxItems", "min_items", "max_items")
        if "items" in doc:
            extra["items"] = _parse(doc["items"], f"{path}[]", what)
        if doc.get("uniqueItems") not in (None, False, True):
            raise ConfigurationError(f"{what}: uniqueItems at {_where(path)} must be true or "
                                     "false")
        extra["unique_items"] = doc.get("uniqueItems") is True
    elif kind == "object":
        props = doc.get("properties", {})
        if not isinstance(props, Mapping):
            raise ConfigurationError(f"{what}: properties at {_where(path)} must be an object")
        required = doc.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ConfigurationError(f"{what}: required at {_where(path)} must be a list of "
                                     "field names")
        missing = [r for r in required if r not in props]
        if missing:
            raise ConfigurationError(
                f"{what}: required field {missing[0]!r} at {_where(path)} is not in properties: "
                "declare its type there")
        additional = doc.get("additionalProperties", True)
        if additional not in (True, False) and additional != {}:
            raise ConfigurationError(
                f"{what}: additionalProperties at {_where(path)} must be true or false")
        extra["properties"] = tuple(
            (name, _parse(sub, f"{path}.{name}" if path else name, what))
            for name, sub in props.items())
        extra["required"] = frozenset(required)
        extra["closed"] = additional is False
        patterns = doc.get("patternProperties", {})
        if not isinstance(patterns, Mapping):
            raise ConfigurationError(f"{what}: patternProperties at {_where(path)} must be an "
                                     "object")
        extra["pattern_properties"] = tuple(
            (_pattern(rx, path, what), _parse(sub, _join(path, f"/{rx}/"), what))
            for rx, sub in patterns.items())
        depends = doc.get("dependentRequired", {})
        if not isinstance(depends, Mapping) or not all(
                isinstance(v, list) and all(isinstance(n, str) for n in v)
                for v in depends.values()):
            raise ConfigurationError(f"{what}: dependentRequired at {_where(path)} must map "
                                     "field names to lists of field names")
        extra["dependent_required"] = tuple((k, tuple(v)) for k, v in depends.items())
        extra |= _lengths(doc, path, what, "minProperties", "maxProperties", "min_properties",
                          "max_properties")
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                "maxLength", "pattern", "minItems", "maxItems", "items", "properties",
                "multipleOf", "uniqueItems", "patternProperties", "dependentRequired",
                "minProperties", "maxProperties"):
        if key in doc and not _applies(key, kind):
            raise ConfigurationError(f"{what}: {key} at {_where(path)} does not apply to type "
                                     f"{kind}")
    return Spec(kind, nullable=nullable or kind == "any", enum=enum, **extra)


def _applies(key: str, kind: str) -> bool:
    return {
        "minimum": ("integer", "number"), "maximum": ("integer", "number"),
        "exclusiveMinimum": ("integer", "number"), "exclusiveMaximum": ("integer", "number"),
        "minLength": ("string",), "maxLength": ("string",), "pattern": ("string",),
        "minItems": ("array",), "maxItems": ("array",), "items": ("array",),
        "properties": ("object",), "multipleOf": ("integer", "number"),
        "uniqueItems": ("array",), "patternProperties": ("object",),
        "dependentRequired": ("object",), "minProperties": ("object",),
        "maxProperties": ("object",),
    }[key].__contains__(kind)


_OBJECT_KEYWORDS = ("properties", "additionalProperties", "required", "patternProperties",
                    "dependentRequired", "minProperties", "maxProperties")
_ARRAY_KEYWORDS = ("items", "minItems", "maxItems", "uniqueItems")
_NULL_ONLY = ({"type": "null"}, {"const": None}, {"enum": [None]})


def _mixed(values: list[Any]) -> bool:
    """An enum no single Arrow type holds: objects, arrays, or scalars of several kinds."""
    if any(isinstance(v, dict | list) for v in values):
        return True
    kinds = {_kind_of(v) for v in values if v is not None}
    return len(kinds) > 1 and kinds != {"integer", "number"}


def _union(doc: Mapping[str, Any], path: str, what: str) -> Spec:
    """anyOf / oneOf: a nullable type, an enum, one scalar type, or else a JSON text column;
    the branches are checked one value at a time."""
    if "anyOf" in doc and "oneOf" in doc:
        raise ConfigurationError(f"{what}: {_where(path)} has both anyOf and oneOf: put one "
                                 "inside an allOf branch of its own")
    key = "oneOf" if "oneOf" in doc else "anyOf"
    docs = doc[key]
    if not isinstance(docs, list) or not docs:
        raise ConfigurationError(f"{what}: {key} at {_where(path)} must be a non-empty list")
    rest = {k: v for k, v in doc.items() if k != key}
    nulls = sum(1 for d in docs if d in _NULL_ONLY)
    branches = tuple(_parse(_merge([rest, d], path, what) if rest else d, path, what)
                     for d in docs if d not in _NULL_ONLY)
    one = key == "oneOf"
    takes_null = nulls + sum(b.nullable for b in branches)
    nullable = takes_null == 1 if one else takes_null > 0
    if not branches:
        raise ConfigurationError(f"{what}: {_where(path)} can only be null: leave it out, or "
                                 "give it a type")
    if len(branches) == 1:  # X or null: a nullable X, the usual optional field
        return replace(branches[0], nullable=nullable)
    kinds = {b.kind for b in branches}
    plain = all(b.enum is not None and not b.per_event and b == Spec(
        b.kind, nullable=b.nullable, enum=b.enum) for b in branches)
    if plain and len(kinds) == 1:  # consts or enums of one type: one enum
        counts: list[Any] = []
        for b in branches:
            counts.extend(b.enum or ())
        union = tuple(v for i, v in enumerate(counts) if not any(
            _json_equal(v, w) for w in counts[:i]))
        if one:
            union = tuple(v for v in union if sum(_json_equal(v, w) for w in counts) == 1)
        return Spec(kinds.pop(), nullable=nullable, enum=union)
    if kinds <= {"integer", "number"}:
        kind = "number" if "number" in kinds else "integer"
    elif len(kinds) == 1 and kinds <= {"string", "boolean"}:
        kind = kinds.pop()
    else:
        kind = "any"
    return Spec(kind, nullable=nullable, branches=branches, one_of=one)


def _enum(doc: Mapping[str, Any], path: str, what: str) -> tuple[Any, ...] | None:
    if "const" in doc:
        values: Any = [doc["const"]]
    elif "enum" in doc:
        values = doc["enum"]
        if not isinstance(values, list) or not values:
            raise ConfigurationError(f"{what}: enum at {_where(path)} must be a non-empty list")
    else:
        return None
    for v in values:
        if isinstance(v, dict | list):
            raise ConfigurationError(f"{what}: enum at {_where(path)} may only hold strings, "
                                     "numbers, booleans and null")
    unique: list[Any] = []
    for v in values:  # not a set: 1 == True in Python, but not in JSON
        if not any(_kind_of(v) == _kind_of(u) and v == u for u in unique):
            unique.append(v)
    return tuple(unique)


def _enum_kind(values: tuple[Any, ...], path: str, what: str) -> str:
    kinds = {_kind_of(v) for v in values if v is not None}
    if kinds == {"integer", "number"}:
        return "number"
    if len(kinds) != 1:
        raise ConfigurationError(f"{what}: enum at {_where(path)} mixes types {sorted(kinds)}: "
                                 "give it one type")
    return kinds.pop()


def _bounds(doc: Mapping[str, Any], path: str, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, exclusive, slot in (("minimum", False, "minimum"), ("exclusiveMinimum", True,
                                 "minimum"), ("maximum", False, "maximum"),
                                 ("exclusiveMaximum", True, "maximum")):
        if key not in doc:
            continue
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{what}: {key} at {_where(path)} must be a number")
        bound = (value, exclusive)
        if slot in out:  # both given: keep the tighter
            old = out[slot]
            tighter = _tighter(bound, old, upper=slot == "maximum")
            bound = bound if tighter else old
        out[slot] = bound
    return out


def _tighter(a: tuple[float, bool], b: tuple[float, bool], *, upper: bool) -> bool:
    if a[0] != b[0]:
        return (a[0] < b[0]) if upper else (a[0] > b[0])
    return a[1] and not b[1]


def _lengths(doc: Mapping[str, Any], path: str, what: str, lo: str, hi: str, slot_lo: str,
             slot_hi: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, slot in ((lo, slot_lo), (hi, slot_hi)):
        if key in doc:
            value = doc[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"{what}: {key} at {_where(path)} must be a "
                                         "non-negative integer")
            out[slot] = value
    return out


def _pattern(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{what}: pattern at {_where(path)} must be a string")
    try:
        _py_regex(value)
        pl.Series([""]).str.contains(value)
    except (re.error, pl.exceptions.PolarsError) as exc:
        raise ConfigurationError(
            f"{what}: pattern {value!r} at {_where(path)} is not a regular expression both "
            f"Python and polars accept ({exc})") from None
    return value


def _kind_of(value: Any) -> str:
    """The JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_kind(value: Any, kind: str) -> bool:
    got = _kind_of(value)
    if kind == "integer" and got == "number" and float(value).is_integer():
        return True
    return got == kind or (kind == "number" and got == "integer") or kind == "any"


# -- Arrow types: the one place JSON Schema meets polars ------------------------
TIME = pl.Datetime("ns", "UTC")
_OBJECT_PROBE = "__eventkit_object__"


def decode_dtype(spec: Spec) -> pl.DataType:
    """The polars type a value of ``spec`` is decoded into.

    Examples
    --------
    >>> decode_dtype(parse_schema({"type": "object", "properties": {
    ...     "at": {"type": "string", "format": "date-time"},
    ...     "stops": {"type": "array", "items": {"type": "integer"}}}}))
    Struct({'at': Datetime(time_unit='ns', time_zone='UTC'), 'stops': List(Int64)})
    """
    if spec.kind == "string":
        if spec.datetime:
            return TIME
        if spec.enum:  # a closed set of texts: a dictionary (categorical) column
            return pl.Enum(sorted(set(spec.enum)))
        return pl.String()
    if spec.kind == "integer":
        return pl.Int64()
    if spec.kind == "number":
        return pl.Float64()
    if spec.kind == "boolean":
        return pl.Boolean()
    if spec.kind == "object" and spec.properties:
        return pl.Struct({name: decode_dtype(sub) for name, sub in spec.properties})
    if spec.kind == "array":
        return pl.List(decode_dtype(spec.items) if spec.items else pl.String())
    return pl.String()  # any value, or an object without declared fields: its JSON text


def arrow_schema(spec: Spec) -> dict[str, pl.DataType]:
    """Column name -> polars type for the fields of a payload schema."""
    return {name: decode_dtype(sub) for name, sub in spec.properties}


def _probe_dtype(spec: Spec) -> pl.DataType:
    """A type polars reads only values of the right JSON type into (strict parse)."""
    if spec.kind == "string":
        return pl.Categorical()  # a JSON string, nothing else
    if spec.kind == "object":
        if spec.properties:
            return pl.Struct({name: _probe_dtype(sub) for name, sub in spec.properties})
        return pl.Struct({_OBJECT_PROBE: pl.Null()})  # any object, nothing else
    if spec.kind == "array":
        return pl.List(_probe_dtype(spec.items) if spec.items else pl.String())
    return decode_dtype(spec)


# -- reasons: one wording for the bulk and the per-event paths -------------------
REQUIRED = "required field is missing or null"
MISSING = "required field is missing"
NULL = "null is not allowed"
FORMAT = "not an RFC 3339 date-time"
EXTRA = "field not allowed (additionalProperties: false)"
NOT_OBJECT = "payload is not a JSON object"
NOT = "matches the schema under not"
INT64 = "integer out of the 64-bit range"


def _expected(spec: Spec, got: str) -> str:
    return f"expected {spec.describe()}, got {got}"


def _enum_reason(spec: Spec) -> str:
    shown = ", ".join(orjson.dumps(v).decode() for v in spec.enum or ())
    return f"not one of the allowed values ({shown})"


def _bound_reason(bound: tuple[float, bool], upper: bool) -> str:
    value, exclusive = bound
    shown = orjson.dumps(value).decode()
    if upper:
        return f"not less than {shown}" if exclusive else f"greater than the maximum {shown}"
    return f"not greater than {shown}" if exclusive else f"less than the minimum {shown}"


def _length_reason(n: int, upper: bool, unit: str) -> str:
    return f"longer than {n} {unit}" if upper else f"shorter than {n} {unit}"


def _values_reason(values: tuple[Any, ...]) -> str:
    shown = ", ".join(orjson.dumps(v).decode() for v in values)
    return f"not one of the allowed values ({shown})"


def _pattern_reason(spec: Spec) -> str:
    return f"does not match the pattern {spec.pattern}"


# RFC 3339 ``date-time``: one reading on both paths and in decoding, in integer
# arithmetic (ASCII digits only, ``T``/``Z`` in either case, any number of
# fraction digits, cut past the nanosecond). A leap second is allowed only at
# 23:59:60 UTC and decodes to 23:59:59.999999999 (the last instant of that
# minute: order and date kept). A valid time outside what a nanosecond
# timestamp holds (1677-09-21 to 2262-04-11) is refused with its own reason, so
# a value that passes never decodes to null or to another instant.
_RFC3339 = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
            r"(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$")
_RFC3339_RE = re.compile(_RFC3339, re.ASCII)
RANGE = "date-time outside the range of nanosecond timestamps (1677-09-21 to 2262-04-11)"
_NS_RANGE = (-(2**63), 2**63 - 1)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, 0 included)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def rfc3339_ns(text: str) -> int | bool | None:
    """Nanoseconds since the epoch of an RFC 3339 date-time; None if it is not one,
    False if it is one outside the nanosecond range.

    >>> rfc3339_ns("1998-12-31T23:59:60Z") - rfc3339_ns("1998-12-31T23:59:59Z")
    999999999
    >>> rfc3339_ns("1998-12-31T23:58:60Z"), rfc3339_ns("2026-11-01T1\u09e8:00:00Z")
    (None, None)
    """
    m = _RFC3339_RE.match(text)
    if m is None or text.endswith("\n"):
        return None
    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    frac, sign, oh, om = m.group(7), m.group(8), m.group(9), m.group(10)
    offset = 0 if sign is None else (1 if sign == "+" else -1) * (int(oh) * 60 + int(om))
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month) and hh <= 23
            and mm <= 59 and ss <= 60 and (sign is None or (int(oh) <= 23 and int(om) <= 59))):
        return None
    leap = ss == 60
    if leap and (hh * 60 + mm - offset) % 1_440 != 1_439:
        return None
    seconds = _days(year, month, day) * 86_400 + hh * 3_600 + mm * 60 + min(ss, 59) - offset * 60
    ns = seconds * 10**9 + (999_999_999 if leap else int((frac or "")[:9].ljust(9, "0") or 0))
    return ns if _NS_RANGE[0] <= ns <= _NS_RANGE[1] else False


def _is_rfc3339(text: str) -> bool:
    return rfc3339_ns(text) is not None


def _rfc3339_expr(expr: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Vectorised :func:`rfc3339_ns`: ``(ns, valid)``, ``ns`` an Int128 (null where not a
    date-time), ``valid`` true where the text is an RFC 3339 date-time (in range or not).

    One regular expression without captures proves the form; the fields are then at
    fixed places (the date and time), or after the fraction (the zone)."""
    form = expr.str.contains(_RFC3339)

    def number(at: int, length: int) -> pl.Expr:
        return expr.str.slice(at, length).cast(pl.Int64, strict=False)

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hh, mm, ss = number(11, 2), number(14, 2), number(17, 2)
    rest = expr.str.slice(19)
    zone = rest.str.strip_chars_start(".0123456789")
    frac = rest.str.slice(1, rest.str.len_bytes() - zone.str.len_bytes() - 1)
    signed = zone.str.slice(0, 1)
    oh = zone.str.slice(1, 2).cast(pl.Int64, strict=False)
    om = zone.str.slice(4, 2).cast(pl.Int64, strict=False)
    offset = (pl.when(signed == "+").then(oh * 60 + om).when(signed == "-")
              .then(-(oh * 60 + om)).otherwise(0))
    leap_year = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = (pl.when(month == 2).then(pl.when(leap_year).then(29).otherwise(28))
           .when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31))
    leap = ss == 60
    valid = (form & month.is_between(1, 12) & day.is_between(1, dim) & (hh <= 23) & (mm <= 59)
             & (ss <= 60) & (~signed.is_in(["+", "-"]) | ((oh <= 23) & (om <= 59)))
             & (~leap | ((hh * 60 + mm - offset) % 1_440 == 1_439)))
    y = year - (month <= 2).cast(pl.Int64)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + pl.when(month > 2).then(-3).otherwise(9)) + 2) // 5 + day - 1
    days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    seconds = (days * 86_400 + hh * 3_600 + mm * 60 + pl.min_horizontal(ss, 59)
               - offset * 60).cast(pl.Int128)
    nanos = frac.str.slice(0, 9).str.pad_end(9, "0").cast(pl.Int128, strict=False).fill_null(0)
    ns = seconds * 10**9 + pl.when(leap).then(pl.lit(999_999_999, pl.Int128)).otherwise(nanos)
    valid = valid.fill_null(False)
    return pl.when(valid).then(ns), valid


# The RFC 3339 form with the ranges of month, day, hour, minute, second and zone in
# it: what is left to check is the calendar (30 February), the leap second's minute
# and the year's range, the last two on the rare values that need them.
_RFC3339_RANGES = (r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
                   r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
                   r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$")


def _rfc3339_ok(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Per value: is it an RFC 3339 date-time, and is it one in the nanosecond range;
    the same answers as :func:`rfc3339_ns`, in four vectorised steps."""
    t = pl.col("t")
    year = t.str.slice(0, 4).cast(pl.Int64, strict=False)
    form = t.str.contains(_RFC3339_RANGES)
    common = (form & year.is_between(1678, 2261) & (t.str.slice(17, 2) != "60")
              & t.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_not_null())
    out = pl.DataFrame({"t": text}).select(form.alias("form"), common.alias("common"))
    form_s, valid = out.get_column("form").fill_null(False), out.get_column("common")
    valid = valid.fill_null(False)
    in_range = valid.clone()  # scatter writes in place: the two must not be one series
    rare = (form_s & ~valid).arg_true()  # another year, a leap second, 30 February
    if len(rare):
        read = [rfc3339_ns(v) for v in text.gather(rare).to_list()]
        valid = valid.scatter(rare, pl.Series([r is not None for r in read], dtype=pl.Boolean))
        in_range = in_range.scatter(rare, pl.Series(
            [r is not None and r is not False for r in read], dtype=pl.Boolean))
    return valid, in_range


def _rfc3339_time(expr: pl.Expr) -> pl.Expr:
    """Decoded RFC 3339 text: Datetime(ns, UTC), null where it is not a date-time in range."""
    ns, _ = _rfc3339_expr(expr)
    return pl.when(ns.is_between(*_NS_RANGE)).then(ns).cast(pl.Int64).cast(TIME)


_ANCHOR = re.compile(r"\\.|\[(?:\\.|[^\]])*\]|\$")


def _py_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` for Python's ``re`` with the ECMA-262 (and Rust) meaning of ``$``:
    the end of the text only (Python's ``$`` also matches before a final newline)."""
    translated = _ANCHOR.sub(lambda m: r"\Z" if m.group() == "$" else m.group(), pattern)
    return _PY_REGEX.setdefault(pattern, re.compile(translated))


_PY_REGEX: dict[str, re.Pattern[str]] = {}


# -- the per-event reference ----------------------------------------------------
def event_violations(payload: Any, spec: Spec) -> list[tuple[str, str]]:
    """Every way one decoded payload breaks ``spec``: ``(path, reason)`` pairs, in order.

    The reference the bulk validator is checked against, and what it uses
    for the few lines a column cannot judge.

    Examples
    --------
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


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


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
    got = _kind_of(value)
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


_PLAIN_KEY = re.compile(r'^[\x20-\x7e]*$')


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


# -- decoding -------------------------------------------------------------------
def decode_lines(lines: Lines, spec: Spec) -> pl.DataFrame:
    """The fields of each line in the schema's polars types (null where a value does not fit).

    Columns are the schema's properties, in order, whatever the lines hold.

    Examples
    --------
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
    kind, got = spec.kind, _kind_of(value)
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


# -- inference ------------------------------------------------------------------
@dataclass(slots=True)
class _Seen:
    """What was seen at one place of many payloads."""

    values: int = 0                      # non-null values
    nulls: int = 0                       # explicit nulls
    kinds: set[str] = field(default_factory=set)
    all_datetime: bool = True
    objects: int = 0
    fields: dict[str, _Seen] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)   # objects holding the key
    items: _Seen | None = None


def _see(seen: _Seen, value: Any) -> None:
    if value is None:
        seen.nulls += 1
        return
    seen.values += 1
    kind = _kind_of(value)
    seen.kinds.add(kind)
    if kind == "string":
        if seen.all_datetime and not _is_rfc3339(value):
            seen.all_datetime = False
    elif kind == "object":
        seen.objects += 1
        for name, v in value.items():
            seen.present[name] = seen.present.get(name, 0) + 1
            sub = seen.fields.get(name)
            if sub is None:
                sub = seen.fields[name] = _Seen()
            _see(sub, v)
    elif kind == "array":
        if seen.items is None:
            seen.items = _Seen()
        for v in value:
            _see(seen.items, v)


def _propose(seen: _Seen) -> dict[str, Any]:
    kinds = seen.kinds - ({"integer"} if "number" in seen.kinds else set())
    if len(kinds) != 1:
        return {}  # never seen with a value, or with values of different types: any
    kind = kinds.pop()
    out: dict[str, Any] = {"type": [kind, "null"] if seen.nulls else kind}
    if kind == "string" and seen.all_datetime:
        out["format"] = "date-time"
    elif kind == "object":
        out["properties"] = {name: _propose(sub) for name, sub in seen.fields.items()}
        required = [name for name in seen.fields if seen.present[name] == seen.objects]
        if required:
            out["required"] = required
    elif kind == "array" and seen.items is not None and (seen.items.values or seen.items.nulls):
        out["items"] = _propose(seen.items)
    return out


def infer_schema(payloads: Sequence[Any], *, title: str | None = None,
                 pinned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON Schema every one of ``payloads`` (decoded JSON objects) satisfies, and no looser.

    A field is required when every payload has it; a type allows null when
    a payload wrote ``null``; strings that are all RFC 3339 times get
    ``format: date-time``; a field seen with values of different types takes
    any value (``{}``). ``pinned`` fields get a ``const`` (e.g. the version field).

    Examples
    --------
    >>> infer_schema([{"fare": 9, "at": "2026-11-01T12:00:00Z"}, {"fare": 9.5, "tip": None}],
    ...              title="trip_completed")  # doctest: +NORMALIZE_WHITESPACE
    {'$schema': 'https://json-schema.org/draft/2020-12/schema', 'title': 'trip_completed',
     'type': 'object', 'properties': {'fare': {'type': 'number'},
     'at': {'type': 'string', 'format': 'date-time'}, 'tip': {}}, 'required': ['fare']}
    """
    seen = _Seen()
    for payload in payloads:
        if isinstance(payload, dict):
            _see(seen, payload)
    body: dict[str, Any] = _propose(seen) if seen.objects else {"type": "object",
                                                                 "properties": {}}
    body["type"] = "object"
    for name, value in (pinned or {}).items():
        if name in body.get("properties", {}):
            body["properties"][name] = {"type": _kind_of(value), "const": value}
    head: dict[str, Any] = {"$schema": DRAFT}
    if title is not None:
        head["title"] = title
    return head | body

