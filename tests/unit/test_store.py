"""The store's parts: state, names, disk types, gap arithmetic, report queries, kills, evolution."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventkit as ek
from eventkit.envelope import ENVELOPE_SCHEMA, Rules
from eventkit.source.jetstream import RawBatch
from eventkit.store import State, Store, type_dir
from eventkit.store._disk import from_disk, to_disk
from eventkit.store._writer import Writer
from eventkit.store.gaps import classify_gaps, missing_ranges, subtract_ranges
from eventkit.store.integrity import duplicate_msg_ids, late_events
from eventkit.store.table import Tables

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _raw(seqs: list[int], payloads: list[bytes] | None = None) -> RawBatch:
    n = len(seqs)
    payloads = payloads or [b'{"type":"t%d","key":"k%d","n":%d}' % (s % 3, s % 5, s)
                            for s in seqs]
    return RawBatch(pl.Series(seqs, dtype=pl.UInt64),
                    pl.Series([T0] * n).cast(pl.Datetime("ns", "UTC")),
                    [b"ev.x"] * n, {}, payloads)


def _ranges(seqs: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(seqs):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


# -- names and the checkpoint -------------------------------------------------
@given(st.text(max_size=20))
def test_type_dirs_are_safe_and_one_to_one(name):
    d = type_dir(name)
    assert d and all(c.isascii() and (c.isalnum() or c in "-_%") for c in d)
    assert not d.startswith(("_", "."))
    assert _undo(d) == name  # so two names never share a directory


def _undo(d: str) -> str:
    if d == "%":
        return ""
    out, i = bytearray(), 0
    while i < len(d):
        if d[i] == "%":
            out.append(int(d[i + 1:i + 3], 16))
            i += 3
        else:
            out += d[i].encode()
            i += 1
    return out.decode()


def test_state_round_trips_and_holds_no_secret():
    st = State("RIDES", ("rides.>",), Rules(key="field:ride_id"), 0)
    st = st.advanced(10, events=9, types={"a": 5, "b": 4}, gaps=1).advanced(20, events=10,
                                                                           types={"a": 10})
    assert State.from_json(st.to_json()) == st
    data = json.loads(st.to_json())
    assert (data["last_seq"], data["events"], data["types"], data["gaps"]) == (
        20, 19, {"a": 15, "b": 4}, 1)
    assert set(data) == {"format", "stream", "stream_created", "subjects", "rules", "last_seq",
                         "events", "gaps", "misfits", "types"}


@pytest.mark.parametrize("text, match", [
    ("{not json", "not readable"),
    ('{"format": 99}', "format 99"),
    ('{"format": 2, "stream": "S"}', "not readable"),
])
def test_a_damaged_state_is_a_clear_error(text, match):
    with pytest.raises(ek.StoreError, match=match):
        State.from_json(text)


@given(st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=20))
def test_disk_types_round_trip_to_the_nanosecond(ns):
    frame = pl.DataFrame({"seq": pl.Series(range(len(ns)), dtype=pl.UInt64),
                          "time": pl.Series(ns).cast(pl.Datetime("ns", "UTC"))})
    disk = to_disk(frame)
    assert disk.schema == pl.Schema({"seq": pl.Int64, "time": pl.Datetime("us", "UTC"),
                                     "time_ns": pl.Int64})
    assert from_disk(disk.lazy()).collect().equals(frame)


# -- gap arithmetic ---------------------------------------------------------------
@given(st.sets(st.integers(1, 60)), st.integers(1, 30), st.integers(0, 70))
def test_missing_ranges_are_the_complement(held, lo, hi):
    seqs = pl.Series(sorted(held), dtype=pl.UInt64)
    assert missing_ranges(seqs, lo, hi) == _ranges(set(range(lo, hi + 1)) - held)


@given(st.sets(st.integers(1, 60)), st.integers(1, 40), st.sets(st.integers(1, 60)))
def test_classify_gaps_explains_every_missing_sequence_once(missing, first, deleted):
    deleted = {d for d in deleted if d >= first}
    out = classify_gaps(_ranges(missing), first, sorted(deleted))
    assert out.schema == pl.Schema({"first_seq": pl.UInt64, "last_seq": pl.UInt64,
                                    "messages": pl.UInt64, "reason": pl.String})
    seen: dict[int, str] = {}
    for a, b, n, reason in out.iter_rows():
        assert n == b - a + 1
        for s in range(a, b + 1):
            assert s not in seen
            seen[s] = reason
    assert set(seen) == missing
    for s, reason in seen.items():
        want = ("purged or expired" if s < first else "deleted" if s in deleted else "unknown")
        assert reason == want


@given(st.sets(st.integers(0, 50)), st.sets(st.integers(0, 50)))
def test_subtract_ranges(a, b):
    assert subtract_ranges(_ranges(a), _ranges(b)) == _ranges(a - b)




@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.integers(0, 20)),
                max_size=40))
def test_late_events_against_a_per_event_oracle(rows):
    env = pl.LazyFrame({
        "seq": pl.Series(range(1, len(rows) + 1), dtype=pl.UInt64),
        "key": [k for k, _ in rows], "type": ["x"] * len(rows),
        "event_time": pl.Series([T0 + dt.timedelta(seconds=m) for _, m in rows],
                                dtype=pl.Datetime("ns", "UTC")),
    })
    latest: dict[str, dt.datetime] = {}
    want = []
    for seq, (key, m) in enumerate(rows, start=1):
        t = T0 + dt.timedelta(seconds=m)
        if key is None:
            continue
        if key in latest and t < latest[key]:
            want.append((seq, key, latest[key] - t))
        latest[key] = max(latest.get(key, t), t)
    got = late_events(env).select("seq", "key", "lateness").collect().rows()
    assert got == want


def test_duplicate_msg_ids():
    env = pl.LazyFrame({
        "seq": pl.Series([1, 2, 3, 4, 5], dtype=pl.UInt64),
        "headers": ['{"Nats-Msg-Id": "b"}', '{"Nats-Msg-Id": "a"}', None,
                    '{"Nats-Msg-Id": "a", "x": "1"}', '{"Nats-Msg-Id": "b"}'],
    })
    assert duplicate_msg_ids(env).collect().rows() == [("b", 2, [1, 5]), ("a", 2, [2, 4])]


# -- writing and recovering, without a server ---------------------------------------------
def test_an_empty_store_scans_as_an_empty_envelope(tmp_path):
    store = Store(tmp_path / "nothing")
    assert store.scan().collect().schema == pl.Schema(ENVELOPE_SCHEMA)
    assert len(store) == 0 and store.last_seq == 0 and store.state() is None
    with pytest.raises(ek.StoreError, match="empty"):
        store.integrity()


def _writer(path, last: int = 0) -> Writer:
    tables = Tables(path)
    state = tables.state() or State("S", (), Rules(), 0)
    return Writer(tables, state, tables.open(tables.envelope))


def test_a_sync_killed_before_its_envelope_commit_leaves_nothing_visible(tmp_path, monkeypatch):
    _writer(tmp_path).append(_raw(list(range(1, 11))), 1, 10, None)
    # killed after the type tables of the next batch were committed, before the envelope's
    real = Tables.append

    def append(self, target, frame, stream, last_seq, state=None, **kw):
        if state is not None:
            raise OSError("killed")
        return real(self, target, frame, stream, last_seq, state, **kw)

    monkeypatch.setattr(Tables, "append", append)
    with pytest.raises(OSError):
        _writer(tmp_path).append(_raw(list(range(11, 21))), 11, 20, None)
    monkeypatch.undo()
    store = Store(tmp_path)
    assert store.last_seq == 10
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 11))
    typed = pl.concat([store.of_type(t).select("seq").collect() for t in store.types])
    assert sorted(typed["seq"].to_list()) == list(range(1, 11))  # 11..20 invisible
    on_disk = pl.concat([pl.read_delta(str(p)).select("seq")
                         for p in (tmp_path / "types").iterdir()])
    assert on_disk.height == 20  # ... though on disk until the next writer
    # the next writer trims them and writes the batch again: once
    _writer(tmp_path).append(_raw(list(range(11, 21))), 11, 20, None)
    typed = pl.concat([store.of_type(t).select("seq").collect() for t in store.types])
    assert sorted(typed["seq"].to_list()) == list(range(1, 21))
    on_disk = pl.concat([pl.read_delta(str(p)).select("seq")
                         for p in (tmp_path / "types").iterdir()])
    assert sorted(on_disk["seq"].to_list()) == list(range(1, 21))


def test_a_writer_never_writes_past_a_failed_batch(tmp_path):
    writer = _writer(tmp_path)
    with pytest.raises(ek.StoreError, match="not in sequence order"):
        writer.append(_raw([2, 1]), 1, 2, None)
    with pytest.raises(ek.StoreError, match="earlier batch failed"):
        writer.append(_raw([1, 2]), 1, 2, None)
    assert Store(tmp_path).state() is None


def test_a_value_that_does_not_fit_its_column_is_flagged_never_widened(tmp_path):
    writer = _writer(tmp_path)
    writer.append(_raw([1, 2], [b'{"type":"p","key":"a","amount":1.5,"note":"x"}',
                               b'{"type":"p","key":"b","amount":2,"note":"y"}']), 1, 2, None)
    writer.append(_raw([3, 4, 5], [
        b'{"type":"p","key":"c","amount_cents":300,"method":"card","amount":3}',
        b'{"type":"p","key":"d","amount":"n/a","note":{"a":1}}',
        b'{"type":"p","key":"e","amount":4.25}']), 3, 5, None)
    store = Store(tmp_path)
    got = store.of_type("p").collect()
    assert got.columns == ["seq", "subject", "time", "type", "key", "event_time", "amount",
                           "note", "amount_cents", "method"]
    assert got.schema["amount"] == pl.Float64 and got.schema["note"] == pl.String
    assert got["amount"].to_list() == [1.5, 2.0, 3.0, None, 4.25]
    assert got["note"].to_list() == ["x", "y", None, None, None]
    assert got["amount_cents"].to_list() == [None, None, 300, None, None]
    assert store.misfits().rows() == [(4, "p", "amount", "Float64", "string"),
                                      (4, "p", "note", "String", "object")]
    raw = store.scan().filter(pl.col("seq") == 4).collect()["data"][0]
    assert b'"n/a"' in raw  # kept as it came
    report = store.integrity()
    assert report.misfits.height == 2 and "p.amount: 1 string in a Float64 column" in str(report)
    with pytest.raises(ek.StoreError, match="types present: p"):
        store.of_type("q")


def test_a_type_rule_that_yields_many_types_says_which_rule(tmp_path, monkeypatch):
    import eventkit.store._writer as writer_module

    monkeypatch.setattr(writer_module, "MANY_TYPES", 5)
    writer = _writer(tmp_path)
    payloads = [b'{"key":"k","n":%d}' % i for i in range(8)]
    raw = _raw(list(range(1, 9)), payloads)
    raw = type(raw)(raw.seq, raw.time, [b"ev.ride-%d" % i for i in range(8)], {}, payloads)
    writer.append(raw, 1, 8, None)
    writer.append(_raw([9], [b'{"key":"k"}']), 9, 9, None)
    (note,) = writer.result(0.0).notes  # said once
    assert "8 event types" in note and "type rule" in note and "Rules(type=" in note


def test_a_run_the_stream_does_not_explain_is_not_a_gap():
    from eventkit.store.sync import _until_unknown

    raw = _raw([1, 2, 3, 7, 8])
    found = classify_gaps([(4, 6)], first_seq=1, deleted=[4])
    part, hi, gaps, short = _until_unknown(raw, 0, found)
    assert part is not None and part.seq.to_list() == [1, 2, 3]
    assert hi == 4 and gaps.rows() == [(4, 4, 1, "deleted")] and short == (5, 6)
    explained = classify_gaps([(4, 6)], first_seq=1, deleted=[4, 5, 6])
    assert _until_unknown(raw, 0, explained)[1:] == (8, explained, None)
