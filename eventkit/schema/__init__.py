"""The schema registry: one source of truth for event formats (see :mod:`eventkit.schema.registry`).

The package, by concern (each module pure unless it says otherwise)::

    registry.py        SchemaRegistry: the facade (register, versions, get, check, upcasters)
    _backends.py       where schemas live: the SchemaBackend protocol, memory, a directory
    _kv.py             ... a JetStream key-value bucket (I/O, through eventkit.source)
    _snapshot.py       Snapshot: every schema fetched once; typed tables and bulk checks
    _versions.py       which version an event was written with; versions over time
    _compat_json.py    JSON Schema compatibility rules
    _json_*.py         JSON Schema: parse, types, reference validator, lines, bulk validate,
                       decode, infer

Names are loaded on first use, so a lower layer (the codec) may import a
pure module of this package without loading the registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventkit.schema._backends import SchemaBackend
    from eventkit.schema._snapshot import Snapshot
    from eventkit.schema._versions import DEFAULT_VERSION, event_versions, versions_over_time
    from eventkit.schema.registry import DEFAULT_BUCKET, SchemaRegistry

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_VERSION",
    "SchemaBackend",
    "SchemaRegistry",
    "Snapshot",
    "event_versions",
    "versions_over_time",
]

_WHERE = {
    "DEFAULT_BUCKET": "registry",
    "DEFAULT_VERSION": "_versions",
    "SchemaBackend": "_backends",
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
