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
