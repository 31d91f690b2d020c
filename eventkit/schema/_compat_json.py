"""Compatibility of schema versions, as Kafka's schema registry (Confluent) defines the modes.

Pure: parsed schemas in, a list of problems out.

Everything rests on one question, *can a consumer using schema R read an
event written with schema W?* (:func:`read_problems`), asked per mode:

=================== ===================================== =========================
mode                question, for a new schema N          changes allowed
=================== ===================================== =========================
BACKWARD            N reads events of the last version    delete fields, add optional
FORWARD             the last version reads events of N    add fields, delete optional
FULL                both                                  add/delete optional fields
``*_TRANSITIVE``    the same against every earlier version
NONE                no check                              anything
=================== ===================================== =========================

A reader ignores fields it does not declare (as Avro and Protobuf readers
do), unless its object is closed (``additionalProperties: false``). Beyond
fields, the answer follows the values: a reader's type must take every value
the writer's may write (``number`` reads ``integer``, not the reverse; null
only if the reader allows it), and so must its enum, format and bounds.

Policies: what an open object may hold
    An object without ``additionalProperties: false`` is *open*: JSON Schema
    lets it hold any other field with any value. The policy says whether a
    check takes that literally.

    ``"strict"`` (the default, Confluent Schema Registry's default JSON
    Schema checks): a field the reader declares and an open writer does not
    may have been written with any value, so the reader must accept any
    value there. Adding an optional field to an open object is then not
    BACKWARD compatible, and deleting one is not FORWARD compatible (close
    the object, ``additionalProperties: false``, to evolve it freely: a
    closed writer writes no other field).

    ``"lenient"`` (Confluent's lenient policy): writers write only the
    fields they declare, so adding or deleting an optional field is
    compatible in every mode, whatever the object.

    The rules, each named in a refusal (``backward``: the new schema reads
    the old events; ``forward``: the reverse):

    ======================================= ========= ========= =========
    change (old -> new)                     BACKWARD  FORWARD   policy
    ======================================= ========= ========= =========
    add a required field                    no        yes       both
    add an optional field, open object      no        yes       strict
    add an optional field, open object      yes       yes       lenient
    add a field, closed object              yes       no        both
    delete a required field                 yes       no        both
    delete an optional field, open object   yes       no        strict
    delete an optional field, open object   yes       yes       lenient
    delete a field, closed object           no        yes       both
    make an optional field required         no        yes       both
    make a required field optional          yes       no        both
    widen a type (integer -> number)        yes       no        both
    narrow or change a type                 no        ...       both
    add null / remove null                  yes / no  no / yes  both
    widen / narrow an enum                  yes / no  no / yes  both
    add / remove format date-time           no / yes  yes / no  both
    loosen / tighten a bound or pattern     yes / no  no / yes  both
    close / open an object                  no / yes  yes / no  both
    ======================================= ========= ========= =========

    FULL needs both directions; the transitive modes check every earlier
    version; NONE checks nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import orjson

from eventkit.exceptions import ConfigurationError
from eventkit.schema._json_parse import Spec

#: A parsed schema of some format.
S = TypeVar("S")

__all__ = ["MODES", "POLICIES", "Incompatibility", "Problem", "check", "check_versions", "mode",
           "policy", "read_problems"]

MODES = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
         "FULL_TRANSITIVE", "NONE")
POLICIES = ("strict", "lenient")

#: What each kind of problem is called when it comes from a change old -> new:
#: "backward" when the new schema reads old events, "forward" the reverse.
RULES = {
    ("missing", "backward"): "adding a required field",
    ("missing", "forward"): "deleting a required field",
    ("optional", "backward"): "making an optional field required",
    ("optional", "forward"): "making a required field optional",
    ("type", "backward"): "changing a field's type",
    ("type", "forward"): "changing a field's type",
    ("null", "backward"): "removing null from a field's type",
    ("null", "forward"): "adding null to a field's type",
    ("enum", "backward"): "narrowing an enum",
    ("enum", "forward"): "widening an enum",
    ("format", "backward"): "adding format date-time",
    ("format", "forward"): "removing format date-time",
    ("constraint", "backward"): "tightening a constraint",
    ("constraint", "forward"): "loosening a constraint",
    ("closed", "backward"): "deleting a field from a closed object",
    ("closed", "forward"): "adding a field to a closed object",
    ("open", "backward"): "closing an object (additionalProperties: false)",
    ("open", "forward"): "opening a closed object",
    ("undeclared", "backward"): "adding a field to an open object (strict policy)",
    ("undeclared", "forward"): "deleting a field from an open object (strict policy)",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a reader may fail on a writer's event: where, what kind, and the facts.

    ``detail`` names the two sides ``{reader}`` and ``{writer}``, filled in
    when the roles are known.
    """

    path: str
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a new schema may not be registered under a mode."""

    version: int        # the registered version it was checked against
    direction: str      # "backward": the new schema reads that version's events; or "forward"
    path: str           # the field, dotted ("driver.rating", "stops[]")
    rule: str           # the change, e.g. "adding a required field"
    detail: str

    def __str__(self) -> str:
        where = f"field {self.path!r}" if self.path else "the payload"
        return f"{where}: {self.rule} ({self.detail})"


def mode(value: str) -> str:
    """A compatibility mode in its canonical spelling, or a clear error.

    Examples
    --------
    >>> mode("backward_transitive")
    'BACKWARD_TRANSITIVE'
    """
    canonical = str(value).strip().upper().replace("-", "_")
    if canonical not in MODES:
        raise ConfigurationError(
            f"compatibility {value!r} is not a mode: use one of {', '.join(MODES)}")
    return canonical


def policy(value: str) -> str:
    """A compatibility policy, ``"strict"`` or ``"lenient"``, or a clear error.

    >>> policy("Strict")
    'strict'
    """
    canonical = str(value).strip().lower()
    if canonical not in POLICIES:
        raise ConfigurationError(
            f"policy {value!r} is not a compatibility policy: use 'strict' (Confluent's "
            "default: an open object may hold any undeclared field) or 'lenient' (writers "
            "write only the fields they declare)")
    return canonical


def check(new: Spec, previous: Sequence[tuple[int, Spec]], compatibility: str,
          policy: str = "strict") -> list[Incompatibility]:
    """Why ``new`` breaks ``compatibility`` with the ``previous`` versions (oldest first),
    under the ``policy`` (see the module docstring).

    Examples
    --------
    >>> from eventkit.schema._json_parse import parse_schema
    >>> v1 = parse_schema({"type": "object", "properties": {"fare": {"type": "number"}}})
    >>> v2 = parse_schema({"type": "object", "required": ["tip"], "properties": {
    ...     "fare": {"type": "number"}, "tip": {"type": "number"}}})
    >>> [str(p) for p in check(v2, [(1, v1)], "BACKWARD")]
    ["field 'tip': adding a required field (required by the new schema, absent from version 1)"]
    >>> check(v2, [(1, v1)], "FORWARD")
    []
    >>> v3 = parse_schema({"type": "object", "properties": {
    ...     "fare": {"type": "number"}, "tip": {"type": "number"}}})
    >>> [p.rule for p in check(v3, [(1, v1)], "BACKWARD")]  # strict: v1 may write any tip
    ['adding a field to an open object (strict policy)']
    >>> check(v3, [(1, v1)], "BACKWARD", policy="lenient")
    []
    """
    strict = _policy_strict(policy)
    return check_versions(new, previous, compatibility,
                          lambda reader, writer: read_problems(reader, writer, strict=strict),
                          RULES)


def check_versions(new: S, previous: Sequence[tuple[int, S]], compatibility: str,
                   read: Callable[[S, S], list[Problem]],
                   rules: Mapping[tuple[str, str], str]) -> list[Incompatibility]:
    """The modes over any format: ``read(reader, writer)`` says why a consumer using
    ``reader`` may fail on events written with ``writer``; ``rules`` names each kind of
    problem per direction (``"backward"``: the new schema reads older events)."""
    compatibility = mode(compatibility)
    if compatibility == "NONE" or not previous:
        return []
    against = previous if compatibility.endswith("_TRANSITIVE") else previous[-1:]
    base = compatibility.removesuffix("_TRANSITIVE")
    out: list[Incompatibility] = []
    for version, old in against:
        label = f"version {version}"
        if base in ("BACKWARD", "FULL"):
            out += [_named(p, version, "backward", "the new schema", label, rules)
                    for p in read(new, old)]
        if base in ("FORWARD", "FULL"):
            out += [_named(p, version, "forward", label, "the new schema", rules)
                    for p in read(old, new)]
    return out


def _policy_strict(value: str) -> bool:
    return policy(value) == "strict"


def _named(problem: Problem, version: int, direction: str, reader: str, writer: str,
           rules: Mapping[tuple[str, str], str]) -> Incompatibility:
    return Incompatibility(version, direction, problem.path, rules[problem.kind, direction],
                           problem.detail.format(reader=reader, writer=writer))


def read_problems(reader: Spec, writer: Spec, path: str = "", *,
                  strict: bool = True) -> list[Problem]:
    """Why an event valid under ``writer`` may not be valid under ``reader`` (empty: it is).

    ``strict``: an open writer object may hold any field it does not declare,
    with any value (the ``"strict"`` policy); else it writes only its own.

    Examples
    --------
    >>> from eventkit.schema._json_parse import parse_schema
    >>> old = parse_schema({"type": "object", "properties": {"n": {"type": "integer"}}})
    >>> new = parse_schema({"type": "object", "properties": {"n": {"type": "number"}}})
    >>> read_problems(new, old)  # a number column reads integers
    []
    >>> [p.detail.format(reader="R", writer="W") for p in read_problems(old, new)]
    ['R reads integer, W writes number']
    """
    if reader.per_event and not _same_checks(reader, writer):
        return [Problem(path, "constraint", "{reader} has keywords checked per value (anyOf, "
                        "oneOf, not, enum of mixed values, patternProperties, "
                        "dependentRequired, ...) that {writer} does not have alike")]
    if reader.kind == "any":
        if reader.applies is None:
            return [Problem(path, "null", "{writer} allows null, {reader} does not")] if (
                writer.nullable and not reader.nullable) else []
        # object (array) keywords without a type: they judge only values of that kind
        if writer.kind not in (reader.applies, "any") and writer.applies is None:
            return []
        as_kind = replace(reader, kind=reader.applies, applies=None, nullable=True)
        if writer.kind == "any" and writer.applies is None:
            return [Problem(path, "type", f"{{reader}} reads {reader.applies}s with keywords, "
                                          "{writer} writes any JSON value")]
        mine = writer if writer.kind != "any" else replace(writer, kind=reader.applies,
                                                           applies=None, nullable=True)
        return read_problems(as_kind, mine, path, strict=strict)
    if writer.kind == "any" or not (
            reader.kind == writer.kind or (reader.kind == "number" and writer.kind == "integer")):
        return [Problem(path, "type", f"{{reader}} reads {_bare(reader)}, {{writer}} writes "
                                      f"{_bare(writer)}")]
    out: list[Problem] = []
    if writer.nullable and not reader.nullable:
        out.append(Problem(path, "null", "{writer} allows null, {reader} does not"))
    if reader.enum is not None:
        if writer.enum is None:
            out.append(Problem(path, "enum", f"{{reader}} allows only {_values(reader.enum)}, "
                                             f"{{writer}} any {writer.kind}"))
        else:
            extra = tuple(v for v in writer.enum if not _member(v, reader.enum))
            if extra:
                out.append(Problem(path, "enum", f"{{writer}} allows {_values(extra)}, "
                                                 "{reader} does not"))
    if reader.datetime and not writer.datetime:
        out.append(Problem(path, "format", "{reader} reads RFC 3339 date-times, {writer} "
                                           "writes any string"))
    out += _constraints(reader, writer, path)
    if reader.kind == "object":
        out += _object(reader, writer, path, strict)
    elif reader.kind == "array" and reader.items is not None:
        items = writer.items if writer.items is not None else Spec("any", nullable=True)
        out += read_problems(reader.items, items, f"{path}[]", strict=strict)
    return out


def _takes_anything(spec: Spec) -> bool:
    return spec.kind == "any" and spec.applies is None and not spec.per_event


def _same_checks(reader: Spec, writer: Spec) -> bool:
    """Whether the writer has the reader's per-value keywords, the same (a conservative
    answer: eventkit does not compare unions or negations by what they accept)."""
    keys = ("branches", "one_of", "negated", "values", "pattern_properties",
            "dependent_required", "min_properties", "max_properties", "unique_items",
            "multiple_of")
    return all(getattr(reader, k) == getattr(writer, k) for k in keys)


def _bare(spec: Spec) -> str:
    return "any JSON value" if spec.kind == "any" else spec.kind + (
        " (date-time)" if spec.datetime else "")


def _values(values: tuple[object, ...]) -> str:
    return ", ".join(orjson.dumps(v).decode() for v in values)


def _member(value: object, values: tuple[object, ...]) -> bool:
    return any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in values)


def _object(reader: Spec, writer: Spec, path: str, strict: bool) -> list[Problem]:
    out: list[Problem] = []
    written = writer.fields
    for name, sub in reader.properties:
        where = f"{path}.{name}" if path else name
        if name not in written:
            if name in reader.required:
                out.append(Problem(where, "missing", "required by {reader}, absent from "
                                                     "{writer}"))
            elif strict and not writer.closed and not _takes_anything(sub):
                out.append(Problem(where, "undeclared", "{writer} does not declare it and its "
                                   "object is open, so it may hold it with any value; {reader} "
                                   f"reads {_bare(sub)}"))
            continue
        if name in reader.required and name not in writer.required:
            out.append(Problem(where, "optional", "required by {reader}, optional in {writer}"))
        out += read_problems(sub, written[name], where, strict=strict)
    if reader.closed:
        declared = reader.fields
        for name in written:
            if name not in declared:
                out.append(Problem(f"{path}.{name}" if path else name, "closed",
                                   "{writer} writes it, {reader} allows no other fields "
                                   "(additionalProperties: false)"))
        if not writer.closed:
            out.append(Problem(path, "open", "{writer} allows any other field, {reader} "
                                             "allows none (additionalProperties: false)"))
    return out


def _constraints(reader: Spec, writer: Spec, path: str) -> list[Problem]:
    out: list[Problem] = []

    def add(what: str) -> None:
        out.append(Problem(path, "constraint", what))

    if reader.minimum is not None and not _inside(writer.minimum, reader.minimum, upper=False):
        add(f"{{reader}} needs {_bound(reader.minimum, False)}, {{writer}} "
            f"{_bound(writer.minimum, False) if writer.minimum else 'has no minimum'}")
    if reader.maximum is not None and not _inside(writer.maximum, reader.maximum, upper=True):
        add(f"{{reader}} needs {_bound(reader.maximum, True)}, {{writer}} "
            f"{_bound(writer.maximum, True) if writer.maximum else 'has no maximum'}")
    for name, r, w, upper in (
        ("minLength", reader.min_length, writer.min_length, False),
        ("maxLength", reader.max_length, writer.max_length, True),
        ("minItems", reader.min_items, writer.min_items, False),
        ("maxItems", reader.max_items, writer.max_items, True),
    ):
        if r is not None and (w is None or (w > r if upper else w < r)):
            add(f"{{reader}} has {name} {r}, {{writer}} "
                f"{'has none' if w is None else f'has {name} {w}'}")
    if reader.pattern is not None and writer.pattern != reader.pattern:
        add(f"{{reader}} has the pattern {reader.pattern}, {{writer}} "
            f"{'has none' if writer.pattern is None else f'has {writer.pattern}'}")
    return out


def _inside(writer: tuple[float, bool] | None, reader: tuple[float, bool], *, upper: bool
            ) -> bool:
    """Whether every value within the writer's bound is within the reader's."""
    if writer is None:
        return False
    if writer[0] != reader[0]:
        return writer[0] < reader[0] if upper else writer[0] > reader[0]
    return writer[1] or not reader[1]


def _bound(bound: tuple[float, bool] | None, upper: bool) -> str:
    if bound is None:
        return "no bound"
    value, exclusive = bound
    sign = ("<" if exclusive else "<=") if upper else (">" if exclusive else ">=")
    return f"values {sign} {orjson.dumps(value).decode()}"
