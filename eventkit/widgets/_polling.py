"""What the widgets that poll a stream share: a background task, its stop, its error."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import traitlets

from eventkit.source import _loop
from eventkit.widgets._base import ChartWidget

__all__ = ["PollingWidget"]


class PollingWidget(ChartWidget):
    """A chart widget that polls in the background, on eventkit's I/O loop (the kernel stays
    free): one place for starting, stopping and showing what went wrong.

    A subclass gives :meth:`_poll_once` (one poll) and :meth:`_render_status`; a
    poll that raises stops the polling and shows ``error`` (nobody awaits the
    task, so nothing is raised).
    """

    running = traitlets.Bool(False)
    error = traitlets.Unicode("")

    def __init__(self, chart: Any, *, every: float) -> None:
        self._every = every
        self._stopping = threading.Event()
        self._future: Any = None  # the polling task's concurrent.futures.Future
        super().__init__(chart)

    async def _poll_once(self) -> None:
        raise NotImplementedError

    def _render_status(self) -> None:
        raise NotImplementedError

    def _start_polling(self, *, wait_first: bool) -> None:
        self._stopping.clear()
        self.error = ""
        self.running = True
        self._future = _loop.submit(self._polling(wait_first))

    async def _polling(self, wait_first: bool) -> None:
        try:
            if wait_first:
                await asyncio.sleep(self._every)
            while not self._stopping.is_set():
                await self._poll_once()
                await asyncio.sleep(self._every)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown, not raised: nobody awaits this task
            self.error = f"{type(exc).__name__}: {exc}"
            self.running = False
            self._render_status()

    def stop(self) -> None:
        """Stop polling; what is shown stays. Safe to call more than once."""
        self._stopping.set()
        future = self._future
        if future is not None and not future.done():
            future.cancel()
        if self.running:
            self.running = False
            self._render_status()

    def close(self) -> None:
        """Stop polling and close the widget."""
        self.stop()
        super().close()
