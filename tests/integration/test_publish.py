"""publish_many says exactly what the server acknowledged: never a failure it did not have."""

from __future__ import annotations

import os

import pytest

import eventkit as ek

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("count", "size"), [
    (100_000, 1 << 10), (2_000, 10 << 10), (400, 100 << 10), (150, 1 << 20)])
def test_every_message_is_acknowledged_and_counted(fresh_server, count, size):
    payloads = [os.urandom(size) for _ in range(min(count, 64))]
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream("PUB", ["pub.>"])
        result = conn.publish_many(["pub.x"] * count,
                                   [payloads[i % len(payloads)] for i in range(count)])
        assert (result.stored, result.duplicates) == (count, 0)
        assert conn.stream("PUB").messages == count


def test_a_refusal_says_how_many_were_stored_so_a_retry_continues(fresh_server):
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream("CAP", ["cap.>"], max_msgs=1_000, discard="new")
        subjects = ["cap.x"] * 1_500
        payloads = [b"%d" % i for i in range(1_500)]
        with pytest.raises(ek.PublishError, match="maximum messages") as info:
            conn.publish_many(subjects, payloads)
        err = info.value
        assert (err.stored, err.duplicates, err.resume) == (1_000, 0, 1_000)
        assert "1,000" in str(err) and "[1000:]" in str(err)
        assert conn.stream("CAP").messages == 1_000


def test_a_server_lost_mid_publish_says_exactly_what_was_acknowledged(fresh_server):
    import threading

    payloads = [b"%07d" % i + b"x" * 1_000 for i in range(300_000)]
    with ek.connect(fresh_server.url) as conn:
        conn.create_stream("LOST", ["lost.>"])
        threading.Timer(0.3, fresh_server.kill).start()
        with pytest.raises(ek.PublishError, match="lost while publishing") as info:
            conn.publish_many(["lost.x"] * len(payloads), payloads)
    err = info.value
    assert 0 < err.stored < len(payloads) and err.resume <= err.stored
    assert f"payloads[{err.resume}:]" in str(err)
    fresh_server.start()
    with ek.connect(fresh_server.url) as conn:
        held = conn.read("LOST", progress=False).to_polars()["data"].to_list()
    # everything acknowledged is there, in order (a few sent but not acknowledged may be too)
    assert held[:err.resume] == payloads[:err.resume]
    assert len(held) >= err.stored


def test_create_stream_takes_its_options_by_name_and_the_server_has_them(server):
    """nats-py reads back the configuration the keywords asked for."""
    import asyncio
    import datetime as dt

    import nats

    with ek.connect(server.url) as conn:
        conn.create_stream(
            "CFG", ["cfg.>"], storage="memory", retention="interest", max_msgs=500,
            max_bytes=1 << 20, max_age=dt.timedelta(hours=1), max_msgs_per_subject=7,
            max_msg_size=4096, discard="new", duplicate_window=dt.timedelta(seconds=30),
            allow_direct=True, description="typed", metadata={"team": "rides"},
            config={"deny_delete": True})
        with pytest.raises(TypeError, match="num_replica"):
            conn.create_stream("TYPO", ["typo.>"], num_replica=1)  # type: ignore[call-arg]
        with pytest.raises(ek.ConfigurationError, match="timedelta"):
            conn.create_stream("NS", ["ns.>"], duplicate_window=120)  # type: ignore[arg-type]
        assert "TYPO" not in conn.streams()["name"].to_list()

    async def config():
        nc = await nats.connect(server.url)
        try:
            return (await nc.jetstream().stream_info("CFG")).config
        finally:
            await nc.close()

    c = asyncio.run(config())
    assert (c.storage, c.retention, c.discard) == ("memory", "interest", "new")
    assert (c.max_msgs, c.max_bytes, c.max_msgs_per_subject, c.max_msg_size) == (
        500, 1 << 20, 7, 4096)
    assert (c.max_age, c.duplicate_window) == (3600.0, 30.0)
    assert (c.allow_direct, c.deny_delete, c.description) == (True, True, "typed")
    assert c.metadata["team"] == "rides"


def test_delete_message_leaves_a_gap_that_nats_py_sees(server):
    """conn.delete_message (and its async twin) delete one message; nats-py, the oracle,
    finds no message there and the rest untouched; a second delete says there is none."""
    import asyncio

    import nats
    from nats.js.errors import NotFoundError

    with ek.connect(server.url) as conn:
        conn.create_stream("DEL", ["del.>"])
        conn.publish_many(["del.a"] * 5, [b'{"n": %d}' % i for i in range(5)])
        conn.delete_message("DEL", 2)
        asyncio.run(conn.adelete_message("DEL", 4, erase=True))
        assert conn.stream("DEL").messages == 3
        with pytest.raises(ek.EventkitError, match="DEL"):
            conn.delete_message("DEL", 2)
        with pytest.raises(ek.ConfigurationError, match="stream sequence"):
            conn.delete_message("DEL", 0)
        assert conn.read("DEL").to_polars()["seq"].to_list() == [1, 3, 5]

    async def look():
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            found = []
            for seq in range(1, 6):
                try:
                    found.append((await js.get_msg("DEL", seq)).data)
                except NotFoundError:
                    found.append(None)
            return found
        finally:
            await nc.close()

    assert asyncio.run(look()) == [b'{"n": 0}', None, b'{"n": 2}', None, b'{"n": 4}']
