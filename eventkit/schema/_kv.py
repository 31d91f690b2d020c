"""A registry backend on a JetStream key-value bucket, through eventkit's own wire.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from eventkit.exceptions import (
    ConfigurationError,
    ConnectionFailedError,
    EventkitError,
    PermissionDeniedError,
    SchemaConflictError,
    StreamNotFoundError,
)
from eventkit.schema._backends import IDS_TOKEN, _escape, _id_record, _json_object, _mode, _unescape
from eventkit.source._api import ErrCode
from eventkit.source._protocol import encode_headers, parse_headers

if TYPE_CHECKING:
    from eventkit.source.jetstream import JetStream


@runtime_checkable
class JetStreamConnection(Protocol):
    """What a key-value backend needs of a connection (an :class:`eventkit.Connection` has it).

    The registry sits below the connection in the layers: it takes anything
    with a JetStream client, and never imports :mod:`eventkit.connection`.
    """

    @property
    def jetstream(self) -> JetStream:
        """The JetStream client (eventkit's own, :mod:`eventkit.source`)."""
        ...

    @property
    def server(self) -> str:
        """The server's address, for messages (never with credentials)."""
        ...


class _Refused(Exception):
    """Internal: the server refused a put because the key changed (or exists)."""


class _NoBucket(Exception):
    """Internal: no stream takes the bucket's subjects."""


class _KVBackend:
    """A JetStream key-value bucket, through eventkit's own wire (no nats-py)."""

    def __init__(self, conn: JetStreamConnection, bucket: str, history: int) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", bucket):
            raise ConfigurationError(
                f"{bucket!r} is not a key-value bucket name: letters, digits, '-' and '_'")
        if not 1 <= history <= 64:
            raise ConfigurationError(f"history must be 1 to 64 (JetStream's limit), "
                                     f"got {history}")
        self._conn = conn
        self.bucket = bucket
        self.history = history
        self.stream = f"KV_{bucket}"
        self._ids: dict[int, tuple[str, int]] = {}

    @property
    def name(self) -> str:
        return f"key-value bucket {self.bucket!r} on {self._conn.server}"

    def _subject(self, key: str) -> str:
        return f"$KV.{self.bucket}.{key}"

    async def _keys(self, pattern: str) -> dict[str, int]:
        """Keys matching ``pattern`` (a subject filter after ``$KV.<bucket>.``) and counts."""
        js = self._conn.jetstream
        prefix = len(self._subject(""))
        keys: dict[str, int] = {}
        while True:
            try:
                info = await js.api(f"STREAM.INFO.{self.stream}",
                                    {"subjects_filter": self._subject(pattern),
                                     "offset": len(keys)}, stream=self.stream)
            except StreamNotFoundError:
                return {}
            page = info.get("state", {}).get("subjects") or {}
            keys.update({s[prefix:]: n for s, n in page.items()})
            if not page or len(keys) >= int(info.get("total", 0) or 0):
                return keys

    @staticmethod
    def _parse_key(key: str) -> tuple[str, str] | None:
        token, _, rest = key.partition(".")
        return (_unescape(token, "="), rest) if rest else None

    async def listing(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for key in await self._keys(">"):
            parsed = self._parse_key(key)
            if parsed and re.fullmatch(r"v[1-9][0-9]*", parsed[1]):
                out.setdefault(parsed[0], []).append(int(parsed[1][1:]))
        return {t: sorted(v) for t, v in sorted(out.items())}

    async def versions(self, event_type: str) -> list[int]:
        token = _escape(event_type, "=")
        keys = await self._keys(f"{token}.*")
        return sorted(int(k.rsplit(".v", 1)[1]) for k in keys
                      if re.fullmatch(re.escape(token) + r"\.v[1-9][0-9]*", k))

    async def _get(self, key: str) -> bytes | None:
        js = self._conn.jetstream
        if js.api_prefix != "$JS.API":
            # through a domain or an imported API, "no bucket" comes back as silence, not
            # as no-responders: the stream API says which
            return await self._get_by_api(key)
        wire = await js.connect()
        subject = f"{js.api_prefix}.DIRECT.GET.{self.stream}"
        body = orjson.dumps({"last_by_subj": self._subject(key)})
        try:
            hdr, data = await wire.request(subject, body, timeout=js.api_timeout)
        except PermissionError:
            raise PermissionDeniedError(
                f"{js.server} denied reading {self.name}: ask for permission to use "
                f"{subject}") from None
        except TimeoutError:
            raise ConnectionFailedError(f"{js.server} did not answer a read of key {key!r} "
                                        f"of bucket {self.bucket!r} in time") from None
        code, desc, headers = parse_headers(hdr) if hdr else (None, "", {})
        if code == 503:  # no direct get (or no bucket): the stream API says which
            return await self._get_by_api(key)
        if code in (404, 408):
            return None
        if code is not None:
            raise EventkitError(f"{js.server}: reading key {key!r} of bucket {self.bucket!r} "
                                f"failed: {code} {desc}")
        if headers.get("KV-Operation") in ("DEL", "PURGE"):
            return None
        return data

    async def _get_by_api(self, key: str) -> bytes | None:
        js = self._conn.jetstream
        try:
            answer = await js.api(f"STREAM.MSG.GET.{self.stream}",
                                  {"last_by_subj": self._subject(key)}, stream=self.stream,
                                  allow=(ErrCode.NO_MESSAGE_FOUND,))
        except StreamNotFoundError:
            return None
        if answer.get("error"):  # no message found
            return None
        message = answer.get("message", {})
        headers = base64.b64decode(message["hdrs"]) if message.get("hdrs") else b""
        if b"KV-Operation: DEL" in headers or b"KV-Operation: PURGE" in headers:
            return None
        return base64.b64decode(message.get("data") or b"")

    async def _put(self, key: str, value: bytes, *, expect: int | None) -> None:
        js = self._conn.jetstream
        wire = await js.connect()
        block = (encode_headers({"Nats-Expected-Last-Subject-Sequence": str(expect)})
                 if expect is not None else None)
        subject = self._subject(key)
        if js.api_prefix != "$JS.API":  # as nats.go does: the bucket's JetStream, by prefix
            subject = f"{js.api_prefix}.{subject}"
        try:
            hdr, answer = await wire.request(subject, value, headers=block,
                                             timeout=js.api_timeout)
        except PermissionError:
            raise PermissionDeniedError(
                f"{js.server} denied writing to {self.name}: ask for permission to publish "
                f"to {subject.rsplit('.', 1)[0]}.>") from None
        except TimeoutError:
            raise ConnectionFailedError(f"{js.server} did not acknowledge a write of key "
                                        f"{key!r} to bucket {self.bucket!r} in time") from None
        if hdr is not None and not answer and b" 503" in hdr[:13]:
            raise _NoBucket
        error = orjson.loads(answer).get("error")
        if error:
            if error.get("err_code") == ErrCode.WRONG_LAST_SEQUENCE:
                raise _Refused(error.get("description", ""))
            raise EventkitError(f"{js.server} refused writing key {key!r} to bucket "
                                f"{self.bucket!r}: {error.get('description')}")

    async def _put_creating(self, key: str, value: bytes, *, expect: int | None) -> None:
        js = self._conn.jetstream
        if js.api_prefix != "$JS.API":  # no "no responders" through a domain: ask first
            try:
                await js.stream_info(self.stream)
            except StreamNotFoundError:
                await self._create_bucket()
        try:
            await self._put(key, value, expect=expect)
        except _NoBucket:
            await self._create_bucket()
            await self._put(key, value, expect=expect)

    async def _create_bucket(self) -> None:
        """The bucket, configured as NATS key-value clients expect it."""
        js = self._conn.jetstream
        try:
            await js.add_stream(
                self.stream, [self._subject(">")], max_msgs_per_subject=self.history,
                max_msgs=-1, max_bytes=-1, max_age=0, max_msg_size=-1, discard="new",
                allow_rollup_hdrs=True, deny_delete=True, deny_purge=False, allow_direct=True,
                duplicate_window=120_000_000_000,
                description="eventkit schema registry: <type>.v<N> holds version N",
            )
        except EventkitError as exc:
            if "already in use" not in str(exc):  # another client made it first: fine
                raise

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        key = f"{_escape(event_type, '=')}.v{version}"
        raw = await self._get(key)
        return None if raw is None else _json_object(raw, f"key {key!r} of {self.bucket!r}")

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        key = f"{_escape(event_type, '=')}.v{version}"
        try:
            await self._put_creating(key, orjson.dumps(document), expect=0)
        except _Refused:
            raise SchemaConflictError(f"key {key!r} of bucket {self.bucket!r} exists "
                                      "already") from None

    async def compatibility(self, event_type: str) -> str | None:
        key = f"{_escape(event_type, '=')}.config"
        raw = await self._get(key)
        return None if raw is None else _mode(_json_object(raw, f"key {key!r} of {self.bucket!r}"))

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        await self._put_creating(f"{_escape(event_type, '=')}.config",
                                 orjson.dumps({"compatibility": mode}), expect=None)

    async def schema_ids(self) -> dict[int, tuple[str, int]]:
        keys = [k for k in await self._keys(f"{IDS_TOKEN}.*")
                if re.fullmatch(re.escape(IDS_TOKEN) + r"\.[1-9][0-9]*", k)
                and int(k.rsplit(".", 1)[1]) not in self._ids]  # id records never change
        values = await asyncio.gather(*(self._get(k) for k in keys))
        self._ids.update({int(k.rsplit(".", 1)[1]): _id_record(v, f"key {k!r} of "
                                                                f"{self.bucket!r}")
                          for k, v in zip(keys, values, strict=True) if v is not None})
        return dict(self._ids)

    async def claim_id(self, schema_id: int, event_type: str, version: int) -> None:
        key = f"{IDS_TOKEN}.{schema_id}"
        try:
            await self._put_creating(key, orjson.dumps({"type": event_type, "version": version}),
                                     expect=0)
        except _Refused:
            raise SchemaConflictError(f"schema id {schema_id} is taken in bucket "
                                      f"{self.bucket!r}") from None
