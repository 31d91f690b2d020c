"""Where a replay's events come from: what a read returned, a store, or a stream."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import polars as pl

from eventkit._time import Instant, cutoff
from eventkit.envelope import ENVELOPE_SCHEMA, TIME

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.store import Store

_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]
_HEAD_DISK = frozenset({*_HEAD, "time_ns", "event_time_ns"})


class _Source(Protocol):
    def frames(self, after: int, end: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]: ...


@dataclass
class _FrameSource:
    """Events in memory (what a read returned): slices of one wide frame."""

    wide: pl.DataFrame

    def frames(self, after: int, end: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]:
        part = _up_to_end(self.wide.filter(pl.col("seq") > after), end)
        for offset in range(0, part.height, size):
            yield part.slice(offset, size)


@dataclass
class _StoreSource:
    """A store: the envelope and each type's fields, each table read once in ``seq`` order."""

    store: Store

    def frames(self, after: int, end: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]:
        from eventkit.codec import union
        from eventkit.store._reader import Ordered
        from eventkit.store.table import table_schema

        tables = self.store._tables
        state = self.store.state()
        if state is None:
            return
        upto = min(end, state.last_seq) if isinstance(end, int) else state.last_seq
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
                head = _up_to_end(batch.slice(offset, size), end)
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

    def frames(self, after: int, end: int | Instant | None, size: int,
               ) -> Iterator[pl.DataFrame]:
        last = self.conn.stream(self.stream).last_seq  # bounded by what the stream holds now
        stop = min(end, last) if isinstance(end, int) else last
        while after < stop:
            hi = min(after + size, stop)
            frame = self.conn.read(self.stream, subjects=self.subjects or None, start=after + 1,
                                   end=hi, progress=False).wide()
            if isinstance(end, Instant):
                kept = _up_to_end(frame, end)
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


def _up_to_end(frame: Any, end: int | Instant | None) -> Any:
    if end is None:
        return frame
    if isinstance(end, int):
        return frame.filter(pl.col("seq") <= end)
    return frame.filter(pl.col("time") <= _instant(end, "<="))


def _instant(value: Instant, op: Literal[">=", "<="]) -> pl.Expr:
    """The bound's nanosecond (:func:`eventkit._time.cutoff`: a microsecond bound
    covers its whole microsecond) as a literal at the clock's unit."""
    return pl.lit(cutoff(value, op)).cast(TIME)
