"""Where deliveries go: a subscription's sink, kept as parallel lists.

No I/O: the connection (:mod:`eventkit.source._wire`) hands each sink the
frames the protocol parser found for its subscription, and readers wait on
the sink.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from eventkit.source._protocol import Msgs, Status

__all__ = ["Deliveries", "Sink"]


class Deliveries(NamedTuple):
    """What a sink received: per delivery a subject, reply subject and payload."""

    subjects: list[bytes]
    replies: list[bytes]
    headers: dict[int, bytes]  # header blocks by delivery index (most have none)
    payloads: list[bytes]


class Sink:
    """Where a subscription's deliveries go.

    The default keeps every delivery in parallel lists, which is what a bulk
    read wants; a status message (a header block with a code and no payload)
    goes to :meth:`on_status`. Subclasses override :meth:`extend` to react.
    """

    __slots__ = ("_waiter", "headers", "payloads", "replies", "statuses", "subjects")

    def __init__(self) -> None:
        self.subjects: list[bytes] = []
        self.replies: list[bytes] = []
        self.headers: dict[int, bytes] = {}  # header blocks by delivery index (most have none)
        self.payloads: list[bytes] = []
        self.statuses: list[tuple[int, str, dict[str, str]]] = []  # code, description, headers
        self._waiter: asyncio.Event = asyncio.Event()

    def extend(self, run: Msgs) -> None:
        """A run of deliveries, appended in order."""
        if run.headers:
            base = len(self.payloads)
            self.headers.update((base + i, h) for i, h in run.headers.items())
        self.subjects += run.subjects
        self.replies += run.replies
        self.payloads += run.payloads

    def on_status(self, status: Status) -> None:
        """A status message (``NATS/1.0 <code> ...``, no payload)."""
        code, desc, headers = status.parsed()
        if code is not None:
            self.statuses.append((code, desc, headers))

    def wake(self) -> None:
        self._waiter.set()

    async def wait(self, timeout: float) -> None:
        """Wait until something arrives (or ``timeout`` passes)."""
        try:  # asyncio.timeout, not 3.11's wait_for, which can swallow a cancel (Ctrl-C)
            async with asyncio.timeout(timeout):
                await self._waiter.wait()
        except TimeoutError:
            pass
        self._waiter.clear()

    def take(self) -> Deliveries:
        """Everything delivered so far, leaving the sink empty."""
        out = Deliveries(self.subjects, self.replies, self.headers, self.payloads)
        self.subjects, self.replies, self.headers, self.payloads = [], [], {}, []
        return out

    def __len__(self) -> int:
        return len(self.payloads)


class _Replies(Sink):
    """The shared request inbox: each reply resolves the future of its token."""

    __slots__ = ("futures",)

    def __init__(self) -> None:
        super().__init__()
        self.futures: dict[bytes, asyncio.Future[tuple[bytes | None, bytes]]] = {}

    def extend(self, run: Msgs) -> None:
        for i, subject in enumerate(run.subjects):
            self._resolve(subject, run.headers.get(i), run.payloads[i])

    def on_status(self, status: Status) -> None:  # e.g. 503 no responders
        self._resolve(status.subject, status.block, b"")

    def _resolve(self, subject: bytes, hdr: bytes | None, payload: bytes) -> None:
        fut = self.futures.pop(subject.rsplit(b".", 1)[-1], None)
        if fut is not None and not fut.done():
            fut.set_result((hdr, payload))

