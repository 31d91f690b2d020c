"""Protocol details of the bulk wire, without a server."""

from __future__ import annotations

import asyncio

import pytest

from eventkit.exceptions import ConfigurationError
from eventkit.source._wire import Address, Auth, Sink, Wire, parse_servers
from eventkit.source.jetstream import positions


def test_secrets_in_urls_move_into_auth_and_out_of_sight():
    addrs, auth = parse_servers(["nats://bob:pa%40ss@h1:4223", "h2"])
    assert [str(a) for a in addrs] == ["nats://h1:4223", "nats://h2:4222"]
    assert auth.user == "bob" and auth.password == "pa@ss"
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


def test_parser_splits_messages_across_reads_and_routes_statuses():
    async def run() -> None:
        wire = Wire([Address("nats", "h", 1)], Auth())
        wire._writer = None  # no socket: only the parser is exercised
        sink = Sink()
        wire._sinks[b"1"] = sink
        hdr = b"NATS/1.0\r\nX: y\r\n\r\n"
        status = b"NATS/1.0 408 Request Timeout\r\nA: 1\r\n\r\n"
        stream = (
            b"MSG a.b 1 $JS.ACK.S.c.1.1.1.5.0 5\r\nhello\r\n"
            + b"HMSG a.c 1 $JS.ACK.S.c.1.2.2.6.0 %d %d\r\n%sabc\r\n" % (len(hdr), len(hdr) + 3, hdr)
            + b"HMSG _INBOX.x 1 %d %d\r\n%s\r\n" % (len(status), len(status), status)
            + b"MSG a.d 9 4\r\nlost\r\n"
        )
        rest = b""
        for i in range(0, len(stream), 7):  # arbitrary read boundaries
            rest = wire._parse(rest + stream[i:i + 7])
        assert rest == b""
        assert sink.statuses == [(408, {"A": "1"})]
        subjects, replies, headers, payloads = sink.take()
        assert subjects == [b"a.b", b"a.c"]
        assert payloads == [b"hello", b"abc"]
        assert headers == {1: hdr}  # by row: most messages have none
        assert replies[0] == b"$JS.ACK.S.c.1.1.1.5.0"
        assert len(sink) == 0

    asyncio.run(run())
