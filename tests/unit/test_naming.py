"""One name for one thing: ``types`` is the same kind of value on every object, reads and
replays end at ``end``; the old forms keep working for a release, with a warning."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import eventkit as ek
from eventkit.codec import decode
from eventkit.envelope import Rules
from eventkit.source.jetstream import RawBatch

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
SUBJECTS = [b"ev.b", b"ev.a", b"ev.b", b"ev.c", b"ev.b"]
PAYLOADS = [b'{"type":"b","key":"k"}', b'{"type":"a","key":"k"}', b'{"type":"b","key":"j"}',
            b"not json", b'{"type":"b","key":"k"}']  # c: a type told by its subject only
SEQ = pl.Series(range(1, len(PAYLOADS) + 1), dtype=pl.UInt64)
TIME = pl.Series([T0 + dt.timedelta(seconds=s) for s in range(len(PAYLOADS))]).cast(
    pl.Datetime("ns", "UTC"))


@pytest.fixture()
def store(tmp_path) -> ek.Store:
    s = ek.Store(tmp_path / "s")
    s.write(iter([RawBatch(SEQ, TIME, SUBJECTS, {}, PAYLOADS)]), stream="R", rules=Rules())
    return s


@pytest.fixture()
def events() -> ek.Events:
    return ek.Events(decode(SEQ, TIME, SUBJECTS, [None] * len(SEQ), PAYLOADS, Rules()))


def test_types_are_the_sorted_type_names_everywhere_and_type_counts_count_them(store, events):
    registry = ek.SchemaRegistry()
    for name in ("b", "a"):
        registry.register(name, {"type": "object"})
    assert events.types == store.types == ["a", "b", "c"]  # c: all its payloads malformed
    assert registry.types == ["a", "b"]
    assert all(type(t) in (list, type(store.types)) and isinstance(t, list)
               for t in (events.types, store.types, registry.types))
    assert events.type_counts() == store.type_counts() == {"a": 1, "b": 3, "c": 1}
    assert list(events.type_counts()) == events.types  # the same order: by name
    assert events.between(T0, T0 + dt.timedelta(seconds=2), on="time").types == ["a", "b"]
    assert [store.of_type(t).collect().height for t in store.types] == [1, 3, 1]


def test_the_old_forms_of_types_work_and_warn(store):
    registry = ek.SchemaRegistry()
    registry.register("a", {"type": "object"})
    with pytest.warns(DeprecationWarning, match=r"SchemaRegistry.types\(\) is now") as caught:
        assert registry.types() == ["a"]
    assert caught[0].filename == __file__  # the warning points at the old call
    old_forms = {  # Store.types was the counts
        r"types\[name\]": lambda: store.types["b"] == 3,
        r"types.items\(\)": lambda: dict(store.types.items()) == {"a": 1, "b": 3, "c": 1},
        r"types.values\(\)": lambda: sum(store.types.values()) == len(store),
        r"types.keys\(\)": lambda: list(store.types.keys()) == ["a", "b", "c"],
        r"types.get\(\)": lambda: store.types.get("zz", 0) == 0,
        r"types == \{\.\.\.\}": lambda: store.types == {"a": 1, "b": 3, "c": 1},
    }
    for form, old in old_forms.items():
        with pytest.warns(DeprecationWarning, match=f"Store.{form} is now Store.type_counts"):
            assert old(), form
    assert store.types[0] == "a" and store.types[-2:] == ["b", "c"]  # a list, no warning


def test_a_replay_ends_at_end_and_until_is_its_old_name(events):
    replay = ek.Replay(events, end=3)
    assert [s for f in replay.frames() for s in f["seq"]] == [1, 2, 3]
    with pytest.warns(DeprecationWarning, match=r"Replay\(until=\) is now Replay\(end=\)"):
        old = ek.Replay(events, until=3)
    assert [s for f in old.frames() for s in f["seq"]] == [1, 2, 3]
    with pytest.raises(ek.ConfigurationError, match="end= alone"):
        ek.Replay(events, end=3, until=3)
