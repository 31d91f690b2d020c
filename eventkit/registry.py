"""The schema registry: one source of truth for event formats.

::

    reg = ek.SchemaRegistry(conn)                    # a JetStream key-value bucket
    reg = ek.SchemaRegistry.from_dir("schemas/")     # a directory of files, offline
    reg = ek.SchemaRegistry()                        # in memory (a notebook, a test)

Schemas are JSON Schema documents (the subset that maps to Arrow, see
:mod:`eventkit._jsonschema`), kept per event type in numbered versions
1, 2, 3, ... A new version is checked against the earlier ones under the
type's compatibility mode, as in Confluent's schema registry for Kafka
(BACKWARD, FORWARD, FULL, their transitive forms, NONE; BACKWARD by default),
under a policy (``"strict"`` by default, Confluent's default JSON Schema
checks: an open object may hold any undeclared field; or ``"lenient"``:
writers write only the fields they declare; every rule is listed in
:mod:`eventkit._compatibility`), and refused with
:class:`~eventkit.SchemaCompatibilityError` naming the field and the rule.

Which version an event was written with is found by a rule list, like the
envelope's: by default the CloudEvents header ``ce-dataschema`` (the last
number in it), then a payload field ``schema_version``; version 1 when
neither says. Reads with ``registry=`` decode each version with its own
schema, bring old versions to the newest shape with upcasters, and give one
typed table per type whose columns are the newest schema's, whatever slice
of history was read. :meth:`SchemaRegistry.check` validates in bulk and
returns every violation; no event is ever dropped.

Where the schemas live is a backend (:class:`SchemaBackend`):

* a JetStream key-value bucket (``KV_<bucket>``, readable by any NATS KV
  client): key ``<type>.v<N>`` holds version N's document and is written
  once, with ``Nats-Expected-Last-Subject-Sequence: 0``, so when two clients
  register the same version at once the server takes one and refuses the
  other (:class:`~eventkit.SchemaConflictError`); key ``<type>.config`` holds
  ``{"compatibility": ...}``. A type's characters other than letters, digits,
  ``-`` and ``_`` are written ``=XX``.
* a directory: ``<dir>/<type>/v<N>.json`` and ``<dir>/<type>/config.json``
  (characters other than letters, digits, ``-`` and ``_`` written ``%XX``);
  a version file is created by a hard link, so it appears whole, once.
* memory.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import re
import tempfile
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson
import polars as pl

from eventkit import _compatibility
from eventkit._jsonschema import (
    TIME,
    Lines,
    Spec,
    _from_text,
    arrow_schema,
    coerce_payloads,
    conform,
    decode_lines,
    infer_schema,
    parse_schema,
    validate_lines,
)
from eventkit._time import Duration, to_duration
from eventkit._typing import Compatibility, CompatibilityPolicy, TimeColumn, UpcasterKind
from eventkit.codec import Decoded
from eventkit.envelope import ENVELOPE_SCHEMA, Rule, Rules, parse_rules, payload_column
from eventkit.exceptions import (
    ConfigurationError,
    ConnectionFailedError,
    EventkitError,
    PermissionDeniedError,
    SchemaCompatibilityError,
    SchemaConflictError,
    SchemaNotFoundError,
    StreamNotFoundError,
)
from eventkit.source import _loop
from eventkit.source._wire import encode_headers, parse_headers

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.events import Events

T = TypeVar("T")
#: An upcaster: a frame of one version's events to the next shape, or one payload dict.
_U = TypeVar("_U", Callable[[pl.DataFrame], pl.DataFrame],
             Callable[[dict[str, Any]], dict[str, Any]])

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_VERSION",
    "SchemaBackend",
    "SchemaRegistry",
    "versions_over_time",
]

#: The key-value bucket a registry on a connection uses unless told otherwise.
DEFAULT_BUCKET = "eventkit_schemas"

#: Where an event's schema version is found, tried in order (then 1).
DEFAULT_VERSION = "header:ce-dataschema,field:schema_version"

#: The column of typed tables that says which version an event was written with.
VERSION_COLUMN = "schema_version"

CHECK_SCHEMA = {"seq": pl.UInt64(), "type": pl.String(), "version": pl.Int64(),
                "path": pl.String(), "reason": pl.String()}


# -- backends --------------------------------------------------------------------
class SchemaBackend(Protocol):
    """Where a registry keeps its schemas. Versions are written once and never change."""

    @property
    def name(self) -> str:
        """Where, for messages (never with credentials)."""
        ...

    async def listing(self) -> dict[str, list[int]]:
        """Every event type and its versions, in ascending order."""
        ...

    async def versions(self, event_type: str) -> list[int]:
        ...

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        ...

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        """Store a new version; :class:`SchemaConflictError` if it exists already."""
        ...

    async def compatibility(self, event_type: str) -> str | None:
        ...

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        ...


class _MemoryBackend:
    """Schemas in a dict: for notebooks and tests."""

    def __init__(self) -> None:
        self._docs: dict[str, dict[int, bytes]] = {}
        self._modes: dict[str, str] = {}

    @property
    def name(self) -> str:
        return "an in-memory registry"

    async def listing(self) -> dict[str, list[int]]:
        return {t: sorted(v) for t, v in self._docs.items() if v}

    async def versions(self, event_type: str) -> list[int]:
        return sorted(self._docs.get(event_type, {}))

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        raw = self._docs.get(event_type, {}).get(version)
        return None if raw is None else _json_object(raw, f"{event_type} v{version}")

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        versions = self._docs.setdefault(event_type, {})
        if version in versions:
            raise SchemaConflictError(f"{event_type} version {version} exists already")
        versions[version] = orjson.dumps(document)

    async def compatibility(self, event_type: str) -> str | None:
        return self._modes.get(event_type)

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        self._modes[event_type] = mode


def _escape(name: str, mark: str) -> str:
    """``name`` with characters other than letters, digits, ``-`` and ``_`` as ``<mark>XX``."""
    return "".join(
        c if (c.isascii() and (c.isalnum() or c in "-_")) else
        "".join(f"{mark}{b:02X}" for b in c.encode()) for c in name)


def _unescape(token: str, mark: str) -> str:
    return re.sub(f"(?:{re.escape(mark)}[0-9A-F]{{2}})+",
                  lambda m: bytes.fromhex(m.group(0).replace(mark, "")).decode(), token)


_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")


class _DirBackend:
    """``<root>/<type>/v<N>.json`` and ``<root>/<type>/config.json``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def name(self) -> str:
        return f"schema directory {str(self.root)!r}"

    def _dir(self, event_type: str) -> Path:
        return self.root / _escape(event_type, "%")

    async def listing(self) -> dict[str, list[int]]:
        if not self.root.is_dir():
            return {}
        out: dict[str, list[int]] = {}
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir():
                versions = self._versions_in(entry)
                if versions:
                    out[_unescape(entry.name, "%")] = versions
        return out

    @staticmethod
    def _versions_in(folder: Path) -> list[int]:
        found = (_VERSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    async def versions(self, event_type: str) -> list[int]:
        folder = self._dir(event_type)
        return self._versions_in(folder) if folder.is_dir() else []

    async def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        path = self._dir(event_type) / f"v{version}.json"
        try:
            return _json_object(path.read_bytes(), str(path))
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"{path} is not JSON: {exc}") from None

    async def create(self, event_type: str, version: int, document: dict[str, Any]) -> None:
        folder = self._dir(event_type)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"v{version}.json"
        fd, tmp = tempfile.mkstemp(prefix=".v", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, target)  # atomic, and refuses to replace
            except FileExistsError:
                raise SchemaConflictError(f"{target} exists already") from None
        finally:
            os.unlink(tmp)

    async def compatibility(self, event_type: str) -> str | None:
        path = self._dir(event_type) / "config.json"
        try:
            return _mode(_json_object(path.read_bytes(), str(path)))
        except FileNotFoundError:
            return None

    async def set_compatibility(self, event_type: str, mode: str) -> None:
        folder = self._dir(event_type)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps({"compatibility": mode}, option=orjson.OPT_INDENT_2) + b"\n")
        os.replace(tmp, folder / "config.json")


class _Refused(Exception):
    """Internal: the server refused a put because the key changed (or exists)."""


class _NoBucket(Exception):
    """Internal: no stream takes the bucket's subjects."""


class _KVBackend:
    """A JetStream key-value bucket, through eventkit's own wire (no nats-py)."""

    def __init__(self, conn: Connection, bucket: str, history: int) -> None:
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
                                  {"last_by_subj": self._subject(key)}, stream=self.stream)
        except StreamNotFoundError:
            return None
        except EventkitError as exc:
            if "10037" in str(exc):  # no message found
                return None
            raise
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
            if error.get("err_code") == 10071:  # wrong last sequence
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


# -- upcasters -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Upcaster:
    to: int
    fn: Callable[[Any], Any]
    per: str


# -- what a read or a check uses: every schema, fetched once -----------------------
@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Every registered schema, the upcasters and the version rules: pure, no I/O."""

    specs: Mapping[str, Mapping[int, Spec]]
    upcasters: Mapping[tuple[str, int], _Upcaster]
    version: tuple[Rule, ...]

    def latest(self, event_type: str) -> int:
        return max(self.specs[event_type])

    def schemas(self) -> dict[str, dict[str, pl.DataType]]:
        """Per type, the newest version's fields and their polars types."""
        return {t: arrow_schema(v[max(v)]) for t, v in self.specs.items()}

    # -- checking --------------------------------------------------------------
    def check(self, events: Events | pl.DataFrame) -> pl.DataFrame:
        env = _envelope(events)
        env = env.filter(pl.col("type").is_in(list(self.specs)))
        if not env.height:
            return pl.DataFrame(schema=CHECK_SCHEMA)
        env = env.with_columns(version=event_versions(env, self.version))
        found: list[pl.DataFrame] = []
        bad = env.filter(pl.col("error").is_not_null())
        if bad.height:
            found.append(bad.select("seq", "type", "version", path=pl.lit(""),
                                    reason=pl.format("payload did not decode: {}", "error")))
        good = env.filter(pl.col("error").is_null())
        for (event_type, version), part in good.partition_by(
                "type", "version", as_dict=True, maintain_order=True).items():
            spec = self.specs[event_type].get(version)
            if spec is None:
                known = ", ".join(map(str, sorted(self.specs[event_type])))
                found.append(part.select("seq", "type", "version", path=pl.lit(""), reason=pl.lit(
                    f"version {version} is not registered (registered: {known})")))
                continue
            hits = validate_lines(Lines(part.get_column("data")), spec)
            if hits.height:
                found.append(hits.select(
                    part.get_column("seq").gather(hits.get_column("row")).alias("seq"),
                    pl.lit(event_type).alias("type"), pl.lit(version, pl.Int64).alias("version"),
                    "path", "reason"))
        if not found:
            return pl.DataFrame(schema=CHECK_SCHEMA)
        out = pl.concat([f.select(pl.col(c).cast(d) for c, d in CHECK_SCHEMA.items())
                         for f in found])
        return out.sort("seq", "path", "reason")

    # -- decoding --------------------------------------------------------------
    def apply(self, decoded: Decoded, rules: Rules) -> Decoded:
        """``decoded`` with the typed tables of registered types decoded by their schemas."""
        env = decoded.envelope
        present = [t for t in env.get_column("type").unique(maintain_order=True).to_list()
                   if t in self.specs]
        if not present:
            return decoded
        consumed = {name for name in ("type", "key", "event_time")
                    if any(r.source == "field" and r.name == name for r in getattr(rules, name))}
        consumed |= {r.name for r in self.version if r.source == "field"}
        rows = env.filter(pl.col("type").is_in(present) & pl.col("error").is_null())
        rows = rows.with_columns(version=event_versions(rows, self.version))
        typed = dict(decoded.typed)
        parts = rows.partition_by("type", as_dict=True, maintain_order=True)
        for event_type in present:
            part = parts.get((event_type,))
            if part is None:
                typed.pop(event_type, None)
                continue
            typed[event_type] = self._typed(event_type, part, consumed,
                                            decoded.typed.get(event_type))
        return Decoded(env, typed)

    def _typed(self, event_type: str, part: pl.DataFrame, consumed: set[str],
               inferred: pl.DataFrame | None) -> pl.DataFrame:
        specs = self.specs[event_type]
        latest = max(specs)
        frames: list[pl.DataFrame] = []
        groups = part.partition_by("version", as_dict=True, maintain_order=True)
        for (version,), group in groups.items():
            have = version if version in specs else latest
            seq = group.get_column("seq")
            frame = None
            if len(groups) == 1 and have == latest:  # the usual case: maybe parsed already
                frame = _reuse(inferred, seq, specs[latest], consumed)
            if frame is None:
                frame = self._upcast(event_type, have, Lines(group.get_column("data")), seq)
            frames.append(frame.insert_column(
                1, pl.repeat(version, frame.height, dtype=pl.Int64, eager=True)
                .alias("__version")))
        out = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        if len(frames) > 1:
            out = out.sort("seq")
        fields = [c for c in arrow_schema(specs[latest]) if c not in consumed]
        clash = {c: payload_column(c) if c != VERSION_COLUMN else f"payload_{c}"
                 for c in fields if payload_column(c) != c or c == VERSION_COLUMN}
        return out.select("seq", "__version", *fields).rename(
            {**clash, "__version": VERSION_COLUMN})

    def _upcast(self, event_type: str, version: int, lines: Lines,
                seq: pl.Series) -> pl.DataFrame:
        """Lines written with ``version``, in the newest version's shape."""
        specs = self.specs[event_type]
        latest = max(specs)
        frame: pl.DataFrame | None = None
        payloads: list[Any] | None = None
        while version < latest:
            step = self.upcasters.get((event_type, version))
            to = step.to if step else min(v for v in specs if v > version)
            if to not in specs:
                raise ConfigurationError(
                    f"the upcaster of {event_type} from version {version} goes to version {to}, "
                    f"which is not registered (registered: {sorted(specs)})")
            where = f"the upcaster of {event_type} from version {version} to {to}"
            if step is not None and step.per == "event":
                if payloads is None:
                    payloads = (lines.loads(range(len(lines))) if frame is None else
                                frame.drop("seq").to_dicts())
                payloads = [_call(step.fn, dict(p) if isinstance(p, dict) else {}, where)
                            for p in payloads]
                frame = None
            else:
                if frame is None:
                    frame = (decode_lines(lines, specs[version]) if payloads is None else
                             _from_payloads(payloads, specs[version]))
                    frame = frame.insert_column(0, seq.rename("seq"))
                    payloads = None
                if step is not None:
                    out = _call(step.fn, frame, where)
                    if not isinstance(out, pl.DataFrame) or out.height != frame.height or (
                            "seq" not in out.columns):
                        raise ConfigurationError(
                            f"{where} must return a polars DataFrame with one row per row it was "
                            "given, keeping 'seq'")
                    frame = out
                frame = conform(frame, specs[to])
            version = to
        if frame is None:
            spec = specs[version]
            frame = (decode_lines(lines, spec) if payloads is None
                     else _from_payloads(payloads, spec))
            frame = frame.insert_column(0, seq.rename("seq"))
        return frame


def _reuse(inferred: pl.DataFrame | None, seq: pl.Series, spec: Spec,
           consumed: set[str]) -> pl.DataFrame | None:
    """The decoder's own table of a type, in the schema's types, where that is exact.

    The codec has parsed every payload already (its types inferred). Where
    a column's inferred type is the schema's, or one that converts without
    loss (integers to a number column, text to date-times), parsing again
    would give the same values; any other difference, and None: parse again.
    """
    if inferred is None or inferred.height != len(seq) or not inferred["seq"].equals(seq):
        return None
    columns = [seq.rename("seq")]
    for name, want in arrow_schema(spec).items():
        if name in consumed:
            continue  # dropped from the table anyway
        column = payload_column(name)
        have = inferred.schema.get(column)
        if have is None or have == pl.Null:
            columns.append(pl.Series(name, [None] * len(seq), dtype=want))
        elif have == want or (want == pl.Float64 and have == pl.Int64):
            columns.append(inferred.get_column(column).cast(want).rename(name))
        elif want == TIME and have == pl.String:
            columns.append(inferred.select(_from_text(pl.col(column), want)).to_series()
                           .rename(name))
        else:
            return None
    return pl.DataFrame(columns)


def _call(fn: Callable[[Any], Any], value: Any, where: str) -> Any:
    try:
        return fn(value)
    except Exception as exc:
        raise ConfigurationError(f"{where} failed: {type(exc).__name__}: {exc}") from exc


def _from_payloads(payloads: list[Any], spec: Spec) -> pl.DataFrame:
    return coerce_payloads(payloads, spec)


# -- versions of events ------------------------------------------------------------
def _version_rules(value: str | Iterable[str] | Iterable[Rule]) -> tuple[Rule, ...]:
    return parse_rules(value, what="the version rule list")


def _envelope(events: Events | pl.DataFrame) -> pl.DataFrame:
    """The envelope columns a check needs (``subject``, ``headers``, ``error`` may be absent)."""
    frame = events if isinstance(events, pl.DataFrame) else events.to_polars()
    missing = [c for c in ("seq", "type", "data") if c not in frame.columns]
    if missing:
        raise ConfigurationError(
            f"events need the envelope columns seq, type and data (missing {missing}): pass "
            "what conn.read(...) returns, or its to_polars()")
    extra = [pl.lit(None, d).alias(c) for c, d in ENVELOPE_SCHEMA.items()
             if c in ("subject", "headers", "error", "time", "event_time")
             and c not in frame.columns]
    return frame.with_columns(extra) if extra else frame


def event_versions(frame: pl.DataFrame, rules: Sequence[Rule]) -> pl.Series:
    """The schema version of each event (Int64): the first rule that gives a number, else 1.

    A header gives the last number in its value (CloudEvents' ``ce-dataschema``
    is a URI such as ``.../payment_captured/v2.json``); a payload field or a
    subject token gives the first number in it.

    Examples
    --------
    >>> frame = pl.DataFrame({
    ...     "subject": ["rides.a", "rides.a", "rides.a"],
    ...     "headers": ['{"ce-dataschema": "https://x.io/payment_captured/v3.json"}', None, None],
    ...     "data": [b"{}", b'{"schema_version": 2}', b'{"amount": 1}'],
    ...     "error": [None, None, None]})
    >>> event_versions(frame, _version_rules(DEFAULT_VERSION)).to_list()
    [3, 2, 1]
    """
    n = frame.height
    out = pl.Series("version", [None] * n, dtype=pl.Int64)
    for rule in rules:
        todo = out.is_null()
        if not todo.any():
            break
        if rule.source == "header":
            headers = frame.get_column("headers")
            if headers.null_count() == n:
                continue
            value = headers.str.json_path_match(f"$['{rule.name}']").str.extract(r"(\d+)\D*$")
        elif rule.source == "subject":
            value = frame.get_column("subject").str.split(".").list.get(
                int(rule.name), null_on_oob=True).str.extract(r"(\d+)")
        else:
            value = _field_text(frame, rule.name, todo)
        out = out.zip_with(~todo, value.cast(pl.Int64, strict=False))
    return out.fill_null(1).rename("version")


def _field_text(frame: pl.DataFrame, name: str, todo: pl.Series) -> pl.Series:
    """A top-level payload field as the first number in its text, where ``todo``."""
    data = frame.get_column("data")
    ok = todo & frame.get_column("error").is_null()
    ok &= data.bin.contains(orjson.dumps(name))  # cheap: most payloads do not name it
    value = pl.Series([None] * frame.height, dtype=pl.String)
    rows = ok.arg_true()
    if not len(rows):
        return value
    lines = Lines(data.gather(rows))
    try:
        text = pl.read_ndjson(lines.ndjson(), schema={name: pl.String()}).get_column(name)
    except pl.exceptions.PolarsError:  # cannot happen for decoded payloads; be safe
        text = pl.Series([str(p.get(name)) if isinstance(p, dict) and p.get(name) is not None
                          else None for p in lines.loads(range(len(lines)))], dtype=pl.String)
    return value.scatter(rows, text.str.extract(r"^\D*(\d+)"))


def versions_over_time(
    events: Events | pl.DataFrame, every: str | dt.timedelta | Duration = "1h", *,
    on: TimeColumn = "event_time", version: str | Iterable[str] | Iterable[Rule] = DEFAULT_VERSION,
) -> pl.DataFrame:
    """Events per time window, type and schema version: what a chart of schema rollout draws.

    Parameters
    ----------
    events
        What a read returns, or its envelope frame.
    every
        Window length in eventkit's one duration grammar (``"1h"``, ``"15m"``,
        ``"500ns"``, ``"1mo"``; see :mod:`eventkit._time`) or a timedelta:
        windows as :func:`eventkit.query.windows` lays them.
    on
        ``"time"`` (when stored) or ``"event_time"`` (when it happened).
    version
        Where the version is found (see :class:`SchemaRegistry`).

    Returns
    -------
    polars.DataFrame
        ``window`` (start, Datetime ns UTC), ``type``, ``version`` (Int64), ``count``.

    Examples
    --------
    >>> import datetime as dt
    >>> t = [dt.datetime(2026, 11, 1, h, tzinfo=dt.UTC) for h in (0, 0, 1, 1)]
    >>> frame = pl.DataFrame({"seq": [1, 2, 3, 4], "type": ["paid"] * 4,
    ...     "event_time": pl.Series(t).cast(pl.Datetime("ns", "UTC")),
    ...     "data": [b'{}', b'{}', b'{"schema_version": 2}', b'{}']})
    >>> versions_over_time(frame, "1h")
    shape: (3, 4)
    ┌─────────────────────────┬──────┬─────────┬───────┐
    │ window                  ┆ type ┆ version ┆ count │
    │ ---                     ┆ ---  ┆ ---     ┆ ---   │
    │ datetime[ns, UTC]       ┆ str  ┆ i64     ┆ u32   │
    ╞═════════════════════════╪══════╪═════════╪═══════╡
    │ 2026-11-01 00:00:00 UTC ┆ paid ┆ 1       ┆ 2     │
    │ 2026-11-01 01:00:00 UTC ┆ paid ┆ 1       ┆ 1     │
    │ 2026-11-01 01:00:00 UTC ┆ paid ┆ 2       ┆ 1     │
    └─────────────────────────┴──────┴─────────┴───────┘
    """
    env = _envelope(events)
    frame = env.select(pl.col(on).alias("window"), "type").with_columns(
        event_versions(env, _version_rules(version)))
    return (frame.filter(pl.col("window").is_not_null())
            .group_by(pl.col("window").dt.truncate(to_duration(every, what="every").polars),
                      "type", "version")
            .agg(pl.len().alias("count"))
            .sort("window", "type", "version"))


# -- the registry ------------------------------------------------------------------
async def _on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on eventkit's I/O loop, from whichever loop the caller is on."""
    target = _loop.loop()
    if asyncio.get_running_loop() is target:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, target))


def _json_object(raw: bytes, where: str) -> dict[str, Any]:
    """A registry entry read back: a JSON object, or an entry damaged outside eventkit."""
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise EventkitError(f"the schema registry entry {where} is not a JSON object: it was "
                            "changed outside eventkit; restore it or delete it")
    return value


def _mode(config: dict[str, Any]) -> str | None:
    """The compatibility mode a type's configuration names, if any."""
    mode = config.get("compatibility")
    return mode if isinstance(mode, str) else None


def _canonical(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class _Cache:
    documents: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    specs: dict[tuple[str, int], Spec] = field(default_factory=dict)


class SchemaRegistry:
    """Event schemas, one numbered history per event type, and the rules to read them.

    Parameters
    ----------
    source
        A :class:`~eventkit.Connection` (the schemas live in a JetStream
        key-value bucket), a :class:`SchemaBackend`, or nothing (in memory).
        :meth:`from_dir` makes one over a directory.
    bucket, history
        The key-value bucket's name and how many past values it keeps per key
        (created on the first registration, with these settings).
    compatibility
        The mode for event types that have none set: ``"BACKWARD"`` (as Kafka's
        schema registry), ``"BACKWARD_TRANSITIVE"``, ``"FORWARD"``,
        ``"FORWARD_TRANSITIVE"``, ``"FULL"``, ``"FULL_TRANSITIVE"`` or ``"NONE"``.
    policy
        How literally an open object (no ``additionalProperties: false``) is
        read: ``"strict"`` (the default, as Confluent's schema registry
        checks JSON Schema by default: it may hold any undeclared field with
        any value, so adding or deleting an optional field of an open object
        breaks BACKWARD or FORWARD) or ``"lenient"`` (writers write only the
        fields they declare: adding or deleting an optional field is
        compatible). See :mod:`eventkit._compatibility` for every rule.
    version
        Where an event's schema version is found, tried in order (then 1):
        ``"header:NAME"``, ``"field:NAME"`` or ``"subject:INDEX"``.

    Examples
    --------
    >>> import eventkit as ek
    >>> reg = ek.SchemaRegistry()
    >>> v1 = {"type": "object", "required": ["fare"],
    ...       "properties": {"fare": {"type": "number", "minimum": 0}}}
    >>> reg.register("trip_completed", v1)
    1
    >>> v2 = {"type": "object", "required": ["fare", "tip"], "properties": {
    ...       "fare": {"type": "number", "minimum": 0}, "tip": {"type": "number"}}}
    >>> reg.register("trip_completed", v2)
    Traceback (most recent call last):
    ...
    eventkit.exceptions.SchemaCompatibilityError: trip_completed: the new schema is not
    BACKWARD compatible with version 1: field 'tip': adding a required field (required by
    the new schema, absent from version 1). Under BACKWARD, ...
    >>> v2["required"] = ["fare"]   # optional, but v1 is open: it may hold any "tip"
    >>> reg.incompatibilities("trip_completed", v2)  # doctest: +NORMALIZE_WHITESPACE
    ["version 1: field 'tip': adding a field to an open object (strict policy) (version 1
      does not declare it and its object is open, so it may hold it with any value; the new
      schema reads number)"]
    >>> reg.register("trip_completed", v2, policy="lenient"), reg.versions("trip_completed")
    (2, [1, 2])
    """

    def __init__(
        self, source: Connection | SchemaBackend | None = None, *, bucket: str = DEFAULT_BUCKET,
        history: int = 8, compatibility: Compatibility = "BACKWARD",
        version: str | Iterable[str] = DEFAULT_VERSION, policy: CompatibilityPolicy = "strict",
    ) -> None:
        from eventkit.connection import Connection

        if source is None:
            backend: SchemaBackend = _MemoryBackend()
        elif isinstance(source, Connection):
            backend = _KVBackend(source, bucket, history)
        else:
            backend = source
        self.backend: SchemaBackend = backend
        self.default_compatibility = _compatibility.mode(compatibility)
        self.policy = _compatibility.policy(policy)
        self.version_rules = _version_rules(version)
        self._upcasters: dict[tuple[str, int], _Upcaster] = {}
        self._cache = _Cache()

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str], *,
                 compatibility: Compatibility = "BACKWARD",
                 version: str | Iterable[str] = DEFAULT_VERSION,
                 policy: CompatibilityPolicy = "strict") -> SchemaRegistry:
        """A registry over a directory: ``<path>/<type>/v<N>.json`` (created as needed).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp()
        >>> reg = SchemaRegistry.from_dir(folder)
        >>> reg.register("ride_requested", {"type": "object", "properties": {
        ...     "city": {"type": "string"}}}, compatibility="FULL")
        1
        >>> sorted(p.relative_to(folder).as_posix() for p in pathlib.Path(folder).rglob("*.json"))
        ['ride_requested/config.json', 'ride_requested/v1.json']
        """
        return cls(_DirBackend(path), compatibility=compatibility, version=version,
                   policy=policy)

    def __repr__(self) -> str:
        return f"SchemaRegistry({self.backend.name})"

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        schemas = self.to_polars()
        return result_html(repr(self), f"{schemas.height:,} schema versions of "
                           f"{schemas['type'].n_unique() if schemas.height else 0:,} event types",
                           {"schemas": schemas}, rows=50)

    # -- registering and reading schemas --------------------------------------------
    def register(self, event_type: str, schema: Mapping[str, Any] | str, *,
                 compatibility: Compatibility | None = None,
                 policy: CompatibilityPolicy | None = None) -> int:
        """Register ``schema`` as the next version of ``event_type``; returns its version.

        The schema is checked against the earlier versions under the type's
        mode (``compatibility`` sets it, and it is kept for later
        registrations) and ``policy`` (the registry's, ``"strict"`` by
        default, when not given); an incompatible schema is refused with
        :class:`~eventkit.SchemaCompatibilityError`, which names each field
        and rule. A schema equal to a registered version returns that version.
        If another client registers a different schema as the same version
        at the same time, one wins and the other gets
        :class:`~eventkit.SchemaConflictError`.
        """
        return _loop.run(self.aregister(event_type, schema, compatibility=compatibility,
                                        policy=policy))

    async def aregister(self, event_type: str, schema: Mapping[str, Any] | str, *,
                        compatibility: Compatibility | None = None,
                        policy: CompatibilityPolicy | None = None) -> int:
        return await _on_loop(self._register(event_type, schema, compatibility, policy))

    async def _register(self, event_type: str, schema: Mapping[str, Any] | str,
                        compatibility: str | None, policy: str | None = None) -> int:
        policy = _compatibility.policy(policy) if policy is not None else self.policy
        _check_type(event_type)
        document = _document(schema)
        spec = parse_schema(document, what=f"schema for {event_type}")
        given = _compatibility.mode(compatibility) if compatibility is not None else None
        stored = await self.backend.compatibility(event_type)
        mode = given or stored or self.default_compatibility
        versions = await self.backend.versions(event_type)
        for v in versions:
            if _canonical(await self._document(event_type, v)) == _canonical(document):
                if given is not None and given != stored:
                    await self.backend.set_compatibility(event_type, given)
                return v
        previous = [(v, await self._spec(event_type, v)) for v in versions]
        problems = _compatibility.check(spec, previous, mode, policy)
        if problems:
            raise _incompatible(event_type, mode, problems, policy)
        new = versions[-1] + 1 if versions else 1
        try:
            await self.backend.create(event_type, new, document)
        except SchemaConflictError:
            other = await self.backend.schema(event_type, new)
            if other is None or _canonical(other) != _canonical(document):
                raise SchemaConflictError(
                    f"{event_type}: another client registered a different schema as version "
                    f"{new} in {self.backend.name} while this one was being checked against "
                    f"version {new - 1 if new > 1 else 'none'}; nothing was written. Look at "
                    f"reg.get({event_type!r}, version={new}) and register again if this schema "
                    "is still wanted (it is then checked against that version)"
                ) from None
        if given is not None and given != stored:
            await self.backend.set_compatibility(event_type, given)
        return new

    async def _document(self, event_type: str, version: int) -> dict[str, Any]:
        key = (event_type, version)
        if key not in self._cache.documents:
            doc = await self.backend.schema(event_type, version)
            if doc is None:
                raise SchemaNotFoundError(
                    f"{event_type} has no version {version} in {self.backend.name}")
            self._cache.documents[key] = doc
        return self._cache.documents[key]

    async def _spec(self, event_type: str, version: int) -> Spec:
        key = (event_type, version)
        if key not in self._cache.specs:
            doc = await self._document(event_type, version)
            self._cache.specs[key] = parse_schema(
                doc, what=f"{event_type} version {version} in {self.backend.name}")
        return self._cache.specs[key]

    def versions(self, event_type: str) -> list[int]:
        """The registered versions of ``event_type``, oldest first (empty if none)."""
        return _loop.run(self.aversions(event_type))

    async def aversions(self, event_type: str) -> list[int]:
        return await _on_loop(self.backend.versions(event_type))

    def get(self, event_type: str, version: int | None = None) -> dict[str, Any]:
        """The schema document of one version (the newest by default).

        Raises :class:`~eventkit.SchemaNotFoundError` for an unknown type or version.
        """
        return _loop.run(self.aget(event_type, version))

    async def aget(self, event_type: str, version: int | None = None) -> dict[str, Any]:
        return await _on_loop(self._get(event_type, version))

    async def _get(self, event_type: str, version: int | None) -> dict[str, Any]:
        versions = await self.backend.versions(event_type)
        if not versions:
            known = ", ".join(sorted(await self.backend.listing())) or "none"
            raise SchemaNotFoundError(f"no schema for {event_type!r} in {self.backend.name} "
                                      f"(types registered: {known})")
        version = versions[-1] if version is None else version
        if version not in versions:
            raise SchemaNotFoundError(f"{event_type} has no version {version} in "
                                      f"{self.backend.name} (versions: {versions})")
        document = await self._document(event_type, version)
        return _json_object(orjson.dumps(document), f"{event_type} v{version}")  # a copy

    def types(self) -> list[str]:
        """Event types with at least one registered version, sorted."""
        return _loop.run(self.atypes())

    async def atypes(self) -> list[str]:
        return sorted(await _on_loop(self.backend.listing()))

    def compatibility(self, event_type: str) -> str:
        """The mode new versions of ``event_type`` are checked under."""
        return _loop.run(self.acompatibility(event_type))

    async def acompatibility(self, event_type: str) -> str:
        stored = await _on_loop(self.backend.compatibility(event_type))
        return _compatibility.mode(stored) if stored else self.default_compatibility

    def incompatibilities(self, event_type: str, schema: Mapping[str, Any], *,
                          compatibility: Compatibility | None = None,
                          policy: CompatibilityPolicy | None = None) -> list[str]:
        """Why ``schema`` would be refused as the next version (empty: it would be taken)."""
        return _loop.run(self.aincompatibilities(event_type, schema,
                                                 compatibility=compatibility, policy=policy))

    async def aincompatibilities(self, event_type: str, schema: Mapping[str, Any], *,
                                 compatibility: Compatibility | None = None,
                                 policy: CompatibilityPolicy | None = None) -> list[str]:
        return await _on_loop(self._incompatibilities(event_type, schema, compatibility,
                                                      policy))

    async def _incompatibilities(self, event_type: str, schema: Mapping[str, Any],
                                 compatibility: str | None,
                                 policy: str | None = None) -> list[str]:
        spec = parse_schema(_document(schema), what=f"schema for {event_type}")
        mode = compatibility or await self.acompatibility(event_type)
        policy = _compatibility.policy(policy) if policy is not None else self.policy
        versions = await self.backend.versions(event_type)
        previous = [(v, await self._spec(event_type, v)) for v in versions]
        return [f"version {p.version}: {p}"
                for p in _compatibility.check(spec, previous, mode, policy)]

    def to_polars(self) -> pl.DataFrame:
        """One row per registered version: type, version, compatibility, fields, required."""
        return _loop.run(self.ato_polars())

    async def ato_polars(self) -> pl.DataFrame:
        return await _on_loop(self._to_polars())

    async def _to_polars(self) -> pl.DataFrame:
        rows = []
        for event_type, versions in (await self.backend.listing()).items():
            mode = await self.acompatibility(event_type)
            for v in versions:
                spec = await self._spec(event_type, v)
                rows.append((event_type, v, mode, [n for n, _ in spec.properties],
                             sorted(spec.required)))
        return pl.DataFrame(rows, orient="row", schema={
            "type": pl.String, "version": pl.Int64, "compatibility": pl.String,
            "fields": pl.List(pl.String), "required": pl.List(pl.String)})

    # -- upcasters ----------------------------------------------------------------
    def upcaster(self, event_type: str, from_version: int, to_version: int, *,
                 per: UpcasterKind = "frame") -> Callable[[_U], _U]:
        """Register a function that turns events of one version into a later version's shape.

        Used as a decorator. With ``per="frame"`` (vectorised, the fast way)
        the function takes a polars DataFrame of the events written with
        ``from_version`` (``seq`` and that version's fields, typed by its
        schema) and returns it in ``to_version``'s shape, keeping ``seq`` and
        the rows. With ``per="event"`` it takes and returns one payload dict
        (as written, JSON values) and runs once per event.

        Between versions without an upcaster, fields carry over by name (what
        a compatible change means). Upcasters live in this object, not in the
        backend: register them in the code that reads.

        Examples
        --------
        >>> reg = SchemaRegistry()
        >>> @reg.upcaster("payment_captured", 1, 2)
        ... def to_cents(v1: pl.DataFrame) -> pl.DataFrame:
        ...     cents = (pl.col("amount") * 100).round().cast(pl.Int64)
        ...     return v1.with_columns(amount_cents=cents, method=pl.lit(None, pl.String))
        """
        _check_type(event_type)
        if not (isinstance(from_version, int) and isinstance(to_version, int)
                and 1 <= from_version < to_version):
            raise ConfigurationError(
                f"an upcaster goes from a version to a later one, got {from_version!r} -> "
                f"{to_version!r}")
        if per not in ("frame", "event"):
            raise ConfigurationError(f"per must be 'frame' or 'event', got {per!r}")

        def add(fn: _U) -> _U:
            self._upcasters[event_type, from_version] = _Upcaster(to_version, fn, per)
            return fn

        return add

    # -- what reads and checks use ------------------------------------------------
    def snapshot(self) -> _Snapshot:
        """Every schema, the upcasters and the version rules, fetched once (pure from then on)."""
        return _loop.run(self.asnapshot())

    async def asnapshot(self) -> _Snapshot:
        return await _on_loop(self._snapshot())

    async def _snapshot(self) -> _Snapshot:
        listing = await self.backend.listing()
        missing = [(t, v) for t, vs in listing.items() for v in vs
                   if (t, v) not in self._cache.documents]
        docs = await asyncio.gather(*(self.backend.schema(t, v) for t, v in missing))
        for key, doc in zip(missing, docs, strict=True):
            if doc is not None:
                self._cache.documents[key] = doc
        specs: dict[str, dict[int, Spec]] = {}
        for event_type, versions in listing.items():
            for v in versions:
                if (event_type, v) in self._cache.documents:
                    specs.setdefault(event_type, {})[v] = await self._spec(event_type, v)
        return _Snapshot(specs, dict(self._upcasters), self.version_rules)

    def check(self, events: Events | pl.DataFrame) -> pl.DataFrame:
        """Every way events break their registered schemas, one row per violation.

        Each event of a registered type is validated against the schema of
        the version it was written with, in bulk. Nothing is dropped: an
        event appears here once per violation, and stays in ``events``.

        Returns
        -------
        polars.DataFrame
            ``seq``, ``type``, ``version``, ``path`` (the field, dotted, with
            ``[i]`` for array items; empty for the whole payload) and ``reason``,
            ordered by ``seq``. Empty when everything conforms.

        Examples
        --------
        >>> from eventkit.codec import decode
        >>> import datetime as dt
        >>> reg = SchemaRegistry()
        >>> reg.register("trip_completed", {"type": "object", "required": ["fare"],
        ...     "properties": {"fare": {"type": "number", "minimum": 0}}})
        1
        >>> t = pl.Series([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * 3).cast(
        ...     pl.Datetime("ns", "UTC"))
        >>> events = decode(pl.Series([1, 2, 3], dtype=pl.UInt64), t,
        ...     ["rides.trip_completed"] * 3, [None] * 3,
        ...     [b'{"fare": 9.5}', b'{"fare": -1}', b'{"fare": "9.50"}'], Rules())
        >>> reg.check(events.envelope)
        shape: (2, 5)
        ┌─────┬────────────────┬─────────┬──────┬─────────────────────────────┐
        │ seq ┆ type           ┆ version ┆ path ┆ reason                      │
        │ --- ┆ ---            ┆ ---     ┆ ---  ┆ ---                         │
        │ u64 ┆ str            ┆ i64     ┆ str  ┆ str                         │
        ╞═════╪════════════════╪═════════╪══════╪═════════════════════════════╡
        │ 2   ┆ trip_completed ┆ 1       ┆ fare ┆ less than the minimum 0     │
        │ 3   ┆ trip_completed ┆ 1       ┆ fare ┆ expected number, got string │
        └─────┴────────────────┴─────────┴──────┴─────────────────────────────┘
        """
        return self.snapshot().check(events)

    async def acheck(self, events: Events | pl.DataFrame) -> pl.DataFrame:
        snapshot = await self.asnapshot()
        return await asyncio.to_thread(snapshot.check, events)

    def infer(self, events: Events | pl.DataFrame, *, by_version: bool = False,
              limit: int | None = None) -> dict[str, Any]:
        """Propose a JSON Schema per event type from the events seen (nothing is registered).

        A field is required when every event has it; a type allows null when
        an event wrote null; strings that are all RFC 3339 times get
        ``format: date-time``; the version field, if the version rules read
        one, is pinned with ``const``.

        Parameters
        ----------
        by_version
            ``{type: {version: schema}}`` for every version seen, instead of
            ``{type: schema}`` for each type's newest version.
        limit
            Look at no more than this many events per type and version
            (spread evenly over them).

        Examples
        --------
        >>> frame = pl.DataFrame({"seq": [1, 2], "type": ["paid", "paid"], "data": [
        ...     b'{"amount": 9.5, "currency": "EUR"}',
        ...     b'{"schema_version": 2, "amount_cents": 950, "currency": "EUR"}']})
        >>> SchemaRegistry().infer(frame, by_version=True)["paid"][2]["properties"]
        {'schema_version': {'type': 'integer', 'const': 2},
         'amount_cents': {'type': 'integer'}, 'currency': {'type': 'string'}}
        """
        env = _envelope(events).filter(pl.col("error").is_null() & pl.col("type").is_not_null())
        env = env.with_columns(version=event_versions(env, self.version_rules))
        pinned = [r.name for r in self.version_rules if r.source == "field"]
        out: dict[str, dict[int, dict[str, Any]]] = {}
        for (event_type, version), part in sorted(env.partition_by(
                "type", "version", as_dict=True, maintain_order=True).items()):
            if limit is not None and part.height > limit:
                part = part.gather_every(-(-part.height // limit))
            lines = Lines(part.get_column("data"))
            out.setdefault(event_type, {})[version] = infer_schema(
                lines.loads(range(len(lines))), title=event_type,
                pinned=dict.fromkeys(pinned, version))
        if by_version:
            return out
        return {t: versions[max(versions)] for t, versions in out.items()}

    def versions_over_time(self, events: Events | pl.DataFrame, every: str | dt.timedelta = "1h",
                           *, on: TimeColumn = "event_time") -> pl.DataFrame:
        """Events per window, type and version (see :func:`versions_over_time`)."""
        return versions_over_time(events, every, on=on, version=self.version_rules)


def _document(schema: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """A schema as plain JSON (our own copy), from a mapping or JSON text."""
    try:
        if isinstance(schema, str | bytes):
            document = orjson.loads(schema)
        else:
            document = orjson.loads(orjson.dumps(dict(schema)))
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"a schema is a JSON object: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"a schema is a JSON object, got {type(document).__name__}")
    return document


def _check_type(event_type: object) -> None:
    if not isinstance(event_type, str) or not event_type:
        raise ConfigurationError(f"an event type is a non-empty string, got {event_type!r}")


def _incompatible(event_type: str, mode: str, problems: Sequence[Any],
                  policy: str = "strict") -> SchemaCompatibilityError:
    versions = sorted({p.version for p in problems})
    against = ("version " + str(versions[0]) if len(versions) == 1 else
               "versions " + ", ".join(map(str, versions)))
    shown = "; ".join(str(p) for p in problems[:6])
    more = f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
    base = mode.removesuffix("_TRANSITIVE")
    which = "every earlier version" if mode != base else "the last version"
    why = {
        "BACKWARD": f"consumers using the new schema must read events written with {which}",
        "FORWARD": f"consumers using {which} must read events written with the new schema",
        "FULL": f"consumers using the new schema and {which} must read each other's events",
    }[base]
    strict = ""
    if any(p.rule.endswith("(strict policy)") for p in problems):
        strict = (" Under the strict policy (Confluent's default) an open object may hold any "
                  "undeclared field: close it (additionalProperties: false), or register with "
                  "policy=\"lenient\" if writers write only the fields they declare.")
    return SchemaCompatibilityError(
        f"{event_type}: the new schema is not {mode} compatible with {against}: {shown}{more}. "
        f"Under {mode}, {why}.{strict} Change the schema, or register it with "
        "compatibility=\"NONE\" and add an upcaster (reg.upcaster) so that old events read "
        "in the new shape",
        problems)
