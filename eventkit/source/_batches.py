"""Raw batches: what a read yields before decoding, and how they are cut and kept in order.

Pure: deliveries (subjects, reply subjects, header blocks, payloads) in,
:class:`RawBatch` out, with sequences and server times split out of all
reply subjects at once; redeliveries dropped by sequence; batches cut at
exactly their limits however the network delivered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import polars as pl

from eventkit._time import TIME
from eventkit.exceptions import EventkitError
from eventkit.source._api import _rfc3339_ns
from eventkit.source._subjects import subject_matches
from eventkit.source._wire import Deliveries

__all__ = ["RawBatch", "ReadState", "positions", "split_direct_headers"]



@dataclass(slots=True)
class RawBatch:
    """Messages in stream order, undecoded: one entry per message in each list."""

    seq: pl.Series          # UInt64
    time: pl.Series         # Datetime(ns, UTC), server time
    subjects: list[bytes]
    headers: dict[int, bytes]  # header blocks by row, for the few messages that have one
    payloads: list[bytes]

    def __len__(self) -> int:
        return len(self.payloads)


@dataclass(slots=True)
class ReadState:
    """What a read knows of how far it got, kept up to date by :meth:`JetStream.fetch`.

    For the store layer: sequences up to ``last_seq`` that the read did not
    yield are not in the stream (or not in the read's subjects); past it,
    only a ``complete`` read says the same of ``(last_seq, end]``. A read
    that raised is not complete, and nothing past ``last_seq`` is known.
    """

    end: int = 0                    #: the read's last sequence (the leader's last when it began)
    last_seq: int | None = None     #: the last sequence yielded (``start - 1`` before any)
    complete: bool = False          #: the stream leader holds nothing of the read after last_seq
    served_by: str | None = None    #: the server that delivered (the consumer's host)
    #: how the end was confirmed: "reached" (a message at the end arrived), "leader"
    #: (STREAM.MSG.GET), "direct get" (min_last_seq), "deleted list" (STREAM.INFO), or
    #: "consumer" (no permission to ask the leader: the consumer's word, as any client)
    confirmed_by: str | None = None


@dataclass(frozen=True, slots=True)
class _Span:
    """What one read asks for, and how much it holds at once."""

    stream: str
    subjects: tuple[str, ...]
    start_time: dt.datetime | None
    stop_seq: int
    stop_ns: int | None
    batch: int
    batch_bytes: int
    pull: int
    pull_bytes: int
    stall: float

    def reached(self, seq: int, ns: int) -> bool:
        """Does a message at ``seq``, stored at ``ns``, reach the read's end (or pass it)?"""
        return seq >= self.stop_seq or (self.stop_ns is not None and ns > self.stop_ns)

    def within(self, seq: int, stamp: str | None) -> bool:
        """Is the message at ``seq``, stored at ``stamp`` (RFC 3339), inside the read's end?"""
        if seq > self.stop_seq:
            return False
        return self.stop_ns is None or stamp is None or _rfc3339_ns(stamp) <= self.stop_ns


class _Taken:
    """What a read received and has not yielded yet, across consumers and reconnects.

    Batches are cut at exactly ``batch`` messages or ``batch_bytes`` bytes,
    whatever the network did: a read returns the same batches however often
    it reconnected, and resumes after the last message *received*.
    """

    def __init__(self, received: int) -> None:
        self.received = received       # the last sequence received (kept or yielded)
        self.fresh: list[Deliveries] = []
        self.parts: list[RawBatch] = []
        self.count = self.bytes = 0

    def add(self, chunk: Deliveries) -> None:
        self.fresh.append(chunk)
        self.count += len(chunk.payloads)
        self.bytes += sum(map(len, chunk.payloads))

    def add_batch(self, raw: RawBatch, span: _Span) -> None:
        """Messages already in a batch (direct get), kept in order like deliveries."""
        self.settle(span)
        raw = _trim(raw, self.received, span.stop_seq, span.stop_ns)
        if len(raw):
            self.parts.append(raw)
            self.received = int(raw.seq[-1])
            self.count += len(raw)
            self.bytes += sum(map(len, raw.payloads))

    def settle(self, span: _Span) -> None:
        """Deliveries into ordered parts, without redeliveries or what lies past the end."""
        if not self.fresh:
            return
        stacked = _stack(self.fresh)
        raw = _trim(stacked, self.received, span.stop_seq, span.stop_ns)
        self.fresh = []
        if len(raw):
            self.parts.append(raw)
            self.received = int(raw.seq[-1])
        if raw is not stacked:  # some dropped (redeliveries, past the end): count again
            self.count = sum(map(len, self.parts))
            self.bytes = sum(sum(map(len, part.payloads)) for part in self.parts)

    def full(self, span: _Span) -> list[RawBatch]:
        """The whole batches held (cut exactly at their limits); the rest stays."""
        if self.count < span.batch and self.bytes < span.batch_bytes:
            return []
        self.settle(span)
        out: list[RawBatch] = []
        while self.parts and (self.count >= span.batch or self.bytes >= span.batch_bytes):
            raw = _concat(self.parts)
            if self.bytes < span.batch_bytes:  # cut by count: no sizes needed
                cut = min(span.batch, len(raw))
                rest = _rows(raw, cut, len(raw))
                self.bytes = sum(map(len, rest.payloads))
            else:
                sizes = pl.Series(list(map(len, raw.payloads)), dtype=pl.Int64).cum_sum()
                cut = min(span.batch, int((sizes < span.batch_bytes).sum()) + 1, len(raw))
                rest = _rows(raw, cut, len(raw))
                self.bytes = int(sizes[-1]) - int(sizes[cut - 1])
            out.append(_rows(raw, 0, cut))
            self.parts = [rest] if len(rest) else []
            self.count = len(rest)
        return out

    def rest(self, span: _Span) -> RawBatch | None:
        """Everything held, as one batch (the read's end, or its last words)."""
        self.settle(span)
        raw = _concat(self.parts) if self.parts else None
        self.parts, self.count, self.bytes = [], 0, 0
        return raw


def _rows(raw: RawBatch, lo: int, hi: int) -> RawBatch:
    """Rows ``lo`` to ``hi`` (exclusive) of ``raw``."""
    if lo == 0 and hi == len(raw):
        return raw
    headers = {i - lo: h for i, h in raw.headers.items() if lo <= i < hi}
    return RawBatch(raw.seq.slice(lo, hi - lo), raw.time.slice(lo, hi - lo),
                    raw.subjects[lo:hi], headers, raw.payloads[lo:hi])


def positions(replies: list[bytes]) -> tuple[pl.Series, pl.Series]:
    """Stream sequences and server times split out of JetStream reply subjects, in bulk.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``, or the
    newer form with ``<domain>.<account>`` after ``$JS.ACK`` and a token at the end.

    Examples
    --------
    >>> seq, ts = positions([b"$JS.ACK.RIDES.c1.1.42.42.1793534400000000001.0"])
    >>> seq.to_list(), ts.to_list()[0].isoformat()
    ([42], '2026-11-01T12:00:00+00:00')
    """
    text = pl.Series("r", replies, dtype=pl.Binary).cast(pl.String)
    if not replies:
        return pl.Series("seq", [], dtype=pl.UInt64), pl.Series("time", [], dtype=TIME)
    # One consumer's replies share "$JS.ACK.<stream>.<consumer>." (or the longer
    # form's six tokens): split only the varying tail.
    tokens = replies[0].split(b".")
    head = 4 if len(tokens) == 9 else 6
    prefix = sum(len(t) + 1 for t in tokens[:head])
    if replies[0][:prefix] == replies[-1][:prefix]:  # one consumer (one read): one prefix
        tail = text.str.slice(prefix).str.split_exact(".", 3)
        seq, stamp = tail.struct.field("field_1"), tail.struct.field("field_3")
    else:  # replies of more than one consumer: the general way
        parts = text.str.split(".")
        long = parts.list.len() != 9
        seq = parts.list.get(7, null_on_oob=True).zip_with(
            long, parts.list.get(5, null_on_oob=True))
        stamp = parts.list.get(9, null_on_oob=True).zip_with(
            long, parts.list.get(7, null_on_oob=True))
    return seq.cast(pl.UInt64).rename("seq"), stamp.cast(pl.Int64).cast(TIME).rename("time")


def _trim(raw: RawBatch, after: int, stop_seq: int, stop_ns: int | None) -> RawBatch:
    """Drop redeliveries (sequence not after ``after``) and what lies past the end."""
    seq = raw.seq
    keep = seq > after
    keep &= seq <= stop_seq
    if stop_ns is not None:
        keep &= raw.time.dt.epoch("ns") <= stop_ns
    if keep.all() and (len(seq) < 2 or seq.diff(null_behavior="drop").min() > 0):  # type: ignore[operator]
        return raw
    frame = pl.DataFrame({"seq": seq, "i": pl.int_range(len(seq), eager=True)}).filter(keep)
    frame = frame.unique("seq", keep="first").sort("seq")
    idx = frame["i"].to_list()
    return RawBatch(
        frame["seq"], raw.time.gather(idx),
        [raw.subjects[i] for i in idx], _regather(raw.headers, idx),
        [raw.payloads[i] for i in idx],
    )


def _past_end(raw: RawBatch, stop_seq: int, stop_ns: int | None) -> bool:
    """Does ``raw`` reach the end of the read?"""
    return bool(raw.seq.max() >= stop_seq) or (  # type: ignore[operator]
        stop_ns is not None and int(raw.time.dt.epoch("ns").max()) > stop_ns  # type: ignore[arg-type]
    )


def _position(reply: bytes) -> tuple[int, int]:
    """Stream sequence and server time (ns) of one JetStream reply subject.

    >>> _position(b"$JS.ACK.RIDES.c1.1.42.42.1793534400000000001.0")
    (42, 1793534400000000001)
    """
    tokens = reply.split(b".")
    return (int(tokens[5]), int(tokens[7])) if len(tokens) == 9 else (int(tokens[7]),
                                                                      int(tokens[9]))


def _stack(chunks: list[Deliveries]) -> RawBatch:
    """One raw batch out of a consumer's deliveries, positions split out of all replies at once."""
    seq, stamp = positions(list(chain.from_iterable(c.replies for c in chunks)))
    return RawBatch(seq, stamp, list(chain.from_iterable(c.subjects for c in chunks)),
                    _stack_headers([(c.headers, len(c.payloads)) for c in chunks]),
                    list(chain.from_iterable(c.payloads for c in chunks)))


def _regather(headers: dict[int, bytes], rows: list[int]) -> dict[int, bytes]:
    """Header blocks of the rows kept, under their new row numbers."""
    return {new: headers[old] for new, old in enumerate(rows) if old in headers}


def _stack_headers(parts: list[tuple[dict[int, bytes], int]]) -> dict[int, bytes]:
    """Header blocks by row of parts stacked in order (each: its blocks by row, its length)."""
    out: dict[int, bytes] = {}
    offset = 0
    for headers, length in parts:
        out.update((offset + i, h) for i, h in headers.items())
        offset += length
    return out


def _concat(batches: list[RawBatch]) -> RawBatch:
    if len(batches) == 1:
        return batches[0]
    return RawBatch(
        pl.concat([b.seq for b in batches]), pl.concat([b.time for b in batches]),
        list(chain.from_iterable(b.subjects for b in batches)),
        _stack_headers([(b.headers, len(b)) for b in batches]),
        list(chain.from_iterable(b.payloads for b in batches)),
    )


def split_direct_headers(block: bytes) -> tuple[dict[str, str], bytes | None]:
    r"""The server's headers of a direct-get reply, and the message's own header block.

    The server appends its headers (``Nats-Stream`` first, then ``Nats-Subject``,
    ``Nats-Sequence``, ``Nats-Time-Stamp`` and, for a batch, ``Nats-Num-Pending``
    and ``Nats-Last-Sequence``) after the message's own, so they start at the
    last ``Nats-Stream`` line; a message's own headers of the same names stay
    the message's.

    Examples
    --------
    >>> server, own = split_direct_headers(
    ...     b"NATS/1.0\r\nNats-Sequence: 999\r\nNats-Stream: D\r\nNats-Subject: d.a\r\n"
    ...     b"Nats-Sequence: 1\r\nNats-Time-Stamp: 2026-11-01T12:00:00Z\r\n\r\n")
    >>> server["Nats-Sequence"], own
    ('1', b'NATS/1.0\r\nNats-Sequence: 999\r\n\r\n')
    >>> split_direct_headers(b"NATS/1.0\r\nNats-Stream: D\r\nNats-Sequence: 2\r\n\r\n")[1]
    """
    cut = block.rfind(b"\r\nNats-Stream:")
    if cut < 0:
        raise EventkitError(
            "a direct-get reply carries no Nats-Stream header: the server is not one eventkit "
            "knows (nats-server 2.11 or newer is)"
        )
    server: dict[str, str] = {}
    for line in block[cut + 2:].decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            server[name.strip()] = value.strip()
    own = block[:cut + 2]
    return server, (own + b"\r\n" if own.count(b"\r\n") > 1 else None)


def _direct_batch(blocks: list[bytes | None], payloads: list[bytes]) -> RawBatch:
    """A raw batch out of direct-get replies (position and subject are in their headers)."""
    seqs: list[int] = []
    stamps: list[str] = []
    subjects: list[bytes] = []
    originals: dict[int, bytes] = {}
    for row, block in enumerate(blocks):
        headers, own = split_direct_headers(block or b"")
        seqs.append(int(headers["Nats-Sequence"]))
        stamps.append(headers["Nats-Time-Stamp"])
        subjects.append(headers["Nats-Subject"].encode())
        if own is not None:
            originals[row] = own
    times = pl.Series(stamps, dtype=pl.String).str.to_datetime(
        time_unit="ns", time_zone="UTC", format="%Y-%m-%dT%H:%M:%S%.fZ")
    return RawBatch(pl.Series(seqs, dtype=pl.UInt64), times, subjects, originals, payloads)


def _filter_subjects(raw: RawBatch, filters: Sequence[str]) -> RawBatch:
    keep = [i for i, s in enumerate(raw.subjects)
            if any(subject_matches(f, s.decode()) for f in filters)]
    return RawBatch(raw.seq.gather(keep), raw.time.gather(keep),
                    [raw.subjects[i] for i in keep], _regather(raw.headers, keep),
                    [raw.payloads[i] for i in keep])
