"""The bulk decoder against a one-message-at-a-time oracle."""

from __future__ import annotations

import datetime as dt
import itertools
from unittest.mock import patch

import orjson
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventkit import codec
from eventkit.codec import Hints, combine, decode
from eventkit.envelope import ENVELOPE_SCHEMA, Rules

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(max_size=12))
good_payloads = st.fixed_dictionaries(
    {"type": st.sampled_from(["a_happened", "b_happened", "c_happened"]),
     "key": st.sampled_from(["k1", "k2", "k3"])},
    optional={"n": st.integers(0, 1000), "x": st.floats(-1e6, 1e6, allow_nan=False),
              "s": st.text(max_size=8), "event_time": st.just("2026-11-01T12:00:00.250Z")},
).map(orjson.dumps)
bad_payloads = st.sampled_from([
    b"", b"   ", b"{", b'{"type": "a_happened"', b"[1, 2]", b"42", b'"text"', b"null",
    b"\xff\xfe{}", b'{"type":"a_happened","s":"caf\xe9"}', b"{\n}", b'{"type":\n"b_happened"}',
    b"\r\n",
])
payloads = st.lists(st.one_of(good_payloads, good_payloads, good_payloads, bad_payloads),
                    max_size=60)


def _oracle_error(raw: bytes) -> bool:
    try:
        return not isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return True


def _batch(items: list[bytes], first_seq: int = 1):
    n = len(items)
    seq = pl.Series(range(first_seq, first_seq + n), dtype=pl.UInt64)
    time = pl.Series([T0 + dt.timedelta(seconds=i) for i in range(n)],
                     dtype=pl.Datetime("ns", "UTC"))
    subjects = [f"ev.x.{(first_seq + i - 1) % 3}".encode() for i in range(n)]
    return seq, time, subjects, [None] * n, items


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads)
def test_every_message_is_kept_and_flagged_exactly_when_it_does_not_decode(items):
    out = decode(*_batch(items), Rules())
    env = out.envelope
    assert env.schema == pl.Schema(ENVELOPE_SCHEMA)
    assert env.height == len(items)
    assert env["data"].to_list() == items  # raw bytes, exactly
    flagged = env["error"].is_not_null().to_list()
    assert flagged == [_oracle_error(p) for p in items]
    for row, raw in zip(env.iter_rows(named=True), items, strict=True):
        if row["error"] is None:
            payload = orjson.loads(raw)
            assert row["type"] == payload.get("type", row["subject"].rsplit(".", 1)[1])
            assert row["key"] == payload.get("key")
            if "event_time" in payload:
                assert row["event_time"] == dt.datetime(2026, 11, 1, 12, 0, 0, 250000,
                                                        tzinfo=dt.UTC)
        else:  # falls back to the subject's last token for the type
            assert row["type"] == row["subject"].rsplit(".", 1)[1]
            assert row["key"] is None


@settings(max_examples=100, deadline=None)
@given(payloads, st.integers(1, 5), st.booleans())
def test_typed_tables_match_per_message_decoding(items, pieces, learn):
    cut = [len(items) * i // pieces for i in range(pieces + 1)]
    hints = Hints() if learn else None  # what batches teach the next, or not
    parts = [decode(*_batch(items[a:b], first_seq=a + 1), Rules(), hints=hints)
             for a, b in itertools.pairwise(cut)]
    out = combine(parts)
    assert out.envelope["seq"].to_list() == list(range(1, len(items) + 1))
    expected: dict[str, list[tuple[int, dict]]] = {}
    for seq, raw in enumerate(items, start=1):
        if not _oracle_error(raw):
            payload = orjson.loads(raw)
            by_subject = str((seq - 1) % 3)
            expected.setdefault(payload.get("type", by_subject), []).append((seq, payload))
    assert set(out.typed) == set(expected)
    for event_type, rows in expected.items():
        table = out.typed[event_type]
        assert table["seq"].to_list() == [s for s, _ in rows]
        for got, (_, payload) in zip(table.iter_rows(named=True), rows, strict=True):
            for name in ("n", "x", "s"):
                if name in payload and payload[name] is not None:
                    value = got[name]
                    assert value == payload[name] or abs(value - payload[name]) < 1e-6


# A field whose JSON kind (and so column type) varies from batch to batch.
drifting = st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["a", "b"]), "key": st.just("k")},
    optional={"v": st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                             st.floats(-5, 5, allow_nan=False), st.text(max_size=3),
                             st.fixed_dictionaries({}, optional={"x": st.integers(0, 3),
                                                                 "y": st.text(max_size=2)}),
                             st.lists(st.integers(0, 3), max_size=2)),
              "w": st.integers(0, 9)},
).map(orjson.dumps), max_size=40)


@settings(max_examples=200, deadline=None)
@given(drifting, st.integers(2, 6))
def test_schemas_learned_from_earlier_batches_change_nothing(items, pieces):
    """A new field, a new nested field or a field changing kind in a later batch
    reads as if every batch had been inferred on its own."""
    cut = [len(items) * i // pieces for i in range(pieces + 1)]
    hints = Hints()
    learned, inferred = [], []
    for a, b in itertools.pairwise(cut):
        learned.append(decode(*_batch(items[a:b], first_seq=a + 1), Rules(), hints=hints))
        inferred.append(decode(*_batch(items[a:b], first_seq=a + 1), Rules()))
    got, want = combine(learned), combine(inferred)
    assert set(got.typed) == set(want.typed)
    for name, table in want.typed.items():
        mine = got.typed[name]
        assert sorted(mine.columns) == sorted(table.columns), name
        assert mine.select(table.columns).equals(table), name


@settings(max_examples=200, deadline=None)
@given(drifting.filter(lambda items: len(items) > 4))
def test_a_schema_inferred_from_a_types_first_lines_changes_nothing(items):
    """A type's first lines (here: about two) tell the schema the rest is read with;
    a rest that has more reads as if all had been inferred (the old way, _HEAD past all)."""
    with patch.object(codec, "_HEAD", 40):
        head = decode(*_batch(items), Rules())
    with patch.object(codec, "_HEAD", 1 << 40):
        whole = decode(*_batch(items), Rules())
    assert head.envelope.equals(whole.envelope)
    assert set(head.typed) == set(whole.typed)
    for name, table in whole.typed.items():
        assert head.typed[name].equals(table), name


typed_by_subject = st.lists(st.tuples(
    st.sampled_from(["a", "b", "c"]),          # the event type
    st.integers(0, 8),                         # 0: a subject that lies about the type
    st.one_of(st.none(), st.integers(0, 9), st.text(max_size=3)),
    st.integers(0, 9).map(lambda x: x == 0),   # a malformed payload, now and then
), max_size=80)


@settings(max_examples=200, deadline=None)
@given(typed_by_subject, st.integers(1, 6))
def test_types_told_by_subjects_decode_as_the_general_way(items, pieces):
    """Subjects ending in the type (as the sample's do) let later batches skip the
    rule-field pass; a subject that once carries another type, a payload that is
    not JSON, a rule field that is not text: each still decodes exactly."""
    payloads, subjects = [], []
    for kind, lie, value, broken in items:
        body = {"type": kind, "key": value if isinstance(value, str) else "k", "v": value,
                f"{kind}_only": 1}  # each type has a field of its own
        bad = b'{"type":}' if lie % 2 else b'{"type":'  # the first gets past the cheap checks
        payloads.append(bad if broken else orjson.dumps(body))
        subjects.append(f"ev.{'c' if lie == 0 else kind}".encode())
    cut = [len(items) * i // pieces for i in range(pieces + 1)]
    hints = Hints()
    learned, inferred = [], []
    for a, b in itertools.pairwise(cut):
        seq, time, _, heads, _ = _batch(payloads[a:b], first_seq=a + 1)
        batch = (seq, time, subjects[a:b], heads, payloads[a:b])
        learned.append(decode(*batch, Rules(), hints=hints))
        inferred.append(decode(*batch, Rules()))
        assert learned[-1].envelope.equals(inferred[-1].envelope)
    fast, general = combine(learned), combine(inferred)
    assert fast.typed.keys() == general.typed.keys()
    for name, table in general.typed.items():
        assert fast.typed[name].columns == table.columns, name  # no field of another type
        assert fast.typed[name].equals(table), name


def test_the_subject_way_is_taken_once_subjects_are_known():
    items = [b'{"type":"a","key":"k1","n":1}', b'{"type":"b","key":"k2"}']
    hints = Hints()

    def batch(first: int, subjects: list[bytes]):
        seq, time, _, heads, _ = _batch(items, first_seq=first)
        return seq, time, subjects, heads, items

    decode(*batch(1, [b"ev.a", b"ev.b"]), Rules(), hints=hints)
    assert hints.types == {"ev.a": "a", "ev.b": "b"} and hints.by_subject == 0
    short = decode(*batch(3, [b"ev.a", b"ev.b"]), Rules(), hints=hints)
    assert hints.by_subject == 1
    general = decode(*batch(3, [b"ev.a", b"ev.b"]), Rules())
    assert short.envelope.equals(general.envelope)
    assert short.typed["a"].to_dicts() == [{"seq": 3, "n": 1}]
    lying = decode(*batch(5, [b"ev.b", b"ev.b"]), Rules(), hints=hints)  # "a" on ev.b
    assert hints.by_subject == 1 and hints.types["ev.b"] is None
    assert lying.typed["a"].to_dicts() == [{"seq": 5, "n": 1}]


def test_rule_fields_that_are_not_text_stop_the_subject_way():
    hints = Hints()
    items = [b'{"type":"a","id":7}'] * 3  # the default key rule reads field:id, a number
    for first in (1, 4, 7):
        seq, time, _, heads, _ = _batch(items, first_seq=first)
        out = decode(seq, time, [b"ev.a"] * 3, heads, items, Rules(), hints=hints)
        assert out.envelope["key"].to_list() == ["7"] * 3
    assert not hints.enabled and hints.by_subject == 0


def test_an_integer_past_int64_decodes():
    items = [b'{"type":"a","big":9223372036854775808}', b'{"type":"a","big":1}']
    hints = Hints()
    for first in (1, 3):
        out = decode(*_batch(items, first_seq=first), Rules(), hints=hints)
        assert out.typed["a"].height == 2 and out.envelope["error"].null_count() == 2


def test_subjects_with_entity_ids_stop_the_learning_of_types():
    hints = Hints(max_subjects=50)
    for first in range(1, 400, 100):  # every event its own subject
        items = [b'{"type":"a","key":"k"}'] * 100
        seq, time, _, heads, _ = _batch(items, first_seq=first)
        subjects = [f"ev.{first + i}".encode() for i in range(100)]
        out = decode(seq, time, subjects, heads, items, Rules(), hints=hints)
        assert out.typed["a"].height == 100
    assert len(hints.types) <= 1 and not any(hints.types.values())


def test_a_later_batch_with_a_new_field_or_kind_is_read_whole():
    hints = Hints()
    first = decode(*_batch([b'{"type":"a","key":"k","v":1}']), Rules(), hints=hints)
    later = decode(*_batch([b'{"type":"a","key":"k","v":2.5,"extra":{"deep":true}}'],
                           first_seq=2), Rules(), hints=hints)
    assert first.typed["a"].schema["v"] == pl.Int64
    assert later.typed["a"].to_dicts() == [{"seq": 2, "v": 2.5, "extra": {"deep": True}}]
    again = decode(*_batch([b'{"type":"a","key":"k","v":3,"extra":{"deep":false}}'],
                           first_seq=3), Rules(), hints=hints)  # the learned schema fits
    assert again.typed["a"].to_dicts() == [{"seq": 3, "v": 3.0, "extra": {"deep": False}}]


def test_fields_of_one_type_never_clash_with_another():
    items = [b'{"type":"a","key":"k","v":{"x":1}}', b'{"type":"b","key":"k","v":"text"}',
             b'{"type":"c","key":"k","v":3}']
    out = decode(*_batch(items), Rules())
    assert out.typed["a"].schema["v"] == pl.Struct({"x": pl.Int64})
    assert out.typed["b"].schema["v"] == pl.String
    assert out.typed["c"].schema["v"] == pl.Int64


def test_integers_of_one_type_stay_integers_beside_decimals_of_another():
    items = [b'{"type":"a","key":"k","v":1}', b'{"type":"b","key":"k","v":2.5}',
             b'{"type":"c","key":"k","v":"3"}', b'{"type":"d","key":"k","w":"x"}',
             b'{"type":"d","key":"k","w":"y"}']
    out = decode(*_batch(items), Rules())
    assert out.typed["a"].schema["v"] == pl.Int64
    assert out.typed["b"].schema["v"] == pl.Float64
    assert out.typed["c"].schema["v"] == pl.String
    assert out.typed["d"].columns == ["seq", "w"]


def test_a_type_whose_field_changes_json_kind_reads_as_text():
    items = [b'{"type":"a","key":"k","v":{"x":1}}', b'{"type":"a","key":"k","v":3}']
    table = decode(*_batch(items), Rules()).typed["a"]
    assert [orjson.loads(v) for v in table["v"]] == [{"x": 1}, 3]


def test_batches_with_different_field_types_combine():
    one = decode(*_batch([b'{"type":"a","key":"k","v":1}']), Rules())
    two = decode(*_batch([b'{"type":"a","key":"k","v":2.5,"w":"new"}'], 2), Rules())
    three = decode(*_batch([b'{"type":"a","key":"k","v":"x"}'], 3), Rules())
    table = combine([one, two, three]).typed["a"]
    # a field that held decimals writes its numbers as decimals, however batches were cut
    assert table["v"].to_list() == ["1.0", "2.5", "x"]
    assert table["w"].to_list() == [None, "new", None]


def test_rules_from_headers_subjects_and_fields():
    rules = Rules(type="header:ce-type,subject:1", key="subject:2", event_time="header:ce-time")
    seq, time, _, _, _ = _batch([b"{}", b"{}"])
    out = decode(seq, time, [b"orders.created.o-1", b"orders.paid.o-2"],
                 [b"NATS/1.0\r\nce-type: order_created\r\nce-time: 2026-11-01T10:00:00Z\r\n\r\n",
                  None],
                 [b'{"total": 5}', b'{"total": 7}'], rules)
    env = out.envelope
    assert env["type"].to_list() == ["order_created", "paid"]
    assert env["key"].to_list() == ["o-1", "o-2"]
    assert env["event_time"].to_list() == [dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC), None]
    assert env["headers"].to_list()[0] == (
        '{"ce-type":"order_created","ce-time":"2026-11-01T10:00:00Z"}')


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=6), st.text(max_size=4).map(str.encode)),
                max_size=40), st.integers(1, 7))
def test_lines_that_are_not_utf8_are_found_piece_by_piece(lines, piece):
    from eventkit.codec import _not_utf8

    lines = [line.replace(b"\n", b"") for line in lines]
    joined = b"\n".join([*lines, b""])
    ends = pl.Series([len(x) + 1 for x in lines], dtype=pl.Int64).cum_sum()

    def bad(line: bytes) -> bool:
        try:
            line.decode("utf-8")
            return False
        except UnicodeDecodeError:
            return True

    assert _not_utf8(joined, ends, piece=piece) == [i for i, x in enumerate(lines) if bad(x)]

