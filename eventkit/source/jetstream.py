"""JetStream over the bulk wire: stream facts, bounded ordered reads, acked publishing.

This module is the only door to NATS. It yields raw batches (payload bytes
with their sequence, subject, server time and headers) and knows nothing of
payload formats: decoding happens above it.

A read creates an ephemeral pull consumer with no acks, memory storage and an
inactivity threshold (so it vanishes if the reader dies), keeps two pull
requests in flight, and deletes the consumer at the end. Positions are stream
sequences: when the connection drops, the server restarts or the stream
leader moves, the read reconnects and continues after the last sequence it
holds, dropping any redelivery by sequence (no redelivery flag is trusted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import secrets
import ssl
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from eventkit.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    EventkitError,
    PermissionDeniedError,
    PublishError,
    ReadInterruptedError,
    StreamNotFoundError,
)
from eventkit.source._wire import (
    Address,
    Auth,
    Deliveries,
    Sink,
    Wire,
    encode_headers,
)

__all__ = ["CONSUMER_SCHEMA", "JetStream", "RawBatch", "ReadState", "StreamInfo"]

_API = "$JS.API"
_NO_MESSAGE_FOUND = 10037  # JetStream API error codes (err_code)
_STREAM_NOT_FOUND = 10059
_TEMPORARILY_UNAVAILABLE = 10008
# 409 statuses that end one pull request, not the consumer
_PULL_ENDED = frozenset({"Message Size Exceeds MaxBytes", "Batch Completed"})
_TIME = pl.Datetime("ns", "UTC")


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a stream holds right now."""

    name: str
    subjects: tuple[str, ...]
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    first_time: dt.datetime | None
    last_time: dt.datetime | None
    consumers: int
    deleted: int
    config: dict[str, Any] = field(repr=False, compare=False)
    cluster: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> StreamInfo:
        state, config = data["state"], data["config"]
        return cls(
            name=config["name"],
            subjects=tuple(config.get("subjects") or ()),
            messages=state["messages"],
            bytes=state["bytes"],
            first_seq=state["first_seq"],
            last_seq=state["last_seq"],
            first_time=_api_time(state.get("first_ts")) if state["messages"] else None,
            last_time=_api_time(state.get("last_ts")) if state["messages"] else None,
            consumers=state.get("consumer_count", 0),
            deleted=state.get("num_deleted", 0),
            config=config,
            cluster=dict(data.get("cluster") or {}),
        )

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.config.get("metadata") or {})

    def __str__(self) -> str:
        span = (f"seq {self.first_seq:,}..{self.last_seq:,}, "
                f"{self.first_time:%Y-%m-%d %H:%M:%S} .. {self.last_time:%Y-%m-%d %H:%M:%S} UTC"
                if self.messages and self.first_time and self.last_time else "empty")
        c = self.config
        limits = ", ".join(f"{name} {c[key]:,}" for name, key in (
            ("max messages", "max_msgs"), ("max bytes", "max_bytes"),
            ("max per subject", "max_msgs_per_subject")) if (c.get(key) or -1) > 0) or "none"
        leader = f", leader {self.cluster['leader']}" if self.cluster.get("leader") else ""
        return "\n".join([
            f"subjects: {', '.join(self.subjects) or '-'}",
            f"{self.messages:,} messages ({self.bytes:,} bytes; {self.deleted:,} deleted), "
            f"{span}",
            f"storage {c.get('storage', '?')}, retention {c.get('retention', '?')}, "
            f"{c.get('num_replicas', 1)} replica(s){leader}; limits: {limits}",
            f"{self.consumers:,} consumer(s)"])

    def _repr_html_(self) -> str:  # a notebook shows the stream, not the dataclass
        from eventkit._display import result_html

        return result_html(f"Stream {self.name}", str(self))


def _api_time(text: str | None) -> dt.datetime | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # RFC 3339 with up to nanoseconds; Python keeps microseconds
    head, _, frac = text.rstrip("Z").partition(".")
    micro = (frac + "000000")[:6]
    return dt.datetime.fromisoformat(f"{head}.{micro}+00:00")


#: The columns of :meth:`JetStream.consumers` rows, with their polars types.
CONSUMER_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String(), "durable": pl.Boolean(), "filter": pl.String(),
    "delivered_seq": pl.Int64(), "ack_floor_seq": pl.Int64(), "pending": pl.Int64(),
    "ack_pending": pl.Int64(), "redelivered": pl.Int64(), "waiting": pl.Int64(),
    "last_active": pl.Datetime("us", "UTC"), "leader": pl.String(),
}


def _consumer_row(c: dict[str, Any]) -> tuple[Any, ...]:
    config = c.get("config") or {}
    filters = config.get("filter_subjects") or (
        [config["filter_subject"]] if config.get("filter_subject") else [])
    delivered = c.get("delivered") or {}
    return (c.get("name"), bool(config.get("durable_name")), ", ".join(filters) or None,
            delivered.get("stream_seq", 0), (c.get("ack_floor") or {}).get("stream_seq", 0),
            c.get("num_pending", 0), c.get("num_ack_pending", 0),
            c.get("num_redelivered", 0), c.get("num_waiting", 0),
            _api_time(delivered.get("last_active")), (c.get("cluster") or {}).get("leader"))


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        raw = _trim(_stack(self.fresh), self.received, span.stop_seq, span.stop_ns)
        self.fresh = []
        if len(raw):
            self.parts.append(raw)
            self.received = int(raw.seq[-1])
        self.count = sum(map(len, self.parts))
        self.bytes = sum(len(p) for part in self.parts for p in part.payloads)

    def full(self, span: _Span) -> list[RawBatch]:
        """The whole batches held (cut exactly at their limits); the rest stays."""
        if self.count < span.batch and self.bytes < span.batch_bytes:
            return []
        self.settle(span)
        out: list[RawBatch] = []
        while self.parts and (self.count >= span.batch or self.bytes >= span.batch_bytes):
            raw = _concat(self.parts)
            sizes = pl.Series([len(p) for p in raw.payloads], dtype=pl.Int64).cum_sum()
            cut = min(span.batch, int((sizes < span.batch_bytes).sum()) + 1, len(raw))
            out.append(_rows(raw, 0, cut))
            rest = _rows(raw, cut, len(raw))
            self.parts = [rest] if len(rest) else []
            self.count = len(rest)
            self.bytes = int(sizes[-1]) - int(sizes[cut - 1])
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


def _rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC time with up to 9 decimals.

    >>> _rfc3339_ns("1970-01-01T00:00:01.5Z"), _rfc3339_ns("1970-01-01T00:00:02Z")
    (1500000000, 2000000000)
    """
    head, _, frac = text.rstrip("Z").partition(".")
    whole = dt.datetime.fromisoformat(head + "+00:00")
    return int(whole.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


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
        return pl.Series("seq", [], dtype=pl.UInt64), pl.Series("time", [], dtype=_TIME)
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
    return seq.cast(pl.UInt64).rename("seq"), stamp.cast(pl.Int64).cast(_TIME).rename("time")


class JetStream:
    """JetStream operations over one :class:`Wire`, reconnecting when it drops."""

    def __init__(self, addresses: list[Address], auth: Auth, *,
                 tls: ssl.SSLContext | None = None, name: str = "eventkit",
                 connect_timeout: float = 5.0, api_timeout: float = 5.0,
                 api_prefix: str = _API, inbox_prefix: str = "_INBOX",
                 tls_handshake_first: bool = False) -> None:
        self._addresses = addresses
        self._discovered: list[Address] = []  # advertised by the cluster
        self._avoid: Address | None = None     # lost or in lame-duck mode: tried last
        self._auth = auth
        self._tls = tls
        self._name = name
        self._connect_timeout = connect_timeout
        self.api_timeout = api_timeout
        self.api_prefix = api_prefix  # "$JS.API", or "$JS.<domain>.API", or an import's
        self._inbox_prefix = inbox_prefix
        self._handshake_first = tls_handshake_first
        self.wire: Wire | None = None

    @property
    def server(self) -> str:
        """The server in use (or the first of the list), for messages."""
        if self.wire is not None and self.wire.address is not None:
            return str(self.wire.address)
        return ", ".join(map(str, self._addresses))

    async def connect(self) -> Wire:
        """The connection, made again if it dropped or its server is going away.

        As every NATS client does, it uses the servers the cluster advertises
        (INFO ``connect_urls``) besides those given, and leaves a server in
        lame-duck mode (INFO ``ldm``) for another; the server lost or lame
        is tried last.
        """
        wire = self.wire
        if wire is not None and not wire.is_closed and not wire.lame_duck:
            return wire
        if wire is not None:
            self._learn(wire)
            if wire.address is not None:
                self._avoid = wire.address
            await wire.close()
        order = [a for a in self._known() if a != self._avoid]
        order += [a for a in self._known() if a == self._avoid]
        wire = Wire(order, self._auth, tls=self._tls, name=self._name,
                    connect_timeout=self._connect_timeout, inbox_prefix=self._inbox_prefix,
                    tls_handshake_first=self._handshake_first)
        await wire.connect()
        self._learn(wire)
        self.wire = wire
        return wire

    def _known(self) -> list[Address]:
        return self._addresses + [a for a in self._discovered if a not in self._addresses]

    def _learn(self, wire: Wire) -> None:
        """Remember the servers ``wire``'s server advertises (its cluster's other nodes)."""
        for address in wire.advertised():
            if address not in self._discovered:
                self._discovered.append(address)

    async def close(self) -> None:
        if self.wire is not None:
            await self.wire.close()

    # -- the JSON API --------------------------------------------------------
    async def api(self, op: str, body: dict[str, Any] | None = None, *,
                  stream: str | None = None, allow: Sequence[int] = ()) -> dict[str, Any]:
        """The answer of one JetStream API call; an error raises, unless its ``err_code``
        is one of ``allow`` (then the answer, with its ``error``, is returned)."""
        wire = await self.connect()
        subject = f"{self.api_prefix}.{op}"
        before = len(wire.permission_errors)
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            hdr, data = await wire.request(subject, payload, timeout=self.api_timeout)
        except PermissionError as exc:
            if wire.inbox_denied:
                raise PermissionDeniedError(str(exc)) from None
            raise PermissionDeniedError(
                f"{self.server} denied {subject} to this user ({exc}); ask for permission "
                "to use the JetStream API for this stream"
            ) from None
        except TimeoutError:
            if len(wire.permission_errors) > before:
                raise PermissionDeniedError(
                    f"{self.server} denied {subject}: {wire.permission_errors[-1]}; "
                    "ask for permission to use the JetStream API for this stream"
                ) from None
            raise ConnectionFailedError(
                f"{self.server} did not answer {subject} in {self.api_timeout:.0f} s"
            ) from None
        if hdr is not None and not data and b" 503" in hdr[:13]:
            if self.api_prefix != _API:
                raise _NoJetStream(
                    f"no JetStream answers at {self.api_prefix} through {self.server} (no "
                    f"responders for {op}): check the domain or API prefix")
            raise _NoJetStream(
                f"JetStream is not enabled on {self.server} (no responders for {op}): "
                "start nats-server with -js, or connect to a JetStream server"
            )
        answer: dict[str, Any] = json.loads(data)
        error = answer.get("error")
        if error and error.get("err_code") not in allow:
            code, desc = error.get("err_code"), error.get("description", "")
            where = f"stream {stream!r} on {self.server}" if stream else self.server
            if code == _TEMPORARILY_UNAVAILABLE:
                raise ConnectionFailedError(
                    f"{where}: JetStream is temporarily unavailable (a leader being elected?)")
            if code == _STREAM_NOT_FOUND:
                raise StreamNotFoundError(
                    f"{where}: stream not found; list the streams with conn.streams()"
                )
            if error.get("code") == 403 or "permission" in desc.lower():
                raise PermissionDeniedError(f"{where}: {desc}")
            raise EventkitError(f"{where}: {op} failed: {desc} (error {code})")
        return answer

    async def stream_info(self, stream: str, *, retries: int = 0) -> StreamInfo:
        """What ``stream`` holds now, as its leader says.

        With ``retries``, a lost server, a timeout or an election in progress
        is tried again (on another server of the cluster) with a growing pause.
        """
        _check_name(stream)
        for attempt in itertools.count():
            try:
                return StreamInfo.from_api(await self.api(f"STREAM.INFO.{stream}",
                                                          stream=stream))
            except (AuthenticationError, _NoJetStream):
                raise
            except (ConnectionFailedError, ConnectionResetError):
                if attempt >= retries:
                    raise
            await asyncio.sleep(min(0.1 * 2 ** (attempt + 1), 2.0))
        raise AssertionError("unreachable")

    async def streams(self) -> list[StreamInfo]:
        infos: list[StreamInfo] = []
        while True:
            page = await self.api("STREAM.LIST", {"offset": len(infos)})
            infos += [StreamInfo.from_api(s) for s in page.get("streams") or []]
            if not page.get("streams") or len(infos) >= page.get("total", 0):
                return infos

    async def consumers(self, stream: str) -> list[tuple[Any, ...]]:
        """The stream's consumers as rows of :data:`CONSUMER_COLUMNS`, one per consumer."""
        _check_name(stream)
        rows: list[tuple[Any, ...]] = []
        while True:
            page = await self.api(f"CONSUMER.LIST.{stream}", {"offset": len(rows)},
                                  stream=stream)
            found = page.get("consumers") or []
            rows += [_consumer_row(c) for c in found]
            if not found or len(rows) >= page.get("total", 0):
                return rows

    async def subject_counts(self, stream: str, pattern: str) -> dict[str, int]:
        """Messages per subject of ``stream`` matching ``pattern`` (the stream leader's count)."""
        _check_name(stream)
        counts: dict[str, int] = {}
        while True:
            page = await self.api(f"STREAM.INFO.{stream}",
                                  {"subjects_filter": pattern, "offset": len(counts)},
                                  stream=stream)
            found = (page.get("state") or {}).get("subjects") or {}
            counts.update(found)
            if not found or len(counts) >= page.get("total", 0):
                return counts

    async def add_stream(self, name: str, subjects: Sequence[str], **config: Any) -> StreamInfo:
        _check_name(name)
        body = {"name": name, "subjects": list(subjects), "storage": "file",
                "retention": "limits", "num_replicas": 1, **config}
        return StreamInfo.from_api(await self.api(f"STREAM.CREATE.{name}", body, stream=name))

    async def delete_stream(self, name: str) -> None:
        await self.api(f"STREAM.DELETE.{name}", stream=name)

    async def delete_message(self, stream: str, seq: int, *, erase: bool) -> None:
        _check_name(stream)
        await self.api(f"STREAM.MSG.DELETE.{stream}", {"seq": seq, "no_erase": not erase},
                       stream=stream)

    # -- bounded reads -------------------------------------------------------
    async def fetch(
        self, stream: str, *, subjects: Sequence[str] = (), start: int | dt.datetime | None = None,
        end: int | dt.datetime | None = None, batch: int = 50_000, batch_bytes: int = 16 << 20,
        pull: int = 10_000, pull_bytes: int = 8 << 20, stall: float = 2.0, retries: int = 8,
        notes: list[str] | None = None, state: ReadState | None = None,
    ) -> AsyncGenerator[RawBatch, None]:
        """Messages from ``start`` to ``end`` (both inclusive), in batches of about ``batch``
        messages or ``batch_bytes`` bytes, whichever comes first.

        The read is bounded by what the stream holds when it starts, as its
        leader says (or by ``end``): messages published during the read are
        left for the next. It ends there, or raises
        :class:`ReadInterruptedError` saying where it stopped and why: when a
        consumer has nothing more before the end (it may sit on a replica
        still catching up), the stream leader is asked whether a message of
        the read lies beyond, and the read goes on from there if so. At most
        ``pull`` messages and ``pull_bytes`` bytes are asked for at a time
        (two such pulls in flight); a link is alive while bytes arrive
        (``stall`` seconds without any is a stall), and after a drop the read
        resumes after the last message received. Without permission to
        create a consumer it reads with direct get, where the stream allows
        it, and says so in ``notes``. ``state`` (a :class:`ReadState`) is
        kept up to date with how far the read got and whether its end was
        confirmed.
        """
        info = await self.stream_info(stream, retries=retries)  # answered by the leader
        _check_filters(info, subjects, self.server)
        stop_seq = info.last_seq if not isinstance(end, int) else min(end, info.last_seq)
        stop_ns = _ns(end) if isinstance(end, dt.datetime) else None
        after = 0 if start is None else (start - 1 if isinstance(start, int) else None)
        start_time = start if isinstance(start, dt.datetime) else None
        state = state if state is not None else ReadState()
        state.end, state.last_seq, state.complete = stop_seq, after, False
        max_payload = int(self.wire.info.get("max_payload", 1 << 20)) if self.wire else 1 << 20
        span = _Span(stream, tuple(subjects), start_time, stop_seq, stop_ns, batch,
                     max(batch_bytes, 1), pull, max(pull_bytes, max_payload + (64 << 10)), stall)
        failures = 0
        consume = self._consume
        taken = _Taken(after or 0)  # what arrived and is not yielded yet, across retries
        while True:
            if taken.received >= stop_seq:
                state.confirmed_by = "reached"
                break
            position = None if after is None and not taken.received else taken.received
            mark = taken.received
            try:
                async for raw in consume(span, position, state, taken):
                    failures = 0
                    after = state.last_seq = int(raw.seq[-1])
                    yield raw
                taken.settle(span)
                if taken.received >= stop_seq:
                    state.confirmed_by = "reached"
                    break
                position = None if after is None and not taken.received else taken.received
                beyond = await self._leader_next(span, position, info, state)
                if beyond is None:
                    break
                raise _Restart(
                    f"{state.served_by or 'the server'} had nothing after sequence "
                    f"{position or 0}, but the stream leader holds sequence {beyond} (a replica "
                    "catching up?)")
            except PermissionDeniedError as denied:
                if consume == self._consume_direct:
                    raise PermissionDeniedError(
                        f"{self.server} denied this user both ways to read stream {stream!r}: "
                        f"{self.api_prefix}.CONSUMER.CREATE.{stream} (a consumer) and "
                        f"{self.api_prefix}.DIRECT.GET.{stream} (direct get, which the stream "
                        "allows). "
                        "Ask for permission to publish to either subject"
                    ) from None
                if not info.config.get("allow_direct"):
                    raise PermissionDeniedError(
                        f"{denied}; stream {stream!r} does not allow direct get (allow_direct "
                        "is off), so there is no other way to read it with these permissions: "
                        "ask for permission to publish to "
                        f"{self.api_prefix}.CONSUMER.CREATE.{stream}"
                    ) from None
                if notes is not None:
                    notes.append(
                        f"no permission to create a consumer on stream {stream!r} at "
                        f"{self.server}: read it with direct get instead (slower, no consumer)"
                    )
                consume = self._consume_direct
                continue
            except _Restart as why:
                taken.settle(span)
                if taken.received > mark:  # it got further: the retries start again
                    failures = 0
                failures += 1
                if failures > retries:
                    last = taken.rest(span)
                    if last is not None:  # what arrived is handed over before the error
                        after = state.last_seq = int(last.seq[-1])
                        yield last
                    resume = after + 1 if after is not None else start
                    where = f"{self.server}" + (f" (served by {state.served_by})"
                                                if state.served_by else "")
                    raise ReadInterruptedError(
                        f"reading stream {stream!r} from {where} stopped after sequence "
                        f"{after or 0} of {stop_seq}: {why}; gave up after {retries} retries. "
                        f"Read again with start={resume!r} to continue",
                        stream=stream, server=self.server,
                        resume=resume if isinstance(resume, int) else None,
                    ) from None
            await asyncio.sleep(min(0.1 * 2**failures, 2.0))
        last = taken.rest(span)
        if last is not None:
            state.last_seq = int(last.seq[-1])
            yield last
        state.complete = True

    async def _reconnect(self) -> Wire:
        """The wire, connecting again if needed; a failure makes the read retry."""
        try:
            return await self.connect()
        except ConnectionFailedError as exc:
            raise _Restart(str(exc)) from exc

    async def _leader_next(self, span: _Span, after: int | None, info: StreamInfo,
                           state: ReadState) -> int | None:
        """The first sequence of the read after ``after`` that the stream leader holds
        (None if there is none up to the read's end).

        ``STREAM.MSG.GET`` is answered by the leader; a user without it asks
        with direct get, which replicas behind ``min_last_seq`` leave
        unanswered; without either, an unfiltered read counts on the leader's
        list of deleted sequences.
        """
        filters = span.subjects or (">",)
        found: list[int] = []
        try:
            for f in filters:
                body: dict[str, Any] = {"next_by_subj": f}
                if after is not None:
                    body["seq"] = after + 1
                elif span.start_time is not None:
                    body["start_time"] = _rfc3339(span.start_time)
                else:
                    body["seq"] = 1
                answer = await self._api_or_restart(
                    f"STREAM.MSG.GET.{span.stream}", body, stream=span.stream,
                    allow=(_NO_MESSAGE_FOUND,))
                message = answer.get("message")
                if message and span.within(int(message["seq"]), message.get("time")):
                    found.append(int(message["seq"]))
            state.confirmed_by = "leader"
            return min(found) if found else None
        except PermissionDeniedError:
            pass
        if info.config.get("allow_direct"):
            with contextlib.suppress(PermissionDeniedError):
                beyond = await self._direct_next(span, after, filters)
                state.confirmed_by = "direct get"
                return beyond
        if not span.subjects and after is not None:
            answer = await self._api_or_restart(
                f"STREAM.INFO.{span.stream}", {"deleted_details": True}, stream=span.stream)
            deleted = sum(after < d <= span.stop_seq for d in answer["state"].get("deleted") or ())
            first = max(after + 1, int(answer["state"]["first_seq"]))
            state.confirmed_by = "deleted list"
            return first if span.stop_seq - first + 1 - deleted > 0 else None
        state.confirmed_by = "consumer"  # no way to ask: the consumer's word, as any client
        return None

    async def _direct_next(self, span: _Span, after: int | None,
                           filters: Sequence[str]) -> int | None:
        wire = await self._reconnect()
        found: list[int] = []
        for f in filters:
            body: dict[str, Any] = {"next_by_subj": f, "min_last_seq": span.stop_seq}
            if after is None and span.start_time is not None:
                body["start_time"] = _rfc3339(span.start_time)
            else:
                body["seq"] = (after or 0) + 1
            subject = f"{self.api_prefix}.DIRECT.GET.{span.stream}"
            try:
                hdr, _ = await wire.request(subject, json.dumps(body).encode(),
                                            timeout=self.api_timeout)
            except PermissionError:
                raise PermissionDeniedError(f"{self.server} denied {subject}") from None
            except (TimeoutError, ConnectionError, OSError) as exc:
                raise _Restart(f"no answer to direct get ({exc or 'timeout'})") from exc
            if hdr is None or hdr[8:9] == b" ":  # a status: 404 no message
                continue
            server, _ = split_direct_headers(hdr)
            seq = int(server["Nats-Sequence"])
            if span.within(seq, server.get("Nats-Time-Stamp")):
                found.append(seq)
        return min(found) if found else None

    async def _api_or_restart(self, op: str, body: dict[str, Any] | None = None, *,
                              stream: str | None = None,
                              allow: Sequence[int] = ()) -> dict[str, Any]:
        try:
            return await self.api(op, body, stream=stream, allow=allow)
        except (ConnectionFailedError, ConnectionResetError) as exc:
            raise _Restart(str(exc)) from exc

    async def first_seq_at(self, stream: str, when: dt.datetime,
                           subjects: Sequence[str] = ()) -> int | None:
        """The first sequence stored at or after ``when`` (a start-by-time consumer)."""
        batches = self.fetch(stream, subjects=subjects, start=when, batch=1, pull=1)
        try:
            async for raw in batches:
                return int(raw.seq[0])
            return None
        finally:
            await batches.aclose()

    async def _consume(self, span: _Span, after: int | None, state: ReadState,
                       taken: _Taken) -> AsyncGenerator[RawBatch, None]:
        """Batches from a new consumer starting after ``after``; what arrives goes
        through ``taken``, which outlives this consumer."""
        wire = await self._reconnect()
        config: dict[str, Any] = {
            "name": f"eventkit_{secrets.token_hex(8)}", "ack_policy": "none",
            "mem_storage": True, "num_replicas": 1, "replay_policy": "instant",
            "inactive_threshold": 10_000_000_000, "max_waiting": 16,
        }
        if after is not None:
            config |= {"deliver_policy": "by_start_sequence", "opt_start_seq": after + 1}
        elif span.start_time is not None:
            config |= {"deliver_policy": "by_start_time",
                       "opt_start_time": _rfc3339(span.start_time)}
        else:
            config["deliver_policy"] = "all"
        if len(span.subjects) == 1:
            config["filter_subject"] = span.subjects[0]
        elif span.subjects:
            config["filter_subjects"] = list(span.subjects)
        stream = span.stream
        try:
            created = await self._api_or_restart(
                f"CONSUMER.CREATE.{stream}", {"stream_name": stream, "config": config},
                stream=stream)
        except EventkitError as exc:
            if "insufficient resources" in str(exc) or "no suitable peers" in str(exc):
                raise _Restart(str(exc)) from exc
            raise
        name = created["name"]
        state.served_by = (created.get("cluster") or {}).get("leader") or self.server
        expected = created.get("num_pending", 0)
        inbox, sid, sink = wire.subscribe(Sink())
        next_subject = f"{self.api_prefix}.CONSUMER.MSG.NEXT.{stream}.{name}"
        request = json.dumps({"batch": span.pull, "max_bytes": span.pull_bytes,
                              "expires": int(30e9)}).encode()
        received = outstanding = 0  # messages delivered; messages asked for, not yet here
        heard = time.monotonic()
        try:
            while received < expected:
                while outstanding < 2 * span.pull and received + outstanding < expected:
                    wire.publish(next_subject, request, reply=inbox)
                    outstanding += span.pull
                await wire.drain()
                await sink.wait(span.stall)
                if wire.is_closed:
                    raise _Restart(f"connection lost ({wire.error or 'closed'})")
                for code, desc, headers in sink.statuses:
                    if code in (404, 408) or (code == 409 and desc in _PULL_ENDED):
                        # the pull ended (expired, as many bytes as asked for, or done)
                        outstanding -= int(headers.get("Nats-Pending-Messages", 0) or 0)
                    elif code in (409, 503):
                        raise _Restart(f"consumer lost ({code} {desc})")
                sink.statuses.clear()
                heard = max(heard, wire.heard)
                if not len(sink):
                    if time.monotonic() - heard > span.stall:
                        raise _Restart(f"nothing arrived for {span.stall:.0f} s")
                    continue
                chunk = sink.take()
                n = len(chunk.payloads)
                received += n
                outstanding = max(outstanding - n, 0)
                taken.add(chunk)
                for raw in taken.full(span):
                    yield raw
                # one consumer delivers in stream order: its last message says how far
                seq_now, ns_now = _position(chunk.replies[-1])
                if seq_now >= span.stop_seq or (span.stop_ns is not None
                                                and ns_now > span.stop_ns):
                    return
        except (ConnectionError, OSError) as exc:
            raise _Restart(f"connection lost ({exc})") from exc
        finally:
            if not wire.is_closed:
                wire.unsubscribe(sid)
                try:
                    await self.api(f"CONSUMER.DELETE.{stream}.{name}", stream=stream)
                except (EventkitError, OSError, TimeoutError):
                    pass  # the inactivity threshold removes it within seconds

    async def _consume_direct(self, span: _Span, after: int | None, state: ReadState,
                              taken: _Taken) -> AsyncGenerator[RawBatch, None]:
        """The same batches through the direct-get API: no consumer, for read-only users.

        Each request names the read's end as ``min_last_seq``, so a replica
        still catching up leaves it to one that holds the whole range.
        """
        wire = await self._reconnect()
        state.served_by = self.server
        inbox, sid, sink = wire.subscribe_prefix()
        stream, subjects = span.stream, span.subjects
        subject = f"{self.api_prefix}.DIRECT.GET.{stream}"
        last_seq = after or 0  # the last sequence looked at (filtered out or not)
        one_filter = subjects[0] if len(subjects) == 1 else None
        denied = len(wire.permission_errors)
        try:
            while True:
                body: dict[str, Any] = {"batch": span.pull, "max_bytes": span.pull_bytes,
                                        "min_last_seq": span.stop_seq}
                if after is None and last_seq == 0 and span.start_time is not None:
                    body["start_time"] = _rfc3339(span.start_time)
                else:
                    body["seq"] = last_seq + 1
                if one_filter:
                    body["next_by_subj"] = one_filter
                wire.publish(subject, json.dumps(body).encode(), reply=f"{inbox}.d")
                await wire.drain()
                ended = False
                heard = time.monotonic()
                while not ended:
                    await sink.wait(span.stall)
                    if wire.is_closed:
                        raise _Restart(f"connection lost ({wire.error or 'closed'})")
                    if (any(subject in e for e in wire.permission_errors[denied:])
                            and not len(sink) and not sink.statuses):
                        raise PermissionDeniedError(f"{self.server} denied {subject}")
                    for code, _, _ in sink.statuses:
                        ended = ended or code in (204, 404, 408)
                    sink.statuses.clear()
                    heard = max(heard, wire.heard)
                    if not ended and time.monotonic() - heard > span.stall * 5:
                        raise _Restart(f"no answer to direct get in {span.stall * 5:.0f} s")
                _, _, blocks, payloads = sink.take()
                raw = _direct_batch([blocks.get(i) for i in range(len(payloads))], payloads)
                if not len(raw):
                    return
                reached = int(raw.seq[-1])
                done = _past_end(raw, span.stop_seq, span.stop_ns)  # before filtering
                if subjects and not one_filter:
                    raw = _filter_subjects(raw, subjects)
                taken.add_batch(raw, span)
                for full in taken.full(span):
                    yield full
                last_seq = max(last_seq, reached)
                if done or last_seq >= span.stop_seq:
                    taken.received = max(taken.received, min(last_seq, span.stop_seq))
                    return
        except (ConnectionError, OSError) as exc:
            raise _Restart(f"connection lost ({exc})") from exc
        finally:
            if not wire.is_closed:
                wire.unsubscribe(sid)

    # -- publishing ------------------------------------------------------------
    async def publish_many(
        self, subjects: Sequence[str], payloads: Sequence[bytes],
        headers: Sequence[dict[str, str] | None] | None = None, *,
        window: int = 8192, window_bytes: int = 32 << 20, timeout: float = 10.0,
    ) -> PublishResult:
        """Publish in order with JetStream acks, at most ``window`` messages and
        ``window_bytes`` bytes unacknowledged.

        Acks arrive on one inbox subscription and are counted in bulk. A
        failure (a refused message, the connection lost, no ack for
        ``timeout`` seconds) raises :class:`PublishError` saying exactly what
        was acknowledged and where a retry continues.
        """
        wire = await self.connect()
        max_payload = int(wire.info.get("max_payload", 1 << 20))
        blocks = [encode_headers(h) if h else None
                  for h in (headers if headers is not None else [None] * len(payloads))]
        for i, (payload, block) in enumerate(zip(payloads, blocks, strict=True)):
            size = len(payload) + (len(block) if block else 0)
            if size > max_payload:  # checked before anything is sent
                raise ConfigurationError(
                    f"message {i} on {subjects[i]!r} is {size} bytes with headers, over "
                    f"the max_payload of {max_payload} of {self.server}: it would be dropped"
                )
        inbox, sid, sink = wire.subscribe_prefix()
        acks = _Acks(len(payloads), [len(p) for p in payloads], subjects)
        denied = len(wire.permission_errors)
        queued = 0
        try:
            for i, payload in enumerate(payloads):
                wire.publish(subjects[i], payload, reply=f"{inbox}.{i}", headers=blocks[i])
                queued += len(payload)
                if queued >= 1 << 20 or (i + 1) % 512 == 0:
                    queued = 0
                    await wire.drain()
                    while (i + 1 - acks.answered >= window
                           or acks.bytes_in_flight(i + 1) >= window_bytes):
                        await self._await_acks(wire, sink, acks, timeout, denied)
            await wire.drain()
            while acks.answered < len(payloads):
                await self._await_acks(wire, sink, acks, timeout, denied)
        except (ConnectionError, OSError) as exc:
            raise acks.error(f"connection to {self.server} lost while publishing ({exc})",
                             self.server) from None
        finally:
            if not wire.is_closed:
                wire.unsubscribe(sid)
        return PublishResult(acks.stored, acks.duplicates)

    async def _await_acks(self, wire: Wire, sink: Sink, acks: _Acks, timeout: float,
                          denied: int) -> None:
        """Count the acks that arrived, waiting up to ``timeout`` s for at least one."""
        deadline = time.monotonic() + timeout
        while not len(sink) and not sink.statuses:
            if wire.is_closed:
                raise acks.error(f"connection to {self.server} lost while publishing "
                                 f"({wire.error or 'closed'})", self.server)
            if len(wire.permission_errors) > denied:
                hint = ("; if the account allows another inbox prefix for replies, pass it "
                        "as inbox_prefix=..." if "Subscription" in wire.permission_errors[-1]
                        else "")
                raise PermissionDeniedError(
                    f"{self.server} denied publishing: {wire.permission_errors[-1]}; "
                    f"{acks.summary()}{hint}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise acks.error(f"{self.server} acknowledged nothing more in {timeout:.0f} s",
                                 self.server)
            await sink.wait(left)  # a wake-up for acks already counted just loops
        reply_subjects, _, _, answers = sink.take()
        acks.count(reply_subjects, answers, self.server)
        if sink.statuses:
            code, _, _ = sink.statuses[0]
            raise acks.error(f"{self.server}: no stream takes subject "
                             f"{acks.subjects[acks.resume]!r} (status {code}); create the "
                             "stream first", self.server)


class _Acks:
    """What the server acknowledged of one publish, message by message."""

    def __init__(self, total: int, sizes: list[int], subjects: Sequence[str]) -> None:
        self.total = total
        self.sizes = sizes
        self.sent_bytes = [0, *itertools.accumulate(sizes)]  # bytes of the first n messages
        self.subjects = subjects
        self.done = bytearray(total)
        self.answered = self.stored = self.duplicates = 0
        self.resume = 0  # every message before it is acknowledged
        self.acked_bytes = 0

    def bytes_in_flight(self, sent: int) -> int:
        return self.sent_bytes[sent] - self.acked_bytes

    def count(self, reply_subjects: list[bytes], answers: list[bytes], server: str) -> None:
        refused: tuple[int, str] | None = None
        for subject, answer in zip(reply_subjects, answers, strict=True):
            i = int(subject.rsplit(b".", 1)[1])
            if self.done[i]:
                continue
            if b'"error"' in answer:
                reason = str(json.loads(answer)["error"].get("description"))
                if refused is None or i < refused[0]:
                    refused = (i, reason)
                continue
            self.done[i] = 1
            self.answered += 1
            if b'"duplicate":true' in answer.replace(b" ", b""):
                self.duplicates += 1
            else:
                self.stored += 1
            self.acked_bytes += self.sizes[i]
        while self.resume < self.total and self.done[self.resume]:
            self.resume += 1
        if refused is not None:
            i, reason = refused
            raise self.error(f"{server} refused message {i} on {self.subjects[i]!r}: {reason}",
                             server)

    def summary(self) -> str:
        return (f"{self.stored:,} of {self.total:,} messages stored"
                + (f" ({self.duplicates:,} dropped as duplicates)" if self.duplicates else "")
                + f", every one before index {self.resume} acknowledged")

    def error(self, why: str, server: str) -> PublishError:
        return PublishError(
            f"{why}. {self.summary()}: publish payloads[{self.resume}:] to continue",
            stored=self.stored, duplicates=self.duplicates, resume=self.resume)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """How a publish went: messages stored, and repeats the server dropped by msg id."""

    stored: int
    duplicates: int

    def __str__(self) -> str:
        dropped = (f"; {self.duplicates:,} repeated message id(s) dropped by the server"
                   if self.duplicates else "")
        return f"{self.stored:,} message(s) stored{dropped}"

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html("Publish", str(self))


class _NoJetStream(ConnectionFailedError):
    """Internal: the server has no JetStream (nothing to retry)."""


class _Restart(Exception):
    """Internal: the read must reconnect or recreate its consumer and continue."""


def _ns(value: dt.datetime) -> int:
    delta = value.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


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
    seq, stamp = positions([r for c in chunks for r in c.replies])
    return RawBatch(seq, stamp, [s for c in chunks for s in c.subjects],
                    _stack_headers([(c.headers, len(c.payloads)) for c in chunks]),
                    [p for c in chunks for p in c.payloads])


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
        [s for b in batches for s in b.subjects],
        _stack_headers([(b.headers, len(b)) for b in batches]),
        [p for b in batches for p in b.payloads],
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


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` matches the NATS ``pattern`` (``*`` one token, ``>`` the rest).

    Examples
    --------
    >>> subject_matches("rides.*.trip_started", "rides.lisbon.trip_started")
    True
    >>> subject_matches("rides.>", "rides")
    False
    """
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def subjects_regex(patterns: Sequence[str]) -> str:
    """An anchored regular expression for the subjects NATS ``patterns`` match.

    ``*`` matches one token, ``>`` (last) one or more.

    Examples
    --------
    >>> import re
    >>> pattern = subjects_regex(["rides.*.trip_started", "orders.>"])
    >>> [bool(re.match(pattern, s)) for s in ["rides.lisbon.trip_started", "orders.o1.paid",
    ...                                      "rides.lisbon.trip_ended", "orders"]]
    [True, True, False, False]
    """

    def one(pattern: str) -> str:
        tokens = pattern.strip().split(".")
        return r"\.".join(
            "[^.]+" if t == "*" else ".+" if t == ">" and i == len(tokens) - 1 else re.escape(t)
            for i, t in enumerate(tokens))

    return "^(?:" + "|".join(one(p) for p in patterns) + ")$"


def subjects_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both patterns.

    Examples
    --------
    >>> subjects_overlap("rides.>", "rides.berlin.*"), subjects_overlap("rides.>", "orders.>")
    (True, False)
    """
    x, y = a.split("."), b.split(".")
    for i in range(max(len(x), len(y))):
        tx = x[i] if i < len(x) else None
        ty = y[i] if i < len(y) else None
        if tx == ">" or ty == ">":
            return tx is not None and ty is not None
        if tx is None or ty is None:
            return False
        if tx != ty and "*" not in (tx, ty):
            return False
    return True


def _check_filters(info: StreamInfo, filters: Sequence[str], server: str) -> None:
    if not info.subjects:  # mirrors and sourced streams take subjects from elsewhere
        return
    for f in filters:
        if not any(subjects_overlap(f, s) for s in info.subjects):
            raise ConfigurationError(
                f"subject {f!r} is not in stream {info.name!r} on {server}: the stream "
                f"holds {', '.join(info.subjects)}"
            )


def _check_name(stream: str) -> None:
    if not stream or any(c in stream for c in " .*>\t\r\n/\\"):
        raise ConfigurationError(
            f"{stream!r} is not a valid stream name: no spaces, dots, '*', '>' or slashes"
        )
