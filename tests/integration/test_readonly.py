"""Reading never changes the stream, and a read-only user can still read."""

from __future__ import annotations

import json
import warnings

import polars as pl
import pytest

import eventkit as ek

pytestmark = pytest.mark.integration

API = "$JS.API"
CONF = """
authorization { users: [
  {user: admin, password: admin-pw-1}
  {user: reader, password: reader-pw-2, permissions: {
     publish: { allow: ["$API.INFO", "$API.STREAM.INFO.RIDES", "$API.STREAM.LIST",
                        "$API.CONSUMER.CREATE.RIDES", "$API.CONSUMER.MSG.NEXT.RIDES.*",
                        "$API.CONSUMER.DELETE.RIDES.*"] }
     subscribe: { allow: ["_INBOX.>"] } } }
  {user: direct, password: direct-pw-3, permissions: {
     publish: { allow: ["$API.STREAM.INFO.RIDES", "$API.DIRECT.GET.RIDES"] }
     subscribe: { allow: ["_INBOX.>"] } } }
  {user: nobody, password: nobody-pw-4, permissions: {
     publish: { allow: ["$API.STREAM.INFO.*"] }
     subscribe: { allow: ["_INBOX.>"] } } }
] }
""".replace("$API", API)


ODD_HEADERS = [{"Nats-Sequence": "999"}, {"Nats-Stream": "Fake", "Nats-Num-Pending": "5"},
               {"Nats-Time-Stamp": "not a time", "Nats-Subject": "elsewhere", "X-Kept": "yes"},
               {"Nats-Last-Sequence": "7", "Nats-UpTo-Sequence": "8"}]


@pytest.fixture(scope="module")
def secured():
    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with ek.EmbeddedServer(config=CONF) as server:
        with ek.connect(server.url, user="admin", password="admin-pw-1") as admin:
            publish(admin, generate(seed=5, n_events=5_000), config={"allow_direct": True})
            # user headers named like the server's direct-get headers
            admin.publish_many(["rides.lisbon.odd_happened"] * len(ODD_HEADERS),
                               [b'{"type":"odd_happened","ride_id":"r0"}'] * len(ODD_HEADERS),
                               ODD_HEADERS)
            expected = admin.read("RIDES")
        yield server, expected


def _state(server) -> tuple[int, int, int]:
    with ek.connect(server.url, user="admin", password="admin-pw-1") as admin:
        info = admin.stream("RIDES")
        return info.messages, info.last_seq, info.consumers


def test_a_read_only_user_reads_and_leaves_the_stream_as_it_was(secured):
    server, expected = secured
    before = _state(server)
    with ek.connect(server.url, user="reader", password="reader-pw-2") as conn:
        events = conn.read("RIDES")
        part = conn.read("RIDES", subjects="rides.lisbon.>", start=100, end=3000)
        with pytest.raises(ek.EventkitError):
            conn.publish_many(["rides.lisbon.ride_requested"], [b"{}"])
    assert events.to_polars().equals(expected.to_polars())
    assert len(part) > 0
    assert _state(server) == before  # same messages, nothing published, no consumer left


def test_without_consumer_permission_direct_get_reads_the_same_and_says_so(secured):
    server, expected = secured
    with ek.connect(server.url, user="direct", password="direct-pw-3") as conn:
        with pytest.warns(ek.EventkitWarning, match="direct get"):
            events = conn.read("RIDES")
        assert events.to_polars().equals(expected.to_polars())
        odd = events.to_polars().filter(pl.col("type") == "odd_happened")
        assert [json.loads(h) for h in odd["headers"]] == ODD_HEADERS  # the user's, all kept
        with pytest.warns(ek.EventkitWarning, match="direct get"):
            lisbon = conn.read("RIDES", subjects="rides.lisbon.>", start=50, end=4000)
        env = expected.to_polars()
        want = env.filter(env["subject"].str.starts_with("rides.lisbon.")
                          & env["seq"].is_between(50, 4000))
        assert lisbon.to_polars().equals(want)
        with pytest.warns(ek.EventkitWarning) as told:  # pulls with no match
            none = conn.read("RIDES", subjects=["rides.nowhere.a", "rides.nowhere.b"])
        assert len(none) == 0
        said = [str(w.message) for w in told]
        assert any("direct get" in s for s in said)
        assert any("no subject in stream 'RIDES'" in s and "'rides.nowhere.a'" in s
                   for s in said)
    assert _state(server)[2] == 0


def test_no_way_to_read_is_a_clear_error(secured):
    server, _ = secured
    with ek.connect(server.url, user="nobody", password="nobody-pw-4") as conn:
        with warnings.catch_warnings(), pytest.raises(ek.PermissionDeniedError,
                                                      match="direct get") as info:
            warnings.simplefilter("ignore", ek.EventkitWarning)
            conn.read("RIDES")
        message = str(info.value)
        assert "nobody-pw-4" not in message
        # the stream allows direct get: this user may not use it (say so, not the opposite)
        assert "does not allow" not in message
        assert f"{API}.CONSUMER.CREATE.RIDES" in message and f"{API}.DIRECT.GET.RIDES" in message


def test_a_subject_outside_the_stream_is_named(secured):
    server, _ = secured
    with (
        ek.connect(server.url, user="reader", password="reader-pw-2") as conn,
        pytest.raises(ek.ConfigurationError, match=r"'orders\.>' is not in stream 'RIDES'"),
    ):
        conn.read("RIDES", subjects="orders.>")
