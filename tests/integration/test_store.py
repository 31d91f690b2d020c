"""The local store against a real stream: the same tables as a read, incremental, exact."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import time

import nats
import polars as pl
import pytest

import eventkit as ek
from eventkit import cli
from eventkit.source import _loop
from tests.eventually import eventually
from tests.integration.streams import publish_numbered as _publish

pytestmark = pytest.mark.integration


def _api(conn: ek.Connection, op: str, body: dict | None = None) -> dict:
    return _loop.run(conn.jetstream.api(op, body))


def test_the_store_holds_what_a_read_gives(rides, conn, tmp_path):
    store = ek.Store(tmp_path / "rides")
    result = store.sync(conn, "RIDES", progress=False)
    assert (result.events, result.first_seq, result.last_seq, result.gaps) == (
        rides.messages, 1, rides.last_seq, 0)
    events = conn.read("RIDES", progress=False)
    assert store.scan().collect().equals(events.to_polars())
    assert set(store.types) == set(events.types)
    for name in events.types:
        assert store.of_type(name).collect().equals(events.of_type(name)), name
    assert sum(store.type_counts().values()) == len(store) == rides.messages


def test_a_sync_resumes_after_the_last_sequence_and_nothing_new_is_quick(conn, stream,
                                                                          tmp_path):
    store = ek.Store(tmp_path / "s")
    _publish(conn, stream, 5000)
    assert store.sync(conn, stream, progress=False, batch=1000).events == 5000
    _publish(conn, stream, 3000, start=5000)
    again = ek.Store(tmp_path / "s").sync(conn, progress=False, batch=1000)
    assert (again.events, again.first_seq, again.last_seq) == (3000, 5001, 8000)
    began = time.perf_counter()
    nothing = store.sync(conn, progress=False)
    took = time.perf_counter() - began
    assert (nothing.events, nothing.last_seq) == (0, 8000)
    assert took < 0.5, took
    seqs = store.scan().select("seq").collect()["seq"]
    assert seqs.to_list() == list(range(1, 8001))
    versions = store.versions()  # one Delta commit per batch, each with the last sequence
    last = versions["last_seq"]
    assert last.is_sorted() and last.n_unique() == last.len() >= 3
    assert 5000 in last.to_list() and last[-1] == 8000
    assert set(versions["operation"]) == {"WRITE"}


def test_a_re_sync_right_after_a_sync_stays_quick_in_a_fresh_process(server, conn, stream,
                                                                      tmp_path):
    # it took 300 ms (a third of a second: pyarrow's pa.table() imported pandas on the
    # first look at the table's files); in a fresh process, as a notebook or cron job is
    import subprocess
    import sys

    _publish(conn, stream, 2000)
    code = (
        "import sys, time, eventkit as ek\n"
        f"conn = ek.connect({server.url!r})\n"
        f"store = ek.Store({str(tmp_path / 's')!r})\n"
        f"store.sync(conn, {stream!r}, progress=False)\n"
        "t = time.perf_counter(); again = store.sync(conn, progress=False)\n"
        "print(again.events, 'pandas' in sys.modules, time.perf_counter() - t)\n"
        "conn.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out[:2] == ["0", "False"], out  # nothing new, and no pandas imported on the way


def test_the_tables_are_delta_lake_for_other_tools(rides, conn, tmp_path):
    import duckdb
    from deltalake import DeltaTable

    store = ek.Store(tmp_path / "rides")
    store.sync(conn, "RIDES", progress=False, batch=20_000)
    env = store.scan().collect()
    # polars' own Delta reader: the disk types (Int64 seq, microsecond times, exact *_ns)
    by_polars = pl.scan_delta(str(tmp_path / "rides" / "envelope")).sort("seq").collect()
    assert by_polars.schema["seq"] == pl.Int64
    assert by_polars.schema["time"] == pl.Datetime("us", "UTC")
    assert by_polars["time_ns"].to_list() == env["time"].dt.epoch("ns").to_list()
    assert by_polars["seq"].to_list() == env["seq"].to_list()
    # pandas through deltalake, DuckDB through the table's Arrow dataset
    table = DeltaTable(str(tmp_path / "rides" / "types" / "trip_completed"))
    fares = store.of_type("trip_completed").select("fare").collect()["fare"]
    assert table.to_pandas()["fare"].sum() == pytest.approx(fares.sum())
    ds = table.to_pyarrow_dataset()  # noqa: F841  (DuckDB finds it by name)
    assert duckdb.sql("SELECT count(*), sum(fare) FROM ds").fetchall()[0] == (
        fares.len(), pytest.approx(fares.sum()))
    assert store.sql("SELECT count(*) AS n FROM trip_completed")["n"][0] == fares.len()


def test_the_integrity_report_is_exact(conn, tmp_path):
    conn.create_stream("AUDIT", ["audit.>"], duplicate_window=dt.timedelta(milliseconds=100))

    def ev(type_: str, key: str, hms: str, msg_id: str | None = None):
        body = b'{"type":"%s","key":"%s","event_time":"2026-11-01T%sZ"}' % (
            type_.encode(), key.encode(), hms.encode())
        return f"audit.{type_}", body, ({"Nats-Msg-Id": msg_id} if msg_id else None)

    first = [
        ev("z", "k9", "12:00:00"), ev("z", "k9", "12:00:00"),        # 1, 2: purged
        ev("a", "k1", "12:00:00", "m1"), ev("b", "k1", "12:00:05"),  # 3, 4
        ev("a", "k2", "12:00:01"), ev("b", "k1", "12:00:02"),        # 5, 6: 6 is 3 s late
        ("audit.c", b'{"type": oops', None), ("audit.c", b"", None),  # 7, 8: malformed
        ev("a", "k2", "11:59:00"), ev("a", "k3", "12:00:00", "m2"),  # 9: 61 s late, 10
    ]
    second = [  # after the duplicate window: the same msg ids are stored again
        ev("a", "k3", "12:00:00", "m1"), ev("b", "k1", "12:00:04", "m2"),  # 11, 12: 1 s late
        ev("a", "k1", "12:00:06"), ev("b", "k2", "12:00:10"), ev("a", "k4", "12:00:00"),
    ]
    for batch in (first, second):
        conn.publish_many(*(list(x) for x in zip(*batch, strict=True)))
        time.sleep(0.15)
    _api(conn, "STREAM.PURGE.AUDIT", {"seq": 3})
    _api(conn, "STREAM.MSG.DELETE.AUDIT", {"seq": 13})
    store = ek.Store(tmp_path / "audit")
    store.sync(conn, "AUDIT", progress=False)
    _api(conn, "STREAM.MSG.DELETE.AUDIT", {"seq": 15})  # the store keeps it
    later = [ev("a", "k1", "12:00:07"), ev("b", "k1", "12:00:00")]  # 16, 17: not synced
    conn.publish_many(*(list(x) for x in zip(*later, strict=True)))

    report = store.integrity(conn)

    # the stream's own numbers, from an independent client
    async def oracle() -> tuple[int, int, int, int]:
        nc = await nats.connect(conn.servers[0])
        info = await nats.js.JetStreamContext(nc).stream_info("AUDIT")
        await nc.close()
        s = info.state
        return s.first_seq, s.last_seq, s.messages, s.num_deleted

    assert (report.stream_first_seq, report.stream_last_seq, report.stream_messages,
            report.stream_deleted) == asyncio.run(oracle()) == (3, 17, 13, 2)
    assert (report.synced_to, report.store_events, report.store_first_seq,
            report.store_last_seq) == (15, 12, 3, 15)
    assert (report.expected, report.matched, report.missing, report.kept, report.behind) == (
        11, 11, 0, 1, 2)
    assert report.ok
    assert report.gaps.rows() == [(1, 2, 2, "purged or expired"), (13, 13, 1, "deleted")]
    assert report.duplicates.rows() == [("m1", 2, [3, 11]), ("m2", 2, [10, 12])]
    assert report.malformed["seq"].to_list() == [7, 8]
    assert report.malformed["error"][1] == "empty payload"
    assert report.late.select("seq", "key", "lateness").rows() == [
        (6, "k1", dt.timedelta(seconds=3)), (9, "k2", dt.timedelta(seconds=61)),
        (12, "k1", dt.timedelta(seconds=1))]
    assert report.per_type.rows() == [("a", 6), ("b", 4), ("c", 2)]
    text = str(report)
    assert "missing 0" in text and "1 kept" in text and "2 newer" in text
    # without a connection: the store's side only
    offline = ek.Store(tmp_path / "audit").integrity()
    assert offline.stream_messages is None and offline.expected is None
    assert offline.gaps.rows() == report.gaps.rows()
    assert offline.late.height == 3 and offline.duplicates.height == 2


def test_a_store_of_some_subjects(rides, conn, tmp_path):
    store = ek.Store(tmp_path / "berlin")
    store.sync(conn, "RIDES", subjects="rides.berlin.>", progress=False)
    want = conn.read("RIDES", subjects="rides.berlin.>", progress=False).to_polars()
    assert store.scan().collect().equals(want)
    assert store.last_seq == rides.last_seq  # it looked at the whole stream
    assert store.sync(conn, progress=False).events == 0
    report = store.integrity(conn)
    assert (report.expected, report.matched, report.missing, report.behind) == (
        want.height, want.height, 0, 0)
    assert not report.gaps_tracked and report.gaps.is_empty()


def test_a_store_refuses_another_stream_subjects_rules_or_a_recreated_stream(
        conn, stream, tmp_path):
    _publish(conn, stream, 10)
    store = ek.Store(tmp_path / "s")
    store.sync(conn, stream, progress=False)
    with pytest.raises(ek.StoreError, match="holds stream"):
        store.sync(conn, "RIDES", progress=False)
    with pytest.raises(ek.StoreError, match="holds subjects"):
        store.sync(conn, subjects="x.>", progress=False)
    with pytest.raises(ek.StoreError, match="other rules"):
        store.sync(conn, rules=ek.Rules(key="field:n"), progress=False)
    _loop.run(conn.jetstream.delete_stream(stream))
    conn.create_stream(stream, [f"{stream.lower()}.>"])
    _publish(conn, stream, 3)
    with pytest.raises(ek.StoreError, match="deleted and created again"):
        store.sync(conn, progress=False)
    _publish(conn, stream, 30)  # past the store's last sequence: still another stream
    with pytest.raises(ek.StoreError, match="deleted and created again"):
        store.sync(conn, progress=False)
    with pytest.raises(ek.StoreError, match="name the stream"):
        ek.Store(tmp_path / "empty").sync(conn, progress=False)


def test_a_second_writer_waits_then_says_who_holds_the_store(conn, stream, tmp_path,
                                                              monkeypatch):
    import eventkit.store.sync as store_module

    _publish(conn, stream, 10)
    store = ek.Store(tmp_path / "s")
    store.sync(conn, stream, progress=False)
    with (tmp_path / "s" / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("12345\n")
        held.flush()
        monkeypatch.setattr(store_module, "_LOCK_TIMEOUT", 0.3)
        with pytest.raises(ek.StoreError, match="process 12345 is writing"):
            store.sync(conn, progress=False)
        assert store.scan().collect().height == 10  # reading needs no lock


def test_follow_keeps_the_store_current_without_blocking(conn, stream, tmp_path):
    store = ek.Store(tmp_path / "live")
    began = time.perf_counter()
    follower = store.follow(conn, stream, interval=0.05)
    assert time.perf_counter() - began < 0.2
    try:
        for published in (500, 1000, 1500):
            _publish(conn, stream, 500, start=published - 500)
            _wait(lambda n=published: store.last_seq == n)
        _wait(lambda: follower.events == 1500)  # counted when its sync returns
        assert follower.running and follower.error is None and follower.syncs >= 3
    finally:
        follower.stop()
    assert not follower.running
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 1501))
    assert "stopped" in repr(follower)


def test_follow_rides_out_a_server_restart(fresh_server, tmp_path):
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream("LIVE", ["live.>"])
        _publish(conn, "LIVE", 100)
        store = ek.Store(tmp_path / "live")
        follower = store.follow(conn, "LIVE", interval=0.05)
        try:
            _wait(lambda: store.last_seq == 100)
            fresh_server.kill()
            _wait(lambda: follower.error is not None)
            fresh_server.start()
            _publish(conn, "LIVE", 100, start=100)
            _wait(lambda: store.last_seq == 200, timeout=30)
            assert follower.running
        finally:
            follower.stop()
        assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 201))


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _files(path) -> int:
    from deltalake import DeltaTable

    return len(DeltaTable(str(path)).file_uris())


def test_compact_is_delta_optimize_and_keeps_every_event(conn, stream, tmp_path):
    store = ek.Store(tmp_path / "s")
    for i in range(6):
        _publish(conn, stream, 100, start=i * 100)
        store.sync(conn, stream, progress=False)
    before = store.scan().collect()
    typed = {t: store.of_type(t).collect() for t in store.types}
    assert _files(tmp_path / "s" / "envelope") == 6
    done = store.compact(retention_hours=0)
    assert done["files_removed"] == 6 * 4 and done["files_added"] == 4 and done["vacuumed"]
    assert _files(tmp_path / "s" / "envelope") == 1
    assert len(list((tmp_path / "s" / "envelope").glob("*.parquet"))) == 1  # vacuumed
    assert store.scan().collect().equals(before)
    for t, frame in typed.items():
        assert store.of_type(t).collect().equals(frame)
    _publish(conn, stream, 10, start=600)
    assert store.sync(conn, progress=False).first_seq == 601
    assert store.versions()["operation"].to_list()[-1] == "WRITE"


def test_async_twin_and_the_cli(server, conn, stream, tmp_path, capsys):
    _publish(conn, stream, 50)

    async def main() -> ek.store.SyncResult:
        return await ek.Store(tmp_path / "a").async_(conn, stream, progress=False)

    assert asyncio.run(main()).events == 50
    _publish(conn, stream, 5, start=50)

    async def old_name() -> ek.store.SyncResult:
        return await ek.Store(tmp_path / "a").async_sync(conn, stream, progress=False)

    with pytest.warns(FutureWarning, match=r"async_sync is deprecated .* use Store\.async_"):
        assert asyncio.run(old_name()).events == 5

    async def compact_and_replay() -> tuple[dict[str, int], pl.DataFrame]:
        store = ek.Store(tmp_path / "a")
        done = await store.acompact(retention_hours=0)
        return done, await ek.Replay(store).arun(ek.Latest(), progress=False)

    done, state = asyncio.run(compact_and_replay())
    assert done["files_added"] >= 1  # two commits became one file, the old ones vacuumed
    assert len(list((tmp_path / "a" / "envelope").glob("*.parquet"))) == 1
    assert state.height == 7 and state["seq"].max() == 55  # keys k0..k6, the last event seq 55
    _publish(conn, stream, 45, start=55)  # the CLI's store below syncs 100
    argv = ["sync", "--server", server.url, "--stream", stream, "--store",
            str(tmp_path / "cli"), "--no-progress"]
    assert cli.main(argv) == 0
    assert "stored 100 new events" in capsys.readouterr().out
    assert cli.main(argv) == 0
    assert "nothing new after seq 100" in capsys.readouterr().out
    assert cli.main([*argv[:4], "RIDES", *argv[5:]]) == 2
    assert "holds stream" in capsys.readouterr().err


def test_a_cancelled_sync_leaves_a_readable_store_and_resumes(conn, stream, tmp_path):
    for start in range(0, 200_000, 20_000):
        _publish(conn, stream, 20_000, start=start)
    store = ek.Store(tmp_path / "s")

    async def interrupted() -> float:  # what Ctrl-C in a notebook does to a running sync
        task = asyncio.ensure_future(store.async_(conn, stream, progress=False, batch=2000))
        while store.last_seq == 0:
            await asyncio.sleep(0.005)
        task.cancel()
        cancelled = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return cancelled

    cancelled = asyncio.run(interrupted())
    # it stops promptly: the store's lock is free within a second of the cancel

    def free() -> bool:
        with (tmp_path / "s" / ".lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(lock, fcntl.LOCK_UN)
            return True

    eventually(free, 1.0)
    assert time.monotonic() - cancelled < 1.5
    # the sync ends on eventkit's own loop after the batch it was writing; readable meanwhile
    for _ in range(5):
        seqs = ek.Store(tmp_path / "s").scan().select("seq").collect()["seq"]
        assert seqs.to_list() == list(range(1, len(seqs) + 1))
    with (tmp_path / "s" / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits until it has ended
        fcntl.flock(lock, fcntl.LOCK_UN)
    held = store.last_seq
    assert 0 < held < 200_000
    seqs = ek.Store(tmp_path / "s").scan().select("seq").collect()["seq"]
    assert seqs.to_list() == list(range(1, held + 1))
    result = store.sync(conn, progress=False)  # the lock was released
    assert (result.first_seq, result.last_seq) == (held + 1, 200_000)
    assert store.scan().select("seq").collect()["seq"].to_list() == list(range(1, 200_001))


def test_a_first_sync_with_a_filter_that_matches_nothing_refuses_and_binds_nothing(
        conn, stream, tmp_path):
    _publish(conn, stream, 30)
    store = ek.Store(tmp_path / "typo")
    with pytest.raises(ek.StoreError, match=rf"no subject in stream '{stream}'.*typo"):
        store.sync(conn, stream, subjects=f"{stream.lower()}.t9", progress=False)
    result = store.sync(conn, stream, subjects=f"{stream.lower()}.t1", progress=False)
    assert result.events == 10  # the store was free to take the right filter


def test_time_travel_by_version(conn, stream, tmp_path):
    store = ek.Store(tmp_path / "s")
    _publish(conn, stream, 300)
    store.sync(conn, stream, progress=False)
    first = store.scan().collect()
    typed = store.of_type("t1").collect()
    _publish(conn, stream, 200, start=300)
    store.sync(conn, progress=False)
    versions = store.versions()
    assert versions.columns == ["version", "time", "operation", "last_seq", "events"]
    assert versions.select("last_seq", "events").rows() == [(300, 300), (500, 500)]
    assert versions["time"].is_sorted()
    then = store.at_version(int(versions["version"][0]))
    assert then.last_seq == 300 and len(then) == 300
    assert then.scan().collect().equals(first)
    assert then.of_type("t1").collect().equals(typed)
    assert "at version 0" in repr(then)
    with pytest.raises(ek.StoreError, match="read only"):
        then.sync(conn, progress=False)
    with pytest.raises(ek.StoreError, match="no version 7"):
        store.at_version(7)
    assert store.scan().collect().height == 500  # the store itself is unchanged


def test_the_readmes_sql_forms_agree_with_polars(rides, conn, tmp_path):
    store = ek.Store(tmp_path / "rides")
    store.sync(conn, "RIDES", progress=False)
    env = store.scan().collect()
    t = env["time"].sort()[env.height // 2]
    stamp = t.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    state = store.sql("SELECT key, arg_max(type, seq) AS last_type FROM envelope "
                      f"WHERE time <= TIMESTAMP '{stamp}' GROUP BY key").sort("key")
    # on disk times are microseconds: the same cut in polars
    want = (env.filter(pl.col("time").dt.truncate("1us") <= t)
            .group_by("key").agg(last_type=pl.col("type").sort_by("seq").last()).sort("key"))
    assert state.rows() == want.rows()
    windows = store.sql("SELECT time_bucket(INTERVAL 5 MINUTE, time) AS bucket, type, "
                        "count(*) AS n FROM envelope GROUP BY ALL")
    assert windows["n"].sum() == env.height
    asof = store.sql("SELECT p.seq, t.seq AS trip_seq FROM payment_captured p ASOF JOIN "
                     "trip_completed t ON p.key = t.key AND p.seq >= t.seq ORDER BY p.seq")
    paid = store.of_type("payment_captured").select("seq", "key").collect()
    trips = store.of_type("trip_completed").select(trip_seq="seq", key="key").collect()
    oracle = paid.join_asof(trips, left_on="seq", right_on="trip_seq", by="key",
                            strategy="backward").drop_nulls("trip_seq").select("seq", "trip_seq")
    assert asof.select(pl.all().cast(pl.Int64)).rows() == oracle.select(
        pl.all().cast(pl.Int64)).rows()
