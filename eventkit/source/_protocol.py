"""The NATS client protocol without I/O: bytes in, frames out; commands in, bytes out.

Nothing here touches a socket, a clock or an event loop (as h11's
``Connection`` and nats.py's ``protocol/parser.py``): :class:`Parser` takes
whatever bytes a transport read, however they were cut, and gives back the
complete frames in them; the command functions give the bytes to send. The
socket, TLS and reconnect code (:mod:`eventkit.source._wire`) only moves
bytes between the two, and every transport (TCP, TLS, WebSocket) shares this.

Deliveries are the hot path of a bulk read: a run of ``MSG``/``HMSG`` to one
subscription comes out as one :class:`Msgs` frame holding parallel lists, so
that a reader handles a run, not a message, at a time.

Examples
--------
>>> parser = Parser()
>>> parser.feed(b"INFO {\\"max_payload\\": 1048576}\\r\\nPING\\r\\nMSG a.b 1 5\\r\\nhel")
[Info(info={'max_payload': 1048576}), Ping()]
>>> parser.feed(b"lo\\r\\n")
[Msgs(sid=b'1', subjects=[b'a.b'], replies=[b''], headers={}, payloads=[b'hello'])]
>>> pub("a.b", b"hi", reply="_INBOX.1")
b'PUB a.b _INBOX.1 2\\r\\nhi\\r\\n'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "COMPILED",
    "PING",
    "PONG",
    "Err",
    "Frame",
    "Info",
    "Msgs",
    "Ok",
    "Parser",
    "Ping",
    "Pong",
    "ProtocolError",
    "Status",
    "encode_headers",
    "parse_headers",
    "pub",
    "sub",
    "unsub",
]

CRLF = b"\r\n"
PING = b"PING\r\n"
PONG = b"PONG\r\n"
_STATUS_LINE = len(b"NATS/1.0")


class ProtocolError(ValueError):
    """The bytes are not the NATS client protocol (a transport turns it into its own error)."""


class Info(NamedTuple):
    """``INFO {json}``: the server's facts (sent on connect, and when its cluster changes)."""

    info: dict[str, Any]


class Ping(NamedTuple):
    """``PING``: answer with :data:`PONG`."""


class Pong(NamedTuple):
    """``PONG``."""


class Ok(NamedTuple):
    """``+OK`` (only in verbose mode)."""


class Err(NamedTuple):
    """``-ERR '<reason>'``: the reason, without its quotes."""

    reason: str


class Msgs(NamedTuple):
    """A run of deliveries to one subscription, in the order they arrived.

    Per delivery a subject, a reply subject (``b""`` if none) and a payload;
    ``headers`` holds the header blocks of the few that have one, by index
    in the run.
    """

    sid: bytes
    subjects: list[bytes]
    replies: list[bytes]
    headers: dict[int, bytes]
    payloads: list[bytes]


class Status(NamedTuple):
    """A status message (``NATS/1.0 <code> <description>``, no payload), e.g. a pull's end."""

    sid: bytes
    subject: bytes
    block: bytes

    def parsed(self) -> tuple[int | None, str, dict[str, str]]:
        """Its code, description and headers (see :func:`parse_headers`)."""
        return parse_headers(self.block)


Frame = Info | Ping | Pong | Ok | Err | Msgs | Status


class Parser:
    """Frames out of a byte stream, cut wherever the transport cut it.

    :meth:`feed` keeps an incomplete frame until the rest arrives. Runs of
    deliveries are read by the compiled loop where it was built (see
    :data:`COMPILED`), else by Python; ``compiled=False`` asks for Python,
    and both give the same frames.

    Examples
    --------
    >>> p = Parser()
    >>> p.feed(b"HMSG s 2 _R 12 14\\r\\nNATS/1.0\\r\\n\\r\\n")
    []
    >>> p.feed(b"hi\\r\\nHMSG _R.1 3 32 32\\r\\nNATS/1.0 408 Request Timeout\\r\\n\\r\\n\\r\\n")
    ... # doctest: +NORMALIZE_WHITESPACE
    [Msgs(sid=b'2', subjects=[b's'], replies=[b'_R'], headers={0: b'NATS/1.0\\r\\n\\r\\n'},
          payloads=[b'hi']),
     Status(sid=b'3', subject=b'_R.1', block=b'NATS/1.0 408 Request Timeout\\r\\n\\r\\n')]
    >>> p.pending
    0
    """

    __slots__ = ("_buf", "_fast")

    def __init__(self, *, compiled: bool = True) -> None:
        self._buf = b""
        self._fast = _compiled if compiled else None

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data`` (in order); the rest is kept for the next call."""
        buf = self._buf + data if self._buf else data
        frames: list[Frame] = []
        pos = _parse(buf, frames, fast=self._fast)
        self._buf = buf[pos:]
        return frames


_Fast = Callable[[bytes, int, Msgs | None, list[Frame], type], tuple[int, Msgs | None]]

try:  # the compiled loop (setup.py builds it where a C compiler is at hand)
    from eventkit.source._protocol_c import deliveries as _compiled_loop
except ImportError:  # pragma: no cover - a machine without a compiler
    _compiled_loop = None

_compiled: _Fast | None = _compiled_loop
#: Is the compiled loop for deliveries there (else the Python loop reads them)?
COMPILED = _compiled is not None


def _parse(buf: bytes, frames: list[Frame], pos: int = 0, *, fast: _Fast | None = None) -> int:
    """Append the complete frames of ``buf`` from ``pos`` to ``frames``; return where the
    rest begins.

    Consecutive deliveries to one subscription append to the lists of one
    :class:`Msgs`, with no call and no object per message. ``fast`` (the
    compiled loop) takes the well-formed deliveries; it stops at anything
    else, and this loop deals with that one frame before handing back.
    """
    end = len(buf)
    find = buf.find
    starts = buf.startswith
    run: Msgs | None = None
    while pos < end:
        if fast is not None:
            pos, run = fast(buf, pos, run, frames, Msgs)
            if pos >= end:
                break
        eol = find(CRLF, pos)
        if eol < 0:
            break
        if starts(b"MSG ", pos):
            parts = buf[pos + 4:eol].split(b" ")
            start = eol + 2
            stop = start + int(parts[-1])
            if stop + 2 > end:
                break
            if run is None or parts[1] != run.sid:
                run = Msgs(parts[1], [], [], {}, [])
                frames.append(run)
            run.subjects.append(parts[0])
            run.replies.append(parts[2] if len(parts) == 4 else b"")
            run.payloads.append(buf[start:stop])
            pos = stop + 2
        elif starts(b"HMSG ", pos):
            parts = buf[pos + 5:eol].split(b" ")
            hsize, size = int(parts[-2]), int(parts[-1])
            start = eol + 2
            if start + size + 2 > end:
                break
            hdr = buf[start:start + hsize]
            if size == hsize and hdr[_STATUS_LINE:_STATUS_LINE + 1] == b" ":
                frames.append(Status(parts[1], parts[0], hdr))  # "NATS/1.0 <code>"
                run = None
            else:
                if run is None or parts[1] != run.sid:
                    run = Msgs(parts[1], [], [], {}, [])
                    frames.append(run)
                run.headers[len(run.payloads)] = hdr
                run.subjects.append(parts[0])
                run.replies.append(parts[2] if len(parts) == 5 else b"")
                run.payloads.append(buf[start + hsize:start + size])
            pos = start + size + 2
        else:
            frames.append(_control(buf[pos:eol]))
            run = None
            pos = eol + 2
    return pos


def _control(line: bytes) -> Frame:
    if line == b"PING":
        return Ping()
    if line == b"PONG":
        return Pong()
    if line.startswith(b"INFO "):
        return Info(json.loads(line[5:]))
    if line.startswith(b"-ERR"):
        return Err(line[4:].strip(b" '").decode(errors="replace"))
    if line == b"+OK":
        return Ok()
    raise ProtocolError(f"not a NATS protocol line: {line[:40]!r}")


# -- commands ------------------------------------------------------------------

def pub(subject: str, payload: bytes, *, reply: str = "", headers: bytes | None = None) -> bytes:
    """``PUB`` (or ``HPUB`` with a header block) of one message.

    >>> pub("a", b"x", headers=b"NATS/1.0\\r\\n\\r\\n")
    b'HPUB a 12 13\\r\\nNATS/1.0\\r\\n\\r\\nx\\r\\n'
    """
    subj = subject.encode()
    rep = b" " + reply.encode() if reply else b""
    if headers:
        return b"HPUB %s%s %d %d\r\n%s%s\r\n" % (subj, rep, len(headers),
                                                len(headers) + len(payload), headers, payload)
    return b"PUB %s%s %d\r\n%s\r\n" % (subj, rep, len(payload), payload)


def sub(subject: str, sid: bytes) -> bytes:
    """``SUB``: deliver what is sent to ``subject`` as subscription ``sid``."""
    return b"SUB %s %s\r\n" % (subject.encode(), sid)


def unsub(sid: bytes) -> bytes:
    """``UNSUB``: end subscription ``sid``."""
    return b"UNSUB %s\r\n" % sid


# -- headers -------------------------------------------------------------------

def parse_headers(block: bytes) -> tuple[int | None, str, dict[str, str]]:
    """Status code, description and headers of a ``NATS/1.0`` header block.

    Repeated names are joined with ``", "``.

    Examples
    --------
    >>> parse_headers(b"NATS/1.0\\r\\nNats-Msg-Id: a1\\r\\n\\r\\n")
    (None, '', {'Nats-Msg-Id': 'a1'})
    >>> parse_headers(b"NATS/1.0 408 Request Timeout\\r\\nNats-Pending-Messages: 7\\r\\n\\r\\n")
    (408, 'Request Timeout', {'Nats-Pending-Messages': '7'})
    """
    lines = block.decode("utf-8", "replace").split("\r\n")
    first = lines[0][_STATUS_LINE:].strip()
    code: int | None = None
    desc = ""
    if first:
        head, _, desc = first.partition(" ")
        code = int(head) if head.isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return code, desc, headers


def encode_headers(headers: dict[str, str]) -> bytes:
    """A ``NATS/1.0`` header block.

    >>> parse_headers(encode_headers({"Nats-Msg-Id": "a1"}))[2]
    {'Nats-Msg-Id': 'a1'}
    """
    lines = ["NATS/1.0"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
