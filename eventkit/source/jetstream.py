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
import secrets
import ssl
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from eventkit.exceptions import (
    AuthenticationError,
    ConnectionFailedError,
    EventkitError,
    JetStreamAPIError,
    PermissionDeniedError,
    ReadInterruptedError,
)
from eventkit.source._api import (
    CONSUMER_SCHEMA,
    RETRYABLE,
    ErrCode,
    StreamInfo,
    _check_filters,
    _check_name,
    _consumer_row,
    _ns,
    _rfc3339,
    api_error,
)
from eventkit.source._batches import (
    RawBatch,
    ReadState,
    _direct_batch,
    _filter_subjects,
    _past_end,
    _position,
    _Span,
    _Taken,
    positions,
    split_direct_headers,
)
from eventkit.source._publish import PublishResult, publish_many
from eventkit.source._sinks import Deliveries, Sink
from eventkit.source._subjects import subject_matches, subjects_overlap, subjects_regex
from eventkit.source._wire import Address, Auth, Wire

__all__ = ["CONSUMER_SCHEMA", "JetStream", "PublishResult", "RawBatch", "ReadState",
           "StreamInfo", "positions", "split_direct_headers", "subject_matches",
           "subjects_overlap", "subjects_regex"]  # the last five: kept for older imports

_API = "$JS.API"


# 409 statuses that end one pull request, not the consumer
_PULL_ENDED = frozenset({"Message Size Exceeds MaxBytes", "Batch Completed"})


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
            where = f"stream {stream!r} on {self.server}" if stream else self.server
            raise api_error(error, op, where)
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
                    allow=(ErrCode.NO_MESSAGE_FOUND,))
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
        pull = await self._open_pull(wire, span, after, state)
        try:
            while pull.received < pull.expected:
                chunk = await pull.next_chunk()
                if chunk is None:
                    continue
                taken.add(chunk)
                for raw in taken.full(span):
                    yield raw
                # one consumer delivers in stream order: its last message says how far
                if span.reached(*_position(chunk.replies[-1])):
                    return
        except (ConnectionError, OSError) as exc:
            raise _Restart(f"connection lost ({exc})") from exc
        finally:
            if not wire.is_closed:
                wire.unsubscribe(pull.sid)
                try:
                    await self.api(f"CONSUMER.DELETE.{span.stream}.{pull.consumer}",
                                   stream=span.stream)
                except (EventkitError, OSError, TimeoutError):
                    pass  # the inactivity threshold removes it within seconds

    async def _open_pull(self, wire: Wire, span: _Span, after: int | None,
                         state: ReadState) -> _Pull:
        """A new ephemeral consumer for the read after ``after``, and its pull flow."""
        stream = span.stream
        try:
            created = await self._api_or_restart(
                f"CONSUMER.CREATE.{stream}",
                {"stream_name": stream, "config": _consumer_config(span, after)}, stream=stream)
        except JetStreamAPIError as exc:
            if exc.err_code in RETRYABLE:  # a cluster placing it: another try may do
                raise _Restart(str(exc)) from exc
            raise
        state.served_by = (created.get("cluster") or {}).get("leader") or self.server
        return _Pull(wire, span, f"{self.api_prefix}.CONSUMER.MSG.NEXT.{stream}.{created['name']}",
                     created["name"], created.get("num_pending", 0))

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

    async def publish_many(
        self, subjects: Sequence[str], payloads: Sequence[bytes],
        headers: Sequence[dict[str, str] | None] | None = None, *,
        window: int = 8192, window_bytes: int = 32 << 20, timeout: float = 10.0,
    ) -> PublishResult:
        """See :func:`eventkit.source._publish.publish_many`."""
        return await publish_many(self, subjects, payloads, headers, window=window,
                                  window_bytes=window_bytes, timeout=timeout)


def _consumer_config(span: _Span, after: int | None) -> dict[str, Any]:
    """An ephemeral pull consumer's configuration: no acks, in memory, gone when idle.

    >>> span = _Span("S", ("a.>",), None, 10, None, 1, 1, 1, 1, 1.0)
    >>> c = _consumer_config(span, 4)
    >>> c["deliver_policy"], c["opt_start_seq"], c["filter_subject"]
    ('by_start_sequence', 5, 'a.>')
    """
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
    return config


class _Pull:
    """One consumer's pull flow: two pulls in flight, statuses read, a stall noticed.

    ``expected`` is what the consumer had pending when it was made; the flow
    asks for no more than that.
    """

    def __init__(self, wire: Wire, span: _Span, subject: str, consumer: str,
                 expected: int) -> None:
        self.wire, self.span, self.subject = wire, span, subject
        self.consumer, self.expected = consumer, expected
        self.inbox, self.sid, self.sink = wire.subscribe(Sink())
        self.request = json.dumps({"batch": span.pull, "max_bytes": span.pull_bytes,
                                   "expires": int(30e9)}).encode()
        self.received = self.outstanding = 0  # delivered; asked for and not yet here
        self.heard = time.monotonic()

    async def next_chunk(self) -> Deliveries | None:
        """What arrived since the last call (None if nothing did yet)."""
        wire, sink, pull = self.wire, self.sink, self.span.pull
        while self.outstanding < 2 * pull and self.received + self.outstanding < self.expected:
            wire.publish(self.subject, self.request, reply=self.inbox)
            self.outstanding += pull
        await wire.drain()
        await sink.wait(self.span.stall)
        if wire.is_closed:
            raise _Restart(f"connection lost ({wire.error or 'closed'})")
        self._statuses()
        self.heard = max(self.heard, wire.heard)
        if not len(sink):
            if time.monotonic() - self.heard > self.span.stall:
                raise _Restart(f"nothing arrived for {self.span.stall:.0f} s")
            return None
        chunk = sink.take()
        self.received += len(chunk.payloads)
        self.outstanding = max(self.outstanding - len(chunk.payloads), 0)
        return chunk

    def _statuses(self) -> None:
        for code, desc, headers in self.sink.statuses:
            if code in (404, 408) or (code == 409 and desc in _PULL_ENDED):
                # the pull ended (expired, as many bytes as asked for, or done)
                self.outstanding -= int(headers.get("Nats-Pending-Messages", 0) or 0)
            elif code in (409, 503):
                raise _Restart(f"consumer lost ({code} {desc})")
        self.sink.statuses.clear()


class _NoJetStream(ConnectionFailedError):
    """Internal: the server has no JetStream (nothing to retry)."""


class _Restart(Exception):
    """Internal: the read must reconnect or recreate its consumer and continue."""
