"""A local event store: Parquet segments and a checkpoint, synced incrementally from a stream.

A store is a directory of plain Parquet files that polars, DuckDB and Spark
read as they are, and a checkpoint that says which of them hold what::

    DIR/
      checkpoint.json                            stream, subjects, rules, last sequence, segments
      envelope/part-<lo>-<hi>.parquet            the envelope of the events of stream seqs lo..hi
      types/<type>/part-<lo>-<hi>.parquet        one event type: seq, subject, time, type, key,
                                                 event_time, then its payload fields
      gaps/part-<lo>-<hi>.parquet                seqs in lo..hi the stream did not have, and why
      .lock                                      held while a sync or a compaction writes

``lo`` and ``hi`` are zero-padded to 20 digits, so names sort by sequence.
Each sync batch becomes one *segment*: its files are written under temporary
names, flushed to disk and renamed, and only then is the checkpoint, which
lists the segments, replaced atomically (temporary file, fsync, rename). A
process killed at any moment leaves either the old checkpoint or the new
one; files that no checkpoint lists are removed the next time the store is
opened for writing, so a re-sync never stores an event twice, and readers,
which go by the checkpoint, never see a half-written batch.

Sequences are the only positions: a sync resumes after the last sequence the
checkpoint holds, and duplicates are dropped by sequence (after a server crash
a consumer may see a message again with a delivery count of 1, so no
redelivery flag is trusted). A sequence the stream no longer has (deleted,
purged, dropped by a retention limit) is recorded as a gap with its reason.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import json
import os
import re
import string
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import polars as pl
from tqdm.auto import tqdm

from eventkit import query
from eventkit.codec import Hints, decode
from eventkit.envelope import ENVELOPE_SCHEMA, Rules
from eventkit.exceptions import (
    AuthenticationError,
    ConnectionFailedError,
    EventkitError,
    ReadInterruptedError,
    StoreError,
)
from eventkit.source import _loop
from eventkit.source.jetstream import StreamInfo

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.source.jetstream import JetStream, RawBatch

try:  # POSIX; elsewhere a store has no cross-process lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "GAP_SCHEMA",
    "Checkpoint",
    "Follower",
    "IntegrityReport",
    "Segment",
    "Store",
    "SyncResult",
]

FORMAT = 1
CHECKPOINT = "checkpoint.json"

#: Why a sequence is missing from a store.
DELETED = "deleted"                # removed from the stream one by one (or by a per-subject limit)
DROPPED = "purged or expired"      # below the stream's first sequence: a purge or a retention limit
MISSING = "missing"                # the stream holds it and the store does not (re-sync)
UNKNOWN = "unknown"                # absent when synced, and the stream did not say why

GAP_SCHEMA: dict[str, pl.DataType] = {
    "first_seq": pl.UInt64(), "last_seq": pl.UInt64(), "messages": pl.UInt64(),
    "reason": pl.String(),
}
_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]
_PART = re.compile(r"^part-(\d{20})-(\d{20})\.parquet$")
_TEMP = re.compile(r"^\.(part-\d{20}-\d{20}\.parquet|checkpoint\.json)\.tmp$")
_SAFE = frozenset(string.ascii_letters + string.digits + "-_")

# Decoding and writing run here, one batch after another, off the I/O loop.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventkit-store")


# -- the checkpoint (pure) ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Segment:
    """The files of one sync batch: stream seqs ``lo..hi``, with per-type event counts.

    ``gaps`` counts the sequences in ``lo..hi`` the stream did not have.
    """

    lo: int
    hi: int
    events: int
    types: dict[str, int] = field(default_factory=dict)
    gaps: int = 0

    @property
    def name(self) -> str:
        """The file name of each of the segment's parts.

        Examples
        --------
        >>> Segment(1, 50_000, 50_000).name
        'part-00000000000000000001-00000000000000050000.parquet'
        """
        return f"part-{self.lo:020d}-{self.hi:020d}.parquet"

    def to_dict(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "events": self.events, "types": self.types,
                "gaps": self.gaps}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(int(data["lo"]), int(data["hi"]), int(data["events"]),
                   {str(k): int(v) for k, v in (data.get("types") or {}).items()},
                   int(data.get("gaps", 0)))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a store holds: the stream, the subjects and rules, and its segments.

    ``last_seq`` is the last stream sequence the store has taken into
    account: every message of the stream up to it (matching the subjects) is
    in the store, or recorded as a gap.

    Examples
    --------
    >>> cp = Checkpoint("RIDES", (), Rules(), 0).add(Segment(1, 3, 2, {"a": 2}, gaps=1))
    >>> cp.last_seq, cp.events, cp.types, cp.gaps
    (3, 2, {'a': 2}, 1)
    >>> Checkpoint.from_json(cp.to_json()) == cp
    True
    """

    stream: str
    subjects: tuple[str, ...]
    rules: Rules
    last_seq: int
    segments: tuple[Segment, ...] = ()
    created: str | None = None  #: when the stream was created (tells a recreated one apart)

    @property
    def events(self) -> int:
        return sum(s.events for s in self.segments)

    @property
    def gaps(self) -> int:
        """Sequences recorded as missing from the stream."""
        return sum(s.gaps for s in self.segments)

    @property
    def types(self) -> dict[str, int]:
        """Events per type, in order of first appearance."""
        out: dict[str, int] = {}
        for seg in self.segments:
            for name, n in seg.types.items():
                out[name] = out.get(name, 0) + n
        return out

    def add(self, segment: Segment) -> Checkpoint:
        """This checkpoint with one more segment, which must start right after it."""
        if segment.lo != self.last_seq + 1 or segment.hi < segment.lo:
            raise StoreError(
                f"segment {segment.lo}..{segment.hi} does not follow sequence {self.last_seq} "
                f"of the store of stream {self.stream!r}: nothing was written"
            )
        return replace(self, last_seq=segment.hi, segments=(*self.segments, segment))

    def advance(self, last_seq: int) -> Checkpoint:
        """This checkpoint moved to ``last_seq``, nothing new (no message matched the filter)."""
        return replace(self, last_seq=max(last_seq, self.last_seq))

    def files(self) -> list[Path]:
        """Every file the checkpoint lists, relative to the store."""
        out: list[Path] = []
        for seg in self.segments:
            if seg.events:
                out.append(Path("envelope", seg.name))
            out += [Path("types", type_dir(name), seg.name) for name in seg.types]
            if seg.gaps:
                out.append(Path("gaps", seg.name))
        return out

    def to_json(self) -> str:
        stored = [s for s in self.segments if s.events]
        return json.dumps({
            "format": FORMAT,
            "stream": self.stream,
            "stream_created": self.created,
            "subjects": list(self.subjects),
            "rules": {name: ",".join(map(str, getattr(self.rules, name)))
                      for name in ("type", "key", "event_time")},
            "last_seq": self.last_seq,
            # for readers of this file; recomputed from the segments when loaded
            "first_seq": stored[0].lo if stored else None,
            "events": self.events,
            "gaps": self.gaps,
            "types": self.types,
            "segments": [s.to_dict() for s in self.segments],
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        }, indent=1)

    @classmethod
    def from_json(cls, text: str, where: str = "checkpoint") -> Checkpoint:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise StoreError(
                    f"{where} has format {data.get('format')!r}; this eventkit reads format "
                    f"{FORMAT}: upgrade eventkit, or sync into a new directory"
                )
            rules = Rules(**data["rules"])
            return cls(data["stream"], tuple(data["subjects"]), rules, int(data["last_seq"]),
                       tuple(Segment.from_dict(s) for s in data["segments"]),
                       data.get("stream_created"))
        except StoreError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"{where} is not a readable eventkit checkpoint ({exc}); "
                "it was edited or damaged: move the store aside and sync again"
            ) from None


def type_dir(name: str) -> str:
    """The directory of an event type: safe on every file system, one-to-one.

    Letters, digits, ``-`` and ``_`` stay; anything else (and a leading ``_``,
    which Spark would skip) becomes ``%XX`` of its UTF-8 bytes.

    Examples
    --------
    >>> type_dir("trip_completed"), type_dir("order.placed/v2"), type_dir("_x"), type_dir("")
    ('trip_completed', 'order%2Eplaced%2Fv2', '%5Fx', '%')
    """
    out = []
    for i, ch in enumerate(name):
        if ch in _SAFE and not (i == 0 and ch == "_"):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out) or "%"


# -- gaps (pure) -----------------------------------------------------------------
def missing_ranges(seqs: pl.Series, lo: int, hi: int) -> list[tuple[int, int]]:
    """The runs of ``lo..hi`` that the sorted, unique ``seqs`` do not hold.

    Examples
    --------
    >>> missing_ranges(pl.Series([3, 4, 7], dtype=pl.UInt64), 1, 9)
    [(1, 2), (5, 6), (8, 9)]
    >>> missing_ranges(pl.Series([], dtype=pl.UInt64), 5, 6)
    [(5, 6)]
    """
    if hi < lo:
        return []
    s = seqs.cast(pl.Int64)
    s = s.filter((s >= lo) & (s <= hi))
    if s.is_empty():
        return [(lo, hi)]
    frame = pl.DataFrame({"s": s}).with_columns(prev=pl.col("s").shift(1, fill_value=lo - 1))
    runs = frame.filter(pl.col("s") - pl.col("prev") > 1)
    out = list(zip((runs["prev"] + 1).to_list(), (runs["s"] - 1).to_list(), strict=True))
    if int(s[-1]) < hi:
        out.append((int(s[-1]) + 1, hi))
    return out


def classify_gaps(ranges: Iterable[tuple[int, int]], first_seq: int,
                  deleted: Sequence[int]) -> pl.DataFrame:
    """Why each missing sequence is missing, as runs: ``first_seq, last_seq, messages, reason``.

    ``first_seq`` and ``deleted`` (sorted) are the stream's: a sequence below
    its first one was purged or expired, one in its deleted list was deleted,
    and the stream says nothing about any other.

    Examples
    --------
    >>> classify_gaps([(1, 4), (7, 9)], first_seq=3, deleted=[8, 9]).rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [(1, 2, 2, 'purged or expired'), (3, 4, 2, 'unknown'), (7, 7, 1, 'unknown'),
     (8, 9, 2, 'deleted')]
    """
    rows: list[tuple[int, int, int, str]] = []

    def emit(a: int, b: int, reason: str) -> None:
        if rows and rows[-1][3] == reason and rows[-1][1] + 1 == a:
            a = rows.pop()[0]
        rows.append((a, b, b - a + 1, reason))

    for lo, hi in ranges:
        if lo < first_seq:
            emit(lo, min(hi, first_seq - 1), DROPPED)
            lo = first_seq
        cursor = lo
        for d in deleted[bisect.bisect_left(deleted, lo):bisect.bisect_right(deleted, hi)]:
            if d > cursor:
                emit(cursor, d - 1, UNKNOWN)
            emit(d, d, DELETED)
            cursor = d + 1
        if cursor <= hi:
            emit(cursor, hi, UNKNOWN)
    return pl.DataFrame(rows, schema=GAP_SCHEMA, orient="row")


def subtract_ranges(a: Sequence[tuple[int, int]],
                    b: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The runs of ``a`` not covered by ``b`` (both sorted, non-overlapping, inclusive).

    Examples
    --------
    >>> subtract_ranges([(1, 10), (20, 25)], [(3, 4), (9, 21)])
    [(1, 2), (5, 8), (22, 25)]
    """
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k, cursor = j, lo
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0] - 1))
            cursor = max(cursor, b[k][1] + 1)
            k += 1
        if cursor <= hi:
            out.append((cursor, hi))
    return out


# -- what the integrity report is made of (pure) ---------------------------------
def late_events(envelope: pl.LazyFrame) -> pl.LazyFrame:
    """Events whose ``event_time`` is earlier than that of an event of the same entity before them.

    "Before" is stream order (``seq``). ``latest_before`` is the latest event
    time of the entity so far, ``late_by`` how much earlier this event is.

    Examples
    --------
    >>> t = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> env = pl.LazyFrame({"seq": [1, 2, 3, 4], "key": ["a", "a", "b", "a"],
    ...                     "type": ["x", "y", "x", "z"], "event_time": [t(5), t(9), t(1), t(7)]})
    >>> late_events(env).select("seq", "key", "late_by").collect().rows()
    [(4, 'a', datetime.timedelta(seconds=120))]
    """
    return (
        query.late_events(envelope.select("seq", "key", "type", "event_time"))
        .rename({"seen_event_time": "latest_before", "lateness": "late_by"})
        .sort("seq")
    )


def duplicate_msg_ids(envelope: pl.LazyFrame) -> pl.LazyFrame:
    """``Nats-Msg-Id`` values carried by more than one event: ``msg_id, events, seqs``.

    Examples
    --------
    >>> env = pl.LazyFrame({"seq": [1, 2, 3], "headers": ['{"Nats-Msg-Id": "p1"}', None,
    ...                                                    '{"Nats-Msg-Id": "p1"}']})
    >>> duplicate_msg_ids(env).collect().rows()
    [('p1', 2, [1, 3])]
    """
    return (
        envelope.select("seq", "headers")
        .filter(pl.col("headers").is_not_null())
        .select("seq", msg_id=pl.col("headers").str.json_path_match("$['Nats-Msg-Id']"))
        .filter(pl.col("msg_id").is_not_null())
        .group_by("msg_id").agg(events=pl.len().cast(pl.UInt64), seqs=pl.col("seq").sort())
        .filter(pl.col("events") > 1)
        .sort(pl.col("seqs").list.first())
    )


# -- results ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did."""

    stream: str
    events: int                 #: events stored by this sync
    first_seq: int | None       #: first sequence it stored
    last_seq: int               #: the store's last sequence after it
    gaps: int                   #: sequences it found missing from the stream
    seconds: float

    def __str__(self) -> str:
        if not self.events and not self.gaps:
            return f"{self.stream}: nothing new after seq {self.last_seq:,}"
        gaps = f", {self.gaps:,} missing from the stream (recorded as gaps)" if self.gaps else ""
        where = f" (seq {self.first_seq:,}..)" if self.first_seq is not None else ""
        return (f"{self.stream}: stored {self.events:,} new events{where}{gaps}; "
                f"synced to seq {self.last_seq:,} in {self.seconds:.2f} s")


@dataclass(frozen=True)
class IntegrityReport:
    """The store reconciled with its stream, and what is odd about the events it holds.

    The ``stream_*`` numbers and the reconciliation are None when the report
    was made without a connection.
    """

    stream: str
    subjects: tuple[str, ...]
    checked_at: dt.datetime
    synced_to: int                 #: the checkpoint's last sequence
    store_events: int
    store_first_seq: int | None
    store_last_seq: int | None
    stream_first_seq: int | None
    stream_last_seq: int | None
    stream_messages: int | None
    stream_deleted: int | None
    expected: int | None           #: stream messages up to ``synced_to`` (matching the subjects)
    matched: int | None            #: of those, how many the store holds
    missing: int | None            #: ``expected - matched``: held by the stream, not the store
    kept: int | None               #: store events the stream no longer has
    behind: int | None             #: stream messages after ``synced_to``, not synced yet
    gaps: pl.DataFrame             #: ``first_seq, last_seq, messages, reason``
    duplicates: pl.DataFrame       #: ``msg_id, events, seqs``
    malformed: pl.DataFrame        #: ``seq, subject, type, key, error``
    late: pl.DataFrame             #: ``seq, key, type, event_time, latest_before, late_by``
    per_type: pl.DataFrame         #: ``type, events``
    gaps_tracked: bool = True      #: False for a store of some subjects only

    @property
    def ok(self) -> bool:
        """True when the store holds every message the stream has up to ``synced_to``."""
        return self.missing in (0, None) and not (self.gaps["reason"] == MISSING).any()

    def __str__(self) -> str:
        lines = [f"store of stream {self.stream!r}"
                 + (f" (subjects {', '.join(self.subjects)})" if self.subjects else "")
                 + f", checked {self.checked_at:%Y-%m-%d %H:%M:%S} UTC"]
        held = (f"seq {self.store_first_seq:,}..{self.store_last_seq:,}"
                if self.store_first_seq is not None else "nothing")
        lines.append(f"  store:   {self.store_events:,} events, {held}, "
                     f"synced to seq {self.synced_to:,}")
        if self.stream_messages is not None:
            lines.append(f"  stream:  {self.stream_messages:,} messages, seq "
                         f"{self.stream_first_seq:,}..{self.stream_last_seq:,}, "
                         f"{self.stream_deleted:,} deleted")
            lines.append(f"  up to seq {self.synced_to:,}: the stream holds {self.expected:,}, "
                         f"the store {self.matched:,} of them, missing {self.missing:,}; "
                         f"{self.kept:,} kept that the stream dropped; "
                         f"{self.behind:,} newer not synced yet")
        else:
            lines.append("  stream:  not checked (no connection)")
        if self.gaps_tracked:
            by = self.gaps.group_by("reason", maintain_order=True).agg(pl.col("messages").sum())
            detail = ", ".join(f"{n:,} {r}" for r, n in by.iter_rows()) or "none"
            lines.append(f"  gaps:    {self.gaps.height:,} runs ({detail})")
        else:
            lines.append("  gaps:    not tracked for a store of some subjects only")
        lines.append(f"  duplicate Nats-Msg-Id: {self.duplicates.height:,}"
                     f"  malformed: {self.malformed.height:,}  late: {self.late.height:,}"
                     + (f" (up to {self.late['late_by'].max()!s})" if self.late.height else ""))
        width = max((len(t or "(none)") for t in self.per_type["type"]), default=4)
        for name, n in self.per_type.iter_rows():
            lines.append(f"    {name or '(none)':<{width}}  {n:>10,}")
        return "\n".join(lines)


# -- the store -----------------------------------------------------------------
class Store:
    """A local, incrementally synced copy of a stream, as Parquet files.

    Parameters
    ----------
    path
        The store's directory (created by the first sync).

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

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._conn: Connection | None = None
        if (self.path / CHECKPOINT).exists():
            # tidy what a killed writer left, unless one is writing now
            with contextlib.suppress(OSError), _Lock(self.path, create=False) as lock:
                if lock.acquired:
                    self._recover()

    # -- reading -----------------------------------------------------------
    def checkpoint(self) -> Checkpoint | None:
        """The checkpoint as it is on disk now (None before the first sync)."""
        path = self.path / CHECKPOINT
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from None
        return Checkpoint.from_json(text, str(path))

    @property
    def stream(self) -> str | None:
        cp = self.checkpoint()
        return cp.stream if cp else None

    @property
    def last_seq(self) -> int:
        """The last stream sequence the store has taken into account (0 when empty)."""
        cp = self.checkpoint()
        return cp.last_seq if cp else 0

    @property
    def types(self) -> dict[str, int]:
        """Events per type, in order of first appearance."""
        cp = self.checkpoint()
        return cp.types if cp else {}

    def __len__(self) -> int:
        cp = self.checkpoint()
        return cp.events if cp else 0

    def scan(self) -> pl.LazyFrame:
        """The envelope of every stored event, ordered by ``seq``, as a polars LazyFrame.

        The scan reads the files the checkpoint lists when it is called, so
        it never sees a batch being written; call it again to see later syncs.
        """
        cp = self.checkpoint()
        files = [str(self.path / "envelope" / s.name) for s in (cp.segments if cp else ())
                 if s.events]
        if not files:
            return pl.LazyFrame(schema=ENVELOPE_SCHEMA)
        return pl.scan_parquet(files, hive_partitioning=False, schema=ENVELOPE_SCHEMA)

    def of_type(self, event_type: str) -> pl.LazyFrame:
        """One event type: ``seq, subject, time, type, key, event_time``, then its payload fields.

        A type's fields are the union over the batches it was stored in
        (a field added by a newer version of the event is null in the older
        rows); numbers widen to a common type, other disagreements become text.
        """
        cp = self.checkpoint()
        segments = [s for s in (cp.segments if cp else ()) if event_type in s.types]
        if not segments:
            known = ", ".join(cp.types) if cp and cp.types else "none"
            raise StoreError(f"no events of type {event_type!r} in the store {self.path}; "
                             f"types present: {known}")
        folder = self.path / "types" / type_dir(event_type)
        return _union_scan([folder / s.name for s in segments])

    def gaps(self) -> pl.DataFrame:
        """The sequences recorded as missing from the stream, and why (as runs)."""
        cp = self.checkpoint()
        files = [str(self.path / "gaps" / s.name) for s in (cp.segments if cp else ()) if s.gaps]
        if not files:
            return pl.DataFrame(schema=GAP_SCHEMA)
        return pl.read_parquet(files, hive_partitioning=False)

    def __repr__(self) -> str:
        cp = self.checkpoint()
        if cp is None:
            return f"<Store {str(self.path)!r}: empty>"
        return (f"<Store {str(self.path)!r}: stream {cp.stream!r}, {cp.events:,} events, "
                f"synced to seq {cp.last_seq:,}, {len(cp.types)} types>")

    # -- syncing -----------------------------------------------------------
    def sync(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        progress: bool = True, batch: int = 50_000,
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
            Events per segment: memory use is bounded by a few batches, however
            long the stream.

        Returns
        -------
        SyncResult
            How many events were stored, up to which sequence, how long it took.

        Raises
        ------
        StoreError
            The store holds another stream, other subjects or rules, the stream
            was recreated (its last sequence is below the store's), or another
            sync is writing to the store.
        """
        return _loop.run(self.async_sync(conn, stream, subjects=subjects, rules=rules,
                                         progress=progress, batch=batch))

    async def async_sync(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        progress: bool = True, batch: int = 50_000,
    ) -> SyncResult:
        """:meth:`sync` for ``await`` (``async`` alone is a keyword)."""
        return await _on_loop(self._sync(conn, stream, _subjects(subjects), rules, progress,
                                         batch))

    async def _sync(
        self, conn: Connection, stream: str | None, subjects: tuple[str, ...] | None,
        rules: Rules | None, progress: bool, batch: int,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> SyncResult:
        began = time.perf_counter()
        js = conn.jetstream
        loop = asyncio.get_running_loop()
        async with _locked(self.path):
            cp = await loop.run_in_executor(_writer, self._recover)
            name = stream or (cp.stream if cp else None)
            if name is None:
                raise StoreError(f"the store {self.path} is empty: name the stream to sync")
            answer = await js.api(f"STREAM.INFO.{name}", stream=name)
            info = StreamInfo.from_api(answer)
            cp = _settle(cp, self.path, name, subjects, rules, info, answer.get("created"))
            self._conn = conn
            if info.last_seq < cp.last_seq or (cp.created and answer.get("created")
                                               and cp.created != answer["created"]):
                raise StoreError(
                    f"stream {name!r} on {js.server} was deleted and created again since the "
                    f"store {self.path} synced it (up to seq {cp.last_seq}; the stream now ends "
                    f"at seq {info.last_seq}). Sync into a new directory (this store keeps the "
                    "old history)"
                )
            writer = _Writer(self.path, cp)
            if info.last_seq == cp.last_seq:
                if not (self.path / CHECKPOINT).exists():
                    await loop.run_in_executor(_writer, writer.commit, cp)
                return writer.result(began)
            stop = info.last_seq
            gaps = None if cp.subjects else _GapFinder(js, name)
            prev = cp.last_seq
            bar = tqdm(total=stop - prev, unit="seq", unit_scale=True, desc=f"syncing {name}",
                       disable=not progress, delay=0.5, leave=False)
            # concurrent futures of the writer thread: a cancelled await (Ctrl-C) must not
            # unlock the store while the thread still writes the batch it started
            pending: list[Future[None]] = []
            stopped = False
            try:
                fetch = cast("AsyncGenerator[RawBatch, None]", js.fetch(
                    name, subjects=cp.subjects, start=prev + 1, end=stop, batch=batch))
                async with contextlib.aclosing(fetch) as batches:
                    async for raw in batches:
                        hi = int(raw.seq[-1])
                        found = await gaps.find(prev, raw.seq) if gaps else None
                        pending.append(_writer.submit(writer.append, raw, prev + 1, hi, found))
                        bar.update(hi - prev)
                        prev = hi
                        while len(pending) > 1:  # one batch written while the next arrives
                            await asyncio.wrap_future(pending[0])
                            pending.pop(0)
                        if should_stop():
                            stopped = True
                            break
                if not stopped and prev < stop:
                    # nothing after prev up to stop: deleted at the end, or no subject matched
                    found = await gaps.tail(prev, stop) if gaps else None
                    pending.append(_writer.submit(writer.append, None, prev + 1, stop, found))
                    bar.update(stop - prev)
                while pending:
                    await asyncio.wrap_future(pending[0])
                    pending.pop(0)
            finally:
                bar.close()
                for queued in pending:
                    queued.cancel()  # not started yet: never will be
                started = [asyncio.wrap_future(f) for f in pending if not f.cancelled()]
                if started:
                    await asyncio.wait(started)
                    for ended in started:  # the error that stops the sync is raised already
                        if not ended.cancelled():
                            ended.exception()
            return writer.result(began)

    def _recover(self) -> Checkpoint | None:
        """Remove files no checkpoint lists (left by a killed writer). Call under the lock."""
        cp = self.checkpoint()
        keep = {self.path / p for p in cp.files()} if cp else set()
        for temp in self.path.glob(".checkpoint.json.tmp"):
            temp.unlink(missing_ok=True)
        for folder in (self.path / "envelope", self.path / "gaps", *(
                (self.path / "types").glob("*") if (self.path / "types").is_dir() else ())):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if (_TEMP.match(entry.name) or (_PART.match(entry.name) and entry not in keep)):
                    entry.unlink(missing_ok=True)
        return cp

    # -- live --------------------------------------------------------------
    def write(self, batches: Iterable[RawBatch], *, stream: str, rules: Rules,
              subjects: Sequence[str] = ()) -> SyncResult:
        """Write batches of messages, in sequence order, into this empty store.

        How a replay rebuilds a store (:meth:`eventkit.Replay.to_store`):
        the same segments and checkpoint as a sync, so the result is a store
        like any other. Sequences before the first batch are recorded as a
        gap ("not replayed").
        """
        began = time.perf_counter()
        with _Lock(self.path) as lock:
            if not lock.acquired:
                raise StoreError(f"{lock.holder()} is writing to the store {self.path}")
            if self.checkpoint() is not None:
                raise StoreError(f"the store {self.path} is not empty: write into a new directory")
            writer = _Writer(self.path, Checkpoint(stream, tuple(subjects), rules, 0))
            for raw in batches:
                if not len(raw):
                    continue
                lo, first, hi = writer.cp.last_seq + 1, int(raw.seq[0]), int(raw.seq[-1])
                gaps = None
                if first > lo and writer.cp.last_seq == 0:
                    gaps = pl.DataFrame({"first_seq": [lo], "last_seq": [first - 1],
                                         "messages": [first - lo], "reason": ["not replayed"]},
                                        schema=GAP_SCHEMA)
                writer.append(raw, lo, hi, gaps)
        return writer.result(began)

    def follow(
        self, conn: Connection, stream: str | None = None, *,
        subjects: str | Sequence[str] | None = None, rules: Rules | None = None,
        interval: float = 1.0, batch: int = 50_000, compact: bool = True,
    ) -> Follower:
        """Keep the store current in the background: sync, wait ``interval`` s, sync again.

        Returns at once with a :class:`Follower`; ``stop()`` ends it. A
        connection that drops or a server that restarts is retried with a
        growing pause (the last error is in ``Follower.error``); a store or
        stream that does not match ends it. With ``compact``, small segments
        (one per short sync) are merged from time to time.
        """
        follower = Follower(self, conn, stream, _subjects(subjects), rules, interval, batch,
                            compact)
        follower._start()
        return follower

    # -- compaction --------------------------------------------------------
    def compact(self, *, target: int = 500_000) -> int:
        """Merge runs of small consecutive segments into segments of up to ``target`` events.

        Safe against a kill at any moment, like a sync. Returns the number of
        segments removed. A lazy scan made before may fail once its files are
        merged away: scan again.
        """
        return _loop.run(self._compact(target))

    async def _compact(self, target: int, below: int | None = None, at_least: int = 0) -> int:
        loop = asyncio.get_running_loop()
        async with _locked(self.path):
            return await loop.run_in_executor(_writer, self._compact_now, target, below,
                                              at_least)

    def _compact_now(self, target: int, below: int | None, at_least: int) -> int:
        cp = self._recover()
        if cp is None:
            return 0
        runs = plan_compaction(cp.segments, target, below)
        if not runs or sum(len(r) for r in runs) < at_least:
            return 0
        writer = _Writer(self.path, cp)
        return writer.merge(runs)

    def small_segments(self, target: int = 500_000, below: int | None = None) -> int:
        """How many segments a :meth:`compact` would merge."""
        cp = self.checkpoint()
        return sum(len(r) for r in plan_compaction(cp.segments, target, below)) if cp else 0

    # -- integrity ---------------------------------------------------------
    def integrity(self, conn: Connection | None = None) -> IntegrityReport:
        """Reconcile the store with its stream and list what is odd about the events.

        Parameters
        ----------
        conn
            A connection to the stream's server; by default the one the last
            sync in this process used, if still open. Without one the report
            holds the store's facts only.

        Returns
        -------
        IntegrityReport
            First/last sequences and counts of both sides; the stream messages
            up to the store's last sequence, how many the store holds, how many
            it misses, keeps beyond the stream's retention, and how many are
            newer; gaps (runs of missing sequences and why); duplicate
            ``Nats-Msg-Id`` values; events that did not decode; events late
            for their entity and by how much; events per type.
        """
        return _loop.run(self.aintegrity(conn))

    async def aintegrity(self, conn: Connection | None = None) -> IntegrityReport:
        conn = conn or self._conn
        stream_facts = None
        cp = self.checkpoint()
        if cp is None:
            raise StoreError(f"the store {self.path} is empty: sync it first")
        if conn is not None and not _is_closed(conn):
            stream_facts = await _on_loop(_stream_facts(conn.jetstream, cp))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._report, cp, stream_facts)

    def _report(self, cp: Checkpoint, facts: _StreamFacts | None) -> IntegrityReport:
        env = self.scan()
        seqs = env.select("seq").collect()["seq"]
        per_type = (env.group_by("type").agg(events=pl.len().cast(pl.UInt64))
                    .sort(["events", "type"], descending=[True, False]).collect())
        malformed = env.filter(pl.col("error").is_not_null()).select(
            "seq", "subject", "type", "key", "error").collect()
        recorded = self.gaps()
        gaps = recorded
        expected = matched = missing = kept = behind = None
        if facts is not None:
            deleted = pl.Series(facts.deleted, dtype=pl.UInt64)
            top = min(cp.last_seq, facts.last_seq)
            in_stream = (seqs >= facts.first_seq) & (seqs <= facts.last_seq)
            if len(deleted):
                in_stream &= ~seqs.is_in(deleted.implode())
            matched = int(in_stream.sum())
            kept = len(seqs) - matched
            if facts.pending_all is None:  # the whole stream: count from the sequences
                span = max(top - facts.first_seq + 1, 0)
                expected = span - int(((deleted >= facts.first_seq) & (deleted <= top)).sum())
                behind = facts.messages - expected
            else:
                behind = facts.pending_after or 0
                expected = facts.pending_all - behind
            missing = expected - matched
        if not cp.subjects:
            holes = missing_ranges(seqs, 1, cp.last_seq)
            known = list(zip(recorded["first_seq"].to_list(), recorded["last_seq"].to_list(),
                             strict=True))
            unexplained = subtract_ranges(holes, known)
            if unexplained:
                if facts is not None:
                    extra = classify_gaps(unexplained, facts.first_seq, facts.deleted)
                    extra = extra.with_columns(reason=pl.when(pl.col("reason") == UNKNOWN)
                                               .then(pl.lit(MISSING))
                                               .otherwise(pl.col("reason")))
                else:
                    extra = pl.DataFrame(
                        [(a, b, b - a + 1, UNKNOWN) for a, b in unexplained],
                        schema=GAP_SCHEMA, orient="row")
                gaps = pl.concat([recorded, extra]).sort("first_seq")
        return IntegrityReport(
            stream=cp.stream, subjects=cp.subjects, checked_at=dt.datetime.now(dt.UTC),
            synced_to=cp.last_seq, store_events=len(seqs),
            store_first_seq=int(seqs[0]) if len(seqs) else None,
            store_last_seq=int(seqs[-1]) if len(seqs) else None,
            stream_first_seq=facts.first_seq if facts else None,
            stream_last_seq=facts.last_seq if facts else None,
            stream_messages=facts.messages if facts else None,
            stream_deleted=len(facts.deleted) if facts else None,
            expected=expected, matched=matched, missing=missing, kept=kept, behind=behind,
            gaps=gaps, duplicates=duplicate_msg_ids(env).collect(), malformed=malformed,
            late=late_events(env).collect(), per_type=per_type,
            gaps_tracked=not cp.subjects,
        )


def plan_compaction(segments: Sequence[Segment], target: int,
                    below: int | None = None) -> list[list[Segment]]:
    """Runs of two or more consecutive segments that together hold at most ``target`` events.

    With ``below``, only segments of fewer events than that take part.

    Examples
    --------
    >>> segs = [Segment(1, 10, 10), Segment(11, 20, 10), Segment(21, 90, 70), Segment(91, 95, 5)]
    >>> [[s.lo for s in run] for run in plan_compaction(segs, 25)]
    [[1, 11]]
    >>> [[s.lo for s in run] for run in plan_compaction(segs, 100, below=20)]
    [[1, 11]]
    """
    runs: list[list[Segment]] = []
    run: list[Segment] = []
    size = 0
    for seg in segments:
        if below is not None and seg.events >= below:
            if len(run) > 1:
                runs.append(run)
            run, size = [], 0
            continue
        if run and size + seg.events <= target:
            run.append(seg)
            size += seg.events
            continue
        if len(run) > 1:
            runs.append(run)
        run, size = [seg], seg.events
    if len(run) > 1:
        runs.append(run)
    return runs


def _union_scan(files: Sequence[Path]) -> pl.LazyFrame:
    """Parquet files whose columns differ, stacked: the union of columns, types widened."""
    if len(files) == 1:
        return pl.scan_parquet(files[0], hive_partitioning=False)
    schemas = [pl.read_parquet_schema(f) for f in files]
    dtypes: dict[str, set[pl.DataType]] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            dtypes.setdefault(name, set()).add(dtype)
    if all(len(d) == 1 for d in dtypes.values()) and len({tuple(s) for s in schemas}) == 1:
        return pl.scan_parquet([str(f) for f in files], hive_partitioning=False)
    clash = {n for n, ds in dtypes.items()
             if len(ds) > 1 and not all(d.is_numeric() for d in ds)}
    parts = []
    for path, schema in zip(files, schemas, strict=True):
        frame = pl.scan_parquet(path, hive_partitioning=False)
        casts = [_text(name, schema[name]) for name in clash if name in schema]
        parts.append(frame.with_columns(casts) if casts else frame)
    return pl.concat(parts, how="diagonal_relaxed")


def _text(name: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Struct):
        return pl.col(name).struct.json_encode()
    if dtype.is_nested():
        return pl.col(name).map_elements(
            lambda v: json.dumps(v.to_list() if isinstance(v, pl.Series) else v),
            return_dtype=pl.String)
    return pl.col(name).cast(pl.String)


def _subjects(subjects: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if subjects is None:
        return None
    return (subjects,) if isinstance(subjects, str) else tuple(subjects)


def _settle(cp: Checkpoint | None, path: Path, stream: str, subjects: tuple[str, ...] | None,
            rules: Rules | None, info: StreamInfo, created: str | None) -> Checkpoint:
    """The checkpoint to sync on: the store's, checked against the arguments, or a new one."""
    if cp is None:
        return Checkpoint(stream, subjects or (), rules or Rules.from_metadata(info.metadata), 0,
                          created=created)
    if cp.stream != stream:
        raise StoreError(f"the store {path} holds stream {cp.stream!r}, not {stream!r}: "
                         "use one directory per stream")
    if subjects is not None and tuple(subjects) != cp.subjects:
        raise StoreError(f"the store {path} holds subjects {list(cp.subjects) or 'all'} of "
                         f"{stream!r}, not {list(subjects)}: use another directory")
    if rules is not None and rules != cp.rules:
        raise StoreError(f"the store {path} was synced with other rules:\n{cp.rules.describe()}"
                         "\nleave rules out to use them, or sync into another directory")
    if cp.created is None and created:  # a store from before stream_created was recorded
        cp = replace(cp, created=created)
    return cp


class _Writer:
    """Writes segments and checkpoints of one store, one after another (on ``_writer``)."""

    def __init__(self, path: Path, cp: Checkpoint) -> None:
        self.path = path
        self.cp = cp
        self.events = 0
        self.gaps = 0
        self.first_seq: int | None = None
        self.failed: BaseException | None = None
        self.hints = Hints()  # what one batch teaches the decoding of the next

    def result(self, began: float) -> SyncResult:
        return SyncResult(self.cp.stream, self.events, self.first_seq, self.cp.last_seq,
                          self.gaps, time.perf_counter() - began)

    def append(self, raw: RawBatch | None, lo: int, hi: int,
               gaps: pl.DataFrame | None) -> None:
        """Store one batch (seqs ``lo..hi``), then commit it in the checkpoint."""
        if isinstance(self.failed, KeyboardInterrupt):  # polars took Ctrl-C in this thread
            raise KeyboardInterrupt
        if self.failed is not None:  # never write past a batch that failed
            raise StoreError(f"an earlier batch failed: {self.failed}") from None
        try:
            self._append(raw, lo, hi, gaps)
        except BaseException as exc:
            self.failed = exc
            raise

    def _append(self, raw: RawBatch | None, lo: int, hi: int,
                gaps: pl.DataFrame | None) -> None:
        n_gaps = int(gaps["messages"].sum()) if gaps is not None and gaps.height else 0
        if raw is None or not len(raw):
            if not n_gaps:  # a filter matched nothing: just move on
                self.commit(self.cp.advance(hi))
                return
            seg = Segment(lo, hi, 0, {}, n_gaps)
            assert gaps is not None
            dirs = {self._put(gaps, self.path / "gaps" / seg.name)}
        else:
            seq = raw.seq
            if int(seq[0]) < lo or int(seq[-1]) > hi or not bool((seq.diff().drop_nulls() > 0)
                                                                 .all()):
                raise StoreError(f"batch {lo}..{hi} of {self.cp.stream!r} is not in sequence "
                                 "order: nothing was written")
            decoded = decode(raw.seq, raw.time, raw.subjects, raw.headers, raw.payloads,
                             self.cp.rules, hints=self.hints)
            env = decoded.envelope
            name = Segment(lo, hi, 0).name
            dirs = {self._put(env, self.path / "envelope" / name)}
            types: dict[str, int] = {}
            for (event_type,), head in env.select(_HEAD).partition_by(
                    "type", as_dict=True, maintain_order=True).items():
                if event_type is None:
                    continue
                fields = decoded.typed.get(event_type)
                frame = head if fields is None else head.join(
                    fields, on="seq", how="left", maintain_order="left")
                dirs.add(self._put(frame, self.path / "types" / type_dir(event_type) / name))
                types[event_type] = frame.height
            if n_gaps:
                assert gaps is not None
                dirs.add(self._put(gaps, self.path / "gaps" / name))
            seg = Segment(lo, hi, env.height, types, n_gaps)
            if self.first_seq is None:
                self.first_seq = int(seq[0])
        for folder in dirs:
            _fsync_dir(folder)
        self.commit(self.cp.add(seg))
        self.events += seg.events
        self.gaps += seg.gaps

    def merge(self, runs: list[list[Segment]]) -> int:
        """Replace each run of segments by one (files first, then the checkpoint, then deletes)."""
        merged: dict[int, Segment] = {}
        dirs: set[Path] = set()
        for run in runs:
            lo, hi = run[0].lo, run[-1].hi
            types: dict[str, int] = {}
            for seg in run:
                for name, n in seg.types.items():
                    types[name] = types.get(name, 0) + n
            new = Segment(lo, hi, sum(s.events for s in run), types, sum(s.gaps for s in run))
            env = [self.path / "envelope" / s.name for s in run if s.events]
            if env:
                dirs.add(self._sink(pl.scan_parquet(env, hive_partitioning=False,
                                                    schema=ENVELOPE_SCHEMA),
                                    self.path / "envelope" / new.name))
            for name in types:
                folder = self.path / "types" / type_dir(name)
                parts = [folder / s.name for s in run if name in s.types]
                dirs.add(self._sink(_union_scan(parts), folder / new.name))
            holes = [self.path / "gaps" / s.name for s in run if s.gaps]
            if holes:
                dirs.add(self._put(pl.read_parquet(holes, hive_partitioning=False),
                                   self.path / "gaps" / new.name))
            merged[run[0].lo] = new
        for folder in dirs:
            _fsync_dir(folder)
        skip = {s.lo for run in runs for s in run}
        segments = []
        for seg in self.cp.segments:
            if seg.lo in merged:
                segments.append(merged[seg.lo])
            elif seg.lo not in skip:
                segments.append(seg)
        old = set(self.cp.files())
        self.commit(replace(self.cp, segments=tuple(segments)))
        for rel in old - set(self.cp.files()):
            (self.path / rel).unlink(missing_ok=True)
        return sum(len(r) for r in runs) - len(runs)

    def commit(self, cp: Checkpoint) -> None:
        """Replace the checkpoint atomically: temporary file, fsync, rename, fsync the folder."""
        self.path.mkdir(parents=True, exist_ok=True)
        temp = self.path / ".checkpoint.json.tmp"
        with temp.open("w") as f:
            f.write(cp.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, self.path / CHECKPOINT)
        _fsync_dir(self.path)
        self.cp = cp

    @staticmethod
    def _put(frame: pl.DataFrame, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        frame.write_parquet(temp, compression="zstd", statistics=True)
        _fsync(temp)
        os.replace(temp, path)
        return path.parent

    @staticmethod
    def _sink(frame: pl.LazyFrame, path: Path) -> Path:
        temp = path.with_name(f".{path.name}.tmp")
        frame.sink_parquet(temp, compression="zstd", statistics=True)
        _fsync(temp)
        os.replace(temp, path)
        return path.parent


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        _fsync(path)


class _Lock:
    """An exclusive ``flock`` on ``DIR/.lock`` (released by the kernel if the holder dies)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.create = create
        self.fd: int | None = None

    @property
    def acquired(self) -> bool:
        return self.fd is not None

    def try_acquire(self) -> bool:
        if self.create:
            self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def holder(self) -> str:
        try:
            pid = (self.path / ".lock").read_text().strip()
        except OSError:
            return "another process"
        return f"process {pid}" if pid else "another process"

    def release(self) -> None:
        if self.fd is not None:
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> _Lock:
        self.try_acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Busy(StoreError):
    """Another sync holds the store's lock (a follower retries)."""


_LOCK_TIMEOUT = 10.0  # seconds a sync waits for another one to finish
_SMALL = 10_000  # a follower merges segments smaller than this, once it has 64 of them


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    lock = _Lock(path)
    timeout = _LOCK_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        while not lock.try_acquire():
            if time.monotonic() > deadline:
                raise _Busy(f"{lock.holder()} is writing to the store {path} (a sync or "
                            f"follow()); waited {timeout:.0f} s. Stop it, or read the store "
                            "as it is")
            await asyncio.sleep(0.05)
    except OSError as exc:
        raise StoreError(f"cannot open the store {path} for writing: {exc.strerror}") from None
    try:
        yield
    finally:
        lock.release()


class _GapFinder:
    """Finds the sequences a read skipped, and asks the stream why (once per need)."""

    def __init__(self, js: JetStream, stream: str) -> None:
        self.js = js
        self.stream = stream
        self.first_seq = 0
        self.last_seq = -1
        self.deleted: list[int] = []

    async def find(self, prev: int, seqs: pl.Series) -> pl.DataFrame | None:
        hi = int(seqs[-1])
        if int(seqs[0]) == prev + 1 and hi - prev == len(seqs):
            return None  # contiguous: the common case, no work
        return await self._classify(missing_ranges(seqs, prev + 1, hi))

    async def tail(self, prev: int, stop: int) -> pl.DataFrame | None:
        return await self._classify([(prev + 1, stop)])

    async def _classify(self, ranges: list[tuple[int, int]]) -> pl.DataFrame | None:
        if not ranges:
            return None
        fresh = False
        if ranges[-1][1] > self.last_seq:
            await self._refresh()
            fresh = True
        out = classify_gaps(ranges, self.first_seq, self.deleted)
        if not fresh and (out["reason"] == UNKNOWN).any():
            await self._refresh()  # deleted since we last asked?
            out = classify_gaps(ranges, self.first_seq, self.deleted)
        return out

    async def _refresh(self) -> None:
        answer = await _retrying(lambda: self.js.api(
            f"STREAM.INFO.{self.stream}", {"deleted_details": True}, stream=self.stream))
        state = answer["state"]
        self.first_seq, self.last_seq = state["first_seq"], state["last_seq"]
        self.deleted = sorted(state.get("deleted") or ())


@dataclass(frozen=True, slots=True)
class _StreamFacts:
    first_seq: int
    last_seq: int
    messages: int
    deleted: list[int]
    pending_all: int | None      # with subject filters: messages matching them
    pending_after: int | None    # ... after the store's last sequence


async def _stream_facts(js: JetStream, cp: Checkpoint) -> _StreamFacts:
    answer = await js.api(f"STREAM.INFO.{cp.stream}", {"deleted_details": True},
                          stream=cp.stream)
    state = answer["state"]
    pending_all = pending_after = None
    if cp.subjects:
        pending_after = await _pending(js, cp.stream, cp.subjects, cp.last_seq + 1)
        pending_all = await _pending(js, cp.stream, cp.subjects, 1)
    return _StreamFacts(state["first_seq"], state["last_seq"], state["messages"],
                        sorted(state.get("deleted") or ()), pending_all, pending_after)


async def _pending(js: JetStream, stream: str, subjects: Sequence[str], start: int) -> int:
    """Messages matching ``subjects`` from ``start`` on, counted by the server."""
    config: dict[str, Any] = {
        "ack_policy": "none", "mem_storage": True, "num_replicas": 1,
        "inactive_threshold": 5_000_000_000, "deliver_policy": "by_start_sequence",
        "opt_start_seq": start,
    }
    if len(subjects) == 1:
        config["filter_subject"] = subjects[0]
    else:
        config["filter_subjects"] = list(subjects)
    created = await js.api(f"CONSUMER.CREATE.{stream}", {"stream_name": stream,
                                                         "config": config}, stream=stream)
    with contextlib.suppress(EventkitError, OSError, TimeoutError):
        await js.api(f"CONSUMER.DELETE.{stream}.{created['name']}", stream=stream)
    return int(created.get("num_pending", 0))


async def _retrying(call: Callable[[], Any], budget: float = 30.0) -> Any:
    """``await call()``, again with a growing pause while the server is away (a restart)."""
    deadline = time.monotonic() + budget
    pause = 0.1
    while True:
        try:
            return await call()
        except AuthenticationError:
            raise
        except (ConnectionFailedError, OSError, TimeoutError):
            if time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def _on_loop(coro: Any) -> Any:
    """Await ``coro`` on eventkit's I/O loop, from whichever loop the caller is on."""
    target = _loop.loop()
    if asyncio.get_running_loop() is target:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, target))


def _is_closed(conn: Connection) -> bool:
    try:
        conn.jetstream  # noqa: B018  (raises when the connection is not open)
    except EventkitError:
        return True
    return False


# -- live ------------------------------------------------------------------------
class Follower:
    """A background sync that keeps a store current. Made by :meth:`Store.follow`.

    ``running`` says whether it goes on, ``error`` holds the last error (None
    after a sync that worked), ``syncs`` and ``events`` count what it did.
    """

    def __init__(self, store: Store, conn: Connection, stream: str | None,
                 subjects: tuple[str, ...] | None, rules: Rules | None, interval: float,
                 batch: int, compact: bool) -> None:
        self.store = store
        self._conn = conn
        self._stream = stream
        self._subjects = subjects
        self._rules = rules
        self.interval = interval
        self._batch = batch
        self._compact = compact
        self._stop = threading.Event()
        self._future: Future[None] | None = None
        self.error: BaseException | None = None
        self.last: SyncResult | None = None
        self.syncs = 0
        self.events = 0

    def _start(self) -> None:
        conn = self._conn
        conn.jetstream  # noqa: B018  (a closed connection fails here, not in the background)
        self._future = cast("Future[None]", _loop.submit(self._run()))

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    async def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            pause = self.interval
            try:
                result = await self.store._sync(
                    self._conn, self._stream, self._subjects, self._rules, False, self._batch,
                    should_stop=self._stop.is_set)
                self._stream = self._stream or result.stream
                self.last, self.error = result, None
                self.syncs += 1
                self.events += result.events
                failures = 0
                if self._compact and self.store.small_segments(below=_SMALL) >= 64:
                    await self.store._compact(500_000, below=_SMALL, at_least=64)
            except asyncio.CancelledError:
                raise
            except (_Busy, ReadInterruptedError, OSError) as exc:
                self.error, failures = exc, failures + 1
            except ConnectionFailedError as exc:
                self.error, failures = exc, failures + 1
                if isinstance(exc, AuthenticationError):
                    return
            except Exception as exc:  # the store or the stream does not match: stop
                self.error = exc
                return
            if failures:
                pause = min(self.interval * 2 ** min(failures, 6), 30.0)
            deadline = time.monotonic() + pause
            while not self._stop.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the batch being written (a sync in progress ends at a batch boundary)."""
        self._stop.set()
        if self._future is not None:
            with contextlib.suppress(Exception):
                self._future.result(timeout)

    async def astop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._future is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout):
                    await asyncio.wrap_future(self._future)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        err = f", error={self.error!s:.80}" if self.error else ""
        return (f"<Follower {state}: {self.syncs} syncs, {self.events:,} events, "
                f"store at seq {self.store.last_seq:,}{err}>")
