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

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from eventkit.exceptions import ConfigurationError

if TYPE_CHECKING:
    pass




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
    kinds = {json_kind(v) for v in values if v is not None}
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
        if not any(json_kind(v) == json_kind(u) and v == u for u in unique):
            unique.append(v)
    return tuple(unique)


def _enum_kind(values: tuple[Any, ...], path: str, what: str) -> str:
    kinds = {json_kind(v) for v in values if v is not None}
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


def json_kind(value: Any) -> str:
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
    got = json_kind(value)
    if kind == "integer" and got == "number" and float(value).is_integer():
        return True
    return got == kind or (kind == "number" and got == "integer") or kind == "any"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_ANCHOR = re.compile(r"\\.|\[(?:\\.|[^\]])*\]|\$")


def _py_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` for Python's ``re`` with the ECMA-262 (and Rust) meaning of ``$``:
    the end of the text only (Python's ``$`` also matches before a final newline)."""
    translated = _ANCHOR.sub(lambda m: r"\Z" if m.group() == "$" else m.group(), pattern)
    return _PY_REGEX.setdefault(pattern, re.compile(translated))


_PY_REGEX: dict[str, re.Pattern[str]] = {}
