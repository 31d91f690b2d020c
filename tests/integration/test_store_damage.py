"""Damaged and odd stores: each a clear StoreError that names the file and the repair.

And the store's maintenance from a shell: an eventkit 0.1 store converted,
compaction, a rebuilt store that refuses a recreated stream.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import eventkit as ek
from eventkit import cli
from eventkit.source import _loop
from eventkit.store import type_dir
from tests.integration.streams import publish_numbered as _publish

pytestmark = pytest.mark.integration


def _active(path: Path) -> int:
    from deltalake import DeltaTable

    return len(DeltaTable(str(path / "envelope")).file_uris())


def _data_files(path: Path) -> list[Path]:
    return sorted((path / "envelope").glob("*.parquet"))


# -- eventkit 0.1 stores ----------------------------------------------------------------
def _write_old_store(path: Path, events: ek.Events, stream: str, cut: int,
                     hole: tuple[int, int] | None = None) -> None:
    """A store as eventkit 0.1 wrote it: Parquet segments and checkpoint.json (format 1).

    ``hole``: a run it did not get from a short read, recorded as an "unknown" gap.
    """
    env = events.to_polars()
    if hole is not None:
        env = env.filter(~pl.col("seq").is_between(*hole))
    segments = []
    for lo, hi in ((1, cut), (cut + 1, int(events.to_polars()["seq"][-1]))):
        part = env.filter(pl.col("seq").is_between(lo, hi))
        name = f"part-{lo:020d}-{hi:020d}.parquet"
        (path / "envelope").mkdir(parents=True, exist_ok=True)
        part.write_parquet(path / "envelope" / name)  # UInt64 seq, nanosecond times
        types = {}
        for t in part["type"].unique(maintain_order=True):
            typed = events.of_type(t).filter(pl.col("seq").is_in(part["seq"].implode()))
            folder = path / "types" / type_dir(t)
            folder.mkdir(parents=True, exist_ok=True)
            typed.write_parquet(folder / name)
            types[t] = typed.height
        gaps = 0
        if hole is not None and lo <= hole[0] <= hi:
            gaps = hole[1] - hole[0] + 1
            (path / "gaps").mkdir(exist_ok=True)
            pl.DataFrame({"first_seq": [hole[0]], "last_seq": [hole[1]], "messages": [gaps],
                          "reason": ["unknown"]}, schema=ek.store.GAP_SCHEMA
                         ).write_parquet(path / "gaps" / name)
        segments.append({"lo": lo, "hi": hi, "events": part.height, "types": types,
                         "gaps": gaps})
    (path / "checkpoint.json").write_text(json.dumps({
        "format": 1, "stream": stream, "stream_created": None, "subjects": [],
        "rules": {"type": "header:Nats-Type,field:type,subject:-1", "key": "field:key",
                  "event_time": "field:event_time"},
        "last_seq": int(env["seq"][-1]), "segments": segments}))


def test_an_old_store_is_converted_on_first_open_with_the_same_events(conn, stream, tmp_path):
    _publish(conn, stream, 900)
    events = conn.read(stream, progress=False)
    old = tmp_path / "old"
    _write_old_store(old, events, stream, cut=400)
    rules = json.loads((old / "checkpoint.json").read_text())["rules"]
    store = ek.Store(old)  # converted here
    assert not (old / "checkpoint.json").exists()
    assert store.state().rules == ek.Rules(**rules)
    assert store.scan().collect().equals(events.to_polars())
    for t in events.types:
        assert store.of_type(t).collect().equals(events.of_type(t))
    assert not list(old.rglob("part-0000000000000000000*-*.parquet"))  # old files gone
    _publish(conn, stream, 100, start=900)
    assert store.sync(conn, progress=False).first_seq == 901
    # the same from a shell
    again = tmp_path / "again"
    _write_old_store(again, events, stream, cut=300)
    assert cli.main(["store", "upgrade", str(again)]) == 0
    assert ek.Store(again).scan().collect().equals(events.to_polars())


def test_a_run_an_old_sync_marked_unknown_is_read_again(conn, stream, tmp_path):
    _publish(conn, stream, 300)
    events = conn.read(stream, progress=False)
    _write_old_store(tmp_path / "s", events, stream, cut=100, hole=(40, 59))
    store = ek.Store(tmp_path / "s")
    assert store.gaps().rows() == [(40, 59, 20, "unknown")] and len(store) == 280
    _loop.run(conn.jetstream.api(f"STREAM.MSG.DELETE.{stream}", {"seq": 50}))
    result = store.sync(conn, progress=False)
    assert result.events == 19 and store.last_seq == 300
    assert store.gaps().rows() == [(50, 50, 1, "deleted")]
    want = events.to_polars().filter(pl.col("seq") != 50)
    assert store.scan().collect().equals(want)
    for t in events.types:
        assert store.of_type(t).collect().equals(events.of_type(t).filter(pl.col("seq") != 50))
    assert len(store) == 299 and store.state().gaps == 1
    assert store.integrity(conn).ok
    assert store.sync(conn, progress=False).events == 0  # nothing read twice


# -- damage ------------------------------------------------------------------------------
def _synced(conn, stream, path: Path, n: int = 3000) -> ek.Store:
    """A store of ``n`` events in three syncs (three envelope commits, three files)."""
    store = ek.Store(path)
    for i in range(3):
        _publish(conn, stream, n // 3, start=i * (n // 3))
        store.sync(conn, stream, progress=False)
    return store


def test_a_flipped_bit_in_a_data_file_is_found_and_named(conn, stream, tmp_path):
    store = _synced(conn, stream, tmp_path / "s")
    assert store.integrity(conn).ok and not store.integrity(conn).damaged
    victim = _data_files(tmp_path / "s")[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x10
    victim.write_bytes(bytes(data))
    report = store.integrity(conn)
    assert not report.ok
    assert report.damaged == (str(victim.relative_to(tmp_path / "s")),)
    assert "DAMAGED" in str(report) and victim.name in str(report)


def test_a_truncated_data_file_is_a_store_error_naming_it(conn, stream, tmp_path):
    store = _synced(conn, stream, tmp_path / "s")
    victim = _data_files(tmp_path / "s")[0]
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(ek.StoreError, match=f"{victim.name}.*damaged.*Restore it"):
        store.scan()
    with pytest.raises(ek.StoreError, match="damaged"):
        store.sync(conn, progress=False)
    assert victim.exists()  # nothing deleted


def test_a_missing_log_entry_is_a_store_error_and_deletes_nothing(conn, stream, tmp_path):
    store = _synced(conn, stream, tmp_path / "s")
    files = _data_files(tmp_path / "s")
    entries = sorted((tmp_path / "s" / "envelope" / "_delta_log").glob("*.json"))
    assert len(entries) >= 3
    entries[1].unlink()  # an older entry: the log has a hole
    with pytest.raises(ek.StoreError, match=r"_delta_log entry.*restore it from a backup"):
        store.sync(conn, progress=False)
    with pytest.raises(ek.StoreError, match="cannot be read"):
        ek.Store(tmp_path / "s").scan()
    assert _data_files(tmp_path / "s") == files


def test_a_store_path_that_is_a_file_or_holds_another_stream(conn, stream, tmp_path):
    (tmp_path / "file").write_text("not a store")
    with pytest.raises(ek.StoreError, match="is a file, not a directory"):
        ek.Store(tmp_path / "file").sync(conn, stream, progress=False)
    store = _synced(conn, stream, tmp_path / "s", n=9)
    conn.create_stream(f"{stream}_2", [f"{stream.lower()}2.>"])
    with pytest.raises(ek.StoreError, match="holds stream"):
        store.sync(conn, f"{stream}_2", progress=False)
    _loop.run(conn.jetstream.delete_stream(f"{stream}_2"))
    assert len(store) == 9


def test_two_syncs_at_once_one_waits_nothing_doubled(conn, stream, tmp_path):
    _publish(conn, stream, 30_000)
    cmd = [sys.executable, "-m", "eventkit.cli", "sync", "--server", conn.servers[0],
           "--stream", stream, "--store", str(tmp_path / "s"), "--no-progress",
           "--batch", "2000"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode in (0, 2) for p in procs), outs
    store = ek.Store(tmp_path / "s")
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 30_001))
    assert sum(store.type_counts().values()) == 30_000


def test_a_cron_of_small_syncs_compacts_and_eventkit_compact(server, conn, stream, tmp_path):
    argv = ["sync", "--server", server.url, "--stream", stream, "--store",
            str(tmp_path / "s"), "--no-progress"]
    for i in range(34):
        _publish(conn, stream, 10, start=i * 10)
        assert cli.main(argv) == 0
    store = ek.Store(tmp_path / "s")
    assert _active(tmp_path / "s") < 34  # compacted once 32 piled up
    assert store.small_files() < 32
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 341))
    assert cli.main(["compact", "--store", str(tmp_path / "s"), "--retention-hours", "0"]) == 0
    assert len(_data_files(tmp_path / "s")) == _active(tmp_path / "s") == 1
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 341))


def test_a_rebuilt_store_refuses_a_recreated_stream(conn, stream, tmp_path):
    _publish(conn, stream, 50)
    rebuilt = ek.Replay(conn, stream=stream).to_store(tmp_path / "rebuilt")
    assert len(rebuilt) == 50 and rebuilt.state().created
    _loop.run(conn.jetstream.delete_stream(stream))
    conn.create_stream(stream, [f"{stream.lower()}.>"])
    _publish(conn, stream, 1500)
    with pytest.raises(ek.StoreError, match="deleted and created again"):
        rebuilt.sync(conn, progress=False)
    assert len(rebuilt) == 50


def test_a_full_disk_is_a_store_error_and_loses_nothing(conn, stream, tmp_path):
    # a file-size limit makes every write past 20 kB fail as a full disk does (EFBIG):
    # a batch of 5,000 of these events is a data file of about 45 kB
    _publish(conn, stream, 20_000)
    script = f"""
import resource, signal, eventkit as ek
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
with ek.connect({conn.servers[0]!r}) as conn:
    try:
        ek.Store({str(tmp_path / "s")!r}).sync(conn, {stream!r}, progress=False, batch=5000)
    except ek.StoreError as exc:
        print("StoreError:", exc)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert "StoreError:" in out.stdout and "Free space" in out.stdout, out
    assert "Future exception was never retrieved" not in out.stderr
    assert "ComputeError" not in out.stdout + out.stderr
    store = ek.Store(tmp_path / "s")  # what was committed is intact, and the sync resumes
    held = store.last_seq
    seqs = store.scan().select("seq").collect()["seq"].to_list()
    assert seqs == list(range(1, held + 1))
    assert store.sync(conn, stream, progress=False).first_seq == (
        held + 1 if held < 20_000 else None)
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 20_001))


def test_the_registry_gives_the_column_types_not_the_first_batch(conn, stream, tmp_path):
    reg = ek.SchemaRegistry.from_dir(tmp_path / "schemas")
    reg.register("paid", {"type": "object", "properties": {
        "type": {"type": "string"}, "key": {"type": "string"},
        "amount": {"type": "number"}, "at": {"type": "string", "format": "date-time"}}})
    subject = f"{stream.lower()}.paid"
    conn.publish_many([subject] * 2, [b'{"type":"paid","key":"a","amount":5,'
                                      b'"at":"2026-11-01T12:00:00.000000001Z"}'] * 2)
    store = ek.Store(tmp_path / "s")
    store.sync(conn, stream, progress=False, registry=reg)
    conn.publish_many([subject], [b'{"type":"paid","key":"b","amount":5.25,'
                                  b'"at":"2026-11-01T12:00:01Z"}'])
    store.sync(conn, progress=False, registry=reg)
    paid = store.of_type("paid").collect()
    assert paid.schema["amount"] == pl.Float64  # the schema's "number", though 5 came first
    assert paid["amount"].to_list() == [5.0, 5.0, 5.25] and store.misfits().is_empty()
    assert paid["at"][0].isoformat() == "2026-11-01T12:00:00+00:00"  # microseconds shown...
    assert paid["at"].dt.epoch("ns")[0] % 1000 == 1  # ... the nanosecond kept (at_ns)


def test_a_sync_warns_in_the_callers_thread_when_types_look_like_ids(conn, stream, tmp_path,
                                                                       monkeypatch):
    import eventkit.store._writer as writer_module

    monkeypatch.setattr(writer_module, "MANY_TYPES", 20)
    prefix = stream.lower()
    conn.publish_many([f"{prefix}.ride-{i}" for i in range(50)],  # an id in each subject
                      [b'{"key":"k%d"}' % i for i in range(50)])
    store = ek.Store(tmp_path / "s")
    with pytest.warns(ek.EventkitWarning, match=r"50 event types.*type rule"):
        result = store.sync(conn, stream, progress=False,
                            rules=ek.Rules(type="subject:-1"))
    assert result.events == 50 and len(result.notes) == 1


def test_lost_newest_log_entries_are_named_and_read_again(conn, stream, tmp_path):
    _publish(conn, stream, 300)
    store = ek.Store(tmp_path / "s")
    store.sync(conn, stream, progress=False, batch=100)  # a commit per 100 events
    log = tmp_path / "s" / "envelope" / "_delta_log"
    entries = sorted(log.glob("*.json"))
    newest = int(entries[-1].stem)
    for entry in entries[-2:]:  # the two newest envelope commits are lost
        entry.unlink()
    assert ek.Store(tmp_path / "s").last_seq == 100
    with pytest.warns(ek.EventkitWarning, match=rf"versions {newest - 1}\.\.{newest} were "
                      r"committed .* ends at seq 100; this sync reads every event after it"):
        result = store.sync(conn, stream, progress=False, batch=100)
    assert result.first_seq == 101 and result.events == 200
    env = store.scan().collect()
    assert env["seq"].to_list() == list(range(1, 301))
    assert env["data"].to_list() == conn.read(stream, progress=False).to_polars()["data"].to_list()
    typed = pl.concat([store.of_type(t).select("seq", "n").collect() for t in store.types])
    assert typed.sort("seq").rows() == [(i + 1, i) for i in range(300)]  # no row twice
    assert store.type_counts() == {"t0": 100, "t1": 100, "t2": 100}
    _publish(conn, stream, 10, start=300)  # found once: the next sync says nothing
    assert store.sync(conn, stream, progress=False).events == 10
