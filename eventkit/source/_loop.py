"""One private event loop on a daemon thread: the synchronous face of an async core.

Jupyter already runs an event loop in the kernel's main thread, so eventkit
never calls ``asyncio.run`` there and never patches the loop. Coroutines are
sent to this thread instead, and a plain cell waits for their result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run", "submit"]

T = TypeVar("T")

#: How long an interrupted call may take to clean up before the interrupt goes on.
CLEANUP_SECONDS = 5.0
_TICK = 0.05

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_serve, args=(loop,), name="eventkit-io",
                                      daemon=True)
            thread.start()
            _loop = loop
        return _loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until it is stopped, whatever interrupt a task raises on this thread.

    polars answers Ctrl-C by raising ``KeyboardInterrupt`` in whichever thread
    runs its query (here, the I/O thread), and the main thread may never see
    the signal. asyncio hands such an exception to the task (so the caller
    waiting for it gets the interrupt) and also raises it out of the loop:
    the loop must go on serving, or every later call would wait forever.
    """
    while True:
        try:
            loop.run_forever()
            return
        except (KeyboardInterrupt, SystemExit):
            continue


def loop() -> asyncio.AbstractEventLoop:
    """The private loop (started on first use)."""
    return _get_loop()


def submit(coro: Coroutine[Any, Any, T]) -> asyncio.Future[T] | Any:
    """Schedule ``coro`` on the private loop; returns a ``concurrent.futures.Future``."""
    return asyncio.run_coroutine_threadsafe(coro, _get_loop())


async def on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the private loop, from whichever loop the caller is on.

    The async twins of eventkit's calls use it: a notebook's own loop awaits
    the work, which runs where the connection lives.
    """
    target = _get_loop()
    if asyncio.get_running_loop() is target:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, target))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the private loop and wait for its result.

    An interrupt (Ctrl-C, the notebook's stop button) cancels the coroutine
    and waits for it to clean up (at most :data:`CLEANUP_SECONDS`) before
    the interrupt is raised again, so nothing is left running behind it.
    """
    target = _get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is target:
        coro.close()
        raise RuntimeError("eventkit's synchronous API was called from its own I/O thread")
    ended = threading.Event()

    async def tracked() -> T:
        try:
            return await coro
        finally:
            ended.set()

    future = asyncio.run_coroutine_threadsafe(tracked(), target)
    try:
        while True:
            # Wake up often: polars' SIGINT handler restarts a blocked wait (SA_RESTART),
            # so Python would see a Ctrl-C only when the call ends; a timed wait sees it
            # within a tick.
            try:
                return future.result(timeout=_TICK)
            except concurrent.futures.TimeoutError:
                continue
    except (KeyboardInterrupt, SystemExit):
        future.cancel()
        # let it clean up (delete its consumer, finish the file it writes, unlock a store)
        # before the interrupt goes on; a second Ctrl-C stops this wait
        ended.wait(CLEANUP_SECONDS)
        raise
