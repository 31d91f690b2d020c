"""Deprecated: JSON Schema compatibility moved to ``eventkit.schema._compat_json``."""

from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    from eventkit.schema import _compat_json

    if name.startswith("__") or name not in vars(_compat_json):
        raise AttributeError(f"module 'eventkit._compatibility' has no attribute {name!r}")
    warnings.warn("eventkit._compatibility moved to eventkit.schema._compat_json",
                  DeprecationWarning, stacklevel=2)
    return vars(_compat_json)[name]
