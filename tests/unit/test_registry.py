"""The schema registry: one contract every backend passes, bulk validation against its
per-event reference (and that against the ``jsonschema`` package), decoding through
upcasters, and the shipped sample's two payment versions read as one table."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit as ek
from eventkit.codec import Decoded, combine
from eventkit.envelope import Rules
from eventkit.sample import load, payment_schema_switch
from eventkit.sample.rides import RULES, SHIPPED_ARGS
from eventkit.schema import _json_decode, _json_lines, _json_types, _snapshot, event_versions
from eventkit.schema._backends import _DirBackend, _escape, _MemoryBackend, _unescape
from eventkit.schema._json_lines import Lines
from eventkit.schema._json_parse import parse_schema
from eventkit.schema._json_reference import event_violations
from eventkit.schema._json_validate import validate_lines
from eventkit.schema._versions import _version_rules
from tests.json_schemas import NAMES, schema_docs, valid_value
from tests.registry_contract import V1, V2, RegistryContract, envelope, payments_registry
from tests.samples import sample_batches


class TestMemoryRegistry(RegistryContract):
    @pytest.fixture()
    def backend_factory(self) -> Callable[[], Any]:
        shared = _MemoryBackend()
        return lambda: shared


class TestDirectoryRegistry(RegistryContract):
    @pytest.fixture()
    def backend_factory(self, tmp_path) -> Callable[[], Any]:
        return lambda: _DirBackend(tmp_path / "schemas")

    def test_the_layout_is_plain_files(self, tmp_path):
        reg = ek.SchemaRegistry.from_dir(tmp_path)
        reg.register("trip completed", V1, compatibility="FULL")
        assert json.loads((tmp_path / "trip%20completed" / "v1.json").read_text()) == V1
        assert json.loads((tmp_path / "trip%20completed" / "config.json").read_text()) == {
            "compatibility": "FULL"}
        (tmp_path / "ride_requested").mkdir()
        (tmp_path / "ride_requested" / "v1.json").write_text(json.dumps(V2))  # by hand
        assert ek.SchemaRegistry.from_dir(tmp_path).types == ["ride_requested",
                                                                "trip completed"]
        assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("name", ["a", "trip_completed", "a.b", "x y/z", "é=%", "=41"])
def test_type_names_escape_and_come_back(name):
    for mark in ("=", "%"):
        token = _escape(name, mark)
        assert all(c.isalnum() or c in "-_" + mark for c in token)
        assert _unescape(token, mark) == name


# -- bulk validation is the per-event reference, line for line ---------------------
_ODD = st.sampled_from([
    None, True, 0, -3, 2**40, 2**63, -(2**63) - 1, 5.0, 0.5, 1e300, "5", "true", "", "x",
    "2026-11-01T12:00:00Z", "2026-11-01T12:00:00.123456789+01:00", "2026-02-30T00:00:00Z",
    "2026-11-01 12:00:00", "{x}", [], [None], [1, "a"], {}, {"a": None}, {"zz": 1},
    # where Python and the bulk path used to differ: a trailing newline, non-ASCII digits,
    # leap seconds, years past what nanosecond times hold
    "EUR", "EUR\n", "2026-11-01T12:00:00Z\n", "2026-11-01T1\u09e8:00:00Z", "\u09e8",
    "1998-12-31T23:58:60Z", "1998-12-31T23:59:60Z", "1998-12-31T23:59:60.5-01:00",
    "1500-01-01T00:00:00Z", "0000-02-29T00:00:00Z", "2026-11-01t12:00:00.1234567891z",
])
_ANY = st.recursive(_ODD, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from([*NAMES, "zz"]), inner, max_size=3), max_leaves=5)


_TOUCHED = st.lists(st.sampled_from([*NAMES, "zz", "d", "e", "f"]), max_size=3)


@functools.cache  # one strategy a spec: building it at every draw cost more than the test
def payloads_for(spec: Any) -> st.SearchStrategy[dict[str, Any]]:
    return _payload_for(spec)


@st.composite
def _payload_for(draw: st.DrawFn, spec: Any) -> dict[str, Any]:
    """A payload near ``spec``: valid, or valid with fields replaced by odd values."""
    payload = draw(valid_value(spec))
    for name in draw(_TOUCHED):
        if draw(st.booleans()):
            payload[name] = draw(_ANY)
        else:
            payload.pop(name, None)
    return payload


@st.composite
def datetime_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = draw(schema_docs())
    if draw(st.booleans()):
        doc["properties"]["d"] = {"type": ["string", "null"] if draw(st.booleans()) else
                                  "string", "format": "date-time"}
    if draw(st.booleans()):
        doc["properties"]["e"] = {"type": "string", "pattern": "^[A-Z]{3}$"}
        doc["properties"]["f"] = {"type": ["string", "null"]}
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), datetime_docs())
def test_bulk_validation_equals_the_per_event_reference(data, doc):
    spec = parse_schema(doc)
    events = data.draw(st.lists(payloads_for(spec), min_size=1, max_size=24))
    compact = data.draw(st.booleans())
    lines = Lines(pl.Series([
        json.dumps(e, separators=(",", ":") if compact else None).encode() for e in events]))
    expected = sorted((i, path, reason) for i, e in enumerate(events)
                      for path, reason in event_violations(e, spec))
    old = _json_lines._BLOCK, _json_lines._SMALL
    try:  # small blocks, so that the halving of ranges that do not parse runs too
        _json_lines._BLOCK, _json_lines._SMALL = 8, 2
        small = validate_lines(lines, spec).rows()
    finally:
        _json_lines._BLOCK, _json_lines._SMALL = old
    assert small == expected
    assert validate_lines(lines, spec).rows() == expected


def _within_the_subset(value: Any) -> bool:
    """No integral floats and no integers past 64 bits: where Arrow is stricter on purpose;
    no text ending in a newline, which Python's ``$`` (jsonschema's) matches before and
    JSON Schema's (ECMA-262) does not: ``"EUR\n"`` does not match ``^[A-Z]{3}$``."""
    if isinstance(value, str):
        return not value.endswith("\n")
    if isinstance(value, float):
        return not value.is_integer()
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    if isinstance(value, list):
        return all(map(_within_the_subset, value))
    if isinstance(value, dict):
        return all(map(_within_the_subset, value.values()))
    return True


@functools.cache
def _subset_payloads(spec: Any) -> st.SearchStrategy[dict[str, Any]]:
    return payloads_for(spec).filter(_within_the_subset)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), schema_docs())
def test_the_per_event_reference_agrees_with_jsonschema(data, doc):
    spec = parse_schema(doc)
    validator = jsonschema.Draft202012Validator(doc)
    for _ in range(6):
        event = data.draw(_subset_payloads(spec))
        assert validator.is_valid(event) == (not event_violations(event, spec)), (
            doc, event, event_violations(event, spec))


def test_date_times_are_rfc_3339():
    spec = parse_schema({"type": "object", "properties": {
        "at": {"type": "string", "format": "date-time"}}})
    good = ["2026-11-01T12:00:00Z", "2026-11-01T12:00:00.5+01:00", "2026-11-01t12:00:00z",
            "2026-12-31T23:59:60Z"]
    bad = ["2026-11-01 12:00:00Z", "2026-11-01", "2026-02-30T00:00:00Z", "2026-11-01T24:00:00Z",
           "2026-11-01T12:00:00", "2026-11-01T12:00:00+25:00", "soon"]
    lines = Lines(pl.Series([orjson.dumps({"at": t}) for t in good + bad]))
    found = validate_lines(lines, spec)
    assert found["row"].to_list() == list(range(len(good), len(good) + len(bad)))
    assert set(found["reason"]) == {"not an RFC 3339 date-time"}


ISSUE_SCHEMA = {"type": "object", "properties": {
    "at": {"type": "string", "format": "date-time"},
    "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "ref": {"type": ["string", "null"]}}}


@pytest.mark.parametrize("payload", [
    {"at": "2026-11-01T12:00:00Z\n", "code": "EUR\n", "ref": "x"},
    {"at": "2026-11-01T12:00:00Z\n", "code": "EUR\n", "ref": None},
    {"at": "2026-11-01T1\u09e8:00:00Z", "code": "EUR", "ref": None},
    {"at": "1998-12-31T23:58:60Z", "code": "EUR", "ref": "x"},
])
def test_both_paths_flag_newlines_foreign_digits_and_misplaced_leap_seconds(payload):
    spec = parse_schema(ISSUE_SCHEMA)
    lines = Lines(pl.Series([json.dumps(payload, ensure_ascii=False).encode()]))
    bulk = [(path, reason) for _, path, reason in validate_lines(lines, spec).rows()]
    assert bulk == event_violations(payload, spec) != []
    assert ("at", "not an RFC 3339 date-time") in bulk
    assert ("code" in [p for p, _ in bulk]) == payload["code"].endswith("\n")


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> tuple[str, int | None]:
    """An RFC 3339 date-time (or a near miss) and its instant in ns (exact integers)."""
    day = draw(st.dates(dt.date(1678, 1, 1), dt.date(2261, 12, 31)))
    hh, mm, ss = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 60))
    frac = draw(st.text("0123456789", min_size=0, max_size=12))
    offset = draw(st.sampled_from([None, 0, 60, -90, 23 * 60 + 59]))
    zone = draw(st.sampled_from(["Z", "z"])) if offset is None else (
        ("+" if offset >= 0 else "-") + f"{abs(offset) // 60:02d}:{abs(offset) % 60:02d}")
    text = f"{day.isoformat()}{draw(st.sampled_from('Tt'))}{hh:02d}:{mm:02d}:{ss:02d}"
    text += (f".{frac}" if frac else "") + zone
    utc_minute = (hh * 60 + mm - (offset or 0)) % 1440
    if ss == 60 and utc_minute != 1439:
        return text, None
    local = dt.datetime.combine(day, dt.time(hh, mm, min(ss, 59)), dt.UTC)
    seconds = int((local - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds())
    seconds -= (offset or 0) * 60
    nanos = 999_999_999 if ss == 60 else int(frac[:9].ljust(9, "0") or 0)
    return text, seconds * 10**9 + nanos


@settings(max_examples=300, deadline=None)
@given(rfc3339_texts())
def test_a_date_time_that_passes_decodes_to_its_own_instant(case):
    text, ns = case
    spec = parse_schema({"type": "object", "properties": {
        "at": {"type": "string", "format": "date-time"}}})
    lines = Lines(pl.Series([orjson.dumps({"at": text})]))
    found = validate_lines(lines, spec)
    assert found.rows() == [(0, "at", r) for _, r in event_violations({"at": text}, spec)]
    decoded = _json_decode.decode_lines(lines, spec)["at"].dt.epoch("ns").to_list()
    if ns is None or not -(2**63) <= ns < 2**63:
        assert found.height == 1  # a leap second at the wrong minute, or out of range
    else:
        assert found.height == 0 and decoded == [ns]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("0123456789:-.TtZz+ \n\u09e8"), max_size=32))
def test_no_text_passes_as_a_date_time_and_decodes_to_null(text):
    spec = parse_schema({"type": "object", "properties": {
        "at": {"type": "string", "format": "date-time"}}})
    lines = Lines(pl.Series([orjson.dumps({"at": text})]))
    passed = validate_lines(lines, spec).height == 0
    assert passed == (not event_violations({"at": text}, spec))
    if passed:
        assert _json_decode.decode_lines(lines, spec)["at"].to_list() != [None]


def test_object_and_array_keywords_without_a_type_let_other_values_pass():
    doc = {"type": "object", "properties": {
        "o": {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
        "l": {"items": {"type": "integer"}}}}
    spec, oracle = parse_schema(doc), jsonschema.Draft202012Validator(doc)
    cases = [{"o": 5, "l": "x"}, {"o": "{a", "l": "[1"}, {"o": None, "l": True},
             {"o": {"a": 1}, "l": [1]}, {"o": {}, "l": [1, "a"]}, {"o": {"a": "x"}}]
    lines = Lines(pl.Series([json.dumps(c).encode() for c in cases]))
    bulk = validate_lines(lines, spec)
    for i, case in enumerate(cases):
        assert oracle.is_valid(case) == (not event_violations(case, spec))
        assert bulk.filter(pl.col("row") == i).select("path", "reason").rows() == sorted(
            event_violations(case, spec))
    assert bulk["row"].unique().sort().to_list() == [4, 5]


def test_unsupported_keywords_are_refused_not_ignored():
    cases = [
        ({"type": "object", "properties": {"a": {"if": {"type": "string"}}}}, "'if'"),
        ({"type": "object", "properties": {"a": {"type": ["string", "integer"],
                                                 "minLength": 1}}}, "anyOf"),
        ({"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}}, "same document"),
        ({"type": "object", "$defs": {"n": {"type": "object", "properties": {
            "next": {"$ref": "#/$defs/n"}}}}, "properties": {"a": {"$ref": "#/$defs/n"}}},
         "recursive"),
        ({"type": "object", "properties": {"a": {"allOf": [{"type": "string"},
                                                           {"type": "integer"}]}}},
         "nothing is both"),
        ({"type": "object", "properties": {"a": {"allOf": [{"pattern": "^a"},
                                                           {"pattern": "b$"}]}}}, "merges only"),
        ({"type": "object", "required": ["a"], "properties": {}}, "not in properties"),
        ({"type": "array"}, "top level"),
        ({"type": "object", "properties": {"a": {"type": "string", "minimum": 1}}},
         "does not apply"),
        ({"type": "object", "properties": {"a": {"type": "integer", "enum": ["x"]}}},
         "not of type integer"),
    ]
    reg = ek.SchemaRegistry()
    for doc, words in cases:
        with pytest.raises(ek.ConfigurationError, match=words):
            reg.register("t", doc)
    # annotations and extensions are kept, and ignored
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t",
           "x-owner": "payments", "type": "object", "properties": {
               "a": {"type": "string", "description": "d", "format": "email"}}}
    assert reg.register("t", doc) == 1 and reg.get("t") == doc


def test_events_of_an_unregistered_version_and_undecodable_payloads_are_flagged():
    reg = ek.SchemaRegistry()
    reg.register("trip_completed", V1)
    env = envelope([b'{"fare": 1}', b'{"fare": 1, "schema_version": 3}', b"{oops"])
    found = reg.check(env)
    assert found.select("seq", "version").rows() == [(2, 3), (3, 1)]
    assert found["reason"][0] == "version 3 is not registered (registered: 1)"
    assert found["reason"][1].startswith("payload did not decode: invalid JSON")
    assert env.height == 3  # nothing dropped


def test_an_event_version_comes_from_a_header_a_field_a_subject_or_is_one():
    frame = pl.DataFrame({
        "subject": ["orders.v7.placed", "orders.x.placed", "orders.x.placed", "o.x.p"],
        "headers": ['{"ce-dataschema": "https://schemas.example/order_placed/v4.json"}',
                    None, '{"other": "1"}', None],
        "data": [b'{"schema_version": 2}', b'{"schema_version": "v5"}',
                 b'{"nested": {"schema_version": 9}}', b'{}'],
        "error": [None, None, None, None]})
    rules = _version_rules("header:ce-dataschema,field:schema_version,subject:1")
    assert event_versions(frame, rules).to_list() == [4, 5, 1, 1]
    rules = _version_rules("subject:1")
    assert event_versions(frame, rules).to_list() == [7, 1, 1, 1]


def test_infer_proposes_what_every_event_satisfies():
    env = envelope([
        b'{"fare": 9.5, "at": "2026-11-01T12:00:00Z", "note": null, "tags": ["a"]}',
        b'{"fare": 10, "at": "2026-11-01T12:00:01.5Z", "tags": [], "d": {"id": "x"}}',
    ])
    schema = ek.SchemaRegistry().infer(env)["trip_completed"]
    assert schema["required"] == ["fare", "at", "tags"]
    assert schema["properties"] == {
        "fare": {"type": "number"}, "at": {"type": "string", "format": "date-time"},
        "note": {}, "tags": {"type": "array", "items": {"type": "string"}},
        "d": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}
    reg = ek.SchemaRegistry()
    reg.register("trip_completed", schema)
    assert reg.check(env).height == 0


# -- the sample history: two payment versions, one table ---------------------------
@pytest.fixture(scope="module")
def sample() -> Iterator[tuple[pl.DataFrame, list[Decoded], Rules]]:
    yield load(), sample_batches(20_000), Rules.from_metadata(RULES)


def test_both_payment_versions_decode_into_one_table_through_an_upcaster(sample):
    _, parts, rules = sample
    reg = payments_registry()
    snapshot = reg.snapshot()
    events = ek.Events(combine([snapshot.apply(p, rules) for p in parts]))
    payments = events.of_type("payment_captured")
    assert payments.columns == ["seq", "subject", "time", "type", "key", "event_time",
                                "schema_version", "ride_id", "currency", "amount_cents",
                                "method"]
    assert payments.schema["amount_cents"] == pl.Int64
    # against the payloads themselves, one by one
    env = events.to_polars().join(payments.select("seq"), on="seq", how="semi")
    raw = {s: orjson.loads(d) for s, d in zip(env["seq"], env["data"], strict=True)}
    switch = payment_schema_switch(SHIPPED_ARGS["start"], SHIPPED_ARGS["days"])
    for row in payments.iter_rows(named=True):
        payload = raw[row["seq"]]
        if "schema_version" in payload:
            assert row["schema_version"] == 2 and row["event_time"] >= switch
            assert (row["amount_cents"], row["method"]) == (payload["amount_cents"],
                                                            payload["method"])
        else:
            assert row["schema_version"] == 1 and row["event_time"] < switch
            assert row["amount_cents"] == round(payload["amount"] * 100)
            assert row["method"] is None
    assert set(payments["schema_version"]) == {1, 2}
    # the same columns and types whatever slice of history is read
    shapes = {
        name: combine([snapshot.apply(p, rules) for p in chosen]).typed[
            "payment_captured"].schema
        for name, chosen in (("first", parts[:1]), ("last", parts[-1:]), ("all", parts))}
    assert shapes["first"] == shapes["last"] == shapes["all"]
    # the sample's payments all conform; violations would be listed, not dropped
    assert reg.check(events).height == 0


def test_an_event_upcaster_and_a_missing_step_carry_fields_over(sample):
    _, parts, rules = sample
    reg = payments_registry()
    reg._upcasters.clear()

    @reg.upcaster("payment_captured", 1, 2, per="event")
    def to_cents(v1: dict[str, Any]) -> dict[str, Any]:
        return {**v1, "amount_cents": round(v1["amount"] * 100), "method": "card"}

    one = combine([reg.snapshot().apply(p, rules) for p in parts]).typed["payment_captured"]
    v1 = one.filter(pl.col("schema_version") == 1)
    assert v1["method"].unique().to_list() == ["card"] and v1["amount_cents"].null_count() == 0
    reg._upcasters.clear()  # no upcaster: fields carry over by name, the rest is null
    bare = combine([reg.snapshot().apply(p, rules) for p in parts]).typed["payment_captured"]
    assert bare.filter(pl.col("schema_version") == 1)["amount_cents"].null_count() == v1.height
    assert bare.filter(pl.col("schema_version") == 1)["currency"].null_count() == 0


def test_an_upcaster_must_keep_its_rows(sample):
    _, parts, rules = sample
    reg = payments_registry()
    reg.upcaster("payment_captured", 1, 2)(lambda v1: v1.head(1))
    with pytest.raises(ek.ConfigurationError, match="one row per row it was given"):
        reg.snapshot().apply(parts[0], rules)


def test_the_sample_checks_clean_except_its_malformed_payloads_and_planted_faults(sample):
    _, parts, _ = sample
    events = ek.Events(combine(parts))
    reg = ek.SchemaRegistry()
    for event_type, versions in reg.infer(events, by_version=True).items():
        for _, schema in sorted(versions.items()):
            reg.register(event_type, schema, compatibility="NONE")
    env = events.to_polars()
    found = reg.check(env)
    malformed = env.filter(pl.col("error").is_not_null())
    assert found["seq"].to_list() == malformed["seq"].to_list()
    assert found["reason"].str.starts_with("payload did not decode").all()
    # plant faults in three trip_completed events: each is found, none is dropped
    trips = env.filter((pl.col("type") == "trip_completed") & pl.col("error").is_null())
    planted = trips["seq"].head(3).to_list()
    faults = {planted[0]: {"fare": "12.5"}, planted[1]: {"duration_s": 1.5},
              planted[2]: {"driver_id": None}}

    def plant(seq: int, data: bytes) -> bytes:
        return orjson.dumps({**orjson.loads(data), **faults[seq]}) if seq in faults else data

    changed = env.with_columns(pl.struct("seq", "data").map_elements(
        lambda r: plant(r["seq"], r["data"]), return_dtype=pl.Binary).alias("data"))
    found = reg.check(changed).filter(pl.col("seq").is_in(planted))
    assert found.select("seq", "path", "reason").rows() == [
        (planted[0], "fare", "expected number, got string"),
        (planted[1], "duration_s", "expected integer, got number"),
        (planted[2], "driver_id", "required field is missing or null"),
    ]
    assert changed.height == env.height


def test_versions_over_time_shows_the_switch(sample):
    _, parts, _ = sample
    counts = ek.SchemaRegistry().versions_over_time(ek.Events(combine(parts)), "6h",
                                                    on="event_time")
    payments = counts.filter(pl.col("type") == "payment_captured")
    switch = payment_schema_switch(SHIPPED_ARGS["start"], SHIPPED_ARGS["days"])
    assert payments.filter(pl.col("version") == 2)["window"].min() >= switch
    assert payments.filter(pl.col("version") == 1)["window"].max() < switch
    assert counts.columns == ["window", "type", "version", "count"]
    others = counts.filter(pl.col("type") != "payment_captured")
    assert others["version"].unique().to_list() == [1]


def test_reusing_the_decoders_tables_gives_what_parsing_again_gives(sample, monkeypatch):
    _, parts, rules = sample
    reg = ek.SchemaRegistry()
    events = ek.Events(combine(parts))
    for event_type, versions in reg.infer(events, by_version=True).items():
        for _, schema in sorted(versions.items()):
            reg.register(event_type, schema, compatibility="NONE")
    snapshot = reg.snapshot()
    reused = combine([snapshot.apply(p, rules) for p in parts]).typed
    monkeypatch.setattr(_snapshot, "_reuse", lambda *args: None)
    parsed = combine([snapshot.apply(p, rules) for p in parts]).typed
    assert reused.keys() == parsed.keys()
    for event_type, frame in parsed.items():
        assert reused[event_type].equals(frame), event_type
        assert reused[event_type].schema == frame.schema


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), datetime_docs())
def test_bulk_decoding_equals_decoding_one_event_at_a_time(data, doc):
    """Valid events decode to the same values whether their block parsed in bulk or, because
    an invalid neighbour spoiled it, one by one; invalid ones keep their row."""
    spec = parse_schema(doc)
    valid = data.draw(st.lists(valid_value(spec), min_size=1, max_size=12))
    spoilers = data.draw(st.lists(payloads_for(spec), max_size=4))
    events = valid + spoilers
    order = data.draw(st.permutations(range(len(events))))
    events = [events[i] for i in order]
    lines = Lines(pl.Series([json.dumps(e).encode() for e in events]))
    old = _json_lines._BLOCK, _json_lines._SMALL
    try:
        _json_lines._BLOCK, _json_lines._SMALL = 4, 1
        bulk = _json_decode.decode_lines(lines, spec)
    finally:
        _json_lines._BLOCK, _json_lines._SMALL = old
    one_by_one = _json_decode.coerce_payloads(events, spec)
    assert bulk.schema == one_by_one.schema == _json_types.arrow_schema(spec)
    assert bulk.height == len(events)
    keep = [row for row, i in enumerate(order) if i < len(valid)]
    assert bulk[keep].equals(one_by_one[keep])


def test_lines_with_top_level_values_of_the_wrong_type_are_set_aside_in_one_pass():
    spec = parse_schema({"type": "object", "properties": {
        "a": {"type": "number"}, "b": {"type": "string"}, "c": {"type": "integer"},
        "d": {"type": "boolean"}, "e": {"type": "object", "properties": {"x": {}}}}})
    good = b'{"a": 1.5, "b": "12", "c": 3, "d": true, "e": {"x": 1}}'
    faulty = {2: b'{"a": "1.5"}', 5: b'{"b": 12}', 6: b'{"c": 3.5}', 9: b'{"d": "true"}',
              11: b'{"e": [1]}', 12: b'{"z": {"b": "x"}, "b": 12}',
              13: b'{"b": "x", "z": {"b": 1}}'}
    payloads = [faulty.get(i, good) for i in range(15)]
    misfits = _json_lines._misfits(Lines(pl.Series(payloads)), spec)
    # in line 12 the first "b" is a nested one: a key seen twice is set aside, to be safe;
    # line 13 holds a string in its top-level "b", which a strict parse proves
    assert misfits.to_list() == [2, 5, 6, 9, 11, 12]
    assert validate_lines(Lines(pl.Series(payloads)), spec)["row"].to_list() == [
        2, 5, 6, 9, 11, 12]


# -- keywords with no column of their own: unions, negation, references, ... -------------
MONEY = {"type": "object", "required": ["amount"], "properties": {
    "amount": {"type": "number"}, "currency": {"enum": ["EUR", "USD"]}}}
KEYWORD_FIELDS = [
    {"anyOf": [{"type": "string"}, {"type": "null"}]},
    {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 1}]},
    {"oneOf": [{"const": "a"}, {"const": "b"}]},
    {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    {"anyOf": [{"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
               {"type": "array"}]},
    {"oneOf": [{"type": "string", "minLength": 2}, {"type": "string", "pattern": "^a"}]},
    {"not": {"type": "string"}},
    {"type": "string", "not": {"const": "x"}},
    {"$ref": "#/$defs/money"},
    {"type": ["object", "null"], "allOf": [{"$ref": "#/$defs/money"},
                                           {"properties": {"note": {"type": "string"}}}]},
    {"allOf": [{"type": "integer", "minimum": 0}, {"maximum": 3}]},
    {"enum": [1, "a", None, {"k": 1}, [1]]},
    {"const": {"k": [1, 2]}},
    {"type": "array", "uniqueItems": True, "items": {"type": "integer"}},
    {"type": "integer", "multipleOf": 2},
    {"type": "number", "multipleOf": 0.5},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}},
     "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
     "dependentRequired": {"a": ["b"]}},
    {"type": "object", "minProperties": 1, "maxProperties": 2},
    {"type": ["string", "integer", "null"]},
]
KEYWORD_VALUES = st.sampled_from([
    None, True, False, 0, 1, 2, 3, -1, 1.5, 2.5, "a", "b", "x", "ab", "ba", "", "EUR",
    {"x": 1}, {"x": "1"}, {"amount": 5, "currency": "EUR"}, {"amount": "5"}, {"currency": "GBP"},
    {"amount": 1.5, "note": "n"}, {"amount": 1, "note": 3}, {"k": 1}, {"k": [1, 2]},
    [1], [1, 1], [1, 2], [1, True], [], {"xa": 1}, {"xb": "s"}, {"y": 1}, {"a": "s"},
    {"a": "s", "b": "t"}, {"a": None}, {}, {"p": 1, "q": 2, "r": 3},
])


@st.composite
def keyword_docs(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["f", "g", "h"]), min_size=1, max_size=3,
                          unique=True))
    props = {n: draw(st.sampled_from(KEYWORD_FIELDS)) for n in names}
    doc: dict[str, Any] = {"type": "object", "$defs": {"money": MONEY}, "properties": props}
    required = [n for n in names if draw(st.booleans())]
    if required:
        doc["required"] = required
    top = draw(st.integers(0, 5))
    if top == 0:
        doc["dependentRequired"] = {names[0]: ["g"] if names[0] != "g" else ["h"]}
        doc["properties"].setdefault("g", {})
        doc["properties"].setdefault("h", {})
    elif top == 1:
        doc["patternProperties"] = {"^z": {"type": "integer"}}
    return doc


@st.composite
def keyword_payloads(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    names = [*doc["properties"], "z1", "zz"]
    return {n: draw(KEYWORD_VALUES) for n in draw(st.lists(st.sampled_from(names),
                                                           max_size=4, unique=True))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), keyword_docs())
def test_new_keywords_agree_with_jsonschema_and_both_paths_agree(data, doc):
    spec = parse_schema(doc)
    oracle = jsonschema.Draft202012Validator(doc)
    events = data.draw(st.lists(keyword_payloads(doc), min_size=1, max_size=12))
    for event in events:
        assert oracle.is_valid(event) == (not event_violations(event, spec)), (
            doc, event, event_violations(event, spec))
    lines = Lines(pl.Series([json.dumps(e).encode() for e in events]))
    expected = sorted((i, path, reason) for i, e in enumerate(events)
                      for path, reason in event_violations(e, spec))
    assert validate_lines(lines, spec).rows() == expected
    decoded = _json_decode.decode_lines(lines, spec)
    assert decoded.columns == list(doc["properties"]) and decoded.height == len(events)


def test_unions_and_enums_get_their_arrow_shape():
    spec = parse_schema({"type": "object", "$defs": {"money": MONEY}, "properties": {
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "side": {"oneOf": [{"const": "buy"}, {"const": "sell"}]},
        "n": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 1}]},
        "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "price": {"$ref": "#/$defs/money"},
        "small": {"allOf": [{"type": "integer", "minimum": 0}, {"maximum": 3}]}}})
    assert _json_types.arrow_schema(spec) == {
        "note": pl.String(), "side": pl.Enum(["buy", "sell"]), "n": pl.Float64(),
        "any": pl.String(),  # enums are dictionaries (Enum), nested ones too
        "price": pl.Struct({"amount": pl.Float64(), "currency": pl.Enum(["EUR", "USD"])}),
        "small": pl.Int64()}
    fields = spec.fields
    assert fields["note"].nullable and not fields["note"].per_event  # a nullable string
    assert fields["side"].enum == ("buy", "sell") and not fields["side"].per_event
    assert fields["small"].minimum == (0, False) and fields["small"].maximum == (3, False)


def test_an_integral_number_is_an_integer_on_both_paths():
    """JSON Schema counts 5.0 as an integer; the bulk path did, the per-event one did not."""
    spec = parse_schema({"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "integer"}}}})
    for event, bad in [({"a": 5.0}, []), ({"b": [5.0]}, []),
                       ({"a": 5.5}, [("a", "expected integer, got number")])]:
        assert event_violations(event, spec) == bad
        rows = validate_lines(Lines(pl.Series([json.dumps(event).encode()])), spec).rows()
        assert [(p, r) for _, p, r in rows] == bad
        assert jsonschema.Draft202012Validator(
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {
                "type": "array", "items": {"type": "integer"}}}}).is_valid(event) == (not bad)


def test_a_date_time_outside_the_nanosecond_range_has_the_same_reason_on_both_paths():
    spec = parse_schema({"type": "object", "properties": {
        "d": {"type": "string", "format": "date-time"}}})
    events = [{"d": "1500-01-01T00:00:00Z"}, {"d": "2026-01-01T00:00:00Z"}]
    rows = validate_lines(Lines(pl.Series([json.dumps(e).encode() for e in events])),
                          spec).rows()
    assert rows == [(0, path, reason) for path, reason in event_violations(events[0], spec)]
    assert "outside the range" in rows[0][2]
