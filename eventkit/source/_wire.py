"""A small NATS connection: the socket, TLS, the handshake and auth, built for bulk I/O.

nats-py spends most of its time per message (a ``Msg`` object, a callback, a
task). Reading a stream into a table needs none of that: this connection
hands large reads to the sans-I/O :class:`~eventkit.source._protocol.Parser`
and appends each run of deliveries to a sink's lists, and it pipelines
publishes with their acknowledgements. It speaks just enough of the
protocol for eventkit: INFO/CONNECT with every auth kind, TLS upgrade,
PING/PONG, SUB/UNSUB, PUB/HPUB, MSG/HMSG.

Nothing here knows payload formats; secrets never leave :class:`Auth`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from eventkit.exceptions import AuthenticationError, ConfigurationError, ConnectionFailedError
from eventkit.source._protocol import (
    PONG,
    Err,
    Frame,
    Info,
    Msgs,
    Parser,
    Ping,
    Status,
    encode_headers,
    parse_headers,
    pub,
    sub,
    unsub,
)
from eventkit.source._sinks import Deliveries, Sink, _Replies

# Deliveries, Sink and the header functions live in _sinks and _protocol: kept here for
# older imports
__all__ = ["Address", "Auth", "Deliveries", "Secret", "Sink", "Wire", "encode_headers",
           "parse_headers"]

_CRLF = b"\r\n"
_READ_SIZE = 1 << 20
_VERSION = "0.1.0"
_DEFAULT_PORTS = {"nats": 4222, "tls": 4222, "ws": 80, "wss": 443}
_WEBSOCKET = ("ws", "wss")


@dataclass(frozen=True, slots=True)
class Address:
    """One server: scheme, host and port. Credentials in a URL go to :class:`Auth`.

    ``tls_name`` is the name its TLS certificate is checked against when that
    is not ``host``: a server the cluster advertised by IP address is checked
    against the name of the server that advertised it, as NATS clients do.
    """

    scheme: str
    host: str
    port: int
    tls_name: str | None = field(default=None, compare=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


class Secret:
    """A password, token, seed or JWT that hides itself: ``repr`` and ``str`` show ``***``.

    Tracebacks that print frame locals (rich, IPython's verbose mode,
    pytest's ``--showlocals``) show only that; :meth:`reveal` gives the
    value, where it is sent.

    Examples
    --------
    >>> s = Secret("hunter2")
    >>> s, f"{s}", s.reveal()
    (Secret('***'), '***', 'hunter2')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value

    @classmethod
    def of(cls, value: str | bytes | Secret | None) -> Secret | None:
        """``value`` hidden (None stays None, a Secret stays itself)."""
        return value if value is None or isinstance(value, Secret) else cls(value)

    def reveal(self) -> str | bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret is not pickled")


@dataclass(frozen=True, slots=True)
class Auth:
    """Credentials for the CONNECT handshake. Shown nowhere: each secret is a :class:`Secret`."""

    user: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    nkey_seed: Secret | None = None
    jwt: Secret | None = None

    @property
    def kind(self) -> str:
        if self.jwt:
            return "creds"
        if self.nkey_seed:
            return "nkey"
        if self.token:
            return "token"
        if self.user:
            return "user"
        return "none"

    def __repr__(self) -> str:
        return f"Auth(kind={self.kind!r})"

    def connect_command(self, options: dict[str, object], nonce: str | None) -> Secret:
        """The ``CONNECT`` line with these credentials (signing the server's nonce if
        needed), hidden: no plain secret is left in a local variable of this frame."""
        return Secret(b"CONNECT " + json.dumps(
            options | {k: v.reveal() for k, v in self._fields(nonce).items()}).encode()
            + _CRLF)

    def _fields(self, nonce: str | None) -> dict[str, Secret]:
        fields: dict[str, Secret] = {}
        if self.user is not None:
            fields["user"] = Secret(self.user)
            fields["pass"] = self.password or Secret("")
        if self.token is not None:
            fields["auth_token"] = self.token
        if self.nkey_seed is not None:
            kp = _keypair(self.nkey_seed)
            try:
                if self.jwt:
                    fields["jwt"] = self.jwt
                else:
                    fields["nkey"] = Secret(kp.public_key.decode())
                if nonce:
                    sig = kp.sign(nonce.encode())
                    fields["sig"] = Secret(base64.urlsafe_b64encode(sig).decode().rstrip("="))
            finally:
                kp.wipe()
        return fields


def _keypair(seed: Secret) -> Any:
    """The NKey pair of a seed; a bad seed is a clear error (nkeys' own frames would hold it)."""
    import nkeys

    try:
        return nkeys.from_seed(bytearray(seed.reveal()))  # type: ignore[arg-type]
    except Exception:
        pass
    raise ConfigurationError("the NKey seed is not valid (it should be a user seed, 'SU...')")


def parse_servers(servers: str | list[str] | Secret) -> tuple[list[Address], Auth]:
    """Addresses from URLs (``nats://``, ``tls://``, ``ws://``, ``wss://``; comma-separated
    or a list).

    A user and password or token in a URL become :class:`Auth`, so that the
    address itself can be shown in messages (and, hidden in a :class:`Secret`,
    the URLs can be passed around before this).

    Examples
    --------
    >>> addrs, auth = parse_servers("nats://alice:s3cret@10.0.0.1:4222,tls://b:4223")
    >>> [str(a) for a in addrs], auth
    (['nats://10.0.0.1:4222', 'tls://b:4223'], Auth(kind='user'))
    """
    urls = servers.reveal() if isinstance(servers, Secret) else servers
    if isinstance(urls, bytes):
        urls = urls.decode()
    items = urls.split(",") if isinstance(urls, str) else list(urls)
    del urls, servers
    addrs: list[Address] = []
    auth = Auth()
    problems: list[str] = []
    for found in [_parse_url(raw, problems) for raw in items]:
        if found is not None:
            addrs.append(found[0])
            auth = found[1] or auth
    del items
    if problems:
        raise ConfigurationError(problems[0])
    if not addrs:
        raise ConfigurationError("no server URL given: pass e.g. 'nats://127.0.0.1:4222'")
    return addrs, auth


def hide_urls(servers: str | Sequence[str] | Secret | None) -> str | Sequence[str] | Secret | None:
    """``servers`` as given, or hidden in a :class:`Secret` when a URL carries credentials.

    >>> hide_urls("nats://a:4222"), hide_urls(["nats://u:pw@a:4222"])
    ('nats://a:4222', Secret('***'))
    """
    if servers is None or isinstance(servers, Secret):
        return servers
    text = servers if isinstance(servers, str) else ",".join(servers)
    return Secret(text) if "@" in text else servers


def _parse_url(raw: str, problems: list[str]) -> tuple[Address, Auth | None] | None:
    """One URL's address and credentials; a problem goes to ``problems`` (raising here
    would show this frame's locals, the URL with its password, in a traceback)."""
    text = raw.strip()
    if not text:
        return None
    parts = urlsplit(text if "://" in text else f"nats://{text}")
    if parts.scheme not in _DEFAULT_PORTS:
        problems.append(f"server URL scheme {parts.scheme!r} is not supported: use nats://, "
                        "tls://, ws:// or wss://")
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        problems.append(f"server {parts.hostname!r} has a bad port")
        return None
    auth = None
    if parts.username and parts.password is not None:
        auth = Auth(user=unquote(parts.username), password=Secret(unquote(parts.password)))
    elif parts.username:
        auth = Auth(token=Secret(unquote(parts.username)))
    return Address(parts.scheme, parts.hostname or "127.0.0.1", port), auth


class Wire:
    """One connection to one server of a list, speaking the NATS protocol."""

    def __init__(
        self, addresses: list[Address], auth: Auth, *, tls: ssl.SSLContext | None = None,
        name: str = "eventkit", connect_timeout: float = 5.0, inbox_prefix: str = "_INBOX",
        tls_handshake_first: bool = False,
    ) -> None:
        self.addresses = addresses
        self._auth = auth
        self._tls = tls
        self._name = name
        self._connect_timeout = connect_timeout
        self.address: Address | None = None
        self.info: dict[str, Any] = {}  # the server's INFO (JSON)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._sinks: dict[bytes, Sink] = {}
        self._sids = itertools.count(1)
        self._inboxes = inbox_prefix  # where every reply subject of this connection lives
        self._handshake_first = tls_handshake_first
        self._inbox_prefix = f"{inbox_prefix}.{secrets.token_hex(11)}"
        self._greeted = False  # the server sent its INFO
        self.inbox_denied: str | None = None  # the server refused our reply subscription
        self._replies = _Replies()
        self._tokens = itertools.count(1)
        self.error: BaseException | None = None
        self.permission_errors: list[str] = []
        self._requests: dict[str, list[asyncio.Future[tuple[bytes | None, bytes]]]] = {}
        self.closed = asyncio.Event()
        self._out = bytearray()
        self.heard = time.monotonic()  # when bytes last arrived: a slow link is still alive

    # -- connecting --------------------------------------------------------
    async def connect(self) -> None:
        """Connect to the first server of the list that answers and accepts us."""
        failures: list[str] = []
        for address in self.addresses:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await self._connect_one(address)
                return
            except AuthenticationError:
                await self._drop()
                raise
            except TimeoutError:
                silent = "" if self._greeted or self._handshake_first else (
                    " (it sent no INFO: if it wants the TLS handshake first, pass "
                    "tls_handshake_first=True; if it is a WebSocket port, use ws://)")
                failures.append(f"{address}: no answer in {self._connect_timeout:.0f} s{silent}")
            except ssl.SSLCertVerificationError as exc:
                await self._drop()
                if "hostname" in (exc.verify_message or "").lower():
                    raise ConnectionFailedError(
                        f"TLS to {address} failed: the server's certificate is not valid for "
                        f"{address.host!r} (hostname mismatch): connect with a name the "
                        "certificate lists"
                    ) from exc
                raise ConnectionFailedError(
                    f"TLS to {address} failed: the server's certificate is not trusted "
                    f"({exc.verify_message}); pass the CA that signed it (tls_ca=...)"
                ) from exc
            except ssl.SSLError as exc:
                await self._drop()
                if "certificate required" in str(exc).lower():
                    raise ConnectionFailedError(
                        f"TLS to {address} failed: the server requires a client certificate; "
                        "pass tls_cert=... and tls_key=..."
                    ) from exc
                hint = ("; it does not start with TLS: leave tls_handshake_first off"
                        if self._handshake_first and exc.reason == "WRONG_VERSION_NUMBER"
                        else "")
                failures.append(f"{address}: TLS failed ({exc.reason or exc}){hint}")
            except (OSError, ConnectionFailedError) as exc:
                failures.append(f"{address}: {_reason(exc)}")
            await self._drop()
            self.closed.clear()
        raise ConnectionFailedError(
            "could not connect to NATS: " + "; ".join(failures)
            + ". Check that the server runs and the URL is right (eventkit serve starts one)"
        )

    async def _connect_one(self, address: Address) -> None:
        reader: Any
        writer: Any
        want_tls = self._tls is not None or address.scheme in ("tls", "wss")
        if address.scheme in _WEBSOCKET:
            from eventkit.source._websocket import open_websocket

            if address.scheme == "ws" and self._tls is not None:
                raise ConfigurationError(
                    f"TLS options were given for {address}: use wss:// for WebSocket over TLS")
            tls = (self._tls or ssl.create_default_context()) if want_tls else None
            reader, writer = await open_websocket(address.host, address.port, tls=tls)
        elif self._handshake_first:  # TLS before the server says anything
            want_tls = True
            reader, writer = await asyncio.open_connection(
                address.host, address.port, limit=_READ_SIZE,
                ssl=self._tls or ssl.create_default_context(), server_hostname=address.host)
        else:
            reader, writer = await asyncio.open_connection(address.host, address.port,
                                                           limit=_READ_SIZE)
        self._reader, self._writer = reader, writer
        self._greeted = False
        line = await reader.readline()
        self._greeted = bool(line)
        if not line.startswith(b"INFO "):
            raise ConnectionFailedError(f"{address} did not greet as a NATS server")
        info = json.loads(line[5:])
        if info.get("tls_required") and writer.get_extra_info("ssl_object") is None and (
                address.scheme in _WEBSOCKET or info.get("tls_first")):
            raise ConnectionFailedError(
                f"{address} requires TLS " + ("first (handshake_first): connect with "
                "tls_handshake_first=True" if info.get("tls_first") else "on its websocket "
                "listener: use wss://"))
        if (want_tls or info.get("tls_required")) and writer.get_extra_info("ssl_object") is None:
            if not (info.get("tls_required") or info.get("tls_available")):
                raise ConnectionFailedError(
                    f"{address} does not offer TLS, and TLS was asked for: refusing to send "
                    "credentials in plain text (use nats:// if plain text is intended)"
                )
            ctx = self._tls or ssl.create_default_context()
            await writer.start_tls(ctx, server_hostname=address.tls_name or address.host)
        options = {
            "verbose": False, "pedantic": False, "headers": True, "no_responders": True,
            "protocol": 1, "lang": "python-eventkit", "version": _VERSION, "name": self._name,
            "tls_required": want_tls,
        }
        writer.write(self._auth.connect_command(options, info.get("nonce")).reveal()
                     + b"PING\r\n")  # type: ignore[operator]
        await writer.drain()
        # Read the answer to the handshake directly: PONG, or -ERR with the reason.
        while True:
            answer = (await reader.readline()).strip()
            if not answer:
                raise ConnectionFailedError(f"{address} closed the connection during the handshake")
            if answer == b"PONG":
                break
            if answer.startswith(b"-ERR"):
                reason = answer[4:].strip(b" '").decode(errors="replace")
                if "authorization" in reason.lower() or "authentication" in reason.lower():
                    raise AuthenticationError(
                        f"{address} refused the credentials ({reason}, auth kind "
                        f"{self._auth.kind!r}): check the user, password, token or creds file"
                    )
                raise ConnectionFailedError(f"{address} refused the connection: {reason}")
            if answer.startswith(b"INFO "):
                info = json.loads(answer[5:])
        self.address, self.info = address, info
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())
        self._subscribe_sink(f"{self._inbox_prefix}.*", self._replies)

    # -- reading -----------------------------------------------------------
    async def _read_loop(self) -> None:
        assert self._reader is not None
        reader = self._reader
        parser = Parser()
        try:
            while True:
                chunk = await reader.read(_READ_SIZE)
                if not chunk:
                    raise ConnectionResetError("server closed the connection")
                self.heard = time.monotonic()
                self.receive(parser.feed(chunk))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
        finally:
            self.closed.set()
            for sink in self._sinks.values():
                sink.wake()
            for fut in self._replies.futures.values():
                if not fut.done():
                    fut.set_exception(ConnectionResetError(f"connection to {self.address} lost"))

    def receive(self, frames: list[Frame]) -> None:
        """Act on frames the server sent: deliveries to their sinks, PING answered..."""
        sinks = self._sinks
        touched: set[Sink] = set()
        for frame in frames:
            if isinstance(frame, Msgs):
                sink = sinks.get(frame.sid)
                if sink is not None:  # else unsubscribed meanwhile
                    sink.extend(frame)
                    touched.add(sink)
            elif isinstance(frame, Status):
                sink = sinks.get(frame.sid)
                if sink is not None:
                    sink.on_status(frame)
                    touched.add(sink)
            elif isinstance(frame, Ping):
                self._write(PONG)
            elif isinstance(frame, Info):  # the cluster changed, or the server goes away (ldm)
                self.info = {**self.info, **frame.info}
            elif isinstance(frame, Err):
                self._on_error(frame.reason)
        for woken in touched:
            woken.wake()

    def _on_error(self, reason: str) -> None:
        if "permissions violation" not in reason.lower():
            # the server closes the connection after any other -ERR
            self.error = ConnectionFailedError(f"{self.address} reported: {reason}")
            return
        # not fatal: fail the requests it was about, at once
        self.permission_errors.append(reason)
        denied = reason.rsplit(" to ", 1)[-1].strip('" ')
        if denied == f"{self._inbox_prefix}.*":  # no reply can ever reach us
            self.inbox_denied = reason
            for fut in self._replies.futures.values():
                if not fut.done():
                    fut.set_exception(PermissionError(self._inbox_problem()))
        for fut in self._requests.pop(denied, []):
            if not fut.done():
                fut.set_exception(PermissionError(reason))
        for sink in self._sinks.values():  # waiters look again
            sink.wake()

    # -- writing -----------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._writer is None or self.closed.is_set():
            raise ConnectionResetError(f"connection to {self.address} is closed")
        if self._out:
            self._writer.write(bytes(self._out))
            self._out.clear()
        self._writer.write(data)

    async def drain(self) -> None:
        """Send what :meth:`publish` queued, and wait while the socket is backed up."""
        if self._writer is None or self.closed.is_set():
            raise ConnectionResetError(f"connection to {self.address} is closed")
        if self._out:
            self._writer.write(bytes(self._out))
            self._out.clear()
        await self._writer.drain()

    def publish(self, subject: str, payload: bytes, *, reply: str = "",
                headers: bytes | None = None) -> None:
        """Queue one message; :meth:`drain` sends what is queued in one write."""
        if self.closed.is_set():
            raise ConnectionResetError(f"connection to {self.address} is closed")
        self._out += pub(subject, payload, reply=reply, headers=headers)

    def _subscribe_sink(self, subject: str, sink: Sink) -> bytes:
        sid = str(next(self._sids)).encode()
        self._sinks[sid] = sink
        self._write(sub(subject, sid))
        return sid

    def _inbox_problem(self) -> str:
        return (f"{self.address} does not let this user subscribe to its reply subjects "
                f"({self._inboxes}.>): {self.inbox_denied}; if the account allows another "
                "inbox prefix, pass it as inbox_prefix=... (--inbox-prefix, or inbox_prefix "
                "in the NATS context)")

    def subscribe(self, sink: Sink | None = None) -> tuple[str, bytes, Sink]:
        """A fresh inbox subject delivering into ``sink``: (subject, sid, sink)."""
        sink = sink if sink is not None else Sink()
        inbox = f"{self._inboxes}.{secrets.token_hex(11)}"
        return inbox, self._subscribe_sink(inbox, sink), sink

    def subscribe_prefix(self, sink: Sink | None = None) -> tuple[str, bytes, Sink]:
        """A fresh inbox prefix ``P``; everything sent to ``P.<anything>`` goes to ``sink``."""
        sink = sink if sink is not None else Sink()
        inbox = f"{self._inboxes}.{secrets.token_hex(11)}"
        return inbox, self._subscribe_sink(f"{inbox}.*", sink), sink

    def unsubscribe(self, sid: bytes) -> None:
        self._sinks.pop(sid, None)
        if not self.closed.is_set():
            self._write(unsub(sid))

    def new_reply(self) -> tuple[str, asyncio.Future[tuple[bytes | None, bytes]]]:
        """A reply subject on the shared inbox and the future its answer resolves."""
        token = str(next(self._tokens)).encode()
        fut: asyncio.Future[tuple[bytes | None, bytes]] = (
            asyncio.get_running_loop().create_future()
        )
        self._replies.futures[token] = fut
        return f"{self._inbox_prefix}.{token.decode()}", fut

    def forget_reply(self, reply: str) -> None:
        self._replies.futures.pop(reply.rsplit(".", 1)[-1].encode(), None)

    async def request(self, subject: str, payload: bytes = b"", *, timeout: float = 5.0,
                      headers: bytes | None = None) -> tuple[bytes | None, bytes]:
        """Publish with a reply subject and wait for the answer: (header block, payload)."""
        if self.inbox_denied:
            raise PermissionError(self._inbox_problem())
        reply, fut = self.new_reply()
        self._requests.setdefault(subject, []).append(fut)
        self.publish(subject, payload, reply=reply, headers=headers)
        try:
            await self.drain()
            async with asyncio.timeout(timeout):
                return await fut
        finally:
            self.forget_reply(reply)
            waiting = self._requests.get(subject, [])
            if fut in waiting:
                waiting.remove(fut)
            if not waiting:
                self._requests.pop(subject, None)

    # -- closing -----------------------------------------------------------
    async def _drop(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # we are cancelled, not only it
                    self._reader_task = None
                    raise
            except Exception:  # the reader's own failure is already recorded
                pass
            self._reader_task = None
        if self._writer is not None:
            self._writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await self._writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass
            self._writer = None
        self.closed.set()

    async def close(self) -> None:
        await self._drop()

    @property
    def is_closed(self) -> bool:
        return self.closed.is_set()

    @property
    def lame_duck(self) -> bool:
        """Is the server in lame-duck mode (closing its clients, taking no new ones)?"""
        return bool(self.info.get("ldm"))

    def advertised(self) -> list[Address]:
        """The other servers of the cluster, as this one advertises them (``connect_urls``)."""
        if self.address is None:
            return []
        scheme = self.address.scheme
        name = self.address.tls_name or self.address.host
        out: list[Address] = []
        for url in self.info.get("connect_urls") or ():
            host, _, port = str(url).rpartition(":")
            host = host.strip("[]")
            if host and port.isdigit():
                out.append(Address(scheme, host, int(port), _ip_name(host, name)))
        return out

    def __repr__(self) -> str:
        where = self.address or (self.addresses[0] if self.addresses else "?")
        state = "closed" if self.closed.is_set() else "open"
        return f"<Wire {where} {state}>"


def _ip_name(host: str, name: str) -> str | None:
    """The TLS name for an advertised ``host``: ``name`` when host is an IP address."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return name


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
