"""What a read returns: the envelope table, the typed tables, and where they came from."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from eventkit import export, query
from eventkit._deprecated import alias
from eventkit._time import Duration
from eventkit._typing import BuiltinFold, TimeColumn, TimeLike
from eventkit.codec import Decoded, union
from eventkit.envelope import Rules
from eventkit.exceptions import ConfigurationError, UnknownTypeError
from eventkit.query import Reducer

__all__ = ["Events", "ReadInfo", "Summary"]

_TYPED_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]


def _sorted_flags(envelope: pl.DataFrame) -> pl.DataFrame:
    """``envelope`` with ``seq`` and ``time`` flagged sorted where they are (checked once),
    so that every selection after it is a binary search."""
    flagged = []
    for name in ("seq", "time"):
        if name not in envelope.columns:
            continue
        column = envelope.get_column(name)
        if column.flags["SORTED_ASC"] or column.null_count() or not column.is_sorted():
            continue
        flagged.append(name)
    for name in flagged:
        envelope = envelope.set_sorted(name)
    return envelope


def _narrow(typed: pl.DataFrame, envelope: pl.DataFrame, run: bool) -> pl.DataFrame:
    """The rows of ``typed`` (ordered by ``seq``) whose events are in ``envelope``.

    With ``run`` (``envelope`` holds every event of the typed tables between
    its first and last ``seq``: a time or sequence range of a read) that is a
    zero-copy slice found by binary search; otherwise a semi-join on ``seq``.
    """
    if envelope.is_empty() or typed.is_empty():
        return typed.clear()
    seqs = typed.get_column("seq")
    if run and (seqs.flags["SORTED_ASC"] or seqs.is_sorted()):
        span = envelope.get_column("seq")
        lo = int(seqs.search_sorted(span[0], side="left"))
        hi = int(seqs.search_sorted(span[-1], side="right"))
        return typed.slice(lo, hi - lo)
    return typed.join(envelope.select("seq"), on="seq", how="semi", maintain_order="left")


def _is_run(part: pl.DataFrame, whole: pl.DataFrame) -> bool:
    """Whether ``part`` (rows of ``whole``, in order) is a run of consecutive rows of it:
    two binary searches on a sorted ``seq``."""
    if part.is_empty() or part.height == whole.height:
        return True
    seqs = whole.get_column("seq")
    if not seqs.flags["SORTED_ASC"]:
        return False
    span = part.get_column("seq")
    lo = int(seqs.search_sorted(span[0], side="left"))
    hi = int(seqs.search_sorted(span[-1], side="right"))
    return hi - lo == part.height


@dataclass(frozen=True, slots=True)
class ReadInfo:
    """What was read: from where, which range, and how fast."""

    server: str
    stream: str
    subjects: tuple[str, ...]
    first_seq: int | None
    last_seq: int | None
    read_at: dt.datetime
    seconds: float
    rules: Rules = field(repr=False)
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        span = (f"seq {self.first_seq:,}..{self.last_seq:,}" if self.first_seq is not None
                and self.last_seq is not None else "nothing")
        subjects = f" ({', '.join(self.subjects)})" if self.subjects else ""
        return "\n".join([f"{self.stream}{subjects} on {self.server}: {span}, read at "
                           f"{self.read_at:%Y-%m-%d %H:%M:%S} UTC in {self.seconds:.2f} s",
                           *self.notes])

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html(f"Read of {self.stream}", str(self))


@dataclass(frozen=True, slots=True)
class Summary:
    """A short account of a table of events."""

    events: int
    per_type: pl.DataFrame
    first_time: dt.datetime | None
    last_time: dt.datetime | None
    first_event_time: dt.datetime | None
    last_event_time: dt.datetime | None
    entities: int
    malformed: int
    seconds: float | None

    @property
    def events_per_second(self) -> float | None:
        if not self.seconds:
            return None
        return self.events / self.seconds

    def __str__(self) -> str:
        lines = [f"{self.events:,} events, {self.entities:,} entities, "
                 f"{self.malformed:,} malformed (kept, flagged in 'error')"]
        if self.first_event_time is not None:
            lines.append(f"event time  {self.first_event_time:%Y-%m-%d %H:%M:%S} .. "
                         f"{self.last_event_time:%Y-%m-%d %H:%M:%S} UTC")
        if self.first_time is not None:
            lines.append(f"stored      {self.first_time:%Y-%m-%d %H:%M:%S} .. "
                         f"{self.last_time:%Y-%m-%d %H:%M:%S} UTC")
        if self.events_per_second:
            lines.append(f"read in {self.seconds:.2f} s: {self.events_per_second:,.0f} events/s")
        width = max((len(t or "") for t in self.per_type["type"]), default=4)
        for event_type, count in self.per_type.iter_rows():
            lines.append(f"  {event_type or '(none)':<{width}}  {count:>10,}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html("Summary of events", str(self))


class Events:
    """Events read from a stream: an envelope row per event, ordered by ``seq``.

    ``to_polars()`` gives the envelope (see :mod:`eventkit.envelope`);
    ``of_type(name)`` gives one event type with its payload fields as typed
    columns.

    Examples
    --------
    >>> from eventkit.codec import decode
    >>> import datetime as dt
    >>> t = pl.Series([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * 2).cast(pl.Datetime("ns", "UTC"))
    >>> events = Events(decode(pl.Series([1, 2], dtype=pl.UInt64), t, [b"r.x", b"r.x"],
    ...                        [None, None], [b'{"type":"a","id":"k1","n":1}', b""], Rules()))
    >>> len(events), events.types, events.type_counts(), events.malformed().height
    (2, ['a', 'x'], {'a': 1, 'x': 1}, 1)
    >>> events.of_type("a").select("seq", "key", "n")
    shape: (1, 3)
    ┌─────┬─────┬─────┐
    │ seq ┆ key ┆ n   │
    │ --- ┆ --- ┆ --- │
    │ u64 ┆ str ┆ i64 │
    ╞═════╪═════╪═════╡
    │ 1   ┆ k1  ┆ 1   │
    └─────┴─────┴─────┘
    """

    def __init__(self, decoded: Decoded, info: ReadInfo | None = None) -> None:
        self._envelope = _sorted_flags(decoded.envelope)
        self._all_typed: Mapping[str, pl.DataFrame] = decoded.typed
        self._narrowed: dict[str, pl.DataFrame] | None = None
        self._run = True  # the envelope is a run of the rows the typed tables were made for
        self.info = info

    @property
    def _typed(self) -> Mapping[str, pl.DataFrame]:
        """The typed tables narrowed to this selection's events, the first time they are used.

        A selection keeps its parent's typed tables and narrows them here: by
        a binary search on ``seq`` (zero-copy slices) when the selection is a
        run of the parent's rows, by a semi-join otherwise. A selection never
        touches the typed tables itself.
        """
        if self._narrowed is None:
            narrowed = {name: _narrow(frame, self._envelope, self._run)
                        for name, frame in self._all_typed.items()}
            self._narrowed = {name: f for name, f in narrowed.items() if f.height}
        return self._narrowed

    # -- tables ------------------------------------------------------------
    def to_polars(self) -> pl.DataFrame:
        """The envelope as a polars DataFrame, ordered by ``seq``."""
        return self._envelope

    def to_arrow(self) -> pa.Table:
        """The envelope as a pyarrow Table."""
        return self._envelope.to_arrow()

    def lazy(self) -> pl.LazyFrame:
        return self._envelope.lazy()

    @property
    def types(self) -> list[str]:
        """The event types present, sorted (as on :class:`~eventkit.Store` and
        :class:`~eventkit.SchemaRegistry`); :meth:`type_counts` counts them."""
        return sorted(self._envelope["type"].drop_nulls().unique().to_list())

    def type_counts(self) -> dict[str, int]:
        """Events per type, by type name (as :meth:`eventkit.Store.type_counts`)."""
        counts = self._envelope.group_by("type").len().drop_nulls("type")
        return dict(sorted(counts.iter_rows()))

    def of_type(self, event_type: str) -> pl.DataFrame:
        """One event type: ``seq, subject, time, type, key, event_time``, then its fields.

        Events of the type whose payload did not decode are included with
        null fields (their reason is in the envelope's ``error``).
        """
        if event_type not in self._typed:
            if self._envelope.filter(pl.col("type") == event_type).is_empty():
                known = ", ".join(self.types) or "none"
                raise UnknownTypeError(
                    f"no events of type {event_type!r} in this read; types present: {known}"
                )
            return self._envelope.filter(pl.col("type") == event_type).select(_TYPED_HEAD)
        head = self._envelope.filter(pl.col("type") == event_type).select(_TYPED_HEAD)
        return head.join(self._typed[event_type], on="seq", how="left", maintain_order="left")

    def wide(self) -> pl.DataFrame:
        """The envelope with every type's payload fields as columns (null where absent).

        This is the frame entity states are folded over: a ride's state
        merges the fields of all its events, whatever their type.
        """
        if not self._typed:
            return self._envelope
        fields = union(list(self._typed.values())).sort("seq")
        return self._envelope.join(fields, on="seq", how="left", maintain_order="left")

    # -- temporal selections (see eventkit.query): Events in, Events out ------
    def _keep(self, envelope: pl.DataFrame) -> Events:
        """The events of ``envelope`` (rows of this one, in order); the typed tables are
        narrowed when first used (see :attr:`_typed`), never here."""
        kept = Events.__new__(Events)  # a selection keeps the sorted flags: nothing to check
        kept._envelope, kept._narrowed, kept.info = envelope, None, self.info
        if self._narrowed is not None:  # already narrowed: start from the smaller tables
            kept._all_typed, kept._run = self._narrowed, True
        else:
            kept._all_typed, kept._run = self._all_typed, self._run
        kept._run = kept._run and _is_run(envelope, self._envelope)
        return kept

    def between(self, t0: TimeLike | None, t1: TimeLike | None, *,
                on: TimeColumn = "event_time") -> Events:
        """Events from ``t0`` (included) to ``t1`` (excluded).

        See :func:`eventkit.query.between`.
        """
        return self._keep(query.between(self._envelope, t0, t1, on=on))

    def as_of(self, t: TimeLike, *, on: TimeColumn = "event_time") -> Events:
        """Everything known at ``t``; see :func:`eventkit.query.as_of`."""
        return self._keep(query.as_of(self._envelope, t, on=on))

    def upto(self, seq: int | str) -> Events:
        """Events up to and including sequence ``seq``."""
        return self._keep(query.upto(self._envelope, seq))

    # -- temporal answers (see eventkit.query): polars frames ----------------
    def state_at(self, t: TimeLike | None = None, *, key: str | Sequence[str] = "key",
                 fold: BuiltinFold | Reducer = "merge", initial: Any = None,
                 on: TimeColumn = "event_time",
                 fields: Sequence[str] | None = None) -> pl.DataFrame:
        """One row per entity: its state at ``t``; see :func:`eventkit.query.state_at`."""
        return query.state_at(self._payload_frame(), t, key=key, fold=fold, initial=initial,
                              on=on, fields=fields)

    def diff(self, t1: TimeLike, t2: TimeLike, *, key: str | Sequence[str] = "key",
             end_types: Iterable[str] | None = None, fold: BuiltinFold | Reducer = "merge",
             initial: Any = None, on: TimeColumn = "event_time",
             fields: Sequence[str] | None = None) -> pl.DataFrame:
        """Entities created, changed and ended between ``t1`` and ``t2``; see
        :func:`eventkit.query.diff`."""
        return query.diff(self._payload_frame(), t1, t2, key=key, end_types=end_types,
                          fold=fold, initial=initial, on=on, fields=fields)

    def windows(self, every: str | dt.timedelta | Duration, *,
                period: str | dt.timedelta | Duration | None = None,
                by: str | Sequence[str] | None = None,
                aggs: Mapping[str, pl.Expr] | Iterable[pl.Expr] | None = None,
                on: TimeColumn = "event_time") -> pl.DataFrame:
        """Counts (and aggregates) per time window; see :func:`eventkit.query.windows`."""
        return query.windows(self._envelope, every, period=period, by=by, aggs=aggs, on=on)

    def sessions(self, gap: str | dt.timedelta | Duration, *,
                 key: str | Sequence[str] = "key",
                 on: TimeColumn = "event_time") -> pl.DataFrame:
        """Session windows per entity; see :func:`eventkit.query.sessions`."""
        return query.sessions(self._envelope, gap, key=key, on=on)

    def durations(self, start_type: str, end_type: str, *, key: str | Sequence[str] = "key",
                  on: TimeColumn = "event_time") -> pl.DataFrame:
        """Time from ``start_type`` to the next ``end_type`` per entity; see
        :func:`eventkit.query.durations`."""
        return query.durations(self._envelope, start_type, end_type, key=key, on=on)

    def join_asof(self, left_type: str, right_type: str, *,
                  by: str | Sequence[str] | None = "key",
                  by_left: str | Sequence[str] | None = None,
                  by_right: str | Sequence[str] | None = None,
                  fields: Sequence[str] | None = None, suffix: str = "_right",
                  on: TimeColumn = "event_time") -> pl.DataFrame:
        """Each ``left_type`` event with the latest ``right_type`` event before it; see
        :func:`eventkit.query.join_asof`."""
        return query.join_asof(self.of_type(left_type), self.of_type(right_type), by=by,
                               by_left=by_left, by_right=by_right, fields=fields,
                               suffix=suffix, on=on)

    join_as_of = alias(join_asof, "join_as_of")

    def late_events(self, *, key: str | Sequence[str] | None = "key") -> pl.DataFrame:
        """Events older (in ``event_time``) than one already seen for their entity; see
        :func:`eventkit.query.late_events`."""
        return query.late_events(self._envelope, key=key)

    # -- content, one entity, counts ----------------------------------------
    def filter(self, condition: str | pl.Expr) -> Events:
        """The events whose content matches: a filter typed as data, or a polars expression.

        ``condition`` is text such as ``"fare > 50 and city = paris"``,
        ``"driver_id contains 42"`` or ``"payload.address.city = oslo"``
        (parsed, never evaluated as code: see :mod:`eventkit.where`), or a
        polars expression over the payload-wide table (:meth:`wide`).

        Raises
        ------
        ConfigurationError
            The text is not a filter, or names a field these events do not have.

        Examples
        --------
        >>> from eventkit.codec import Decoded
        >>> env = pl.DataFrame({"seq": [1, 2], "type": ["a", "a"], "key": ["k1", "k2"]})
        >>> events = Events(Decoded(env, {"a": pl.DataFrame({"seq": [1, 2], "fare": [5, 60]})}))
        >>> events.filter("fare > 50").to_polars()["seq"].to_list()
        [2]
        >>> len(events.filter(pl.col("fare") < 10))
        1
        """
        from eventkit.where import filter_frame

        wide = self.wide()
        if isinstance(condition, str):
            kept = filter_frame(wide, condition)
        elif isinstance(condition, pl.Expr):
            kept = wide.filter(condition)
        else:
            raise ConfigurationError(
                f"filter takes a filter as text ('fare > 50') or a polars expression, "
                f"not {type(condition).__name__}")
        return self._keep(self._envelope.join(kept.select("seq"), on="seq", how="semi",
                                              maintain_order="left"))

    def history(self, key: str) -> pl.DataFrame:
        """One entity's events in order, on both clocks, with what each changed; see
        :func:`eventkit.query.history`."""
        return query.history(self.wide(), key)

    def pivot(self, by: str | list[str] = "type", *, sums: list[str] | tuple[str, ...] = (),
              where: str | None = None) -> pl.DataFrame:
        """Counts and sums per group (type, subject, key or a field); see
        :func:`eventkit.query.pivot`."""
        return query.pivot(self._payload_frame(), by, sums=sums, where=where)

    # -- writing out ---------------------------------------------------------
    def write_parquet(self, path: str | Path, *, wide: bool = False) -> Path:
        """Write the events (the envelope, or with ``wide=True`` every payload field too) as
        Parquet, the payload bytes as they are. Returns the path."""
        return export.write(self.wide() if wide else self._envelope, path, format="parquet")

    def write_csv(self, path: str | Path, *, wide: bool = False) -> Path:
        """Write the events as CSV: the binary payload as UTF-8 text where it is (base64
        otherwise, ``data_encoding`` says which); see :func:`eventkit.export.write`."""
        return export.write(self.wide() if wide else self._envelope, path, format="csv")

    def write_ndjson(self, path: str | Path, *, wide: bool = False) -> Path:
        """Write the events as JSON lines, the payload as text like :meth:`write_csv`."""
        return export.write(self.wide() if wide else self._envelope, path, format="jsonl")

    def _payload_frame(self) -> pl.DataFrame:
        return self.wide().drop("headers", "data", "error")

    def malformed(self) -> pl.DataFrame:
        """Events whose payload did not decode, with the reason in ``error``."""
        return self._envelope.filter(pl.col("error").is_not_null())

    # -- facts -------------------------------------------------------------
    def summary(self) -> Summary:
        env = self._envelope
        per_type = (
            env.group_by("type").len("events").sort(["events", "type"], descending=[True, False])
        )
        stats = env.select(
            pl.col("time").min().alias("t0"), pl.col("time").max().alias("t1"),
            pl.col("event_time").min().alias("e0"), pl.col("event_time").max().alias("e1"),
            pl.col("key").n_unique().alias("keys"),
            pl.col("key").null_count().alias("nokey"),
            pl.col("error").is_not_null().sum().alias("bad"),
        ).row(0, named=True)
        entities = stats["keys"] - (1 if stats["nokey"] else 0)
        return Summary(
            events=env.height, per_type=per_type, first_time=stats["t0"], last_time=stats["t1"],
            first_event_time=stats["e0"], last_event_time=stats["e1"], entities=entities,
            malformed=stats["bad"], seconds=self.info.seconds if self.info else None,
        )

    def __len__(self) -> int:
        return self._envelope.height

    def __repr__(self) -> str:
        where = ""
        if self.info is not None:
            where = f" from {self.info.stream!r}"
            if self.info.first_seq is not None:
                where += f" seq {self.info.first_seq}..{self.info.last_seq}"
        return f"<Events{where}: {len(self):,} events, {len(self._typed)} types>"

    def _repr_html_(self) -> str:
        summary = html.escape(str(self.summary()))
        return (f"<pre>{html.escape(repr(self))}\n{summary}</pre>"
                + self._envelope.head(10)._repr_html_())
