"""ReplayPlayer: play history through a projection, with play, pause, step, speed and seek.

The replay itself is :mod:`eventkit.replay` (a background run the kernel
does not wait for); the player only drives it and shows where it is.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import altair as alt
import ipywidgets as widgets
import polars as pl
import traitlets

from eventkit import charts
from eventkit._typing import TimeColumn
from eventkit.exceptions import ConfigurationError
from eventkit.replay import Latest, Replay
from eventkit.widgets import _views
from eventkit.widgets._base import ChartWidget, mirror
from eventkit.widgets._table import Table, page_html

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.events import Events
    from eventkit.store import Store

__all__ = ["ReplayPlayer"]

#: Speeds offered: multiples of the original pace; 0 is "as fast as possible".
SPEEDS = [60, 600, 3_600, 36_000, 360_000, 0]


def _speed_label(speed: float) -> str:
    return "as fast as possible" if not speed else f"{speed:,.0f}\u00d7 real time"


class ReplayPlayer(ChartWidget):
    """Play history in sequence order through a projection, and watch its state change.

    The replay (:class:`eventkit.Replay`) runs in the background, so the
    kernel stays free; the player polls it every ``tick`` seconds and
    redraws its chart and the table of the projection's state.

    Parameters
    ----------
    source
        What ``conn.read()`` returned, an :class:`eventkit.Store`, or a
        polars frame of events with their payload fields.
    projection
        What the events are fed to (see :mod:`eventkit.replay`):
        :class:`eventkit.Latest` by default (every entity's latest fields),
        or a :class:`eventkit.Fold`, or your own.
    view
        ``state -> alt.Chart``, drawing the projection's state (a polars
        frame); by default the entities counted by the type of their last
        event, when the state has a ``type`` column.
    speed
        A multiple of the original pace on ``pace_on`` (0: as fast as possible).
    pace_on
        The clock that sets the pace: ``"event_time"`` or ``"time"``.
    tick
        Seconds between redraws while playing.

    Attributes
    ----------
    position : int
        The sequence of the last event applied; set it to seek.
    playing : bool
        Set it to play or pause.
    speed : float
        The pace, a multiple of the original (0: as fast as possible).
    step_size : int
        Events applied by one step.
    events : int
        Events applied so far.

    Examples
    --------
    >>> import time, polars as pl, datetime as dt
    >>> at = lambda m: dt.datetime(2026, 11, 1, 12, m, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"seq": [1, 2, 3], "type": ["req", "req", "done"],
    ...     "key": ["r1", "r2", "r1"], "subject": ["r"] * 3,
    ...     "time": [at(0), at(1), at(2)], "event_time": [at(0), at(1), at(2)]})
    >>> player = ReplayPlayer(events, tick=0.05)
    >>> player.step_size = 2
    >>> player.step()
    >>> player.wait_until(lambda: player.events == 2)
    >>> player.run.state()["type"].to_list()
    ['req', 'req']
    >>> player.close()
    """

    _title = "eventkit ReplayPlayer, in stream order (as the events arrived)"

    position = traitlets.Int(0)
    playing = traitlets.Bool(False)
    speed = traitlets.Float(3_600.0)
    step_size = traitlets.Int(1)
    events = traitlets.Int(0)

    def __init__(self, source: Events | Store | Connection | pl.DataFrame,
                 projection: Any = None, *,
                 view: Callable[[pl.DataFrame], alt.TopLevelMixin] | None = None,
                 speed: float = 3_600.0, pace_on: TimeColumn = "event_time",
                 tick: float = 0.5, page_size: int = 10) -> None:
        self.replay = Replay(source, speed=speed or None, pace_on=pace_on)
        self.projection = projection if projection is not None else Latest()
        self.run = self.replay.start(self.projection, paused=True)
        self._first, self._last = self._bounds(source)
        self._view = view
        self._tick = max(float(tick), 0.02)
        self._closed = threading.Event()
        self._drawn: tuple[int, int] | None = None
        self._from_run = False
        self._drawing = threading.RLock()  # the poller's thread and the kernel's both draw
        super().__init__(self._chart(pl.DataFrame()))
        self.play_button = widgets.ToggleButton(description="play", icon="play",
                                                layout={"width": "90px"})
        self.step_button = widgets.Button(description="step", icon="step-forward",
                                          layout={"width": "90px"})
        self.speed_menu = widgets.Dropdown(
            options=[(_speed_label(s), float(s)) for s in SPEEDS],
            value=float(speed) if speed in SPEEDS else 3_600.0, layout={"width": "190px"})
        self.slider = widgets.IntSlider(min=self._first, max=self._last, value=self._first,
                                        continuous_update=False, description="seq",
                                        layout={"width": "480px"})
        self.status = widgets.HTML()
        self.status.add_class("eventkit-status")
        self.add_class("eventkit-replay")
        self.table = Table(columns=[], page_size=page_size, sort_by="key")
        self.children = [
            self.chart_view,
            widgets.HBox([self.play_button, self.step_button, self.speed_menu, self.slider]),
            self.status, self.table,
        ]
        self.speed = self.speed_menu.value
        mirror((self.play_button, "value"), (self, "playing"))
        mirror((self.speed_menu, "value"), (self, "speed"))
        self.slider.observe(self._on_slider, names="value")
        self.step_button.on_click(lambda _: self.step())
        for name in ("page", "sort_by", "descending"):
            self.table.observe(lambda _: self._render(force=True), names=name)
        self._render(force=True)
        self._poller = threading.Thread(target=self._poll, name="eventkit-replay-player",
                                        daemon=True)
        self._poller.start()

    @staticmethod
    def _bounds(source: object) -> tuple[int, int]:
        try:
            seqs = _views.frames_of(source).envelope["seq"]
        except Exception:  # a connection: the slider spans what is known so far
            return 0, 1
        return (int(seqs.min()), int(seqs.max())) if len(seqs) else (0, 1)  # type: ignore[arg-type]

    # -- controls -------------------------------------------------------------------------
    def play(self) -> None:
        """Start (or resume) playing."""
        self.playing = True

    def pause(self) -> None:
        """Pause; the position stays."""
        self.playing = False

    def step(self) -> None:
        """Apply the next ``step_size`` events, then pause."""
        self.playing = False
        self.run.step(self.step_size)

    def seek(self, seq: int) -> None:
        """Go to sequence ``seq`` (from the nearest snapshot before it), paused."""
        self.position = seq

    def close(self) -> None:
        """Stop the replay and close the widget."""
        self._closed.set()
        self.run.stop()
        super().close()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait (in this thread) until ``condition()`` holds, redrawing; for scripts and tests."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not condition():
                if deadline.is_set():
                    raise TimeoutError(f"the replay did not get there in {timeout} s")
                self._render()
                deadline.wait(0.02)
        finally:
            timer.cancel()
        self._render()

    @traitlets.validate("step_size")
    def _valid_step(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise ConfigurationError("step_size must be at least 1")
        return proposal["value"]

    @traitlets.validate("speed")
    def _valid_speed(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise ConfigurationError("speed is a positive multiple (0: as fast as possible)")
        return proposal["value"]

    @traitlets.observe("playing")
    def _on_playing(self, change: dict[str, Any]) -> None:
        self._label_button()
        if self.playing:
            if self.run.done:  # played to the end: start again
                self.run.seek(0)
            self.run.resume()
        else:
            self.run.pause()
        self._render_status()

    def _label_button(self) -> None:
        """Pause while playing; at the end, say that a click starts again from the beginning.

        The label never reads "play" where a click would restart: a click
        meant to pause that lands just after the end shows "play again".
        """
        again = not self.playing and self.run.done
        self.play_button.description = ("pause" if self.playing else
                                         "play again" if again else "play")
        self.play_button.icon = "pause" if self.playing else "undo" if again else "play"

    @traitlets.observe("speed")
    def _on_speed(self, change: dict[str, Any]) -> None:
        self.replay.speed = self.speed or None  # the run takes it from its next event
        self._render_status()

    @traitlets.observe("position")
    def _on_position(self, change: dict[str, Any]) -> None:
        if not self._from_run:
            self.playing = False
            self.run.seek(self.position)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._from_run:
            self.position = change["new"]

    # -- following the run ----------------------------------------------------------------
    def _poll(self) -> None:
        while not self._closed.wait(self._tick):
            run = self.run
            if self.playing and run.paused and not run.done:
                run.resume()  # a seek (a speed change, a restart) paused it: play on
            if self.playing and (run.done or run.error is not None):
                self._from_run = True
                try:
                    self.playing = False
                finally:
                    self._from_run = False
            if run.done and self.play_button.description == "play":
                self._label_button()
            self._render()

    def _render(self, *, force: bool = False) -> None:
        with self._drawing:
            run = self.run
            mark = (run.position, run.events)
            if (mark == self._drawn or run.seeking) and not force:  # a seek: draw where it goes
                return
            self._drawn = mark
            state = run.state()
            self._from_run = True
            try:
                with self.hold_sync():
                    self.events = run.events
                    self.position = run.position
                    if self._first <= run.position <= self._last:
                        self.slider.value = run.position
                    self._render_table(state)
                    self._render_status()
            finally:
                self._from_run = False
            self._show_chart(self._chart(state))

    def _render_table(self, state: pl.DataFrame) -> None:
        table = self.table
        columns = [c for c in state.columns if c not in ("time",)][:14]
        if state.is_empty():
            rows, page = state, 0
        else:
            rows, page = _views.page_of(state.with_row_index("\0row").rename({"\0row": "seq"})
                                        if "seq" not in state.columns else state,
                                        sort_by=table.sort_by, descending=table.descending,
                                        page=table.page, page_size=table.page_size)
        with table.hold_sync():
            table.columns = columns
            table.rows = _views.cells(rows, columns) if not rows.is_empty() else []
            table.total = state.height
            table.page = page
            table.caption = (f"the projection's state: {state.height:,} rows "
                             f"({type(self.projection).__name__})")

    def _render_status(self) -> None:
        run = self.run
        clock = self.replay.pace_on
        reached = run.clock_reached if clock != "time" else run.time_reached
        shown = _views.show_time(reached) if isinstance(reached, dt.datetime) else "-"
        what = ("failed: " + str(run.error) if run.error is not None
                else "done" if run.done else
                f"playing at {_speed_label(self.speed)}" if self.playing else "paused")
        self.status.value = html.escape(
            f"{run.events:,} events applied, up to seq {run.position:,}; "
            f"{charts.clock_name(clock)}: {shown} UTC (the clock it paces by); {what}")

    def _chart(self, state: pl.DataFrame) -> alt.TopLevelMixin:
        if self._view is not None:
            return self._view(state)
        events = self.run.events if hasattr(self, "run") else 0
        subtitle = (f"after {events:,} events (seq {self.run.position:,}), applied in stream "
                    "order: as they arrived, on server time (when stored); a late event "
                    "overwrites what came before it")
        if "type" in state.columns and not state.is_empty():
            counts = state.group_by("type").len("entities")
            data, title = counts, "Entities by the type of their last event"
        else:
            data = pl.DataFrame({"type": ["(entities)"], "entities": [state.height]})
            title = "Entities in the projection"
        return alt.Chart(data, title=alt.TitleParams(title, subtitle=subtitle, anchor="start")
                         ).mark_bar().encode(
            x=alt.X("entities:Q", title="entities"), y=alt.Y("type:N", title=None, sort="-x"),
            color=alt.Color("type:N", legend=None, scale=charts.color_scale(data["type"])),
            tooltip=["type:N", "entities:Q"],
        ).properties(width=600)

    def _fallback_parts(self) -> list[str]:
        return [self.status.value, page_html(self.table.columns, self.table.rows,
                                             self.table.caption)]
