"""What stream browsers show beside the temporal questions: one entity's history, a pivot.

Pure: polars frames in, polars frames out. :mod:`eventkit.query` re-exports
both (``query.history``, ``query.pivot``), as do ``Events.history`` and
``Events.pivot`` and the Explorer's tabs.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from eventkit.exceptions import ConfigurationError

__all__ = ["history", "pivot"]

_ENVELOPE_NAMES = ("seq", "subject", "time", "type", "key", "event_time", "headers", "data",
                   "error")


def history(frame: pl.DataFrame, key: str, *, key_column: str = "key") -> pl.DataFrame:
    """One entity's events in stream order, on both clocks, with what each one changed.

    The state of an entity merges the payload fields of its events (as
    :func:`state_at` folds them); ``changes`` lists, for each event, the
    fields it set to a new value (``"fare: ∅ → 7.5"``; ``∅`` is unset).

    Parameters
    ----------
    frame
        Events with payload fields as columns (``Events.wide()``).
    key
        The entity.

    Returns
    -------
    DataFrame
        ``seq, type, event_time, time, changes`` (a list of text) and
        ``changed`` (how many fields), one row per event of the entity.

    Examples
    --------
    >>> import datetime as dt
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3, 4], "key": ["r1", "r2", "r1", "r1"],
    ...     "type": ["req", "req", "done", "paid"], "time": [at(0), at(1), at(6), at(7)],
    ...     "event_time": [at(0), at(1), at(5), at(7)], "fare": [None, None, 7.5, 7.5],
    ...     "city": ["paris", "oslo", None, None]})
    >>> history(events, "r1").select("seq", "type", "changes").rows()
    [(1, 'req', ['city: ∅ → paris']), (3, 'done', ['fare: ∅ → 7.5']), (4, 'paid', [])]
    """
    rows = frame.filter(pl.col(key_column) == key).sort("seq")
    fields = [c for c in rows.columns if c not in _ENVELOPE_NAMES and c != key_column
              and rows[c].null_count() < rows.height]
    clocks = [c for c in ("event_time", "time") if c in rows.columns]
    if not fields:
        return rows.select("seq", "type", *clocks, pl.lit([], pl.List(pl.String)).alias("changes"),
                           pl.lit(0, pl.UInt32).alias("changed"))

    def text(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        shown = (column.struct.json_encode() if isinstance(dtype, pl.Struct)
                 else column.cast(pl.List(pl.String)).list.join(", ")
                 if isinstance(dtype, pl.List) else column.cast(pl.String))
        return pl.when(column.is_null()).then(pl.lit("∅")).otherwise(shown)

    parts = []
    for c in fields:
        before = pl.col(c).forward_fill().shift(1)
        changed = pl.col(c).is_not_null() & pl.col(c).ne_missing(before)
        dtype = rows.schema[c]
        parts.append(pl.when(changed).then(pl.format("{}: {} → {}", pl.lit(c),
                                                     text(before, dtype), text(pl.col(c), dtype))))
    changes = pl.concat_list(parts).list.drop_nulls()
    return rows.select("seq", "type", *clocks, changes.alias("changes")).with_columns(
        pl.col("changes").list.len().alias("changed"))


def pivot(frame: pl.DataFrame, by: str | Sequence[str] = "type", *,
          sums: Sequence[str] = (), where: str | None = None) -> pl.DataFrame:
    """Counts (and sums of numeric fields) per group: the table a pivot shows.

    Parameters
    ----------
    by
        The columns to group by: ``"type"``, ``"subject"``, ``"key"`` or a field.
    sums
        Numeric fields to total per group (``<field>_sum``) and average
        (``<field>_mean``).
    where
        A content filter first (:func:`eventkit.where.where`), e.g. ``"fare > 20"``.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``events``, then the sums and means; largest groups first.

    Examples
    --------
    >>> frame = pl.DataFrame({"type": ["a", "b", "a"], "fare": [1.0, None, 2.5]})
    >>> pivot(frame, "type", sums=["fare"]).rows()
    [('a', 2, 3.5, 1.75), ('b', 1, 0.0, None)]
    >>> pivot(frame, "type", where="fare > 2").rows()
    [('a', 1)]
    """
    from eventkit.where import filter_frame

    groups = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*groups, *sums] if c not in frame.columns]
    if missing:
        raise ConfigurationError(
            f"no column {', '.join(map(repr, missing))} to pivot on; columns: "
            f"{', '.join(frame.columns)}")
    if where:
        frame = filter_frame(frame, where)
    aggs = [pl.len().alias("events")]
    for c in sums:
        aggs += [pl.col(c).sum().alias(f"{c}_sum"), pl.col(c).mean().alias(f"{c}_mean")]
    return frame.group_by(groups).agg(aggs).sort(["events", *groups],
                                                 descending=[True] + [False] * len(groups))
