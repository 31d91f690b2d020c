"""The replay: history between two bounds, in sequence order, into projections or back onto NATS."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import orjson
import polars as pl

from eventkit._deprecated import renamed_keywords
from eventkit._time import Instant, to_position
from eventkit._typing import TimeColumn, TimeLike
from eventkit.envelope import Rules
from eventkit.exceptions import ConfigurationError
from eventkit.replay._projections import Projection
from eventkit.replay._run import ReplayRun
from eventkit.replay._sources import (
    _FrameSource,
    _instant,
    _Source,
    _StoreSource,
    _StreamSource,
)
from eventkit.source._twins import thread_twin
from eventkit.source.jetstream import subjects_regex

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.events import Events
    from eventkit.source.jetstream import PublishResult, RawBatch
    from eventkit.store import Store


class Replay:
    """History from ``start`` to ``end``, in sequence order, at the pace you choose.

    Parameters
    ----------
    source
        What a read returned (:class:`~eventkit.Events`), a
        :class:`~eventkit.Store`, or a connection (then give ``stream``).
    start, end
        Inclusive bounds on transaction time (replay follows the stream's
        order): a sequence, a time (an aware datetime, an ISO string, a
        ``pandas.Timestamp``...) or a duration ago. A time at microsecond
        precision covers its whole microsecond, so ``end=df["time"][i]``
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

    @renamed_keywords(until="end")
    def __init__(
        self, source: Events | Store | Connection | pl.DataFrame, *,
        stream: str | None = None, start: TimeLike | None = None,
        end: TimeLike | None = None, subjects: str | Sequence[str] | None = None,
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
        self._end = to_position(end, now=now, what="end")
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

    afirst_after = thread_twin(first_after)

    def frames(self, after: int | None = None) -> Iterator[pl.DataFrame]:
        """The events as frames (envelope and payload fields), in sequence order."""
        frames = self._source.frames(self.first_after() if after is None else after,
                                     self._end, self.batch)
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

    arun = thread_twin(run)

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

    ato_subject = thread_twin(to_subject)

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

    ato_store = thread_twin(to_store)

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
