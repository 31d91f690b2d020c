"""Integrity: the store reconciled with its stream, what is odd about its events, damage.

Each data file's SHA-256 is recorded in ``checksums.jsonl`` when its commit
is made (local stores; object stores checksum what they hold themselves), so
a flipped bit or a truncated file is found and named; a file whose size
differs from what its commit recorded is refused on every read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eventkit import query
from eventkit.exceptions import EventkitError
from eventkit.store._disk import GAP_SCHEMA, MISFIT_SCHEMA
from eventkit.store.gaps import MISSING, UNKNOWN, classify_gaps, missing_ranges, subtract_ranges

if TYPE_CHECKING:
    from collections.abc import Sequence

    from deltalake import DeltaTable

    from eventkit.source.jetstream import JetStream
    from eventkit.store.table import State, Tables

__all__ = ["IntegrityReport", "build_report", "duplicate_msg_ids", "late_events",
           "lost_versions", "mark_lost", "record", "stream_facts", "verify"]

CHECKSUMS = "checksums.jsonl"
_APPENDING = threading.Lock()  # type tables are committed side by side


def no_misfits() -> pl.DataFrame:
    return pl.DataFrame(schema=MISFIT_SCHEMA)


# -- checksums -----------------------------------------------------------------------
def record(tables: Tables, table: DeltaTable) -> None:
    """Append the SHA-256 of the data files the table's latest commit added (local stores)."""
    if tables.local is None:
        return
    base = Path(table.table_uri.removeprefix("file://"))
    entry = base / "_delta_log" / f"{table.version():020d}.json"
    try:
        actions = [json.loads(line) for line in entry.read_text().splitlines() if line]
    except (OSError, ValueError):
        return
    lines = []
    for action in actions:
        add = action.get("add")
        if not add:
            continue
        path = base / add["path"]
        lines.append(json.dumps({"file": str(path.relative_to(tables.local)),
                                 "size": add["size"], "sha256": _sha256(path),
                                 "version": table.version()}))
    if lines:
        # no fsync: a line lost in a crash leaves its file unverified, never wrongly damaged
        with _APPENDING, (tables.local / CHECKSUMS).open("a") as f:
            f.write("\n".join(lines) + "\n")


def lost_versions(tables: Tables, envelope: DeltaTable | None) -> tuple[int, int] | None:
    """Envelope versions committed (their files recorded) that its ``_delta_log`` no longer has.

    The newest log entries lost (a restore from an older backup, a damaged
    disk) leave the table at an older version with nothing to show for it;
    the checksums recorded after each commit still name the versions made.
    A ``lost`` line marks them found, since the next commits take their numbers.
    """
    if tables.local is None:
        return None
    try:
        text = (tables.local / CHECKSUMS).read_text()
    except OSError:
        return None
    newest = -1
    for line in text.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            item = json.loads(line)
            if "lost" in item:
                newest = -1  # found before: versions after it are numbered anew
            elif item["file"].startswith("envelope/") and "version" in item:
                newest = max(newest, int(item["version"]))
    have = envelope.version() if envelope is not None else -1
    return (have + 1, newest) if newest > have else None


def mark_lost(tables: Tables, lost: tuple[int, int], last_seq: int) -> None:
    """Note that the envelope's versions ``lost`` were found missing (see :func:`lost_versions`)."""
    assert tables.local is not None
    with _APPENDING, (tables.local / CHECKSUMS).open("a") as f:
        f.write(json.dumps({"lost": list(lost), "resynced_after_seq": last_seq}) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(tables: Tables) -> tuple[list[str], int]:
    """Data files of the current snapshots whose bytes differ from when written; unverified."""
    if tables.local is None:
        return [], 0
    sums: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in (tables.local / CHECKSUMS).read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError):
                item = json.loads(line)
                sums[item["file"]] = item["sha256"]
    damaged: list[str] = []
    unverified = 0
    for uri in _table_uris(tables):
        table = tables.open(uri)
        if table is None:
            continue
        paths, _ = tables.files(table)
        for path in paths:
            rel = str(Path(path).relative_to(tables.local))
            want = sums.get(rel)
            if want is None:
                unverified += 1
            elif _sha256(Path(path)) != want:
                damaged.append(rel)
    return damaged, unverified


def _table_uris(tables: Tables) -> list[str]:
    assert tables.local is not None
    uris = [tables.envelope, tables.gaps, tables.misfits]
    types = tables.local / "types"
    if types.is_dir():
        uris += [str(p) for p in sorted(types.iterdir()) if (p / "_delta_log").is_dir()]
    return uris


# -- what the integrity report is made of (pure) ---------------------------------
def late_events(envelope: pl.LazyFrame) -> pl.LazyFrame:
    """Events whose ``event_time`` is earlier than that of an event of the same entity before them.

    "Before" is stream order (``seq``). The columns are those of
    :func:`eventkit.query.late_events`: ``seen_event_time`` is the latest event
    time of the entity so far, ``lateness`` how much earlier this event is.

    Examples
    --------
    >>> t = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> env = pl.LazyFrame({"seq": [1, 2, 3, 4], "key": ["a", "a", "b", "a"],
    ...                     "type": ["x", "y", "x", "z"], "event_time": [t(5), t(9), t(1), t(7)]})
    >>> late_events(env).select("seq", "key", "lateness").collect().rows()
    [(4, 'a', datetime.timedelta(seconds=120))]
    """
    return (
        query.late_events(envelope.select("seq", "key", "type", "event_time"))
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
    late: pl.DataFrame             #: ``seq, key, type, event_time, seen_event_time, lateness``
    per_type: pl.DataFrame         #: ``type, events``
    gaps_tracked: bool = True      #: False for a store of some subjects only
    misfits: pl.DataFrame = field(default_factory=no_misfits)
    #: ``seq, type, field, column, found``: values kept raw in the envelope, null in their column
    damaged: tuple[str, ...] = ()  #: data files whose bytes differ from when they were written
    unverified: int = 0            #: data files with no checksum recorded (object stores)

    @property
    def ok(self) -> bool:
        """True when the store holds every message the stream has up to ``synced_to``."""
        return (self.missing in (0, None) and not (self.gaps["reason"] == MISSING).any()
                and not self.damaged)

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
                     + (f" (up to {self.late['lateness'].max()!s})" if self.late.height else ""))
        if self.misfits.height:
            by = self.misfits.group_by("type", "field", "column", "found",
                                       maintain_order=True).len()
            lines.append(f"  misfits: {self.misfits.height:,} values kept raw (null in their "
                         "column): " + "; ".join(f"{t}.{f}: {n:,} {v} in a {c} column"
                                                for t, f, c, v, n in by.iter_rows()))
        if self.damaged:
            lines.append(f"  DAMAGED: {len(self.damaged)} data files differ from when they "
                         f"were written: {', '.join(self.damaged)}")
        width = max((len(t or "(none)") for t in self.per_type["type"]), default=4)
        for name, n in self.per_type.iter_rows():
            lines.append(f"    {name or '(none)':<{width}}  {n:>10,}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # a notebook shows the account and its tables
        from eventkit._display import result_html

        return result_html(f"Integrity of the store of {self.stream!r}", str(self), {
            "gaps": self.gaps, "duplicate Nats-Msg-Id": self.duplicates,
            "malformed": self.malformed, "late": self.late, "misfits": self.misfits},
            ok=self.ok)



@dataclass(frozen=True, slots=True)
class StreamFacts:
    first_seq: int
    last_seq: int
    messages: int
    deleted: list[int]
    pending_all: int | None      # with subject filters: messages matching them
    pending_after: int | None    # ... after the store's last sequence


async def stream_facts(js: JetStream, cp: State) -> StreamFacts:
    answer = await js.api(f"STREAM.INFO.{cp.stream}", {"deleted_details": True},
                          stream=cp.stream)
    state = answer["state"]
    pending_all = pending_after = None
    if cp.subjects:
        pending_after = await _pending(js, cp.stream, cp.subjects, cp.last_seq + 1)
        pending_all = await _pending(js, cp.stream, cp.subjects, 1)
    return StreamFacts(state["first_seq"], state["last_seq"], state["messages"],
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


def build_report(store: Any, cp: State, facts: StreamFacts | None,
                 verify_files: bool = True) -> IntegrityReport:
    env = store.scan()
    damaged, unverified = verify(store._tables) if verify_files else ([], 0)
    seqs = env.select("seq").collect()["seq"]
    per_type = (env.group_by("type").agg(events=pl.len().cast(pl.UInt64))
                .sort(["events", "type"], descending=[True, False]).collect())
    malformed = env.filter(pl.col("error").is_not_null()).select(
        "seq", "subject", "type", "key", "error").collect()
    recorded = store.gaps()
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
        gaps_tracked=not cp.subjects, misfits=store.misfits(),
        damaged=tuple(damaged), unverified=unverified,
    )


