"""Where deliveries go: a subscription's sink, kept as lists or (for bulk reads) as columns.

No I/O: the connection (:mod:`eventkit.source._wire`) hands each sink the
frames the protocol parser found for its subscription, and readers wait on
the sink.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from eventkit.source._columns import Column, views
from eventkit.source._protocol import Block, Msgs, Status

__all__ = ["BulkSink", "Deliveries", "Sink"]


class Deliveries(NamedTuple):
    """What a sink received: per delivery a subject, reply subject and payload (lists, or
    :class:`~eventkit.source._columns.Column` s from a :class:`BulkSink`)."""

    subjects: Sequence[bytes]
    replies: Sequence[bytes]
    headers: dict[int, bytes]  # header blocks by delivery index (most have none)
    payloads: Sequence[bytes]


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

    def extend_block(self, block: Block) -> None:
        """A run of deliveries found in bulk (see :class:`BulkSink` for a sink that keeps it)."""
        self.extend(block.to_msgs())

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


class BulkSink(Sink):
    """A sink that keeps runs found in bulk as they are (positions in the received buffers),
    and hands out :class:`~eventkit.source._columns.Column` s: no ``bytes`` per message."""

    __slots__ = ("_count", "_parts")

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[Block | Msgs] = []
        self._count = 0

    def extend(self, run: Msgs) -> None:
        self._parts.append(run)
        self._count += len(run.payloads)

    def extend_block(self, block: Block) -> None:
        self._parts.append(block)
        self._count += len(block)

    def take(self) -> Deliveries:
        """Everything delivered so far (subjects, replies and payloads as Columns)."""
        parts, self._parts, self._count = self._parts, [], 0
        subjects: list[pa.Array] = []
        replies: list[pa.Array] = []
        payloads: list[pa.Array] = []
        headers: dict[int, bytes] = {}
        row = 0
        for part in parts:
            if isinstance(part, Block):
                subjects.append(views(part.buf, part.subject[:, 0], part.subject[:, 1]))
                payloads.append(views(part.buf, part.payload[:, 0], part.payload[:, 1]))
                replies.append(views(part.buf, part.reply[:, 0], part.reply[:, 1]))
                has = np.flatnonzero(part.header[:, 1] > part.header[:, 0]).tolist()
                headers.update((row + i, part.buf[int(part.header[i, 0]):int(part.header[i, 1])])
                               for i in has)
                row += len(part)
            else:
                subjects.append(pa.array(part.subjects, pa.binary_view()))
                replies.append(pa.array(part.replies, pa.binary_view()))
                payloads.append(pa.array(part.payloads, pa.binary_view()))
                headers.update((row + i, h) for i, h in part.headers.items())
                row += len(part.payloads)
        return Deliveries(_joined(subjects), _joined(replies), headers, _joined(payloads))

    def __len__(self) -> int:
        return self._count


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


def _joined(arrays: list[pa.Array]) -> Column:
    return Column(pa.concat_arrays(arrays) if arrays else pa.array([], pa.binary_view()))
