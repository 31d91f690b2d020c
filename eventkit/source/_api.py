"""The JetStream API's words: stream facts, consumer rows, times, and named error codes.

Pure: JSON answers in, values and errors out. An API error is matched by
its ``err_code`` (:class:`ErrCode`), never by its text, and raised as a
:class:`~eventkit.JetStreamAPIError` (or the subclass that says more).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from eventkit.exceptions import (
    ConfigurationError,
    ConnectionFailedError,
    EventkitError,
    JetStreamAPIError,
    PermissionDeniedError,
    StreamNotFoundError,
)
from eventkit.source._subjects import subjects_overlap

__all__ = ["CONSUMER_SCHEMA", "ErrCode", "StreamInfo", "api_error"]


class ErrCode(enum.IntEnum):
    """The JetStream API error codes eventkit acts on (``err_code`` in an answer's ``error``).

    The numbers are nats-server's (``server/errors.json``).
    """

    NO_SUITABLE_PEERS = 10005
    TEMPORARILY_UNAVAILABLE = 10008
    CONSUMER_NOT_FOUND = 10014
    INSUFFICIENT_RESOURCES = 10023
    NO_MESSAGE_FOUND = 10037
    STREAM_NOT_FOUND = 10059
    WRONG_LAST_SEQUENCE = 10071


#: Errors that go away on another try (a leader being elected, a cluster placing a replica).
RETRYABLE = frozenset({ErrCode.NO_SUITABLE_PEERS, ErrCode.TEMPORARILY_UNAVAILABLE,
                       ErrCode.INSUFFICIENT_RESOURCES})


def api_error(error: dict[str, Any], op: str, where: str) -> EventkitError:
    """The error to raise for an API answer's ``error`` object.

    Examples
    --------
    >>> e = api_error({"code": 404, "err_code": 10059, "description": "stream not found"},
    ...               "STREAM.INFO.X", "stream 'X' on nats://h:4222")
    >>> type(e).__name__, e.err_code == ErrCode.STREAM_NOT_FOUND, e.code
    ('StreamNotFoundError', True, 404)
    >>> str(e)
    "stream 'X' on nats://h:4222: stream not found; list the streams with conn.streams()"
    """
    code, err_code = error.get("code"), error.get("err_code")
    desc = str(error.get("description", ""))
    if err_code == ErrCode.TEMPORARILY_UNAVAILABLE:
        return ConnectionFailedError(
            f"{where}: JetStream is temporarily unavailable (a leader being elected?)")
    if err_code == ErrCode.STREAM_NOT_FOUND:
        return StreamNotFoundError(
            f"{where}: stream not found; list the streams with conn.streams()",
            code=code, err_code=err_code, description=desc)
    if code == 403 or "permission" in desc.lower():
        return PermissionDeniedError(f"{where}: {desc}")
    return JetStreamAPIError(f"{where}: {op} failed: {desc} (error {err_code})", code=code,
                             err_code=err_code, description=desc)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a stream holds right now."""

    name: str
    subjects: tuple[str, ...]
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    first_time: dt.datetime | None
    last_time: dt.datetime | None
    consumers: int
    deleted: int
    config: dict[str, Any] = field(repr=False, compare=False)
    cluster: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> StreamInfo:
        state, config = data["state"], data["config"]
        return cls(
            name=config["name"],
            subjects=tuple(config.get("subjects") or ()),
            messages=state["messages"],
            bytes=state["bytes"],
            first_seq=state["first_seq"],
            last_seq=state["last_seq"],
            first_time=_api_time(state.get("first_ts")) if state["messages"] else None,
            last_time=_api_time(state.get("last_ts")) if state["messages"] else None,
            consumers=state.get("consumer_count", 0),
            deleted=state.get("num_deleted", 0),
            config=config,
            cluster=dict(data.get("cluster") or {}),
        )

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.config.get("metadata") or {})

    def __str__(self) -> str:
        span = (f"seq {self.first_seq:,}..{self.last_seq:,}, "
                f"{self.first_time:%Y-%m-%d %H:%M:%S} .. {self.last_time:%Y-%m-%d %H:%M:%S} UTC"
                if self.messages and self.first_time and self.last_time else "empty")
        c = self.config
        limits = ", ".join(f"{name} {c[key]:,}" for name, key in (
            ("max messages", "max_msgs"), ("max bytes", "max_bytes"),
            ("max per subject", "max_msgs_per_subject")) if (c.get(key) or -1) > 0) or "none"
        leader = f", leader {self.cluster['leader']}" if self.cluster.get("leader") else ""
        return "\n".join([
            f"subjects: {', '.join(self.subjects) or '-'}",
            f"{self.messages:,} messages ({self.bytes:,} bytes; {self.deleted:,} deleted), "
            f"{span}",
            f"storage {c.get('storage', '?')}, retention {c.get('retention', '?')}, "
            f"{c.get('num_replicas', 1)} replica(s){leader}; limits: {limits}",
            f"{self.consumers:,} consumer(s)"])

    def _repr_html_(self) -> str:  # a notebook shows the stream, not the dataclass
        from eventkit._display import result_html

        return result_html(f"Stream {self.name}", str(self))


def _api_time(text: str | None) -> dt.datetime | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # RFC 3339 with up to nanoseconds; Python keeps microseconds
    head, _, frac = text.rstrip("Z").partition(".")
    micro = (frac + "000000")[:6]
    return dt.datetime.fromisoformat(f"{head}.{micro}+00:00")


#: The columns of :meth:`JetStream.consumers` rows, with their polars types.
CONSUMER_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String(), "durable": pl.Boolean(), "filter": pl.String(),
    "delivered_seq": pl.Int64(), "ack_floor_seq": pl.Int64(), "pending": pl.Int64(),
    "ack_pending": pl.Int64(), "redelivered": pl.Int64(), "waiting": pl.Int64(),
    "last_active": pl.Datetime("us", "UTC"), "leader": pl.String(),
}


def _consumer_row(c: dict[str, Any]) -> tuple[Any, ...]:
    config = c.get("config") or {}
    filters = config.get("filter_subjects") or (
        [config["filter_subject"]] if config.get("filter_subject") else [])
    delivered = c.get("delivered") or {}
    return (c.get("name"), bool(config.get("durable_name")), ", ".join(filters) or None,
            delivered.get("stream_seq", 0), (c.get("ack_floor") or {}).get("stream_seq", 0),
            c.get("num_pending", 0), c.get("num_ack_pending", 0),
            c.get("num_redelivered", 0), c.get("num_waiting", 0),
            _api_time(delivered.get("last_active")), (c.get("cluster") or {}).get("leader"))


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC time with up to 9 decimals.

    >>> _rfc3339_ns("1970-01-01T00:00:01.5Z"), _rfc3339_ns("1970-01-01T00:00:02Z")
    (1500000000, 2000000000)
    """
    head, _, frac = text.rstrip("Z").partition(".")
    whole = dt.datetime.fromisoformat(head + "+00:00")
    return int(whole.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def _ns(value: dt.datetime) -> int:
    delta = value.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _check_filters(info: StreamInfo, filters: Sequence[str], server: str) -> None:
    if not info.subjects:  # mirrors and sourced streams take subjects from elsewhere
        return
    for f in filters:
        if not any(subjects_overlap(f, s) for s in info.subjects):
            raise ConfigurationError(
                f"subject {f!r} is not in stream {info.name!r} on {server}: the stream "
                f"holds {', '.join(info.subjects)}"
            )


def _check_name(stream: str) -> None:
    if not stream or any(c in stream for c in " .*>\t\r\n/\\"):
        raise ConfigurationError(
            f"{stream!r} is not a valid stream name: no spaces, dots, '*', '>' or slashes"
        )
