"""What the widgets show, computed from frames: pure functions, no widgets, no I/O.

Each widget observes its traits and calls these (and :mod:`eventkit.query`)
to get plain values: frames, pages of text cells, HTML snippets. Everything
here is tested without a browser.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import polars as pl

from eventkit import query
from eventkit._time import to_datetime
from eventkit._typing import TimeColumn
from eventkit.envelope import ENVELOPE_SCHEMA
from eventkit.exceptions import ConfigurationError, TimeArgumentError
from eventkit.source.jetstream import subjects_regex

__all__ = [
    "Frames",
    "between_positions",
    "cells",
    "change_rows",
    "changes_between",
    "event_detail",
    "frames_of",
    "last_events",
    "next_of_key",
    "page_of",
    "select_events",
    "subject_regex",
    "to_utc",
    "undone",
]

_HEAD = ["seq", "subject", "time", "type", "key", "event_time"]


# -- inputs ---------------------------------------------------------------------------


class Frames:
    """The two frames a widget works on.

    ``envelope``: every event in stream order (``seq``), with headers and
    payload bytes. ``payload``: the envelope's head columns and every payload
    field, without headers, bytes or errors (what states are folded over).
    The payload frame is built on first use (a join of every type's fields,
    a third of an Explorer's building time on a million events when eager):
    a widget that never filters by content or pivots on a field never pays it.
    """

    def __init__(self, envelope: pl.DataFrame,
                 payload: pl.DataFrame | Callable[[], pl.DataFrame]) -> None:
        if not envelope["seq"].is_sorted():
            envelope = envelope.sort("seq")
        self.envelope = envelope.set_sorted("seq")
        self._payload = payload

    @functools.cached_property
    def payload(self) -> pl.DataFrame:
        payload = self._payload() if callable(self._payload) else self._payload
        if not payload["seq"].is_sorted():
            payload = payload.sort("seq")
        payload = payload.drop([c for c in ("headers", "data", "error") if c in payload.columns])
        return payload.set_sorted("seq")


def frames_of(events: object) -> Frames:
    """The frames of events read from a stream, of a store, or of a polars frame.

    Anything with ``wide()`` and ``to_polars()`` (:class:`eventkit.Events`),
    with ``scan()``, ``types`` and ``of_type()`` (:class:`eventkit.Store`), or
    with ``to_polars()`` / ``lazy()``, or a polars frame, will do.

    Examples
    --------
    >>> frames = frames_of(pl.DataFrame({"seq": [2, 1], "type": ["a", "b"], "fare": [1.0, None]}))
    >>> frames.envelope["seq"].to_list(), frames.payload.columns
    ([1, 2], ['seq', 'type', 'fare'])
    """
    wide = getattr(events, "wide", None)
    scan = getattr(events, "scan", None)
    payload: pl.DataFrame | Callable[[], pl.DataFrame]
    if callable(wide) and callable(getattr(events, "to_polars", None)):
        envelope, payload = events.to_polars(), wide  # type: ignore[attr-defined]
    elif callable(scan) and callable(getattr(events, "of_type", None)):
        envelope = scan().collect()
        payload = functools.partial(_store_payload, events, envelope)
    else:
        frame: Any = events
        for name in ("to_polars", "lazy"):
            method = getattr(frame, name, None)
            if callable(method) and not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
                frame = method()
                break
        if isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        if not isinstance(frame, pl.DataFrame):
            raise ConfigurationError(
                f"expected events (eventkit.Events, eventkit.Store or a polars frame of the "
                f"envelope), got {type(events).__name__}")
        envelope = payload = frame
    if "seq" not in envelope.columns:
        raise ConfigurationError(f"these events have no 'seq' column: {envelope.columns}")
    return Frames(envelope, payload)


def _store_payload(store: Any, envelope: pl.DataFrame) -> pl.DataFrame:
    """A store's payload fields of every type, joined to its envelope by ``seq``."""
    parts = [store.of_type(name).drop([c for c in _HEAD if c != "seq"], strict=False).collect()
             for name in store.types]
    parts = [p for p in parts if p.width > 1]
    head = envelope.select([c for c in envelope.columns if c in _HEAD])
    if not parts:
        return head
    fields = pl.concat(parts, how="diagonal_relaxed").sort("seq")
    return head.join(fields, on="seq", how="left", maintain_order="left")


# -- times ----------------------------------------------------------------------------


def to_utc(value: object, *, what: str = "time") -> dt.datetime | None:
    """An aware UTC datetime from a datetime, an ISO string or epoch milliseconds (a browser's).

    Naive datetimes are refused.

    Examples
    --------
    >>> to_utc(1793491200000)
    datetime.datetime(2026, 11, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc("2026-11-01T00:00:00.000Z")
    datetime.datetime(2026, 11, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc(dt.datetime(2026, 11, 1))
    Traceback (most recent call last):
    ...
    eventkit.exceptions.TimeArgumentError: time 2026-11-01 00:00:00 has no time zone: ...
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TimeArgumentError(f"{what} {value!r} is not a time")
    if isinstance(value, (int, float)):
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)
    if not isinstance(value, str | dt.datetime):
        raise TimeArgumentError(f"{what} {value!r} ({type(value).__name__}) is not a time")
    return to_datetime(value, what=what)


def show_time(value: dt.datetime | None) -> str:
    """A UTC time as text, to the millisecond.

    Examples
    --------
    >>> show_time(dt.datetime(2026, 11, 1, 12, 0, 5, 250000, tzinfo=dt.UTC))
    '2026-11-01 12:00:05.250'
    """
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# -- selections -----------------------------------------------------------------------


def subject_regex(pattern: str) -> str:
    """A NATS subject filter as an anchored regular expression (see
    :func:`eventkit.source.jetstream.subjects_regex`).

    Examples
    --------
    >>> import re
    >>> bool(re.match(subject_regex("rides.>"), "rides.paris.trip_started"))
    True
    >>> bool(re.match(subject_regex("rides.*.trip_completed"), "rides.paris.trip_started"))
    False
    """
    return subjects_regex([pattern])


def select_events(frame: pl.DataFrame, *, start: dt.datetime | None = None,
                  end: dt.datetime | None = None, on: TimeColumn = "event_time",
                  types: Sequence[str] = (), subject: str = "", key: str = "") -> pl.DataFrame:
    """The events in ``[start, end)`` on ``on`` matching every filter given.

    Parameters
    ----------
    types
        Event types to keep (all when empty).
    subject
        A NATS subject filter (``*`` one token, ``>`` the rest).
    key
        One entity's key, exactly.

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3], "subject": ["r.a.x", "r.b.y", "r.a.y"],
    ...     "type": ["x", "y", "y"], "key": ["k1", "k2", "k1"],
    ...     "event_time": [at(0), at(5), at(9)]})
    >>> select_events(events, start=at(1), types=["y"])["seq"].to_list()
    [2, 3]
    >>> select_events(events, subject="r.a.*", key="k1")["seq"].to_list()
    [1, 3]
    """
    if start is not None or end is not None:
        frame = query.between(frame, start, end, on=on)
    predicates = []
    if types:
        predicates.append(pl.col("type").is_in(list(types)))
    if subject.strip():
        predicates.append(pl.col("subject").str.contains(subject_regex(subject)))
    if key.strip():
        predicates.append(pl.col("key") == key.strip())
    return frame.filter(*predicates) if predicates else frame


def between_positions(frame: pl.DataFrame, t1: dt.datetime, t2: dt.datetime, *,
                      on: TimeColumn = "event_time") -> pl.DataFrame:
    """The events after ``t1`` up to and including ``t2``: what moves a state from t1 to t2.

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3], "event_time": [at(0), at(5), at(9)]})
    >>> between_positions(events, at(0), at(5))["seq"].to_list()
    [2]
    """
    before = query.as_of(frame, t1, on=on)
    upto = query.as_of(frame, t2, on=on)
    return upto.join(before.select("seq"), on="seq", how="anti", maintain_order="left")


def next_of_key(timeline: pl.DataFrame, key: str = "key") -> pl.Series:
    """For each event of a timeline, the row of its entity's next event (or the row count).

    With it, the last event of every entity among the first ``n`` rows is a
    single filter (:func:`last_events`): what makes a time scrubber cheap.

    Examples
    --------
    >>> next_of_key(pl.DataFrame({"key": ["a", "b", "a"]})).to_list()
    [2, 3, 3]
    """
    n = timeline.height
    return (timeline.select(key).with_row_index("row")
            .select(pl.col("row").shift(-1).over(key).fill_null(n).alias("next")).to_series())


def last_events(timeline: pl.DataFrame, following: pl.Series, rows: int) -> pl.DataFrame:
    """The last event of each entity among the first ``rows`` rows of ``timeline``.

    ``timeline`` is ordered by the clock (ties by ``seq``) and ``following``
    is its :func:`next_of_key`; with ``rows`` the number of events at or
    before ``t`` (a slice of :func:`eventkit.query.as_of`), the result has
    the rows of :func:`eventkit.query.state_at` with ``fields=[]``, unsorted.

    Examples
    --------
    >>> timeline = pl.DataFrame({"seq": [1, 2, 3], "key": ["a", "b", "a"],
    ...                          "type": ["x", "y", "z"]})
    >>> last_events(timeline, next_of_key(timeline), 2)["seq"].to_list()
    [1, 2]
    >>> last_events(timeline, next_of_key(timeline), 3)["seq"].to_list()
    [2, 3]
    """
    return timeline.slice(0, rows).filter(following.slice(0, rows) >= rows)


def changes_between(timeline: pl.DataFrame, before: int, after: int, *,
                    on: TimeColumn = "event_time",
                    end_types: Sequence[str] = ()) -> pl.DataFrame:
    """What changed for each entity from the first ``before`` rows of ``timeline`` to its
    first ``after`` rows: :func:`eventkit.query.diff`, computed from the rows in between.

    ``timeline`` is ordered by the clock ``on`` (ties by ``seq``), has a ``key``
    on every row, and ``before`` and ``after`` count the rows at or before
    ``t1`` and ``t2`` (slices of :func:`eventkit.query.as_of`); the result is
    ``query.diff(timeline, t1, t2, on=on, end_types=end_types)``. Only the
    entities with events in between can change: their states at ``t2`` are
    their states at ``t1`` with the rows in between folded on, so a move
    costs the rows it crosses and the earlier rows of the entities it touches,
    never two folds of the whole history.

    Examples
    --------
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> timeline = pl.DataFrame({"seq": [1, 2, 3], "type": ["req", "req", "done"],
    ...     "key": ["r1", "r2", "r1"], "event_time": [at(0), at(1), at(5)],
    ...     "fare": [None, None, 7.5]})
    >>> changes_between(timeline, 2, 3, end_types=["done"]).rows()
    [('r1', 'ended', ['fare'], {'fare': None}, {'fare': 7.5})]
    """
    columns = payload_columns(timeline)
    last = [pl.col("seq").last(), pl.col(on).last(), pl.col("type").last(),
            *(pl.col(c).last(ignore_nulls=True) for c in columns)]
    moved = timeline.slice(before, max(after - before, 0)).group_by("key").agg(last)
    old = (timeline.slice(0, before).join(moved.select("key"), on="key", how="semi")
           .group_by("key").agg(last))
    new = moved.join(old.select("key", *columns), on="key", how="left", suffix="\0old").select(
        "key", "seq", on, "type", *(pl.coalesce(c, c + "\0old") for c in columns))
    return query.compare_states(old.lazy(), new.lazy(), on=on, end_types=end_types
                                ).sort("key").collect()


def page_of(frame: pl.DataFrame, *, sort_by: str = "seq", descending: bool = False,
            page: int = 0, page_size: int = 20) -> tuple[pl.DataFrame, int]:
    """One page of ``frame`` sorted by ``sort_by`` (ties by ``seq``), and the page number used.

    Only the rows up to the page are sorted (a top-k), so a page of a large
    selection costs little. Nulls sort last. A page past the end gives the last page.

    Examples
    --------
    >>> frame = pl.DataFrame({"seq": [1, 2, 3, 4, 5], "fare": [3.0, None, 1.0, 2.0, 1.0]})
    >>> rows, page = page_of(frame, sort_by="fare", page_size=2, page=1)
    >>> rows["seq"].to_list(), page
    ([4, 1], 1)
    >>> page_of(frame, sort_by="fare", descending=True, page_size=3)[0]["seq"].to_list()
    [1, 4, 3]
    """
    pages = max(1, -(-frame.height // page_size))
    page = min(max(page, 0), pages - 1)
    start = page * page_size
    if sort_by == "seq" or sort_by not in frame.columns:
        if descending:
            stop = frame.height - start
            return frame.slice(max(stop - page_size, 0), stop - max(stop - page_size, 0)
                               ).reverse(), page
        return frame.slice(start, page_size), page
    needed = start + page_size
    column = pl.col(sort_by)
    nulls = frame.filter(column.is_null())
    values = frame.filter(column.is_not_null())
    if needed <= values.height:
        top = (values.bottom_k(needed, by=[sort_by, "seq"], reverse=[True, False]) if descending
               else values.bottom_k(needed, by=[sort_by, "seq"]))
        ordered = top.sort([sort_by, "seq"], descending=[descending, False])
    else:
        ordered = pl.concat([values.sort([sort_by, "seq"], descending=[descending, False]),
                             nulls])
    return ordered.slice(start, page_size), page


# -- text for the browser -------------------------------------------------------------


def cell(value: object) -> str:
    """One value as table text.

    Examples
    --------
    >>> cell(None), cell(1.5), cell(b"xyz"), cell(["a", "b"])
    ('', '1.5', '<3 bytes>', 'a, b')
    """
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return show_time(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return str(value)


def cells(frame: pl.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """The rows of ``frame`` (its ``columns``) as text cells."""
    present = [c for c in columns if c in frame.columns]
    return [[cell(v) for v in row] for row in frame.select(present).iter_rows()]


def event_detail(row: dict[str, Any] | None) -> str:
    """One event in full, as HTML: its envelope, headers and payload (pretty JSON when it is).

    Examples
    --------
    >>> print(event_detail({"seq": 7, "type": "t", "data": b'{"a":1}',
    ...                     "headers": '{"Nats-Msg-Id":"m1"}', "error": None}))
    <div class="ek-event"><b>seq 7</b> &middot; type: t
    <div>headers</div><pre>{
      &quot;Nats-Msg-Id&quot;: &quot;m1&quot;
    }</pre>
    <div>payload (7 bytes)</div><pre>{
      &quot;a&quot;: 1
    }</pre></div>
    """
    if row is None:
        return "<i>click a row to see the event's payload and headers</i>"
    facts = " &middot; ".join(
        f"{html.escape(name)}: {html.escape(cell(row[name]))}"
        for name in ("type", "key", "subject", "time", "event_time") if row.get(name) is not None)
    parts = [f'<div class="ek-event"><b>seq {html.escape(str(row.get("seq")))}</b>'
             + (f" &middot; {facts}" if facts else "")]
    if row.get("error"):
        parts.append(f'<div style="color:#b00">did not decode: {html.escape(row["error"])}</div>')
    headers = row.get("headers")
    parts.append("<div>headers</div><pre>"
                 + (html.escape(_pretty_text(headers)) if headers else "(none)") + "</pre>")
    data = row.get("data")
    if data is not None:
        parts.append(f"<div>payload ({len(data):,} bytes)</div><pre>"
                     + html.escape(_pretty_bytes(data)) + "</pre>")
    return "\n".join(parts) + "</div>"


def _pretty_text(text: str) -> str:
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return text


def _pretty_bytes(data: bytes) -> str:
    if not data:
        return "(empty)"
    try:
        return orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8: " + repr(data)


def change_rows(changes: pl.DataFrame, keys: Sequence[str] = ("key",)) -> list[list[str]]:
    """Rows of a :func:`eventkit.query.diff` as text: key, change, and each changed field.

    Examples
    --------
    >>> d = pl.DataFrame({"key": ["r1"], "change": ["changed"], "fields": [["driver"]],
    ...                   "before": [{"driver": None}], "after": [{"driver": "d7"}]})
    >>> change_rows(d)
    [['r1', 'changed', 'driver: \u2205 \u2192 d7']]
    """
    rows = []
    for row in changes.iter_rows(named=True):
        before, after = row["before"] or {}, row["after"] or {}
        moves = "; ".join(f"{f}: {cell(before.get(f)) or '∅'} → {cell(after.get(f)) or '∅'}"
                          for f in row["fields"])
        rows.append([*(cell(row[k]) for k in keys), row["change"], moves])
    return rows


def undone(changes: pl.DataFrame) -> pl.DataFrame:
    """A :func:`eventkit.query.diff` from t1 to t2, told from t2 back to t1.

    Moving back in time undoes what happened: ``before`` and ``after`` swap,
    an entity created (or created and ended) in between is ``"not yet
    created"`` and one that ended is ``"not yet ended"``.

    Examples
    --------
    >>> d = pl.DataFrame({"key": ["r1", "r2"], "change": ["ended", "created"],
    ...     "fields": [["type"], ["type"]], "before": [{"type": "req"}, None],
    ...     "after": [{"type": "done"}, {"type": "req"}]})
    >>> undone(d).select("key", "change", "after").rows()
    [('r1', 'not yet ended', {'type': 'req'}), ('r2', 'not yet created', None)]
    """
    if changes.is_empty():
        return changes
    change = (pl.when(pl.col("before").is_null()).then(pl.lit("not yet created"))
              .when(pl.col("change") == "ended").then(pl.lit("not yet ended"))
              .otherwise(pl.col("change")))
    return changes.with_columns(change.alias("change"), pl.col("after").alias("before"),
                                pl.col("before").alias("after"))


def payload_columns(frame: pl.DataFrame) -> list[str]:
    """The payload fields of a frame (every column that is not an envelope column)."""
    return [c for c in frame.columns if c not in ENVELOPE_SCHEMA]
