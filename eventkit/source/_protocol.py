"""The NATS client protocol without I/O: bytes in, frames out; commands in, bytes out.

Nothing here touches a socket, a clock or an event loop (as h11's
``Connection`` and nats.py's ``protocol/parser.py``): :class:`Parser` takes
whatever bytes a transport read, however they were cut, and gives back the
complete frames in them; the command functions give the bytes to send. The
socket, TLS and reconnect code (:mod:`eventkit.source._wire`) only moves
bytes between the two, and every transport (TCP, TLS, WebSocket) shares this.

Deliveries are the hot path of a bulk read. A large read of nothing but
deliveries to one subscription (what a pull consumer sends) is parsed with
array operations over the whole buffer and comes out as one :class:`Block`:
the positions of every subject, reply subject, header block and payload in
that buffer, and no Python object per message. Anything else (a ``PING``, a
status, a reply to another subscription, a small read) is parsed message by
message, a run of deliveries to one subscription as one :class:`Msgs` frame
holding parallel lists. Either way a reader handles a run, not a message, at
a time.

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
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "BLOCK_BYTES",
    "PING",
    "PONG",
    "Block",
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


class Block:
    """A run of deliveries to one subscription, as positions in the buffer they arrived in.

    ``subject``, ``reply``, ``header`` and ``payload`` are ``(n, 2)`` int64
    arrays of start and stop offsets into ``buf`` (a message without a reply
    subject or header block has an empty range there).
    """

    __slots__ = ("buf", "header", "payload", "reply", "sid", "subject")

    def __init__(self, sid: bytes, buf: bytes, subject: np.ndarray, reply: np.ndarray,
                 header: np.ndarray, payload: np.ndarray) -> None:
        self.sid, self.buf = sid, buf
        self.subject, self.reply, self.header, self.payload = subject, reply, header, payload

    def __len__(self) -> int:
        return len(self.payload)

    def to_msgs(self) -> Msgs:
        """The same deliveries as lists of bytes (a ``bytes`` per message)."""
        buf = self.buf
        cut = [buf[a:b] for a, b in np.concatenate(
            [self.subject, self.reply, self.payload]).tolist()]
        n = len(self)
        has = np.flatnonzero(self.header[:, 1] > self.header[:, 0]).tolist()
        headers = {i: buf[int(self.header[i, 0]):int(self.header[i, 1])] for i in has}
        return Msgs(self.sid, cut[:n], cut[n:2 * n], headers, cut[2 * n:])

    def __repr__(self) -> str:
        return f"Block(sid={self.sid!r}, {len(self)} deliveries)"


class Status(NamedTuple):
    """A status message (``NATS/1.0 <code> <description>``, no payload), e.g. a pull's end."""

    sid: bytes
    subject: bytes
    block: bytes

    def parsed(self) -> tuple[int | None, str, dict[str, str]]:
        """Its code, description and headers (see :func:`parse_headers`)."""
        return parse_headers(self.block)


Frame = Info | Ping | Pong | Ok | Err | Msgs | Block | Status


class Parser:
    """Frames out of a byte stream, cut wherever the transport cut it.

    :meth:`feed` keeps an incomplete frame until the rest arrives.

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

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data`` (in order); the rest is kept for the next call."""
        buf = self._buf + data if self._buf else data
        frames: list[Frame] = []
        pos = _parse_block(buf, frames) if len(buf) >= BLOCK_BYTES else 0
        pos = _parse(buf, frames, pos)
        self._buf = buf[pos:]
        return frames


#: A read at least this long is tried as one :class:`Block` first.
BLOCK_BYTES = 32 << 10
_MSG = np.frombuffer(b"MSG ", np.uint8)
_HMSG = np.frombuffer(b"HMSG ", np.uint8)
_DIGITS = 10  # the widest number read from a protocol line (sizes, sids)


def _parse_block(buf: bytes, frames: list[Frame]) -> int:
    """The leading run of deliveries to one subscription in ``buf``, found with array
    operations, appended to ``frames`` as a :class:`Block`; return where it ends (0: none).

    Every ``MSG``/``HMSG`` line after a line break is a candidate; their
    fields are read all at once, and the run is the longest prefix in which
    each frame ends exactly where the next candidate begins. A payload that
    itself holds ``\r\nMSG `` (or a PING, a status...) ends the run there:
    the message-by-message parser takes over from that point, so the result
    is exact whatever the bytes.
    """
    arr = np.frombuffer(buf, np.uint8)
    size = len(arr)
    cr = np.flatnonzero(arr == 13)
    if not len(cr) or (not (arr[:4] == _MSG).all() and not (arr[:5] == _HMSG).all()):
        return 0
    starts = np.concatenate(([0], cr[:-1] + 2))  # a candidate needs a line end after it
    starts = starts[starts + 5 < size]
    first = arr[starts]
    at = [arr[np.minimum(starts + j, size - 1)] for j in range(1, 5)]
    msg = (first == 77) & (at[0] == 83) & (at[1] == 71) & (at[2] == 32)
    hmsg = (first == 72) & (at[0] == 77) & (at[1] == 83) & (at[2] == 71) & (at[3] == 32)
    keep = msg | hmsg
    cand, hm = starts[keep], hmsg[keep]
    eol = cr[np.searchsorted(cr, cand)]
    spaces = np.flatnonzero(arr[:int(eol[-1])] == 32)
    i0, i1 = np.searchsorted(spaces, cand), np.searchsorted(spaces, eol)
    count = i1 - i0
    reply = np.where(hm, count == 5, count == 4)
    ok = np.where(hm, (count == 4) | (count == 5), (count == 3) | (count == 4))
    sp = spaces[np.minimum(i0[:, None] + np.arange(5), max(len(spaces) - 1, 0))]
    last = spaces[np.maximum(i1 - 1, 0)]
    total, good = _numbers(arr, last + 1, eol)
    total = total.astype(np.int64)
    ok &= good
    hsize, good = _numbers(arr, spaces[np.maximum(i1 - 2, 0)] + 1, last)
    hsize = np.where(hm, hsize.astype(np.int64), 0)
    ok &= good | ~hm
    sid, good = _numbers(arr, sp[:, 1] + 1, sp[:, 2])
    ok &= good & (sid == sid[0]) & (hsize <= total)
    data = eol + 2
    end = data + total + 2
    ok &= end <= size
    tail = np.minimum(end - 2, size - 2)
    ok &= (arr[tail] == 13) & (arr[tail + 1] == 10)
    ok &= ~(hm & (hsize == total))  # a status (no payload): for the message parser
    ok[1:] &= cand[1:] == end[:-1]  # each frame ends where the next begins
    n = int(np.argmin(ok)) if not ok.all() else len(ok)
    if n == 0:
        return 0
    rows = slice(0, n)
    zero = np.zeros(n, np.int64)
    reply_at = np.where(reply[rows, None], sp[rows, 2:4] + [1, 0], 0)
    header = np.stack([np.where(hm[rows], data[rows], zero),
                       np.where(hm[rows], data[rows] + hsize[rows], zero)], axis=1)
    block = Block(buf[int(sp[0, 1]) + 1:int(sp[0, 2])], buf,
                  np.stack([cand[rows] + np.where(hm[rows], 5, 4), sp[rows, 1]], axis=1),
                  reply_at, header,
                  np.stack([data[rows] + hsize[rows], data[rows] + total[rows]], axis=1))
    frames.append(block)
    return int(end[n - 1])


def _numbers(arr: np.ndarray, start: np.ndarray, stop: np.ndarray,
             digits: int = _DIGITS) -> tuple[np.ndarray, np.ndarray]:
    """The decimal numbers at ``arr[start:stop]`` (each, at most ``digits`` long, as
    uint64), and whether each is one.

    >>> _numbers(np.frombuffer(b"12 7 x", np.uint8), np.array([0, 3, 5]), np.array([2, 4, 6]))
    (array([12,  7,  0], dtype=uint64), array([ True,  True, False]))
    """
    width = stop - start
    value = np.zeros(len(start), np.uint64)
    good = (width >= 1) & (width <= digits)
    last = len(arr) - 1
    ten = np.uint64(10)
    for j in range(min(int(width.max(initial=0)), digits)):  # digit by digit, all at once
        inside = width > j
        digit = arr[np.minimum(start + j, last)] - np.uint8(48)  # wraps below "0": > 9
        good &= ~inside | (digit <= 9)
        value = np.where(inside, value * ten + digit, value)
    return np.where(good, value, 0).astype(np.uint64), good


def _parse(buf: bytes, frames: list[Frame], pos: int = 0) -> int:
    """Append the complete frames of ``buf`` from ``pos`` to ``frames``; return where the
    rest begins.

    Consecutive deliveries to one subscription append to the lists of one
    :class:`Msgs`, with no call and no object per message.
    """
    end = len(buf)
    find = buf.find
    starts = buf.startswith
    run: Msgs | None = None
    while pos < end:
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
