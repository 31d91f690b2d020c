"""Load sample events into a JetStream stream, quickly and in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

if TYPE_CHECKING:
    from eventkit import Connection, StreamInfo


def publish(
    conn: Connection, events: pl.DataFrame | None = None, *, stream: str = "RIDES",
    create: bool = True, config: Mapping[str, Any] | None = None, format: str = "json",
) -> StreamInfo:
    """Publish sample events (``generate()`` output; the shipped file by default).

    ``format`` writes the payloads as ``json`` (as generated), ``avro`` or
    ``protobuf`` (Confluent's wire format; each type's schema registered first
    in the stream server's schema registry, ``SchemaRegistry(conn)``, whose
    ids the messages carry), ``msgpack`` or ``cloudevents`` (structured
    mode), each with its ``content-type`` header (see
    :mod:`eventkit.sample.formats`); read them back with
    ``conn.read(stream, registry=SchemaRegistry(conn))``.

    Creates the stream (subjects ``rides.>``) with the sample's envelope rules
    in its metadata, so every reader finds type, key and event time without
    configuration. Each message is acknowledged by JetStream (acks are
    pipelined: fire-and-forget publishing into a stream loses messages under
    load). ``config`` holds further fields of the stream's configuration (see
    :meth:`eventkit.Connection.create_stream`).
    """
    from eventkit.sample.rides import RULES, SUBJECTS, load

    frame = load() if events is None else events
    if create:
        conn.create_stream(stream, SUBJECTS, metadata=dict(RULES), config=config)
    if format == "json":
        headers = [None if h is None else orjson.loads(h) for h in frame["headers"].to_list()]
        conn.publish_many(frame["subject"].to_list(), frame["data"].to_list(), headers)
        return conn.stream(stream)
    from eventkit.sample.formats import encode, sample_schemas

    ids: dict[str, int] = {}
    if format in ("avro", "protobuf"):
        from eventkit.schema import SchemaRegistry

        registry = SchemaRegistry(conn)
        for schema in sample_schemas(frame)[format]:
            registry.register(schema.event_type, schema.text, format=format,  # type: ignore[arg-type]
                              descriptors=schema.descriptors)
            ids[schema.event_type] = registry.entry(schema.event_type).id or schema.schema_id
    payloads, headers, _ = encode(frame, format, ids)
    conn.publish_many(frame["subject"].to_list(), payloads, headers)
    return conn.stream(stream)
