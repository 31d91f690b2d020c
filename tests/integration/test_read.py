"""Reading a real stream: the envelope and typed tables against an independent client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import warnings

import nats
import orjson
import polars as pl
import pytest

import eventkit as ek

pytestmark = pytest.mark.integration


def _oracle(url: str, stream: str) -> list[dict[str, object]]:
    """Every message of the stream, read one by one with nats-py."""

    async def run() -> list[dict[str, object]]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append({"seq": msg.seq, "subject": msg.subject, "data": msg.data or b"",
                        "headers": dict(msg.headers) if msg.headers else None})
        await nc.close()
        return out

    return asyncio.run(run())


def test_envelope_matches_an_independent_read(server, rides, conn):
    events = conn.read("RIDES")
    env = events.to_polars()
    assert list(env.schema) == list(ek.ENVELOPE_SCHEMA)
    assert env.schema == pl.Schema(ek.ENVELOPE_SCHEMA)
    expected = _oracle(server.url, "RIDES")
    assert env.height == len(expected) == rides.messages
    assert env["seq"].to_list() == [m["seq"] for m in expected]
    assert env["subject"].to_list() == [m["subject"] for m in expected]
    assert env["data"].to_list() == [m["data"] for m in expected]
    headers = [None if h is None else json.loads(h) for h in env["headers"]]
    assert headers == [m["headers"] for m in expected]
    # type/key/event_time by the stream's own rules (field:type, field:ride_id, ...)
    for row, msg in zip(env.iter_rows(named=True), expected, strict=True):
        try:
            payload = orjson.loads(msg["data"])
        except orjson.JSONDecodeError:
            assert row["error"] is not None
            assert row["type"] == msg["subject"].rsplit(".", 1)[1]
            continue
        assert row["error"] is None
        assert row["type"] == payload["type"]
        assert row["key"] == payload["ride_id"]
        expected_time = dt.datetime.fromisoformat(payload["event_time"].replace("Z", "+00:00"))
        assert row["event_time"] == expected_time


def test_typed_tables_hold_every_payload_field(rides, conn):
    events = conn.read("RIDES")
    env = events.to_polars()
    for event_type in events.types:
        table = events.of_type(event_type)
        rows = env.filter(pl.col("type") == event_type)
        assert table["seq"].to_list() == rows["seq"].to_list()
        assert table.columns[:6] == ["seq", "subject", "time", "type", "key", "event_time"]
        for row, raw, err in zip(table.iter_rows(named=True), rows["data"], rows["error"],
                                 strict=True):
            if err is not None:
                continue
            payload = orjson.loads(raw)
            for name, value in payload.items():
                if name in ("type", "event_time"):
                    continue
                got = row[name]
                assert got == value or (isinstance(value, int) and got == float(value)), (
                    event_type, name, got, value)


def test_both_payment_versions_read_into_one_table(rides, conn):
    payments = conn.read("RIDES", subjects="rides.*.payment_captured").of_type(
        "payment_captured")
    v1 = payments.filter(pl.col("schema_version").is_null())
    v2 = payments.filter(pl.col("schema_version") == 2)
    assert v1.height > 0 and v2.height > 0
    assert v1["amount"].null_count() == 0 and v1["amount_cents"].null_count() == v1.height
    assert v2["amount_cents"].null_count() == 0


def test_malformed_payloads_are_kept_flagged_and_counted(rides, conn):
    events = conn.read("RIDES")
    bad = events.malformed()
    reasons = bad["error"].to_list()
    assert any(r == "empty payload" for r in reasons)
    assert any(r.startswith("invalid JSON") for r in reasons)
    assert all(d is not None for d in bad["data"])  # raw bytes kept
    assert any(d.decode("utf-8", "ignore") != d.decode("utf-8", "replace")
               for d in bad["data"] if d)  # the non-UTF-8 one
    assert events.summary().malformed == bad.height


def test_start_and_end_take_sequences_times_and_durations(rides, conn):
    env = conn.read("RIDES").to_polars()
    part = conn.read("RIDES", start=100, end=199).to_polars()
    assert part["seq"].to_list() == list(range(100, 200))
    t_mid = env["time"][env.height // 2]  # a Python datetime: microseconds
    mid = pl.lit(t_mid, dtype=pl.Datetime("ns", "UTC"))
    after = conn.read("RIDES", start=t_mid).to_polars()
    assert after["seq"].to_list() == env.filter(pl.col("time") >= mid)["seq"].to_list()
    iso = conn.read("RIDES", end=t_mid.isoformat()).to_polars()
    assert iso["time"].max() <= t_mid
    assert iso["seq"].to_list() == env.filter(pl.col("time") <= mid)["seq"].to_list()
    assert conn.read("RIDES", start="1d").to_polars().height == env.height
    assert len(conn.read("RIDES", start=rides.last_seq + 1)) == 0
    with pytest.raises(ek.TimeArgumentError, match="time zone"):
        conn.read("RIDES", start=dt.datetime(2026, 1, 1))


def test_time_bounds_of_a_read_are_exact_to_the_nanosecond(rides, conn):
    env = conn.read("RIDES").to_polars()
    ns = env["time"].dt.epoch("ns")
    i = next(i for i in range(env.height // 2, env.height) if ns[i] % 1_000)  # has nanoseconds
    picked = env["time"][i]  # a Python datetime: it stands for its whole microsecond
    upto = conn.read("RIDES", end=picked).to_polars()
    assert upto["seq"].to_list() == env.filter(pl.col("time") <= picked)["seq"].to_list()
    assert upto["seq"][-1] >= env["seq"][i]  # the picked event is kept
    text = env["time"].dt.to_string("%Y-%m-%dT%H:%M:%S.%9fZ")[i]  # exact: one nanosecond
    start = conn.read("RIDES", start=text, end=text).to_polars()
    assert start["seq"].to_list() == env.filter(ns == ns[i])["seq"].to_list()


def test_subject_filters(rides, conn):
    env = conn.read("RIDES").to_polars()
    berlin = conn.read("RIDES", subjects="rides.berlin.>").to_polars()
    assert berlin["seq"].to_list() == env.filter(
        pl.col("subject").str.starts_with("rides.berlin."))["seq"].to_list()
    two = conn.read("RIDES", subjects=["rides.*.trip_started", "rides.*.trip_completed"])
    assert set(two.to_polars()["subject"].str.split(".").list.get(2)) == {
        "trip_started", "trip_completed"}


def test_a_read_leaves_no_consumer_behind(rides, conn):
    conn.read("RIDES", start=10, end=5000)
    conn.read("RIDES", subjects="rides.paris.>")
    assert conn.stream("RIDES").consumers == 0


def test_async_twin_in_a_running_loop(server, rides):
    async def main() -> int:
        async with await ek.Connection(server.url).aopen() as conn:
            events = await conn.aread("RIDES", start=1, end=500)
            streams = await conn.astreams()
            assert "RIDES" in streams["name"].to_list()
            return len(events)

    assert asyncio.run(main()) == 500


def test_sync_call_from_inside_a_running_loop_like_a_notebook(server, rides):
    async def cell() -> int:  # a notebook cell runs while the kernel's loop is running
        with ek.connect(server.url) as conn:
            return len(conn.read("RIDES", end=100))

    assert asyncio.run(cell()) == 100


def test_streams_lists_counts_and_ranges(rides, conn):
    streams = conn.streams().filter(pl.col("name") == "RIDES").row(0, named=True)
    assert streams["messages"] == rides.messages
    assert streams["first_seq"] == 1 and streams["last_seq"] == rides.last_seq
    assert streams["subjects"] == ["rides.>"]
    assert streams["first_time"] <= streams["last_time"]


def test_read_survives_a_server_restart_mid_read(fresh_server):
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with ek.connect(fresh_server.url) as conn:
        info = publish(conn, generate(seed=3, n_events=150_000))
        import threading

        def restart() -> None:
            fresh_server.kill()
            fresh_server.start()

        killer = threading.Timer(0.15, restart)
        killer.start()
        events = conn.read("RIDES", progress=False)
        killer.join()
        seqs = events.to_polars()["seq"]
        assert seqs.to_list() == list(range(1, info.last_seq + 1))


def test_an_empty_read_says_why(conn, rides):
    with pytest.warns(ek.EventkitWarning, match=r"no subject in stream 'RIDES'.*'rides\.pariss"):
        assert len(conn.read("RIDES", subjects="rides.pariss.>")) == 0
    later = rides.last_time + dt.timedelta(days=3)
    with pytest.warns(ek.EventkitWarning, match=r"last event .* 3\.0 days before start"):
        assert len(conn.read("RIDES", start=later)) == 0
    with pytest.warns(ek.EventkitWarning, match=f"ends at sequence {rides.last_seq}"):
        assert len(conn.read("RIDES", start=rides.last_seq + 10)) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing new yet is no surprise: no warning
        assert len(conn.read("RIDES", start=rides.last_seq + 1)) == 0


def test_a_read_tells_how_far_it_got_and_how_its_end_was_confirmed(rides, conn):
    from eventkit.source import _loop
    from eventkit.source.jetstream import ReadState

    async def read(**kwargs: object) -> tuple[ReadState, list[int]]:
        state, seqs = ReadState(), []
        async for raw in conn.jetstream.fetch("RIDES", state=state, **kwargs):  # type: ignore[arg-type]
            seqs += raw.seq.to_list()
        return state, seqs

    whole, seqs = _loop.run(read())
    assert (whole.end, whole.last_seq, whole.complete) == (rides.last_seq, seqs[-1], True)
    assert whole.confirmed_by == "reached"
    # a filter whose last match lies before the stream's end: the leader confirms the rest
    env = conn.read("RIDES").to_polars()
    subject, last = env.group_by("subject").agg(pl.col("seq").max()).sort("seq").row(0)
    part, seqs = _loop.run(read(subjects=(subject,), end=last + 50))
    assert last + 50 <= rides.last_seq
    assert part.last_seq == seqs[-1] == last and part.end == last + 50
    assert part.complete and part.confirmed_by == "leader"
