"""Acked publishing in order, many messages at a time, over one :class:`Wire`."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventkit.exceptions import ConfigurationError, PermissionDeniedError, PublishError
from eventkit.source._protocol import encode_headers
from eventkit.source._wire import Sink, Wire

if TYPE_CHECKING:
    from eventkit.source.jetstream import JetStream

__all__ = ["PublishResult", "publish_many"]


async def publish_many(
    js: JetStream, subjects: Sequence[str], payloads: Sequence[bytes],
    headers: Sequence[dict[str, str] | None] | None = None, *,
    window: int = 8192, window_bytes: int = 32 << 20, timeout: float = 10.0,
) -> PublishResult:
    """Publish in order with JetStream acks, at most ``window`` messages and
    ``window_bytes`` bytes unacknowledged.

    Acks arrive on one inbox subscription and are counted in bulk. A
    failure (a refused message, the connection lost, no ack for
    ``timeout`` seconds) raises :class:`PublishError` saying exactly what
    was acknowledged and where a retry continues.
    """
    wire = await js.connect()
    max_payload = int(wire.info.get("max_payload", 1 << 20))
    blocks = [encode_headers(h) if h else None
              for h in (headers if headers is not None else [None] * len(payloads))]
    for i, (payload, block) in enumerate(zip(payloads, blocks, strict=True)):
        size = len(payload) + (len(block) if block else 0)
        if size > max_payload:  # checked before anything is sent
            raise ConfigurationError(
                f"message {i} on {subjects[i]!r} is {size} bytes with headers, over "
                f"the max_payload of {max_payload} of {js.server}: it would be dropped"
            )
    inbox, sid, sink = wire.subscribe_prefix()
    acks = _Acks(len(payloads), [len(p) for p in payloads], subjects)
    denied = len(wire.permission_errors)
    queued = 0
    try:
        for i, payload in enumerate(payloads):
            wire.publish(subjects[i], payload, reply=f"{inbox}.{i}", headers=blocks[i])
            queued += len(payload)
            if queued >= 1 << 20 or (i + 1) % 512 == 0:
                queued = 0
                await wire.drain()
                while (i + 1 - acks.answered >= window
                       or acks.bytes_in_flight(i + 1) >= window_bytes):
                    await _await_acks(js, wire, sink, acks, timeout, denied)
        await wire.drain()
        while acks.answered < len(payloads):
            await _await_acks(js, wire, sink, acks, timeout, denied)
    except (ConnectionError, OSError) as exc:
        raise acks.error(f"connection to {js.server} lost while publishing ({exc})",
                         js.server) from None
    finally:
        if not wire.is_closed:
            wire.unsubscribe(sid)
    return PublishResult(acks.stored, acks.duplicates)

async def _await_acks(js: JetStream, wire: Wire, sink: Sink, acks: _Acks, timeout: float,
                      denied: int) -> None:
    """Count the acks that arrived, waiting up to ``timeout`` s for at least one."""
    deadline = time.monotonic() + timeout
    while not len(sink) and not sink.statuses:
        if wire.is_closed:
            raise acks.error(f"connection to {js.server} lost while publishing "
                             f"({wire.error or 'closed'})", js.server)
        if len(wire.permission_errors) > denied:
            hint = ("; if the account allows another inbox prefix for replies, pass it "
                    "as inbox_prefix=..." if "Subscription" in wire.permission_errors[-1]
                    else "")
            raise PermissionDeniedError(
                f"{js.server} denied publishing: {wire.permission_errors[-1]}; "
                f"{acks.summary()}{hint}"
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise acks.error(f"{js.server} acknowledged nothing more in {timeout:.0f} s",
                             js.server)
        await sink.wait(left)  # a wake-up for acks already counted just loops
    reply_subjects, _, _, answers = sink.take()
    acks.count(reply_subjects, answers, js.server)
    if sink.statuses:
        code, _, _ = sink.statuses[0]
        raise acks.error(f"{js.server}: no stream takes subject "
                         f"{acks.subjects[acks.resume]!r} (status {code}); create the "
                         "stream first", js.server)


class _Acks:
    """What the server acknowledged of one publish, message by message."""

    def __init__(self, total: int, sizes: list[int], subjects: Sequence[str]) -> None:
        self.total = total
        self.sizes = sizes
        self.sent_bytes = [0, *itertools.accumulate(sizes)]  # bytes of the first n messages
        self.subjects = subjects
        self.done = bytearray(total)
        self.answered = self.stored = self.duplicates = 0
        self.resume = 0  # every message before it is acknowledged
        self.acked_bytes = 0

    def bytes_in_flight(self, sent: int) -> int:
        return self.sent_bytes[sent] - self.acked_bytes

    def count(self, reply_subjects: list[bytes], answers: list[bytes], server: str) -> None:
        refused: tuple[int, str] | None = None
        for subject, answer in zip(reply_subjects, answers, strict=True):
            i = int(subject.rsplit(b".", 1)[1])
            if self.done[i]:
                continue
            if b'"error"' in answer:
                reason = str(json.loads(answer)["error"].get("description"))
                if refused is None or i < refused[0]:
                    refused = (i, reason)
                continue
            self.done[i] = 1
            self.answered += 1
            if b'"duplicate":true' in answer.replace(b" ", b""):
                self.duplicates += 1
            else:
                self.stored += 1
            self.acked_bytes += self.sizes[i]
        while self.resume < self.total and self.done[self.resume]:
            self.resume += 1
        if refused is not None:
            i, reason = refused
            raise self.error(f"{server} refused message {i} on {self.subjects[i]!r}: {reason}",
                             server)

    def summary(self) -> str:
        return (f"{self.stored:,} of {self.total:,} messages stored"
                + (f" ({self.duplicates:,} dropped as duplicates)" if self.duplicates else "")
                + f", every one before index {self.resume} acknowledged")

    def error(self, why: str, server: str) -> PublishError:
        return PublishError(
            f"{why}. {self.summary()}: publish payloads[{self.resume}:] to continue",
            stored=self.stored, duplicates=self.duplicates, resume=self.resume)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """How a publish went: messages stored, and repeats the server dropped by msg id."""

    stored: int
    duplicates: int

    def __str__(self) -> str:
        dropped = (f"; {self.duplicates:,} repeated message id(s) dropped by the server"
                   if self.duplicates else "")
        return f"{self.stored:,} message(s) stored{dropped}"

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html("Publish", str(self))
