"""Connect to NATS and read streams into tables: the synchronous face and its async twins.

Every call works in a plain notebook cell (it runs on eventkit's private I/O
thread and waits), and every call has an ``a``-prefixed twin for ``await``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import os
import re
import ssl
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl
from tqdm.auto import tqdm

from eventkit._time import Instant, cutoff, spoken_duration, to_duration, to_position
from eventkit._typing import DiscardPolicy, StreamRetention, StreamStorage, TimeLike
from eventkit.codec import Decoded, Hints, combine, decode
from eventkit.envelope import Rules
from eventkit.events import Events, ReadInfo
from eventkit.exceptions import ClosedError, ConfigurationError, EventkitWarning
from eventkit.formats.rules import FormatRules
from eventkit.formats.schemas import Schemas, WriterSchema
from eventkit.source._loop import on_loop
from eventkit.source._twins import sync_twin, warn
from eventkit.source._wire import Auth, Secret, hide_urls, parse_servers
from eventkit.source.jetstream import (
    CONSUMER_SCHEMA,
    JetStream,
    PublishResult,
    RawBatch,
    StreamInfo,
)
from eventkit.source.options import resolve

if TYPE_CHECKING:
    from eventkit.schema import SchemaRegistry, Snapshot

__all__ = ["Connection", "aconnect", "connect"]

T = TypeVar("T")

_DEFAULT_URL = "nats://127.0.0.1:4222"
_decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventkit-decode")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


async def aconnect(
    servers: str | Sequence[str] | None = None,
    *,
    context: str | bool | None = None,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    nkey_seed: str | os.PathLike[str] | None = None,
    creds: str | os.PathLike[str] | None = None,
    tls_ca: str | os.PathLike[str] | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    domain: str | None = None,
    api_prefix: str | None = None,
    inbox_prefix: str | None = None,
    tls_handshake_first: bool | None = None,
    name: str = "eventkit",
    connect_timeout: float = 5.0,
) -> Connection:
    """Connect to a NATS server (or cluster) with JetStream.

    Parameters
    ----------
    servers
        One URL, a comma-separated list or a list (``nats://``, ``tls://``, or
        ``ws://`` / ``wss://`` for a server's WebSocket listener);
        ``$NATS_URL`` or ``nats://127.0.0.1:4222`` by default.
    context
        A NATS context saved by ``nats context save`` (its name, or ``True``
        for the selected one): settings not passed here come from it, then
        from ``NATS_*`` environment variables.
    user, password, token
        Credentials (a URL may carry them too: ``nats://user:pass@host``).
    nkey_seed
        Path of a file holding an NKey user seed (``SU...``).
    creds
        Path of a ``.creds`` file (user JWT and seed).
    tls_ca, tls_cert, tls_key
        TLS: the CA that signed the server's certificate; a client certificate
        and key for mutual TLS. Any of them makes TLS required.
    domain
        The JetStream domain to use (``$JS.<domain>.API``), e.g. the domain of
        a leaf node reached through its hub.
    api_prefix
        A JetStream API prefix other than ``$JS.API`` (an account that
        imports another's JetStream API under its own prefix). Not with
        ``domain``.
    inbox_prefix
        Where replies come back (``_INBOX`` by default), for accounts allowed
        to subscribe only under their own prefix, e.g. ``"_INBOX_ek"``.
    tls_handshake_first
        Start TLS before the server speaks, for servers configured with
        ``tls { handshake_first: true }``.

    Wrong credentials fail at once with :class:`~eventkit.AuthenticationError`;
    an unreachable server fails within ``connect_timeout`` seconds with
    :class:`~eventkit.ConnectionFailedError`. Neither message shows a secret.

    Examples
    --------
    >>> from eventkit import EmbeddedServer
    >>> with EmbeddedServer() as server, connect(server.url) as conn:
    ...     _ = conn.create_stream("ORDERS", ["orders.>"])
    ...     _ = conn.publish_many(["orders.o1"], [b'{"type":"order_placed","key":"o1"}'])
    ...     conn.read("ORDERS", start="15m").to_polars()["type"].to_list()
    ['order_placed']
    """
    hidden_servers, secret_password, secret_token = (
        hide_urls(servers), Secret.of(password), Secret.of(token))
    servers = password = token = None  # a traceback that prints locals shows no secret
    conn = Connection(hidden_servers, context=context, user=user, password=secret_password,
                      token=secret_token,
                      nkey_seed=nkey_seed, creds=creds, tls_ca=tls_ca, tls_cert=tls_cert,
                      tls_key=tls_key, domain=domain, api_prefix=api_prefix,
                      inbox_prefix=inbox_prefix, tls_handshake_first=tls_handshake_first,
                      name=name, connect_timeout=connect_timeout)
    return await conn.aopen()


connect = sync_twin(aconnect)


class Connection:
    """A connection to NATS JetStream. Create it with :func:`connect`."""

    def __init__(
        self, servers: str | Sequence[str] | Secret | None = None, *,
        context: str | bool | None = None, user: str | None = None,
        password: str | Secret | None = None, token: str | Secret | None = None,
        nkey_seed: str | os.PathLike[str] | None = None,
        creds: str | os.PathLike[str] | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        domain: str | None = None, api_prefix: str | None = None,
        inbox_prefix: str | None = None, tls_handshake_first: bool | None = None,
        name: str = "eventkit", connect_timeout: float = 5.0,
    ) -> None:
        password, token, servers = Secret.of(password), Secret.of(token), hide_urls(servers)
        o = resolve(dict(servers=servers, user=user, password=password, token=token,
                         nkey_seed=nkey_seed, creds=creds, tls_ca=tls_ca, tls_cert=tls_cert,
                         tls_key=tls_key, domain=domain, api_prefix=api_prefix,
                         inbox_prefix=inbox_prefix, tls_handshake_first=tls_handshake_first),
                    context)
        urls = o["servers"] or _DEFAULT_URL
        addresses, url_auth = parse_servers(
            urls if isinstance(urls, (str, Secret)) else list(urls))
        auth = _auth(url_auth, o["user"], o["password"], o["token"], o["nkey_seed"], o["creds"])
        tls = _tls_context(o["tls_ca"], o["tls_cert"], o["tls_key"])
        self.servers = [str(a) for a in addresses]
        self._auth_kind = auth.kind
        api, inbox = _prefixes(o["domain"], o["api_prefix"], o["inbox_prefix"])
        self._js = JetStream(addresses, auth, tls=tls, name=name, connect_timeout=connect_timeout,
                             api_prefix=api, inbox_prefix=inbox,
                             tls_handshake_first=bool(o["tls_handshake_first"]))
        self._state = _State.UNOPENED

    # -- lifecycle ---------------------------------------------------------
    async def aopen(self) -> Connection:
        """Open the connection (:func:`connect` opens the one it makes)."""
        if self._state is _State.CLOSED:
            raise ClosedError("this connection is closed: call eventkit.connect() again")
        await on_loop(self._js.connect())
        self._state = _State.OPEN
        return self

    open = sync_twin(aopen)

    async def aclose(self) -> None:
        """Close the connection (leaving a ``with`` block closes it too)."""
        if self._state is not _State.CLOSED:
            await on_loop(self._js.close())
            self._state = _State.CLOSED

    close = sync_twin(aclose)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise ClosedError("this connection is closed: call eventkit.connect() again")
        if self._state is _State.UNOPENED:
            raise ClosedError("this connection is not open yet: use eventkit.connect()")

    @property
    def server(self) -> str:
        """The server in use (never with credentials)."""
        return self._js.server

    @property
    def jetstream(self) -> JetStream:
        """The JetStream source under this connection (for the store and replay)."""
        self._check_open()
        return self._js

    def __repr__(self) -> str:
        if not hasattr(self, "_state"):  # shown by a traceback while __init__ failed
            return "Connection(not set up)"
        return (f"Connection(servers={', '.join(self.servers)!r}, auth={self._auth_kind!r}, "
                f"state={self._state.value!r})")

    # -- streams -----------------------------------------------------------
    async def astreams(self) -> pl.DataFrame:
        """Every stream: name, subjects, message count, first/last sequence and time."""
        self._check_open()
        infos = await on_loop(self._js.streams())
        return pl.DataFrame(
            [{"name": i.name, "subjects": list(i.subjects), "messages": i.messages,
              "bytes": i.bytes, "first_seq": i.first_seq, "last_seq": i.last_seq,
              "first_time": i.first_time, "last_time": i.last_time,
              "consumers": i.consumers} for i in infos],
            schema={"name": pl.String, "subjects": pl.List(pl.String), "messages": pl.UInt64,
                    "bytes": pl.UInt64, "first_seq": pl.UInt64, "last_seq": pl.UInt64,
                    "first_time": pl.Datetime("us", "UTC"), "last_time": pl.Datetime("us", "UTC"),
                    "consumers": pl.UInt32},
        )

    streams = sync_twin(astreams)

    async def astream(self, name: str) -> StreamInfo:
        """What one stream holds now."""
        self._check_open()
        return await on_loop(self._js.stream_info(name))

    stream = sync_twin(astream)

    async def asubjects(self, stream: str, pattern: str = ">") -> pl.DataFrame:
        """The stream's subjects matching ``pattern``, with how many messages each holds.

        Columns ``subject`` and ``messages``, the busiest first.
        """
        self._check_open()
        counts = await on_loop(self._js.subject_counts(stream, pattern))
        return pl.DataFrame({"subject": list(counts), "messages": list(counts.values())},
                            schema={"subject": pl.String, "messages": pl.Int64}).sort(
            "messages", "subject", descending=[True, False])

    subjects = sync_twin(asubjects)

    async def aconsumers(self, stream: str) -> pl.DataFrame:
        """The stream's consumers and their lag (what ``nats consumer report`` shows).

        One row per consumer: ``name``, ``durable``, ``filter``, ``delivered_seq``
        (the last stream sequence delivered), ``ack_floor_seq``, ``pending``
        (messages not yet delivered), ``ack_pending``, ``redelivered``,
        ``waiting`` (pull requests), ``last_active`` and ``leader``.
        """
        self._check_open()
        rows = await on_loop(self._js.consumers(stream))
        return pl.DataFrame(rows, schema=CONSUMER_SCHEMA, orient="row")

    consumers = sync_twin(aconsumers)

    async def acreate_stream(
        self, name: str, subjects: Sequence[str], *, storage: StreamStorage = "file",
        retention: StreamRetention = "limits", num_replicas: int = 1,
        max_msgs: int | None = None, max_bytes: int | None = None,
        max_age: dt.timedelta | None = None, max_msgs_per_subject: int | None = None,
        max_msg_size: int | None = None, discard: DiscardPolicy = "old",
        duplicate_window: dt.timedelta | None = None, allow_direct: bool | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> StreamInfo:
        """Create a stream.

        Parameters
        ----------
        name, subjects
            The stream's name and the subjects it captures (wildcards allowed).
        storage, retention, num_replicas
            ``"file"`` or ``"memory"``; ``"limits"``, ``"interest"`` or
            ``"workqueue"``; how many servers keep a copy.
        max_msgs, max_bytes, max_age, max_msgs_per_subject, max_msg_size
            Limits (``None``: the server's default, unlimited); ``max_age`` is a
            ``timedelta``.
        discard
            At a limit, drop the ``"old"`` messages or refuse ``"new"`` ones.
        duplicate_window
            How long a ``Nats-Msg-Id`` is remembered to drop duplicates
            (``timedelta(0)`` turns it off; ``None``: the server's two minutes).
        allow_direct
            Let any replica answer direct gets.
        description, metadata
            Free text, and string keys and values (eventkit reads its envelope
            rules from ``metadata``).
        config
            Any other field of JetStream's stream configuration, spelled as the
            API spells it (e.g. ``{"placement": {"cluster": "east"}}``).

        Examples
        --------
        >>> import datetime as dt
        >>> from eventkit import EmbeddedServer, connect
        >>> with EmbeddedServer() as server, connect(server.url) as conn:
        ...     info = conn.create_stream("AUDIT", ["audit.>"], max_msgs=1_000,
        ...                               duplicate_window=dt.timedelta(seconds=5))
        ...     info.name
        'AUDIT'
        """
        self._check_open()
        fields = _stream_config(
            storage=storage, retention=retention, num_replicas=num_replicas, max_msgs=max_msgs,
            max_bytes=max_bytes, max_age=max_age, max_msgs_per_subject=max_msgs_per_subject,
            max_msg_size=max_msg_size, discard=discard, duplicate_window=duplicate_window,
            allow_direct=allow_direct, description=description, metadata=metadata)
        return await on_loop(self._js.add_stream(name, subjects, **{**fields, **(config or {})}))

    create_stream = sync_twin(acreate_stream)

    async def adelete_message(self, stream: str, seq: int, *, erase: bool = False) -> None:
        """Delete the message at sequence ``seq`` from ``stream`` (the sequence stays a gap).

        Parameters
        ----------
        stream, seq
            The stream and the message's stream sequence.
        erase
            Overwrite the message's bytes on disk too (slower; for data that
            must not survive a deletion).

        Raises
        ------
        EventkitError
            No message at ``seq`` (never stored, or already deleted).

        Examples
        --------
        >>> from eventkit import EmbeddedServer, connect
        >>> with EmbeddedServer() as server, connect(server.url) as conn:
        ...     _ = conn.create_stream("AUDIT", ["audit.>"])
        ...     _ = conn.publish_many(["audit.a"] * 3, [b"{}"] * 3)
        ...     conn.delete_message("AUDIT", 2)
        ...     conn.stream("AUDIT").messages
        2
        """
        self._check_open()
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ConfigurationError(f"seq must be a stream sequence (an int >= 1), not {seq!r}")
        await on_loop(self._js.delete_message(stream, seq, erase=erase))

    delete_message = sync_twin(adelete_message)

    async def apublish_many(self, subjects: Sequence[str], payloads: Sequence[bytes],
                            headers: Sequence[dict[str, str] | None] | None = None,
                            ) -> PublishResult:
        """Publish messages in order, each acknowledged by JetStream.

        Checks each message's size with its headers against the server's limit first.
        """
        self._check_open()
        lengths = {len(subjects), len(payloads), len(payloads if headers is None else headers)}
        if len(lengths) > 1:
            raise ConfigurationError("subjects, payloads and headers must have the same length")
        return await on_loop(self._js.publish_many(subjects, payloads, headers))

    publish_many = sync_twin(apublish_many)

    # -- reading -----------------------------------------------------------
    async def aread(
        self, stream: str, *, subjects: str | Sequence[str] | None = None,
        start: TimeLike | None = None, end: TimeLike | None = None,
        rules: Rules | None = None, progress: bool = True,
        registry: SchemaRegistry | None = None,
        format: str | FormatRules | None = None,
    ) -> Events:
        """Read part of a stream into tables.

        Parameters
        ----------
        stream
            Stream name.
        subjects
            Subject filter(s), e.g. ``"rides.>"``; the whole stream by default.
        start, end
            Inclusive bounds on the stream (sequences, or server time): a
            stream sequence, a time (an aware datetime, an ISO string with up
            to nine fraction digits, a ``pandas.Timestamp``...), or a duration
            ago (``"15m"``). Times are exact to the nanosecond; a ``datetime``
            stands for its whole microsecond, so ``end=df["time"][i]`` keeps
            event ``i``. Unbounded by default; the read ends at what the
            stream holds when it begins.
        rules
            How to find ``type``, ``key`` and ``event_time``; by default the
            stream's own rules (its metadata) or :class:`~eventkit.Rules`' defaults.
        progress
            Show a progress bar (a widget in a notebook) for long reads.
        registry
            A :class:`~eventkit.SchemaRegistry`: registered types are decoded
            with the schema of the version each event was written with and
            brought to the newest version's shape by its upcasters, so their
            typed tables have the newest schema's columns (plus
            ``schema_version``) whatever part of the stream is read. Its Avro
            and Protobuf schemas decode those payloads (by Confluent schema
            id, Avro fingerprint, or the event's type).
        format
            How each message's payload format is found (see
            :mod:`eventkit.formats.rules`): e.g. ``"msgpack"`` (every
            message), or ``"header:content-type,magic,registry,json"`` (the
            default, unless the stream's metadata ``eventkit.format`` says
            otherwise).

        Returns
        -------
        Events
            ``to_polars()`` for the envelope, ``of_type(name)`` for typed tables.
        """
        self._check_open()
        return _told(await on_loop(self._read(stream, subjects, start, end, rules, progress,
                                              registry, format)))

    read = sync_twin(aread)

    async def _aread_quietly(self, stream: str, *, subjects: Sequence[str] | None,
                             start: int, progress: bool) -> Events:
        """What :meth:`aread` reads, its notes left unsaid (for the live tail, which shows
        them its own way)."""
        self._check_open()
        return await on_loop(self._read(stream, subjects, start, None, None, progress))

    async def _read(
        self, stream: str, subjects: str | Sequence[str] | None, start: TimeLike | None,
        end: TimeLike | None, rules: Rules | None, progress: bool,
        registry: SchemaRegistry | None = None, format: str | FormatRules | None = None,
    ) -> Events:
        began = time.perf_counter()
        read_at = dt.datetime.now(dt.UTC)
        filters = (subjects,) if isinstance(subjects, str) else tuple(subjects or ())
        lo = to_position(start, now=read_at, what="start")
        hi = to_position(end, now=read_at, what="end")
        info = await self._js.stream_info(stream, retries=8)
        rules = rules or Rules.from_metadata(info.metadata)
        schemas = await registry.asnapshot() if registry is not None else None
        formats = (FormatRules.parse(format) if format is not None
                   else FormatRules.from_metadata(info.metadata))
        writers = registry_writers(schemas)
        total = _estimate(info, lo, hi) if not filters else None
        bar = tqdm(total=total, unit="ev", unit_scale=True, desc=f"reading {stream}",
                   disable=not progress, delay=0.5, leave=False)
        loop = asyncio.get_running_loop()
        decoding: list[asyncio.Future[Decoded]] = []
        hints = Hints()  # what one batch teaches the decoding of the next
        parts: list[Decoded] = []
        notes: list[str] = []
        try:
            async for raw in self._js.fetch(stream, subjects=filters, start=_wide(lo, ">="),
                                            end=_wide(hi, "<="), notes=notes):
                # decode on a worker thread while the next batch arrives
                decoding.append(loop.run_in_executor(_decoder, _decode, raw, rules, schemas,
                                                     hints, formats, writers))
                bar.update(len(raw))
                while len(decoding) > 1:  # bound memory: one batch decoding, one arriving
                    parts.append(await decoding.pop(0))
            parts += await asyncio.gather(*decoding)
        finally:
            bar.close()
        decoded = _exact(combine(parts), lo, hi)
        seqs = decoded.envelope["seq"]
        if not len(seqs) and (why := await _why_empty(self._js, info, filters, lo, hi)):
            notes.append(why)
        return Events(decoded, ReadInfo(
            server=self._js.server, stream=stream, subjects=filters,
            first_seq=int(seqs[0]) if len(seqs) else None,
            last_seq=int(seqs[-1]) if len(seqs) else None,
            read_at=read_at, seconds=time.perf_counter() - began, rules=rules,
            notes=tuple(notes),
        ))


async def _why_empty(js: JetStream, info: StreamInfo, filters: tuple[str, ...],
                     start: int | Instant | None, end: int | Instant | None) -> str:
    """Why a read found nothing, in the words a user can act on."""
    lo = start.to_datetime() if isinstance(start, Instant) else start
    hi = end.to_datetime() if isinstance(end, Instant) else end
    where = f"stream {info.name!r} on {js.server}"
    stamp = "%Y-%m-%d %H:%M:%S UTC"
    if not info.messages:
        return f"0 events: {where} holds no events"
    if isinstance(lo, dt.datetime) and info.last_time is not None and info.last_time < lo:
        return (f"0 events: the last event of {where} is at {info.last_time:{stamp}}, "
                f"{spoken_duration(lo - info.last_time)} before start={lo:{stamp}}; "
                "give an earlier start")
    if isinstance(hi, dt.datetime) and info.first_time is not None and hi < info.first_time:
        return (f"0 events: the first event of {where} is at {info.first_time:{stamp}}, "
                f"after end={hi:{stamp}}")
    if isinstance(lo, int) and lo > info.last_seq:
        if lo == info.last_seq + 1:
            return ""  # nothing new yet: what a reader that keeps up sees, no surprise
        return f"0 events: {where} ends at sequence {info.last_seq}, before start={lo}"
    if isinstance(hi, int) and hi < info.first_seq:
        return f"0 events: {where} begins at sequence {info.first_seq}, after end={hi}"
    unmatched = [f for f in filters if not await js.subject_counts(info.name, f)]
    if unmatched and len(unmatched) == len(filters):
        return (f"0 events: no subject in {where} matches {', '.join(map(repr, unmatched))} "
                f"(its subjects: {', '.join(info.subjects)}); check the filter for a typo")
    return f"0 events: nothing in {where} matches the subjects and range asked for"


def _told(events: Events) -> Events:
    """Say, in the caller's thread (see :func:`~eventkit.source._twins.warn`), what the
    read did differently than asked."""
    for note in events.info.notes if events.info else ():
        warn(note, EventkitWarning)
    return events


def registry_writers(snapshot: Snapshot | None) -> Schemas:
    """The registry's Avro and Protobuf versions, parsed by the registry, for the decoders."""
    if snapshot is None:
        return Schemas()
    from eventkit.schema._entry import avro_schema, protobuf_message

    out = []
    for versions in snapshot.entries.values():
        for e in versions.values():
            if e.format == "avro":
                out.append(WriterSchema(e.event_type, e.version, "avro", avro_schema(e), e.id))
            elif e.format == "protobuf" and e.descriptors and e.message:
                out.append(WriterSchema(e.event_type, e.version, "protobuf",
                                        protobuf_message(e), e.id))
    return Schemas(out, snapshot.upcast if snapshot.upcasters else None)


def _decode(raw: RawBatch, rules: Rules, schemas: Snapshot | None,
            hints: Hints, formats: FormatRules | None = None,
            writers: Schemas | None = None) -> Decoded:
    decoded = decode(raw.seq, raw.time, raw.subjects, raw.headers, raw.payloads, rules,
                     hints=hints, formats=formats, writers=writers)
    return schemas.apply(decoded, rules) if schemas is not None else decoded


def _wide(position: int | Instant | None, op: str) -> int | dt.datetime | None:
    """A time bound as the server's microsecond datetime, widened to hold the whole
    bound (:func:`_exact` then cuts the read to the nanosecond)."""
    if not isinstance(position, Instant):
        return position
    ns = cutoff(position, op)  # type: ignore[arg-type]
    us = ns // 1_000 if op == ">=" else -(-ns // 1_000)
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def _exact(decoded: Decoded, lo: int | Instant | None, hi: int | Instant | None) -> Decoded:
    """The events inside time bounds exactly (through :func:`eventkit._time.cutoff`)."""
    if not isinstance(lo, Instant) and not isinstance(hi, Instant):
        return decoded
    events = Events(decoded)
    if isinstance(lo, Instant):
        events = events.between(lo, None, on="time")
    if isinstance(hi, Instant):
        events = events.as_of(hi, on="time")
    return Decoded(events._envelope, dict(events._typed))


def _estimate(
    info: StreamInfo, lo: int | Instant | None, hi: int | Instant | None
) -> int | None:
    if isinstance(lo, Instant) or isinstance(hi, Instant):
        return None
    first = max(lo or info.first_seq, info.first_seq)
    last = min(hi if hi is not None else info.last_seq, info.last_seq)
    return max(last - first + 1, 0)


def _stream_config(**fields: Any) -> dict[str, Any]:
    """The stream configuration as the JetStream API spells it: durations in nanoseconds,
    what was not given left to the server."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if key in ("max_age", "duplicate_window"):
            if not isinstance(value, dt.timedelta):
                raise ConfigurationError(
                    f"{key} must be a datetime.timedelta, not {value!r} "
                    f"(e.g. {key}=datetime.timedelta(minutes=2))")
            value = to_duration(value).ns
        elif key == "metadata":
            value = dict(value)
        out[key] = value
    return out


def _read_secret(path: str | os.PathLike[str], what: str) -> Secret:
    p = Path(path).expanduser()
    try:
        return Secret(p.read_text())
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the {what} file {str(p)!r}: {exc.strerror}"
        ) from None


def _auth(url_auth: Auth, user: str | None, password: Secret | None, token: Secret | None,
          nkey_seed: str | os.PathLike[str] | None,
          creds: str | os.PathLike[str] | None) -> Auth:
    if creds is not None:
        parsed = _parse_creds(_read_secret(creds, "creds"))
        if parsed is None:
            raise ConfigurationError(
                f"{str(creds)!r} is not a NATS .creds file (a user JWT block then a seed block)"
            )
        return Auth(jwt=parsed[0], nkey_seed=parsed[1])
    if nkey_seed is not None:
        seed = _seed(_read_secret(nkey_seed, "NKey seed"))
        if seed is None:
            raise ConfigurationError(
                f"the NKey seed file {str(nkey_seed)!r} does not hold a user seed (it should "
                "start with 'SU')"
            )
        return Auth(nkey_seed=seed)
    if user is not None or password is not None:
        return Auth(user=user or "", password=password)
    if token is not None:
        return Auth(token=token)
    return url_auth


def _seed(text: Secret) -> Secret | None:
    """The user seed of an NKey file, hidden (None if it holds none)."""
    seed = str(text.reveal()).strip()
    return Secret(seed.encode()) if seed.startswith("SU") else None


def _parse_creds(text: Secret) -> tuple[Secret, Secret] | None:
    """The user JWT and seed of a ``.creds`` file (the format ``nsc`` writes), hidden;
    None if it is not one (the caller raises: this frame's locals hold the secrets)."""
    blocks: list[str] = []
    inside: list[str] | None = None
    for line in str(text.reveal()).splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN"):
            inside = []
        elif line.startswith("------END") or line.startswith("-----END"):
            if inside is not None:
                blocks.append("".join(inside))
            inside = None
        elif inside is not None and line:
            inside.append(line)
    if len(blocks) < 2 or not blocks[1].startswith("SU"):
        return None
    return Secret(blocks[0]), Secret(blocks[1].encode())


_TOKEN = re.compile(r"[^\s.*>]+")  # one subject token: no dot, wildcard or space


def _prefixes(domain: str | None, api_prefix: str | None,
              inbox_prefix: str | None) -> tuple[str, str]:
    """The JetStream API prefix and the inbox prefix to use, checked.

    >>> _prefixes("leaf", None, "_INBOX_ek")
    ('$JS.leaf.API', '_INBOX_ek')
    >>> _prefixes(None, "$JS.hub.API.", None)
    ('$JS.hub.API', '_INBOX')
    """
    if domain and api_prefix:
        raise ConfigurationError(
            f"give a JetStream domain ({domain!r}) or an API prefix ({api_prefix!r}), not "
            "both: a domain is the prefix $JS.<domain>.API")
    if domain and not _TOKEN.fullmatch(domain):
        raise ConfigurationError(
            f"JetStream domain {domain!r} is not valid: one name, no dots, spaces or wildcards")
    api = f"$JS.{domain}.API" if domain else (api_prefix or "$JS.API").rstrip(".")
    inbox = (inbox_prefix or "_INBOX").rstrip(".")
    for what, value in (("API prefix", api), ("inbox prefix", inbox)):
        if not all(_TOKEN.fullmatch(t) for t in value.split(".")):
            raise ConfigurationError(
                f"{what} {value!r} is not valid: subject tokens joined by dots, no spaces "
                "or wildcards (e.g. '_INBOX_ek')")
    return api, inbox


def _tls_context(ca: str | os.PathLike[str] | None, cert: str | os.PathLike[str] | None,
                 key: str | os.PathLike[str] | None) -> ssl.SSLContext | None:
    if ca is None and cert is None:
        return None
    try:
        ctx = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the TLS files: {exc}") from None
    return ctx
