"""WebSocket framing (RFC 6455) for NATS over ws://, without a NATS server.

The frames of RFC 6455 section 5.7 are the oracle for the byte layout; a
loopback socket with a small WebSocket server written here (from the
same RFC, using the decoder under test only for what the client sent)
checks the upgrade, masking, fragmentation and ping handling end to end.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventkit.exceptions import ConnectionFailedError
from eventkit.source._websocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    FrameDecoder,
    accept_key,
    encode_frame,
    mask,
    open_websocket,
)


def test_the_frames_of_rfc_6455_section_5_7():
    hello_masked = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert encode_frame(TEXT, b"Hello") == bytes([0x81, 0x05]) + b"Hello"
    assert encode_frame(TEXT, b"Hello", mask_key=bytes([0x37, 0xFA, 0x21, 0x3D])) == hello_masked
    assert encode_frame(BINARY, b"x" * 256)[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    assert encode_frame(BINARY, b"x" * 65536)[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    fragmented = bytes([0x01, 0x03]) + b"Hel" + bytes([0x80, 0x02]) + b"lo"
    assert FrameDecoder().feed(fragmented) == [(TEXT, b"Hello")]
    assert FrameDecoder().feed(hello_masked) == [(TEXT, b"Hello")]
    ping = bytes([0x89, 0x05]) + b"Hello"
    assert FrameDecoder().feed(ping) == [(PING, b"Hello")]


def test_the_accept_key_of_the_rfc_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_continuation_with_no_message_open_is_an_error():
    with pytest.raises(ConnectionFailedError, match="continuation"):
        FrameDecoder().feed(encode_frame(CONTINUATION, b"x"))


@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_masking_twice_gives_the_payload_back(payload, key):
    masked = mask(payload, key)
    assert len(masked) == len(payload)
    assert mask(masked, key) == payload
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(payload))


messages = st.lists(st.tuples(st.binary(max_size=70_000), st.integers(1, 4),
                              st.booleans(), st.booleans()), max_size=6)


@given(messages, st.lists(st.integers(1, 9000), min_size=1, max_size=20))
def test_any_cut_of_any_frames_decodes_to_the_messages_sent(sent, cuts):
    """Messages split in fragments (a ping between them), masked or not, fed in
    arbitrary slices: the decoder gives back each message whole, in order."""
    stream = b""
    expected: list[tuple[int, bytes]] = []
    for payload, pieces, masked, ping in sent:
        key = b"\x01\x02\x03\x04" if masked else None
        size = -(-len(payload) // pieces) or 1
        chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        for i, chunk in enumerate(chunks):
            stream += encode_frame(BINARY if i == 0 else CONTINUATION, chunk, mask_key=key,
                                   fin=i == len(chunks) - 1)
            if ping and i == 0:
                stream += encode_frame(PING, b"p")
        # a ping inside a fragmented message comes out before the message completes
        if not ping:
            expected.append((BINARY, payload))
        elif len(chunks) > 1:
            expected += [(PING, b"p"), (BINARY, payload)]
        else:
            expected += [(BINARY, payload), (PING, b"p")]
    decoder = FrameDecoder()
    got: list[tuple[int, bytes]] = []
    pos, i = 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        got += decoder.feed(stream[pos:pos + step])
        pos, i = pos + step, i + 1
    assert got == expected


async def _ws_server(handle, accept=None):
    """A loopback WebSocket server: upgrade by RFC 6455, then ``handle(reader, writer)``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        assert lines[0].startswith("GET / HTTP/1.1")
        assert headers["upgrade"] == "websocket" and headers["sec-websocket-version"] == "13"
        key = headers["sec-websocket-key"]
        assert len(base64.b64decode(key)) == 16
        answer = accept or base64.b64encode(
            hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        ).decode()
        writer.write(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Accept: {answer}\r\n\r\n".encode())
        await handle(reader, writer)
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def _client_frames(reader: asyncio.StreamReader, count: int) -> list[tuple[bool, int,
                                                                                 bytes]]:
    """``count`` frames the client sent: (masked, opcode, unmasked payload)."""
    out = []
    for _ in range(count):
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        key = await reader.readexactly(4) if b1 & 0x80 else b""
        data = await reader.readexactly(n)
        out.append((bool(b1 & 0x80), b0 & 0x0F, mask(data, key) if key else data))
    return out


def test_a_nats_session_over_a_loopback_websocket():
    """INFO arrives split over two fragments with a ping between; the client reads it as
    a line, answers the ping with a pong, sends its bytes masked in binary frames."""
    seen: list[tuple[bool, int, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_frame(BINARY, b'INFO {"a":', fin=False)
                     + encode_frame(PING, b"hb")
                     + encode_frame(CONTINUATION, b"1}\r\nPI")
                     + encode_frame(BINARY, b"NG\r\n" + b"M" * 70_000))
        seen.extend(await _client_frames(reader, 3))
        writer.write(encode_frame(CLOSE, (1000).to_bytes(2, "big")))
        await writer.drain()

    async def run() -> None:
        server = await _ws_server(handle)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await open_websocket("127.0.0.1", port, tls=None)
            assert await reader.readline() == b'INFO {"a":1}\r\n'
            assert await reader.readline() == b"PING\r\n"
            body = b""
            while len(body) < 70_000:
                body += await reader.read(10_000)
            assert body == b"M" * 70_000
            writer.write(b"CONNECT {}\r\nPONG\r\n")
            writer.write(b"P" * 300)
            await writer.drain()
            assert await reader.read(100) == b""  # the server closed: end of stream
            writer.close()
            await writer.wait_closed()

    asyncio.run(run())
    assert seen == [(True, PONG, b"hb"), (True, BINARY, b"CONNECT {}\r\nPONG\r\n"),
                    (True, BINARY, b"P" * 300)]


def test_a_wrong_accept_key_or_no_upgrade_is_refused():
    async def nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.drain()

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'INFO {"server_id":"x"}\r\n')  # a plain NATS port
        await writer.drain()
        writer.close()

    async def run() -> None:
        server = await _ws_server(nothing, accept="bm90IHRoZSByaWdodCBrZXk=")
        async with server:
            with pytest.raises(ConnectionFailedError, match="Sec-WebSocket-Accept"):
                await open_websocket("127.0.0.1", server.sockets[0].getsockname()[1], tls=None)
        server = await asyncio.start_server(plain, "127.0.0.1", 0)
        async with server:
            with pytest.raises(ConnectionFailedError, match="WebSocket upgrade"):
                await open_websocket("127.0.0.1", server.sockets[0].getsockname()[1], tls=None)

    asyncio.run(run())
