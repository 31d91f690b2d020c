"""Replay: history played back in sequence order, into projections or back onto NATS.

A replay reads events in batches (from what a read returned, from a store,
or straight from a stream), bounded by ``start`` and ``until``, and feeds
them in order to a projection: code that turns events into state. It runs
as fast as possible or at a multiple of the original pace (``speed``), in the
foreground (:meth:`Replay.run`) or in the background (:meth:`Replay.start`,
with pause, resume, step, seek and stop, the kernel staying free).

Projections:

- :class:`Fold`: a reducer ``(state, event) -> state`` per entity, with an
  initial state; called once per event, in Python.
- :class:`Latest`: the latest non-null value of each field per entity,
  vectorised a batch at a time; the same answer as
  :func:`eventkit.query.state_at` with the default fold.
- any object with ``apply(event: dict)`` or ``apply_batch(frame)``, and
  ``state() -> pl.DataFrame`` (``snapshot()`` / ``restore()`` are optional).

Every ``snapshot_every`` events a background run keeps a snapshot of the
projection, so seeking costs the events since the nearest snapshot before
the target, not the whole history.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

import orjson
import polars as pl

from eventkit import query
from eventkit._time import Instant, cutoff, to_position
from eventkit._typing import TimeColumn, TimeLike
from eventkit.envelope import ENVELOPE_SCHEMA, TIME, Rules
from eventkit.exceptions import ConfigurationError
from eventkit.source.jetstream import subjects_regex

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.events import Events
    from eventkit.source.jetstream import PublishResult, RawBatch
    from eventkit.store import Store

__all__ = ["Fold", "Latest", "Projection", "Replay", "ReplayRun"]

_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]
_HEAD_DISK = frozenset({*_HEAD, "time_ns", "event_time_ns"})


@runtime_checkable
class Projection(Protocol):
    """What a replay drives: ``apply(event)`` or ``apply_batch(frame)``, and ``state()``."""

    def state(self) -> pl.DataFrame: ...


@runtime_checkable
class _BatchProjection(Protocol):
    def apply_batch(self, frame: pl.DataFrame) -> None: ...


@runtime_checkable
class _EventProjection(Protocol):
    def apply(self, event: dict[str, Any]) -> None: ...


class Fold:
    """A projection from a reducer ``(state, event) -> state``, one state per entity.

    Parameters
    ----------
    fn
        Called once per event, in sequence order, with the entity's state
        (a deep copy of ``initial`` the first time) and the event as a dict
        (envelope columns and payload fields).
    initial
        An entity's state before its first event.
    key
        The column naming the entity (``None``: one state for all events).

    Examples
    --------
    >>> def count(state, event):
    ...     return {"events": state["events"] + 1, "last": event["type"]}
    >>> fold = Fold(count, {"events": 0, "last": None})
    >>> for e in [{"key": "r1", "type": "a"}, {"key": "r2", "type": "a"},
    ...           {"key": "r1", "type": "b"}]:
    ...     fold.apply(e)
    >>> fold.state()
    shape: (2, 3)
    ┌─────┬────────┬──────┐
    │ key ┆ events ┆ last │
    │ --- ┆ ---    ┆ ---  │
    │ str ┆ i64    ┆ str  │
    ╞═════╪════════╪══════╡
    │ r1  ┆ 2      ┆ b    │
    │ r2  ┆ 1      ┆ a    │
    └─────┴────────┴──────┘
    """

    def __init__(self, fn: Callable[[Any, dict[str, Any]], Any], initial: Any = None, *,
                 key: str | None = "key") -> None:
        self.fn = fn
        self.initial = initial
        self.key = key
        self._states: dict[Any, Any] = {}

    def apply(self, event: dict[str, Any]) -> None:
        k = event.get(self.key) if self.key else None
        if self.key and k is None:
            return  # an event of no entity
        states = self._states
        current = states[k] if k in states else copy.deepcopy(self.initial)
        states[k] = self.fn(current, event)

    def state(self) -> pl.DataFrame:
        name = self.key or "key"
        keys = sorted(self._states, key=lambda k: (k is None, str(k)))
        values = [self._states[k] for k in keys]
        if values and all(isinstance(v, dict) for v in values):
            return pl.DataFrame([{name: k, **v} for k, v in zip(keys, values, strict=True)],
                                infer_schema_length=None)
        return pl.DataFrame({name: keys, "state": values}, strict=False)

    def snapshot(self) -> Any:
        return copy.deepcopy(self._states)

    def restore(self, snapshot: Any) -> None:
        self._states = copy.deepcopy(snapshot)


class Latest:
    """Per entity, the latest non-null value of each field; vectorised, a batch at a time.

    The same answer as ``eventkit.query.state_at(frame, fold="merge",
    on="time")`` over the events replayed so far: a replay applies events in
    stream order, as they arrived, so a late event overwrites what came
    before it. ``state_at`` on its default clock (``event_time``) applies it
    where it happened instead; the two differ exactly on late events.

    Each batch is folded on its own (a group-by per entity in polars, no
    Python per event); the folded batches are merged into the state once
    they hold as many rows as it does, so a batch costs about its own size,
    and memory is the state and at most as much again.

    Examples
    --------
    >>> latest = Latest()
    >>> latest.apply_batch(pl.DataFrame({
    ...     "seq": [1, 2], "time": [dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * 2,
    ...     "type": ["placed", "paid"], "key": ["o1", "o1"], "total": [5, None]}))
    >>> latest.apply_batch(pl.DataFrame({
    ...     "seq": [3], "time": [dt.datetime(2026, 11, 2, tzinfo=dt.UTC)],
    ...     "type": ["shipped"], "key": ["o1"], "total": [None]}))
    >>> latest.state().select("key", "seq", "type", "total").rows()
    [('o1', 3, 'shipped', 5)]
    """

    def __init__(self, *, key: str = "key", fields: Sequence[str] | None = None) -> None:
        self.key = key
        self.fields = fields
        self._state: pl.DataFrame | None = None
        self._parts: list[pl.DataFrame] = []  # folded batches, not merged into the state yet
        self._held = 0

    def _fold(self, frame: pl.DataFrame) -> pl.DataFrame:
        return query.state_at(frame, key=self.key, fields=self.fields, on="time")

    def apply_batch(self, frame: pl.DataFrame) -> None:
        part = self._fold(frame.drop("headers", "data", "error", strict=False))
        self._parts.append(part)
        self._held += part.height
        if self._held >= max(self._state.height if self._state is not None else 0, 50_000):
            self._merge()

    def _merge(self) -> None:
        from eventkit.codec import union

        if not self._parts:
            return
        frames = ([self._state] if self._state is not None else []) + self._parts
        self._state = self._fold(union(frames)) if len(frames) > 1 else frames[0]
        self._parts, self._held = [], 0

    def state(self) -> pl.DataFrame:
        self._merge()
        return self._state if self._state is not None else pl.DataFrame()

    def snapshot(self) -> Any:
        return self._state, tuple(self._parts)  # frames are immutable: nothing to copy

    def restore(self, snapshot: Any) -> None:
        if isinstance(snapshot, tuple):
            self._state, parts = snapshot
            self._parts = list(parts)
        else:  # a state frame alone
            self._state, self._parts = snapshot, []
        self._held = sum(p.height for p in self._parts)


# -- where events come from ------------------------------------------------------


class _Source(Protocol):
    def frames(self, after: int, until: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]: ...


@dataclass
class _FrameSource:
    """Events in memory (what a read returned): slices of one wide frame."""

    wide: pl.DataFrame

    def frames(self, after: int, until: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]:
        part = _until(self.wide.filter(pl.col("seq") > after), until)
        for offset in range(0, part.height, size):
            yield part.slice(offset, size)


@dataclass
class _StoreSource:
    """A store: the envelope and each type's fields, each table read once in ``seq`` order."""

    store: Store

    def frames(self, after: int, until: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]:
        from eventkit.codec import union
        from eventkit.store._reader import Ordered
        from eventkit.store.table import table_schema

        tables = self.store._tables
        state = self.store.state()
        if state is None:
            return
        upto = min(until, state.last_seq) if isinstance(until, int) else state.last_seq
        envelope = Ordered(tables, tables.open(tables.envelope, self.store._version), after,
                           upto, columns=list(ENVELOPE_SCHEMA))
        types = []
        for name in state.types:
            table = tables.open(tables.of_type(name))
            if table is not None:
                fields = [n for n in table_schema(table) if n == "seq" or n not in _HEAD_DISK]
                types.append(Ordered(tables, table, after, upto, columns=fields))
        for batch in envelope:
            for offset in range(0, batch.height, size):
                head = _until(batch.slice(offset, size), until)
                if not head.height:
                    continue
                hi = int(head["seq"][-1])
                parts = [f for f in (t.take(hi) for t in types) if f is not None]
                if parts:
                    head = head.join(union(parts), on="seq", how="left", maintain_order="left")
                yield head


@dataclass
class _StreamSource:
    """Straight from a stream: start-by-sequence reads (start-by-time to find the start)."""

    conn: Connection
    stream: str
    subjects: tuple[str, ...]

    def frames(self, after: int, until: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]:
        last = self.conn.stream(self.stream).last_seq  # bounded by what the stream holds now
        stop = min(until, last) if isinstance(until, int) else last
        while after < stop:
            hi = min(after + size, stop)
            frame = self.conn.read(self.stream, subjects=self.subjects or None, start=after + 1,
                                   end=hi, progress=False).wide()
            if isinstance(until, Instant):
                kept = _until(frame, until)
                if kept.height:
                    yield kept
                if kept.height < frame.height:
                    return
            elif frame.height:
                yield frame
            after = hi

    def first_seq_at(self, when: Instant) -> int:
        """The first sequence stored at or after ``when`` (its microsecond: the frames
        are then cut exactly)."""
        from eventkit.source import _loop

        seq = _loop.run(self.conn.jetstream.first_seq_at(self.stream, when.to_datetime(),
                                                         self.subjects))
        return seq if seq is not None else self.conn.stream(self.stream).last_seq + 1


def _until(frame: Any, until: int | Instant | None) -> Any:
    if until is None:
        return frame
    if isinstance(until, int):
        return frame.filter(pl.col("seq") <= until)
    return frame.filter(pl.col("time") <= _instant(until, "<="))


def _instant(value: Instant, op: Literal[">=", "<="]) -> pl.Expr:
    """The bound's nanosecond (:func:`eventkit._time.cutoff`: a microsecond bound
    covers its whole microsecond) as a literal at the clock's unit."""
    return pl.lit(cutoff(value, op)).cast(TIME)


# -- the replay ------------------------------------------------------------------


class Replay:
    """History from ``start`` to ``until``, in sequence order, at the pace you choose.

    Parameters
    ----------
    source
        What a read returned (:class:`~eventkit.Events`), a
        :class:`~eventkit.Store`, or a connection (then give ``stream``).
    start, until
        Inclusive bounds on transaction time (replay follows the stream's
        order): a sequence, a time (an aware datetime, an ISO string, a
        ``pandas.Timestamp``...) or a duration ago. A time at microsecond
        precision covers its whole microsecond, so ``until=df["time"][i]``
        keeps event ``i``.
    subjects
        Subject filter(s), e.g. ``"rides.>"``.
    speed
        ``None``: as fast as possible; ``1.0``: the original pace; ``60``: 60 times faster.
    pace_on
        The clock that sets the pace: ``"time"`` (when stored) or ``"event_time"``.
    batch
        Events per batch read and handed to vectorised projections.

    Examples
    --------
    >>> import eventkit as ek
    >>> with ek.EmbeddedServer() as server, ek.connect(server.url) as conn:
    ...     _ = conn.create_stream("ORDERS", ["orders.>"])
    ...     _ = conn.publish_many(["orders.o1", "orders.o2", "orders.o1"], [
    ...         b'{"type":"placed","key":"o1","total":5}',
    ...         b'{"type":"placed","key":"o2","total":7}',
    ...         b'{"type":"shipped","key":"o1","carrier":"dhl"}'])
    ...     orders = ek.Replay(conn, stream="ORDERS").run(ek.Latest(), progress=False)
    >>> orders.select("key", "total", "carrier").rows()
    [('o1', 5, 'dhl'), ('o2', 7, None)]
    """

    def __init__(
        self, source: Events | Store | Connection | pl.DataFrame, *,
        stream: str | None = None, start: TimeLike | None = None,
        until: TimeLike | None = None, subjects: str | Sequence[str] | None = None,
        speed: float | None = None, pace_on: TimeColumn = "event_time",
        batch: int = 10_000,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ConfigurationError(f"speed must be positive (None: no pacing), not {speed}")
        self.subjects = (subjects,) if isinstance(subjects, str) else tuple(subjects or ())
        self._source = self._pick(source, stream)
        info = getattr(source, "info", None)
        self.stream = stream or getattr(info, "stream", None) or getattr(source, "stream", None)
        state = getattr(source, "state", None)
        self._rules: Rules | None = getattr(info, "rules", None) or (
            state().rules if callable(state) and state() else None)
        now = dt.datetime.now(dt.UTC)
        self._start = to_position(start, now=now, what="start")
        self._until = to_position(until, now=now, what="until")
        self.speed = speed
        self.pace_on = pace_on
        self.batch = batch

    def _pick(self, source: Events | Store | Connection | pl.DataFrame,
              stream: str | None) -> _Source:
        from eventkit.connection import Connection
        from eventkit.events import Events
        from eventkit.store import Store

        if isinstance(source, pl.DataFrame):
            return _FrameSource(self._filter(source.sort("seq")))
        if isinstance(source, Events):  # what a read returned
            return _FrameSource(self._filter(source.wide()))
        if isinstance(source, Store):
            return _StoreSource(source)
        if isinstance(source, Connection):
            if not stream:
                raise ConfigurationError("replaying from a connection needs stream='NAME'")
            return _StreamSource(source, stream, self.subjects)
        raise ConfigurationError(
            f"cannot replay from {type(source).__name__}: give what conn.read() returned, "
            "an ek.Store, or a connection with stream='NAME'"
        )

    def _filter(self, frame: pl.DataFrame) -> pl.DataFrame:
        if not self.subjects:
            return frame
        return frame.filter(pl.col("subject").str.contains(subjects_regex(self.subjects)))

    # -- events in order ------------------------------------------------------
    def first_after(self) -> int:
        """The sequence the replay starts after."""
        if isinstance(self._start, int):
            return max(self._start - 1, 0)
        if isinstance(self._start, Instant) and isinstance(self._source, _StreamSource):
            return self._source.first_seq_at(self._start) - 1
        return 0

    def frames(self, after: int | None = None) -> Iterator[pl.DataFrame]:
        """The events as frames (envelope and payload fields), in sequence order."""
        frames = self._source.frames(self.first_after() if after is None else after,
                                     self._until, self.batch)
        if isinstance(self._start, Instant):
            start = self._start
            frames = (f.filter(pl.col("time") >= _instant(start, ">=")) for f in frames)
        yield from (f for f in frames if f.height)

    # -- running ----------------------------------------------------------------
    def run(self, projection: Projection, *, progress: bool = True) -> pl.DataFrame:
        """Feed every event to ``projection``, here and now; return its state."""
        run = ReplayRun(self, projection, progress=progress)
        run._loop()
        if run.error is not None:
            raise run.error
        return run.state()

    def start(self, projection: Projection, *, snapshot_every: int = 50_000,
              paused: bool = False) -> ReplayRun:
        """Run in the background (the kernel stays free); control it with the handle."""
        run = ReplayRun(self, projection, snapshot_every=snapshot_every)
        if paused:
            run.pause()
        run._thread = threading.Thread(target=run._loop, kwargs={"linger": True},
                                       name="eventkit-replay", daemon=True)
        run._thread.start()
        return run

    def to_subject(self, conn: Connection, subject: str) -> PublishResult:
        """Republish the events onto ``<subject>.<original subject>``, headers kept.

        Idempotent: each message carries ``Nats-Msg-Id: <stream>:<seq>``, so
        JetStream drops repeats within its duplicate window; and a republish
        that is run again looks up the last source sequence already in the
        target stream (header ``Eventkit-Source-Seq``) and continues after
        it, so the target ends identical to the source range (same payloads,
        same order) however often it was interrupted. Each message's size is
        checked with its headers before it is sent.
        """
        from eventkit.source.jetstream import PublishResult, subjects_overlap

        stream = self.stream or "events"
        target = next((row["name"] for row in conn.streams().iter_rows(named=True)
                       if any(subjects_overlap(s, f"{subject}.>") for s in row["subjects"])),
                      None)
        if target is None:
            raise ConfigurationError(
                f"no stream takes subjects {subject}.>: create one first, e.g. "
                f"conn.create_stream('REPLAY', ['{subject}.>'])"
            )
        after = max(_last_source_seq(conn, target, stream), self.first_after())
        stored = duplicates = 0
        for frame in self.frames(after=after):
            headers = []
            for text, seq in zip(frame["headers"], frame["seq"], strict=True):
                kept = dict(orjson.loads(text)) if text else {}
                kept |= {"Nats-Msg-Id": f"{stream}:{seq}", "Eventkit-Source-Stream": stream,
                         "Eventkit-Source-Seq": str(seq)}
                headers.append(kept)
            subjects = [f"{subject}.{s}" for s in frame["subject"]]
            result = conn.publish_many(subjects, frame["data"].to_list(), headers)
            stored += result.stored
            duplicates += result.duplicates
        return PublishResult(stored, duplicates)

    def to_store(self, path: str | os.PathLike[str], *, rules: Rules | None = None) -> Store:
        """Write the replayed events into a new local store at ``path``; returns the store.

        The payloads, headers, sequences and server times are the source's;
        the store is like one a sync made (same files, same checkpoint), so it
        can be scanned, checked and synced on from the source stream later.
        """
        from eventkit.store import Store

        if rules is None and isinstance(self._source, _StreamSource):
            rules = Rules.from_metadata(self._source.conn.stream(self._source.stream).metadata)
        rules = rules or self._rules or Rules()
        store = Store(path)
        store.write((_raw(f) for f in self.frames()), stream=self.stream or "replay",
                    rules=rules, subjects=self.subjects, created=self._created())
        return store

    def _created(self) -> str | None:
        """When the source stream was created (so a sync refuses a stream created again)."""
        source = self._source
        if isinstance(source, _StreamSource):
            from eventkit.source import _loop

            answer = _loop.run(source.conn.jetstream.api(f"STREAM.INFO.{source.stream}",
                                                         stream=source.stream))
            return answer.get("created")
        if isinstance(source, _StoreSource):
            state = source.store.state()
            return state.created if state is not None else None
        return None


def _raw(frame: pl.DataFrame) -> RawBatch:
    """A replayed frame as the raw messages it came from (for writing a store)."""
    from eventkit.source._protocol import encode_headers
    from eventkit.source.jetstream import RawBatch

    headers = {i: encode_headers(orjson.loads(text))
               for i, text in enumerate(frame["headers"]) if text is not None}
    return RawBatch(frame["seq"], frame["time"], [s.encode() for s in frame["subject"]],
                    headers, frame["data"].to_list())


def _last_source_seq(conn: Connection, target: str, stream: str) -> int:
    """The last source sequence already republished into ``target`` (0 if none)."""
    info = conn.stream(target)
    if not info.messages:
        return 0
    last = conn.read(target, start=info.last_seq, end=info.last_seq, progress=False).to_polars()
    if last.is_empty() or last["headers"][0] is None:
        return 0
    headers = orjson.loads(last["headers"][0])
    if headers.get("Eventkit-Source-Stream") != stream:
        return 0
    return int(headers.get("Eventkit-Source-Seq", 0))


class ReplayRun:
    """A replay in progress: where it is, how fast, its control, its projection's state."""

    def __init__(self, replay: Replay, projection: Projection, *, snapshot_every: int = 50_000,
                 progress: bool = False) -> None:
        if not isinstance(projection, (_BatchProjection, _EventProjection)):
            raise ConfigurationError(
                f"{type(projection).__name__} is not a projection: give it apply(event) or "
                "apply_batch(frame), and state()"
            )
        self.replay = replay
        self.projection = projection
        self.snapshot_every = snapshot_every
        self._progress = progress
        self.position = replay.first_after()
        self.time_reached: dt.datetime | None = None
        #: The pace clock (``replay.pace_on``) of the last event applied: what a player shows.
        self.clock_reached: dt.datetime | None = None
        self.events = 0
        self.error: Exception | None = None
        self.done = False
        self.timing_errors: list[float] = []  # seconds late (or early) per paced event
        self._started = time.perf_counter()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._steps = 0
        self._seek_to: int | Instant | None = None
        self._snapshots: list[_Mark] = [
            _Mark(self.position, None, None, None, 0, _snapshot(projection))]
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        with self._lock:
            self._steps = 0
        self._running.set()

    def step(self, n: int = 1) -> None:
        """Apply ``n`` more events, then pause."""
        with self._lock:
            self._steps = n
        self._running.set()

    def seek(self, to: TimeLike) -> None:
        """Go to a sequence or a time (from the nearest snapshot before it), then pause."""
        target = to_position(to, what="seek target")
        if target is None:
            raise ConfigurationError("seek needs a sequence or a time")
        with self._lock:
            self._seek_to = target
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until everything is played (or the run stopped or failed); True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.done or self.error or self._stop.is_set()):
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Wait until ``condition()`` holds (e.g. ``lambda: run.events >= 100``), the run
        ended, or ``timeout`` seconds passed; True if the condition holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.error or self._stop.is_set() or time.monotonic() > deadline:
                return bool(condition())
            time.sleep(0.01)
        return True

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def events_per_second(self) -> float:
        seconds = time.perf_counter() - self._started
        return self.events / seconds if seconds > 0 else 0.0

    def state(self) -> pl.DataFrame:
        """The projection's state now."""
        with self._lock:
            return self.projection.state()

    def __repr__(self) -> str:
        where = self.time_reached.isoformat() if self.time_reached else "-"
        status = ("failed" if self.error else "done" if self.done
                  else "stopped" if self._stop.is_set() else "paused" if self.paused
                  else "running")
        return (f"<ReplayRun {status}: seq {self.position}, time {where}, "
                f"{self.events:,} events, {self.events_per_second:,.0f}/s>")

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html("Replay run", repr(self).strip("<>"),
                           ok=False if self.error else None)

    # -- the loop -------------------------------------------------------------------
    def _loop(self, *, linger: bool = False) -> None:
        """Play to the end; with ``linger``, then wait for a seek back, or a stop."""
        try:
            while not self._stop.is_set():
                if self._play(self.position):  # a seek moved the position: play on from there
                    continue
                self.done = not self._stop.is_set()
                if not linger or self._stop.is_set():
                    return
                self._running.clear()
                if self._stop.is_set():  # stopped before the clear: do not wait for a resume
                    return
                self._running.wait()
                if self._stop.is_set() or not self._take_seek():
                    return
                self.done = False
        except Exception as exc:  # kept for the caller: run() raises it, a handle shows it
            self.error = exc

    def _play(self, after: int) -> bool:
        """Feed the events after ``after``; True if a seek interrupted (and was done)."""
        speed = self.replay.speed
        origin: tuple[float, int] | None = None  # (wall clock, event clock in ns) at the start
        bar = _bar(self._progress)
        try:
            for frame in self.replay.frames(after=after):
                offset = 0
                while offset < frame.height:
                    if self._stop.is_set():
                        return False
                    self._running.wait()
                    if self._take_seek():
                        return True
                    if self.replay.speed != speed:  # a new pace counts from the next event
                        speed, origin = self.replay.speed, None
                    with self._lock:
                        steps = self._steps
                    size = frame.height - offset
                    if speed is not None:  # wait for the next event, then take all now due
                        origin = self._pace(frame.slice(offset, 1), speed, origin)
                        size, lateness = _due(frame, offset, speed, origin, self.replay.pace_on)
                        self.timing_errors += lateness
                    if steps:
                        size = min(size, steps)
                    part = frame.slice(offset, size)
                    self._feed(part)
                    if steps:
                        with self._lock:
                            self._steps = max(self._steps - size, 0)
                            if not self._steps:
                                self._running.clear()
                    bar(size)
                    offset += size
        finally:
            bar(0, close=True)
        return False

    def _feed(self, part: pl.DataFrame) -> None:
        with self._lock:
            projection = self.projection
            if isinstance(projection, _BatchProjection):
                projection.apply_batch(part)
            elif isinstance(projection, _EventProjection):
                apply = projection.apply
                for event in part.iter_rows(named=True):
                    apply(event)
            before = self.events
            self.events += part.height
            self.position = int(part["seq"][-1])
            self.time_reached = part["time"][-1]
            clock = self.replay.pace_on
            self.clock_reached = part[clock][-1] if clock in part.columns else None
            if self.events // self.snapshot_every > before // self.snapshot_every:
                self._snapshots.append(_Mark(
                    self.position, int(part["time"].dt.epoch("ns")[-1]), self.time_reached,
                    self.clock_reached, self.events, _snapshot(self.projection)))

    def _pace(self, part: pl.DataFrame, speed: float,
              origin: tuple[float, int] | None) -> tuple[float, int] | None:
        stamp = part[self.replay.pace_on].dt.epoch("ns")[0]
        if stamp is None:
            return origin
        ns = int(stamp)
        if origin is None:
            return (time.perf_counter(), ns)
        due = origin[0] + (ns - origin[1]) / 1e9 / speed
        while (wait := due - time.perf_counter()) > 0:
            if self._stop.is_set() or self._seek_to is not None:
                return origin
            time.sleep(min(wait, 0.05))
        return origin

    def _take_seek(self) -> bool:
        """Do a pending seek: restore the nearest snapshot, play forward to the target, pause."""
        with self._lock:
            target, self._seek_to = self._seek_to, None
            if target is None:
                return False
            mark = [s for s in self._snapshots if _before(s, target)][-1]
            _restore(self.projection, mark.state)
            self.position, self.events = mark.seq, mark.events
            self.time_reached, self.clock_reached = mark.time, mark.clock
            self._snapshots = [s for s in self._snapshots if s.seq <= mark.seq]
        for frame in self.replay.frames(after=self.position):
            part = _until(frame, target)
            if part.height:
                self._feed(part)
            if part.height < frame.height:
                break
        self._running.clear()
        return True


def _due(frame: pl.DataFrame, offset: int, speed: float, origin: tuple[float, int] | None,
         clock: str, *, ahead: int = 10_000) -> tuple[int, list[float]]:
    """How many events from ``offset`` on are due by now (at least one), and how late each is.

    A paced replay that falls behind (a slow projection, a fast pace) hands
    the projection everything that is due at once, instead of one event at
    a time, and so catches up.
    """
    now = time.perf_counter()
    if origin is None:
        return 1, [0.0]
    stamps = frame.get_column(clock).slice(offset, ahead).dt.epoch("ns")
    lateness = now - ((stamps - origin[1]) / 1e9 / speed + origin[0])
    not_due = (lateness < 0).arg_true()
    size = max(int(not_due[0]) if len(not_due) else len(stamps), 1)
    return size, lateness.head(size).fill_null(0.0).to_list()


class _Mark(NamedTuple):
    """A snapshot of a run: where it was and the projection's state there."""

    seq: int
    ns: int | None  # the time reached, exact (for seeks to a time)
    time: dt.datetime | None  # ... as ReplayRun.time_reached shows it
    clock: dt.datetime | None  # ReplayRun.clock_reached (the pacing clock) there
    events: int
    state: Any


def _before(mark: _Mark, target: int | Instant) -> bool:
    if isinstance(target, int):
        return mark.seq <= target
    return mark.ns is None or mark.ns <= cutoff(target, "<=")


def _snapshot(projection: Any) -> Any:
    take = getattr(projection, "snapshot", None)
    return take() if take is not None else copy.deepcopy(vars(projection))


def _restore(projection: Any, snapshot: Any) -> None:
    put = getattr(projection, "restore", None)
    if put is not None:
        put(snapshot)
    else:
        vars(projection).update(copy.deepcopy(snapshot))


class _bar:
    """A progress bar (tqdm.auto: a widget in a notebook) that may be switched off."""

    def __init__(self, show: bool) -> None:
        self._bar = None
        if show:
            from tqdm.auto import tqdm

            self._bar = tqdm(unit="ev", unit_scale=True, desc="replaying", delay=0.5, leave=False)

    def __call__(self, n: int, *, close: bool = False) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if close:
                self._bar.close()
