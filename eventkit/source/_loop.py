"""One private event loop on a daemon thread: the synchronous face of an async core.

Jupyter already runs an event loop in the kernel's main thread, so eventkit
never calls ``asyncio.run`` there and never patches the loop. Coroutines are
sent to this thread instead, and a plain cell waits for their result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run", "submit"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="eventkit-io", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def loop() -> asyncio.AbstractEventLoop:
    """The private loop (started on first use)."""
    return _get_loop()


def submit(coro: Coroutine[Any, Any, T]) -> asyncio.Future[T] | Any:
    """Schedule ``coro`` on the private loop; returns a ``concurrent.futures.Future``."""
    return asyncio.run_coroutine_threadsafe(coro, _get_loop())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the private loop and wait for its result.

    An interrupt (Ctrl-C, the notebook's stop button) cancels the coroutine.
    """
    target = _get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is target:
        coro.close()
        raise RuntimeError("eventkit's synchronous API was called from its own I/O thread")
    future = asyncio.run_coroutine_threadsafe(coro, target)
    try:
        return future.result()
    except (KeyboardInterrupt, SystemExit):
        future.cancel()
        raise
