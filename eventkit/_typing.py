"""Type aliases shared across eventkit (allowed string values live here)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, TypeAlias

#: A point in a stream: a sequence number, an aware datetime, an ISO-8601
#: string (nanoseconds kept), or a duration ago ("15m", "500ns", "1mo", or a
#: ``timedelta``); also a ``pandas.Timestamp``, a ``numpy.datetime64`` or a
#: one-value polars datetime ``Series`` (see :mod:`eventkit._time`).
TimeLike: TypeAlias = int | dt.datetime | dt.timedelta | str | Any

#: Which clock a time selection uses: ``"event_time"`` when it happened (valid
#: time, the default everywhere), ``"time"`` when the server stored the event
#: (transaction time).
TimeColumn: TypeAlias = Literal["time", "event_time"]

#: The folds that run vectorised in polars: ``"merge"`` keeps the latest
#: non-null value of each field, ``"last"`` the latest event's values as they are.
BuiltinFold: TypeAlias = Literal["merge", "last"]

#: Where an envelope value comes from (see :class:`eventkit.Rules`).
RuleSource: TypeAlias = Literal["header", "field", "subject"]

#: Schema compatibility modes, as Kafka's schema registry defines them (see
#: :meth:`eventkit.SchemaRegistry.register`).
Compatibility: TypeAlias = Literal[
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
    "FULL_TRANSITIVE", "NONE",
]

#: How literally a compatibility check reads an open object: ``"strict"``
#: (Confluent's default: it may hold any undeclared field) or ``"lenient"``.
CompatibilityPolicy: TypeAlias = Literal["strict", "lenient"]

#: The payload formats a schema registry holds schemas for (see
#: :meth:`eventkit.SchemaRegistry.register`).
SchemaFormat: TypeAlias = Literal["json", "avro", "protobuf"]

#: What an upcaster takes and returns: a polars frame of one version's rows
#: (vectorised), or one payload dict at a time.
UpcasterKind: TypeAlias = Literal["frame", "event"]

#: How a stream stores its messages (see :meth:`eventkit.Connection.create_stream`).
StreamStorage: TypeAlias = Literal["file", "memory"]

#: When a stream lets go of a message: at its limits, once every consumer
#: interested in it has it, or once one consumer of a work queue acknowledged it.
StreamRetention: TypeAlias = Literal["limits", "interest", "workqueue"]

#: At a stream's limit: drop the oldest messages, or refuse new ones.
DiscardPolicy: TypeAlias = Literal["old", "new"]
