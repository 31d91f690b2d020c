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
