"""The schema registry: one source of truth for event formats.

::

    reg = ek.SchemaRegistry(conn)                    # a JetStream key-value bucket
    reg = ek.SchemaRegistry.from_dir("schemas/")     # a directory of files, offline
    reg = ek.SchemaRegistry()                        # in memory (a notebook, a test)

Schemas are JSON Schema documents (the subset that maps to Arrow, see
:mod:`eventkit.schema._json_parse`), kept per event type in numbered versions
1, 2, 3, ... A new version is checked against the earlier ones under the
type's compatibility mode, as in Confluent's schema registry for Kafka
(BACKWARD, FORWARD, FULL, their transitive forms, NONE; BACKWARD by default),
under a policy (``"strict"`` by default, Confluent's default JSON Schema
checks: an open object may hold any undeclared field; or ``"lenient"``:
writers write only the fields they declare; every rule is listed in
:mod:`eventkit.schema._compat_json`), and refused with
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
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import polars as pl

from eventkit._deprecated import TypeNames
from eventkit._typing import (
    Compatibility,
    CompatibilityPolicy,
    SchemaFormat,
    TimeColumn,
    UpcasterKind,
)
from eventkit.exceptions import (
    ConfigurationError,
    SchemaCompatibilityError,
    SchemaConflictError,
    SchemaNotFoundError,
)
from eventkit.schema import _compat_json as _compatibility
from eventkit.schema._json_infer import infer_schema
from eventkit.schema._json_lines import Lines
from eventkit.schema._json_parse import Spec, parse_schema
from eventkit.source import _loop

if TYPE_CHECKING:
    from eventkit.events import Events

from eventkit.schema._backends import SchemaBackend, _DirBackend, _MemoryBackend
from eventkit.schema._compat import check_entries
from eventkit.schema._compat_json import Incompatibility
from eventkit.schema._entry import (
    Descriptors,
    SchemaEntry,
    field_names,
    from_record,
    new_entry,
    to_record,
)
from eventkit.schema._kv import JetStreamConnection, _KVBackend
from eventkit.schema._snapshot import Snapshot, _Upcaster
from eventkit.schema._versions import (
    DEFAULT_VERSION,
    _envelope,
    _version_rules,
    event_versions,
    versions_over_time,
)

__all__ = ["DEFAULT_BUCKET", "SchemaRegistry"]

#: An upcaster: a frame of one version's events to the next shape, or one payload dict.
_U = TypeVar("_U", Callable[[pl.DataFrame], pl.DataFrame],
             Callable[[dict[str, Any]], dict[str, Any]])


#: The key-value bucket a registry on a connection uses unless told otherwise.
DEFAULT_BUCKET = "eventkit_schemas"


# -- the registry ------------------------------------------------------------------
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
        compatible). See :mod:`eventkit.schema._compat_json` for every rule.
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
        self, source: JetStreamConnection | SchemaBackend | None = None, *,
        bucket: str = DEFAULT_BUCKET, history: int = 8, compatibility: Compatibility = "BACKWARD",
        version: str | Iterable[str] = DEFAULT_VERSION, policy: CompatibilityPolicy = "strict",
    ) -> None:
        if source is None:
            backend: SchemaBackend = _MemoryBackend()
        elif isinstance(source, JetStreamConnection):
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
        ['%ids/1.json', 'ride_requested/config.json', 'ride_requested/v1.json']
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
    def register(self, event_type: str, schema: Mapping[str, Any] | str | bytes, *,
                 format: SchemaFormat = "json", descriptors: Descriptors | None = None,
                 compatibility: Compatibility | None = None,
                 policy: CompatibilityPolicy | None = None) -> int:
        """Register ``schema`` as the next version of ``event_type``; returns its version.

        ``format`` says what ``schema`` is: ``"json"`` (a JSON Schema, a dict
        or JSON text), ``"avro"`` (an Avro schema, the ``.avsc`` JSON text or
        a dict) or ``"protobuf"`` (``"rides.proto:LocationUpdated"`` or a
        message's full name, ``"rides.LocationUpdated"``, found in
        ``descriptors``: a ``FileDescriptorSet`` as bytes or the path of the
        file ``protoc --include_imports -o rides.desc rides.proto`` wrote, or
        ``.proto`` paths, compiled with the ``protoc`` of grpcio-tools,
        ``pip install 'eventkit[protoc]'``; without ``descriptors`` the
        ``.proto`` file the reference names is compiled). Each version gets a
        global schema id (:meth:`entry`), as Confluent's registry gives.

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
        return _loop.run(self.aregister(event_type, schema, format=format,
                                        descriptors=descriptors, compatibility=compatibility,
                                        policy=policy))

    async def aregister(self, event_type: str, schema: Mapping[str, Any] | str | bytes, *,
                        format: SchemaFormat = "json", descriptors: Descriptors | None = None,
                        compatibility: Compatibility | None = None,
                        policy: CompatibilityPolicy | None = None) -> int:
        _check_type(event_type)
        entry = await asyncio.to_thread(new_entry, event_type, schema, format, descriptors)
        return await _loop.on_loop(self._register(entry, compatibility, policy))

    async def _register(self, entry: SchemaEntry, compatibility: str | None,
                        policy: str | None = None) -> int:
        event_type = entry.event_type
        policy = _compatibility.policy(policy) if policy is not None else self.policy
        record = to_record(entry)
        given = _compatibility.mode(compatibility) if compatibility is not None else None
        stored = await self.backend.compatibility(event_type)
        mode = given or stored or self.default_compatibility
        versions = await self.backend.versions(event_type)
        for v in versions:
            if _canonical(await self._document(event_type, v)) == _canonical(record):
                if given is not None and given != stored:
                    await self.backend.set_compatibility(event_type, given)
                await self._give_id(event_type, v)
                return v
        problems = await self._problems(entry, versions, mode, policy)
        if problems:
            raise _incompatible(event_type, mode, problems, policy)
        new = versions[-1] + 1 if versions else 1
        try:
            await self.backend.create(event_type, new, record)
        except SchemaConflictError:
            other = await self.backend.schema(event_type, new)
            if other is None or _canonical(other) != _canonical(record):
                raise SchemaConflictError(
                    f"{event_type}: another client registered a different schema as version "
                    f"{new} in {self.backend.name} while this one was being checked against "
                    f"version {new - 1 if new > 1 else 'none'}; nothing was written. Look at "
                    f"reg.get({event_type!r}, version={new}) and register again if this schema "
                    "is still wanted (it is then checked against that version)"
                ) from None
        if given is not None and given != stored:
            await self.backend.set_compatibility(event_type, given)
        await self._give_id(event_type, new)
        return new

    async def _problems(self, entry: SchemaEntry, versions: list[int], mode: str,
                        policy: str) -> list[Incompatibility]:
        """Why ``entry`` may not follow ``versions`` under ``mode`` (see :mod:`._compat`)."""
        if mode == "NONE" or not versions:
            return []
        previous = [await self._entry(entry.event_type, v) for v in versions]
        return check_entries(entry, previous, mode, policy, self._spec_of)

    async def _give_id(self, event_type: str, version: int) -> None:
        """Claim the next free global schema id for a version that has none."""
        ids = getattr(self.backend, "schema_ids", None)
        claim = getattr(self.backend, "claim_id", None)
        if ids is None or claim is None:
            return
        taken = await ids()
        if (event_type, version) in taken.values():
            return
        candidate = max(taken, default=0) + 1
        for _ in range(64):  # another client may claim the same number: take the next
            try:
                await claim(candidate, event_type, version)
                return
            except SchemaConflictError:
                candidate += 1
        raise SchemaConflictError(f"{event_type} version {version}: no free schema id after "
                                  f"64 tries in {self.backend.name}; register it again")

    async def _entry(self, event_type: str, version: int,
                     ids: Mapping[tuple[str, int], int] | None = None) -> SchemaEntry:
        """One version as a :class:`SchemaEntry` (with its id when ``ids`` is given)."""
        record = await self._document(event_type, version)
        return from_record(event_type, version, record,
                           None if ids is None else ids.get((event_type, version)),
                           f"{event_type} v{version} in {self.backend.name}")

    async def _ids(self) -> dict[tuple[str, int], int]:
        """Each version's global schema id (the lowest, if two clients gave it two)."""
        ids = getattr(self.backend, "schema_ids", None)
        found = await ids() if ids is not None else {}
        out: dict[tuple[str, int], int] = {}
        for schema_id in sorted(found, reverse=True):
            out[found[schema_id]] = schema_id
        return out

    def entry(self, event_type: str, version: int | None = None) -> SchemaEntry:
        """One version (the newest by default) as a :class:`SchemaEntry`: format, text, id.

        Raises :class:`~eventkit.SchemaNotFoundError` for an unknown type or version.

        Examples
        --------
        >>> reg = SchemaRegistry()
        >>> reg.register("trip_completed", '{"type": "record", "name": "Trip", "fields": ['
        ...              '{"name": "fare", "type": "double"}]}', format="avro")
        1
        >>> reg.entry("trip_completed")
        SchemaEntry('trip_completed', version=1, format='avro', id=1)
        """
        return _loop.run(self.aentry(event_type, version))

    async def aentry(self, event_type: str, version: int | None = None) -> SchemaEntry:
        return await _loop.on_loop(self._entry_of(event_type, version))

    async def _entry_of(self, event_type: str, version: int | None) -> SchemaEntry:
        version = await self._version(event_type, version)
        return await self._entry(event_type, version, await self._ids())

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
        return self._spec_of(await self._entry(event_type, version))

    def _spec_of(self, entry: SchemaEntry) -> Spec:
        """The parsed JSON Schema of a JSON entry (cached)."""
        key = (entry.event_type, entry.version)
        if key not in self._cache.specs:
            spec = parse_schema(orjson.loads(entry.text), what=(
                f"{entry.event_type} version {entry.version} in {self.backend.name}"
                if entry.version else f"schema for {entry.event_type}"))
            if not entry.version:  # a schema being registered: not stored yet
                return spec
            self._cache.specs[key] = spec
        return self._cache.specs[key]

    def versions(self, event_type: str) -> list[int]:
        """The registered versions of ``event_type``, oldest first (empty if none)."""
        return _loop.run(self.aversions(event_type))

    async def aversions(self, event_type: str) -> list[int]:
        return await _loop.on_loop(self.backend.versions(event_type))

    def get(self, event_type: str, version: int | None = None) -> dict[str, Any]:
        """The schema document of one version (the newest by default).

        Raises :class:`~eventkit.SchemaNotFoundError` for an unknown type or version.
        """
        return _loop.run(self.aget(event_type, version))

    async def aget(self, event_type: str, version: int | None = None) -> dict[str, Any]:
        return await _loop.on_loop(self._get(event_type, version))

    async def _get(self, event_type: str, version: int | None) -> dict[str, Any]:
        version = await self._version(event_type, version)
        entry = await self._entry(event_type, version)
        if entry.format == "protobuf":
            return dict(await asyncio.to_thread(entry.document))
        document = entry.document()
        return document if isinstance(document, dict) else {"type": document}

    async def _version(self, event_type: str, version: int | None) -> int:
        """``version`` (the newest if None) if ``event_type`` has it, else SchemaNotFoundError."""
        versions = await self.backend.versions(event_type)
        if not versions:
            known = ", ".join(sorted(await self.backend.listing())) or "none"
            raise SchemaNotFoundError(f"no schema for {event_type!r} in {self.backend.name} "
                                      f"(types registered: {known})")
        version = versions[-1] if version is None else version
        if version not in versions:
            raise SchemaNotFoundError(f"{event_type} has no version {version} in "
                                      f"{self.backend.name} (versions: {versions})")
        return version

    @property
    def types(self) -> TypeNames:
        """The event types with at least one registered version, sorted (a list, as on
        :class:`~eventkit.Events`); ``await registry.atypes()`` reads it without blocking.
        (Until the next release ``registry.types()`` still works, with a warning.)"""
        return TypeNames(_loop.run(self.atypes()), owner="SchemaRegistry")

    async def atypes(self) -> list[str]:
        """The event types with at least one registered version, sorted: :attr:`types`
        for ``await``."""
        return sorted(await _loop.on_loop(self.backend.listing()))

    def compatibility(self, event_type: str) -> str:
        """The mode new versions of ``event_type`` are checked under."""
        return _loop.run(self.acompatibility(event_type))

    async def acompatibility(self, event_type: str) -> str:
        stored = await _loop.on_loop(self.backend.compatibility(event_type))
        return _compatibility.mode(stored) if stored else self.default_compatibility

    def incompatibilities(self, event_type: str, schema: Mapping[str, Any] | str | bytes, *,
                          format: SchemaFormat = "json", descriptors: Descriptors | None = None,
                          compatibility: Compatibility | None = None,
                          policy: CompatibilityPolicy | None = None) -> list[str]:
        """Why ``schema`` would be refused as the next version (empty: it would be taken)."""
        return _loop.run(self.aincompatibilities(
            event_type, schema, format=format, descriptors=descriptors,
            compatibility=compatibility, policy=policy))

    async def aincompatibilities(self, event_type: str, schema: Mapping[str, Any] | str | bytes,
                                 *, format: SchemaFormat = "json",
                                 descriptors: Descriptors | None = None,
                                 compatibility: Compatibility | None = None,
                                 policy: CompatibilityPolicy | None = None) -> list[str]:
        _check_type(event_type)
        entry = await asyncio.to_thread(new_entry, event_type, schema, format, descriptors)
        return await _loop.on_loop(self._incompatibilities(entry, compatibility, policy))

    async def _incompatibilities(self, entry: SchemaEntry, compatibility: str | None,
                                 policy: str | None = None) -> list[str]:
        mode = (_compatibility.mode(compatibility) if compatibility is not None
                else await self.acompatibility(entry.event_type))
        policy = _compatibility.policy(policy) if policy is not None else self.policy
        versions = await self.backend.versions(entry.event_type)
        return [f"version {p.version}: {p}"
                for p in await self._problems(entry, versions, mode, policy)]

    def to_polars(self) -> pl.DataFrame:
        """One row per registered version: type, version, compatibility, fields, required,
        format, id."""
        return _loop.run(self.ato_polars())

    async def ato_polars(self) -> pl.DataFrame:
        return await _loop.on_loop(self._to_polars())

    async def _to_polars(self) -> pl.DataFrame:
        rows = []
        ids = await self._ids()
        for event_type, versions in (await self.backend.listing()).items():
            mode = await self.acompatibility(event_type)
            for v in versions:
                entry = await self._entry(event_type, v, ids)
                if entry.format == "json":
                    spec = self._spec_of(entry)
                    fields, required = [n for n, _ in spec.properties], sorted(spec.required)
                else:
                    fields, required = await asyncio.to_thread(field_names, entry)
                rows.append((event_type, v, mode, fields, required, entry.format, entry.id))
        return pl.DataFrame(rows, orient="row", schema={
            "type": pl.String, "version": pl.Int64, "compatibility": pl.String,
            "fields": pl.List(pl.String), "required": pl.List(pl.String),
            "format": pl.String, "id": pl.Int64})

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
    def snapshot(self) -> Snapshot:
        """Every schema, the upcasters and the version rules, fetched once (pure from then on)."""
        return _loop.run(self.asnapshot())

    async def asnapshot(self) -> Snapshot:
        return await _loop.on_loop(self._snapshot())

    async def _snapshot(self) -> Snapshot:
        listing = await self.backend.listing()
        missing = [(t, v) for t, vs in listing.items() for v in vs
                   if (t, v) not in self._cache.documents]
        docs = await asyncio.gather(*(self.backend.schema(t, v) for t, v in missing))
        for key, doc in zip(missing, docs, strict=True):
            if doc is not None:
                self._cache.documents[key] = doc
        ids = await self._ids()
        specs: dict[str, dict[int, Spec]] = {}
        entries: dict[str, dict[int, SchemaEntry]] = {}
        for event_type, versions in listing.items():
            for v in versions:
                if (event_type, v) in self._cache.documents:
                    entry = await self._entry(event_type, v, ids)
                    entries.setdefault(event_type, {})[v] = entry
                    if entry.format == "json":
                        specs.setdefault(event_type, {})[v] = self._spec_of(entry)
        return Snapshot(specs, dict(self._upcasters), self.version_rules, entries)

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
        >>> from eventkit.envelope import Rules
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
