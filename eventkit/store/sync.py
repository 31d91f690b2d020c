"""A sync: what the stream holds after the store's last sequence, one Delta commit per batch.

Sequences are the only positions: a sync resumes after the last sequence the
envelope table's last commit records, and a batch is written in full or not
at all (one commit), so a sync killed at any moment loses and duplicates
nothing. Duplicates are dropped by sequence (after a server crash a consumer
may see a message again with a delivery count of 1, so no redelivery flag is
trusted). Decoding and writing run on one worker thread, one batch written
while the next arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from tqdm.auto import tqdm

from eventkit.envelope import Rules
from eventkit.exceptions import StoreError
from eventkit.formats.rules import FormatRules
from eventkit.source.jetstream import StreamInfo
from eventkit.store import integrity as _integrity
from eventkit.store._writer import SyncResult, Writer
from eventkit.store.gaps import UNKNOWN, GapFinder
from eventkit.store.table import State, Tables, add_actions

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.source.jetstream import RawBatch
    from eventkit.store.core import Store

try:  # POSIX; elsewhere a store has no cross-process lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["run_sync"]

# Writing runs here, one batch after another, off the I/O loop; decoding on its own
# thread, so that a batch decodes while the one before it is written.
WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventkit-store")
DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventkit-store-decode")
_LOCK_TIMEOUT = 10.0  # seconds a sync waits for another one to finish
_REREADS = 3          # a read that ends short (a replica catching up) is tried again
FETCH = 50_000        # events per fetch and decode; a commit takes several (``batch``)


class Busy(StoreError):
    """Another sync holds the store's lock (a follower retries)."""


class Lock:
    """An exclusive ``flock`` on ``DIR/.lock`` (released by the kernel if the holder dies)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.create = create
        self.fd: int | None = None

    @property
    def acquired(self) -> bool:
        return self.fd is not None

    def try_acquire(self) -> bool:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"the store {self.path} is a file, not a directory: give the "
                             "store a directory of its own")
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


@contextlib.asynccontextmanager
async def locked(tables: Tables) -> AsyncIterator[None]:
    """The store's write lock (local stores; an object store has one writer, said in README)."""
    if tables.local is None:
        yield
        return
    lock = Lock(tables.local)
    timeout = _LOCK_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        while not lock.try_acquire():
            if time.monotonic() > deadline:
                raise Busy(f"{lock.holder()} is writing to the store {tables.local} (a sync, "
                           f"follow() or compact); waited {timeout:.0f} s. Stop it, or read "
                           "the store as it is")
            await asyncio.sleep(0.05)
    except OSError as exc:
        raise StoreError(f"cannot open the store {tables.local} for writing: "
                         f"{exc.strerror}") from None
    try:
        yield
    finally:
        lock.release()


def settle(state: State | None, root: str, stream: str, subjects: tuple[str, ...] | None,
           rules: Rules | None, info: StreamInfo, created: str | None) -> State:
    """The state to sync on: the store's, checked against the arguments, or a new one."""
    if state is None:
        return State(stream, subjects or (), rules or Rules.from_metadata(info.metadata), 0,
                     created=created)
    if state.stream != stream:
        raise StoreError(f"the store {root} holds stream {state.stream!r}, not {stream!r}: "
                         "use one directory per stream")
    if subjects is not None and tuple(subjects) != state.subjects:
        raise StoreError(f"the store {root} holds subjects {list(state.subjects) or 'all'} of "
                         f"{stream!r}, not {list(subjects)}: use another directory")
    if rules is not None and rules != state.rules:
        raise StoreError(f"the store {root} was synced with other rules:\n"
                         f"{state.rules.describe()}\nleave rules out to use them, or sync "
                         "into another directory")
    if state.created is None and created:  # a store that did not record it (checked before)
        state = dataclasses.replace(state, created=created)
    return state


def _created_after(created: str | None, tables: Tables, envelope: Any) -> bool:
    """Whether the stream was created after the newest event the store holds was stored."""
    if not created:
        return False
    import datetime as dt

    actions = add_actions(envelope)
    if "max.time" not in actions.columns or actions["max.time"].is_null().all():
        return False
    newest = actions["max.time"].max()
    if not isinstance(newest, dt.datetime):  # the time column's statistics are datetimes
        return False
    text = created.rstrip("Z").split("+")[0]
    whole, _, frac = text.partition(".")
    try:
        born = dt.datetime.fromisoformat(f"{whole}.{(frac + '000000')[:6]}+00:00")
    except ValueError:
        return False
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    return born > newest


async def run_sync(store: Store, conn: Connection, stream: str | None,
                   subjects: tuple[str, ...] | None, rules: Rules | None, progress: bool,
                   batch: int, should_stop: Callable[[], bool] | threading.Event | None = None,
                   schemas: Any = None) -> SyncResult:
    """The sync itself, on eventkit's loop (see :meth:`Store.sync`)."""
    if isinstance(should_stop, threading.Event):
        should_stop = should_stop.is_set
    stop_now: Callable[[], bool] = should_stop or (lambda: False)
    began = time.perf_counter()
    js = conn.jetstream
    loop = asyncio.get_running_loop()
    tables = store._tables
    async with locked(tables):
        await loop.run_in_executor(WRITER, store._upgrade_if_old)
        envelope = await loop.run_in_executor(WRITER, tables.open, tables.envelope)
        state = await loop.run_in_executor(WRITER, tables.state, envelope)
        if envelope is not None:  # a missing or truncated data file: say so before writing
            await loop.run_in_executor(WRITER, tables.files, envelope)
        name = stream or (state.stream if state else None)
        if name is None:
            raise StoreError(f"the store {tables.root} is empty: name the stream to sync")
        answer = await js.api(f"STREAM.INFO.{name}", stream=name)
        info = StreamInfo.from_api(answer)
        if state is None and subjects:  # a first sync binds the store to its filter: check it
            unmatched = [f for f in subjects if not await js.subject_counts(name, f)]
            if len(unmatched) == len(subjects):
                raise StoreError(
                    f"no subject in stream {name!r} on {js.server} matches "
                    f"{', '.join(map(repr, unmatched))} (its subjects: "
                    f"{', '.join(info.subjects)}): check the filter for a typo; the store "
                    f"{tables.root} was not bound to it"
                )
        state = settle(state, tables.root, name, subjects, rules, info, answer.get("created"))
        store._conn = conn
        if info.last_seq < state.last_seq or (state.created and answer.get("created")
                                              and state.created != answer["created"]) or (
                not state.created and envelope is not None
                and _created_after(answer.get("created"), tables, envelope)):
            raise StoreError(
                f"stream {name!r} on {js.server} was deleted and created again since the "
                f"store {tables.root} synced it (up to seq {state.last_seq}; the stream now "
                f"ends at seq {info.last_seq}). Sync into a new directory (this store keeps "
                "the old history)")
        writer = Writer(tables, state, envelope, schemas)
        writer.formats = FormatRules.from_metadata(info.metadata)
        lost = await loop.run_in_executor(WRITER, _integrity.lost_versions, tables, envelope)
        if lost is not None:
            await loop.run_in_executor(WRITER, _integrity.mark_lost, tables, lost, state.last_seq)
            writer.notes.append(
                f"the store {tables.root} lost the newest entries of its envelope's _delta_log: "
                f"versions {lost[0]}..{lost[1]} were committed (checksums.jsonl lists their "
                f"files) and are gone. The store now ends at seq {state.last_seq:,}; this sync "
                "reads every event after it from the stream again (the files of the lost "
                "versions are no part of the store any more)")
        await _read_unknown_again(writer, js, name)
        if info.last_seq == state.last_seq:
            if envelope is None:  # a first sync of an empty stream: record what it is
                await loop.run_in_executor(WRITER, writer.append, None, 0, 0, None)
            return writer.result(began)
        return await _batches(writer, js, name, info.last_seq, progress, batch, stop_now,
                              began)


async def _read_unknown_again(writer: Writer, js: Any, name: str) -> None:
    """Runs an older sync recorded as "unknown" gaps, read again (see ``refetch``)."""
    from eventkit.store import refetch

    loop = asyncio.get_running_loop()
    runs = await loop.run_in_executor(WRITER, refetch.unknown_runs, writer)
    if not runs:
        return
    finder = GapFinder(js, name)
    for lo, hi in runs:
        raws = await refetch.fetch_run(js, name, lo, hi)
        seqs = [s for raw in raws for s in raw.seq.to_list() if lo <= s <= hi]
        await finder.refresh()  # what the stream says now
        rows = classify(refetch.still_missing(seqs, lo, hi), finder)
        await loop.run_in_executor(WRITER, refetch.refetch_run, writer, lo, hi, raws, rows)


def classify(ranges: list[tuple[int, int]], finder: GapFinder) -> pl.DataFrame:
    from eventkit.store.gaps import classify_gaps

    return classify_gaps(ranges, finder.first_seq, finder.deleted)


async def _batches(writer: Writer, js: Any, name: str, stop: int, progress: bool, batch: int,
                   should_stop: Callable[[], bool], began: float) -> SyncResult:
    state = writer.state
    gaps = None if state.subjects else GapFinder(js, name)
    prev = state.last_seq
    bar = tqdm(total=stop - prev, unit="seq", unit_scale=True, desc=f"syncing {name}",
               disable=not progress, delay=0.5, leave=False)
    # concurrent futures of the writer thread: a cancelled await (Ctrl-C) must not
    # unlock the store while the thread still writes the batch it started
    pending: list[Future[None]] = []
    stopped: str | None = None
    rereads = 0
    try:
        while prev < stop and stopped is None:
            short: tuple[int, int] | None = None
            fetch = js.fetch(name, subjects=state.subjects, start=prev + 1, end=stop,
                             batch=min(batch, FETCH))
            async with contextlib.aclosing(fetch) as batches:
                async for raw in batches:
                    found = await gaps.find(prev, raw.seq) if gaps else None
                    raw, hi, found, short = _until_unknown(raw, prev, found)
                    if raw is not None or found is not None or hi > prev:
                        decoded = DECODER.submit(writer.decode, raw)
                        pending.append(WRITER.submit(writer.add, decoded, prev + 1, hi,
                                                     found, commit_at=batch))
                        bar.update(hi - prev)
                        prev = hi
                    # while one commit is written, two more parts decode and one arrives:
                    # memory is a commit and three parts, whatever the stream's length
                    while len(pending) > 2 + min(batch // FETCH, 2):
                        await asyncio.wrap_future(pending[0])
                        pending.pop(0)
                    if short is not None:
                        break
                    if should_stop():
                        stopped = "stopped"
                        break
            if stopped is not None:
                break
            if short is None and prev < stop:
                # nothing after prev up to stop: deleted at the end, or no subject matched
                found = await gaps.tail(prev, stop) if gaps else None
                if found is not None and (found["reason"] == UNKNOWN).any():
                    short = _first_unknown(found)
                else:
                    pending.append(WRITER.submit(writer.add, None, prev + 1, stop, found,
                                                 commit_at=batch))
                    bar.update(stop - prev)
                    prev = stop
            if short is not None:
                rereads += 1
                if rereads > _REREADS:
                    stopped = (f"the server did not return seq {short[0]:,}..{short[1]:,} "
                               f"although the stream holds them (a replica catching up?); "
                               "the next sync reads them again")
        pending.append(WRITER.submit(writer.flush))  # what is held: read in full, so kept
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
            for done in started:  # the first failure is raised already; the rest were its echo
                if not done.cancelled():
                    done.exception()
    return writer.result(began, stopped if stopped != "stopped" else None)


def _first_unknown(found: pl.DataFrame) -> tuple[int, int]:
    row = found.filter(pl.col("reason") == UNKNOWN).row(0)
    return int(row[0]), int(row[1])


def _until_unknown(raw: RawBatch, prev: int, found: pl.DataFrame | None
                   ) -> tuple[RawBatch | None, int, pl.DataFrame | None, tuple[int, int] | None]:
    """The part of a batch before the first run the stream does not explain (if any)."""
    hi = int(raw.seq[-1])
    if found is None or not (found["reason"] == UNKNOWN).any():
        return raw, hi, found, None
    lo, top = _first_unknown(found)
    keep = raw.seq < lo
    n = int(keep.sum())
    before = found.filter(pl.col("last_seq") < lo)
    part = None
    if n:
        from eventkit.source.jetstream import RawBatch as Batch

        part = Batch(raw.seq[:n], raw.time[:n], raw.subjects[:n],
                     {i: h for i, h in raw.headers.items() if i < n}, raw.payloads[:n])
    return part, lo - 1, before if before.height else None, (lo, top)
