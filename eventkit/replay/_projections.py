"""Projections: what a replay feeds (a Python fold per event, or polars per batch)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import polars as pl

from eventkit import query


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
    >>> import datetime as dt
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
