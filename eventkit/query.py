"""Temporal queries: pure functions over polars frames of events.

Every function takes a frame of events as its first argument: a polars
``DataFrame`` or ``LazyFrame`` with the envelope columns (see
:mod:`eventkit.envelope`) and, in a typed table, one column per decoded
payload field. It returns the same kind of frame: a ``DataFrame`` for a
``DataFrame``, a ``LazyFrame`` (nothing computed yet) for a ``LazyFrame``.
Nothing here reads NATS or files; a function needs only the columns it uses.

Clocks
    Every function reads time on one clock, named by ``on``: ``"event_time"``
    (valid time: when it happened, from the payload) by default, or
    ``"time"`` (transaction time: when the server stored it). The default is
    event time everywhere in eventkit (queries, ``Events``, charts, widgets,
    replay pacing) because it is what an analyst means by "at noon": the
    state of a ride at noon is what had happened to it by noon, a late event
    included. Transaction time answers "what did the system know then", the
    question of an audit or of an incident review: ask for it with
    ``on="time"``. Replay and reads follow the stream, so their ``start``
    and ``until``/``end`` bounds are on transaction time.

Order
    Frames are in stream order (``seq`` ascending), as reads and stores give
    them. On valid time (``on="event_time"``) events are ordered by
    ``(event_time, seq)``: ties in time are always broken by the sequence,
    never left to chance. On transaction time (``on="time"``) events are
    taken in stream order; transaction time never decreases along ``seq``, so
    on ``time`` the two rules agree.

Positions
    An ``int`` (or a string of digits) is a stream sequence and selects on
    ``seq`` whichever clock ``on`` names; a time (an aware ``datetime``, an
    ISO-8601 string with up to nine fraction digits, a ``pandas.Timestamp``,
    a ``numpy.datetime64``, a one-value polars datetime ``Series``) is an
    instant on the ``on`` column, exact to the nanosecond; a ``timedelta``
    or a duration such as ``"15m"`` means that long before now. Naive
    datetimes are refused. A time given at microsecond precision (a Python
    ``datetime``, as ``df["time"][i]`` gives) stands for its whole
    microsecond: an inclusive bound (``as_of``, ``state_at``, ``until``)
    keeps the events in its nanoseconds, as polars' ``col <= t`` does, so an
    event picked from a table is never lost (see :func:`eventkit._time.cutoff`).

Nulls
    An event with a null ``event_time`` has no valid time: selections, states,
    windows and joins on ``event_time`` leave it out. An event with a null key
    belongs to no entity and is left out of every per-entity answer.

Payload fields
    The state of an entity is made of its payload columns: every column that
    is not an envelope column nor part of the key (or those named in
    ``fields=``).

The examples assume ``import datetime as dt`` and ``import polars as pl``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import polars as pl

from eventkit._deprecated import alias
from eventkit._time import Duration, Instant, cutoff, to_duration, to_position
from eventkit._typing import BuiltinFold, TimeColumn, TimeLike
from eventkit.browsing import history, pivot
from eventkit.envelope import ENVELOPE_SCHEMA
from eventkit.exceptions import ConfigurationError, TimeArgumentError

if TYPE_CHECKING:
    from polars._typing import EngineType

__all__ = [
    "BuiltinFold",
    "Reducer",
    "as_of",
    "between",
    "diff",
    "durations",
    "history",
    "join_as_of",
    "join_asof",
    "late_events",
    "pivot",
    "sessions",
    "state_at",
    "upto",
    "windows",
]

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


#: A fold written in Python: ``(state, event) -> state``, where ``event`` is a
#: dict of one event's columns and the first ``state`` is ``initial``.
Reducer: TypeAlias = Callable[[Any, dict[str, Any]], Any]

Position: TypeAlias = int | Instant
_Bound: TypeAlias = tuple[str, Position, Literal[">=", ">", "<=", "<"]]


# -- selections -------------------------------------------------------------------


def between(
    frame: Frame, t0: TimeLike | None, t1: TimeLike | None, *, on: TimeColumn = "event_time"
) -> Frame:
    """Events from ``t0`` (included) up to ``t1`` (excluded).

    The interval is half-open, so consecutive intervals never share an event.
    ``None`` leaves that side open. Each bound is a sequence or a time (see
    the module docstring); the two may differ in kind.

    On an eager ``DataFrame`` whose selecting column is sorted (flagged by
    ``set_sorted``, as a store sets it, or checked once) the rows are found by
    binary search and returned as a zero-copy slice; otherwise by a filter.

    Parameters
    ----------
    frame
        Events in stream order.
    t0, t1
        Start (inclusive) and end (exclusive).
    on
        ``"time"``: when the store got the event; ``"event_time"``: when it
        happened (events without one are left out).

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        The selected rows in stream order.

    See Also
    --------
    as_of : everything known at one point.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4],
    ...     "time": [at("12:00"), at("12:05"), at("12:05"), at("12:10")],
    ...     "event_time": [at("12:00"), at("11:50"), at("12:04"), None],
    ... })
    >>> between(events, at("12:00"), at("12:05"))["seq"].to_list()  # when they happened
    [1, 3]
    >>> between(events, "2026-11-01T12:05:00Z", None, on="time")["seq"].to_list()  # stored
    [2, 3, 4]
    >>> between(events, 2, 4)["seq"].to_list()  # sequences: 2 and 3
    [2, 3]
    """
    return _select(frame, _between_bounds(t0, t1, on))


def as_of(frame: Frame, t: TimeLike, *, on: TimeColumn = "event_time") -> Frame:
    """Everything known at ``t``: the events at or before it.

    With ``on="event_time"`` (the default) it is the events that had
    happened by ``t`` according to all we know now, late arrivals included.
    With ``on="time"`` it is the store as it was at ``t``; events stored at
    exactly ``t`` are included. A sequence includes the event with that
    sequence. To ask what was known at ``T`` about the world at ``t``, chain
    the two: ``as_of(as_of(frame, T, on="time"), t)``. A ``datetime`` ``t``
    covers its whole microsecond.

    Parameters
    ----------
    frame
        Events in stream order.
    t
        A sequence, a time or a duration ago.
    on
        The clock ``t`` is read on.

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        The rows at or before ``t``. On a sorted eager ``DataFrame`` they are a
        slice found by binary search, O(log n); see :func:`between`.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3],
    ...     "time": [at("12:00"), at("12:05"), at("12:10")],
    ...     "event_time": [at("12:00"), at("12:06"), at("11:55")],
    ... })
    >>> as_of(events, at("12:05"))["seq"].to_list()  # had happened by 12:05 (3 came late)
    [1, 3]
    >>> as_of(events, at("12:05"), on="time")["seq"].to_list()  # was stored by 12:05
    [1, 2]
    """
    return _select(frame, _as_of_bounds(t, on))


def upto(frame: Frame, seq: int | str) -> Frame:
    """The events up to and including stream sequence ``seq``.

    Examples
    --------
    >>> upto(pl.DataFrame({"seq": [1, 2, 5, 9]}), 5)["seq"].to_list()
    [1, 2, 5]
    """
    return _select(frame, _upto_bounds(seq))


# -- entity state -----------------------------------------------------------------


def state_at(
    frame: Frame,
    t: TimeLike | None = None,
    *,
    key: str | Sequence[str] = "key",
    fold: BuiltinFold | Reducer = "merge",
    initial: Any = None,
    on: TimeColumn = "event_time",
    fields: Sequence[str] | None = None,
) -> Frame:
    """The state of each entity at ``t``: one row per entity, sorted by key.

    The events known at ``t`` (see :func:`as_of`; ``None`` means all of them)
    are folded per entity in order. On ``time`` that is stream order: a late
    event is applied when it arrived, so it overwrites what came before it,
    as it did in the store. On ``event_time`` it is ``(event_time, seq)``
    order: a late event is applied where it happened, and changes a field
    only if no event that happened after it set that field too. Events at the
    same instant are applied in sequence order, so the higher sequence wins.

    Parameters
    ----------
    frame
        Events in stream order, with ``seq``, ``type``, the ``on`` column,
        the key and the payload columns.
    t
        A sequence, a time, a duration ago, or ``None`` for the latest state.
    key
        The column (or columns) naming the entity.
    fold
        ``"merge"`` (the latest non-null value of each field wins), ``"last"``
        (the fields of the entity's last event, nulls included), both run in
        polars; or a Python reducer ``(state, event) -> state`` called once
        per event in order, with ``event`` a dict of the event's columns.
        A reducer's dict states become columns; other states one ``state``
        column.
    initial
        The state a reducer starts from (a fresh deep copy per entity).
    on
        The clock ``t`` is read on and events are ordered by.
    fields
        The payload columns to fold (default: all of them).

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        The key columns, then ``seq``, the ``on`` column and ``type`` of the last
        event applied, then the state's columns.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4],
    ...     "event_time": [at("12:00"), at("12:01"), at("12:02"), at("12:09")],
    ...     "type": ["ride_requested", "driver_assigned", "ride_requested", "trip_completed"],
    ...     "key": ["r1", "r1", "r2", "r1"],
    ...     "driver": [None, "d7", None, None],
    ...     "fare": [None, None, None, 12.5],
    ... })
    >>> state_at(events, at("12:05"))
    shape: (2, 6)
    ┌─────┬─────┬─────────────────────────┬─────────────────┬────────┬──────┐
    │ key ┆ seq ┆ event_time              ┆ type            ┆ driver ┆ fare │
    │ --- ┆ --- ┆ ---                     ┆ ---             ┆ ---    ┆ ---  │
    │ str ┆ i64 ┆ datetime[μs, UTC]       ┆ str             ┆ str    ┆ f64  │
    ╞═════╪═════╪═════════════════════════╪═════════════════╪════════╪══════╡
    │ r1  ┆ 2   ┆ 2026-11-01 12:01:00 UTC ┆ driver_assigned ┆ d7     ┆ null │
    │ r2  ┆ 3   ┆ 2026-11-01 12:02:00 UTC ┆ ride_requested  ┆ null   ┆ null │
    └─────┴─────┴─────────────────────────┴─────────────────┴────────┴──────┘
    >>> state_at(events)["driver", "fare"].row(0)  # merge keeps the driver
    ('d7', 12.5)
    >>> state_at(events, fold="last")["driver", "fare"].row(0)
    (None, 12.5)
    >>> count = lambda n, event: n + 1
    >>> state_at(events, fold=count, initial=0)["key", "state"].rows()
    [('r1', 3), ('r2', 1)]

    A late event, and a tie: seq 2 arrives after seq 1 but happened before
    it; seq 3 happened at the same instant as seq 1.

    >>> late = pl.DataFrame({
    ...     "seq": [1, 2, 3],
    ...     "time": [at("12:00"), at("12:05"), at("12:06")],
    ...     "event_time": [at("12:00"), at("11:58"), at("12:00")],
    ...     "type": ["driver_assigned", "ride_requested", "driver_located"],
    ...     "key": ["r1", "r1", "r1"],
    ...     "status": ["assigned", "requested", None],
    ...     "zone": [None, "north", "south"],
    ... })
    >>> state_at(late, at("12:05"), on="time")["status", "zone"].row(0)  # as it arrived
    ('requested', 'north')
    >>> state_at(late, at("12:05"))["status", "zone"].row(0)  # as it happened (the default)
    ('assigned', 'south')
    """
    keys: list[str] = _names(key)
    schema = _lazy(frame).collect_schema()
    _check_clock(schema, on)
    _require(schema, ["type", *keys])
    columns = _payload(schema, keys, fields)
    known = frame if t is None else as_of(frame, t, on=on)
    if callable(fold):
        result = _reduce(_entity_events(known, keys, on).collect(), keys, fold, initial, on)
    elif fold in ("merge", "last"):
        if initial is not None:
            raise ConfigurationError("initial= is for a Python reducer fold, not for fold=" + fold)
        # fold="last" on event_time takes each entity's latest rows, never sorting them all
        history = (_latest(known, keys, on) if fold == "last" and on == "event_time"
                   else _timeline(known, on))
        result = _last_values(
            history, keys, on, columns,
            skip_nulls=fold == "merge", eager=isinstance(frame, pl.DataFrame),
        )
    else:
        raise ConfigurationError(
            f"fold={fold!r}: use 'merge', 'last' or a function (state, event) -> state"
        )
    # Ordered aggregations ("last") run about twice as fast in memory as streaming.
    return _like(result.sort(keys), frame, engine="in-memory")


def diff(
    frame: Frame,
    t1: TimeLike,
    t2: TimeLike,
    *,
    key: str | Sequence[str] = "key",
    end_types: Iterable[str] | None = None,
    fold: BuiltinFold | Reducer = "merge",
    initial: Any = None,
    on: TimeColumn = "event_time",
    fields: Sequence[str] | None = None,
) -> Frame:
    """What changed between ``t1`` and ``t2``: one row per entity that differs.

    The states at ``t1`` and ``t2`` (see :func:`state_at`, which takes the
    same ``key``, ``fold``, ``initial``, ``on`` and ``fields``) are compared
    field by field, null-aware. An entity is

    * ``"ended"`` if its last event at ``t2`` is one of ``end_types`` and at
      ``t1`` it was not (or it had no event yet: an entity created and ended
      in between is reported as ended, with a null ``before``);
    * ``"created"`` if it had no event at ``t1``;
    * ``"changed"`` if any field differs.

    Entities that received events whose fields stayed equal are not listed.

    Parameters
    ----------
    t1, t2
        Two sequences or two times, ``t1`` at or before ``t2``.
    end_types
        Event types that end an entity, e.g. ``("trip_completed",
        "ride_cancelled")``; ``None``: nothing ends.

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        The key columns, ``change``, ``fields`` (the names of the fields that
        differ), and ``before`` and ``after``: structs of the fields at ``t1``
        (null if the entity did not exist) and at ``t2``.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4, 5],
    ...     "event_time": [at("12:00"), at("12:01"), at("12:02"), at("12:06"), at("12:07")],
    ...     "type": ["ride_requested", "ride_requested", "driver_assigned",
    ...              "driver_assigned", "trip_completed"],
    ...     "key": ["r1", "r2", "r1", "r2", "r1"],
    ...     "driver": [None, None, "d7", "d9", None],
    ...     "fare": [None, None, None, None, 12.5],
    ... })
    >>> diff(events, at("12:01"), at("12:10"), end_types=["trip_completed"])
    shape: (2, 5)
    ┌─────┬─────────┬────────────────────┬─────────────┬─────────────┐
    │ key ┆ change  ┆ fields             ┆ before      ┆ after       │
    │ --- ┆ ---     ┆ ---                ┆ ---         ┆ ---         │
    │ str ┆ str     ┆ list[str]          ┆ struct[2]   ┆ struct[2]   │
    ╞═════╪═════════╪════════════════════╪═════════════╪═════════════╡
    │ r1  ┆ ended   ┆ ["driver", "fare"] ┆ {null,null} ┆ {"d7",12.5} │
    │ r2  ┆ changed ┆ ["driver"]         ┆ {null,null} ┆ {"d9",null} │
    └─────┴─────────┴────────────────────┴─────────────┴─────────────┘
    """
    first, second = to_position(t1, what="t1"), to_position(t2, what="t2")
    if isinstance(first, int) != isinstance(second, int):
        raise TimeArgumentError(f"t1={t1!r} and t2={t2!r}: give two sequences or two times")
    if second < first:  # type: ignore[operator]
        raise TimeArgumentError(f"t2={t2!r} is before t1={t1!r}: diff looks forward in time")
    keys: list[str] = _names(key)
    options: dict[str, Any] = dict(key=keys, fold=fold, initial=initial, on=on, fields=fields)
    old = _lazy(state_at(frame, first, **options))
    new = _lazy(state_at(frame, second, **options))
    return _like(compare_states(old, new, key=keys, on=on, end_types=end_types).sort(keys), frame)


def compare_states(old: pl.LazyFrame, new: pl.LazyFrame, *, key: str | Sequence[str] = "key",
                   on: TimeColumn = "event_time",
                   end_types: Iterable[str] | None = None) -> pl.LazyFrame:
    """The rows of :func:`diff` (unsorted) from two states as :func:`state_at` makes them:
    ``old`` at ``t1``, ``new`` at ``t2`` (an entity missing from ``new`` is unchanged)."""
    keys: list[str] = _names(key)
    meta = {*keys, "seq", on, "type"}
    old_schema, new_schema = old.collect_schema(), new.collect_schema()
    columns = [c for c in {**new_schema, **old_schema} if c not in meta]
    if not columns:
        raise ConfigurationError(
            "diff compares payload fields, and these events have none: "
            "read them decoded (a typed table) or give a fold that makes a state"
        )
    old = old.select(*keys, "type", *(_column_or_null(old_schema, new_schema, c) for c in columns))
    new = new.select(*keys, "type", *(_column_or_null(new_schema, old_schema, c) for c in columns))
    joined = new.join(old, on=keys, how="left", suffix="\0before")
    existed = pl.col("type\0before").is_not_null()
    ends = list(end_types or ())
    ended = pl.col("type").is_in(ends) & ~(existed & pl.col("type\0before").is_in(ends))
    differs = [pl.col(c).ne_missing(pl.col(c + "\0before")) for c in columns]
    change = (
        pl.when(ended).then(pl.lit("ended"))
        .when(~existed).then(pl.lit("created"))
        .when(pl.any_horizontal(differs)).then(pl.lit("changed"))
    )
    return joined.select(
        *keys,
        change.alias("change"),
        _names_where(differs, columns).alias("fields"),
        pl.when(existed)
        .then(pl.struct([pl.col(c + "\0before").alias(c) for c in columns]))
        .alias("before"),
        pl.struct(columns).alias("after"),
    ).filter(pl.col("change").is_not_null())


# -- windows ----------------------------------------------------------------------


def windows(
    frame: Frame,
    every: str | dt.timedelta | Duration,
    *,
    period: str | dt.timedelta | Duration | None = None,
    by: str | Sequence[str] | None = None,
    aggs: Mapping[str, pl.Expr] | Iterable[pl.Expr] | None = None,
    on: TimeColumn = "event_time",
) -> Frame:
    """Event counts (and other aggregates) per time window, per group.

    Windows start every ``every`` on a grid anchored at the Unix epoch (UTC)
    and last ``period`` (default: ``every``, tumbling windows). A longer
    period gives sliding windows, where an event counts in each window that
    holds it; a window holds ``start <= t < end``, so an event at a window's
    end counts in the next one. Only windows holding an event are listed. On
    ``event_time`` a late event counts where it happened.

    Parameters
    ----------
    every
        The step between window starts: a ``timedelta`` or a duration such as
        ``"500ns"``, ``"15m"`` or ``"1mo"`` (the one grammar of durations:
        fixed units exact to the nanosecond and anchored at the epoch,
        calendar months at month starts).
    period
        The length of each window, in the same grammar.
    by
        Columns to group by as well, e.g. ``"type"``, ``"subject"`` or ``"key"``.
    aggs
        More aggregates, as polars expressions (a mapping names them).
    on
        The clock the windows are laid on.

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        ``window_start``, ``window_end``, the ``by`` columns, ``count`` and the
        ``aggs``, sorted by window and group.

    Examples
    --------
    >>> at = lambda hms: dt.datetime.fromisoformat(f"2026-11-01T{hms}Z")
    >>> events = pl.DataFrame({
    ...     "event_time": [at("12:00:10"), at("12:00:50"), at("12:01:00"), at("12:01:30")],
    ...     "type": ["ride_requested", "ride_requested", "driver_assigned", "ride_requested"],
    ...     "fare": [None, None, 7.0, None],
    ... })
    >>> windows(events, "1m", by="type")
    shape: (3, 4)
    ┌─────────────────────────┬─────────────────────────┬─────────────────┬───────┐
    │ window_start            ┆ window_end              ┆ type            ┆ count │
    │ ---                     ┆ ---                     ┆ ---             ┆ ---   │
    │ datetime[μs, UTC]       ┆ datetime[μs, UTC]       ┆ str             ┆ u32   │
    ╞═════════════════════════╪═════════════════════════╪═════════════════╪═══════╡
    │ 2026-11-01 12:00:00 UTC ┆ 2026-11-01 12:01:00 UTC ┆ ride_requested  ┆ 2     │
    │ 2026-11-01 12:01:00 UTC ┆ 2026-11-01 12:02:00 UTC ┆ driver_assigned ┆ 1     │
    │ 2026-11-01 12:01:00 UTC ┆ 2026-11-01 12:02:00 UTC ┆ ride_requested  ┆ 1     │
    └─────────────────────────┴─────────────────────────┴─────────────────┴───────┘
    >>> windows(events, "1m", period="2m", aggs={"fares": pl.col("fare").sum()}).select(
    ...     pl.col("window_start").dt.strftime("%H:%M"), "count", "fares").rows()
    [('11:59', 2, 0.0), ('12:00', 4, 7.0), ('12:01', 2, 7.0)]
    """
    step = _duration(every, what="every")
    length = step if period is None else _duration(period, what="period")
    groups: list[str] = _names(by)
    lf = _lazy(frame)
    schema = lf.collect_schema()
    _check_clock(schema, on, seq=False)
    _require(schema, groups)
    start = pl.col(on).dt.truncate(step.polars)
    lf = lf.filter(pl.col(on).is_not_null())
    if length == step:
        lf = lf.with_columns(start.alias("window_start"))
    else:
        first = pl.col(on).dt.offset_by((-length).polars).dt.truncate(step.polars).dt.offset_by(
            step.polars)
        unit, zone = schema[on].time_unit, schema[on].time_zone  # type: ignore[attr-defined]
        starts = pl.datetime_ranges(first, start, step.polars, time_unit=unit, time_zone=zone)
        lf = lf.with_columns(starts.alias("window_start")).explode("window_start")
    result = (
        lf.filter(pl.col("window_start").is_not_null())
        .group_by("window_start", *groups)
        .agg(pl.len().alias("count"), *_aggregates(aggs))
        .with_columns(pl.col("window_start").dt.offset_by(length.polars).alias("window_end"))
        .sort("window_start", *groups)
    )
    order = ["window_start", "window_end", *groups]
    return _like(result.select(*order, pl.exclude(order)), frame)


def sessions(
    frame: Frame,
    gap: str | dt.timedelta | Duration,
    *,
    key: str | Sequence[str] = "key",
    on: TimeColumn = "event_time",
) -> Frame:
    """Session windows per entity: runs of events with no pause longer than ``gap``.

    An entity's events, in order, start a new session when more than ``gap``
    has passed since the previous one; a pause of exactly ``gap`` stays in
    the session. Sessions are numbered from 1 per entity. On ``event_time``
    a late event joins the session of the moment it happened.

    Parameters
    ----------
    gap
        The longest pause inside a session: a ``timedelta`` or a duration such
        as ``"10m"``, ``"500ns"`` or ``"1mo"``, compared exactly (a pause of
        ``gap`` plus one nanosecond starts a new session).
    key
        The column (or columns) naming the entity.
    on
        The clock pauses are measured on.

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        The key columns, ``session``, ``start`` and ``end`` (the first and last
        event's time), ``duration`` and ``events`` (how many), sorted.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4, 5],
    ...     "event_time": [at("12:00"), at("12:04"), at("12:05"), at("12:30"), at("12:33")],
    ...     "key": ["d7", "d7", "d9", "d7", "d7"],
    ... })
    >>> sessions(events, "10m").select("key", "session", "duration", "events").rows()
    [('d7', 1, datetime.timedelta(seconds=240), 2),
     ('d7', 2, datetime.timedelta(seconds=180), 2),
     ('d9', 1, datetime.timedelta(0), 1)]
    """
    pause = _duration(gap, what="gap", zero=True)
    keys: list[str] = _names(key)
    history = _by_entity(frame, keys, on)
    # exact: the previous time moved by the gap, at the column's own unit (and the
    # calendar, for months), never a duration rounded to microseconds
    begins = ~_same_entity(keys) | (pl.col(on) > pl.col(on).shift(1).dt.offset_by(pause.polars))
    # rows are in (entity, on, seq) order: a session is the run from a row that begins
    # one to the row before the next that does; no grouping needed
    starts = history.with_row_index("\0row").with_columns(
        begins.alias("\0begins"), (~_same_entity(keys)).alias("\0entity"),
        pl.len().alias("\0rows"),
    ).with_columns(pl.col("\0begins").shift(-1, fill_value=True).alias("\0ends"))
    first = starts.filter("\0begins").select(
        *keys, pl.col(on).alias("start"), pl.col("\0row"), pl.col("\0entity"),
        pl.col("\0rows"))
    last = starts.filter("\0ends").select(pl.col(on).alias("end"))
    result = (
        pl.concat([first, last], how="horizontal")
        .with_columns(
            (pl.col("\0row").shift(-1).fill_null(pl.col("\0rows")) - pl.col("\0row"))
            .cast(pl.UInt32).alias("events"),
            (pl.int_range(pl.len()) - pl.when(pl.col("\0entity")).then(pl.int_range(pl.len()))
             .forward_fill() + 1).cast(pl.UInt32).alias("session"),
        )
        .with_columns((pl.col("end") - pl.col("start")).alias("duration"))
        .select(*keys, "session", "start", "end", "duration", "events")
    )
    return _like(result, frame)


def durations(
    frame: Frame,
    start_type: str,
    end_type: str,
    *,
    key: str | Sequence[str] = "key",
    on: TimeColumn = "event_time",
) -> Frame:
    """Time from a ``start_type`` event to the next ``end_type`` event, per entity.

    An entity's events of the two types are read in order. A start opens a
    cycle unless one is open (a repeated start does not restart the clock:
    a second request still waits since the first); an end closes the open
    cycle (an end with no open cycle is ignored). A cycle still open has a
    null ``end`` and ``duration``: it is still waiting. On ``event_time`` a
    late event takes its place in the cycle where it happened.

    Parameters
    ----------
    start_type, end_type
        The event types that open and close a cycle, e.g. ``"ride_requested"``
        and ``"driver_assigned"`` for the waiting time.
    key
        The column (or columns) naming the entity.
    on
        The clock durations are measured on.

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        One row per cycle: the key columns, ``start``, ``end``, ``duration``,
        ``start_seq`` and ``end_seq``, sorted by key and start.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4, 5],
    ...     "event_time": [at("12:00"), at("12:01"), at("12:02"), at("12:06"), at("12:07")],
    ...     "type": ["ride_requested", "ride_requested", "ride_requested",
    ...              "driver_assigned", "driver_assigned"],
    ...     "key": ["r1", "r2", "r1", "r1", "r1"],
    ... })
    >>> durations(events, "ride_requested", "driver_assigned").select(
    ...     "key", "duration", "start_seq", "end_seq").rows()
    [('r1', datetime.timedelta(seconds=360), 1, 4), ('r2', None, 2, None)]
    """
    if start_type == end_type:
        raise ConfigurationError(f"start and end are both {start_type!r}: give two event types")
    keys: list[str] = _names(key)
    history = _by_entity(frame, keys, on, types=[start_type, end_type])
    first_of_run = ~_same_entity(keys) | pl.col("type").ne_missing(pl.col("type").shift(1))
    closes = _same_entity(keys, -1)  # the next row is the same entity's
    result = (
        history.filter(first_of_run)
        .with_columns(
            pl.when(closes).then(pl.col(on).shift(-1)).alias("end"),
            pl.when(closes).then(pl.col("seq").shift(-1)).alias("end_seq"),
        )
        .filter(pl.col("type") == start_type)
        .select(
            *keys,
            pl.col(on).alias("start"),
            "end",
            (pl.col("end") - pl.col(on)).alias("duration"),
            pl.col("seq").alias("start_seq"),
            "end_seq",
        )
        .sort(*keys, "start_seq")
    )
    return _like(result, frame)


# -- joins and lateness -----------------------------------------------------------


def join_asof(
    left: Frame,
    right: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | Sequence[str] | None = "key",
    by_left: str | Sequence[str] | None = None,
    by_right: str | Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    suffix: str = "_right",
    on: TimeColumn = "event_time",
) -> Frame:
    """Each left event with the latest right event before it, for the same entity.

    "Before" is in ``(on, seq)`` order: a right event at the same instant as
    the left one counts only if its sequence is lower (it was stored first),
    and a left event is never matched with itself. Right events with a null
    ``on`` or a null entity are never matched; a left event with no match
    gets nulls. Typical: the driver's last location at each pickup.

    Parameters
    ----------
    left, right
        Events in stream order, e.g. two event types filtered from one table,
        or two typed tables of one stream.
    by
        Entity columns matched on both sides (``None``: the latest right event
        of any entity); ``by_left`` and ``by_right`` name them per side.
    fields
        Right columns to attach (default: its payload columns).
    suffix
        Added to the names of the attached columns, and of the right
        event's ``seq`` and ``on`` column, which are attached too.

    Returns
    -------
    DataFrame or LazyFrame, as ``left``
        The left frame in its order, with the attached columns.

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4, 5],
    ...     "event_time": [at("12:00"), at("12:01"), at("12:02"), at("12:02"), at("12:03")],
    ...     "type": ["driver_located", "driver_located", "ride_picked_up",
    ...              "driver_located", "ride_picked_up"],
    ...     "key": ["d7", "d9", "r1", "d7", "r2"],
    ...     "driver": [None, None, "d7", None, "d7"],
    ...     "lat": [52.50, 48.85, None, 52.51, None],
    ... })
    >>> # seq 4 happened at the instant of the pickup seq 3, but was stored after it
    >>> pickups = events.filter(pl.col("type") == "ride_picked_up")
    >>> located = events.filter(pl.col("type") == "driver_located")
    >>> join_asof(pickups, located, by_left="driver", by_right="key", fields=["lat"]
    ...     ).select("key", "driver", "seq_right", "lat_right").rows()
    [('r1', 'd7', 1, 52.5), ('r2', 'd7', 4, 52.51)]
    """
    left_keys = _names(by if by_left is None else by_left)
    right_keys = _names(by if by_right is None else by_right)
    if len(left_keys) != len(right_keys):
        raise ConfigurationError(f"by_left {left_keys} and by_right {right_keys} differ in length")
    lf, rf = _lazy(left), _lazy(right)
    left_schema, right_schema = lf.collect_schema(), rf.collect_schema()
    _check_clock(left_schema, on)
    _check_clock(right_schema, on)
    _require(left_schema, left_keys)
    _require(right_schema, right_keys)
    attached: list[str] = _payload(right_schema, right_keys, fields)
    # (on, seq) as one number, so that one as-of join (strictly before) finds the match
    order = (pl.col(on).dt.epoch("ns").cast(pl.Int128) * (1 << 64)
             + pl.col("seq").cast(pl.Int128)).alias("\0order")
    wanted = [pl.col(on).is_not_null()]
    points = (
        lf.with_row_index("\0left")
        .filter(*wanted, *(pl.col(k).is_not_null() for k in left_keys))
        .select("\0left", order, *left_keys)
        .sort("\0order")
    )
    found = (
        rf.filter(*wanted, *(pl.col(k).is_not_null() for k in right_keys))
        .select(order, *(pl.col(r).alias(k) for r, k in zip(right_keys, left_keys, strict=True)),
                *(pl.col(c).alias(c + suffix) for c in ("seq", on, *attached)))
        .sort("\0order")
    )
    matches = points.join_asof(
        found, on="\0order", by=left_keys or None, strategy="backward",
        allow_exact_matches=False, check_sortedness=False,
    ).drop("\0order", *left_keys)
    result = (
        lf.with_row_index("\0left")
        .join(matches, on="\0left", how="left", maintain_order="left")
        .drop("\0left")
    )
    return _like(result, left)


join_as_of = alias(join_asof, "join_as_of")


def late_events(frame: Frame, *, key: str | Sequence[str] | None = "key") -> Frame:
    """Events that happened before something already seen for their entity.

    An event is late if its ``event_time`` is strictly older than the latest
    ``event_time`` among the entity's earlier events in stream order (lower
    sequence). An equal time is not late. Events without an ``event_time``
    are never late and do not move the mark; ``key=None`` compares across the
    whole stream.

    Parameters
    ----------
    key
        The column (or columns) naming the entity, or ``None``.

    Returns
    -------
    DataFrame or LazyFrame, as ``frame``
        The late events in stream order, with ``seen_event_time`` (the latest
        event time seen before) and ``lateness`` (how far behind it they are).

    Examples
    --------
    >>> at = lambda hm: dt.datetime.fromisoformat(f"2026-11-01T{hm}Z")
    >>> events = pl.DataFrame({
    ...     "seq": [1, 2, 3, 4, 5],
    ...     "key": ["r1", "r2", "r1", "r1", "r2"],
    ...     "event_time": [at("12:05"), at("12:00"), None, at("12:01"), at("12:00")],
    ... })
    >>> late_events(events).select("seq", "key", "lateness").rows()
    [(4, 'r1', datetime.timedelta(seconds=240))]
    """
    keys: list[str] = _names(key)
    lf = _lazy(frame)
    _require(lf.collect_schema(), ["event_time", *keys])
    # the running mark over the events that can set it (a key and an event time), on the
    # few columns it needs; then only the late rows are taken from the frame
    seen = pl.col("event_time").cum_max().shift(1)
    marks = (
        lf.with_row_index("\0row")
        .filter(pl.col("event_time").is_not_null(), *(pl.col(k).is_not_null() for k in keys))
        .select("\0row", "event_time",
                (seen.over(keys) if keys else seen).alias("seen_event_time"))
        .filter(pl.col("event_time") < pl.col("seen_event_time"))
        .select("\0row", "seen_event_time")
    )
    lateness = (pl.col("seen_event_time") - pl.col("event_time")).alias("lateness")
    if isinstance(frame, pl.DataFrame):
        rows = marks.collect()
        late = frame[rows.get_column("\0row")].with_columns(rows.get_column("seen_event_time"))
        return late.with_columns(lateness)
    result = (lf.with_row_index("\0row")
              .join(marks, on="\0row", how="inner", maintain_order="left")
              .drop("\0row").with_columns(lateness))
    return _like(result, frame)


# -- helpers ----------------------------------------------------------------------


def _lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    raise ConfigurationError(
        f"expected a polars DataFrame or LazyFrame of events, got {type(frame).__name__}"
    )


def _like(result: pl.LazyFrame, frame: Frame, *, engine: EngineType = "auto") -> Frame:
    """``result`` as the same kind of frame as ``frame``."""
    if isinstance(frame, pl.DataFrame):
        return result.collect(engine=engine)
    return result


def _names(columns: str | Sequence[str] | None) -> list[str]:
    if columns is None:
        return []
    return [columns] if isinstance(columns, str) else list(columns)


def _require(schema: pl.Schema, names: Iterable[str]) -> None:
    missing = [n for n in names if n not in schema]
    if missing:
        raise ConfigurationError(
            f"no column {', '.join(map(repr, missing))} in these events; "
            f"their columns are: {', '.join(schema.names())}"
        )


def check_clock(on: str) -> None:
    """Refuse a clock other than ``time`` and ``event_time``, saying what each means."""
    _check_on(on)


def _check_on(on: str) -> None:
    if on not in ("time", "event_time"):
        raise ConfigurationError(
            f"on={on!r}: choose 'time' (when the store got the event) or "
            "'event_time' (when it happened)"
        )


def _check_clock(schema: pl.Schema, on: str, *, seq: bool = True) -> None:
    _check_on(on)
    _require(schema, ["seq", on] if seq else [on])
    dtype = schema[on]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise ConfigurationError(
            f"column {on!r} is {dtype}, not a datetime with a time zone: eventkit "
            f"compares instants; e.g. pl.col({on!r}).dt.replace_time_zone('UTC')"
        )


def _payload(schema: pl.Schema, keys: list[str], fields: Sequence[str] | None) -> list[str]:
    """The payload columns a state is made of."""
    if fields is not None:
        _require(schema, fields)
        return list(fields)
    return [c for c in schema if c not in ENVELOPE_SCHEMA and c not in keys]


def _duration(value: str | dt.timedelta | Duration, *, what: str,
              zero: bool = False) -> Duration:
    """A positive (or, with ``zero``, non-negative) duration in the one grammar
    of :mod:`eventkit._time`."""
    length = to_duration(value, what=what)
    if length.months < 0 or length.ns < 0 or (length.months and length.ns < 0) or (
        not length and not zero
    ):
        raise TimeArgumentError(
            f"{what}={value!r}: give a positive duration, e.g. '500ns', '15m' or '1mo'")
    return length


def _aggregates(aggs: Mapping[str, pl.Expr] | Iterable[pl.Expr] | None) -> list[pl.Expr]:
    if aggs is None:
        return []
    if isinstance(aggs, Mapping):
        return [expr.alias(name) for name, expr in aggs.items()]
    return list(aggs)


def _names_where(conditions: list[pl.Expr], names: list[str]) -> pl.Expr:
    """The list of the ``names`` whose condition holds, per row.

    Joined as text and split: ``concat_list`` of many columns costs a hundred
    times more (polars 2.1), and a move of a time scrubber compares every field.
    """
    named = [pl.when(c).then(pl.lit(n)) for c, n in zip(conditions, names, strict=True)]
    sep = "\x1f"
    if any(sep in n or not n for n in names):  # a name the text would confuse
        return pl.concat_list(named).list.drop_nulls()
    text = pl.concat_str(named, separator=sep, ignore_nulls=True)
    return (pl.when(text == "").then(pl.lit([], pl.List(pl.String)))
            .otherwise(text.str.split(sep)))


def _column_or_null(schema: pl.Schema, other: pl.Schema, column: str) -> pl.Expr:
    """``column`` if ``schema`` has it, else nulls of the type ``other`` gives it."""
    if column in schema:
        return pl.col(column)
    return pl.lit(None, other[column]).alias(column)


# -- selection --------------------------------------------------------------------


def _between_bounds(t0: TimeLike | None, t1: TimeLike | None, on: str) -> list[_Bound | None]:
    _check_on(on)
    lower = to_position(t0, what="t0")
    upper = to_position(t1, what="t1")
    return [_bound(lower, ">=", on), _bound(upper, "<", on)]


def _as_of_bounds(t: TimeLike, on: str) -> list[_Bound | None]:
    _check_on(on)
    return [_bound(to_position(t, what="t"), "<=", on)]


def _upto_bounds(seq: int | str) -> list[_Bound | None]:
    position = to_position(seq, what="seq")
    if not isinstance(position, int):
        raise TimeArgumentError(
            f"upto takes a stream sequence, not {seq!r}: use as_of(frame, t) for a time"
        )
    return [_bound(position, "<=", "time")]


def nanosecond_filters(selection: Literal["between", "as_of", "upto"], *positions: Any,
                       on: str = "event_time") -> list[pl.Expr]:
    """The filters of a selection (:func:`between`, :func:`as_of` or :func:`upto`, with
    their positions) on integer columns: ``seq``, and each clock as ``<clock>_ns``
    nanoseconds since the epoch, as a store keeps them on disk. A Parquet reader
    applies them while it reads (a filter on a converted column it cannot).

    >>> frame = pl.DataFrame({"seq": [1, 2, 3], "time_ns": [10**9, 2 * 10**9, 3 * 10**9]})
    >>> frame.filter(nanosecond_filters("as_of", "1970-01-01T00:00:02Z", on="time"))[
    ...     "seq"].to_list()
    [1, 2]
    >>> frame.filter(nanosecond_filters("between", 2, None))["seq"].to_list()
    [2, 3]
    """
    if selection == "upto":
        given = _upto_bounds(positions[0])
    elif selection == "as_of":
        given = _as_of_bounds(positions[0], on)
    else:
        given = _between_bounds(positions[0], positions[1], on)
    filters = []
    for bound in given:
        if bound is None:
            continue
        column, value, op = bound
        if isinstance(value, Instant):
            column, value = f"{column}_ns", _ticks(value, pl.Datetime("ns"), op)
        col = pl.col(column)
        filters.append({">=": col >= value, ">": col > value, "<=": col <= value,
                        "<": col < value}[op])
    return filters


def _bound(position: Position | None, op: str, on: str) -> _Bound | None:
    if position is None:
        return None
    return ("seq" if isinstance(position, int) else on, position, op)  # type: ignore[return-value]


def _select(frame: Frame, bounds: list[_Bound | None]) -> Frame:
    """The rows inside every bound: a binary-searched slice where a sorted column allows."""
    given = [b for b in bounds if b is not None]
    lf = _lazy(frame)
    schema = lf.collect_schema()
    for column, _, _ in given:
        if column == "seq":
            _require(schema, ["seq"])
        else:
            _check_clock(schema, column, seq=False)
    if isinstance(frame, pl.DataFrame):
        start, stop, rest = 0, frame.height, []
        for bound in given:
            index = _search(frame, bound)
            if index is None:
                rest.append(bound)
            elif bound[2] in (">=", ">"):
                start = max(start, index)
            else:
                stop = min(stop, index)
        frame = frame.slice(start, max(stop - start, 0))
        if not rest:
            return frame
        lf, given = frame.lazy(), rest
    return _like(lf.filter(*(_predicate(b, schema) for b in given)), frame)


def _search(frame: pl.DataFrame, bound: _Bound) -> int | None:
    """The row where ``bound`` starts or stops holding, if its column is sorted."""
    column, value, op = bound
    series = frame.get_column(column)
    if series.null_count() or not series.is_sorted():
        return None
    side: Literal["left", "right"] = "left" if op in (">=", "<") else "right"
    if isinstance(value, Instant):
        value = _ticks(value, series.dtype, op)
    return series.to_physical().search_sorted(value, side=side)


_NS_PER_TICK = {"ns": 1, "us": 1_000, "ms": 1_000_000}


def _ticks(value: Instant, dtype: pl.DataType, op: str) -> int:
    """``value`` in a datetime column's units, rounded so that ``op`` keeps its meaning.

    The bound is first taken to the nanosecond by :func:`eventkit._time.cutoff`
    (a microsecond bound covers its whole microsecond). On a coarser clock
    (milliseconds), ``t >= 12:00:00.0005`` means ``t >= 12:00:00.001``, while
    ``t <= 12:00:00.0005`` means ``t <= 12:00:00.000``.
    """
    ns = cutoff(value, op)  # type: ignore[arg-type]
    per_tick = _NS_PER_TICK[dtype.time_unit]  # type: ignore[attr-defined]
    return -(-ns // per_tick) if op in (">=", "<") else ns // per_tick


def _predicate(bound: _Bound, schema: pl.Schema) -> pl.Expr:
    column, value, op = bound
    if isinstance(value, Instant):
        literal = pl.lit(_ticks(value, schema[column], op)).cast(schema[column])
    else:
        literal = pl.lit(value)
    col = pl.col(column)
    return {">=": col >= literal, ">": col > literal, "<=": col <= literal, "<": col < literal}[op]


# -- entities and folds -----------------------------------------------------------


def _not_null(frame: pl.DataFrame | pl.LazyFrame, columns: Iterable[str]) -> list[pl.Expr]:
    """Predicates dropping nulls, but none for a column known to hold no null."""
    if isinstance(frame, pl.DataFrame):
        columns = [c for c in columns if frame.get_column(c).null_count()]
    return [pl.col(c).is_not_null() for c in columns]


def _where(lf: pl.LazyFrame, predicates: list[pl.Expr]) -> pl.LazyFrame:
    return lf.filter(*predicates) if predicates else lf


def _timeline(frame: pl.DataFrame | pl.LazyFrame, on: str) -> pl.LazyFrame:
    """The events that have an ``on`` time, in fold order: ``(on, seq)``."""
    lf = _where(_lazy(frame), _not_null(frame, [on]))
    return lf.sort(on, "seq") if on == "event_time" else lf


def _latest(frame: pl.DataFrame | pl.LazyFrame, keys: list[str], on: str) -> pl.LazyFrame:
    """Each entity's events at its latest ``on`` time, in ``seq`` order (the last one wins).

    A group-by and a semi-join, which polars streams: only the entities and
    their ties are held, where sorting every event by ``on`` held all of them
    twice.
    """
    lf = _where(_lazy(frame), _not_null(frame, [on, *keys]))
    latest = lf.group_by(keys).agg(pl.col(on).max())
    return lf.join(latest, on=[*keys, on], how="semi").sort("seq", maintain_order=True)


def _by_entity(frame: pl.DataFrame | pl.LazyFrame, keys: list[str], on: str,
               types: list[str] | None = None) -> pl.LazyFrame:
    """The events of an entity with an ``on`` time (of ``types``), sorted by entity, then in
    fold order ``(on, seq)``: every per-entity step is then a shift, no window per entity."""
    lf = _lazy(frame)
    schema = lf.collect_schema()
    _check_clock(schema, on)
    _require(schema, keys if types is None else [*keys, "type"])
    if types is not None:
        lf = lf.filter(pl.col("type").is_in(types))
    return _where(lf, _not_null(frame, [on, *keys])).sort(*keys, on, "seq")


def _same_entity(keys: list[str], offset: int = 1) -> pl.Expr:
    """Whether the row ``offset`` rows before (after, if negative) is of the same entity."""
    return pl.all_horizontal(
        [pl.col(k) == pl.col(k).shift(offset) for k in keys]).fill_null(False)


def _entity_events(frame: pl.DataFrame | pl.LazyFrame, keys: list[str], on: str) -> pl.LazyFrame:
    """The events that belong to an entity and have an ``on`` time, in fold order."""
    lf = _lazy(frame)
    schema = lf.collect_schema()
    _check_clock(schema, on)
    _require(schema, keys)
    return _where(_timeline(frame, on), _not_null(frame, keys))


def _last_values(
    history: pl.LazyFrame,
    keys: list[str],
    on: str,
    columns: list[str],
    *,
    skip_nulls: bool,
    eager: bool,
) -> pl.LazyFrame:
    """Per entity: its last event's ``seq``, ``on`` and ``type``, and each column's
    last value (the last non-null one if ``skip_nulls``).

    On eager data, grouping by a 64-bit hash of the key is about twice as fast
    as grouping by the key's text. A second, independent hash counts the
    entities again: if the counts differ, two keys shared a hash and the
    events are grouped by the key itself, so the answer stays exact (barring
    collisions of both hashes at once).
    """
    aggregates = [
        *(pl.col(c).last() for c in ("seq", on, "type")),
        *(pl.col(c).last(ignore_nulls=skip_nulls) for c in columns),
    ]
    by_key = history.group_by(keys).agg(aggregates)
    if eager:
        history = history.collect(engine="in-memory").lazy()
        groups, entities = pl.collect_all(
            [
                history.group_by(_hash(keys, seed=1).alias("\0entity")).agg(
                    *(pl.col(k).last() for k in keys), *aggregates
                ),
                history.select(_hash(keys, seed=2).n_unique()),
            ],
            engine="in-memory",
        )
        if groups.height == entities.item():
            by_key = groups.lazy().drop("\0entity")
    return by_key.filter(pl.all_horizontal(pl.col(keys).is_not_null()))


def _hash(keys: list[str], *, seed: int) -> pl.Expr:
    return pl.col(keys[0]).hash(seed) if len(keys) == 1 else pl.struct(keys).hash(seed)


def _reduce(
    events: pl.DataFrame, keys: list[str], fold: Reducer, initial: Any, on: str
) -> pl.LazyFrame:
    """Run a Python reducer over each entity's events, in order."""
    states: dict[tuple[Any, ...], Any] = {}
    for event in events.iter_rows(named=True):
        entity = tuple(event[k] for k in keys)
        state = states[entity] if entity in states else copy.deepcopy(initial)
        states[entity] = fold(state, event)
    values = list(states.values())
    if values and all(isinstance(v, dict) for v in values):
        table = pl.DataFrame(values, infer_schema_length=None)
    else:
        table = pl.DataFrame({"state": values}, strict=False)
    clash = [c for c in table.columns if c in (*keys, "seq", on, "type")]
    if clash:
        raise ConfigurationError(
            f"the fold's state has keys {clash}, which name the entity or its last event; "
            "rename them in the state"
        )
    entities = pl.DataFrame(
        [pl.Series(k, [e[i] for e in states], dtype=events.schema[k]) for i, k in enumerate(keys)]
    )
    last = events.lazy().group_by(keys).agg(pl.col(c).last() for c in ("seq", on, "type"))
    return last.join(pl.concat([entities, table], how="horizontal").lazy(), on=keys)
