"""TimeTravel: scrub through time and see every entity's state, and what changed."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

import altair as alt
import ipywidgets as widgets
import polars as pl
import traitlets

from eventkit import charts, query
from eventkit._typing import TimeColumn
from eventkit.exceptions import ConfigurationError
from eventkit.widgets import _views
from eventkit.widgets._base import ChartWidget, mirror
from eventkit.widgets._table import Table, page_html

__all__ = ["TimeTravel"]

_STATE_HEAD = ["key", "type", "seq"]


class TimeTravel(ChartWidget):
    """A time scrubber: the state of every entity (or one) at that time, and what changed.

    Moving the slider sets :attr:`at`. The widget then shows how many
    entities exist at ``at`` and in which state (the type of their last
    event), a table of their states (every payload field merged, as
    :func:`eventkit.query.state_at` folds them), and a table of what changed
    since the previous position (:func:`eventkit.query.diff`).

    Parameters
    ----------
    events
        :class:`eventkit.Events`, an :class:`eventkit.Store`, or a polars
        frame (with payload columns for states to have fields).
    on
        The clock: ``"event_time"`` (a late event is applied where it
        happened) or ``"time"`` (as the store received it).
    end_types
        Event types that end an entity (reported as ``ended``).
    steps
        Positions on the scrubber between the first and the last event.
    at
        Where to start (default: the end).

    Attributes
    ----------
    at : datetime
        The position (aware, UTC).
    previous : datetime or None
        The position before the last move; changes are reported since it.
    key : str
        Show this entity only (all when empty).
    sort_by, descending, page, page_size
        The order and page of the state table.
    entities : int
        Entities existing at ``at``.
    summary : str
        The state and the changes, in words.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3, 4], "type": ["req", "req", "done", "done"],
    ...     "key": ["r1", "r2", "r1", "r2"], "event_time": [at(0), at(1), at(5), at(9)],
    ...     "fare": [None, None, 7.5, 9.0]})
    >>> tt = TimeTravel(events, end_types=["done"], at=at(2))
    >>> tt.entities, tt.state_table.rows  # doctest: +NORMALIZE_WHITESPACE
    (2, [['r1', 'req', '1', '2026-11-01 12:00:00.000'],
         ['r2', 'req', '2', '2026-11-01 12:01:00.000']])
    >>> tt.at = at(6)
    >>> tt.changes_table.rows
    [['r1', 'ended', 'type: req → done; fare: ∅ → 7.5']]
    """

    _title = "eventkit TimeTravel"

    at = traitlets.Instance(dt.datetime, allow_none=True)
    previous = traitlets.Instance(dt.datetime, allow_none=True)
    key = traitlets.Unicode("")
    sort_by = traitlets.Unicode("key")
    descending = traitlets.Bool(False)
    page = traitlets.Int(0)
    page_size = traitlets.Int(10)
    entities = traitlets.Int(0)
    summary = traitlets.Unicode("")

    def __init__(self, events: object, *, on: TimeColumn = "event_time",
                 end_types: Sequence[str] | None = None, steps: int = 400,
                 at: dt.datetime | str | None = None, page_size: int = 10) -> None:
        frames = _views.frames_of(events)
        # Ordered once by the clock (ties by seq), so that every position is a slice.
        self._timeline = (frames.payload.filter(pl.col(on).is_not_null()
                                                & pl.col("key").is_not_null())
                          .sort(on, "seq").set_sorted(on))
        self._scope = self._timeline
        self._narrow = self._scope.select("key", "seq", on, "type")
        self._following = _views.next_of_key(self._timeline)
        self._on: TimeColumn = on
        self._title = f"eventkit TimeTravel, on {charts.clock_name(on)}"
        self._end_types = tuple(end_types or ())
        if self._timeline.is_empty():
            raise ConfigurationError(f"no events with a {on!r} to travel through")
        self._first = self._timeline[on][0]
        self._last = self._timeline[on][-1]
        self._steps = max(int(steps), 1)
        charts.color_scale(self._timeline["type"])  # every type's colour, before any filter
        self._context = self._context_chart()
        self._light = pl.DataFrame()
        self._page_keys: list[str] = []
        self._quiet = False
        super().__init__(alt.Chart(pl.DataFrame({"x": []})).mark_point())

        self.slider = widgets.IntSlider(
            min=0, max=self._steps, value=self._steps, readout=False, continuous_update=False,
            description="time", layout=widgets.Layout(width="560px"))
        self.back_button = widgets.Button(description="", icon="step-backward",
                                          tooltip="one step back", layout={"width": "40px"})
        self.forward_button = widgets.Button(description="", icon="step-forward",
                                             tooltip="one step forward", layout={"width": "40px"})
        self.back_button.on_click(lambda _: self._nudge(-1))
        self.forward_button.on_click(lambda _: self._nudge(1))
        self.time_label = widgets.HTML()
        self.key_filter = widgets.Text(placeholder="all entities (or one key)", description="key",
                                       continuous_update=False, layout={"width": "300px"})
        self.status = widgets.HTML()
        self.status.add_class("eventkit-status")
        self.add_class("eventkit-timetravel")
        self.state_table = Table(columns=_STATE_HEAD, page_size=page_size, sort_by="key")
        self.changes_table = Table(columns=["key", "change", "fields"], page_size=page_size,
                                   sortable=False)
        self.children = [
            self.chart_view,
            widgets.HBox([self.back_button, self.slider, self.forward_button, self.time_label]),
            self.key_filter, self.status,
            widgets.HTML(f"<b>State at this time, on {charts.clock_name(on)}</b>"),
            self.state_table,
            widgets.HTML("<b>Changed since the previous position</b>"), self.changes_table,
        ]
        mirror((self.key_filter, "value"), (self, "key"))
        for trait in ("sort_by", "descending", "page", "page_size"):
            mirror((self.state_table, trait), (self, trait))
        self.changes_table.observe(self._on_change_page, names="page")
        self.slider.observe(self._on_slider, names="value")
        self._changes = pl.DataFrame()
        self.at = self._last if at is None else _views.to_utc(
            at if not isinstance(at, str) else dt.datetime.fromisoformat(
                at.replace("Z", "+00:00")), what="at")

    # -- validation ----------------------------------------------------------------
    @traitlets.validate("at")
    def _valid_at(self, proposal: dict[str, Any]) -> dt.datetime | None:
        return _views.to_utc(proposal["value"], what="at")

    # -- the scrubber ----------------------------------------------------------------
    def _time_of(self, step: int) -> dt.datetime:
        return self._first + (self._last - self._first) * step / self._steps

    def _step_of(self, at: dt.datetime) -> int:
        span = (self._last - self._first).total_seconds() or 1.0
        step = round((at - self._first).total_seconds() / span * self._steps)
        return min(max(step, 0), self._steps)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.at = self._time_of(change["new"])

    def _nudge(self, steps: int) -> None:
        self.slider.value = min(max(self.slider.value + steps, 0), self._steps)

    # -- what the user means -> what is shown ----------------------------------------
    @traitlets.observe("at")
    def _on_at(self, change: dict[str, Any]) -> None:
        self.previous = change["old"]
        self._quiet = True
        try:
            self.slider.value = self._step_of(self._at)
        finally:
            self._quiet = False
        self._update(changes=True)

    @traitlets.observe("key")
    def _on_key(self, change: dict[str, Any]) -> None:
        key = self.key.strip()
        self._scope = (self._timeline.filter(pl.col("key") == key) if key else self._timeline)
        self._narrow = self._scope.select("key", "seq", self._on, "type")
        self._following = _views.next_of_key(self._scope)
        self._context = self._context_chart()  # the chart narrows to the entity too
        self.previous = None
        self._update(changes=True)

    @traitlets.observe("sort_by", "descending", "page", "page_size")
    def _on_order(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._update(changes=False)

    def _on_change_page(self, change: dict[str, Any]) -> None:
        self._show_changes()

    @property
    def states(self) -> pl.DataFrame:
        """Every entity at :attr:`at`: key, and the ``seq``, time and type of its last event.

        The rows of :func:`eventkit.query.state_at` with ``fields=[]`` (not sorted).
        """
        return self._light

    def state_of(self, key: str) -> dict[str, Any] | None:
        """One entity's full state at :attr:`at` (every payload field merged), or None."""
        scope = self._timeline.filter(pl.col("key") == key)
        state = query.state_at(scope, self.at, on=self._on)
        return state.row(0, named=True) if state.height else None

    @property
    def changes(self) -> pl.DataFrame:
        """What changed from :attr:`previous` to :attr:`at`: a :func:`eventkit.query.diff`
        (told backwards, see :func:`eventkit.widgets._views.undone`, when moving back)."""
        return self._changes

    def _update(self, *, changes: bool) -> None:
        if self.at is None:
            return
        on = self._on
        # = query.state_at(scope, at, fields=[]), as one filter over a slice (tested so)
        self._light = _views.last_events(self._narrow, self._following, self._known(self._at))
        rows, page = _views.page_of(self._light, sort_by=self.sort_by,
                                    descending=self.descending, page=self.page,
                                    page_size=self.page_size)
        self._page_keys = rows["key"].to_list()
        page_scope = self._scope.filter(pl.col("key").is_in(self._page_keys))
        full = query.state_at(page_scope, self.at, on=on).sort(
            pl.col("key").replace_strict(self._page_keys, range(len(self._page_keys)),
                                         return_dtype=pl.UInt32))
        fields = [c for c in _views.payload_columns(full)
                  if c not in ("seq", "type", on) and full[c].null_count() < full.height]
        columns = [*_STATE_HEAD, on, *fields]
        if changes:
            self._changes = self._diff()
        counts = self._light.group_by("type").len("entities").sort("entities", descending=True)
        with self.hold_sync(), self.state_table.hold_sync():
            self.entities = self._light.height
            self.time_label.value = f"<code>{_views.show_time(self.at)} UTC</code> ({on})"
            self.state_table.columns = columns
            self.state_table.rows = _views.cells(full, columns)
            self.state_table.total = self._light.height
            self.state_table.caption = (f"{self._light.height:,} entities at this time, "
                                        f"sorted by {self.sort_by}")
            if page != self.page:
                self._quiet = True
                try:
                    self.page = page
                finally:
                    self._quiet = False
            self.state_table.page = page
            if changes:
                self._show_changes()
            self.summary = self._summary(counts)
            self.status.value = html.escape(self.summary)
        self._show_chart(self._state_chart(counts))

    @property
    def _at(self) -> dt.datetime:
        if self.at is None:  # only before the first position is set
            raise ValueError("no position yet")
        return self.at

    def _known(self, at: dt.datetime) -> int:
        """How many events of the scope are at or before ``at`` (a binary search)."""
        return query.as_of(self._narrow, at, on=self._on).height

    def _diff(self) -> pl.DataFrame:
        previous = self.previous
        if previous is None or previous == self.at:
            return pl.DataFrame()
        lo, hi = sorted((previous, self._at))
        # the type of the last event is part of the state shown (a lifecycle stage)
        scope = self._scope.select(pl.col("type").alias("type_"), pl.all())
        changed = _views.changes_between(  # = query.diff(scope, lo, hi, ...), tested so
            scope, self._known(lo), self._known(hi), on=self._on, end_types=self._end_types)
        changed = changed.with_columns(pl.col("fields").list.eval(
            pl.element().replace("type_", "type")),
            pl.col("before").struct.rename_fields(_renamed(changed, "before")),
            pl.col("after").struct.rename_fields(_renamed(changed, "after")))
        return changed if previous <= self._at else _views.undone(changed)

    def _show_changes(self) -> None:
        changes = self._changes
        rows = (_views.page_of(changes.with_row_index("seq"), page=self.changes_table.page,
                               page_size=self.changes_table.page_size)[0]
                if changes.height else changes)
        with self.changes_table.hold_sync():
            self.changes_table.rows = _views.change_rows(rows) if changes.height else []
            self.changes_table.total = changes.height
            self.changes_table.caption = self._changes_caption()

    def _changes_caption(self) -> str:
        previous = self.previous
        if previous is None:
            return "move the scrubber to see what changes"
        direction = "forward" if previous <= self._at else "back"
        return (f"{self._changes.height:,} entities changed between "
                f"{_views.show_time(self.previous)} and {_views.show_time(self.at)} "
                f"UTC, moving {direction}")

    def _summary(self, counts: pl.DataFrame) -> str:
        top = ", ".join(f"{n:,} {t}" for t, n in counts.head(6).iter_rows())
        text = (f"At {_views.show_time(self.at)} UTC: {self._light.height:,} entities"
                + (f" (by last event: {top})" if top else ""))
        if self.key:
            text += f"; entity {self.key!r} only"
        previous = self.previous
        if previous is not None and self._changes.height:
            kinds = self._changes.group_by("change").len().sort("change")
            moves = ", ".join(f"{n:,} {c}" for c, n in kinds.iter_rows())
            text += (f". Since {_views.show_time(previous)}"
                     f"{'' if previous <= self._at else ' (moving back)'}: {moves}")
        elif previous is not None:
            text += f". Nothing changed since {_views.show_time(previous)}"
        return text + "."

    def _context_chart(self) -> alt.Chart:
        """Events over time of what is in scope (all entities, or the one of :attr:`key`),
        on the full time span, so the scrubber's place keeps its meaning."""
        scope = self._scope if not self._scope.is_empty() else self._timeline.clear()
        if scope.is_empty():
            return charts._empty("no events of this entity").properties(height=70)
        chart = charts.rate(scope, on=self._on, brush=False, max_rows=600, height=70,
                            domain=(self._first, self._last))
        return chart.properties(title="")

    def _state_chart(self, counts: pl.DataFrame) -> alt.TopLevelMixin:
        at = charts._utc_ms(self._at)
        rule = alt.Chart(pl.DataFrame({"x": [0]})).mark_rule(color="#d62728", size=2).encode(
            x=alt.datum(at, type="temporal"))
        context = alt.layer(self._context, rule).properties(
            width=640, height=70, title=alt.TitleParams(
                f"Where you are, on {charts.clock_name(self._on)}",
                subtitle=self._context.title.subtitle
                if hasattr(self._context.title, "subtitle") else "", anchor="start"))
        bars = alt.Chart(counts, title=alt.TitleParams(
            f"{self._light.height:,} entities at {_views.show_time(self.at)} UTC, "
            f"on {charts.clock_name(self._on)}",
            subtitle="by the type of their last event", anchor="start")).mark_bar().encode(
            x=alt.X("entities:Q", title="entities"),
            y=alt.Y("type:N", sort="-x", title=None),
            color=alt.Color("type:N", legend=None, scale=charts.color_scale(counts["type"])),
            tooltip=["type:N", "entities:Q"]).properties(width=640)
        return alt.vconcat(context, bars)

    def _fallback_parts(self) -> list[str]:
        return [html.escape(self.summary),
                page_html(self.state_table.columns, self.state_table.rows,
                          self.state_table.caption),
                page_html(self.changes_table.columns, self.changes_table.rows,
                          self.changes_table.caption)]


def _renamed(changes: pl.DataFrame, column: str) -> list[str]:
    dtype = changes.schema[column]
    names = [f.name for f in dtype.fields] if isinstance(dtype, pl.Struct) else []
    return ["type" if n == "type_" else n for n in names]
