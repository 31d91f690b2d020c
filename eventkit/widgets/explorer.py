"""Explorer: brush a time range on the rate chart, filter, page through the events, read one."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import polars as pl
import traitlets

from eventkit import charts
from eventkit._typing import TimeColumn
from eventkit.exceptions import ConfigurationError, EventkitError
from eventkit.export import ExportFormat, write
from eventkit.query import history, pivot
from eventkit.where import filter_frame
from eventkit.widgets import _views
from eventkit.widgets._base import ChartWidget, mirror
from eventkit.widgets._table import Table, page_html

__all__ = ["Explorer"]

COLUMNS = ["seq", "event_time", "time", "type", "key", "subject", "error"]
_PIVOT_SKIP = {"seq", "time", "event_time", "type", "key", "subject"}


def _jump_target(target: int | str | dt.datetime) -> tuple[int | None, dt.datetime | None]:
    """A sequence or an aware time from what the user typed."""
    if isinstance(target, bool):
        raise ConfigurationError("go to a sequence (12345) or a time (2026-11-01T12:00Z)")
    if isinstance(target, int):
        return target, None
    if isinstance(target, dt.datetime):
        return None, _views.to_utc(target, what="the time to go to")
    text = str(target).strip().replace(",", "")
    if text.isdigit():
        return int(text), None
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"cannot go to {target!r}: give a sequence (12345) or an ISO time with its zone "
            "(2026-11-01T12:00Z)") from None
    return None, _views.to_utc(at, what="the time to go to")


def _close(new: tuple[Any, Any], old: tuple[Any, Any]) -> bool:
    """Whether a brush the browser reports is where ``old`` is, up to its rounding to the
    millisecond (and to the pixel: a two-thousandth of the range)."""
    if None in old or None in new:
        return False
    slack = max(dt.timedelta(milliseconds=1), (old[1] - old[0]) / 2000)
    return abs(new[0] - old[0]) <= slack and abs(new[1] - old[1]) <= slack


class Explorer(ChartWidget):
    """Explore events: a rate chart whose brush selects a time range, filters, a table, details.

    Drag on the chart to select a time range (double-click clears it); pick
    types, a subject filter (NATS wildcards ``*`` and ``>``) and a key; the
    table below pages through the selected events, sorted by any column
    (click its header); click a row to see that event's payload and headers
    in full.

    Parameters
    ----------
    events
        :class:`eventkit.Events`, an :class:`eventkit.Store`, or a polars
        frame of the envelope.
    on
        The clock of the chart and the time range: ``"event_time"`` (when
        it happened) or ``"time"`` (when the server stored it).
    page_size
        Rows per page of the table.

    Attributes
    ----------
    time_range : tuple of (datetime or None, datetime or None)
        The selected range ``[start, end)``, aware datetimes (UTC); set by the
        brush, or set it to move the brush.
    types : tuple of str
        Event types to show (all when empty).
    subject, key : str
        A subject filter, and one entity's key (its history is shown below the table).
    where : str
        A content filter typed as data, e.g. ``"fare > 50 and city = paris"``
        (see :mod:`eventkit.where`); a filter that cannot apply is shown in
        red and leaves the selection as it was.
    sort_by, descending, page, page_size
        The table's order and page.
    selected_seq : int or None
        The event shown in full.
    matched : int
        How many events the time range and filters select.
    pivot_by, pivot_sums
        The pivot tab's grouping (``"type"``, ``"subject"``, ``"key"`` or a
        payload field) and the numeric fields it totals; see :meth:`pivot`.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3], "subject": ["r.x", "r.y", "r.x"],
    ...     "type": ["x", "y", "x"], "key": ["k1", "k1", "k2"],
    ...     "time": [at(0), at(5), at(9)], "event_time": [at(0), at(5), at(9)]})
    >>> explorer = Explorer(events)
    >>> explorer.time_range = (at(4), at(10))
    >>> explorer.matched, explorer.table.rows[0][:4]
    (2, ['2', '2026-11-01 12:05:00.000', '2026-11-01 12:05:00.000', 'y'])
    >>> explorer.types = ("x",)
    >>> explorer.matched, explorer.selection["seq"].to_list()
    (1, [3])
    """

    _title = "eventkit Explorer"

    time_range = traitlets.Tuple(default_value=(None, None))
    types = traitlets.Tuple()
    subject = traitlets.Unicode("")
    key = traitlets.Unicode("")
    where = traitlets.Unicode("")
    sort_by = traitlets.Unicode("seq")
    descending = traitlets.Bool(False)
    page = traitlets.Int(0)
    page_size = traitlets.Int(20)
    selected_seq = traitlets.Int(None, allow_none=True)
    matched = traitlets.Int(0)
    pivot_by = traitlets.Unicode("type")
    pivot_sums = traitlets.Tuple()

    def __init__(self, events: object, *, on: TimeColumn = "event_time", page_size: int = 20,
                 max_rows: int = 2_000) -> None:
        self._frames = _views.frames_of(events)
        self._on: TimeColumn = on
        self._title = f"eventkit Explorer, on {charts.clock_name(on)}"
        self._max_rows = max_rows
        self._filtered = self._frames.envelope
        self._selection = self._filtered
        clock = self._frames.envelope[on].drop_nulls()
        # the chart's axis spans all events whatever the filters: a brush never moves
        lo, hi = clock.min(), clock.max()
        self._domain: tuple[dt.datetime, dt.datetime] | None = (
            (lo, hi) if isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime) else None)
        charts.color_scale(self._frames.envelope["type"])  # every type's colour, up front
        self._page_seqs: list[int] = []
        self._from_browser = False
        self._brush_pending = False
        self._quiet = False
        super().__init__(self._rate_chart())
        self.chart_view.observe(self._on_browser_selection, names="_vl_selections")

        all_types = sorted(t for t in self._frames.envelope["type"].unique().to_list() if t)
        self.type_filter = widgets.SelectMultiple(
            options=all_types, rows=min(max(len(all_types), 2), 6), description="type",
            layout=widgets.Layout(width="300px"))
        self.subject_filter = widgets.Text(
            placeholder="e.g. rides.*.trip_completed", description="subject",
            continuous_update=False, layout=widgets.Layout(width="320px"))
        self.key_filter = widgets.Text(placeholder="an entity key", description="key",
                                       continuous_update=False,
                                       layout=widgets.Layout(width="260px"))
        self.where_filter = widgets.Text(
            placeholder="e.g. fare > 50 and city = paris", description="where",
            continuous_update=False, layout=widgets.Layout(width="420px"))
        self.jump_box = widgets.Text(
            placeholder="a seq (12345) or a time (2026-11-01T12:00Z)", description="go to",
            continuous_update=False, layout=widgets.Layout(width="420px"))
        self.jump_box.observe(self._on_jump, names="value")
        self.export_format = widgets.Dropdown(options=["csv", "jsonl", "parquet"], value="csv",
                                              layout=widgets.Layout(width="90px"))
        self.export_button = widgets.Button(description="export selection", icon="download",
                                            layout=widgets.Layout(width="150px"))
        self.export_button.on_click(lambda _: self.export())
        self.message = widgets.HTML()
        self.message.add_class("eventkit-message")
        self.history = widgets.HTML()
        self.history.add_class("eventkit-history")
        self.clear_button = widgets.Button(description="clear range", icon="times",
                                           layout=widgets.Layout(width="120px"))
        self.clear_button.on_click(lambda _: setattr(self, "time_range", (None, None)))
        self.status = widgets.HTML()
        self.status.add_class("eventkit-status")
        self.add_class("eventkit-explorer")
        self.table = Table(columns=COLUMNS, page_size=page_size, sort_by="seq")
        self.detail = widgets.HTML(_views.event_detail(None))
        # the payload fields join the menus when the pivot is first used (see _pivot_fields)
        self.pivot_by_menu = widgets.Dropdown(options=["type", "subject", "key"],
                                              description="group by",
                                              layout=widgets.Layout(width="300px"))
        self.pivot_sums_menu = widgets.SelectMultiple(
            options=[], description="sum", rows=4, layout=widgets.Layout(width="300px"))
        self.pivot_view = widgets.HTML()
        self.pivot_view.add_class("eventkit-pivot")
        self.tabs = widgets.Tab(children=[
            widgets.VBox([self.table, self.detail, self.history]),
            widgets.VBox([widgets.HBox([self.pivot_by_menu, self.pivot_sums_menu]),
                          self.pivot_view])])
        for index, title in enumerate(("events", "pivot")):
            self.tabs.set_title(index, title)
        self.tabs.observe(lambda _: self._refresh_pivot(), names="selected_index")
        self.children = [
            self.chart_view,
            widgets.HBox([self.type_filter,
                          widgets.VBox([self.subject_filter, self.key_filter]),
                          self.clear_button]),
            widgets.HBox([self.where_filter, self.jump_box]),
            widgets.HBox([self.export_format, self.export_button, self.message]),
            self.status, self.tabs,
        ]
        with self.hold_trait_notifications():
            self.page_size = page_size
        for control, trait in ((self.subject_filter, "subject"), (self.key_filter, "key"),
                               (self.where_filter, "where")):
            mirror((control, "value"), (self, trait))
        mirror((self.type_filter, "value"), (self, "types"))
        mirror((self.pivot_by_menu, "value"), (self, "pivot_by"))
        mirror((self.pivot_sums_menu, "value"), (self, "pivot_sums"))
        for trait in ("sort_by", "descending", "page", "page_size"):
            mirror((self.table, trait), (self, trait))
        self.table.observe(self._on_row_click, names="selected")
        self._refresh_table()

    # -- validation ------------------------------------------------------------
    @traitlets.validate("time_range")
    def _valid_range(self, proposal: dict[str, Any]) -> tuple[dt.datetime | None, ...]:
        value = tuple(proposal["value"])
        if len(value) != 2:
            raise ConfigurationError("time_range is (start, end): two times or None")
        start = _views.to_utc(value[0], what="start")
        end = _views.to_utc(value[1], what="end")
        if start is not None and end is not None and end < start:
            start, end = end, start
        return (start, end)

    @traitlets.validate("page_size")
    def _valid_page_size(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise ConfigurationError("page_size must be at least 1")
        return proposal["value"]

    def _pivot_fields(self) -> None:
        """Put the payload fields in the pivot's menus (once: it builds the payload frame)."""
        if len(self.pivot_by_menu.options) > 3:
            return
        fields = self._frames.payload.schema
        with self.pivot_by_menu.hold_trait_notifications():
            self.pivot_by_menu.options = ["type", "subject", "key",
                                          *(c for c in fields if c not in _PIVOT_SKIP)]
        self.pivot_sums_menu.options = [c for c, kind in fields.items()
                                        if kind.is_numeric() and c not in _PIVOT_SKIP]

    @traitlets.validate("pivot_by", "pivot_sums")
    def _valid_pivot(self, proposal: dict[str, Any]) -> Any:
        if proposal["value"] not in ("type", ()):
            self._pivot_fields()
        menu = self.pivot_by_menu if proposal["trait"].name == "pivot_by" else self.pivot_sums_menu
        asked = proposal["value"]
        unknown = [c for c in ([asked] if isinstance(asked, str) else asked)
                   if c not in menu.options]
        if unknown:
            raise ConfigurationError(
                f"cannot pivot on {', '.join(map(repr, unknown))}: pick from "
                f"{', '.join(menu.options)}")
        return asked

    # -- what the user means -> what is shown ------------------------------------
    def pivot(self) -> pl.DataFrame:
        """The selected events grouped by :attr:`pivot_by`: ``events`` per group, and the sum
        and mean of each of :attr:`pivot_sums`; the largest groups first (the pivot tab).

        See :func:`eventkit.query.pivot`; the time range and every filter apply.
        """
        by, sums = self.pivot_by, list(self.pivot_sums)
        frame = self._selection
        if sums or by not in frame.columns:
            frame = self._frames.payload.join(frame.select("seq"), on="seq", how="semi",
                                              maintain_order="left")
        return pivot(frame, by, sums=sums)

    @traitlets.observe("pivot_by", "pivot_sums")
    def _on_pivot(self, change: dict[str, Any]) -> None:
        self._refresh_pivot()

    def _refresh_pivot(self) -> None:
        """Recompute the pivot only while its tab is open (it can cost a join on payloads)."""
        if self.tabs.selected_index != 1:
            return
        self._pivot_fields()
        table = self.pivot()
        shown = table.head(200)
        rows = _views.cells(shown, shown.columns)
        more = f" (the first 200 of {table.height:,})" if table.height > 200 else ""
        self.pivot_view.value = page_html(
            shown.columns, rows, f"{self.matched:,} selected events in {table.height:,} groups "
            f"by {self.pivot_by}{more}")

    @property
    def selection(self) -> pl.DataFrame:
        """The events the time range and filters select (envelope rows, in ``seq`` order)."""
        return self._selection

    @traitlets.observe("types", "subject", "key", "where")
    def _on_filters(self, change: dict[str, Any]) -> None:
        if change["old"] is traitlets.Undefined and not change["new"]:
            return  # a filter's first value, while building: nothing to filter
        filtered = _views.select_events(
            self._frames.envelope, types=self.types, subject=self.subject, key=self.key)
        self.message.value = ""
        if self.where.strip():
            try:
                matching = filter_frame(self._frames.payload, self.where.strip())
            except EventkitError as exc:  # shown where the user typed, never raised at them
                self.message.value = (f'<span style="color:#b00">{html.escape(str(exc))}'
                                      "</span>")
                return
            filtered = filtered.join(matching.select("seq"), on="seq", how="semi",
                                     maintain_order="left")
        self._filtered = filtered
        if change["name"] == "key":
            self._show_history()
        self._show_chart(self._rate_chart())
        self._first_page()

    # -- one entity, jumps, export ---------------------------------------------------
    def _show_history(self) -> None:
        key = self.key.strip()
        if not key:
            self.history.value = ""
            return
        steps = history(self._frames.payload, key)
        rows = [[str(r["seq"]), r["type"] or "", _views.show_time(r.get("event_time")),
                 _views.show_time(r.get("time")), "; ".join(r["changes"])]
                for r in steps.head(200).iter_rows(named=True)]
        caption = (f"history of {key}: {steps.height:,} events in stream order, on both clocks, "
                   "with what each changed" + (" (the first 200)" if steps.height > 200 else ""))
        self.history.value = page_html(["seq", "type", "event_time", "time", "changed"], rows,
                                       caption)

    def jump(self, target: int | str | dt.datetime) -> int | None:
        """Show the page holding a sequence, or the first event at or after a time.

        A sequence (``12345``) is found in the selection sorted by ``seq``; a
        time (an aware datetime or ISO text) in the selection sorted by the
        widget's clock. The event found is shown in full (:attr:`selected_seq`).

        Returns
        -------
        int or None
            The sequence shown, or None (the message says why).
        """
        seq, at = _jump_target(target)
        selection = self._selection
        if seq is not None:
            order = "seq"
            ordered = selection.sort("seq")
            index = ordered["seq"].search_sorted(seq)
            if index >= ordered.height or ordered["seq"][index] != seq:
                self.message.value = html.escape(
                    f"seq {seq:,} is not in the selection (check the range and filters)")
                return None
        else:
            order = self._on
            ordered = selection.filter(pl.col(order).is_not_null()).sort(order, "seq")
            index = ordered[order].search_sorted(at)
            if index >= ordered.height:
                self.message.value = html.escape(
                    f"no selected event at or after {_views.show_time(at)} UTC on {order}")
                return None
        found = int(ordered["seq"][index])
        with self.hold_trait_notifications():
            self.sort_by, self.descending = order, False
        self.page = index // self.page_size
        self.selected_seq = found
        self.message.value = html.escape(f"went to seq {found:,}")
        return found

    def _on_jump(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if not text:
            return
        try:
            self.jump(text)
        except (EventkitError, ValueError) as exc:
            self.message.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'

    def export(self, path: str | Path | None = None, *, format: ExportFormat | None = None,
               wide: bool = False) -> Path:
        """Write the selected events to ``path`` (CSV, JSON lines or Parquet), see
        :func:`eventkit.export.write`. The export button writes to
        ``eventkit-export/selection-<time>.<format>``. Returns the path."""
        kind = format or (None if path is not None else self.export_format.value)
        if path is None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            path = Path("eventkit-export") / f"selection-{stamp}.{kind}"
        frame = self._selection
        if wide:
            frame = self._frames.payload.join(frame.select("seq"), on="seq", how="semi",
                                              maintain_order="left")
        written = write(frame, path, format=kind)
        self.message.value = html.escape(f"wrote {frame.height:,} events to {written}")
        return written

    @traitlets.observe("time_range")
    def _on_range(self, change: dict[str, Any]) -> None:
        if not self._from_browser:  # set from Python: move the brush to it
            self._show_chart(self._rate_chart())
        self._first_page()

    @traitlets.observe("sort_by", "descending", "page", "page_size")
    def _on_order(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._refresh_table()

    def _set_page(self, page: int) -> None:
        self._quiet = True
        try:
            self.page = page
        finally:
            self._quiet = False

    def _first_page(self) -> None:
        self._set_page(0)
        self._refresh_table()

    @traitlets.observe("selected_seq")
    def _on_selected(self, change: dict[str, Any]) -> None:
        row = None
        if self.selected_seq is not None:
            envelope = self._frames.envelope
            index = envelope["seq"].search_sorted(self.selected_seq)
            if index < envelope.height and envelope["seq"][index] == self.selected_seq:
                row = envelope.row(index, named=True)
        self.detail.value = _views.event_detail(row)
        self.table.selected = (self._page_seqs.index(self.selected_seq)
                               if self.selected_seq in self._page_seqs else -1)

    # -- what the browser sends ---------------------------------------------------
    def _on_browser_selection(self, change: dict[str, Any]) -> None:
        if self._setting_chart:  # the chart widget resets its selections on a new chart
            return
        brush = (change["new"] or {}).get("brush") or {}
        value = brush.get("value") or {}
        bounds = next(iter(value.values()), None) if isinstance(value, dict) else None
        if bounds and len(bounds) == 2:
            new = (_views.to_utc(bounds[0]), _views.to_utc(bounds[1]))
            if _close(new, self.time_range):  # the redrawn brush's echo, rounded: not a move
                self._brush_pending = False
                return
        elif self._brush_pending:  # the first report of a redrawn chart, before its brush
            self._brush_pending = False
            return
        else:
            new = (None, None)
        self._brush_pending = False
        self._from_browser = True
        try:
            self.time_range = new
        finally:
            self._from_browser = False

    def _on_row_click(self, change: dict[str, Any]) -> None:
        index = change["new"]
        if 0 <= index < len(self._page_seqs):
            self.selected_seq = self._page_seqs[index]

    # -- drawing ---------------------------------------------------------------
    def _rate_chart(self) -> Any:
        start, end = self.time_range
        brush = (start, end) if start is not None and end is not None else None
        self._brush_pending = brush is not None
        return charts.rate(self._filtered, on=self._on, brush=True, brush_range=brush,
                           domain=self._domain, max_rows=self._max_rows)

    def _refresh_table(self) -> None:
        start, end = self.time_range
        self._selection = _views.select_events(self._filtered, start=start, end=end,
                                               on=self._on)
        rows, page = _views.page_of(self._selection, sort_by=self.sort_by,
                                    descending=self.descending, page=self.page,
                                    page_size=self.page_size)
        self._page_seqs = rows["seq"].to_list()
        total = self._frames.envelope.height
        if self.selected_seq is not None and not self._selection["seq"].is_in(
                [self.selected_seq]).any():
            self.selected_seq = None  # the event shown is no longer selected: clear the detail
        with self.hold_sync(), self.table.hold_sync():
            self.matched = self._selection.height
            self.table.rows = _views.cells(rows, COLUMNS)
            self.table.total = self._selection.height
            self.table.selected = (self._page_seqs.index(self.selected_seq)
                                   if self.selected_seq in self._page_seqs else -1)
            if page != self.page:
                self._set_page(page)
            self.table.page = page  # also when the clamp happens inside the link's update
            self.table.caption = (
                f"{self._selection.height:,} of {total:,} events, sorted by {self.sort_by}"
                f"{' (descending)' if self.descending else ''}; click a row for its payload")
            self.status.value = self._status_html()
        self._refresh_pivot()

    def _status_html(self) -> str:
        start, end = self.time_range
        span = (f"{_views.show_time(start)} .. {_views.show_time(end)} UTC ({self._on})"
                if start is not None else "all times (drag on the chart to select a range)")
        filters = [f"type in {', '.join(self.types)}" if self.types else "",
                   f"subject {self.subject}" if self.subject else "",
                   f"key {self.key}" if self.key else "",
                   f"where {self.where}" if self.where.strip() else ""]
        shown = "; ".join(f for f in filters if f)
        return (f"<b>{self.matched:,}</b> events selected: {html.escape(span)}"
                + (f"; {html.escape(shown)}" if shown else ""))

    def _fallback_parts(self) -> list[str]:
        return [self.status.value, page_html(self.table.columns, self.table.rows,
                                             self.table.caption), self.history.value]
