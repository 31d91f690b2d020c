"""Protocol details of the bulk wire, without a server."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventkit.exceptions import ConfigurationError
from eventkit.source._protocol import Info, Parser
from eventkit.source._wire import Address, Auth, Sink, Wire, parse_servers
from eventkit.source.jetstream import positions


def test_secrets_in_urls_move_into_auth_and_out_of_sight():
    addrs, auth = parse_servers(["nats://bob:pa%40ss@h1:4223", "h2"])
    assert [str(a) for a in addrs] == ["nats://h1:4223", "nats://h2:4222"]
    assert auth.user == "bob" and auth.password is not None
    assert auth.password.reveal() == "pa@ss"
    assert "pa@ss" not in repr(auth) and "bob" not in repr(auth)
    _, token = parse_servers("nats://s3cr3t@h1")
    assert token.kind == "token" and "s3cr3t" not in repr(token)
    with pytest.raises(ConfigurationError, match="scheme"):
        parse_servers("http://h1")


def test_positions_from_both_reply_forms():
    seq, ts = positions([
        b"$JS.ACK.RIDES.c.1.7.7.1793534400000000123.0",
        b"$JS.ACK.hub.ACCHASH.RIDES.c.1.8.8.1793534400000000456.0.tok",
    ])
    assert seq.to_list() == [7, 8]
    assert ts.dt.epoch("ns").to_list() == [1793534400000000123, 1793534400000000456]


def test_the_wire_routes_frames_to_their_sinks():
    async def run() -> None:
        wire = Wire([Address("nats", "h", 1)], Auth())
        wire._writer = None  # no socket: only the routing is exercised
        sink = Sink()
        wire._sinks[b"1"] = sink
        hdr = b"NATS/1.0\r\nX: y\r\n\r\n"
        status = b"NATS/1.0 408 Request Timeout\r\nA: 1\r\n\r\n"
        stream = (
            b"MSG a.b 1 $JS.ACK.S.c.1.1.1.5.0 5\r\nhello\r\n"
            + b"HMSG a.c 1 $JS.ACK.S.c.1.2.2.6.0 %d %d\r\n%sabc\r\n" % (len(hdr), len(hdr) + 3, hdr)
            + b"HMSG _INBOX.x 1 %d %d\r\n%s\r\n" % (len(status), len(status), status)
            + b"MSG a.d 9 4\r\nlost\r\n"  # no such subscription (any more)
            + b"MSG a.e 1 2\r\nok\r\n"
        )
        parser = Parser()
        for i in range(0, len(stream), 7):  # arbitrary read boundaries
            wire.receive(parser.feed(stream[i:i + 7]))
        assert sink.statuses == [(408, "Request Timeout", {"A": "1"})]
        subjects, replies, headers, payloads = sink.take()
        assert subjects == [b"a.b", b"a.c", b"a.e"]
        assert payloads == [b"hello", b"abc", b"ok"]
        assert headers == {1: hdr}  # by row: most messages have none
        assert replies[0] == b"$JS.ACK.S.c.1.1.1.5.0"
        assert len(sink) == 0

    asyncio.run(run())


_NAMES = st.sampled_from(["Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp",
                          "Nats-Num-Pending", "Nats-Last-Sequence", "Nats-Msg-Id", "X-Any"])
_VALUES = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=6), st.integers(1, 2**40),
       st.booleans())
def test_direct_get_headers_split_the_servers_from_the_messages_own(own, seq, batch):
    from eventkit.source.jetstream import split_direct_headers

    user = b"NATS/1.0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in own)
    # as nats-server writes a direct-get reply: the message's block, then its own lines
    server = {"Nats-Stream": "S", "Nats-Subject": "a.b", "Nats-Sequence": str(seq),
              "Nats-Time-Stamp": "2026-11-01T12:00:00.5Z"}
    if batch:
        server |= {"Nats-Num-Pending": "3", "Nats-Last-Sequence": str(seq - 1)}
    block = user + b"".join(f"{k}: {v}\r\n".encode() for k, v in server.items()) + b"\r\n"
    got, kept = split_direct_headers(block)
    assert got == server
    assert kept == (user + b"\r\n" if own else None)


@given(st.lists(st.integers(0, 300), min_size=1, max_size=60), st.integers(1, 40),
       st.integers(50, 3_000), st.data())
def test_batches_are_cut_at_their_limits_however_deliveries_arrive(sizes, batch, batch_bytes,
                                                                   data):
    from eventkit.source._wire import Deliveries
    from eventkit.source.jetstream import _Span, _Taken

    span = _Span("S", (), None, 10**9, None, batch, batch_bytes, 1, 1, 1.0)
    replies = [b"$JS.ACK.S.c.1.%d.%d.%d.0" % (i + 1, i + 1, 10**18 + i) for i in range(len(sizes))]
    payloads = [b"x" * n for n in sizes]

    def batches(cuts: list[int], again: frozenset[int] = frozenset()) -> list[list[int]]:
        taken, out, lo = _Taken(0), [], 0
        for hi in [*sorted(set(cuts)), len(sizes)]:
            if hi > lo:
                taken.add(Deliveries([b"s"] * (hi - lo), replies[lo:hi], {}, payloads[lo:hi]))
                if hi in again:  # a redelivery of what came already (after a reconnect)
                    taken.add(Deliveries([b"s"], replies[lo:lo + 1], {}, payloads[lo:lo + 1]))
                out += [raw.seq.to_list() for raw in taken.full(span)]
                lo = hi
        rest = taken.rest(span)
        return out + ([rest.seq.to_list()] if rest is not None else [])

    one = batches([])
    cuts = data.draw(st.lists(st.integers(1, len(sizes)), max_size=10))
    chunked = batches(cuts, frozenset(data.draw(st.lists(st.sampled_from(cuts), max_size=3))
                                      if cuts else ()))
    assert one == chunked  # the same batches whatever the chunks
    assert [s for b in one for s in b] == list(range(1, len(sizes) + 1))
    for b in one[:-1]:  # every batch but the last is full, by count or by bytes, and no more
        used = sum(sizes[s - 1] for s in b)
        assert len(b) == batch or (used >= batch_bytes and used - sizes[b[-1] - 1] < batch_bytes)


def test_servers_the_cluster_advertises_keep_the_scheme_and_the_tls_name():
    wire = Wire([Address("tls", "nats.example", 4222)], Auth())
    wire.address = wire.addresses[0]
    wire.receive(Parser().feed(
        b'INFO {"connect_urls": ["10.0.0.2:4222", "[::1]:4223", "b.example:4224"]}\r\n'))
    assert [(str(a), a.tls_name) for a in wire.advertised()] == [
        ("tls://10.0.0.2:4222", "nats.example"), ("tls://[::1]:4223", "nats.example"),
        ("tls://b.example:4224", None)]
    assert not wire.lame_duck
    wire.receive([Info({"ldm": True})])
    assert wire.lame_duck and len(wire.advertised()) == 3  # an update keeps what it omits

