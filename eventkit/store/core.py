"""The Store: a stream's events as Delta Lake tables, synced incrementally."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from eventkit import query
from eventkit._deprecated import TypeNames
from eventkit._typing import TimeColumn, TimeLike
from eventkit.envelope import ENVELOPE_SCHEMA, Rules
from eventkit.exceptions import EventkitWarning, StoreError, UnknownTypeError
from eventkit.source import _loop
from eventkit.store import maintenance
from eventkit.store._disk import GAP_SCHEMA, MISFIT_SCHEMA
from eventkit.store._retry import is_closed, on_loop
from eventkit.store._writer import SyncResult
from eventkit.store.follow import Follower
from eventkit.store.integrity import IntegrityReport, build_report, stream_facts
from eventkit.store.sync import run_sync
from eventkit.store.table import State, Tables

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.schema import SchemaRegistry

__all__ = ["Store"]

_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]


class Store(maintenance.Maintenance):
    """A stream's events as Delta Lake tables (local or on an object store), synced incrementally.

    Parameters
    ----------
    path
        The store's directory (created by the first sync), or an object-store
        URL such as ``s3://bucket/prefix``.
    storage_options
        For an object store: credentials, endpoint, region (``deltalake``'s
        and polars' keys, e.g. ``AWS_ENDPOINT_URL``, ``AWS_REGION``).

    Examples
    --------
    >>> import tempfile, eventkit as ek
    >>> with ek.EmbeddedServer() as server, ek.connect(server.url) as conn, \\
    ...         tempfile.TemporaryDirectory() as tmp:
    ...     _ = conn.create_stream("ORDERS", ["orders.>"])
    ...     _ = conn.publish_many(["orders.o1", "orders.o1"],
    ...                           [b'{"type":"order_placed","key":"o1","total":9.5}',
    ...                            b'{"type":"order_shipped","key":"o1"}'])
    ...     store = ek.Store(tmp)
    ...     print(store.sync(conn, "ORDERS", progress=False).events)
    ...     print(store.sync(conn, progress=False))      # resumes: nothing new
    ...     print(store.scan().select("seq", "type").collect().rows())
    ...     print(store.of_type("order_placed").select("key", "total").collect().rows())
    2
    ORDERS: nothing new after seq 2
    [(1, 'order_placed'), (2, 'order_shipped')]
    [('o1', 9.5)]
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 storage_options: Mapping[str, str] | None = None) -> None:
        self._tables = Tables(path, storage_options)
        self.path = self._tables.local if self._tables.local is not None else self._tables.root
        self._conn: Connection | None = None
        self._version: int | None = None  # set on a store opened at a version
        self._cached: tuple[tuple[int, int], State | None] | None = None  # (log entry, state)
        self._upgrade_if_old(wait=False)

    # -- reading -----------------------------------------------------------
    def state(self) -> State | None:
        """What the store holds, as its last envelope commit says (None before a sync).

        On a local store the answer is kept until the envelope's log gets a new
        entry (a commit by this or any other writer), so the properties below
        cost a ``stat``, not a read of the log.
        """
        if self._version is not None or self._tables.local is None:
            return self._tables.state(version=self._version)
        before = self._latest_entry()
        if self._cached is not None and self._cached[0] == before and before[0] >= 0:
            return self._cached[1]
        state = self._tables.state()
        if self._latest_entry(before[0]) == before:  # no commit while it was read
            self._cached = (before, state)
        return state

    def _latest_entry(self, known: int | None = None) -> tuple[int, int]:
        """The newest version of the envelope's log (-1 for none) and when its entry was
        written (a log made again from scratch differs): a ``stat`` per version past
        ``known`` (or past the last one seen)."""
        assert self._tables.local is not None
        log = self._tables.local / "envelope" / "_delta_log"
        version = known if known is not None else (self._cached[0][0] if self._cached else -1)
        while (log / f"{version + 1:020d}.json").exists():
            version += 1
        try:
            return version, (log / f"{version:020d}.json").stat().st_mtime_ns
        except OSError:  # no log, or the store was removed: nothing kept is valid
            self._cached = None
            return -1, 0

    @property
    def stream(self) -> str | None:
        st = self.state()
        return st.stream if st else None

    @property
    def last_seq(self) -> int:
        """The last stream sequence the store has taken into account (0 when empty)."""
        st = self.state()
        return st.last_seq if st else 0

    @property
    def types(self) -> TypeNames:
        """The event types stored, sorted (a list, as on :class:`~eventkit.Events`);
        :meth:`type_counts` counts them. (Until the next release the list also
        answers ``types["x"]``, ``types.items()``... as the counts did, with a warning.)"""
        return TypeNames(self.type_counts(), owner="Store")

    def type_counts(self) -> dict[str, int]:
        """Events per type, by type name (as :meth:`eventkit.Events.type_counts`)."""
        st = self.state()
        return dict(sorted(st.types.items())) if st else {}

    def __len__(self) -> int:
        st = self.state()
        return st.events if st else 0

    def _selected(self, where: list[pl.Expr]) -> pl.LazyFrame:
        return self._tables.scan(self._tables.envelope, ENVELOPE_SCHEMA, None,
                                 version=self._version, where=where
                                 ).select(list(ENVELOPE_SCHEMA))

    def scan(self) -> pl.LazyFrame:
        """The envelope of every stored event, ordered by ``seq``, as a polars LazyFrame.

        The scan reads the files of the table's version when it is called, so
        it never sees a batch being written; call it again to see later syncs.
        """
        return self._tables.scan(self._tables.envelope, ENVELOPE_SCHEMA, None,
                                 version=self._version).select(list(ENVELOPE_SCHEMA))

    def of_type(self, event_type: str) -> pl.LazyFrame:
        """One event type: ``seq, subject, time, type, key, event_time``, then its payload fields.

        A type's fields are the union over the batches it was stored in (a
        field added by a newer version of the event is null in older rows). A
        value that did not fit its column is null here, kept raw in the
        envelope's ``data`` and listed in :meth:`misfits`.
        """
        st = self.state()
        if st is None or event_type not in st.types:
            known = ", ".join(st.types) if st and st.types else "none"
            raise UnknownTypeError(f"no events of type {event_type!r} in the store "
                             f"{self._tables.root}; types present: {known}")
        frame = self._tables.scan(self._tables.of_type(event_type), {}, st.last_seq)
        names = frame.collect_schema().names()
        return frame.select(_HEAD + [n for n in names if n not in _HEAD])

    # -- temporal questions (see eventkit.query): read out of core ---------------
    def between(self, t0: TimeLike | None, t1: TimeLike | None, *,
                on: TimeColumn = "event_time") -> pl.LazyFrame:
        """The envelope of the events from ``t0`` (included) to ``t1`` (excluded), lazily.

        A filter on the scan that polars pushes into the Parquet reader: row
        groups outside the range are skipped by their statistics. See
        :func:`eventkit.query.between` for the bounds.
        """
        return self._selected(query.nanosecond_filters("between", t0, t1, on=on))

    def as_of(self, t: TimeLike, *, on: TimeColumn = "event_time") -> pl.LazyFrame:
        """The envelope of everything known at ``t``, lazily; see :func:`eventkit.query.as_of`."""
        return self._selected(query.nanosecond_filters("as_of", t, on=on))

    def upto(self, seq: int | str) -> pl.LazyFrame:
        """The envelope up to and including sequence ``seq``, lazily; see
        :func:`eventkit.query.upto`."""
        return self._selected(query.nanosecond_filters("upto", seq))

    def state_at(self, t: TimeLike | None = None, *, key: str | Sequence[str] = "key",
                 on: TimeColumn = "event_time",
                 fields: Sequence[str] | None = None) -> pl.DataFrame:
        """The state of each entity at ``t`` (the ``"merge"`` fold), read out of core.

        The same answer as :func:`eventkit.query.state_at` over the store's
        events with their payload fields, but the store is read one range of
        sequences at a time and folded into one row per entity, so memory
        stays flat however long the store is (a SQL ``arg_max`` per key and
        field). ``t`` is a sequence, a time, a duration ago or ``None`` (the
        latest state), read on the clock ``on``.
        """
        from eventkit.store._state import RANGE, fold_ranges

        keys = [key] if isinstance(key, str) else list(key)
        query.check_clock(on)
        st = self.state()
        if st is None:
            return pl.DataFrame()
        envelope = self._tables.scan(self._tables.envelope, ENVELOPE_SCHEMA, st.last_seq,
                                     version=self._version)
        _require_columns(envelope, ["seq", "type", on, *keys])
        head = {"seq", "type", on, *keys}
        typed = []
        for name in st.types:  # only the columns folded: the head's others are not read
            frame = self._tables.scan(self._tables.of_type(name), {}, st.last_seq)
            typed.append(frame.select(
                c for c in frame.collect_schema().names()
                if c in head or (c not in ENVELOPE_SCHEMA and (fields is None or c in fields))))

        def known(frame: pl.LazyFrame) -> pl.LazyFrame:
            return frame if t is None else query.as_of(frame, t, on=on)

        def ranges() -> Iterator[tuple[pl.LazyFrame, list[pl.LazyFrame]]]:
            for first in range(1, st.last_seq + 1, RANGE):
                inside = pl.col("seq").is_between(first, first + RANGE - 1)
                yield (envelope.select("seq", "type", on, *keys).filter(inside),
                       [frame.filter(inside) for frame in typed])

        return fold_ranges(ranges(), keys, on, None if fields is None else list(fields), known,
                           in_order=on == "time")

    def gaps(self) -> pl.DataFrame:
        """The sequences recorded as missing from the stream, and why (as runs)."""
        st = self.state()
        if st is None or not st.gaps:
            return pl.DataFrame(schema=GAP_SCHEMA)
        return (self._tables.scan(self._tables.gaps, GAP_SCHEMA, st.last_seq, seq="first_seq")
                .select(list(GAP_SCHEMA)).collect())

    def misfits(self) -> pl.DataFrame:
        """Payload values that did not fit their column: ``seq, type, field, column, found``.

        Each is null in its type's table; the event's raw payload is in the
        envelope's ``data``. ``column`` is the column's type, ``found`` the
        JSON type of the value.
        """
        st = self.state()
        if st is None or not st.misfits:
            return pl.DataFrame(schema=MISFIT_SCHEMA)
        return (self._tables.scan(self._tables.misfits, MISFIT_SCHEMA, st.last_seq)
                .select(list(MISFIT_SCHEMA)).collect())

    def sql(self, query: str) -> pl.DataFrame:
        """Run DuckDB SQL over the store's tables: ``envelope``, ``gaps`` and one per type.

        Each type's table is a view named after the type (quote names that are
        not plain identifiers: ``"order.placed"``). Times are as on disk:
        microsecond UTC timestamps, with the exact nanoseconds in ``*_ns``.
        DuckDB reads the Parquet files out of core, so a query needs far
        less memory than the store's size, e.g.
        ``store.sql("SELECT type, count(*) AS n FROM envelope GROUP BY type")``.
        """
        return maintenance.sql(self, query)

    def __repr__(self) -> str:
        st = self.state()
        where = f"{str(self.path)!r}" + (f" at version {self._version}"
                                         if self._version is not None else "")
        if st is None:
            return f"<Store {where}: empty>"
        return (f"<Store {where}: stream {st.stream!r}, {st.events:,} events, "
                f"synced to seq {st.last_seq:,}, {len(st.types)} types>")

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html("eventkit Store", repr(self).strip("<>"))

    # -- syncing -----------------------------------------------------------
    def sync(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        progress: bool = True, batch: int = 200_000, registry: SchemaRegistry | None = None,
    ) -> SyncResult:
        """Bring the store up to date: store what the stream holds after the last stored sequence.

        Parameters
        ----------
        conn
            An open connection.
        stream
            The stream; the store's own after the first sync.
        subjects
            Subject filter(s) for the first sync (a store keeps them); the whole
            stream by default.
        rules
            How to find ``type``, ``key`` and ``event_time``; at the first sync
            the stream's own rules (its metadata) by default, after it the
            store's.
        progress
            Show a progress bar (a widget in a notebook).
        batch
            Events per commit (read and decoded in parts of 50,000, written in
            one commit per table; a commit is made sooner once 32 MiB of events
            are held): memory use is bounded by about two commits' worth,
            however long the stream. Each commit has a fixed cost, so
            bigger commits sync faster; a killed sync keeps every commit it ended.
        registry
            A schema registry: its schemas give the types' column types (not
            the first batch's guess) and its upcasters bring old versions up.

        Returns
        -------
        SyncResult
            How many events were stored, up to which sequence, how long it took.

        Raises
        ------
        StoreError
            The store holds another stream, other subjects or rules, the stream
            was recreated, another sync is writing to the store, its disk is
            full, or a file of it is damaged.
        """
        return _loop.run(self.async_(conn, stream, subjects=subjects, rules=rules,
                                     progress=progress, batch=batch, registry=registry))

    async def async_(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        progress: bool = True, batch: int = 200_000, registry: SchemaRegistry | None = None,
    ) -> SyncResult:
        """:meth:`sync` for ``await``.

        Every async twin is its call's name with an ``a`` in front
        (``aread``, ``acompact``); ``async`` is a Python keyword, so this one
        ends in ``_`` as PEP 8 has it for a name that would clash.
        """
        self._writable()

        async def go(stop: Any) -> SyncResult:
            schemas = await registry.asnapshot() if registry is not None else None
            return await run_sync(self, conn, stream, _subjects(subjects), rules, progress,
                                  batch, stop, schemas)

        result: SyncResult = await on_loop(go)
        for note in result.notes:  # in the caller's thread, where a notebook shows it
            warnings.warn(note, EventkitWarning, stacklevel=2)
        return result

    async def async_sync(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        progress: bool = True, batch: int = 200_000, registry: SchemaRegistry | None = None,
    ) -> SyncResult:
        """Deprecated: :meth:`async_` (the one ``a``-prefixed name for every async twin)."""
        warnings.warn("Store.async_sync is deprecated and goes in the next release: use "
                      "Store.async_ (the a-prefixed twin of sync, as aread is of read)",
                      FutureWarning, stacklevel=2)
        return await self.async_(conn, stream, subjects=subjects, rules=rules,
                                 progress=progress, batch=batch, registry=registry)

    def write(self, batches: Any, *, stream: str, rules: Rules, subjects: Sequence[str] = (),
              created: str | None = None) -> SyncResult:
        """Write batches of messages, in sequence order, into this empty store.

        How a replay rebuilds a store (:meth:`eventkit.Replay.to_store`): the
        same tables and commits as a sync, so the result is a store like any
        other. ``created`` is the stream's creation time, so that a later sync
        refuses a stream deleted and created again. Sequences before the
        first batch are recorded as a gap ("not replayed").
        """
        return maintenance.write_batches(self, batches, stream=stream, rules=rules,
                                         subjects=subjects, created=created)

    def follow(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        interval: float = 1.0, batch: int = 200_000, compact: bool = True,
    ) -> Follower:
        """Keep the store current in the background: sync, wait ``interval`` s, sync again.

        Returns at once with a :class:`Follower`; ``stop()`` ends it. A
        connection that drops or a server that restarts is retried with a
        growing pause (the last error is in ``Follower.error``); a store or
        stream that does not match ends it. With ``compact``, small files
        (one per short sync) are compacted from time to time.
        """
        self._writable()
        follower = Follower(self, conn, stream, _subjects(subjects), rules, interval, batch,
                            compact)
        follower._start()
        return follower

    # -- integrity ---------------------------------------------------------
    def integrity(self, conn: Connection | None = None, *, verify: bool = True
                  ) -> IntegrityReport:
        """Reconcile the store with its stream, check its files, list what is odd about events.

        Parameters
        ----------
        conn
            A connection to the stream's server; by default the one the last
            sync in this process used, if still open. Without one the report
            holds the store's facts only.
        verify
            Check every data file against the checksum recorded when it was
            written (reads the whole store once).

        Returns
        -------
        IntegrityReport
            First/last sequences and counts of both sides; the stream messages
            up to the store's last sequence, how many the store holds, how many
            it misses, keeps beyond the stream's retention, and how many are
            newer; gaps (runs of missing sequences and why); duplicate
            ``Nats-Msg-Id`` values; events that did not decode; values that did
            not fit their column; events late for their entity; events per
            type; damaged data files.
        """
        return _loop.run(self.aintegrity(conn, verify=verify))

    async def aintegrity(self, conn: Connection | None = None, *, verify: bool = True
                         ) -> IntegrityReport:
        conn = conn or self._conn
        facts = None
        st = self.state()
        if st is None:
            raise StoreError(f"the store {self._tables.root} is empty: sync it first")
        if conn is not None and not is_closed(conn):
            js = conn.jetstream
            facts = await on_loop(lambda _stop: stream_facts(js, st))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, build_report, self, st, facts, verify)

    # -- helpers -----------------------------------------------------------
    def _writable(self) -> None:
        if self._version is not None:
            raise StoreError(f"this store is opened at version {self._version} (read only): "
                             "sync ek.Store(path) instead")

    def _upgrade_if_old(self, wait: bool = True) -> None:
        maintenance.upgrade_if_old(self._tables, wait=wait)


def _require_columns(frame: pl.LazyFrame, names: list[str]) -> None:
    columns = frame.collect_schema().names()
    missing = [n for n in names if n not in columns]
    if missing:
        raise StoreError(f"no column {', '.join(map(repr, missing))} in the store's envelope; "
                         f"its columns are: {', '.join(columns)}")


def _subjects(subjects: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if subjects is None:
        return None
    return (subjects,) if isinstance(subjects, str) else tuple(subjects)
