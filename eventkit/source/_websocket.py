"""NATS over WebSocket (``ws://``, ``wss://``): the client side of RFC 6455, no library.

A NATS server with a ``websocket`` listener speaks the same protocol bytes
inside binary WebSocket messages. This module does the HTTP upgrade, frames
what the client sends (masked, as a client must), and turns the server's
frames back into one byte stream, so :class:`~eventkit.source._wire.Wire`
reads and writes as over TCP. The framing is pure (bytes in, frames out)
and tested without a server; :func:`open_websocket` adds the socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
from typing import Any

from eventkit.exceptions import ConnectionFailedError

__all__ = ["FrameDecoder", "accept_key", "encode_frame", "open_websocket"]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 64 * 1024  # the upgrade answer's headers


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key: key``.

    Examples
    --------
    >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")  # RFC 6455, section 1.3
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def mask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR-ed with the 4-byte ``key`` repeated (masking and unmasking alike).

    Examples
    --------
    >>> mask(mask(b"PING\\r\\n", b"abcd"), b"abcd")
    b'PING\\r\\n'
    """
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, *, mask_key: bytes | None = None,
                 fin: bool = True) -> bytes:
    """One WebSocket frame; a client passes a fresh 4-byte ``mask_key`` for every frame.

    Examples
    --------
    >>> encode_frame(BINARY, b"PING\\r\\n")
    b'\\x82\\x06PING\\r\\n'
    >>> encode_frame(BINARY, b"hi", mask_key=b"\\x00\\x00\\x00\\x00")
    b'\\x82\\x82\\x00\\x00\\x00\\x00hi'
    """
    head = bytearray([(0x80 if fin else 0) | opcode])
    flag = 0x80 if mask_key is not None else 0
    n = len(payload)
    if n < 126:
        head.append(flag | n)
    elif n < 1 << 16:
        head.append(flag | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(flag | 127)
        head += n.to_bytes(8, "big")
    if mask_key is None:
        return bytes(head) + payload
    return bytes(head) + mask_key + mask(payload, mask_key)


class FrameDecoder:
    """Bytes from the server in, whole messages and control frames out.

    :meth:`feed` takes any slice of the stream (a frame may be cut anywhere)
    and returns ``(opcode, payload)`` for each complete message (fragments
    joined, reported with the first fragment's opcode) and each control
    frame (ping, pong, close) in arrival order.

    Examples
    --------
    >>> d = FrameDecoder()
    >>> frame = encode_frame(BINARY, b"INFO {}\\r\\n")
    >>> d.feed(frame[:3]), d.feed(frame[3:])
    ([], [(2, b'INFO {}\\r\\n')])
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._opcode: int | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        buf = self._buf
        pos = 0
        while True:
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            fin, opcode = bool(b0 & 0x80), b0 & 0x0F
            masked, n = bool(b1 & 0x80), b1 & 0x7F
            at = pos + 2
            if n == 126:
                if len(buf) - at < 2:
                    break
                n = int.from_bytes(buf[at:at + 2], "big")
                at += 2
            elif n == 127:
                if len(buf) - at < 8:
                    break
                n = int.from_bytes(buf[at:at + 8], "big")
                at += 8
            key = b""
            if masked:
                if len(buf) - at < 4:
                    break
                key = bytes(buf[at:at + 4])
                at += 4
            if len(buf) - at < n:
                break
            payload = bytes(buf[at:at + n])
            if masked:
                payload = mask(payload, key)
            pos = at + n
            if opcode >= CLOSE:  # control frames are never fragmented
                out.append((opcode, payload))
            elif opcode == CONTINUATION:
                if self._opcode is None:
                    raise ConnectionFailedError(
                        "the WebSocket server sent a continuation frame with no message open")
                self._parts.append(payload)
                if fin:
                    out.append((self._opcode, b"".join(self._parts)))
                    self._parts, self._opcode = [], None
            elif fin:
                out.append((opcode, payload))
            else:
                self._opcode, self._parts = opcode, [payload]
        del buf[:pos]
        return out


class WebSocketReader:
    """The server's messages as one byte stream: ``read`` and ``readline`` as on TCP."""

    def __init__(self, raw: asyncio.StreamReader, writer: WebSocketWriter,
                 rest: bytes = b"") -> None:
        self._raw = raw
        self._writer = writer
        self._decoder = FrameDecoder()
        self._data = bytearray()
        self._eof = False
        self._pending = rest  # frame bytes that came with the upgrade answer

    async def _more(self) -> bool:
        """Take in one more chunk from the socket; False at the end of the stream."""
        if self._eof:
            return False
        chunk, self._pending = self._pending or await self._raw.read(1 << 20), b""
        if not chunk:
            self._eof = True
            return False
        for opcode, payload in self._decoder.feed(chunk):
            if opcode in (BINARY, TEXT):
                self._data += payload
            elif opcode == PING:
                self._writer.control(PONG, payload)
            elif opcode == CLOSE:
                self._writer.control(CLOSE, payload[:2])
                self._eof = True
        return True

    def _take(self, size: int) -> bytes:
        out = bytes(self._data[:size])
        del self._data[:size]
        return out

    async def read(self, n: int = -1) -> bytes:
        while not self._data and await self._more():
            pass
        return self._take(len(self._data) if n < 0 else min(n, len(self._data)))

    async def readline(self) -> bytes:
        while b"\n" not in self._data and await self._more():
            pass
        end = self._data.find(b"\n")
        return self._take(len(self._data) if end < 0 else end + 1)


class WebSocketWriter:
    """Writes go out as masked binary frames; the rest is the TCP writer's."""

    def __init__(self, raw: asyncio.StreamWriter) -> None:
        self._raw = raw
        self._closing = False

    def write(self, data: bytes) -> None:
        if data:
            self._raw.write(encode_frame(BINARY, data, mask_key=os.urandom(4)))

    def control(self, opcode: int, payload: bytes = b"") -> None:
        if not self._closing and not self._raw.is_closing():
            self._raw.write(encode_frame(opcode, payload, mask_key=os.urandom(4)))
            self._closing = opcode == CLOSE

    async def drain(self) -> None:
        await self._raw.drain()

    def close(self) -> None:
        self.control(CLOSE, (1000).to_bytes(2, "big"))
        self._raw.close()

    async def wait_closed(self) -> None:
        await self._raw.wait_closed()

    def is_closing(self) -> bool:
        return self._raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._raw.get_extra_info(name, default)


async def open_websocket(host: str, port: int, *, tls: ssl.SSLContext | None,
                         path: str = "/") -> tuple[WebSocketReader, WebSocketWriter]:
    """Connect, upgrade to WebSocket (over TLS when ``tls`` is given), return the streams."""
    reader, writer = await asyncio.open_connection(
        host, port, ssl=tls, server_hostname=host if tls is not None else None,
        limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    where = f"[{host}]" if ":" in host else host
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {where}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "\r\n".encode())
    await writer.drain()
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            chunk = await reader.read(4096)
        except ConnectionError:
            chunk = b""
        head += chunk
        if len(head) >= 5 and not head.startswith(b"HTTP/"):
            writer.close()
            raise ConnectionFailedError(
                f"{host}:{port} did not answer the WebSocket upgrade (it sent "
                f"{head[:20]!r}...: a plain NATS port? use nats:// for it)")
        if not chunk:
            writer.close()
            raise ConnectionFailedError(
                f"{host}:{port} closed the connection during the WebSocket upgrade (not a "
                "NATS websocket listener?)")
        if len(head) > _MAX_HEAD:
            writer.close()
            raise ConnectionFailedError(f"{host}:{port} sent no end to its upgrade answer")
    head, _, rest = head.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    if status.split(" ")[1:2] != ["101"]:
        writer.close()
        raise ConnectionFailedError(
            f"{host}:{port} refused the WebSocket upgrade: {status.strip()[:80]!r}")
    if headers.get("sec-websocket-accept") != accept_key(key):
        writer.close()
        raise ConnectionFailedError(f"{host}:{port} answered the WebSocket upgrade with a "
                                    "wrong Sec-WebSocket-Accept")
    ws_writer = WebSocketWriter(writer)
    return WebSocketReader(reader, ws_writer, rest), ws_writer
