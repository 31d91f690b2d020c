"""The sans-I/O NATS protocol: frames out of bytes cut anywhere, commands into bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventkit.source import _protocol
from eventkit.source._protocol import (
    Err,
    Frame,
    Info,
    Msgs,
    Ok,
    Parser,
    Ping,
    Pong,
    ProtocolError,
    Status,
    encode_headers,
    parse_headers,
    pub,
    sub,
    unsub,
)


def _flat(frames: list[Frame]) -> list[tuple[object, ...]]:
    """One entry per delivery or control frame, however runs were grouped."""
    out: list[tuple[object, ...]] = []
    for f in frames:
        if isinstance(f, Msgs):
            out += [("msg", f.sid, s, r, f.headers.get(i), p)
                    for i, (s, r, p) in enumerate(zip(f.subjects, f.replies, f.payloads,
                                                      strict=True))]
        else:
            out.append((type(f).__name__, *f))
    return out


def _msg(subject: bytes, sid: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bytes:
    """A delivery as nats-server writes it (written here independently of the parser)."""
    rep = b" " + reply if reply else b""
    if hdr is None:
        return b"MSG " + subject + b" " + sid + rep + b" " + str(len(payload)).encode() \
            + b"\r\n" + payload + b"\r\n"
    return (b"HMSG " + subject + b" " + sid + rep + b" " + str(len(hdr)).encode() + b" "
            + str(len(hdr) + len(payload)).encode() + b"\r\n" + hdr + payload + b"\r\n")


_HDR = b"NATS/1.0\r\nX: y\r\n\r\n"
_STATUS = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 7\r\n\r\n"
_STREAM = (
    b'INFO {"server_id":"N","max_payload":1048576}\r\n'
    + _msg(b"a.b", b"1", b"$JS.ACK.S.c.1.1.1.5.0", None, b"hello")
    + _msg(b"a.c", b"1", b"$JS.ACK.S.c.1.2.2.6.0", _HDR, b"abc\r\nMSG x 1 3\r\nfoo")
    + _msg(b"a.d", b"1", b"", None, b"")
    + b"PING\r\n"
    + _msg(b"_INBOX.x", b"2", b"", _STATUS, b"")
    + _msg(b"a.e", b"2", b"", None, b"\x00\xff\r\n")
    + b"PONG\r\n+OK\r\n-ERR 'Permissions Violation for Subscription to \"x\"'\r\n"
)
_EXPECTED = [
    ("Info", {"server_id": "N", "max_payload": 1048576}),
    ("msg", b"1", b"a.b", b"$JS.ACK.S.c.1.1.1.5.0", None, b"hello"),
    ("msg", b"1", b"a.c", b"$JS.ACK.S.c.1.2.2.6.0", _HDR, b"abc\r\nMSG x 1 3\r\nfoo"),
    ("msg", b"1", b"a.d", b"", None, b""),
    ("Ping",),
    ("Status", b"2", b"_INBOX.x", _STATUS),
    ("msg", b"2", b"a.e", b"", None, b"\x00\xff\r\n"),
    ("Pong",), ("Ok",), ("Err", 'Permissions Violation for Subscription to "x"'),
]


#: every parser test runs on both loops over deliveries: compiled, and pure Python
BOTH = pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])


def test_the_compiled_loop_is_built():
    # setup.py builds it where a C compiler works (CI has one): else only the Python
    # loop would be tested below, under both names
    assert _protocol.COMPILED
    assert Parser()._fast is not None and Parser(compiled=False)._fast is None


@BOTH
def test_a_whole_stream_gives_every_frame_in_order(compiled):
    parser = Parser(compiled=compiled)
    frames = parser.feed(_STREAM)
    assert _flat(frames) == _EXPECTED
    assert parser.pending == 0
    runs = [f for f in frames if isinstance(f, Msgs)]
    assert [len(r.payloads) for r in runs] == [3, 1]  # a run per subscription, not per message
    assert runs[0].headers == {1: _HDR}
    assert isinstance(frames[0], Info) and isinstance(frames[2], Ping)
    status = frames[3]
    assert isinstance(status, Status)
    assert status.parsed() == (408, "Request Timeout", {"Nats-Pending-Messages": "7"})
    assert isinstance(frames[-3], Pong) and isinstance(frames[-2], Ok)
    assert isinstance(frames[-1], Err)


@BOTH
@pytest.mark.parametrize("cut", range(1, len(_STREAM)))
def test_frames_split_at_every_byte_boundary_come_out_the_same(cut, compiled):
    parser = Parser(compiled=compiled)
    first = parser.feed(_STREAM[:cut])
    held = parser.pending
    assert held <= cut
    assert _flat(first + parser.feed(_STREAM[cut:])) == _EXPECTED
    assert parser.pending == 0


@BOTH
def test_one_byte_at_a_time(compiled):
    parser = Parser(compiled=compiled)
    frames: list[Frame] = []
    for i in range(len(_STREAM)):
        frames += parser.feed(_STREAM[i:i + 1])
    assert _flat(frames) == _EXPECTED


@BOTH
def test_a_line_that_is_not_the_protocol_is_an_error(compiled):
    with pytest.raises(ProtocolError, match="not a NATS protocol line"):
        Parser(compiled=compiled).feed(b"MSG a 1 2\r\nhi\r\nHTTP/1.1 400 Bad Request\r\n")


def _fed(wire: bytes, cuts: list[int], compiled: bool = True) -> list[Frame]:
    """The frames of ``wire`` fed to one parser in pieces cut at ``cuts`` (modulo its length)."""
    parser = Parser(compiled=compiled)
    frames: list[Frame] = []
    lo = 0
    for hi in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        frames += parser.feed(wire[lo:hi])
        lo = max(lo, hi)
    assert parser.pending == 0
    return frames


_TOKEN = st.binary(min_size=1, max_size=12).map(
    lambda b: bytes(c % 94 + 33 for c in b))  # printable, no spaces: a subject token
_DELIVERY = st.tuples(
    _TOKEN, st.sampled_from([b"1", b"2", b"17"]), st.one_of(st.just(b""), _TOKEN),
    st.one_of(st.none(), st.just(_HDR)),
    st.binary(max_size=40) | st.sampled_from([b"MSG a 1 2\r\nxx\r\n", b"\r\n", b"HMSG "]),
)


@BOTH
@given(st.lists(_DELIVERY, max_size=30), st.lists(st.integers(0, 2000), max_size=12))
def test_deliveries_come_back_as_written_however_the_bytes_are_cut(compiled, deliveries, cuts):
    frames = _fed(b"".join(_msg(*d) for d in deliveries), cuts, compiled)
    assert _flat(frames) == [("msg", sid, s, r, h, p) for s, sid, r, h, p in deliveries]


# Pieces of a stream, well-formed or not quite: the compiled loop takes the first
# kind and leaves the rest (and what follows them) to the Python loop.
_PIECE = st.one_of(
    st.builds(_msg, _TOKEN, st.sampled_from([b"1", b"2"]), st.one_of(st.just(b""), _TOKEN),
              st.one_of(st.none(), st.just(_HDR), st.just(_STATUS)), st.binary(max_size=20)),
    st.sampled_from([
        b"PING\r\n", b"PONG\r\n", b"+OK\r\n", b"-ERR 'x'\r\n", b"INFO {}\r\n",
        b"MSG a 1 05\r\nhello\r\n",      # a size with a leading zero
        b"MSG a 1 +2\r\nhi\r\n",          # ... with a sign (Python's int() takes it)
        b"MSG a  1 2\r\nhi\r\n",          # two spaces: an empty token
        b"MSG a 2 r x 2\r\nhi\r\n",       # five tokens
        b"HMSG a 1 3 2\r\nhi\r\n",        # a header longer than the whole
        b"HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",  # an empty header block, no payload
    ]),
)


@given(st.lists(_PIECE, max_size=25), st.lists(st.integers(0, 3000), max_size=8))
def test_the_compiled_loop_gives_what_the_python_loop_gives(pieces, cuts):
    wire = b"".join(pieces)

    def fed(compiled: bool) -> tuple[list[Frame] | str, int]:
        parser = Parser(compiled=compiled)
        frames: list[Frame] = []
        lo = 0
        try:
            for hi in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
                frames += parser.feed(wire[lo:hi])
                lo = max(lo, hi)
        except ValueError as exc:  # the same failure, the same way
            return f"{type(exc).__name__}: {exc}", parser.pending
        return frames, parser.pending

    assert fed(True) == fed(False)


def test_commands():
    assert pub("a.b", b"hi") == b"PUB a.b 2\r\nhi\r\n"
    assert pub("a.b", b"hi", reply="_INBOX.1") == b"PUB a.b _INBOX.1 2\r\nhi\r\n"
    block = encode_headers({"Nats-Msg-Id": "x"})
    assert pub("a", b"hi", headers=block) == (
        b"HPUB a %d %d\r\n%shi\r\n" % (len(block), len(block) + 2, block))
    assert sub("a.>", b"3") == b"SUB a.> 3\r\n"
    assert unsub(b"3") == b"UNSUB 3\r\n"


_HNAME = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
                 min_size=1, max_size=10)
_HVALUE = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10)


@given(st.dictionaries(_HNAME, _HVALUE, max_size=6))
def test_headers_round_trip(headers):
    assert parse_headers(encode_headers(headers)) == (None, "", headers)


def test_repeated_header_names_are_joined():
    assert parse_headers(b"NATS/1.0\r\nX: 1\r\nX: 2\r\n\r\n")[2] == {"X": "1, 2"}



_ROOT = Path(__file__).resolve().parents[2]


def test_without_a_compiler_the_build_goes_on_and_python_reads(tmp_path):
    # the extension is optional: a failed compile warns and the build succeeds ...
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=_ROOT, env={**os.environ, "CC": "/bin/false"}, capture_output=True, text=True,
        timeout=120)
    assert built.returncode == 0, built.stderr
    assert "building extension" in built.stderr and "failed" in built.stderr
    assert not list((tmp_path / "lib").rglob("*.so"))
    # ... and without the module, the parser reads with its Python loop
    code = ("import sys; sys.modules['eventkit.source._protocol_c'] = None\n"
            "from eventkit.source._protocol import COMPILED, Parser\n"
            "frames = Parser().feed(b'MSG a 1 2\\r\\nhi\\r\\n')\n"
            "print(COMPILED, frames[0].payloads)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split() == ["False", "[b'hi']"]
