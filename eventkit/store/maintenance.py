"""Maintenance: compaction and vacuum, versions and time travel, SQL, old stores converted."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from eventkit.envelope import Rules
from eventkit.exceptions import StoreError
from eventkit.source import _loop
from eventkit.store import integrity as _integrity
from eventkit.store._disk import GAP_SCHEMA, type_dir
from eventkit.store.sync import WRITER, Lock, locked
from eventkit.store.table import META, State, Tables, add_actions

if TYPE_CHECKING:
    from eventkit.source.jetstream import RawBatch
    from eventkit.store._writer import SyncResult
    from eventkit.store.core import Store

__all__ = ["Maintenance", "sql", "upgrade_if_old", "write_batches"]

SMALL = 10_000    #: a data file of fewer rows is small
PILE = 32         #: this many small files at a table's end are compacted by a sync


class Maintenance:
    """The maintenance half of :class:`eventkit.Store`."""

    _tables: Tables
    _version: int | None

    def compact(self, *, retention_hours: float | None = None) -> dict[str, int]:
        """Delta optimize: rewrite each table sorted by ``seq`` in few large files; then vacuum.

        Parameters
        ----------
        retention_hours
            Also delete the files no version newer than this many hours needs
            (Delta vacuum). Time travel to older versions ends there; a reader
            still scanning the older files fails. None keeps every file.

        Returns
        -------
        dict
            ``files_removed``, ``files_added`` (over all tables), ``vacuumed``.
        """
        return _loop.run(self._acompact(retention_hours, full=True))

    async def acompact(self, *, retention_hours: float | None = None) -> dict[str, int]:
        """:meth:`compact` for ``await``."""
        from eventkit.store._retry import on_loop

        result: dict[str, int] = await on_loop(
            lambda _stop: self._acompact(retention_hours, full=True))
        return result

    async def _compact_if_small(self) -> dict[str, int]:
        return await self._acompact(None, full=False)

    async def _acompact(self, retention_hours: float | None, full: bool) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        async with locked(self._tables):
            return await loop.run_in_executor(WRITER, _compact, self._tables, retention_hours,
                                              full)

    def small_files(self) -> int:
        """Small data files at the envelope table's end (a sync compacts them past 32)."""
        table = self._tables.open(self._tables.envelope)
        return len(_small_tail(table)) if table is not None else 0

    def versions(self) -> pl.DataFrame:
        """The envelope table's history: ``version, time, operation, last_seq, events``."""
        table = self._tables.open(self._tables.envelope)
        rows: list[tuple[Any, ...]] = []
        last = events = None
        for commit in reversed(table.history() if table is not None else []):
            text = commit.get(META)
            if text:
                st = State.from_json(text)
                last, events = st.last_seq, st.events
            stamp = dt.datetime.fromtimestamp(commit["timestamp"] / 1000, dt.UTC)
            rows.append((commit["version"], stamp, commit.get("operation"), last, events))
        return pl.DataFrame(rows, orient="row", schema={
            "version": pl.Int64, "time": pl.Datetime("ms", "UTC"), "operation": pl.String,
            "last_seq": pl.Int64, "events": pl.Int64})

    def at_version(self, version: int) -> Store:
        """The store as it was at envelope version ``version`` (read only); see :meth:`versions`.

        Its ``scan()`` is Delta's time travel; a type's table is read up to
        that version's last sequence.
        """
        if self._tables.open(self._tables.envelope, version) is None:
            raise StoreError(f"the store {self._tables.root} is empty: it has no versions")
        other = copy.copy(self)
        other._version = version
        return other  # type: ignore[return-value]


def _compact(tables: Tables, retention_hours: float | None, full: bool) -> dict[str, int]:
    out = {"files_removed": 0, "files_added": 0, "vacuumed": 0}
    envelope = tables.open(tables.envelope)
    if envelope is None:
        return out
    state = tables.state(envelope)
    assert state is not None
    uris = [tables.envelope, tables.gaps, tables.misfits,
            *(tables.of_type(t) for t in state.types)]
    for uri in uris:
        table = tables.open(uri)
        if table is None:
            continue
        seq = "first_seq" if uri == tables.gaps else "seq"
        props = CommitProperties(custom_metadata={META: state.to_json()} if uri ==
                                 tables.envelope else None)
        if full:
            if len(table.file_uris()) > 1:
                metrics = table.optimize.z_order([seq], commit_properties=props)
                out["files_removed"] += int(metrics["numFilesRemoved"])
                out["files_added"] += int(metrics["numFilesAdded"])
                _integrity.record(tables, table)
            if retention_hours is not None:
                gone = table.vacuum(retention_hours=int(retention_hours),
                                    enforce_retention_duration=False, dry_run=False)
                out["vacuumed"] += len(gone)
        else:
            small = _small_tail(table)
            if len(small) >= PILE:
                _rewrite(tables, table, small, seq, state, uri == tables.envelope)
                out["files_removed"] += len(small)
                out["files_added"] += 1
    return out


def _small_tail(table: DeltaTable) -> list[dict[str, Any]]:
    """The run of small files at the table's end (by ``seq``)."""
    frame = add_actions(table)
    key = "min.seq" if "min.seq" in frame.columns else "min.first_seq"
    if not frame.height or key not in frame.columns:
        return []
    rows = frame.sort(key).to_dicts()
    tail: list[dict[str, Any]] = []
    for row in reversed(rows):
        if row["num_records"] >= SMALL:
            break
        tail.append(row)
    return tail[::-1]


def _rewrite(tables: Tables, table: DeltaTable, files: list[dict[str, Any]], seq: str,
             state: State, envelope: bool) -> None:
    """Replace small files by one, in one commit (Delta's overwrite with a predicate)."""
    lo = min(int(f[f"min.{seq}"]) for f in files)
    hi = max(int(f[f"max.{seq}"]) for f in files)
    base = table.table_uri.rstrip("/")
    paths = [f"{base}/{f['path']}".removeprefix("file://") for f in files]
    data = pl.read_parquet(paths, hive_partitioning=False, missing_columns="insert",
                           storage_options=tables.options).sort(seq)
    props = CommitProperties(custom_metadata={META: state.to_json()} if envelope else None,
                             app_transactions=[Transaction(app_id=state.stream,
                                                           version=state.last_seq)])
    write_deltalake(table, data.rechunk().to_arrow(), mode="overwrite",
                    predicate=f"{seq} >= {lo} AND {seq} <= {hi}", commit_properties=props)
    table.update_incremental()
    _integrity.record(tables, table)


# -- SQL ------------------------------------------------------------------------------
def sql(store: Store, query: str) -> pl.DataFrame:
    import duckdb

    tables = store._tables
    st = store.state()
    con = duckdb.connect()
    try:
        names = {"envelope": tables.envelope, "gaps": tables.gaps, "misfits": tables.misfits}
        for t in (st.types if st else {}):
            names[t] = tables.of_type(t)
        for name, uri in names.items():
            table = tables.open(uri, store._version if uri == tables.envelope else None)
            if table is None:
                continue
            dataset = table.to_pyarrow_dataset()
            con.register(f"__{type_dir(name)}", dataset)
            upto = f" WHERE {'first_seq' if name == 'gaps' else 'seq'} <= {st.last_seq}" if (
                st and name != "envelope") else ""
            quoted = '"' + name.replace('"', '""') + '"'
            con.execute(f"CREATE VIEW {quoted} AS SELECT * FROM __{type_dir(name)}{upto}")
        try:
            result = con.sql(query)  # a relation (DuckDB 1 and 2 alike), None for a statement
            frame: pl.DataFrame = result.pl() if result is not None else pl.DataFrame()
            return frame
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB refused the query: {exc}") from None
    finally:
        con.close()


# -- writing a store from batches (a replay) --------------------------------------------
def write_batches(store: Store, batches: Iterable[RawBatch], *, stream: str, rules: Rules,
                  subjects: Sequence[str] = (), created: str | None = None) -> SyncResult:
    from eventkit.store._writer import Writer

    began = time.perf_counter()
    tables = store._tables
    if tables.local is None:
        raise StoreError("a replay writes local stores only: give a directory")
    lock = Lock(tables.local)
    if not lock.try_acquire():
        raise StoreError(f"{lock.holder()} is writing to the store {tables.local}")
    try:
        if tables.open(tables.envelope) is not None:
            raise StoreError(f"the store {tables.local} is not empty: write into a new "
                             "directory")
        writer = Writer(tables, State(stream, tuple(subjects), rules, 0, created=created), None)
        for raw in batches:
            if not len(raw):
                continue
            lo, first, hi = writer.state.last_seq + 1, int(raw.seq[0]), int(raw.seq[-1])
            gaps = None
            if first > lo and writer.state.last_seq == 0:
                gaps = pl.DataFrame({"first_seq": [lo], "last_seq": [first - 1],
                                     "messages": [first - lo], "reason": ["not replayed"]},
                                    schema=GAP_SCHEMA)
            writer.append(raw, lo, hi, gaps)
        return writer.result(began)
    finally:
        lock.release()


# -- an old store (Parquet segments + checkpoint.json) converted -------------------------
def upgrade_if_old(tables: Tables, *, wait: bool = True) -> bool:
    """Convert a store written by eventkit 0.1 (``checkpoint.json``) into Delta tables.

    With ``wait`` the caller holds the store's lock; without, the conversion
    takes the lock, or leaves it to the next writer if another holds it.
    Returns whether a conversion ran. Safe against a kill at any moment: the
    old files are removed only after the envelope commit that records the
    same last sequence and event count.
    """
    if tables.local is None or not (tables.local / "checkpoint.json").is_file():
        return False
    if wait:
        return _upgrade(tables)
    lock = Lock(tables.local, create=False)
    try:
        if not lock.try_acquire():
            return False
    except (OSError, StoreError):
        return False
    try:
        return _upgrade(tables)
    finally:
        lock.release()


def _upgrade(tables: Tables) -> bool:
    from eventkit.store.upgrade import convert

    assert tables.local is not None
    return convert(tables)
