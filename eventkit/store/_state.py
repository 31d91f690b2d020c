"""The state at ``t`` of every entity of a store, out of core: one seq range at a time.

:func:`eventkit.query.state_at` sorts the events it folds (on ``event_time``)
and holds them all; on a store that grows without bound that is memory
without bound. Here the store is read in ranges of ``seq`` (its files are
ordered by it, so each range reads a few row groups): each range is folded
to one row per entity, and merged into the state so far. A value carries the
position it was set at (its ``on`` time and ``seq``), so that the merge keeps,
per field, the value of the latest event in fold order, as a SQL
``arg_max(field, (on, seq))`` per key does. Memory: one range plus one row
per entity, however long the store.

On ``time`` the fold order is the ranges' own (``seq``: transaction time
never goes back along it), so a later range's value always wins and a value
carries no position: the state is one row per entity with only the fields'
values, as small as a SQL ``arg_max(field, seq)`` keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import polars as pl

from eventkit.codec import union
from eventkit.envelope import ENVELOPE_SCHEMA
from eventkit.exceptions import ConfigurationError

__all__ = ["RANGE", "fold_ranges"]

#: Events per range: bounds memory to about this many rows of the columns folded.
RANGE = 250_000


def _stamp(name: str, part: str) -> str:
    return f"{name}\0{part}"


def fold_ranges(ranges: Iterable[tuple[pl.LazyFrame, Sequence[pl.LazyFrame]]],
                keys: list[str], on: str, fields: list[str] | None,
                known: Callable[[pl.LazyFrame], pl.LazyFrame], *,
                in_order: bool = False) -> pl.DataFrame:
    """Merge-fold, range by range: ``ranges`` yields (envelope rows, typed tables' rows).

    ``in_order``: the ranges come in fold order (``on`` is ``time``), so the
    fields' values need no position.

    ``known`` selects the events known at ``t`` (a filter); rows without an
    ``on`` time or a key are left out, as :func:`eventkit.query.state_at` does.
    Returns one row per entity: the keys, the last event's ``seq``, ``on`` and
    ``type``, then the fields (the latest non-null value of each).
    """
    state: pl.DataFrame | None = None
    names: dict[str, pl.DataType] = {}
    wanted = pl.all_horizontal(pl.col(on, *keys).is_not_null())
    for envelope, typed in ranges:
        head, *parts = pl.collect_all(
            [_last_event(known(envelope).filter(wanted), keys, on),
             *(known(t).filter(wanted) for t in typed)], engine="streaming")
        for part in parts:  # a field a type never set (all null) is typed on disk as text
            for c in _fields(part.schema, keys, fields):
                names.setdefault(c, part.schema[c])
        parts = [_without_empty(p, keys, fields) for p in parts if p.height]
        chunk = head
        if parts:
            rows = union(parts)
            columns = _fields(rows.schema, keys, fields)
            for c in columns:
                if names[c] == pl.String and rows.schema[c] != pl.String:
                    names[c] = rows.schema[c]
            values = (_last_in_order(rows, keys, columns) if in_order
                      else _last_values(rows, keys, on, columns))
            chunk = head.join(values, on=keys, how="left")
        state = chunk if state is None else _merge(state, chunk, keys, list(names), in_order)
    if state is None:
        return pl.DataFrame()
    cols = [*keys, pl.col(_stamp("", "seq")).alias("seq"), pl.col(_stamp("", "on")).alias(on),
            pl.col(_stamp("", "type")).alias("type"),
            *(pl.col(n) if n in state.columns else pl.lit(None, d).alias(n)
              for n, d in names.items())]
    return state.select(cols).sort(keys)


def _without_empty(part: pl.DataFrame, keys: list[str], fields: list[str] | None
                   ) -> pl.DataFrame:
    """``part`` without its payload columns that hold no value."""
    empty = [c for c in _fields(part.schema, keys, fields)
             if part.get_column(c).null_count() == part.height]
    return part.drop(empty)


def _fields(schema: pl.Schema, keys: list[str], fields: list[str] | None) -> list[str]:
    if fields is not None:
        return [c for c in fields if c in schema]
    head = set(ENVELOPE_SCHEMA) | set(keys)
    return [c for c in schema if c not in head]


def _last_event(rows: pl.LazyFrame, keys: list[str], on: str) -> pl.LazyFrame:
    """Per entity: the ``seq``, ``on`` and ``type`` of its latest event in ``(on, seq)`` order
    (on ``time`` that is the highest ``seq``: transaction time never goes back along it)."""
    latest = pl.col(on) == pl.col(on).max()
    seqs = pl.col("seq").filter(latest)
    return rows.group_by(keys).agg(
        seqs.max().alias(_stamp("", "seq")),
        pl.col(on).max().alias(_stamp("", "on")),
        pl.col("type").filter(latest).get(seqs.arg_max()).alias(_stamp("", "type")),
    )


def _last_values(rows: pl.DataFrame, keys: list[str], on: str, columns: list[str]
                 ) -> pl.DataFrame:
    """Per entity and field: its last non-null value in ``(on, seq)`` order, and where it
    was set."""
    aggs: list[pl.Expr] = []
    for c in columns:
        valid = pl.col(c).is_not_null()
        aggs += [pl.col(c).filter(valid).last().alias(c),
                 pl.col(on).filter(valid).last().alias(_stamp(c, "on")),
                 pl.col("seq").filter(valid).last().alias(_stamp(c, "seq"))]
    return rows.sort(on, "seq").group_by(keys).agg(aggs)


def _last_in_order(rows: pl.DataFrame, keys: list[str], columns: list[str]) -> pl.DataFrame:
    """Per entity and field: its last non-null value in ``seq`` order.

    Field by field, on that field's non-null rows only (a field is set by a few
    types): a third of the memory of one sort and group-by over all of them.
    """
    per_field = pl.collect_all(
        rows.lazy().select(*keys, "seq", c).filter(pl.col(c).is_not_null())
        .group_by(keys).agg(pl.col(c).sort_by("seq").last()) for c in columns)
    out = rows.select(keys).unique()
    for frame in per_field:
        out = out.join(frame, on=keys, how="left")
    return out


def _merge(old: pl.DataFrame, new: pl.DataFrame, keys: list[str], names: Sequence[str],
           in_order: bool = False) -> pl.DataFrame:
    """Per entity and per field, the value set at the later position of the two states
    (with ``in_order``, ``new``'s where it has one)."""
    joined = old.join(new, on=keys, how="full", coalesce=True, suffix="\0new")
    cols: list[pl.Expr] = list(map(pl.col, keys))
    for name in ["", *names]:
        if in_order and name:
            if name in new.columns and name in old.columns:
                cols.append(pl.coalesce(pl.col(name + "\0new"), pl.col(name)).alias(name))
            elif name in new.columns or name in old.columns:
                cols.append(pl.col(name))
            continue
        value = _stamp("", "type") if name == "" else name
        columns = [_stamp(name, "on"), _stamp(name, "seq"), value]
        if columns[0] not in new.columns or columns[0] not in old.columns:
            cols += [pl.col(c) for c in columns if c in old.columns or c in new.columns]
            continue
        nt, ns = pl.col(columns[0] + "\0new"), pl.col(columns[1] + "\0new")
        ot, os_ = pl.col(columns[0]), pl.col(columns[1])
        later = nt.is_not_null() & (ot.is_null() | (nt > ot) | ((nt == ot) & (ns > os_)))
        cols += [pl.when(later).then(pl.col(c + "\0new")).otherwise(pl.col(c)).alias(c)
                 for c in columns]
    try:
        return joined.select(cols)
    except pl.exceptions.PolarsError as exc:
        raise ConfigurationError(
            f"two ranges of this store give a field types that do not merge ({exc}); "
            "name the fields to fold with fields=") from None
