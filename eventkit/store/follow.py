"""Following a stream: a background sync that keeps a store current."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, cast

from eventkit.envelope import Rules
from eventkit.exceptions import AuthenticationError, ConnectionFailedError, ReadInterruptedError
from eventkit.source import _loop
from eventkit.store.sync import Busy, run_sync

if TYPE_CHECKING:
    from eventkit.connection import Connection
    from eventkit.store._writer import SyncResult
    from eventkit.store.core import Store

__all__ = ["Follower"]


class Follower:
    """A background sync that keeps a store current. Made by :meth:`Store.follow`.

    ``running`` says whether it goes on, ``error`` holds the last error (None
    after a sync that worked), ``syncs`` and ``events`` count what it did.
    """

    def __init__(self, store: Store, conn: Connection, stream: str | None,
                 subjects: tuple[str, ...] | None, rules: Rules | None, interval: float,
                 batch: int, compact: bool) -> None:
        self.store = store
        self._conn = conn
        self._stream = stream
        self._subjects = subjects
        self._rules = rules
        self.interval = interval
        self._batch = batch
        self._compact = compact
        self._stop = threading.Event()
        self._future: Future[None] | None = None
        self.error: BaseException | None = None
        self.last: SyncResult | None = None
        self.syncs = 0
        self.events = 0

    def _start(self) -> None:
        conn = self._conn
        conn.jetstream  # noqa: B018  (a closed connection fails here, not in the background)
        self._future = cast("Future[None]", _loop.submit(self._run()))

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    async def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            pause = self.interval
            try:
                result = await run_sync(
                    self.store, self._conn, self._stream, self._subjects, self._rules, False,
                    self._batch, self._stop.is_set)
                self._stream = self._stream or result.stream
                self.last, self.error = result, None
                self.syncs += 1
                self.events += result.events
                failures = 0
                if self._compact and result.events:
                    await self.store._compact_if_small()
            except asyncio.CancelledError:
                raise
            except (Busy, ReadInterruptedError, OSError) as exc:
                self.error, failures = exc, failures + 1
            except ConnectionFailedError as exc:
                self.error, failures = exc, failures + 1
                if isinstance(exc, AuthenticationError):
                    return
            except Exception as exc:  # the store or the stream does not match: stop
                self.error = exc
                return
            if failures:
                pause = min(self.interval * 2 ** min(failures, 6), 30.0)
            deadline = time.monotonic() + pause
            while not self._stop.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the batch being written (a sync in progress ends at a batch boundary)."""
        self._stop.set()
        if self._future is not None:
            with contextlib.suppress(Exception):
                self._future.result(timeout)

    async def astop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._future is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout):
                    await asyncio.wrap_future(self._future)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        err = f", error={self.error!s:.80}" if self.error else ""
        return (f"<Follower {state}: {self.syncs} syncs, {self.events:,} events, "
                f"store at seq {self.store.last_seq:,}{err}>")
