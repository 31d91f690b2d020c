"""Widgets on a real server: a store's widgets, LiveTail following a stream."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest
from ipywidgets.embed import embed_data

import eventkit as ek
from eventkit import charts
from eventkit.widgets import Explorer, LiveTail, ReplayPlayer, TimeTravel
from tests.eventually import eventually

pytestmark = pytest.mark.integration

END_TYPES = ["payment_captured", "payment_failed", "ride_cancelled"]


def saved_state(widget: object) -> str:
    """Everything a saved notebook would keep of the widget (and its children), as JSON."""
    return json.dumps(embed_data(views=[widget])["manager_state"], default=str)


def test_widgets_and_charts_take_a_store(rides, server, tmp_path):
    with ek.connect(server.url) as conn:
        store = ek.Store(tmp_path / "store")
        store.sync(conn, "RIDES", progress=False)
    envelope = store.scan().collect()
    assert Explorer(store).matched == envelope.height
    travel = TimeTravel(store, end_types=END_TYPES)
    assert travel.entities == envelope.filter(
        pl.col("key").is_not_null() & pl.col("event_time").is_not_null())["key"].n_unique()
    assert "fare" in travel.state_table.columns
    player = ReplayPlayer(store, speed=0, tick=0.05)
    try:
        player.play()
        player.wait_until(lambda: player.run.done)
        assert player.events == len(store)
    finally:
        player.close()
    assert charts.rate(store).data.height == charts.rate(envelope).data.height



PASSWORD = "tail-pa55-w0rd-9f3"  # a test secret that must never reach the browser


def test_livetail_follows_new_events_and_keeps_no_secret():
    conf = f'authorization {{ user: "watcher", password: "{PASSWORD}" }}'
    with ek.EmbeddedServer(config=conf) as server:
        url = server.url.replace("nats://", f"nats://watcher:{PASSWORD}@")
        with ek.connect(url) as conn:
            conn.create_stream("LIVE", ["live.>"])
            conn.publish_many(["live.a"] * 5, [b'{"type":"seen","key":"k1"}'] * 5)
            tail = LiveTail(conn, "LIVE", backlog=3, every=0.1)
            try:
                eventually(lambda: tail.events_seen == 3)
                assert tail.running and tail.last_seq == 5
                conn.publish_many(["live.b"] * 4, [b'{"type":"new","key":"k2"}'] * 4)
                eventually(lambda: tail.events_seen == 7 and tail.table.rows[0][0] == "9")
                assert tail.table.rows[0][0] == "9" and tail.table.rows[0][2] == "new"
                assert "Arrivals per" in tail.chart.title.text
                tail.table.selected = 0
                assert tail.selected_seq == 9 and "payload" in tail.detail.value
                state = saved_state(tail) + tail.to_html() + repr(tail)
                assert PASSWORD not in state and "watcher:" not in state
                assert "watcher" not in tail.status.value
            finally:
                tail.close()
            assert not tail.running
            conn.publish_many(["live.c"], [b'{"type":"late","key":"k3"}'])
            time.sleep(0.4)
            assert tail.events_seen == 7  # closed: no more polling


def test_livetail_stops_with_a_message_when_its_connection_closes(server):
    with ek.connect(server.url) as conn:
        conn.create_stream("GONE", ["gone.>"])
        tail = LiveTail(conn, "GONE", every=0.05)
    eventually(lambda: not tail.running)
    assert tail.error and "stopped" in tail.status.value  # closed, or reset while reading
    assert tail.error in tail.status.value
    tail.stop()
    tail.close()
