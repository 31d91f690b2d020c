"""LiveTail: new events of a stream appear in a chart and a table as they arrive."""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import polars as pl
import traitlets

from eventkit import charts
from eventkit.widgets import _views
from eventkit.widgets._base import mirror
from eventkit.widgets._polling import PollingWidget
from eventkit.widgets._table import Table, page_html

__all__ = ["LiveTail"]

COLUMNS = ["seq", "time", "type", "key", "subject", "event_time", "error"]

# Frames are merged and charts built here, off the I/O loop and off the kernel's thread.
_worker = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="eventkit-livetail")


class LiveTail(PollingWidget):
    """Follow a stream: new events appear in a chart and a table as they arrive.

    The stream is polled in the background (on eventkit's I/O thread), so
    the kernel stays free for other cells. The widget keeps the last
    ``keep`` events; :meth:`stop` (or closing the widget) ends the polling.

    Parameters
    ----------
    conn
        An open :class:`eventkit.Connection`. It is kept out of the widget's
        state: nothing of it (URL, user, password, token) reaches the browser
        or a saved notebook, only the server's address without credentials.
    stream
        The stream to follow.
    subjects
        Subject filter(s), e.g. ``"rides.*.trip_completed"``; all by default.
    backlog
        Start with the stream's last ``backlog`` events (0: only new ones).
    keep
        How many recent events to keep and chart.
    every
        Seconds between polls.
    last
        How much recent server time the chart spans (``"2m"``, ``"1h"``...).

    Attributes
    ----------
    running : bool
        True while polling.
    events_seen : int
        Events received since the widget started.
    last_seq : int
        The last stream sequence received (polling resumes after it).
    error : str
        Why polling stopped, if it failed.
    sort_by, descending, page, selected_seq
        The table's order, page and the event shown in full.
    """

    _title = "eventkit LiveTail, on server time (when stored)"

    stream = traitlets.Unicode()
    subjects = traitlets.Tuple()
    events_seen = traitlets.Int(0)
    last_seq = traitlets.Int(0)
    sort_by = traitlets.Unicode("seq")
    descending = traitlets.Bool(True)
    page = traitlets.Int(0)
    selected_seq = traitlets.Int(None, allow_none=True)

    def __init__(self, conn: Any, stream: str, subjects: str | Sequence[str] | None = None, *,
                 backlog: int = 100, keep: int = 2_000, every: float = 1.0,
                 last: str = "2m", page_size: int = 15) -> None:
        self._conn = conn  # a plain attribute, never a trait: it is not synced nor saved
        self._keep = max(int(keep), 1)
        self._last = last
        self._lock = threading.RLock()
        self._ring = pl.DataFrame()
        self._page_seqs: list[int] = []
        self._server = str(getattr(conn, "server", ""))
        info = conn.stream(stream)
        start = max(info.first_seq or 1, (info.last_seq or 0) - max(backlog, 0) + 1)
        super().__init__(charts.arrivals(pl.DataFrame({"time": [], "type": []}, schema={
            "time": pl.Datetime("ns", "UTC"), "type": pl.String})), every=max(float(every), 0.05))
        self.stream = stream
        self.subjects = (subjects,) if isinstance(subjects, str) else tuple(subjects or ())
        self.last_seq = start - 1
        self.status = widgets.HTML()
        self.status.add_class("eventkit-status")
        self.add_class("eventkit-livetail")
        self.stop_button = widgets.Button(description="stop", icon="stop",
                                          layout={"width": "100px"})
        self.stop_button.on_click(lambda _: self.stop())
        self.table = Table(columns=COLUMNS, page_size=page_size, sort_by="seq", descending=True)
        self.detail = widgets.HTML(_views.event_detail(None))
        self.children = [self.chart_view, widgets.HBox([self.stop_button, self.status]),
                         self.table, self.detail]
        for trait in ("sort_by", "descending", "page"):
            mirror((self.table, trait), (self, trait))
        self.table.observe(self._on_row_click, names="selected")
        self._render()
        self.start()

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Start polling (again) after the last sequence received."""
        if self.running:
            return
        self._start_polling(wait_first=False)
        self._render_status()

    async def _poll_once(self) -> None:
        events = await self._conn._aread_quietly(
            self.stream, subjects=list(self.subjects) or None, start=self.last_seq + 1,
            progress=False)
        if len(events):
            await asyncio.get_running_loop().run_in_executor(_worker, self._absorb,
                                                             events.to_polars())

    def _absorb(self, new: pl.DataFrame) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            ring = new if self._ring.is_empty() else pl.concat([self._ring, new],
                                                               how="vertical_relaxed")
            self._ring = ring.tail(self._keep)
            self.events_seen += new.height
            self.last_seq = int(new["seq"].max())  # type: ignore[arg-type]
            self._render()

    def wait_until(self, condition: Any, timeout: float = 30.0) -> bool:
        """Wait until ``condition()`` holds (e.g. ``lambda: tail.events_seen >= 100``), polling
        stopped, or ``timeout`` seconds passed; True if the condition holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.running or time.monotonic() > deadline:
                return bool(condition())
            time.sleep(0.05)
        return True

    # -- what is shown ----------------------------------------------------------------
    @property
    def events(self) -> pl.DataFrame:
        """The recent events kept (envelope rows, in ``seq`` order)."""
        return self._ring

    @traitlets.observe("sort_by", "descending", "page")
    def _on_order(self, change: dict[str, Any]) -> None:
        with self._lock:
            self._render_table()

    @traitlets.observe("selected_seq")
    def _on_selected(self, change: dict[str, Any]) -> None:
        with self._lock:
            ring = self._ring
            row = None
            if self.selected_seq is not None and not ring.is_empty():
                hit = ring.filter(pl.col("seq") == self.selected_seq)
                row = hit.row(0, named=True) if hit.height else None
            self.detail.value = _views.event_detail(row)

    def _on_row_click(self, change: dict[str, Any]) -> None:
        index = change["new"]
        if 0 <= index < len(self._page_seqs):
            self.selected_seq = self._page_seqs[index]

    def _render(self) -> None:
        with self.hold_sync():
            self._render_table()
            self._render_status()
        if not self._ring.is_empty():
            self._show_chart(charts.arrivals(self._ring, last=self._last, max_rows=1_000))

    def _render_table(self) -> None:
        if self._ring.is_empty():
            rows, page = self._ring, 0
        else:
            rows, page = _views.page_of(self._ring, sort_by=self.sort_by,
                                        descending=self.descending, page=self.page,
                                        page_size=self.table.page_size)
        self._page_seqs = rows["seq"].to_list() if not rows.is_empty() else []
        with self.table.hold_sync():
            self.table.rows = _views.cells(rows, COLUMNS) if not rows.is_empty() else []
            self.table.total = self._ring.height
            self.table.page = page
            self.table.caption = (f"the last {self._ring.height:,} events kept (at most "
                                  f"{self._keep:,}); click a row for its payload")

    def _render_status(self) -> None:
        where = html.escape(f"{self.stream} on {self._server}"
                            + (f", subjects {', '.join(self.subjects)}" if self.subjects else ""))
        state = ("following" if self.running else "stopped")
        error = f' <span style="color:#b00">{html.escape(self.error)}</span>' if self.error else ""
        self.status.value = (f"<b>{state}</b> {where}: {self.events_seen:,} events received, "
                             f"last seq {self.last_seq:,}{error}")

    def _fallback_parts(self) -> list[str]:
        return [self.status.value, page_html(self.table.columns, self.table.rows,
                                             self.table.caption)]

    def __repr__(self) -> str:
        return (f"<LiveTail {self.stream!r} {'running' if self.running else 'stopped'}: "
                f"{self.events_seen:,} events, last seq {self.last_seq:,}>")
