"""Schema compatibility, case by case against the definitions of Confluent's schema registry.

Confluent's documentation ("Schema Evolution and Compatibility for Schema
Registry on Confluent Platform", and its summary table):

- BACKWARD: consumers using the new schema can read data written by
  producers using the latest registered schema; allowed: delete fields, add
  optional fields; upgrade consumers first.
- FORWARD: consumers using the latest registered schema can read data
  written by producers using the new schema; allowed: add fields, delete
  optional fields; upgrade producers first.
- FULL: both; allowed: add optional fields, delete optional fields.
- ``*_TRANSITIVE``: the same, checked against all previous versions, not
  only the last one.
- NONE: compatibility checks are disabled.

Each row below is one change from an old to a new version, with the answer
the definitions give for each mode; then the transitive forms, whose
examples pass the plain mode and fail the transitive one; then a property:
whenever the rules say a reader can read a writer, every event valid under
the writer is valid under the reader (judged by the ``jsonschema`` package).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit as ek
from eventkit.schema._compat_json import check, read_problems
from eventkit.schema._json_parse import parse_schema
from eventkit.schema._json_reference import event_violations
from tests.json_schemas import schema_docs, valid_value


def obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        doc["required"] = required
    return doc


INT, NUM, STR = {"type": "integer"}, {"type": "number"}, {"type": "string"}

# change, old, new, {mode: allowed}; the rule a refusal must name
CASES = [
    ("add an optional field", obj(["a"], a=INT), obj(["a"], a=INT, b=STR),
     dict(BACKWARD=True, FORWARD=True, FULL=True), None),
    ("add a required field", obj(["a"], a=INT), obj(["a", "b"], a=INT, b=STR),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "adding a required field"),
    ("delete an optional field", obj(["a"], a=INT, b=STR), obj(["a"], a=INT),
     dict(BACKWARD=True, FORWARD=True, FULL=True), None),
    ("delete a required field", obj(["a", "b"], a=INT, b=STR), obj(["a"], a=INT),
     dict(BACKWARD=True, FORWARD=False, FULL=False), "deleting a required field"),
    ("make an optional field required", obj(["a"], a=INT, b=STR), obj(["a", "b"], a=INT, b=STR),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "making an optional field required"),
    ("make a required field optional", obj(["a", "b"], a=INT, b=STR), obj(["a"], a=INT, b=STR),
     dict(BACKWARD=True, FORWARD=False, FULL=False), "making a required field optional"),
    ("widen integer to number", obj(["a"], a=INT), obj(["a"], a=NUM),
     dict(BACKWARD=True, FORWARD=False, FULL=False), "changing a field's type"),
    ("narrow number to integer", obj(["a"], a=NUM), obj(["a"], a=INT),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "changing a field's type"),
    ("change string to integer", obj(["a"], a=STR), obj(["a"], a=INT),
     dict(BACKWARD=False, FORWARD=False, FULL=False), "changing a field's type"),
    ("add an enum value", obj(["a"], a={"enum": ["x", "y"]}),
     obj(["a"], a={"enum": ["x", "y", "z"]}),
     dict(BACKWARD=True, FORWARD=False, FULL=False), "widening an enum"),
    ("remove an enum value", obj(["a"], a={"enum": ["x", "y"]}), obj(["a"], a={"enum": ["x"]}),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "narrowing an enum"),
    ("allow null", obj(["a"], a=INT), obj(["a"], a={"type": ["integer", "null"]}),
     dict(BACKWARD=True, FORWARD=False, FULL=False), "adding null to a field's type"),
    ("forbid null", obj(["a"], a={"type": ["integer", "null"]}), obj(["a"], a=INT),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "removing null from a field's type"),
    ("add format date-time", obj(["a"], a=STR), obj(["a"], a={"type": "string",
                                                            "format": "date-time"}),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "adding format date-time"),
    ("raise a minimum", obj(["a"], a={"type": "number", "minimum": 0}),
     obj(["a"], a={"type": "number", "minimum": 1}),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "tightening a constraint"),
    ("add a required field to a nested object",
     obj(["d"], d=obj(["id"], id=STR)), obj(["d"], d=obj(["id", "rating"], id=STR, rating=NUM)),
     dict(BACKWARD=False, FORWARD=True, FULL=False), "adding a required field"),
    ("change the type of array items", obj(["s"], s={"type": "array", "items": INT}),
     obj(["s"], s={"type": "array", "items": STR}),
     dict(BACKWARD=False, FORWARD=False, FULL=False), "changing a field's type"),
    ("delete a field of a closed object",
     {**obj(["a"], a=INT, b=STR), "additionalProperties": False},
     {**obj(["a"], a=INT), "additionalProperties": False},
     dict(BACKWARD=False, FORWARD=True, FULL=False), "deleting a field from a closed object"),
    ("add a field to a closed object",
     {**obj(["a"], a=INT), "additionalProperties": False},
     {**obj(["a"], a=INT, b=STR), "additionalProperties": False},
     dict(BACKWARD=True, FORWARD=False, FULL=False), "adding a field to a closed object"),
]


# Where the strict policy (Confluent's default JSON Schema checks) answers otherwise: an
# open object may hold any undeclared field, so the lenient answers above do not hold.
STRICT = {
    "add an optional field": (dict(BACKWARD=False, FULL=False),
                              "adding a field to an open object (strict policy)"),
    "delete an optional field": (dict(FORWARD=False, FULL=False),
                                 "deleting a field from an open object (strict policy)"),
}


def _modes() -> list[tuple[Any, ...]]:
    rows = []
    for name, old, new, allowed, rule in CASES:
        for policy in ("lenient", "strict"):
            answers, why = dict(allowed), rule
            if policy == "strict" and name in STRICT:
                answers |= STRICT[name][0]
                why = STRICT[name][1]
            for mode in ("BACKWARD", "FORWARD", "FULL", "NONE"):
                rows.append(pytest.param(old, new, mode, policy, answers.get(mode, True), why,
                                         id=f"{name}-{mode}-{policy}"))
    return rows


@pytest.mark.parametrize(("old", "new", "mode", "policy", "allowed", "rule"), _modes())
def test_each_change_under_each_mode_and_policy(old, new, mode, policy, allowed, rule):
    reg = ek.SchemaRegistry(policy=policy)
    assert reg.register("t", old, compatibility="NONE") == 1
    if allowed:
        assert reg.register("t", new, compatibility=mode) == 2
        assert reg.versions("t") == [1, 2]
        return
    with pytest.raises(ek.SchemaCompatibilityError) as caught:
        reg.register("t", new, compatibility=mode)
    text = str(caught.value)
    assert rule in text and mode in text, text
    problem = caught.value.problems[0]
    assert f"field {problem.path!r}" in text and problem.version == 1
    assert reg.versions("t") == [1], "a refused schema is not written"


def test_the_refusal_names_the_field_the_rule_and_the_way_out():
    reg = ek.SchemaRegistry()
    reg.register("payment_captured", obj(["amount", "currency"], amount=NUM, currency=STR))
    v2 = obj(["amount_cents", "currency"], amount_cents=INT, currency=STR)
    with pytest.raises(ek.SchemaCompatibilityError, match="field 'amount_cents': adding a "
                       "required field") as caught:
        reg.register("payment_captured", v2)
    assert "BACKWARD" in str(caught.value) and "upcaster" in str(caught.value)
    assert reg.incompatibilities("payment_captured", v2) == [
        "version 1: field 'amount_cents': adding a required field (required by the new schema, "
        "absent from version 1)"]
    assert reg.register("payment_captured", v2, compatibility="NONE") == 2
    assert reg.compatibility("payment_captured") == "NONE"


# -- transitive forms: pass against the last version, fail against an earlier one --
TRANSITIVE = [
    # v1 writes a as an integer; v2 drops it; v3 brings it back as text
    ("BACKWARD", [obj(["a"], a=INT), obj(), obj(a=STR)], "'a'"),
    # v1 reads a as an integer; v2 stops writing it; v3 writes text
    ("FORWARD", [obj(a=INT), obj(), obj(a=STR)], "'a'"),
    ("FULL", [obj(a=INT), obj(), obj(a=STR)], "'a'"),
]


@pytest.mark.parametrize(("base", "history", "field"), TRANSITIVE)
def test_transitive_modes_check_every_earlier_version(base, history, field):
    # lenient: v2 -> v3 adds an optional field to an open object, fine against v2 alone
    plain, transitive = ek.SchemaRegistry(policy="lenient"), ek.SchemaRegistry(policy="lenient")
    for v, doc in enumerate(history[:-1], start=1):
        assert plain.register("t", doc, compatibility=base) == v
        assert transitive.register("t", doc, compatibility=f"{base}_TRANSITIVE") == v
    assert plain.register("t", history[-1]) == 3  # fine against version 2 alone
    with pytest.raises(ek.SchemaCompatibilityError, match=f"{base}_TRANSITIVE compatible "
                       f"with version 1: field {field}"):
        transitive.register("t", history[-1])


def test_none_takes_anything_and_registering_again_is_idempotent():
    reg = ek.SchemaRegistry(compatibility="NONE")
    docs = [obj(["a"], a=STR), obj(["a"], a=INT), obj(["b"], b={"type": "boolean"})]
    assert [reg.register("t", d) for d in docs] == [1, 2, 3]
    assert reg.register("t", copy.deepcopy(docs[1])) == 2  # already there: its version
    assert reg.versions("t") == [1, 2, 3]


def test_modes_are_spelled_as_in_kafka():
    with pytest.raises(ek.ConfigurationError, match="BACKWARD_TRANSITIVE"):
        ek.SchemaRegistry(compatibility="SIDEWAYS")  # type: ignore[arg-type]
    assert ek.SchemaRegistry(compatibility="full_transitive").default_compatibility == (  # type: ignore[arg-type]
        "FULL_TRANSITIVE")


def test_the_default_policy_is_strict_and_says_the_way_out():
    reg = ek.SchemaRegistry()
    assert reg.policy == "strict"
    reg.register("t", obj(["a"], a=INT))
    with pytest.raises(ek.SchemaCompatibilityError, match="additionalProperties: false") as e:
        reg.register("t", obj(["a"], a=INT, b=STR))
    assert 'policy="lenient"' in str(e.value)
    assert reg.register("t", obj(["a"], a=INT, b=STR), policy="lenient") == 2
    closed = ek.SchemaRegistry()
    closed.register("t", {**obj(["a"], a=INT), "additionalProperties": False})
    assert closed.register("t", {**obj(["a"], a=INT, b=STR), "additionalProperties": False}) == 2
    with pytest.raises(ek.ConfigurationError, match="'strict'"):
        ek.SchemaRegistry(policy="loose")  # type: ignore[arg-type]


def test_check_lists_every_problem_with_its_version_and_direction():
    v1 = parse_schema(obj(["a", "b"], a=INT, b=STR))
    v2 = parse_schema(obj(["a", "c"], a=STR, c=STR))
    problems = check(v2, [(1, v1)], "FULL", "lenient")
    assert {(p.direction, p.path, p.rule) for p in problems} == {
        ("backward", "a", "changing a field's type"),
        ("backward", "c", "adding a required field"),
        ("forward", "a", "changing a field's type"),
        ("forward", "b", "deleting a required field"),
    }


# -- soundness: "compatible" means every writer's event is valid for the reader ------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), schema_docs(), schema_docs())
def test_compatible_means_every_event_of_the_writer_is_valid_for_the_reader(data, w, r):
    """Strict: any event JSON Schema lets the writer write, undeclared fields included.
    Lenient: events holding only the fields their writer declares."""
    writer, reader = parse_schema(w), parse_schema(r)
    strict = data.draw(st.booleans())
    if read_problems(reader, writer, strict=strict):
        return
    for _ in range(5):
        event = data.draw(valid_value(writer, undeclared=strict))
        assert jsonschema.Draft202012Validator(w).is_valid(event), (w, event)
        assert not event_violations(event, writer)
        # a reader ignores fields it does not declare, unless it is closed
        assert jsonschema.Draft202012Validator(r).is_valid(event), (r, w, event)
        assert not event_violations(event, reader)


@settings(max_examples=200, deadline=None)
@given(schema_docs())
def test_every_schema_reads_itself_and_full_holds_for_itself(doc):
    spec = parse_schema(doc)
    assert read_problems(spec, spec) == []
    assert check(spec, [(1, spec), (2, spec)], "FULL_TRANSITIVE") == []
