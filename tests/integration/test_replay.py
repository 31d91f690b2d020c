"""Replay: the same state as the temporal layer, views rebuilt after they failed, idempotent
republishing, and control of a background run."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import orjson
import polars as pl
import pytest

import eventkit as ek

pytestmark = pytest.mark.integration


ENVELOPE = {"seq", "subject", "time", "type", "key", "event_time", "headers", "data", "error"}


def merge(state: dict, event: dict) -> dict:
    """The default fold, written as a plain reducer."""
    out = dict(state)
    for name, value in event.items():
        if name not in ENVELOPE and value is not None:
            out[name] = value
    return out


@pytest.fixture(scope="module")
def events(server, rides):
    with ek.connect(server.url) as conn:
        return conn.read("RIDES", progress=False)


def _seen(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(sorted(c for c in frame.columns if frame[c].null_count() < frame.height))


def test_replay_to_t_equals_state_at_t(events, server):
    env = events.to_polars()
    t = env["time"][env.height // 2]
    expected = events.state_at(t, on="time")  # a replay applies events in stream order
    assert ek.Replay(events, end=t).run(ek.Latest(), progress=False).equals(expected)
    with ek.connect(server.url) as conn:
        from_stream = ek.Replay(conn, stream="RIDES", end=t, batch=7_000).run(
            ek.Latest(), progress=False)
    # a replay up to t has not seen fields that first appear later: compare the rest
    assert _seen(from_stream).equals(_seen(expected))
    folded = _seen(ek.Replay(events, end=t).run(ek.Fold(merge, {}), progress=False))
    want = _seen(expected.drop("seq", "time", "type"))
    assert folded.equals(want.cast(folded.schema))


def test_start_and_subjects_bound_the_replay(events, server):
    env = events.to_polars()
    seen: list[int] = []
    ek.Replay(events, start=100, end=500, subjects="rides.lisbon.>").run(
        ek.Fold(lambda s, e: seen.append(e["seq"]), key=None), progress=False)
    want = env.filter(pl.col("seq").is_between(100, 500)
                      & pl.col("subject").str.starts_with("rides.lisbon."))["seq"].to_list()
    assert seen == want
    t = env["time"][1000]
    with ek.connect(server.url) as conn:
        first = []
        ek.Replay(conn, stream="RIDES", start=t, end=env["seq"][1100]).run(
            ek.Fold(lambda s, e: first.append(e["seq"]), key=None), progress=False)
    mid = pl.lit(t, dtype=pl.Datetime("ns", "UTC"))
    assert first == env.filter((pl.col("time") >= mid) & (pl.col("seq") <= 1101))[
        "seq"].to_list()


FOLLOWER = textwrap.dedent("""
    import os, sys, time, orjson, polars as pl, eventkit as ek
    from eventkit.replay import Fold
    url, out = sys.argv[1], sys.argv[2]
    def merge(state, event):
        out_ = dict(state)
        for k, v in event.items():
            if k not in ENVELOPE and v is not None:
                out_[k] = v
        return out_
    ENVELOPE = {"seq", "subject", "time", "type", "key", "event_time", "headers", "data", "error"}
    fold, last = Fold(merge, {}), 0
    with ek.connect(url) as conn:
        while True:
            events = conn.read("LIVE", start=last + 1, progress=False)
            if len(events):
                for event in events.wide().iter_rows(named=True):
                    fold.apply(event)
                last = int(events.to_polars()["seq"][-1])
                # the view and how far it got, in one file replaced atomically
                fold.state().with_columns(view_last_seq=pl.lit(last)).write_parquet(out + ".tmp")
                os.replace(out + ".tmp", out)
            time.sleep(0.05)
""")


def test_a_failed_view_is_rebuilt_exactly_by_a_replay(fresh_server, tmp_path):
    from eventkit.sample import generate

    frame = generate(seed=9, n_events=20_000)
    subjects = [s.replace("rides.", "live.", 1) for s in frame["subject"]]
    payloads = frame["data"].to_list()
    out = str(tmp_path / "view.parquet")
    script = tmp_path / "follower.py"
    script.write_text(FOLLOWER)
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream("LIVE", ["live.>"], metadata={
            "eventkit.type": "field:type,subject:-1", "eventkit.key": "field:ride_id",
            "eventkit.event_time": "field:event_time"})
        follower = subprocess.Popen([sys.executable, str(script), fresh_server.url, out])
        try:
            for i in range(0, 12_000, 1_000):  # events keep arriving while the view is built
                conn.publish_many(subjects[i:i + 1000], payloads[i:i + 1000])
                time.sleep(0.1)
            deadline = time.monotonic() + 30
            while not os.path.exists(out) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(follower.pid, signal.SIGKILL)  # the view fails
        finally:
            follower.wait(10)
        conn.publish_many(subjects[12_000:], payloads[12_000:])  # history goes on
        saved = pl.read_parquet(out)
        last = int(saved["view_last_seq"][0])
        original = saved.drop("view_last_seq")
        assert 0 < last < conn.stream("LIVE").last_seq
        rebuilt = ek.Replay(conn, stream="LIVE", end=last).run(ek.Fold(merge, {}),
                                                                progress=False)
    assert rebuilt.equals(original)


REPUBLISHER = textwrap.dedent("""
    import sys, eventkit as ek
    with ek.connect(sys.argv[1]) as conn:
        ek.Replay(conn, stream="RIDES", batch=500).to_subject(conn, "replay")
""")


def test_an_interrupted_republish_resumes_to_an_identical_copy(fresh_server, tmp_path):
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with ek.connect(fresh_server.url) as conn:
        source = publish(conn, generate(seed=10, n_events=30_000))
        conn.create_stream("REPLAY", ["replay.>"], duplicate_window=dt.timedelta(0))
        script = tmp_path / "republish.py"
        script.write_text(REPUBLISHER)
        worker = subprocess.Popen([sys.executable, str(script), fresh_server.url])
        deadline = time.monotonic() + 30
        while conn.stream("REPLAY").messages < 5_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        interrupted = conn.stream("REPLAY").messages
        assert 0 < interrupted < source.messages
        result = ek.Replay(conn, stream="RIDES").to_subject(conn, "replay")
        again = ek.Replay(conn, stream="RIDES").to_subject(conn, "replay")
        src = conn.read("RIDES", progress=False).to_polars()
        dst = conn.read("REPLAY", progress=False).to_polars()
    assert again.stored == 0
    assert result.stored + interrupted == dst.height == src.height
    assert dst["data"].to_list() == src["data"].to_list()
    assert dst["subject"].to_list() == ["replay." + s for s in src["subject"]]
    for s, d, seq in zip(src["headers"], dst["headers"], src["seq"], strict=True):
        copied = orjson.loads(d)
        assert copied["Eventkit-Source-Seq"] == str(seq)
        assert copied["Nats-Msg-Id"] == f"RIDES:{seq}"
        original = orjson.loads(s) if s else {}
        assert {k: copied[k] for k in original if k != "Nats-Msg-Id"} == {
            k: v for k, v in original.items() if k != "Nats-Msg-Id"}


def test_republishing_checks_size_with_headers(fresh_server):
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream("BIG", ["big.>"])
        conn.create_stream("REPLAY", ["replay.>"])
        limit = 1 << 20
        conn.publish_many(["big.x"], [b"x" * (limit - 40)])  # fits alone, not with headers
        with pytest.raises(ek.ConfigurationError, match="with headers, over the max_payload"):
            ek.Replay(conn, stream="BIG").to_subject(conn, "replay")
        assert conn.stream("REPLAY").messages == 0


def test_background_run_pauses_steps_seeks_and_resumes(events):
    env = events.to_polars()
    run = ek.Replay(events, batch=2_000).start(ek.Latest(), snapshot_every=5_000, paused=True)
    try:
        time.sleep(0.1)
        assert run.events == 0 and run.paused
        run.step(5)
        deadline = time.monotonic() + 10
        while run.events < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert run.events == 5 and run.position == env["seq"][4]
        run.resume()
        assert run.wait(60) and run.done and run.error is None
        assert run.state().equals(events.state_at(None, on="time"))  # stream order
        target = int(env["seq"][12_345])
        run.seek(target)
        deadline = time.monotonic() + 20
        while run.position != target and time.monotonic() < deadline:
            time.sleep(0.01)
        assert run.position == target and run.paused
        assert run.state().equals(events.state_at(target, on="time"))
        assert "paused" in repr(run)
    finally:
        run.stop()


def test_paced_replay_keeps_the_pace(events):
    env = events.to_polars().head(300)
    span = (env["time"][-1] - env["time"][0]).total_seconds()
    speed = max(span / 0.5, 1e-3)  # about half a second of wall time
    t = time.perf_counter()
    run = ek.Replay(events, end=int(env["seq"][-1]), speed=speed, pace_on="time").start(
        ek.Fold(merge, {}))
    assert run.wait(30)
    took = time.perf_counter() - t
    assert took >= span / speed * 0.95
    assert sorted(run.timing_errors)[len(run.timing_errors) // 2] < 0.01  # median lateness


def test_a_replay_into_a_store_equals_a_synced_store(server, rides, events, tmp_path):
    with ek.connect(server.url) as conn:
        synced = ek.Store(tmp_path / "synced")
        synced.sync(conn, "RIDES", progress=False)
        rebuilt = ek.Replay(conn, stream="RIDES", batch=9_000).to_store(tmp_path / "rebuilt")
        from_memory = ek.Replay(events, start=1000, end=20_000).to_store(tmp_path / "part")
        assert rebuilt.integrity(conn).ok
    assert rebuilt.scan().collect().equals(synced.scan().collect())
    for event_type in synced.types:
        want = synced.of_type(event_type).collect()
        got = rebuilt.of_type(event_type).collect().select(want.columns)
        assert got.equals(want.cast(got.schema)), event_type
    part = from_memory.scan().collect()
    assert part["seq"].to_list() == list(range(1000, 20_001))
    assert from_memory.gaps().row(0) == (1, 999, 999, "not replayed")
