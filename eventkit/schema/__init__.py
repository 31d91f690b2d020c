"""The schema registry: one source of truth for event formats (see :mod:`eventkit.schema.registry`).

The package, by concern (each module pure unless it says otherwise)::

    registry.py        SchemaRegistry: the facade (register, versions, get, check, upcasters)
    _backends.py       where schemas live: the SchemaBackend protocol, memory, a directory
    _kv.py             ... a JetStream key-value bucket (I/O, through eventkit.source)
    _snapshot.py       Snapshot: every schema fetched once; typed tables and bulk checks
    _entry.py          SchemaEntry (one version, any format, its global id); avro_schema()
                       and protobuf_message(): the parsed forms decoders use (cached)
    _compat.py         compatibility per format (dispatch)
    _versions.py       which version an event was written with; versions over time
    _compat_json.py    JSON Schema compatibility rules
    _json_*.py         JSON Schema: parse, types, reference validator, lines, bulk validate,
                       decode, infer

Names are loaded on first use, so a lower layer (the codec) may import a
pure module of this package without loading the registry.

For decoders (the codec), the API::

    snapshot = registry.snapshot()                  # Snapshot: pure, no I/O
    entry = snapshot.entry(event_type, version=None)  # SchemaEntry; newest by default
    entry = snapshot.by_id(schema_id)               # by a Confluent-style global id
    snapshot.formats()                              # {type: "json" | "avro" | "protobuf"}
    avro_schema(entry)        # fastavro.parse_schema(...) of the writer schema, cached
    protobuf_message(entry)   # the message class (descriptor set + full name), cached

``SchemaEntry(event_type, version, format, text, id, descriptors, message)``
is frozen; unknown types, versions and ids raise
:class:`~eventkit.SchemaNotFoundError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventkit.schema._backends import SchemaBackend
    from eventkit.schema._entry import SchemaEntry, avro_schema, protobuf_message
    from eventkit.schema._snapshot import Snapshot
    from eventkit.schema._versions import DEFAULT_VERSION, event_versions, versions_over_time
    from eventkit.schema.registry import DEFAULT_BUCKET, SchemaRegistry

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_VERSION",
    "SchemaBackend",
    "SchemaEntry",
    "SchemaRegistry",
    "Snapshot",
    "avro_schema",
    "event_versions",
    "protobuf_message",
    "versions_over_time",
]

_WHERE = {
    "DEFAULT_BUCKET": "registry",
    "DEFAULT_VERSION": "_versions",
    "SchemaBackend": "_backends",
    "SchemaEntry": "_entry",
    "avro_schema": "_entry",
    "protobuf_message": "_entry",
    "SchemaRegistry": "registry",
    "Snapshot": "_snapshot",
    "event_versions": "_versions",
    "versions_over_time": "_versions",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'eventkit.schema' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"eventkit.schema.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
