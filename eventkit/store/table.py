"""A store's Delta Lake tables, and the state each envelope commit records.

A store is a directory (or an object-store URL) of Delta tables::

    DIR/
      envelope/            one row per event: seq, subject, time, time_ns, type, key,
                           event_time, event_time_ns, headers, data, error
      types/<type>/        one table per event type: the envelope's head, then its fields
      gaps/                sequences the stream no longer had when synced, and why
      misfits/             payload values that did not fit their column (kept raw in envelope)
      checksums.jsonl      SHA-256 of each data file as written (local stores)
      .lock                held while a sync or a compaction writes (local stores)

The **envelope table is the truth**: each sync batch is one commit of it
that carries the stream's last sequence twice, as Delta's application
transaction (``txn``, app id = the stream) and in the commit's metadata with
the rest of the store's state (stream, subjects, rules, counts). The type,
gaps and misfits tables are written *before* that commit; rows of theirs past
the envelope's last sequence (a sync killed in between) are invisible to
readers, which read only up to it, and are deleted by the next writer before
it writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from eventkit.envelope import ENVELOPE_SCHEMA, Rules
from eventkit.exceptions import StoreError
from eventkit.store._disk import GAP_SCHEMA, MISFIT_SCHEMA, from_disk, to_disk, type_dir

__all__ = ["FORMAT", "State", "Tables"]

FORMAT = 2
META = "eventkit"  #: the commit-metadata key of the store's state
#: How delta-rs says the disk is full (ENOSPC, EDQUOT, EFBIG: a file-size limit).
_FULL = ("No space", "os error 28", "quota", "os error 122", "File too large", "os error 27")
_LOG_ENTRY = re.compile(r"^\d{20}\.(json|checkpoint\.parquet)$")
# the raw payloads are unique: no dictionary attempt, no min/max (a reader never filters on them).
# Dictionaries only where few values repeat (type, subject): on keys, ids and numbers the
# attempt took 40% of a sync's Parquet time and zstd alone made smaller files.
_RAW = ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
_FEW = ColumnProperties(dictionary_enabled=True)
# seq and the times grow along the stream: delta-encoded they take a few bits a row, so
# zstd has far less to do (the envelope's Parquet written 12% faster and 9% smaller)
_GROWING = ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED")
_WRITER = WriterProperties(compression="ZSTD", max_row_group_size=64 * 1024,
                           default_column_properties=ColumnProperties(dictionary_enabled=False),
                           column_properties={"data": _RAW, "headers": _RAW, "type": _FEW,
                                              "subject": _FEW,
                                              **dict.fromkeys(("seq", "time", "time_ns",
                                                               "event_time", "event_time_ns"),
                                                              _GROWING)})
_CREATE = {"delta.logRetentionDuration": "interval 3650 days"}  # keep history for versions()


@dataclass(frozen=True, slots=True)
class State:
    """What a store holds, as its last envelope commit records it.

    ``last_seq`` is the last stream sequence the store has taken into
    account: every message of the stream up to it (matching the subjects) is
    in the store, or recorded as a gap.

    Examples
    --------
    >>> s = State("RIDES", (), Rules(), 0).advanced(3, events=2, types={"a": 2}, gaps=1)
    >>> s.last_seq, s.events, s.types, s.gaps
    (3, 2, {'a': 2}, 1)
    >>> State.from_json(s.to_json()) == s
    True
    """

    stream: str
    subjects: tuple[str, ...]
    rules: Rules
    last_seq: int
    events: int = 0
    gaps: int = 0
    misfits: int = 0
    types: dict[str, int] = field(default_factory=dict)
    created: str | None = None  #: when the stream was created (tells a recreated one apart)
    version: int = -1           #: the envelope table's version that recorded it

    def advanced(self, last_seq: int, *, events: int = 0, types: Mapping[str, int] = {},
                 gaps: int = 0, misfits: int = 0) -> State:
        merged = dict(self.types)
        for name, n in types.items():
            merged[name] = merged.get(name, 0) + n
        return dataclasses.replace(self, last_seq=max(last_seq, self.last_seq),
                                   events=self.events + events, gaps=self.gaps + gaps,
                                   misfits=self.misfits + misfits, types=merged)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "stream": self.stream, "subjects": list(self.subjects),
            "rules": {name: ",".join(map(str, getattr(self.rules, name)))
                      for name in ("type", "key", "event_time")},
            "stream_created": self.created, "last_seq": self.last_seq, "events": self.events,
            "gaps": self.gaps, "misfits": self.misfits, "types": self.types,
        })

    @classmethod
    def from_json(cls, text: str, version: int = -1, where: str = "the store") -> State:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise StoreError(f"{where} has format {data.get('format')!r}; this eventkit "
                                 f"reads format {FORMAT}: upgrade eventkit")
            return cls(data["stream"], tuple(data["subjects"]), Rules(**data["rules"]),
                       int(data["last_seq"]), int(data["events"]), int(data["gaps"]),
                       int(data.get("misfits", 0)),
                       {str(k): int(v) for k, v in data["types"].items()},
                       data.get("stream_created"), version)
        except StoreError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"{where}: the state in its last envelope commit is not "
                             f"readable ({exc}); the log was edited or damaged: restore the "
                             "_delta_log from a backup, or sync into a new directory") from None


class Tables:
    """The Delta tables under one root: a local directory or an object-store URL."""

    def __init__(self, root: str | os.PathLike[str],
                 storage_options: Mapping[str, str] | None = None) -> None:
        text = os.fspath(root)
        self.remote = "://" in text and not text.startswith("file://")
        self.local = None if self.remote else Path(text.removeprefix("file://")).expanduser()
        self.root = text.rstrip("/") if self.remote else str(self.local)
        self.options = _safe_commits(text, dict(storage_options or {})) or None

    def uri(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @property
    def envelope(self) -> str:
        return self.uri("envelope")

    def of_type(self, name: str) -> str:
        return self.uri("types", type_dir(name))

    @property
    def gaps(self) -> str:
        return self.uri("gaps")

    @property
    def misfits(self) -> str:
        return self.uri("misfits")

    # -- opening -----------------------------------------------------------
    def open(self, uri: str, version: int | None = None) -> DeltaTable | None:
        """The table at ``uri`` (None if there is none yet); damage is a StoreError."""
        if self.local is not None and self.local.exists() and not self.local.is_dir():
            raise StoreError(f"the store {self.local} is a file, not a directory: give the "
                             "store a directory of its own")
        for attempt in range(2):
            try:
                return DeltaTable(uri, version=version, storage_options=self.options)
            except TableNotFoundError:
                log = Path(uri) / "_delta_log"
                if self.local is None or not log.is_dir() or not any(
                        _LOG_ENTRY.match(p.name) for p in log.iterdir()):
                    return None  # no table, or its first commit is being written
                if attempt:  # a first entry written while we looked is read the second time
                    raise self.damaged(uri, "its log has no readable first entry") from None
            except (DeltaError, OSError, ValueError) as exc:
                if version is not None and "version" in str(exc).lower():
                    raise StoreError(f"the store {self.root} has no version {version} "
                                     f"({exc})") from None
                raise self.damaged(uri, str(exc)) from None
        return None

    def damaged(self, uri: str, why: str) -> StoreError:
        return StoreError(
            f"the Delta table {uri} of the store cannot be read: {why}. A _delta_log entry "
            "or a data file is missing or damaged: restore it from a backup; or move the "
            "store aside and sync into a new directory (the stream has the events it "
            "still keeps)")

    def state(self, table: DeltaTable | None = None, version: int | None = None
              ) -> State | None:
        """The state the envelope's latest (or ``version``'s) eventkit commit recorded."""
        if version is not None:  # delta-rs numbers history wrongly on a table loaded at a
            if self.open(self.envelope, version) is None:  # version: ask the latest one
                return None
            table = None
        table = table if table is not None else self.open(self.envelope)
        if table is None:
            return None
        at = table.version() if version is None else version
        for limit in (1, 64, None):  # newest first; maintenance commits carry no state
            try:
                history = table.history(limit)
            except (DeltaError, OSError) as exc:
                raise self.damaged(self.envelope, str(exc)) from None
            for commit in history:
                v = int(commit.get("version", at))
                text = commit.get(META)
                if text and v <= at:  # history is the table's, whatever version was loaded
                    return State.from_json(text, v, self.root)
        raise StoreError(f"{self.envelope} is a Delta table that no eventkit sync wrote "
                         "(no eventkit state in its commits): sync into another directory")

    # -- reading -----------------------------------------------------------
    def files(self, table: DeltaTable) -> tuple[list[str], bool]:
        """The table's data files ordered by their first ``seq``; and whether they overlap."""
        frame = add_actions(table)
        if not frame.height:
            return [], False
        key = "min.seq" if "min.seq" in frame.columns else (
            "min.first_seq" if "min.first_seq" in frame.columns else None)
        top = key.replace("min.", "max.") if key else None
        if key is not None and top is not None:
            frame = frame.sort(key, nulls_last=True)
            overlap = bool((frame[key].shift(-1) <= frame[top]).any())
        else:
            overlap = True
        base = table.table_uri.rstrip("/")
        paths = [p if "://" in p else f"{base}/{p}" for p in frame["path"].to_list()]
        if self.local is not None:
            paths = [p.removeprefix("file://") for p in paths]
            self._check_sizes(table, paths, frame["size_bytes"].to_list())
        return paths, overlap

    def _check_sizes(self, table: DeltaTable, paths: list[str], sizes: list[int]) -> None:
        for path, size in zip(paths, sizes, strict=True):
            try:
                actual = os.stat(path).st_size
            except FileNotFoundError:
                raise StoreError(
                    f"data file {path} of the store is missing (the table {table.table_uri} "
                    "lists it): restore it from a backup, or move the store aside and sync "
                    "into a new directory") from None
            if actual != size:
                raise StoreError(
                    f"data file {path} of the store is damaged: {actual:,} bytes where its "
                    f"commit recorded {size:,} (truncated or overwritten). Restore it from a "
                    "backup, or move the store aside and sync into a new directory")

    def scan(self, uri: str, schema: Mapping[str, pl.DataType], upto: int | None,
             *, version: int | None = None, seq: str = "seq",
             where: Sequence[pl.Expr] = ()) -> pl.LazyFrame:
        """The table's rows (in ``seq`` order, up to ``upto``), in memory types.

        ``where`` filters the rows in their disk types (``seq``, ``*_ns``
        integers) before they are converted, so the Parquet reader applies
        them as it reads.
        """
        table = self.open(uri, version)
        if table is None:
            return pl.LazyFrame(schema=dict(schema))
        disk = _polars_schema(table)
        paths, overlap = self.files(table)
        if not paths:
            return from_disk(pl.LazyFrame(schema=disk), disk)
        frame = pl.scan_parquet(paths, schema=disk, missing_columns="insert",
                                extra_columns="ignore", hive_partitioning=False,
                                storage_options=self.options)
        if upto is not None:
            frame = frame.filter(pl.col(seq) <= upto)
        if where:
            frame = frame.filter(*where)
        if overlap:
            frame = frame.sort(seq)
        return from_disk(frame, disk)

    # -- writing -----------------------------------------------------------
    def append(self, target: str | DeltaTable, frame: pl.DataFrame, stream: str,
               last_seq: int, state: State | None = None, *, disk: bool = False) -> DeltaTable:
        """One commit of ``frame`` carrying ``last_seq`` as its ``txn``.

        ``frame`` is in memory types, or with ``disk`` already in disk types.
        """
        meta = {META: state.to_json()} if state is not None else None
        props = CommitProperties(
            app_transactions=[Transaction(app_id=stream, version=last_seq)],
            custom_metadata=meta)
        # one record batch: delta-rs then keeps its row order (several may interleave)
        data = (frame if disk else to_disk(frame)).rechunk().to_arrow()
        try:
            write_deltalake(target, data, mode="append", schema_mode="merge",
                            writer_properties=_WRITER, commit_properties=props,
                            configuration=_CREATE if isinstance(target, str) else None,
                            storage_options=self.options if isinstance(target, str) else None)
        except OSError as exc:
            raise _disk_error(exc, self.root) from None
        except CommitFailedError as exc:
            if "oncurrent" not in str(exc):
                raise StoreError(f"writing to the store {self.root} failed: {exc}") from None
            raise StoreError(
                f"another writer committed to the store {self.root} while this one wrote "
                f"({exc}): nothing of this batch was kept. Run one sync (or follow, or "
                "compact) at a time on a store; a sync run again continues after what "
                "was committed") from None
        except DeltaError as exc:
            if any(sign in str(exc) for sign in _FULL):
                raise _disk_error(exc, self.root) from None
            raise StoreError(f"writing to the store {self.root} failed: {exc}") from None
        if isinstance(target, DeltaTable):  # a write brings the table object up to date
            return target
        table = self.open(target)
        assert table is not None
        return table

    def trim(self, table: DeltaTable, stream: str, last_seq: int, seq: str = "seq") -> None:
        """Delete rows past ``last_seq`` (written by a sync killed before its envelope commit)."""
        done = table.transaction_version(stream)
        if done is None or done <= last_seq:
            return
        table.delete(f"{seq} > {last_seq}", commit_properties=CommitProperties(
            app_transactions=[Transaction(app_id=stream, version=last_seq)]))
        table.update_incremental()


def _polars_schema(table: DeltaTable) -> dict[str, pl.DataType]:
    # not Schema.empty_table(): it imports pandas (a second's pause in each sync's first batch)
    empty = pa.Table.from_batches([], schema=pa.schema(table.schema().to_arrow()))
    frame = pl.from_arrow(empty)
    assert isinstance(frame, pl.DataFrame)
    return dict(frame.schema)


def table_schema(table: DeltaTable | None) -> dict[str, pl.DataType]:
    """A table's disk schema as polars types (empty for no table)."""
    return _polars_schema(table) if table is not None else {}


def _safe_commits(root: str, options: dict[str, str]) -> dict[str, str]:
    """S3 storage options that make a commit fail when another writer took its version.

    Without a locking provider or unsafe renames named, each ``_delta_log``
    entry is put only if absent (``If-None-Match``, which S3 and most
    S3-compatible servers honour): two processes writing one store on S3 then
    cannot both commit a version, and the second gets a ``StoreError``.
    """
    if not root.startswith(("s3://", "s3a://")):
        return options
    said = {k.upper() for k in options}
    if said & {"AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_S3_LOCKING_PROVIDER", "AWS_CONDITIONAL_PUT",
               "CONDITIONAL_PUT"}:
        return options
    return {**options, "AWS_CONDITIONAL_PUT": "etag"}


def _disk_error(exc: BaseException, root: str) -> StoreError:
    return StoreError(f"writing to the store {root} failed: {exc}. Free space (or quota) on "
                      "its disk and sync again: nothing committed was lost, the sync resumes "
                      "after the last committed batch")


ENVELOPE = ENVELOPE_SCHEMA
GAPS = GAP_SCHEMA
MISFITS = MISFIT_SCHEMA


def add_actions(table: DeltaTable) -> pl.DataFrame:
    """The table's live data files, a row each (path, size, per-column statistics).

    Straight from delta-rs' Arrow stream into polars: ``pa.table()`` on it
    would import pandas first (a third of a second, once per process).
    """
    return pl.DataFrame(table.get_add_actions(flatten=True))
