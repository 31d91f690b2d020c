"""Small async helpers of the store: retrying a server call, running on eventkit's loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from eventkit.exceptions import AuthenticationError, ConnectionFailedError, EventkitError
from eventkit.source import _loop

if TYPE_CHECKING:
    from eventkit.connection import Connection

__all__ = ["is_closed", "on_loop", "retrying"]


async def retrying(call: Callable[[], Any], budget: float = 30.0) -> Any:
    """``await call()``, again with a growing pause while the server is away (a restart)."""
    deadline = time.monotonic() + budget
    pause = 0.1
    while True:
        try:
            return await call()
        except AuthenticationError:
            raise
        except (ConnectionFailedError, OSError, TimeoutError):
            if time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def on_loop(make: Callable[[threading.Event], Coroutine[Any, Any, Any]]) -> Any:
    """Await ``make(stop)`` on eventkit's I/O loop, from whichever loop the caller is on.

    ``stop`` is set when the caller is cancelled (Ctrl-C in a notebook), so
    the work ends at its next batch boundary even if a cancellation is lost
    on the way; the caller waits for that (never for the rest of the work),
    so the store's lock is free when the cancelled await returns.
    """
    stop = threading.Event()
    target = _loop.loop()
    if asyncio.get_running_loop() is target:
        return await make(stop)
    ended = threading.Event()

    async def run() -> Any:
        try:
            return await make(stop)
        finally:
            ended.set()

    future = asyncio.run_coroutine_threadsafe(run(), target)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, ended.wait, 60.0)
        raise


def is_closed(conn: Connection) -> bool:
    try:
        conn.jetstream  # noqa: B018  (raises when the connection is not open)
    except EventkitError:
        return True
    return False
