"""StreamView: a stream's configuration, subjects and consumers, refreshed live.

What ``nats stream info``, ``nats stream subjects`` and ``nats consumer
report`` show, in a notebook: built on :meth:`eventkit.Connection.stream`,
:meth:`~eventkit.Connection.subjects` and :meth:`~eventkit.Connection.consumers`.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import altair as alt
import ipywidgets as widgets
import polars as pl
import traitlets

from eventkit.source import _loop
from eventkit.widgets import _views
from eventkit.widgets._polling import PollingWidget
from eventkit.widgets._table import Table, page_html

__all__ = ["StreamView", "stream_facts"]

CONSUMER_COLUMNS = ["name", "durable", "filter", "pending", "ack_pending", "redelivered",
                    "ack_floor_seq", "delivered_seq", "waiting", "last_active"]


def _size(n: int | None) -> str:
    if n is None or n < 0:
        return "unlimited"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _limit(n: int | None) -> str:
    return "unlimited" if n is None or n < 0 else f"{n:,}"


def _age(ns: int | None) -> str:
    if not ns:
        return "unlimited"
    return str(dt.timedelta(microseconds=ns // 1000))


def stream_facts(info: Any) -> list[tuple[str, str]]:
    """What a stream is and holds, as (name, value) rows: state, limits, storage, placement.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> info = NS(name="RIDES", subjects=("rides.>",), messages=3, bytes=2048, first_seq=1,
    ...     last_seq=3, first_time=None, last_time=None, consumers=0, deleted=0,
    ...     config={"storage": "file", "num_replicas": 1, "max_msgs": -1, "retention": "limits"},
    ...     cluster={})
    >>> dict(stream_facts(info))["storage"], dict(stream_facts(info))["max messages"]
    ('file', 'unlimited')
    """
    config, cluster = info.config or {}, info.cluster or {}
    replicas = ", ".join(f"{r.get('name')} ({'current' if r.get('current') else 'behind'})"
                         for r in cluster.get("replicas") or []) or "-"
    placement = config.get("placement") or {}
    return [
        ("stream", info.name), ("subjects", ", ".join(info.subjects)),
        ("messages", f"{info.messages:,}"), ("bytes", _size(info.bytes)),
        ("sequences", f"{info.first_seq:,} .. {info.last_seq:,}"),
        ("first stored", _views.show_time(info.first_time)),
        ("last stored", _views.show_time(info.last_time)),
        ("deleted", f"{info.deleted:,}"), ("consumers", f"{info.consumers:,}"),
        ("storage", str(config.get("storage", "-"))),
        ("retention", str(config.get("retention", "-"))),
        ("discard", str(config.get("discard", "-"))),
        ("max messages", _limit(config.get("max_msgs"))),
        ("max bytes", _limit(config.get("max_bytes")) if config.get("max_bytes", -1) < 0
         else _size(config.get("max_bytes"))),
        ("max age", _age(config.get("max_age"))),
        ("max message size", _limit(config.get("max_msg_size"))),
        ("max per subject", _limit(config.get("max_msgs_per_subject"))),
        ("duplicate window", _age(config.get("duplicate_window"))),
        ("replicas", str(config.get("num_replicas", 1))),
        ("placement", ", ".join(f"{k} {v}" for k, v in placement.items()) or "-"),
        ("cluster", str(cluster.get("name", "-"))), ("leader", str(cluster.get("leader", "-"))),
        ("followers", replicas),
    ]


class StreamView(PollingWidget):
    """A stream's configuration, subjects (with counts) and consumers (with their lag), live.

    Refreshes every ``every`` seconds in the background (on eventkit's I/O
    thread, the kernel stays free); :meth:`refresh` refreshes now,
    :meth:`stop` (or closing the widget) ends it. Nothing of the connection
    (URL, credentials) reaches the browser or a saved notebook.

    Parameters
    ----------
    conn
        An open :class:`eventkit.Connection`.
    stream
        The stream to show.
    every
        Seconds between refreshes (0: never by itself).
    subjects
        The subject pattern whose subjects are counted (``">"``: all).

    Attributes
    ----------
    refreshed : int
        How many times it refreshed.
    running : bool
        True while refreshing in the background.
    error : str
        Why the last refresh failed, if it did.
    """

    _title = "eventkit StreamView"

    stream = traitlets.Unicode()
    refreshed = traitlets.Int(0)

    def __init__(self, conn: Any, stream: str, *, every: float = 5.0,
                 subjects: str = ">") -> None:
        self._conn = conn  # a plain attribute, never a trait: not synced, not saved
        self._pattern = subjects
        super().__init__(alt.Chart(pl.DataFrame({"x": []})).mark_point(), every=float(every))
        self.stream = stream
        self.add_class("eventkit-streamview")
        self.status = widgets.HTML()
        self.status.add_class("eventkit-status")
        self.facts = Table(columns=["", "value"], page_size=30, sortable=False)
        self.subjects_table = Table(columns=["subject", "messages"], page_size=10,
                                    sortable=False)
        self.consumers_table = Table(columns=CONSUMER_COLUMNS, page_size=10, sortable=False)
        self.refresh_button = widgets.Button(description="refresh", icon="refresh",
                                             layout={"width": "110px"})
        self.refresh_button.on_click(lambda _: self.refresh())
        self.children = [
            widgets.HBox([self.refresh_button, self.status]), self.chart_view,
            widgets.HTML("<b>Consumers and their lag</b>"), self.consumers_table,
            widgets.HTML("<b>Subjects</b>"), self.subjects_table,
            widgets.HTML("<b>Configuration and state</b>"), self.facts,
        ]
        self.subjects_table.observe(lambda _: self._show_subjects(), names="page")
        self._subjects = pl.DataFrame()
        self.refresh()
        if self._every > 0:
            self._start_polling(wait_first=True)

    # -- reading -----------------------------------------------------------------------
    async def _read(self) -> tuple[Any, pl.DataFrame, pl.DataFrame]:
        info = await self._conn.astream(self.stream)
        subjects = await self._conn.asubjects(self.stream, self._pattern)
        consumers = await self._conn.aconsumers(self.stream)
        return info, subjects, consumers

    def refresh(self) -> None:
        """Read the stream's state, subjects and consumers now, and show them."""
        self._show(*_loop.run(self._read()))

    async def _poll_once(self) -> None:
        self._show(*await self._read())

    # -- showing -----------------------------------------------------------------------
    def _show(self, info: Any, subjects: pl.DataFrame, consumers: pl.DataFrame) -> None:
        self.info, self.subjects, self.consumers = info, subjects, consumers
        self._subjects = subjects
        with self.hold_sync():
            self.refreshed += 1
            self.error = ""
            self.facts.rows = [list(r) for r in stream_facts(info)]
            self.facts.total = len(self.facts.rows)
            self._show_subjects()
            shown = consumers.select([c for c in CONSUMER_COLUMNS if c in consumers.columns])
            self.consumers_table.rows = _views.cells(shown, shown.columns)
            self.consumers_table.total = consumers.height
            self.consumers_table.caption = (
                f"{consumers.height:,} consumers; pending: not yet delivered, ack_pending: "
                "delivered, not yet acknowledged" if consumers.height else "no consumers")
            self._render_status()
        self._show_chart(self._chart(info, subjects, consumers))

    def _show_subjects(self) -> None:
        subjects = self._subjects
        table = self.subjects_table
        page = subjects.slice(table.page * table.page_size, table.page_size)
        table.rows = [[s, f"{n:,}"] for s, n in page.iter_rows()]
        table.total = subjects.height
        table.caption = (f"{subjects.height:,} subjects matching {self._pattern}, "
                         "the busiest first")

    def _render_status(self) -> None:
        state = "refreshing every " + f"{self._every:g} s" if self.running else "not refreshing"
        error = (f' <span style="color:#b00">{html.escape(self.error)}</span>'
                 if self.error else "")
        info = getattr(self, "info", None)
        held = f": {info.messages:,} messages, last seq {info.last_seq:,}" if info else ""
        self.status.value = (f"<b>{html.escape(self.stream)}</b>{html.escape(held)}; "
                             f"{state}; refreshed {self.refreshed:,} times, last at "
                             f"{dt.datetime.now(dt.UTC):%H:%M:%S} UTC{error}")

    def _chart(self, info: Any, subjects: pl.DataFrame,
               consumers: pl.DataFrame) -> alt.TopLevelMixin:
        top = subjects.head(20)
        bars = alt.Chart(top, title=alt.TitleParams(
            f"Messages per subject in {info.name}",
            subtitle=f"{info.messages:,} messages; the {top.height} busiest of "
                     f"{subjects.height:,} subjects", anchor="start")).mark_bar().encode(
            x=alt.X("messages:Q", title="messages", scale=alt.Scale(zero=True)),
            y=alt.Y("subject:N", sort="-x", title=None),
            tooltip=["subject:N", alt.Tooltip("messages:Q", format=",")],
        ).properties(width=300, height=max(14 * top.height, 40))
        if consumers.is_empty():
            return bars
        lag = consumers.select("name", "pending", "ack_pending").unpivot(
            index="name", variable_name="lag", value_name="messages")
        lags = alt.Chart(lag, title=alt.TitleParams(
            "Consumer lag", subtitle="pending: not delivered yet; ack_pending: not acknowledged",
            anchor="start")).mark_bar().encode(
            x=alt.X("messages:Q", title="messages", scale=alt.Scale(zero=True)),
            y=alt.Y("name:N", title=None), yOffset="lag:N",
            color=alt.Color("lag:N", scale=alt.Scale(domain=["pending", "ack_pending"],
                                                     range=["#e45756", "#f58518"])),
            tooltip=["name:N", "lag:N", alt.Tooltip("messages:Q", format=",")],
        ).properties(width=260, height=max(28 * consumers.height, 40))
        return alt.hconcat(bars, lags)

    def _fallback_parts(self) -> list[str]:
        return [self.status.value,
                page_html(self.consumers_table.columns, self.consumers_table.rows,
                          self.consumers_table.caption),
                page_html(self.subjects_table.columns, self.subjects_table.rows,
                          self.subjects_table.caption),
                page_html(self.facts.columns, self.facts.rows)]

    def __repr__(self) -> str:
        return f"<StreamView {self.stream!r}: refreshed {self.refreshed:,} times>"
