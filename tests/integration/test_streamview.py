"""StreamView: a stream's configuration, subjects and consumers, as nats-py sees them, live."""

from __future__ import annotations

import asyncio
import html
import json

import nats
import pytest
from ipywidgets.embed import embed_data

import eventkit as ek
from eventkit.widgets import StreamView
from tests.eventually import eventually

pytestmark = pytest.mark.integration

PASSWORD = "view-secret-271"


async def _consumer_with_lag(url: str) -> tuple[int, int]:
    """A durable consumer that took 5 messages and acked 2: nats-py's own lag figures."""
    nc = await nats.connect(url, user="viewer", password=PASSWORD)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("watch.a", durable="billing", stream="WATCH")
        messages = await sub.fetch(5, timeout=5)
        for message in messages[:2]:
            await message.ack_sync()
        info = await js.consumer_info("WATCH", "billing")
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def test_streamview_shows_config_subjects_and_consumer_lag_and_refreshes():
    conf = f'authorization {{ user: "viewer", password: "{PASSWORD}" }}'
    with ek.EmbeddedServer(config=conf) as server, \
            ek.connect(server.url, user="viewer", password=PASSWORD) as conn:
        conn.create_stream("WATCH", ["watch.>"], max_msgs=10_000)
        conn.publish_many(["watch.a"] * 12 + ["watch.b"] * 3, [b"{}"] * 15)
        pending, ack_pending = asyncio.run(_consumer_with_lag(server.url))
        view = StreamView(conn, "WATCH", every=0.2)
        try:
            facts = dict((r[0], r[1]) for r in view.facts.rows)
            assert facts["messages"] == "15" and facts["max messages"] == "10,000"
            assert facts["storage"] == "file" and facts["subjects"] == "watch.>"
            assert view.subjects_table.rows == [["watch.a", "12"], ["watch.b", "3"]]
            header = view.consumers_table.columns
            [billing] = view.consumers_table.rows
            row = dict(zip(header, billing, strict=True))
            assert (row["name"], row["pending"], row["ack_pending"]) == (
                "billing", str(pending), str(ack_pending))
            assert (pending, ack_pending) == (12 - 5, 3)
            spec = json.dumps(view.chart.to_dict())
            assert "Consumer lag" in spec and "Messages per subject in WATCH" in spec
            conn.publish_many(["watch.c"] * 4, [b"{}"] * 4)  # refreshed by itself
            eventually(lambda: ["watch.c", "4"] in view.subjects_table.rows, 10)
            assert "19 messages" in view.status.value
            saved = json.dumps(embed_data(views=[view])["manager_state"], default=str)
            saved += view.to_html() + repr(view)
            assert PASSWORD not in saved and "viewer" not in saved
        finally:
            view.close()
        assert not view.running


def test_a_failing_poll_stops_and_shows_its_error_in_both_polling_widgets(server):
    """LiveTail and StreamView share one polling loop: when the stream goes away (deleted by
    nats-py), each stops and shows why, in its status, without raising into the kernel."""
    from eventkit.widgets import LiveTail

    async def delete(name: str) -> None:
        nc = await nats.connect(server.url)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    with ek.connect(server.url) as conn:
        conn.create_stream("GONE", ["gone.>"])
        conn.publish_many(["gone.a"] * 3, [b'{"type": "a"}'] * 3)
        tail = LiveTail(conn, "GONE", every=0.1)
        view = StreamView(conn, "GONE", every=0.1)
        try:
            eventually(lambda: tail.events_seen == 3)
            assert tail.running and view.running and not tail.error and not view.error
            asyncio.run(delete("GONE"))
            for widget in (tail, view):
                eventually(lambda w=widget: not w.running and "StreamNotFoundError" in w.error)
                assert "GONE" in widget.error and html.escape(widget.error) in widget.status.value
        finally:
            tail.close()
            view.close()
