"""The store's pure parts: checkpoint, names, gap arithmetic, report queries, crash recovery."""

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
from eventkit.store import (
    Checkpoint,
    Segment,
    Store,
    _Writer,
    classify_gaps,
    duplicate_msg_ids,
    late_events,
    missing_ranges,
    plan_compaction,
    subtract_ranges,
    type_dir,
)

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _raw(seqs: list[int], payloads: list[bytes] | None = None) -> RawBatch:
    n = len(seqs)
    payloads = payloads or [b'{"type":"t%d","key":"k%d","n":%d}' % (s % 3, s % 5, s)
                            for s in seqs]
    return RawBatch(pl.Series(seqs, dtype=pl.UInt64),
                    pl.Series([T0] * n).cast(pl.Datetime("ns", "UTC")),
                    [b"ev.x"] * n, [None] * n, payloads)


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


def test_checkpoint_round_trips_and_holds_no_secret():
    cp = Checkpoint("RIDES", ("rides.>",), Rules(key="field:ride_id"), 0)
    cp = cp.add(Segment(1, 10, 9, {"a": 5, "b": 4}, 1)).add(Segment(11, 20, 10, {"a": 10}))
    text = cp.to_json()
    assert Checkpoint.from_json(text) == cp
    data = json.loads(text)
    assert (data["last_seq"], data["first_seq"], data["events"], data["types"]) == (
        20, 1, 19, {"a": 15, "b": 4})
    assert set(data) == {"format", "stream", "stream_created", "subjects", "rules", "last_seq",
                         "first_seq", "events", "gaps", "types", "segments", "updated_at"}


def test_a_segment_must_follow_the_checkpoint():
    cp = Checkpoint("S", (), Rules(), 10)
    with pytest.raises(ek.StoreError, match="does not follow sequence 10"):
        cp.add(Segment(12, 20, 9))
    with pytest.raises(ek.StoreError, match="does not follow"):
        cp.add(Segment(5, 20, 9))


@pytest.mark.parametrize("text, match", [
    ("{not json", "not a readable eventkit checkpoint"),
    ('{"format": 99}', "format 99"),
    ('{"format": 1, "stream": "S"}', "not a readable eventkit checkpoint"),
])
def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, text, match):
    (tmp_path / "checkpoint.json").write_text(text)
    with pytest.raises(ek.StoreError, match=match):
        Store(tmp_path).scan()


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


@given(st.lists(st.integers(0, 30), max_size=25), st.sampled_from([None, 5, 20]))
def test_plan_compaction_merges_consecutive_runs_within_the_target(sizes, below):
    segs, lo = [], 1
    for n in sizes:
        segs.append(Segment(lo, lo + n, n))
        lo += n + 1
    runs = plan_compaction(segs, 40, below)
    flat = [s for run in runs for s in run]
    assert len(flat) == len({s.lo for s in flat})
    for run in runs:
        assert len(run) >= 2 and sum(s.events for s in run) <= 40
        assert below is None or all(s.events < below for s in run)
        i = segs.index(run[0])
        assert segs[i:i + len(run)] == run


# -- what the report is made of -------------------------------------------------------
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
    got = late_events(env).select("seq", "key", "late_by").collect().rows()
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
    assert len(store) == 0 and store.last_seq == 0 and store.checkpoint() is None
    with pytest.raises(ek.StoreError, match="empty"):
        store.integrity()


def test_files_past_the_checkpoint_are_removed_on_reopening(tmp_path, monkeypatch):
    writer = _Writer(tmp_path, Checkpoint("S", (), Rules(), 0))
    writer.append(_raw(list(range(1, 11))), 1, 10, None)
    # a process killed after writing the next batch's files, before its checkpoint
    monkeypatch.setattr(_Writer, "commit", lambda self, cp: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        writer.append(_raw(list(range(11, 21))), 11, 20, None)
    monkeypatch.undo()
    (tmp_path / "envelope" / ".part-00000000000000000021-00000000000000000030.parquet.tmp"
     ).write_bytes(b"half")
    (tmp_path / ".checkpoint.json.tmp").write_text("{")
    (tmp_path / "envelope" / "notes.txt").write_text("mine")  # not ours: left alone
    on_disk = sorted(p.name for p in (tmp_path / "envelope").iterdir())
    assert len(on_disk) == 4
    store = Store(tmp_path)
    assert sorted(p.name for p in (tmp_path / "envelope").iterdir()) == [
        "notes.txt", "part-00000000000000000001-00000000000000000010.parquet"]
    assert not list(tmp_path.rglob("*.tmp"))
    assert not list(tmp_path.glob("types/*/part-00000000000000000011-*"))
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 11))
    # and the next writer carries on from the checkpoint
    again = _Writer(tmp_path, store.checkpoint())
    again.append(_raw(list(range(11, 21))), 11, 20, None)
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 21))


def test_a_writer_never_writes_past_a_failed_batch(tmp_path):
    writer = _Writer(tmp_path, Checkpoint("S", (), Rules(), 0))
    with pytest.raises(ek.StoreError, match="does not follow"):
        writer.append(_raw([5, 6]), 5, 6, None)
    with pytest.raises(ek.StoreError, match="earlier batch failed"):
        writer.append(_raw([1, 2]), 1, 2, None)
    with pytest.raises(ek.StoreError, match="not in sequence order"):
        _Writer(tmp_path, Checkpoint("S", (), Rules(), 0)).append(_raw([2, 1]), 1, 2, None)


def test_typed_parts_with_different_fields_scan_as_one_table(tmp_path):
    writer = _Writer(tmp_path, Checkpoint("S", (), Rules(), 0))
    writer.append(_raw([1, 2], [b'{"type":"p","key":"a","amount":1.5}',
                               b'{"type":"p","key":"b","amount":2}']), 1, 2, None)
    writer.append(_raw([3, 4], [b'{"type":"p","key":"c","amount_cents":300,"method":"card"}',
                               b'{"type":"p","key":"d","amount":"n/a"}']), 3, 4, None)
    got = Store(tmp_path).of_type("p").collect()
    assert got.columns == ["seq", "subject", "time", "type", "key", "event_time", "amount",
                           "amount_cents", "method"]
    assert got["amount"].to_list() == ["1.5", "2.0", None, "n/a"]
    assert got["amount_cents"].to_list() == [None, None, 300, None]
    with pytest.raises(ek.StoreError, match="types present: p"):
        Store(tmp_path).of_type("q")
